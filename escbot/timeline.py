"""The timeline of an escalation, computed from the tracker itself (for the retrospective)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from escbot.model import Classification, Context, Escalation
from escbot.policies import Policy, Requirement
from escbot.render import lower_first


def requirement_titles(policy: Policy) -> dict[str, str]:
    """Every rule key a reminder can name, by its title."""
    titles = {r.key: r.title for reqs in policy.requirements.values() for r in reqs.values()}
    return {"initiation": "Phase 1 initiation", **titles}


def status_requirement(policy: Policy, level: str | None) -> Requirement | None:
    """The requirement that is the level's status update (process.levels.*.status_requirement)."""
    spec = policy.process.level(level)
    if spec is None or spec.status_requirement is None:
        return None
    return policy.requirements.get(spec.key, {}).get(spec.status_requirement)


@dataclass(frozen=True)
class Span:
    """Working time between two moments: business days are business hours divided by the
    working hours of a day, so the two figures always agree."""

    ref: str
    business_days: float
    business_hours: float
    text: str  # "1.4 business days (11.0 business hours; 1 d 3 h elapsed)"


def span(policy: Policy, start: datetime, end: datetime, ref: str = "") -> Span:
    hours = policy.calendar.between(start, end, hours_only=True).total_seconds() / 3600
    days = hours / policy.calendar.hours_per_day
    text = (
        f"{days:.1f} business day{'' if round(days, 1) == 1 else 's'} "
        f"({hours:.1f} business hours; {_plain(end - start)} elapsed)"
    )
    return Span(ref, round(days, 2), round(hours, 2), text)


def business_span(policy: Policy, start: datetime, end: datetime) -> str:
    return span(policy, start, end).text


@dataclass(frozen=True)
class Activity:
    """What escbot told about an escalation, counted one way for the retrospective, the report
    and the check: a reminder is a lapse told to its first rung, a ladder mention a lapse told
    to a higher rung; a lapse is one requirement falling due unmet (its marker's due)."""

    reminders: int
    ladder_mentions: int
    lapses: tuple[tuple[str, str], ...]  # (requirement, due), in the order they were told

    @property
    def missed_by_rule(self) -> Counter[str]:
        return Counter(rule for rule, _ in self.lapses)


def bot_activity(
    esc: Escalation, bot: str, since: datetime | None = None, until: datetime | None = None
) -> Activity:
    """escbot's reminder markers on an escalation's comments, in (since, until]."""
    reminders = ladder = 0
    lapses: dict[tuple[str, str], None] = {}
    for n in esc.notes:
        if n.system or n.author != bot:
            continue
        if (since and n.created_at <= since) or (until and n.created_at > until):
            continue
        for m in n.markers:
            if m.kind == "remind":
                lapses[(m.get("rule") or "", m.get("due") or "")] = None
                if int(m.get("rung") or 0) == 0:
                    reminders += 1
                else:
                    ladder += 1
    return Activity(reminders, ladder, tuple(lapses))


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
            (first_update.created_at, f"First {lower_first(req.title)} by {first_update.author}")
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
    titles = requirement_titles(policy)
    for n in esc.notes:
        told = [m for m in n.markers if m.kind == "remind"] if n.author == ctx.bot else []
        for rung in sorted({int(m.get("rung") or 0) for m in told}):
            what = "reminder" if rung == 0 else f"ladder step {rung + 1}"
            names = [titles.get(m.get("rule") or "", m.get("rule") or "") for m in told]
            rows.append((n.created_at, f"escbot {what}: {', '.join(dict.fromkeys(names))}"))
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
    activity = bot_activity(esc, ctx.bot)
    missed = [
        titles.get(rule, rule) + (f" ({n} times)" if n > 1 else "")
        for rule, n in activity.missed_by_rule.items()  # in the order they were told
    ]
    return {
        "rows": [{"when": cal.describe(w), "what": what} for w, what in rows],
        "opened": cal.describe(esc.created_at),
        "resolved": cal.describe(end),
        "time_to_resolution": business_span(policy, esc.created_at, end),
        "time_to_acknowledge": business_span(policy, esc.created_at, human[0].created_at)
        if human
        else "no acknowledgement recorded",
        "reminders": activity.reminders,
        "ladder_mentions": activity.ladder_mentions,
        "requirements_missed": len(activity.lapses),
        "missed_rules": missed,
    }
