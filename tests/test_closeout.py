"""Close-out (seed 000 step 8) and the warranty window (seed 004), over the sandbox."""

from __future__ import annotations

import pytest

from tests.helpers import World, policy_text


@pytest.fixture
def world(sandbox) -> World:
    return World(sandbox)


def check(world: World, when: str, *extra: str):
    result = world.run("check", "--group", "acme", "--apply", *extra, when=when)
    assert result.exit_code in (0, 1), result.output
    return result


def kinds(world: World, iid: int, kind: str) -> list[str]:
    return [n.body for n in world.notes(iid, "escbot") if f"escbot:{kind}" in n.body]


def retros(world: World) -> list:
    return world.gl.projects.get(world.project.id).issues.list(
        labels=["retrospective"], state="all", get_all=True
    )


def test_closeout_checklist_posted_once_across_three_reruns(world: World) -> None:
    iid = world.open("2026-11-16 09:00")
    world.edit(iid, "2026-11-18 15:00", add_labels="phase::resolution")
    for when in ("2026-11-18 16:00", "2026-11-18 17:00", "2026-11-19 09:00"):
        check(world, when)
    [posted] = kinds(world, iid, "closeout")
    assert "| Customer sign-off obtained | open |" in posted
    assert len(retros(world)) == 1


def test_retrospective_has_the_scripted_timeline_and_is_created_once(world: World) -> None:
    iid = world.open("2026-11-16 09:00")
    world.comment(iid, "Acknowledged, calling the yard now.", "2026-11-16 10:00")
    world.comment(iid, "#status-update crew rebooked for Tuesday", "2026-11-16 16:00")
    check(world, "2026-11-17 10:00")  # posts reminders for what is still missing
    world.edit(iid, "2026-11-17 11:00", add_labels="phase::active")
    world.edit(iid, "2026-11-18 15:00", add_labels="phase::resolution")
    check(world, "2026-11-18 16:00")
    check(world, "2026-11-18 17:00")
    [retro] = retros(world)
    assert retro.title == "Retrospective: Install stalled"
    assert [a["username"] for a in retro.assignees] == ["pat"]
    text = retro.description
    assert "| Mon 16 Nov 10:00 EST | First acknowledgement by pat |" in text
    assert "| Mon 16 Nov 16:00 EST | First status update by pat |" in text
    assert "| Tue 17 Nov 11:00 EST | Phase changed to active by pat |" in text
    assert "| Wed 18 Nov 15:00 EST | Phase changed to resolution by pat |" in text
    # Business days are business hours over the 8-hour working day: the figures agree.
    assert (
        "| Time to resolution | 2.8 business days (22.0 business hours; 2 d 6 h elapsed) |" in text
    )
    assert (
        "| Time to first acknowledgement | 0.1 business days (1.0 business hours; 0 d 1 h elapsed) |"
        in text
    )
    # One comment on Tuesday told the DRI of three missed requirements: three reminders.
    assert "| Reminders (a missed requirement told to its owner) | 3 |" in text
    assert (
        "| Tracking requirements missed | 3 (Phase 1 initiation, Milestone progress, Blockers) |"
        in text
    )
    assert (
        "| Tue 17 Nov 10:00 EST | escbot reminder: Phase 1 initiation, Milestone progress, "
        "Blockers |" in text
    )
    assert retro.iid in [link.iid for link in world.issue(iid).links.list()]


def _close(world: World, iid: int, when: str) -> None:
    world.edit(iid, when, state_event="close")


@pytest.mark.parametrize("mode", ["gate", "warn", "off"])
def test_signoff_gate_in_each_mode(world: World, tmp_path, mode: str) -> None:
    from tests.helpers import policy_text

    policies = tmp_path / "policies.yml"
    policies.write_text(policy_text(("  gate: gate", f"  gate: {mode}")))
    iid = world.open("2026-11-16 09:00")
    world.edit(iid, "2026-11-18 15:00", add_labels="phase::resolution")
    _close(world, iid, "2026-11-18 15:30")
    check(world, "2026-11-18 16:00", "--policies", str(policies))
    check(world, "2026-11-18 17:00", "--policies", str(policies))
    gates = kinds(world, iid, "gate")
    state = world.issue(iid).state
    if mode == "gate":
        assert len(gates) == 1 and "escbot reopened it" in gates[0] and state == "opened"
        # Closed again without sign-off: a new closing, one new gate comment.
        _close(world, iid, "2026-11-19 10:00")
        check(world, "2026-11-19 11:00", "--policies", str(policies))
        check(world, "2026-11-19 12:00", "--policies", str(policies))
        assert len(kinds(world, iid, "gate")) == 2 and world.issue(iid).state == "opened"
    elif mode == "warn":
        assert len(gates) == 1 and "The policy only warns" in gates[0] and state == "closed"
    else:
        assert gates == [] and state == "closed"


