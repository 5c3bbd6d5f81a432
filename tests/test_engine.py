"""The rule engine, pure: snapshots in, findings and planned actions out."""

from __future__ import annotations

from datetime import date

from escbot.markers import find_markers
from escbot.model import Context
from escbot.plan import Action
from escbot.rules.common import stamp
from escbot.rules.tracking import tracking_rule as evaluate
from tests.helpers import BOT, escalation, note, ny, policy

P = policy()


def ctx(when: str) -> Context:
    return Context(policy=P, now=ny(when), bot=BOT)


def comments(actions: list[Action]) -> list[Action]:
    return [a for a in actions if a.kind == "comment" and a.rule == "remind"]


def posted(actions: list[Action], at: str) -> tuple:
    """The notes the bot would have left after applying these comments."""
    return tuple(
        note(a.body, ny(at), BOT, id=i + 1000) for i, a in enumerate(actions) if a.kind == "comment"
    )


def test_nothing_due_on_the_first_morning() -> None:
    ev = evaluate(escalation(), ctx("2026-11-16 17:00"))
    assert ev.missed == [] and ev.actions == []


def test_status_update_missed_tuesday_reminds_the_dri_once_with_what_satisfies_it() -> None:
    ev = evaluate(escalation(), ctx("2026-11-17 10:00"))
    assert [f.rule for f in ev.missed] == ["status_update", "milestone_progress", "blockers"]
    assert all(f.due == ny("2026-11-17 09:00") for f in ev.missed)
    [reminder] = comments(ev.actions)
    assert reminder.summary == (
        "comment on acme/collab#12: remind @pat: status update, milestone progress, blockers "
        "missed (since Tue 17 Nov 09:00 EST)"
    )
    assert (
        reminder.body.splitlines()[3]
        == "@pat, 3 tracking requirements of this SEV1 escalation are overdue:"
    )
    assert (
        "#status-update" in reminder.body and "`pm.lead` from Wed 18 Nov 09:00 EST" in reminder.body
    )
    assert next(m.render() for m in reminder.markers) == (
        f"<!-- escbot:remind rule=status_update due={stamp(ny('2026-11-17 09:00'))} rung=0 -->"
    )
    # Rerun in the same period with the bot's note in place: nothing new.
    again = evaluate(
        escalation(notes=posted(ev.actions, "2026-11-17 10:00")), ctx("2026-11-17 15:00")
    )
    assert comments(again.actions) == []


def test_a_tagged_human_note_meets_the_requirement_and_bot_notes_never_do() -> None:
    notes = (
        note("Morning: crew on site. #status-update #blockers", ny("2026-11-17 08:30")),
        note("#milestone-progress (quoted by the bot)", ny("2026-11-17 08:40"), BOT),
    )
    ev = evaluate(escalation(notes=notes), ctx("2026-11-17 10:00"))
    assert [f.rule for f in ev.missed] == ["milestone_progress"]
    met = next(f for f in ev.findings if f.rule == "status_update")
    assert met.met_at == ny("2026-11-17 08:30") and met.due == ny("2026-11-18 08:30")


def test_next_rung_is_mentioned_once_past_the_limit() -> None:
    first = evaluate(escalation(), ctx("2026-11-17 10:00"))
    notes = posted(first.actions, "2026-11-17 10:00")
    ev = evaluate(escalation(notes=notes), ctx("2026-11-18 10:00"))
    ladder = next(a for a in comments(ev.actions) if "rung 2" in a.summary)
    assert ladder.summary.startswith("comment on acme/collab#12: escalate to rung 2 @pm.lead:")
    assert "@pm.lead, escalating (ladder rung 2)" in ladder.body
    # customer communication falls due Wed 09:00: a fresh rung-0 reminder, separately
    assert [a.summary for a in comments(ev.actions) if "remind" in a.summary] == [
        "comment on acme/collab#12: remind @pat: customer communication missed "
        "(since Wed 18 Nov 09:00 EST)"
    ]
    again = evaluate(
        escalation(notes=notes + posted(ev.actions, "2026-11-18 10:00")), ctx("2026-11-18 16:00")
    )
    assert comments(again.actions) == []


