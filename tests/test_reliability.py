"""Nothing twice, nothing lost, one bad issue never stops the run (issue 18), over the sandbox.

Overlapping runs, lost answers (the sandbox's drop_after_writes / rate_drop_after_write levers:
the write is done, the answer never arrives), runs cut short after each write, far-future
dates. The 20-trial figures are in bench/reliability.py; these are a few trials each.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests import trials
from tests.helpers import World


@pytest.fixture
def world(sandbox) -> World:
    return World(sandbox)


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
        for bad in (blocked, warranty):
            assert any(f"acme/collab#{bad}" in line for line in errors), result.output
    # The sane escalation was still reminded.
    assert [n for n in world.notes(sane, "escbot") if "rule=status_update" in n.body]
    report = world.run("report", "--group", "acme", when="2026-11-17 10:00")
    assert report.exit_code == 3 and "Traceback" not in report.output, report.output
    assert f"acme/collab#{sane}" in report.output


# --------------------------------------------------------------------------------------------
# Overlapping runs.


def test_five_overlapping_checks_write_everything_once(world: World) -> None:
    roles = trials.build(world)
    world.sb.reset_stats()
    runs = trials.at_once([lambda: trials.leased_check(world, trials.START)] * 5)
    assert sorted(r.exit_code for r in runs) == [1] * 5, runs
    assert trials.duplicates(world) == {"issues": 0, "notes": 0}
    assert trials.deleted_notes(world) == 0  # not even a transient duplicate
    assert trials.acks(world, roles["mail"]) == 1
    assert not trials.lease_label(world)  # released
    assert "rule=status_update" in " ".join(n.body for n in trials.bot_notes(world, roles["late"]))
    assert world.issue(roles["gate"]).state == "opened"
    assert world.issue(roles["done"]).state == "closed"


def test_overlapping_new_triage_report_and_check_make_nothing_twice(world: World) -> None:
    roles = trials.build(world)
    world.sb.reset_stats()
    runs = trials.at_once(
        [lambda: trials.open_new(world, trials.client(world, "pat"), "Overlapping opening")] * 2
        + [lambda: trials.leased_triage(world)] * 2
        + [lambda: trials.leased_report(world)] * 2
        + [lambda: trials.leased_check(world, trials.START)]
    )
    assert not [r for r in runs if isinstance(r, Exception)], runs
    assert trials.duplicates(world) == {"issues": 0, "notes": 0}
    assert trials.deleted_notes(world) == 0
    assert trials.acks(world, roles["mail"]) == 1
    titles = [i.title for i in trials.issues(world)]
    assert titles.count("Overlapping opening") == 1
    assert sum(t.startswith("PMO briefing") for t in titles) == 1


def test_a_second_run_waits_then_says_who_holds_the_lease(world: World) -> None:
    from escbot.gitlab_io import GitLab, resolve_scope
    from escbot.lease import Lease, LeaseHeld

    api = GitLab(trials.client(world))
    scope = resolve_scope(api, None, "acme")
    with Lease(api, scope, "check --apply") as held:
        [label] = trials.lease_label(world)
        held.renew()  # what its thread does every third of the time to live
        [renewed] = trials.lease_label(world)
        assert renewed.id == label.id and held.lost is None
        assert (
            "owner=escbot" in renewed.description and "command=check_--apply" in label.description
        )
        result = world.run(
            "check", "--group", "acme", "--apply", "--wait", "0.5", when=trials.START
        )
        assert result.exit_code == 4, result.output
        [line] = [x for x in result.output.splitlines() if x.startswith("escbot: error")]
        assert line.startswith("escbot: error: another escbot run holds the lease on acme: ")
        assert "escbot (check --apply, since " in line
        with pytest.raises(LeaseHeld):
            Lease(GitLab(trials.client(world, "pat")), scope, "new").acquire()
    assert not trials.lease_label(world)


def test_an_expired_lease_is_broken_and_a_lost_one_refuses_writes(world: World) -> None:
    from escbot.errors import GitLabError
    from escbot.gitlab_io import GitLab, resolve_scope
    from escbot.lease import Lease

    api = GitLab(trials.client(world))
    scope = resolve_scope(api, None, "acme")
    stale = Lease(api, scope, "check --apply")
    stale.acquire()  # then killed: never released
    trials.expire_leftover_lease(world)
    other = GitLab(trials.client(world, "pat"))
    with Lease(other, scope, "triage --fix") as taken:
        assert taken.label_id is not None
        stale.renew()  # the killed run comes back to life: the lease is not its own any more
        with pytest.raises(GitLabError, match="not writing without the lease on acme"):
            api.add_note(world.project.id, 1, "late words")
    assert not trials.lease_label(world)


# --------------------------------------------------------------------------------------------
# Lost answers and crashes.


def test_lost_write_answers_are_looked_for_never_resent_blindly(world: World) -> None:
    roles = trials.build(world)
    iid = world.open("2026-11-17 09:30", title="Lost answers")
    world.sb.set_faults(rate_drop_after_write=0.3, seed=7)
    for when in (trials.START, "2026-11-18 10:00"):
        trials.leased_check(world, when)
    result = world.run(
        *trials.new_args("Opened while answers get lost"), who="pat", when=trials.START
    )
    world.sb.set_faults(rate_drop_after_write=0)
    assert result.exit_code == 0, result.output
    assert trials.duplicates(world) == {"issues": 0, "notes": 0}
    assert trials.acks(world, roles["mail"]) == 1
    assert [i.title for i in trials.issues(world)].count("Opened while answers get lost") == 1
    assert world.issue(iid).state == "opened"


def test_a_second_delete_and_a_label_race_are_already_done(world: World) -> None:
    from escbot.gitlab_io import GitLab

    api = GitLab(trials.client(world))
    iid = world.open("2026-11-16 09:00")
    note = api.add_note(world.project.id, iid, "to go")
    assert api.delete_note(world.project.id, iid, note["id"]) is True
    assert api.delete_note(world.project.id, iid, note["id"]) is False
    scope = ("project", api.project(world.project.id))
    assert api.create_label(scope, "race", "#ff0000", "") is True
    assert api.create_label(scope, "race", "#ff0000", "") is False


@pytest.fixture(scope="module")
def reference() -> Any:
    """End states of uninterrupted runs (computed once): check, and new."""
    from escbot.sandbox import start_sandbox

    with start_sandbox(now="2026-11-23T14:00:00Z") as sb:
        check = trials.reference_check(World(sb))
        sb.reset()
        return {"check": check, "new": trials.reference_new(World(sb))}


@pytest.mark.parametrize("point", [1, 9, 19])
def test_check_killed_after_a_write_is_finished_by_the_next_run(
    sandbox, reference, point: int
) -> None:
    expected, writes = reference["check"]
    world = World(sandbox)
    trials.build(world)
    assert point <= writes
    assert trials.run_crashed(
        lambda gl: trials.leased_check(world, trials.START, gl=gl), world, point
    )
    trials.expire_leftover_lease(world)
    trials.later(world)
    assert trials.end_state(world) == expected


@pytest.mark.parametrize("step", [0, 1, 2])
def test_new_killed_after_a_write_is_finished_by_the_next_check(
    sandbox, reference, step: int
) -> None:
    """Killed after creating the escalation (step 0), its RAID register (1), the link (2); the
    bench kills it after every write. Before the escalation exists there is nothing to finish:
    `new` is run again, as its error says."""
    expected, writes = reference["new"]
    created = next(i for i, w in enumerate(writes, 1) if re.fullmatch(r"POST .*/issues", w))
    world = World(sandbox)
    point = created + step
    assert trials.run_crashed(lambda gl: trials.open_new(world, gl), world, point, "pat")
    trials.expire_leftover_lease(world)
    trials.later(world)
    assert trials.end_state(world) == expected


def test_a_running_lease_is_renewed_past_its_time_to_live(world: World) -> None:
    import time

    from escbot.gitlab_io import GitLab, resolve_scope
    from escbot.lease import Lease

    api = GitLab(trials.client(world))
    scope = resolve_scope(api, None, "acme")
    # Short times, yet with room for a loaded machine: renewed every 0.7 s, checked at 2.5 s.
    with Lease(api, scope, "check --apply", ttl=2.0) as held:
        [first] = trials.lease_label(world)
        time.sleep(2.5)  # past the first expiry: renewed meanwhile, or ensure_held fails
        held.ensure_held()
        [later] = trials.lease_label(world)
        assert later.id == first.id and later.description != first.description
    assert not trials.lease_label(world)


def test_the_drop_after_writes_lever_keeps_the_write_and_loses_its_answer(world: World) -> None:
    import requests

    iid = world.open("2026-11-16 09:00")
    gl = trials.client(world)
    path = f"/projects/{world.project.id}/issues/{iid}/notes"
    world.sb.set_faults(drop_after_writes=2)
    gl.http_post(path, post_data={"body": "first"}, retry_transient_errors=False)
    with pytest.raises(requests.exceptions.ConnectionError):
        gl.http_post(path, post_data={"body": "second"}, retry_transient_errors=False)
    gl.http_post(path, post_data={"body": "third"}, retry_transient_errors=False)  # once only
    assert [n.body for n in world.notes(iid, "escbot")] == ["first", "second", "third"]
