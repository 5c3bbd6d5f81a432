"""Talking back to escbot: `/escbot` commands in comments, scenario by scenario over the sandbox
(ack, snooze, who may command, edited and deleted commands, two in one comment), and the parser."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from escbot.commands import parse
from escbot.markers import find_markers
from tests.helpers import NY, World, ny

DAILY = "#status-update #milestone-progress #blockers #customer-communication"


@pytest.fixture
def world(sandbox) -> World:
    w = World(sandbox)
    user, token = sandbox.create_user("cust")
    w.users["cust"], w.tokens["cust"] = user, token
    w.project.members.create({"user_id": user["id"], "access_level": 10})  # a Guest
    return w


def post(world: World, iid: int, body: str, when: str, who: str = "pat") -> Any:
    world.at(when)
    issue = world.as_user(who).projects.get(world.project.id, lazy=True).issues.get(iid, lazy=True)
    return issue.notes.create({"body": body})


def check(world: World, when: str) -> None:
    result = world.run("check", "--group", "acme", "--apply", when=when)
    assert result.exit_code in (0, 1), result.output


def answers(world: World, iid: int) -> list[str]:
    return [n.body for n in world.notes(iid, "escbot") if "escbot:talkback" in n.body]


def rungs(world: World, iid: int, rule: str = "status_update") -> list[tuple[str, int]]:
    """(due, rung) of every reminder of `rule` posted so far."""
    return [
        (m.get("due") or "", int(m.get("rung") or 0))
        for n in world.notes(iid, "escbot")
        for m in find_markers(n.body)
        if m.kind == "remind" and m.get("rule") == rule
    ]


def lapsed(world: World) -> int:
    """A Sev1 opened Mon 16 Nov, updated that morning, overdue from Tue 10:00; the DRI was
    reminded Tue 11:00."""
    iid = world.open("2026-11-16 09:00")
    world.tick(iid, "## Phase 1 checklist", "2026-11-16 09:30")
    world.comment(iid, DAILY, "2026-11-16 10:00")
    check(world, "2026-11-17 11:00")
    assert rungs(world, iid) == [("2026-11-17T15:00Z", 0)]
    return iid


def test_ack_stops_the_climb_and_nothing_else(world: World) -> None:
    iid = lapsed(world)
    note = post(world, iid, "Seen, on it.\n/escbot ack", "2026-11-17 12:00")
    # GitLab leaves an unknown quick action in the text (its pattern is built from the commands
    # it knows); so does the sandbox.
    assert world.issue(iid).notes.get(note.id).body == "Seen, on it.\n/escbot ack"
    check(world, "2026-11-17 13:00")
    [answer] = answers(world, iid)
    assert "/escbot ack" in answer and "no further ladder step for every requirement" in answer
    for day in ("2026-11-18 12:00", "2026-11-19 12:00"):
        check(world, day)
    assert rungs(world, iid) == [("2026-11-17T15:00Z", 0)]  # no QA, no team manager
    # The cadence goes on: customer communication fell due Wed 10:00, after the ack.
    assert rungs(world, iid, "customer_communication")[0] == ("2026-11-18T15:00Z", 0)
    # Met on Thursday, missed again on Friday: a new lapse is reminded as usual.
    world.comment(iid, DAILY, "2026-11-19 13:00")
    check(world, "2026-11-20 14:00")
    assert rungs(world, iid)[-1] == ("2026-11-20T18:00Z", 0)
    assert len(answers(world, iid)) == 1  # answered once


def test_guest_and_escbot_commands_are_ignored(world: World) -> None:
    iid = lapsed(world)
    # A Guest reads only public issues: one a person made public again, before escbot's next run.
    world.edit(iid, "2026-11-17 11:30", confidential=False)
    post(world, iid, "/escbot ack", "2026-11-17 12:00", who="cust")
    post(world, iid, "/escbot ack", "2026-11-17 12:05", who="escbot")
    check(world, "2026-11-18 12:00")
    assert answers(world, iid) == []
    assert ("2026-11-17T15:00Z", 1) in rungs(world, iid)  # QA told: nobody acknowledged


def test_two_commands_in_one_comment(world: World) -> None:
    iid = lapsed(world)
    body = "/escbot ack status-update\n/escbot snooze blockers for 2 business days vendor call"
    post(world, iid, body, "2026-11-17 12:00")
    check(world, "2026-11-18 12:00")
    [answer] = answers(world, iid)
    assert "acknowledged: no further ladder step for Status update" in answer
    assert "no reminder for Blockers until Thu 19 Nov 12:00 EST (vendor call)" in answer
    assert ("2026-11-17T15:00Z", 1) not in rungs(world, iid)
    assert ("2026-11-17T15:00Z", 1) not in rungs(world, iid, "blockers")
    assert ("2026-11-17T15:00Z", 1) in rungs(world, iid, "milestone_progress")  # not named
    check(world, "2026-11-19 13:00")  # the snooze is over: the next rung follows
    assert ("2026-11-17T15:00Z", 1) in rungs(world, iid, "blockers")


def test_a_snooze_past_the_policy_maximum_is_refused_with_a_reason(world: World) -> None:
    iid = lapsed(world)
    post(world, iid, "/escbot snooze status-update for 10 business days", "2026-11-17 12:00")
    post(world, iid, "/escbot snooze #blockers until 2026-12-15", "2026-11-17 12:01", "pmo.manager")
    post(world, iid, "/escbot snooze nonsense for 1 day\n/escbot dance", "2026-11-17 12:02")
    check(world, "2026-11-18 12:00")
    # One comment per run (the noise budget) answers all three comments, each in its section.
    [answer] = answers(world, iid)
    refused, pmo, bad = answer.split("\n---\n")[:3]
    assert "**not done**" in refused
    assert "longer than the policy's maximum of 5 business days" in refused
    assert "only the PMO may snooze longer" in refused
    assert "no reminder for Blockers until Mon 14 Dec 24:00 EST" in pmo
    assert "unknown requirement nonsense" in bad and 'unknown command "dance"' in bad
    assert ("2026-11-17T15:00Z", 1) in rungs(world, iid)  # the refused snooze changed nothing
    assert ("2026-11-17T15:00Z", 1) not in rungs(world, iid, "blockers")


@pytest.mark.parametrize("cache", [False, True], ids=["", "with the CI cache"])
def test_an_edited_command_is_answered_again_and_a_deleted_one_undone(
    world: World, cache: bool, tmp_path: Any
) -> None:
    if cache:  # escbot's memory of the command must not hide the edit or the deletion
        world.extra_env["ESCBOT_CACHE"] = str(tmp_path / "memory.json")
    iid = lapsed(world)
    note = post(world, iid, "/escbot snooze status-update for 1 business day", "2026-11-17 12:00")
    check(world, "2026-11-17 13:00")
    world.at("2026-11-17 14:00")
    note.body = "/escbot snooze status-update for 3 business days"
    note.save()
    check(world, "2026-11-17 15:00")
    first, second = answers(world, iid)
    assert "until Wed 18 Nov 12:00 EST" in first
    assert "edited the commands" in second and "until Fri 20 Nov 12:00 EST" in second
    check(world, "2026-11-18 13:00")
    assert ("2026-11-17T15:00Z", 1) not in rungs(world, iid)  # the edited snooze holds
    world.at("2026-11-18 14:00")
    note.delete()
    check(world, "2026-11-18 15:00")
    assert ("2026-11-17T15:00Z", 1) in rungs(world, iid)  # deleted: the climb resumes
    assert len(answers(world, iid)) == 2


def test_the_parser_reads_command_lines_only() -> None:
    body = """Thanks.
