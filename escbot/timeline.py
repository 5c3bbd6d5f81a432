"""The timeline of an escalation, computed from the tracker itself (for the retrospective)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from escbot.model import Classification, Context, Escalation
from escbot.policies import Policy, Requirement


def status_requirement(policy: Policy, level: str | None) -> Requirement | None:
    """The requirement that is the level's status update (process.levels.*.status_requirement)."""
    spec = policy.process.level(level)
    if spec is None or spec.status_requirement is None:
        return None
    return policy.requirements.get(spec.key, {}).get(spec.status_requirement)


def business_span(policy: Policy, start: datetime, end: datetime) -> str:
    cal = policy.calendar
    days = cal.between(start, end)
    hours = cal.between(start, end, hours_only=True)
    whole, rest = divmod(days, timedelta(days=1))
    return (
        f"{whole} business day{'s' if whole != 1 else ''} {rest.seconds // 3600} h "
        f"({hours.total_seconds() / 3600:.1f} business hours; {_plain(end - start)} elapsed)"
    )


def _plain(delta: timedelta) -> str:
    return f"{delta.days} d {delta.seconds // 3600} h"


def timeline(esc: Escalation, cls: Classification, ctx: Context) -> dict[str, Any]:
    policy = ctx.policy
    cal = policy.calendar
    rows: list[tuple[datetime, str]] = [(esc.created_at, f"Escalation opened by {esc.author}")]
    human = [n for n in esc.notes if ctx.counts(n)]  # the team's, never a customer's
    if human:
        rows.append((human[0].created_at, f"First acknowledgement by {human[0].author}"))
    req = status_requirement(policy, cls.level)
    first_update = next((n for n in human if req and req.matches(n.body)), None)
    if req and first_update:
        rows.append(
            (first_update.created_at, f"First {req.title.lower()} by {first_update.author}")
        )
    phases = policy.labels["phase"]
    levels = policy.labels["level"]
    resolution_phases = policy.process.resolution_phases
    resolved_at = None
    for e in esc.label_events or ():
        if e.action != "add":
            continue
        if phases.value_of(e.label):
            rows.append((e.created_at, f"Phase changed to {phases.value_of(e.label)} by {e.user}"))
            if phases.value_of(e.label) in resolution_phases and resolved_at is None:
                resolved_at = e.created_at
        elif levels.value_of(e.label) and e.created_at > esc.created_at + timedelta(minutes=1):
            rows.append((e.created_at, f"Level changed to {levels.value_of(e.label)} by {e.user}"))
    reminders = ladder = 0
    missed: set[tuple[str, str]] = set()
    for n in esc.notes:
        # One comment is one reminder (or ladder mention), however many requirements it names.
        reminded = [m for m in n.markers if m.kind == "remind"]
        if reminded:
            rung = max(int(m.get("rung") or 0) for m in reminded)
            missed |= {(m.get("rule") or "", m.get("due") or "") for m in reminded}
            reminders, ladder = (reminders + 1, ladder) if rung == 0 else (reminders, ladder + 1)
            what = "reminder" if rung == 0 else f"ladder mention (rung {rung + 1})"
            rules = ", ".join(sorted({m.get("rule") or "" for m in reminded}))
            rows.append((n.created_at, f"escbot {what}: {rules}"))
        for m in n.markers:
            if m.kind == "promote":
                rows.append((n.created_at, f"escbot proposed promotion ({m.get('reason')})"))
            elif m.kind == "gate":
                rows.append(
                    (n.created_at, "escbot sign-off gate: closed without customer sign-off")
                )
    if esc.closed_at:
        rows.append((esc.closed_at, "Escalation closed"))
    end = resolved_at or esc.closed_at or ctx.now
    rows.sort(key=lambda r: r[0])
    return {
        "rows": [{"when": cal.describe(w), "what": what} for w, what in rows],
        "opened": cal.describe(esc.created_at),
        "resolved": cal.describe(end),
        "time_to_resolution": business_span(policy, esc.created_at, end),
        "time_to_acknowledge": business_span(policy, esc.created_at, human[0].created_at)
        if human
        else "no acknowledgement recorded",
        "reminders": reminders,
        "ladder_mentions": ladder,
        "requirements_missed": len(missed),
        "missed_rules": sorted({r for r, _ in missed}),
    }