def test_no_reminder_on_saturday_or_a_holiday() -> None:
    # opened Friday 09:00: status update due Monday 09:00 in business days, nothing Saturday
    fri = escalation(created_at=ny("2026-11-20 09:00"))
    assert comments(evaluate(fri, ctx("2026-11-21 12:00")).actions) == []
    # 48h (wall clock) falls due on Saturday: the reminder waits for Monday
    p48 = policy(
        a=(
            'status_update: {title: "Status update", every: "1 business day"',
            'status_update: {title: "Status update", every: "48h"',
        )
    )
    ev = evaluate(fri, Context(policy=p48, now=ny("2026-11-22 12:00"), bot=BOT))
    assert [f.rule for f in ev.missed] == ["status_update"]
    assert comments(ev.actions) == [] and "quiet day (Sunday)" in ev.notes[0]
    # Thanksgiving (Thu 26 Nov 2026) is no working day: Wednesday's due moves to Friday
    wed = escalation(created_at=ny("2026-11-25 09:00"))
    assert evaluate(wed, ctx("2026-11-26 12:00")).missed == []
    assert [f.rule for f in evaluate(wed, ctx("2026-11-27 10:00")).missed][:1] == ["status_update"]


def test_rag_goes_red_when_missed_and_back_when_met() -> None:
    ev = evaluate(escalation(), ctx("2026-11-17 10:00"))
    [labels] = [a for a in ev.actions if a.kind == "labels"]
    assert labels.add_labels == ("rag::red",) and labels.remove_labels == ("rag::yellow",)
    red = tuple(lab if lab != "rag::yellow" else "rag::red" for lab in escalation().labels)
    notes = (
        *posted(ev.actions, "2026-11-17 10:00"),
        note("#status-update #milestone-progress #blockers", ny("2026-11-17 11:00")),
    )
    back = evaluate(escalation(labels=red, notes=notes), ctx("2026-11-17 12:00"))
    [restore] = [a for a in back.actions if a.kind == "labels"]
    assert restore.add_labels == ("rag::yellow",) and restore.remove_labels == ("rag::red",)


def test_red_set_by_a_person_is_not_undone() -> None:
    red = tuple(lab if lab != "rag::yellow" else "rag::red" for lab in escalation().labels)
    ev = evaluate(escalation(labels=red), ctx("2026-11-16 12:00"))
    assert [a for a in ev.actions if a.kind == "labels"] == []


def late_sev2():
    """A Sev2 due on 1 November 2026."""
    labels = ("escalation", "escalation::sev2", "severity::medium", "type::internal")
    return escalation(
        labels=(*labels, "category::timeline", "rag::red"),
        description="<!-- escbot:escalation level=sev2 -->",
        due_date=date(2026, 11, 1),
    )


def test_sev2_fifteen_days_past_due_proposes_sev1_once() -> None:
    sev2 = late_sev2()
    ev = evaluate(sev2, ctx("2026-11-16 10:00"))
    [proposal] = [a for a in ev.actions if a.rule == "promotion" and a.kind == "comment"]
    assert "@director.ps, leadership decision needed" in proposal.body
    assert "15 days past its due date 2026-11-01" in proposal.body
    assert [a.add_labels for a in ev.actions if a.rule == "promotion" and a.kind == "labels"] == [
        ("needs-decision",)
    ]
    again = evaluate(
        sev2.with_activity(notes=posted([proposal], "2026-11-16 10:00")), ctx("2026-11-17 10:00")
    )
    assert [a for a in again.actions if a.rule == "promotion" and a.kind == "comment"] == []
    # 14 days is not yet "more than 2 weeks"
    early = evaluate(sev2, ctx("2026-11-15 10:00"))
    assert [a for a in early.actions if a.rule == "promotion"] == []


