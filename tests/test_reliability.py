"""Nothing twice, nothing lost, one bad issue never stops the run (issue 18), over the sandbox.

Overlapping runs, lost answers (the sandbox's drop_after_writes / rate_drop_after_write levers:
the write is done, the answer never arrives), runs cut short after each write, far-future
dates. The 20-trial figures are in bench/reliability.py; these are a few trials each.
"""

from __future__ import annotations

import pytest

from tests.helpers import World


@pytest.fixture
def world(sandbox) -> World:
    return World(sandbox)


def check(world: World, when: str, *extra: str) -> object:
    return world.run("check", "--group", "acme", "--apply", *extra, when=when)


def test_a_far_future_date_is_that_issues_error_not_the_runs(world: World) -> None:
    sane = world.open("2026-11-16 09:00", title="Install stalled")
    blocked = world.open(
        "2026-11-16 09:05", "--trigger-detail", "17 days behind", level="sev2", title="Late"
    )
    world.edit(
        blocked,
        "2026-11-16 09:10",
        description=world.issue(blocked).description.replace(
            "## Blockers\n", "## Blockers\n- [ ] vendor sign-off (opened 9999-12-31)\n", 1
        ),
    )
    warranty = world.open(
        "2026-11-16 09:15",
        "--completed",
        "2026-10-05",
        type="warranty",
        category="warranty-30-day",
        title="Camera offline",
    )
    world.edit(
        warranty,
        "2026-11-16 09:20",
        description=world.issue(warranty).description.replace("2026-10-05", "9999-12-31"),
    )
    for args in (["check", "--group", "acme", "--apply"], ["triage", "--group", "acme"]):
        result = world.run(*args, when="2026-11-17 10:00")
        assert result.exit_code == 3, result.output
        assert "Traceback" not in result.output
        errors = [line for line in result.output.splitlines() if "error" in line]
        assert any(f"acme/collab#{blocked}" in line for line in errors), result.output
    # The sane escalation was still reminded.
    assert [n for n in world.notes(sane, "escbot") if "rule=status_update" in n.body]
    report = world.run("report", "--group", "acme", when="2026-11-17 10:00")
    assert report.exit_code == 3 and "Traceback" not in report.output, report.output
    assert f"acme/collab#{sane}" in report.output
