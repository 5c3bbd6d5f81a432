"""`escbot intake learn` against the sandbox over HTTP: people's classifications become a
proposed policies.yml diff, and nothing is written."""

from __future__ import annotations

import pytest

from tests.helpers import ROOT, World

FOGGED = [
    ("Gate camera fogged up", "The gate camera lens is fogged up, we cannot see the lot."),
    ("Lens fogged up again", "Camera 3 lens fogged up overnight; the picture is useless."),
]


@pytest.fixture
def world(sandbox) -> World:
    return World(sandbox)


def test_learn_proposes_phrases_people_chose_and_counts_corrections(world: World) -> None:
    world.at("2026-11-23 09:00")
    sd = [
        world.sb.service_desk(world.project.id, "jane@acme.example", subject, body)["iid"]
        for subject, body in FOGGED
    ]
    # escbot cannot classify them (needs-triage); a person decides they are warranty issues.
    world.run("check", "--project", world.path, "--apply", when="2026-11-23 10:30")
    for iid in sd:
        assert world.issue(iid).labels == ["needs-triage"]
        world.edit(iid, "2026-11-23 11:00", add_labels="category::warranty-30-day")
    # escbot classified this one; a person corrected its category.
    iid = world.sb.service_desk(
        world.project.id, "jane@acme.example", "Install stalled", "The install has stopped."
    )["iid"]
    world.run("check", "--project", world.path, "--apply", when="2026-11-23 11:30")
    assert "category::install-issue" in world.issue(iid).labels
    world.edit(iid, "2026-11-23 12:00", add_labels="category::incorrect-shipment")
    before = (ROOT / "policies.yml").read_text()
    world.sb.reset_stats()

    result = world.run("intake", "learn", "--project", world.path, when="2026-11-24 09:00")

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[:2] == [
        "3 e-mailed issue(s) classified by a person, 1 of them correcting escbot",
        "  acme/collab#3: install-issue -> incorrect-shipment",
    ]
    assert lines[2] == '  warranty-30-day: "fogged up" (2 e-mails), "lens" (2 e-mails)'
    assert lines[3:5] == ["--- policies.yml", "+++ policies.yml (proposed)"]
    changed = [x for x in lines[5:] if x[:1] in "+-"]
    assert len(changed) == 2 and changed[0].startswith("-            weeks ago, days after")
    assert changed[1] == changed[0].replace("-", "+", 1).replace("]", ", fogged up, lens]")
    assert (ROOT / "policies.yml").read_text() == before  # proposed, never applied
    assert set(world.sb.stats()["by_method"]) == {"GET"}


def test_learn_with_nothing_to_learn_says_so(world: World) -> None:
    result = world.run("intake", "learn", "--project", world.path, when="2026-11-24 09:00")
    assert result.exit_code == 0, result.output
    assert result.output == (
        "0 e-mailed issue(s) classified by a person, 0 of them correcting escbot\n"
        "no vocabulary to propose\n"
    )


def test_learn_needs_exactly_one_scope(world: World) -> None:
    result = world.run("intake", "learn", when="2026-11-24 09:00")
    assert result.exit_code == 2
    assert "escbot: error: give exactly one of --project or --group" in result.output


def test_policy_diff_adds_a_weight_2_line_where_a_category_has_none() -> None:
    from escbot.intake_learn import policy_diff

    text = (
        "intake:\n  categories:\n    shipping-delay:\n      type: customer\n      phrases:\n"
        "        3: [late delivery]\n    install-issue:\n      phrases:\n        2: [install]\n"
    )
    diff = policy_diff(text, {"shipping-delay": [("stuck at the depot", 2)]}, "p.yml")
    assert diff.splitlines()[2:] == [
        "@@ -3,6 +3,7 @@",
        "     shipping-delay:",
        "       type: customer",
        "       phrases:",
        "+        2: [stuck at the depot]",
        "         3: [late delivery]",
        "     install-issue:",
        "       phrases:",
    ]