def test_everything_checked_closes_the_raid_and_the_escalation(world: World) -> None:
    iid = world.open("2026-11-16 09:00")
    raid_iid = iid + 1
    world.edit(iid, "2026-11-18 15:00", add_labels="phase::resolution")
    world.tick(iid, "## Close-out checklist", "2026-11-19 10:00")
    check(world, "2026-11-19 11:00")
    esc = world.issue(iid)
    assert esc.state == "closed" and "phase::closure" in esc.labels
    raid = world.issue(raid_iid)
    assert raid.state == "closed"
    assert [n.body for n in world.notes(raid_iid, "escbot") if "escbot:raid-final" in n.body]
    check(world, "2026-11-19 12:00")
    assert len([n for n in world.notes(raid_iid, "escbot") if "escbot:raid-final" in n.body]) == 1


@pytest.mark.parametrize(
    ("opened", "inside"),
    [("2026-11-04 23:30", True), ("2026-11-05 00:30", False)],
    ids=["day-30", "day-31"],
)
def test_warranty_window_edges_across_dst(world: World, opened: str, inside: bool) -> None:
    # Completed 5 Oct (EDT); day 30 is 4 Nov, after the clocks went back on 1 Nov.
    iid = world.open(
        opened,
        "--completed",
        "2026-10-05",
        type="warranty",
        category="warranty-30-day",
        title="Camera offline",
    )
    result = check(world, "2026-11-05 09:30")
    labels = world.issue(iid).labels
    if inside:
        assert "out-of-warranty" not in labels and kinds(world, iid, "warranty") == []
    else:
        [note] = kinds(world, iid, "warranty")
        assert "opened on day 31 after project completion (2026-10-05)" in note
        assert "out-of-warranty" in labels
        check(world, "2026-11-05 10:30")
        assert len(kinds(world, iid, "warranty")) == 1
    # Inside or out, QA is the first rung for warranty escalations.
    assert "escbot" in result.output


def test_warranty_reminders_go_to_qa_first(world: World) -> None:
    iid = world.open(
        "2026-11-16 09:00",
        "--completed",
        "2026-11-10",
        type="warranty",
        category="warranty-30-day",
        title="Camera offline",
    )
    check(world, "2026-11-17 10:00")
    [reminder] = [n.body for n in world.notes(iid, "escbot") if "escbot:remind" in n.body]
    assert reminder.splitlines()[0] == "@fixed.qa"  # QA, not the PM
    assert "4 tracking requirements of this Sev1 escalation are overdue:" in reminder


def test_hand_mangled_description_reports_missing_items_by_name(world: World) -> None:
    iid = world.open("2026-11-16 09:00")
    text = world.issue(iid).description
    start = text.index("## Close-out checklist")
    mangled = (
        text[:start]
        + "## Close-out checklist\n- [x] Final resolution documented\n- [ ] customer signoff??\n"
    )
    world.edit(iid, "2026-11-18 14:00", description=mangled, add_labels="phase::resolution")
    result = check(world, "2026-11-18 16:00")
    [posted] = kinds(world, iid, "closeout")
    assert "| Final resolution documented | done |" in posted
    assert "| Customer sign-off obtained | **missing from the description** |" in posted
    assert "| Financial impact reconciled | **missing from the description** |" in posted
    assert "Traceback" not in result.output


def test_closeout_command_on_demand_dry_run_then_apply(world: World) -> None:
    iid = world.open("2026-11-16 09:00")
    world.sb.reset_stats()
    dry = world.run("closeout", "--project", "acme/collab", str(iid), when="2026-11-17 10:00")
    assert dry.exit_code == 0, dry.output
    assert "Would comment on acme/collab#1: post the close-out checklist (0/8 done)" in dry.output
    assert (
        "Would create the retrospective issue for acme/collab#1 and link it (assignee: @pat)"
        in dry.output
    )
    assert set(world.sb.stats()["by_method"]) == {"GET"}
    done = world.run(
        "closeout", "--project", "acme/collab", str(iid), "--apply", when="2026-11-17 10:00"
    )
    assert "Did create the retrospective issue" in done.output
    again = world.run(
        "closeout", "--project", "acme/collab", str(iid), "--apply", when="2026-11-17 11:00"
    )
    assert "Nothing to do." in again.output
    assert len(retros(world)) == 1


