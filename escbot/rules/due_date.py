"""GitLab's due date of an escalation is the next deadline escbot holds it to, so GitLab's own
"overdue" lists stay truthful (policy `process.due_date: follow`):

    Phase 1 not complete        the Phase 1 deadline (its last day: 00:00 ends the day before)
    active                      the earliest open date it promised: a resolution-plan milestone,
                                the path-to-green target date, the tracked GitLab milestone
    nothing promised yet        none
    resolution and closure      none (close-out has no deadline; the sign-off gate holds it)
"""

from __future__ import annotations

from datetime import date

from escbot import description as desc
from escbot.model import Classification, Context, Escalation, classify
from escbot.plan import Evaluation
from escbot.rules.cadence import anchor, initiation
from escbot.rules.common import act


def next_deadline(
    esc: Escalation, cls: Classification, ctx: Context, ev: Evaluation
) -> tuple[date | None, str]:
    """The date GitLab should show, and what it is."""
    policy = ctx.policy
    if cls["phase"] in policy.process.resolution_phases:
        return None, "close-out"
    phase1 = initiation(esc, cls, anchor(esc, cls, ev), ctx)
    if phase1.detail and phase1.due:
        return policy.calendar.due_day(phase1.due), "the Phase 1 deadline"
    promised = [
        (m.due, f"milestone {m.text}") for m in desc.milestones(esc.description) if not m.done
    ]
    target = desc.date_field(esc.description, desc.TARGET_DATE)
    if target:
        promised.append((target, "the path-to-green target date"))
    if esc.milestone_due:
        promised.append((esc.milestone_due, f"milestone {esc.milestone_title}"))
    if not promised:
        return None, "no date promised yet"
    return min(promised)


def due_date_rule(esc: Escalation, ctx: Context) -> Evaluation:
    ev = Evaluation(esc.ref)
    policy = ctx.policy
    cls = classify(esc.labels, policy)
    if policy.process.due_date != "follow" or esc.state != "opened" or cls.level is None:
        return ev
    wanted, what = next_deadline(esc, cls, ctx, ev)
    if wanted == esc.due_date or ev.needs:
        return ev
    text = wanted.isoformat() if wanted else ""
    summary = (
        f"set the due date of {esc.ref} to {text} ({what})"
        if wanted
        else f"remove the due date of {esc.ref} ({what})"
    )
    ev.actions.append(act("due_date", esc, summary, "due_date", data={"due_date": text}))
    return ev
