"""The scheduled cadence of an open escalation: Phase 1, the tracking requirements, reminders
up the ladder, RAG following the requirements, and promotion proposals."""

from __future__ import annotations

from escbot.model import Classification, Context, Escalation, classify
from escbot.plan import Evaluation
from escbot.rules.cadence import anchor, initiation, reminders, requirements
from escbot.rules.promotion import promotion
from escbot.rules.rag import rag


def tracking_applies(esc: Escalation, cls: Classification, ctx: Context) -> bool:
    return (
        esc.state == "opened"
        and cls["phase"] != ctx.policy.process.closure_phase
        and cls.level is not None
    )


def tracking_rule(esc: Escalation, ctx: Context) -> Evaluation:
    ev = Evaluation(esc.ref)
    policy = ctx.policy
    cls = classify(esc.labels, policy)
    if not tracking_applies(esc, cls, ctx):
        return ev
    start = anchor(esc, cls, ev)
    ev.findings.append(initiation(esc, cls, ctx))
    ev.findings += requirements(esc, cls, start, ctx, ev)
    missed = [f for f in ev.findings if f.missed]
    notices = reminders(esc, cls, missed, ctx)
    findings, proposals = promotion(esc, cls, ctx)
    ev.findings += findings
    if policy.calendar_spec.quiet_on_closed_days and policy.calendar.is_quiet(ctx.now):
        # Nobody is pinged on a weekend or holiday; the markers make it happen next working day.
        if notices or proposals:
            ev.notes.append(
                f"{esc.ref}: quiet day ({policy.calendar.local(ctx.now):%A}): "
                f"{len(notices) + len(proposals)} notification(s) wait for the next working day"
            )
        notices, proposals = [], []
    ev.actions += notices
    ev.actions += rag(esc, cls, missed, ctx, ev)
    ev.actions += proposals
    return ev
