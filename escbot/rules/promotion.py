"""Promotion (seed 000): a level with `promote_to` (Sev2) is proposed for the next level (Sev1)
to leadership when the situation deteriorates: a promised date slips past the limit, a blocker
stays open, or the status update is missed periods running."""

from __future__ import annotations

import hashlib
from datetime import date, datetime

from escbot import description as desc
from escbot.markers import Marker, marker
from escbot.model import Classification, Context, Escalation
from escbot.plan import Action, Finding
from escbot.render import lower_first
from escbot.requirements import kind_of
from escbot.rules.common import (
    act,
    comment,
    local_end_of,
    local_start_of,
    role_users,
    stamp,
)
from escbot.timeline import status_requirement


def _targets(esc: Escalation) -> list[tuple[str, date, str]]:
    """The dates an escalation promised: its path-to-green target, its tracked milestone."""
    out = []
    target = desc.date_field(esc.description, desc.TARGET_DATE)
    if target:
        out.append(("target", target, "its path-to-green target date"))
    if esc.milestone_due:
        out.append(("milestone", esc.milestone_due, f'milestone "{esc.milestone_title}"'))
    return out


def _reasons(
    esc: Escalation, cls: Classification, start: datetime, ctx: Context
) -> tuple[list[Finding], list[tuple[Marker, str]]]:
    """Seed 000: a Sev2 deteriorates when a date it promised slips past the limit, a blocker
    stays open past its limit, or its status update is missed periods running. escbot's own
    Phase 1 deadline (GitLab's due date at opening) is never one of them."""
    policy = ctx.policy
    limit_text = policy.promotion.sev2_overdue
    reasons: list[tuple[Marker, str]] = []
    findings: list[Finding] = []
    for kind, day, what in _targets(esc):
        limit = policy.calendar.add(local_end_of(day, ctx), limit_text)
        late = ctx.now >= limit
        said = marker("promote", reason=kind, due=day.isoformat())
        findings.append(
            Finding(
                esc.ref,
                f"promotion_{kind}",
                f"Past {what}",
                late and not esc.has_posted(said),  # once leadership has it, theirs to decide
                due=limit,
                detail=f"{what} {day.isoformat()}, limit {limit_text}",
            )
        )
        if late:
            days = (policy.calendar.local(ctx.now).date() - day).days
            reasons.append(
                (said, f"{days} days past {what} {day.isoformat()} (limit: {limit_text})")
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
    stale = _stale_updates(esc, cls, start, ctx)
    if stale:
        reasons.append(stale)
    return findings, reasons


def _stale_updates(
    esc: Escalation, cls: Classification, start: datetime, ctx: Context
) -> tuple[Marker, str] | None:
    """The level's status update missed `missed_updates` periods running."""
    policy = ctx.policy
    req = status_requirement(policy, cls.level)
    if req is None:
        return None
    finding, _needs = kind_of(req).finding(esc, req, start, ctx)
    assert finding.due is not None
    runs = policy.promotion.missed_updates
    late = finding.due
    for _ in range(runs - 1):
        late = policy.calendar.add(late, req.every)
    if ctx.now < late:
        return None
    return (
        marker("promote", reason="stale", due=stamp(finding.due)),
        f"{lower_first(req.title)} missed {runs} periods running (due since "
        f"{policy.calendar.describe(finding.due)}, every {req.every})",
    )


def promotion(
    esc: Escalation, cls: Classification, start: datetime, ctx: Context
) -> tuple[list[Finding], list[Action]]:
    policy = ctx.policy
    spec = policy.process.level(cls.level)
    if spec is None or spec.promote_to is None:
        return [], []
    findings, reasons = _reasons(esc, cls, start, ctx)
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
    actions = [comment(esc, summary, "promotion", body, tuple(m for m, _ in new), users)]
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
