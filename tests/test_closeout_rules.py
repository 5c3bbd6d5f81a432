"""Close-out sub-rules on snapshots (no GitLab): gate, checklist, retrospective, completion."""

from __future__ import annotations

from datetime import timedelta

from escbot.markers import find_markers, marker
from escbot.model import Companion, Context, Escalation, LabelEvent, classify
from escbot.plan import Evaluation
from escbot.rules.closeout import (
    checklist,
    closeout_items,
    closeout_rule,
    completion,
    gate,
    retrospective,
)
from escbot.rules.common import stamp
from tests.helpers import BOT, SEV1_DESCRIPTION, escalation, note, ny, policy

P = policy()
NOW = ny("2026-11-20 10:00")
CTX = Context(policy=P, now=NOW, bot=BOT)
OPENED = ny("2026-11-16 09:00")
CLOSED = ny("2026-11-19 16:00")
RESOLUTION = tuple(
    "phase::resolution" if lab.startswith("phase::") else lab for lab in escalation().labels
)
ALL_TICKED = SEV1_DESCRIPTION.replace("- [ ]", "- [x]")
RAID = Companion(1, 40, "opened", OPENED, OPENED, "", "acme/collab#40")


def closed(**over: object) -> Escalation:
    return escalation(state="closed", closed_at=CLOSED, **over)


def run(part, esc: Escalation) -> tuple[object, Evaluation]:  # type: ignore[no-untyped-def]
    ev = Evaluation(esc.ref)
    items = closeout_items(esc, P)
    out = part(esc, items, CTX, ev)
    return out, ev


# ---- gate -------------------------------------------------------------------------------------


def test_gate_comments_once_per_closing_and_reopens() -> None:
    holds, ev = run(gate, closed())
    assert holds is True
    assert [(a.kind, a.rule) for a in ev.actions] == [("comment", "gate"), ("reopen", "gate")]
    assert ev.actions[0].markers == (marker("gate", closed=stamp(CLOSED)),)
    assert [f.rule for f in ev.findings] == ["signoff_gate"] and ev.findings[0].missed


def test_gate_after_its_comment_still_reopens_a_closed_escalation() -> None:
    said = note(f"<!-- escbot:gate closed={stamp(CLOSED)} -->", CLOSED, BOT)
    holds, ev = run(gate, closed(notes=(said,)))
    assert holds is True and [a.kind for a in ev.actions] == ["reopen"]


def test_gate_warn_policy_says_once_and_never_reopens() -> None:
    ctx = Context(policy=policy(gate=("gate: gate", "gate: warn")), now=NOW, bot=BOT)
    ev = Evaluation("x")
    esc = closed()
    assert gate(esc, closeout_items(esc, ctx.policy), ctx, ev) is True
    assert [a.kind for a in ev.actions] == ["comment"]
    said = note(f"<!-- escbot:gate closed={stamp(CLOSED)} -->", CLOSED, BOT)
    esc = closed(notes=(said,))
    ev = Evaluation("x")
    assert gate(esc, closeout_items(esc, ctx.policy), ctx, ev) is False and ev.actions == []


def test_gate_is_open_with_sign_off_or_while_open() -> None:
    signed = SEV1_DESCRIPTION.replace("- [ ] Customer sign-off", "- [x] Customer sign-off")
    assert run(gate, closed(description=signed)) == (False, Evaluation("acme/collab#12"))
    assert run(gate, escalation())[0] is False


# ---- checklist --------------------------------------------------------------------------------


def test_checklist_posted_once_with_progress() -> None:
    esc = escalation(labels=RESOLUTION)
    _, ev = run(checklist, esc)
    [post] = ev.actions
    assert post.summary == "comment on acme/collab#12: post the close-out checklist (0/8 done)"
    assert find_markers(post.body) == [marker("closeout")]
    assert [f.rule for f in ev.findings][:2] == ["closeout_resolution", "closeout_signoff"]
    assert not any(f.missed for f in ev.findings)
    _, again = run(checklist, escalation(notes=(note(post.body, NOW, BOT),)))
    assert again.actions == []


# ---- retrospective ----------------------------------------------------------------------------


def test_retrospective_waits_for_the_whole_history() -> None:
    ev = Evaluation("x")
    esc = escalation(labels=RESOLUTION, notes_since=OPENED - timedelta(days=1))
    retrospective(esc, classify(esc.labels, P), CTX, ev)
    assert ev.needs == {"notes", "label_events"} and ev.actions == []


def test_retrospective_created_once_with_its_timeline() -> None:
    events = (LabelEvent(ny("2026-11-19 12:00"), "phase::resolution", "add", "pat"),)
    esc = escalation(
        labels=RESOLUTION,
        label_events=events,
        notes=(note("On it #status-update", ny("2026-11-16 10:00")),),
    )
    ev = Evaluation("x")
    retrospective(esc, classify(esc.labels, P), CTX, ev)
    [create] = ev.actions
    assert create.kind == "create_retro"
    assert create.data["labels"] == ["retrospective"] and create.data["assignees"] == ["pat"]
    assert "First status update by pat" in create.body
    assert "Phase changed to resolution by pat" in create.body
    retro = Companion(1, 41, "opened", NOW, NOW, "", "acme/collab#41")
    ev = Evaluation("x")
    retrospective(esc.with_activity(retro=retro), classify(esc.labels, P), CTX, ev)
    assert ev.actions == []


# ---- completion -------------------------------------------------------------------------------


def test_completion_sets_closure_wraps_raid_and_closes_once() -> None:
    esc = escalation(labels=RESOLUTION, description=ALL_TICKED, raid=RAID)
    ev = Evaluation("x")
    completion(esc, classify(esc.labels, P), CTX, ev)
    assert [(a.kind, a.ref) for a in ev.actions] == [
        ("labels", "acme/collab#12"),
        ("close_companion", "acme/collab#40"),
        ("close", "acme/collab#12"),
        ("comment", "acme/collab#12"),
    ]
    assert ev.actions[0].add_labels == ("phase::closure",)
    assert ev.actions[0].remove_labels == ("phase::resolution",)
    done = note(ev.actions[-1].body, NOW, BOT)
    later = Evaluation("x")
    reopened = esc.with_activity(notes=(done,))
    completion(reopened, classify(esc.labels, P), CTX, later)
    assert "close" not in [a.kind for a in later.actions]  # a person reopened it: theirs


def test_closeout_rule_runs_nothing_else_while_the_gate_holds() -> None:
    ev = closeout_rule(closed(description=ALL_TICKED.replace("[x] Customer", "[ ] Customer")), CTX)
    assert [(a.kind, a.rule) for a in ev.actions] == [
        ("comment", "gate"),
        ("reopen", "gate"),
        ("comment", "closeout"),
    ]


def test_closeout_rule_ignores_escalations_still_active() -> None:
    assert closeout_rule(escalation(), CTX) == Evaluation("acme/collab#12")
    assert closeout_rule(escalation(), CTX, force=True).actions