def test_initiation_names_what_is_missing() -> None:
    text = "<!-- escbot:escalation level=sev1 -->\n## Phase 1 checklist\n- [x] Tracking issue created\n- [ ] RACI matrix created\n"
    labels = tuple(lab for lab in escalation().labels if not lab.startswith("severity::"))
    ev = evaluate(
        escalation(description=text, labels=labels, assignees=()), ctx("2026-11-17 10:00")
    )
    phase1 = next(f for f in ev.findings if f.rule == "initiation")
    assert phase1.missed
    assert phase1.detail == "Phase 1: RACI matrix created; no DRI assigned; no severity label"


def test_promoted_sev2_needs_its_label_history() -> None:
    sev1_from_sev2 = escalation(description="<!-- escbot:escalation level=sev2 -->")
    ev = evaluate(sev1_from_sev2, ctx("2026-11-17 10:00"))
    assert "label_events" in ev.needs


def test_markers_round_trip() -> None:
    ev = evaluate(escalation(), ctx("2026-11-17 10:00"))
    for action in ev.actions:
        if action.kind == "comment":
            assert set(action.markers) <= set(find_markers(action.body))


def test_quoting_the_reminder_does_not_count_as_the_update() -> None:
    first = evaluate(escalation(), ctx("2026-11-17 10:00"))
    [reminder] = comments(first.actions)
    quoted = "\n".join("> " + line for line in reminder.body.splitlines()) + "\n\nOn it."
    notes = (*posted(first.actions, "2026-11-17 10:00"), note(quoted, ny("2026-11-17 10:30")))
    ev = evaluate(escalation(notes=notes), ctx("2026-11-17 11:00"))
    assert {f.rule for f in ev.missed} == {"status_update", "milestone_progress", "blockers"}
    fenced = "```\n#status-update\n```\nand `#blockers` is a tag"
    ev = evaluate(
        escalation(notes=(note(fenced, ny("2026-11-17 08:00")),)), ctx("2026-11-17 10:00")
    )
    assert {"status_update", "blockers"} <= {f.rule for f in ev.missed}


def test_a_rag_label_write_that_failed_after_its_comment_is_redone() -> None:
    from escbot.model import LabelEvent

    first = evaluate(escalation(), ctx("2026-11-17 10:00"))
    notes = posted(first.actions, "2026-11-17 10:00")  # comment posted, label write failed
    ev = evaluate(escalation(notes=notes), ctx("2026-11-17 11:00"))
    assert ev.needs == {"label_events"}  # is yellow a person's doing? the history says
    done = evaluate(escalation(notes=notes, label_events=()), ctx("2026-11-17 11:00"))
    [redo] = [a for a in done.actions if a.rule == "rag"]
    assert redo.kind == "labels" and redo.summary.startswith("redo: set rag::red on acme/collab#12")
    by_person = (LabelEvent(ny("2026-11-17 10:20"), "rag::yellow", "add", "pat"),)
    kept = evaluate(escalation(notes=notes, label_events=by_person), ctx("2026-11-17 11:00"))
    assert [a for a in kept.actions if a.rule == "rag"] == []


def test_first_reminder_after_a_gap_tells_everyone_up_to_the_rung() -> None:
    ev = evaluate(escalation(), ctx("2026-11-18 10:00"))  # nobody ran on Tuesday
    late = next(a for a in comments(ev.actions) if "status_update" in a.markers[0].render())
    assert late.summary.startswith("comment on acme/collab#12: escalate to rung 2 @pat @pm.lead:")
    assert "no earlier reminder was posted for it" in late.body


def test_promotion_waits_for_a_working_day_and_stops_failing_once_proposed() -> None:
    sev2 = late_sev2()
    saturday = evaluate(sev2, ctx("2026-11-21 10:00"))
    assert [a for a in saturday.actions if a.rule == "promotion"] == []
    monday = evaluate(sev2, ctx("2026-11-23 10:00"))
    proposal = [a for a in monday.actions if a.rule == "promotion" and a.kind == "comment"]
    assert proposal and any(f.rule == "promotion_overdue" and f.missed for f in monday.findings)
    after = evaluate(
        sev2.with_activity(notes=posted(proposal, "2026-11-23 10:00")), ctx("2026-11-24 10:00")
    )
    assert not any(f.rule == "promotion_overdue" and f.missed for f in after.findings)
