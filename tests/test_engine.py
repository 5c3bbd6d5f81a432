"""The rule engine, pure: snapshots in, findings and planned actions out."""

from __future__ import annotations

from datetime import date

from escbot.markers import find_markers
from escbot.model import Context, Escalation
from escbot.plan import Action, Evaluation
from escbot.rules import evaluate as evaluate_rules
from escbot.rules import rules_named
from escbot.rules.common import stamp
from tests.helpers import BOT, escalation, note, ny, policy

P = policy()


def evaluate(esc: Escalation, context: Context) -> Evaluation:
    """The tracking rule, its sections composed into one comment as a run would post it."""
    return evaluate_rules(esc, context, rules_named("tracking"))


def ctx(when: str) -> Context:
    return Context(policy=P, now=ny(when), bot=BOT)


def comments(actions: list[Action]) -> list[Action]:
    """The run's comment when it carries reminders or ladder steps."""
    return [a for a in actions if a.kind == "comment" and "remind" in a.rule.split("+")]


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
    [reminder] = comments(ev.actions)  # the RAG change rides in the same comment
    assert reminder.summary == (
        "comment on acme/collab#12: remind @pat: status update, milestone progress, blockers "
        "missed (since Tue 17 Nov 09:00 EST); status yellow -> red"
    )
    lines = reminder.body.splitlines()
    assert lines[0] == "@pat" and reminder.body.count("@pat") == 1
    assert lines[5] == "3 tracking requirements of this Sev1 escalation are overdue:"
    assert "#status-update" in reminder.body
    assert "fixed.qa, not before Wed 18 Nov 10:00 EST" in reminder.body  # QA is next (seed 004)
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
    [run] = comments(ev.actions)  # one comment for the run
    assert run.summary.startswith("comment on acme/collab#12: remind @pat: customer communication")
    assert "escalate to rung 2 @fixed.qa: status update" in run.summary
    assert run.body.splitlines()[0] == "@pat @fixed.qa"  # each person once, at the top
    assert "**Escalation ladder, step 2 of 4:**" in run.body
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
    assert comments(ev.actions) == []
    assert "outside working hours (Sun 22 Nov 12:00 EST): 1 comment section(s)" in ev.notes[0]
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


SEV2_LABELS = ("escalation", "escalation::sev2", "severity::medium", "type::internal")


def sev2(description: str = "", **over: object) -> Escalation:
    """A Sev2 opened Mon 26 Oct 2026 with GitLab's due date at its Phase 1 deadline."""
    return escalation(
        labels=(*SEV2_LABELS, "category::timeline", "rag::red"),
        description="<!-- escbot:escalation level=sev2 -->\n" + description,
        created_at=ny("2026-10-26 09:00"),
        due_date=date(2026, 10, 27),
        **over,
    )


WEEKLY = "Week on track. #path-to-green #portfolio-call #mitigation #resource-needs"


def weekly_updates(until: str) -> tuple:
    """The weekly Sev2 update every Monday morning from opening until `until`."""
    days = ["2026-10-26", "2026-11-02", "2026-11-09", "2026-11-16", "2026-11-23", "2026-11-30"]
    return tuple(note(WEEKLY, ny(f"{d} 08:00"), id=i + 1) for i, d in enumerate(days) if d <= until)


def proposals(ev: Evaluation) -> list[Action]:
    return [a for a in ev.actions if a.kind == "comment" and "promotion" in a.rule.split("+")]


def test_a_healthy_sev2_is_never_proposed_for_sev1() -> None:
    """GitLab's due date (escbot's own Phase 1 deadline) is no project milestone."""
    healthy = sev2(notes=weekly_updates("2026-11-30"))
    for day in ("2026-11-10", "2026-11-16", "2026-11-24", "2026-12-01"):
        ev = evaluate(healthy, ctx(f"{day} 10:00"))
        assert proposals(ev) == [], day
        assert not [a for a in ev.actions if "needs-decision" in a.add_labels]


def test_sev2_past_its_path_to_green_target_proposes_sev1_once() -> None:
    late = sev2("- Target date for Yellow/Green: 2026-11-01\n", notes=weekly_updates("2026-11-16"))
    ev = evaluate(late, ctx("2026-11-16 10:00"))
    [proposal] = proposals(ev)
    assert proposal.body.splitlines()[0] == "@director.ps"
    assert "**Leadership decision needed:** this Sev2 meets the policy's threshold" in proposal.body
    assert "15 days past its path-to-green target date 2026-11-01" in proposal.body
    assert [a.add_labels for a in ev.actions if a.kind == "labels"] == [("needs-decision",)]
    again = evaluate(
        late.with_activity(notes=late.notes + posted([proposal], "2026-11-16 10:00")),
        ctx("2026-11-17 10:00"),
    )
    assert proposals(again) == []
    # 14 days is not yet "more than 2 weeks"
    assert proposals(evaluate(late, ctx("2026-11-15 10:00"))) == []


def test_sev2_past_its_tracked_milestone_proposes_sev1() -> None:
    late = sev2(
        notes=weekly_updates("2026-11-16"),
        milestone_title="Dallas go-live",
        milestone_due=date(2026, 11, 1),
    )
    [proposal] = proposals(evaluate(late, ctx("2026-11-16 10:00")))
    assert '15 days past milestone "Dallas go-live" 2026-11-01' in proposal.body


def test_sev2_missing_its_weekly_update_two_weeks_running_proposes_sev1() -> None:
    quiet = sev2(notes=weekly_updates("2026-11-02"))  # last update Mon 2 Nov 08:00
    assert proposals(evaluate(quiet, ctx("2026-11-10 10:00"))) == []  # missed once: a reminder
    [proposal] = proposals(evaluate(quiet, ctx("2026-11-16 10:00")))
    assert "path to green missed 2 periods running (due since Mon 09 Nov 08:00 EST" in (
        proposal.body
    )


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


def test_after_a_gap_the_first_mention_is_the_dri_then_one_rung_at_a_time() -> None:
    ev = evaluate(escalation(), ctx("2026-11-19 10:00"))  # nobody ran Tuesday or Wednesday
    [first] = comments(ev.actions)
    assert first.body.splitlines()[0] == "@pat"  # never two rungs at once on the first mention
    assert {m.get("rung") for m in first.markers if m.kind == "remind"} == {"0"}
    notes = posted(ev.actions, "2026-11-19 10:00")
    # QA only one business day after the DRI was told, not at once
    assert comments(evaluate(escalation(notes=notes), ctx("2026-11-19 16:00")).actions) == []
    [qa] = comments(evaluate(escalation(notes=notes), ctx("2026-11-20 10:00")).actions)
    assert qa.body.splitlines()[0] == "@fixed.qa"


def test_promotion_waits_for_working_hours_and_stops_failing_once_proposed() -> None:
    late = sev2("- Target date for Yellow/Green: 2026-11-01\n", notes=weekly_updates("2026-11-23"))
    saturday = evaluate(late, ctx("2026-11-21 10:00"))
    assert proposals(saturday) == []
    assert proposals(evaluate(late, ctx("2026-11-23 07:30"))) == []  # before working hours
    monday = evaluate(late, ctx("2026-11-23 10:00"))
    proposal = proposals(monday)
    assert proposal and any(f.rule == "promotion_target" and f.missed for f in monday.findings)
    after = evaluate(
        late.with_activity(notes=late.notes + posted(proposal, "2026-11-23 10:00")),
        ctx("2026-11-24 10:00"),
    )
    assert not any(f.rule == "promotion_target" and f.missed for f in after.findings)