def test_a_failed_reopen_is_retried_without_a_second_comment(world: World, tmp_path) -> None:
    # A Guest may comment on a public issue but not reopen it; escbot's issues and notes are
    # confidential by default, so this escalation and its comments are made public.
    public = tmp_path / "policies.yml"
    public.write_text(
        policy_text(
            ("  confidential: true", "  confidential: false"),
            ("public_comments: [ack]", "public_comments: [ack, gate]"),
        )
    )
    guest, token = world.sb.create_user("guest.bot")
    world.group.members.create({"user_id": guest["id"], "access_level": 10})
    world.tokens["guest.bot"] = token
    iid = world.open("2026-11-16 09:00", "--policies", str(public))
    _close(world, iid, "2026-11-18 15:30")
    first = world.run(
        "check", "--group", "acme", "--apply", "--policies", str(public),
        who="guest.bot", when="2026-11-18 16:00",
    )  # fmt: skip
    assert first.exit_code == 3 and "Failed: reopen acme/collab#1" in first.output
    gates = [n.body for n in world.notes(iid) if "escbot:gate" in n.body]
    assert len(gates) == 1 and world.issue(iid).state == "closed"
    second = check(world, "2026-11-18 17:00", "--policies", str(public))
    assert "Did reopen acme/collab#1" in second.output
    assert len([n for n in world.notes(iid) if "escbot:gate" in n.body]) == 1
    assert world.issue(iid).state == "opened"


def test_a_person_who_reopens_a_completed_escalation_keeps_it_open(world: World) -> None:
    iid = world.open("2026-11-16 09:00")
    world.edit(iid, "2026-11-18 15:00", add_labels="phase::resolution")
    world.tick(iid, "## Close-out checklist", "2026-11-19 10:00")
    check(world, "2026-11-19 11:00")
    assert world.issue(iid).state == "closed"
    [complete] = kinds(world, iid, "complete")
    assert "so escbot closes this escalation" in complete
    world.edit(iid, "2026-11-23 09:00", state_event="reopen")
    again = check(world, "2026-11-23 10:00")
    assert world.issue(iid).state == "opened", again.output
    assert len(kinds(world, iid, "complete")) == 1


def test_overlapping_closeouts_leave_one_open_retrospective(world: World) -> None:
    import threading

    from escbot.check import run_one
    from escbot.executor import apply_plan as apply_actions
    from escbot.gitlab_io import GitLab
    from escbot.rules import ON_DEMAND_CLOSEOUT
    from tests.helpers import ny, policy

    iid = world.open("2026-11-16 09:00")
    world.at("2026-11-18 16:00")
    plans = []
    for _ in range(2):
        api = GitLab(world.as_user("escbot"))
        project = api.project(world.path)
        result = run_one(api, project.id, iid, policy(), ny("2026-11-18 16:00"), apply=False,
                         rules=ON_DEMAND_CLOSEOUT[:1])  # fmt: skip
        plans.append((api, [a for a in result.actions if a.kind == "create_retro"]))
    threads = [threading.Thread(target=apply_actions, args=plan) for plan in plans]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    open_retros = [r for r in retros(world) if r.state == "opened"]
    assert len(open_retros) == 1
    assert [
        link.iid for link in world.issue(iid).links.list() if "retrospective" in link.labels
    ] == [open_retros[0].iid]


def test_closeout_names_its_escalation_and_refuses_a_companion_or_a_missing_issue(
    world: World,
) -> None:
    """Issue 14, defect 6: what `escbot closeout` says is about the one escalation it was given,
    with paths, never numeric project ids."""
    iid = world.open("2026-11-16 09:00", title="Install stalled")
    out = world.run("closeout", "--project", "acme/collab", str(iid), when="2026-11-17 10:00")
    assert out.exit_code == 0, out.output
    first = out.output.splitlines()[0]
    assert first == (
        "escbot closeout at Tue 17 Nov 10:00 EST: acme/collab#1 (opened) Install stalled, "
        "0 requirement(s) missed"
    )
    raid = world.run("closeout", "--project", "acme/collab", str(iid + 1), when="2026-11-17 10:00")
    assert raid.exit_code == 2
    assert raid.output.strip() == (
        "escbot: error: acme/collab#2 is not an escalation: it is the RAID register of #1; give the "
        "escalation's number"
    )
    gone = world.run("closeout", "--project", "acme/collab", "99", when="2026-11-17 10:00")
    assert gone.exit_code != 0 and "acme/collab#99" in gone.output
    assert "1#99" not in gone.output
