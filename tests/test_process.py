"""The process logic as the seeds define it, scenario by scenario over the sandbox: every comment
escbot posts is one a PM would have wanted, once, to the right person."""

from __future__ import annotations

import pytest

from escbot import description as desc
from escbot.markers import find_markers
from tests.helpers import World, policy_text

WEEKLY = "Week on track. #path-to-green #portfolio-call #mitigation #resource-needs"
DAILY = "#status-update #milestone-progress #blockers #customer-communication"


@pytest.fixture
def world(sandbox) -> World:
    return World(sandbox)


def bot(world: World, iid: int) -> list[str]:
    return [n.body for n in world.notes(iid, "escbot")]


def check(world: World, when: str) -> str:
    result = world.run("check", "--group", "acme", "--apply", when=when)
    assert result.exit_code in (0, 1), result.output
    return result.output


def open_sev2(world: World, when: str = "2026-10-26 09:00") -> int:
    iid = world.open(when, "--trigger-detail", "17 days behind", level="sev2", title="Rollout")
    world.tick(iid, "## Phase 1 checklist", "2026-10-26 10:00")
    return iid


def set_target(world: World, iid: int, day: str, when: str) -> None:
    text = world.issue(iid).description.replace(
        f"{desc.TARGET_DATE}: (YYYY-MM-DD)", f"{desc.TARGET_DATE}: {day}"
    )
    world.edit(iid, when, description=text)


MONDAYS = ("2026-10-26", "2026-11-02", "2026-11-09", "2026-11-16", "2026-11-23", "2026-11-30")


# ---- misfire 1: a healthy Sev2 is never proposed for Sev1 -----------------------------------


def test_a_healthy_sev2_is_left_alone_for_a_month(world: World) -> None:
    iid = open_sev2(world)
    for monday in MONDAYS[:5]:
        world.comment(iid, WEEKLY, f"{monday} 08:30")
        for day in range(5):  # every working day of the week
            check(world, f"{monday[:8]}{int(monday[8:]) + day:02d} 10:00")
    assert bot(world, iid) == []  # nothing missed, nothing said
    assert "needs-decision" not in world.issue(iid).labels
    # GitLab's due date followed the Phase 1 deadline, then the next date the Sev2 promised
    # (none yet): cleared, so it is in nobody's "overdue" list.
    assert world.issue(iid).due_date is None


def test_the_due_date_follows_the_next_deadline(world: World) -> None:
    iid = open_sev2(world, "2026-11-16 09:00")
    assert world.issue(iid).due_date == "2026-11-17"  # Phase 1: one business day, Tue 09:00
    world.comment(iid, WEEKLY, "2026-11-16 11:00")
    check(world, "2026-11-16 12:00")
    assert world.issue(iid).due_date is None  # Phase 1 done; nothing promised yet
    set_target(world, iid, "2026-12-11", "2026-11-16 13:00")
    check(world, "2026-11-16 14:00")
    assert world.issue(iid).due_date == "2026-12-11"
    world.edit(iid, "2026-11-17 09:00", add_labels="phase::resolution")
    check(world, "2026-11-17 10:00")
    assert world.issue(iid).due_date is None  # close-out has no deadline


# ---- misfire 2: the leadership decision -------------------------------------------------------


def proposed(world: World) -> int:
    iid = open_sev2(world)
    set_target(world, iid, "2026-10-30", "2026-10-26 11:00")
    for monday in MONDAYS[:4]:
        world.comment(iid, WEEKLY, f"{monday} 08:30")
    check(world, "2026-11-16 10:00")
    [proposal] = [b for b in bot(world, iid) if "escbot:promote" in b]
    assert "17 days past its path-to-green target date 2026-10-30" in proposal
    assert "needs-decision" in world.issue(iid).labels
    return iid


def tick(world: World, iid: int, task: str, when: str) -> str:
    before = world.issue(iid).description
    lines = [
        line.replace("- [ ]", "- [x]", 1) if line.startswith(f"- [ ] {task}") else line
        for line in before.splitlines()
    ]
    world.edit(iid, when, description="\n".join(lines) + "\n")
    return world.issue(iid).description


def test_escalate_to_sev1_completes_the_promotion(world: World) -> None:
    iid = proposed(world)
    written = tick(world, iid, "Escalate to Sev 1", "2026-11-16 14:00")
    count = len(bot(world, iid))
    check(world, "2026-11-16 15:00")
    issue = world.issue(iid)
    assert "escalation::sev1" in issue.labels and "escalation::sev2" not in issue.labels
    assert "needs-decision" not in issue.labels
    # What people wrote is untouched; the Sev1 sections follow it.
    assert issue.description.startswith(written.rstrip("\n"))
    added = issue.description[len(written.rstrip("\n")) :]
    for heading in (
        "## Stakeholders",
        "## Phase 1 checklist (Sev1, due",
        "## Tracking requirements (Sev1)",
        "## Resolution plan",
        "## Alternative approaches",
        "## RACI matrix",
    ):
        assert heading in added, heading
    [note] = bot(world, iid)[count:]  # one comment says what changed
    assert note.startswith("@pat\n")
    assert "**Promoted from Sev2 to Sev1** (the leadership decision in the description)" in note
    # The Sev1 clocks start from the decision: no missed Phase 1 an hour later, and nothing
    # is said twice.
    later = check(world, "2026-11-16 16:00")
    assert "initiation" not in later and len(bot(world, iid)) == count + 1
    assert "missed  acme/collab#1 initiation" in check(world, "2026-11-17 16:00")


