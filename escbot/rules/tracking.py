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
        # In a resolution phase only close-out follows (escbot.rules.closeout).
        and cls["phase"] not in ctx.policy.process.resolution_phases
        and cls.level is not None
    )


def tracking_rule(esc: Escalation, ctx: Context) -> Evaluation:
    ev = Evaluation(esc.ref)
    cls = classify(esc.labels, ctx.policy)
    if not tracking_applies(esc, cls, ctx):
        return ev
    start = anchor(esc, cls, ev)
    ev.findings.append(initiation(esc, cls, start, ctx))
    ev.findings += requirements(esc, cls, start, ctx, ev)
    missed = [f for f in ev.findings if f.missed]
    notices = reminders(esc, cls, missed, ctx)
    findings, proposals = promotion(esc, cls, start, ctx)
    ev.findings += findings
    # Outside working hours the composer holds what mentions people (escbot.rules.compose).
    ev.actions += notices
    ev.actions += rag(esc, cls, missed, ctx, ev)
    ev.actions += proposals
    return ev
