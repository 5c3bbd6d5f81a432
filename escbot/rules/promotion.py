"""Promotion (seed 000): a level with `promote_to` (Sev2) is proposed for the next level (Sev1)
to leadership when it is past its due date by the policy's limit, or a blocker stays open."""

from __future__ import annotations

import hashlib

from escbot import description as desc
from escbot.markers import Marker, marker
from escbot.model import Classification, Context, Escalation
from escbot.plan import Action, Finding
from escbot.rules.common import act, comment, local_end_of, local_start_of, role_users


def _reasons(esc: Escalation, ctx: Context) -> tuple[list[Finding], list[tuple[Marker, str]]]:
    policy = ctx.policy
    reasons: list[tuple[Marker, str]] = []
    findings: list[Finding] = []
    if esc.due_date:
        limit = policy.calendar.add(local_end_of(esc.due_date, ctx), policy.promotion.sev2_overdue)
        late = ctx.now >= limit
        overdue = marker("promote", reason="overdue", due=esc.due_date.isoformat())
        findings.append(
            Finding(
                esc.ref,
                "promotion_overdue",
                "Sev2 past due",
                late and not esc.has_posted(overdue),  # once leadership has it, theirs to decide
                due=limit,
                detail=f"due {esc.due_date.isoformat()}, limit {policy.promotion.sev2_overdue}",
            )
        )
        if late:
            days = (policy.calendar.local(ctx.now).date() - esc.due_date).days
            reasons.append(
                (
                    overdue,
                    f"{days} days past its due date {esc.due_date.isoformat()} "
                    f"(limit: {policy.promotion.sev2_overdue})",
                )
            )
    for blocker in desc.blockers(esc.description):
        if blocker.resolved or blocker.opened is None:
            continue
        limit = policy.calendar.add(
            local_start_of(blocker.opened, ctx), policy.promotion.blocker_open
        )
        if ctx.now >= limit:
            digest = hashlib.sha1(blocker.text.encode()).hexdigest()[:8]
            reasons.append(
                (
                    marker(
                        "promote", reason="blocker", opened=blocker.opened.isoformat(), id=digest
                    ),
                    f"blocker open since {blocker.opened.isoformat()} (limit: "
                    f"{policy.promotion.blocker_open}): {blocker.text}",
                )
            )
    return findings, reasons


def promotion(
    esc: Escalation, cls: Classification, ctx: Context
) -> tuple[list[Finding], list[Action]]:
    policy = ctx.policy
    spec = policy.process.level(cls.level)
    if spec is None or spec.promote_to is None:
        return [], []
    findings, reasons = _reasons(esc, ctx)
    new = [(m, why) for m, why in reasons if not esc.has_posted(m)]
    if not new:
        return findings, []
    users = role_users(policy.promotion.notify, esc, cls, ctx)
    levels = policy.labels["level"]
    target = levels.values[spec.promote_to]
    decision = policy.process.labels.decision
    body = policy.render(
        "reminders/promotion.md",
        esc=esc,
        users=users,
        reasons=[why for _, why in new],
        auto=policy.promotion.auto,
        decision_label=decision,
        markers=[m for m, _ in new],
        current=levels.values[spec.key].title,
        target=target.title,
        target_label=target.name,
    )
    who = " ".join("@" + u for u in users)
    summary = f"propose promotion to {target.title} to {who} ({new[0][1]})"
    actions = [comment(esc, summary, "promotion", body, tuple(m for m, _ in new))]
    if policy.promotion.auto:
        add = (target.name,)
        remove = tuple(lab for lab in esc.labels if levels.is_scoped_sibling(lab))
        summary = f"promote {esc.ref} to {target.title} (policy: auto)"
    else:
        add, remove, summary = (decision,), (), f"label {esc.ref} {decision}"
    if not set(add) <= set(esc.labels) or set(remove) & set(esc.labels):
        actions.append(
            act("labels", esc, summary, "promotion", add_labels=add, remove_labels=remove)
        )
    return findings, actions