def test_a_person_setting_the_sev1_label_completes_the_promotion_too(world: World) -> None:
    iid = proposed(world)
    world.edit(iid, "2026-11-16 14:00", labels=",".join(
        lab.replace("escalation::sev2", "escalation::sev1") for lab in world.issue(iid).labels
    ))  # fmt: skip
    check(world, "2026-11-16 15:00")
    issue = world.issue(iid)
    assert "needs-decision" not in issue.labels
    assert "## RACI matrix" in issue.description
    assert "(the level label)" in bot(world, iid)[-1]


def test_remain_in_monitoring_is_recorded_once(world: World) -> None:
    iid = proposed(world)
    tick(world, iid, "Remain in monitoring", "2026-11-16 14:00")
    count = len(bot(world, iid))
    check(world, "2026-11-16 15:00")
    issue = world.issue(iid)
    assert "needs-decision" not in issue.labels and "escalation::sev2" in issue.labels
    assert "- [ ] Remain in monitoring" in issue.description  # ready for a later decision
    assert "  - Decided 2026-11-16: remain in monitoring (recorded by escbot)" in issue.description
    [note] = bot(world, iid)[count:]
    assert "**Leadership decision recorded (2026-11-16): remain in monitoring.**" in note
    for when in ("2026-11-17 10:00", "2026-11-18 10:00", "2026-11-23 10:00"):
        world.comment(iid, WEEKLY, f"{when[:10]} 08:00")
        check(world, when)
    assert len(bot(world, iid)) == count + 1  # no new proposal for the same evidence
    assert "needs-decision" not in world.issue(iid).labels


# ---- misfire 3: the ladder of seed 004 --------------------------------------------------------


def test_warranty_mail_goes_to_qa(world: World) -> None:
    issue = world.sb.service_desk(
        world.path,
        "ops@acme.example",
        "Warranty: camera offline since the install",
        "The camera installed last week under warranty has been offline since Sunday. "
        "Please send someone under the 30-day warranty.",
    )
    check(world, "2026-11-23 10:00")
    got = world.issue(issue["iid"])
    assert "type::warranty" in got.labels
    assert [a["username"] for a in got.assignees] == ["fixed.qa"]
    [ack] = [n for n in world.notes(issue["iid"], "escbot") if "escbot:ack" in n.body]
    assert "fixed.qa" in ack.body and "fixed.pm" not in ack.body


# ---- misfire 4: close-out stops the nagging ---------------------------------------------------


def test_close_out_stops_the_cadence_and_completes_by_itself(world: World) -> None:
    iid = world.open("2026-11-16 09:00")
    world.tick(iid, "## Phase 1 checklist", "2026-11-16 10:00")
    world.comment(iid, DAILY, "2026-11-16 11:00")
    world.edit(iid, "2026-11-16 12:00", add_labels="phase::resolution")
    check(world, "2026-11-16 13:00")  # the close-out checklist, once
    for day in ("17", "18", "19"):  # nobody posts a daily update any more: no reminder
        check(world, f"2026-11-{day} 10:00")
    notes = bot(world, iid)
    assert not [b for b in notes if "escbot:remind" in b]
    world.tick(iid, "## Close-out checklist", "2026-11-20 09:00")
    check(world, "2026-11-20 10:00")  # no `escbot closeout` needed
    issue = world.issue(iid)
    assert issue.state == "closed" and "phase::closure" in issue.labels
    done = len(bot(world, iid))
    for when in ("2026-11-23 10:00", "2026-11-24 10:00", "2026-11-30 10:00"):
        check(world, when)
    assert len(bot(world, iid)) == done  # never a ladder mention after a ticked-off close-out


# ---- misfire 5: deadlines at 00:00 name their day ---------------------------------------------


def test_an_escalation_opened_on_saturday_is_due_at_the_end_of_monday(world: World) -> None:
    iid = world.open("2026-11-21 10:00")  # Saturday
    issue = world.issue(iid)
    assert issue.due_date == "2026-11-23"  # Monday, not Tuesday
    assert "## Phase 1 checklist (due 2026-11-23 24:00 EST)" in issue.description
    out = check(world, "2026-11-24 10:00")
    assert "initiation: Phase 1 initiation due since Mon 23 Nov 24:00 EST" in out


# ---- policy sanity ----------------------------------------------------------------------------


def test_an_unknown_ladder_user_is_one_warning_and_never_mentioned(world: World, tmp_path) -> None:
    path = tmp_path / "policies.yml"
    path.write_text(
        policy_text(("fixed: {pm: fixed.pm, qa: fixed.qa", "fixed: {pm: fixed.pm, qa: nobody.qa"))
    )
    iid = world.open("2026-11-16 09:00", "--policies", str(path))
    for when in ("2026-11-17 10:00", "2026-11-18 10:00"):
        out = world.run("check", "--group", "acme", "--apply", "--policies", str(path), when=when)
        warnings = [line for line in out.stderr.splitlines() if "warning" in line]
        assert warnings == [
            f"escbot: warning: {path}: ladder/routing user nobody.qa: no such GitLab user; "
            "never mentioned"
        ]
    assert not [b for b in bot(world, iid) if "nobody.qa" in b]
    markers = [m for b in bot(world, iid) for m in find_markers(b) if m.kind == "remind"]
    assert {m.get("rung") for m in markers} >= {"0", "1"}  # the ladder went on without them