/escbot ack status-update blockers
> /escbot resume
```
/escbot explain
```
  /escbot snooze pmo-briefing for 48h waiting for the board
/escbot pause waiting-on-customer until 2026-11-30
/escbot pause holiday
/escbot"""
    cmds = parse(body, NY)
    assert [c.verb for c in cmds] == ["ack", "snooze", "pause", "pause", ""]
    assert cmds[0].requirements == ("status-update", "blockers")
    assert str(cmds[1].duration) == "48h" and cmds[1].reason == "waiting for the board"
    assert cmds[2].until is not None and cmds[2].until.isoformat() == "2026-11-30T05:00:00+00:00"
    assert cmds[3].error and cmds[4].error


# ---- pause and resume ------------------------------------------------------------------------


def dues(world: World, when: str) -> dict[str, datetime]:
    """Each finding's deadline, as `escbot check --format json` says (a dry run)."""
    result = world.run("check", "--group", "acme", "--format", "json", when=when)
    [esc] = json.loads(result.output)["escalations"]
    return {f["rule"]: datetime.fromisoformat(f["due"]) for f in esc["findings"] if f["due"]}


def working_minutes(start: datetime, end: datetime) -> int:
    """Minutes from start to end on New York working days (Mon-Fri but Thanksgiving): counted
    minute by minute, not with escbot's calendar."""
    cur, n = start.astimezone(NY), 0
    while cur < end:
        day = cur.date()
        n += day.weekday() < 5 and day != date(2026, 11, 26)
        cur += timedelta(minutes=1)
    return n


def after_working_minutes(start: datetime, minutes: int) -> datetime:
    cur = start.astimezone(NY)
    while minutes:
        cur += timedelta(minutes=1)
        day = (cur - timedelta(minutes=1)).date()
        minutes -= day.weekday() < 5 and day != date(2026, 11, 26)
    return cur


def test_pause_across_a_weekend_and_a_holiday_moves_deadlines_by_the_paused_time(
    world: World,
) -> None:
    # Opened Wed 25 Nov 09:00, Phase 1 not done; updated at 10:00. Thanksgiving is Thursday.
    iid = world.open("2026-11-25 09:00")
    world.comment(iid, DAILY, "2026-11-25 10:00")
    before = dues(world, "2026-11-25 14:00")
    assert before["initiation"] == ny("2026-11-27 09:00")  # one business day, Thursday skipped
    assert before["status_update"] == ny("2026-11-27 10:00")
    post(world, iid, "Asked the customer for site access.\n/escbot pause waiting-on-customer",
         "2026-11-25 15:00")  # fmt: skip
    check(world, "2026-11-25 16:00")
    assert "clock::paused" in world.issue(iid).labels
    [answer] = answers(world, iid)
    assert "clock paused (waiting-on-customer) from Wed 25 Nov 15:00 EST" in answer
    assert "Status update, Milestone progress, Blockers, Phase 1" in answer
    # Still paused on Monday morning: nothing is overdue, nobody reminded.
    during = dues(world, "2026-11-30 08:00")
    assert during["status_update"] > ny("2026-11-30 08:00")
    post(world, iid, "Access granted.\n/escbot resume", "2026-11-30 11:00")
    check(world, "2026-11-30 11:30")
    assert "clock::paused" not in world.issue(iid).labels
    assert "paused since Wed 25 Nov 15:00 EST, 1.83 business days" in answers(world, iid)[-1]
    after = dues(world, "2026-11-30 12:00")
    paused = working_minutes(ny("2026-11-25 15:00"), ny("2026-11-30 11:00"))
    assert paused == (9 + 24 + 11) * 60  # Wed 15-24h, Fri, Mon 0-11h; not Thu, Sat, Sun
    for rule in ("initiation", "status_update", "milestone_progress", "blockers"):
        assert after[rule] == after_working_minutes(before[rule], paused), rule
    assert after["status_update"] == ny("2026-12-01 06:00")
    # Customer communication is not pausable: its clock ran on.
    assert after["customer_communication"] == before["customer_communication"]
    # GitLab's due date follows the moved Phase 1 deadline (Tue 1 Dec 05:00).
    check(world, "2026-11-30 12:00")
    assert world.issue(iid).due_date == "2026-12-01"
    assert not [b for b in rungs(world, iid) if b[0] < "2026-12"]  # never reminded
    # The report shows the paused time.
    report = world.run("report", "--group", "acme", "--format", "markdown", when="2026-11-30 12:00")
    assert "(clock was paused: 1.83 business days)" in report.output


# ---- explain ---------------------------------------------------------------------------------


def test_explain_spells_out_a_scripted_history(world: World) -> None:
    iid = world.open("2026-11-23 09:00")
    world.tick(iid, "## Phase 1 checklist", "2026-11-23 09:30")
    world.comment(iid, DAILY, "2026-11-25 10:02")
    check(world, "2026-11-27 11:00")
    result = world.run("explain", "--project", world.path, str(iid), when="2026-11-27 12:00")
    assert result.exit_code == 0, result.output
    url = world.issue(iid).web_url
    update = world.notes(iid, "pat")[-1].id
    reminder = world.notes(iid, "escbot")[-1].id
    expected = [
        "| **Phase 1 initiation** | done | Tue 24 Nov 09:00 EST | no | — | — | — |",
        f"| **Status update** | [Wed 25 Nov 10:02 EST]({url}#note_{update}) | Fri 27 Nov 10:02 EST"
        " | yes | rung 1 of 4 told Fri 27 Nov 11:00 EST"
        " | fixed.qa, not before Mon 30 Nov 11:00 EST | — |",
        "- Status update: last #status-update Wed 25 Nov 10:02 EST + 1 business day ="
        " Fri 27 Nov 10:02 EST (skipped: Thu 26 Nov Thanksgiving Day)",
        "- Customer communication: last #customer-communication Wed 25 Nov 10:02 EST"
        " + 2 business days = Mon 30 Nov 10:02 EST"
        " (skipped: Thu 26 Nov Thanksgiving Day, Sat 28 Nov, Sun 29 Nov)",
        "- Stakeholder summary: opened Mon 23 Nov 09:00 EST + 1 week = Mon 30 Nov 09:00 EST",
        f"- [Fri 27 Nov 11:00 EST]({url}#note_{reminder}):",
        "  - rule tracking: Blockers due Fri 27 Nov 10:02 EST (last #blockers Wed 25 Nov"
        " 10:02 EST + 1 business day = Fri 27 Nov 10:02 EST (skipped: Thu 26 Nov Thanksgiving"
        " Day)); rung 1 of 4 (dri): 0h after the due = Fri 27 Nov 10:02 EST",
    ]
    lines = result.output.splitlines()
    assert [line for line in expected if line not in lines] == []
    # The reminder itself says why, in a collapsed section.
    body = world.notes(iid, "escbot")[-1].body
    why = body[body.index("<details><summary>Why this comment</summary>") :]
    assert expected[-1].replace("  - ", "- ", 1) in why.splitlines()
    data = json.loads(world.run("explain", url, "--format", "json", when="2026-11-27 12:00").output)
    [status] = [r for r in data["rows"] if r["rule"] == "status_update"]
    assert status["missed"] and status["next"] == "fixed.qa, not before Mon 30 Nov 11:00 EST"
    # /escbot explain answers with the same table, in an internal note.
    post(world, iid, "/escbot explain", "2026-11-27 12:30")
    check(world, "2026-11-27 13:00")
    [answer] = answers(world, iid)
    assert expected[1] in answer.splitlines()
    assert world.run("explain", "--project", world.path, "x").exit_code == 2
    assert world.run("explain", "https://example.com/nowhere").exit_code == 2


def test_check_audit_appends_one_json_line_per_decision(world: World, tmp_path) -> None:
    iid = lapsed(world)
    audit = tmp_path / "audit.jsonl"
    for when in ("2026-11-18 12:00", "2026-11-18 13:00"):
        result = world.run("check", "--group", "acme", "--apply", "--audit", str(audit), when=when)
        assert result.exit_code == 1, result.output
    lines = [json.loads(line) for line in audit.read_text().splitlines()]
    first = [d for d in lines if d["at"] == ny("2026-11-18 12:00").isoformat()]
    second = [d for d in lines if d["at"] == ny("2026-11-18 13:00").isoformat()]
    assert len(first) > len(second) > 0  # appended; the second run had nothing to write
    [status] = [d for d in second if d["rule"] == "status_update"]
    assert status["verdict"] == "missed" and status["issue"] == f"acme/collab#{iid}"
    assert status["inputs"]["due"] == "2026-11-17T15:00:00+00:00"
    [told] = [d for d in first if d["verdict"] == "act" and d["action"]["kind"] == "comment"]
    assert told["outcome"] == "done" and told["rule"] == "remind"
    assert any("rung 2 of 4 (qa): 1 business day after the due" in w for w in told["inputs"]["why"])
    bad = world.run("check", "--group", "acme", "--audit", str(tmp_path / "no" / "a.jsonl"))
    assert bad.exit_code == 2


def test_pauses_end_by_resume_or_date_and_refuse_what_makes_no_sense() -> None:
    from escbot.model import Context, Member
    from escbot.talkback import listen
    from tests.helpers import escalation, note, policy

    def talk(*bodies: tuple[str, str], now: str = "2026-11-20 12:00", who: str = "pat") -> Any:
        notes = tuple(note(b, ny(at), who, id=i + 1) for i, (b, at) in enumerate(bodies))
        esc = escalation(notes=notes, readers=(Member("pat", 30),))
        return listen(esc, Context(policy=policy(), now=ny(now), bot="escbot-bot"))

    t = talk(
        ("/escbot resume", "2026-11-16 10:00"),
        ("/escbot pause waiting-on-customer until 2026-11-18", "2026-11-16 11:00"),
        ("/escbot pause waiting-on-customer", "2026-11-17 09:00"),
        ("/escbot pause waiting-on-customer", "2026-11-19 09:00"),
    )
    refusals = [h.refusal for h in t.heard]
    assert refusals == [
        "the clock is not paused",
        None,
        "the clock is already paused (since Mon 16 Nov 11:00 EST)",
        None,
    ]
    [(a_start, a_end), (b_start, b_end)] = [(p.start, p.end) for p in t.pauses]
    assert (a_start, a_end) == (ny("2026-11-16 11:00"), ny("2026-11-18 00:00"))  # its date
    assert b_start == ny("2026-11-19 09:00") and b_end is None  # in force
    assert talk(("/escbot ack", "2026-11-16 10:00"), who="cust").heard == ()  # not a member


def test_the_talkback_policy_is_validated() -> None:
    from escbot.policies import PolicyError, parse_policy
    from tests.helpers import policy_text

    for old, new, says in (
        ("pausable: [status_update,", "pausable: [status_updates,", "talkback.pausable.0"),
        ('paused_label: "clock::paused"', 'paused_label: "clock::stopped"', "paused_label"),
        ('snooze_max: "5 business days"', 'snooze_max: "a while"', "talkback.snooze_max"),
    ):
        with pytest.raises(PolicyError, match=says):
            parse_policy(policy_text((old, new)))
