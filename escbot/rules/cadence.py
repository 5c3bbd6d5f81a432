"""Phase 1 and the tracking requirements (seed 000), and the reminders that climb the ladder
(seed 004): DRI first, then the next rung once each limit passes."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import datetime
from typing import Any

from escbot import description as desc
from escbot.durations import Duration
from escbot.markers import marker
from escbot.model import Classification, Context, Escalation
from escbot.plan import Action, Evaluation, Finding
from escbot.policies import Rung
from escbot.render import lower_first, md
from escbot.requirements import kind_of
from escbot.rules.common import comment, role_users, stamp
from escbot.talkback import Talk, listen


def anchor(esc: Escalation, cls: Classification, ev: Evaluation) -> datetime:
    """Opened, or when the current level label was added (a Sev2 promoted to Sev1).

    The description marker says which level an escalation was opened at; only when it differs
    from the current label is the label history needed.
    """
    level_label = next(
        (lab for lab in esc.labels if cls.level and lab.endswith("::" + cls.level)), None
    )
    if esc.label_events is None:
        # Opened at this level (or with no marker to say otherwise): the clock starts at opening.
        if esc.opened_as not in (None, cls.level):
            ev.needs.add("label_events")
        return esc.created_at
    added = [e.created_at for e in esc.label_events if e.action == "add" and e.label == level_label]
    return max([esc.created_at, *added[-1:]])


def initiation(esc: Escalation, cls: Classification, start: datetime, ctx: Context) -> Finding:
    """Phase 1: within the policy's limit of `start` (opening, or a promotion), checklist done
    (the latest Phase 1 section: a promotion appends its own), DRI named, labels set."""
    policy = ctx.policy
    deadline = policy.calendar.add(start, policy.initiation.within)
    if policy.talkback.pause_phase1:
        deadline = paused(start, deadline, policy.initiation.within, ctx, listen(esc, ctx))
    spec = policy.process.level(cls.level)
    gaps: list[str] = []
    for need in policy.initiation.require:
        if need == "checklist":
            items = desc.checklist(esc.description, desc.PHASE1, last=True)
            if items is None:
                if spec and spec.phase1_section:
                    gaps.append(f'the "{desc.PHASE1}" section is missing from the description')
            else:
                open_items = [t.text for t in items if not t.checked and not t.inapplicable]
                gaps += [f"Phase 1: {text}" for text in open_items]
        elif need == "dri" and not esc.assignees:
            gaps.append("no DRI assigned")
        elif need in ("severity", "type", "category") and not cls[need]:
            gaps.append(
                f"no {need} label" + (" (conflicting labels)" if need in cls.conflicts else "")
            )
    return Finding(
        ref=esc.ref,
        rule="initiation",
        title="Phase 1 initiation",
        missed=bool(gaps) and ctx.now >= deadline,
        due=deadline,
        detail="; ".join(gaps),
    )


def requirements(
    esc: Escalation, cls: Classification, start: datetime, ctx: Context, ev: Evaluation
) -> list[Finding]:
    """Each requirement of the level, judged by its kind; a pausable one's deadline moved by
    the time the clock was paused (`/escbot pause`)."""
    out = []
    talk = listen(esc, ctx)
    for req in ctx.policy.requirements.get(cls.level or "", {}).values():
        finding, needs = kind_of(req).finding(esc, req, start, ctx)
        ev.needs |= needs
        if req.key in ctx.policy.talkback.pausable and finding.due is not None and talk.pauses:
            base = max(finding.met_at, start) if finding.met_at else start
            due = paused(base, finding.due, req.every, ctx, talk)
            finding = replace(finding, due=due, missed=finding.missed and ctx.now >= due)
        out.append(finding)
    return out


def paused(base: datetime, due: datetime, every: Duration, ctx: Context, talk: Talk) -> datetime:
    """A deadline counted from `base`, moved by the working time the clock was paused, measured
    as the deadline's own unit counts (working hours, or whole working days)."""
    hours_only = every.unit == "business_hours"
    return talk.shift(base, due, ctx.now, ctx.policy.calendar, hours_only)


def step(lower: Duration, upper: Duration) -> Duration:
    """The wait between two rungs: the difference of their limits when they are in one unit."""
    if lower.amount == 0 or lower.unit != upper.unit:
        return upper
    return Duration(max(upper.amount - lower.amount, 0), upper.unit, f"{upper} - {lower}")


def ready_at(
    rungs: tuple[Rung, ...], rung: int, due: datetime, told_at: datetime | None, ctx: Context
) -> datetime:
    """When a rung may be told of a lapse: its limit after the due, and never sooner after the
    rung below was told than the ladder's step between them (one rung at a time)."""
    cal = ctx.policy.calendar
    at = cal.add(due, rungs[rung].after)
    if rung > 0 and told_at is not None:
        at = max(at, cal.add(told_at, step(rungs[rung - 1].after, rungs[rung].after)))
    return at


def told(esc: Escalation) -> dict[tuple[str, str], tuple[int, datetime]]:
    """The highest rung told of each lapse (rule, due), and when."""
    out: dict[tuple[str, str], tuple[int, datetime]] = {}
    for n in esc.notes:
        if n.system:
            continue
        for m in n.markers:
            if m.kind == "remind":
                key = (m.get("rule") or "", m.get("due") or "")
                rung = int(m.get("rung") or 0)
                if key not in out or rung > out[key][0]:
                    out[key] = (rung, n.created_at)
    return out


def how_to_meet(f: Finding, esc: Escalation, level: str | None, ctx: Context) -> str:
    """Markdown saying what satisfies a finding; user text in it is made inert."""
    req = ctx.policy.requirements.get(level or "", {}).get(f.rule)
    if req is None:
        return md(f.detail)
    return kind_of(req).how_to_meet(req, esc)


def reminders(
    esc: Escalation, cls: Classification, missed: list[Finding], ctx: Context
) -> list[Action]:
    """One section per rung told this run: the DRI first, then one rung at a time."""
    policy = ctx.policy
    rungs = policy.rungs_for(cls.level, cls.type)
    if not rungs:
        return []
    said = told(esc)
    talk = listen(esc, ctx)
    by_rung: dict[int, list[dict[str, Any]]] = defaultdict(list)
    dri_told: list[datetime] = []
    for f in missed:
        assert f.due is not None
        # `/escbot ack`: no further rung for this lapse; `/escbot snooze`: no reminder for now.
        if talk.acked(f.rule, f.due) or talk.snoozed(f.rule, ctx.now):
            continue
        rung, told_at = said.get((f.rule, stamp(f.due)), (-1, None))
        nxt = rung + 1
        if nxt >= len(rungs) or ctx.now < ready_at(rungs, nxt, f.due, told_at, ctx):
            continue
        if told_at is not None:
            dri_told.append(told_at)
        after = nxt + 1 < len(rungs)
        by_rung[nxt].append(
            {
                "rule": f.rule,
                "title": f.title,
                "how": how_to_meet(f, esc, cls.level, ctx),
                "since": policy.calendar.describe(f.due),
                "marker": marker("remind", rule=f.rule, due=stamp(f.due), rung=nxt),
                "next_users": role_users(rungs[nxt + 1].notify, esc, cls, ctx) if after else [],
                "next_when": policy.calendar.describe(ready_at(rungs, nxt + 1, f.due, ctx.now, ctx))
                if after
                else None,
            }
        )
    level = policy.labels["level"].values.get(cls.level or "")
    actions = []
    for rung, items in sorted(by_rung.items()):
        users = role_users(rungs[rung].notify, esc, cls, ctx)
        body = policy.render(
            "reminders/reminder.md",
            esc=esc,
            level=level.title if level else "",
            rung=rung,
            rungs=len(rungs),
            users=users,
            dri=[u for u in esc.assignees if u != ctx.bot and u not in users],
            first_told=policy.calendar.describe(min(dri_told)) if dri_told else None,
            items=items,
            markers=[i["marker"] for i in items],
        )
        titles = ", ".join(lower_first(i["title"]) for i in items)
        who = " ".join("@" + u for u in users) or "nobody (no DRI, no routing)"
        verb = "remind" if rung == 0 else f"escalate to rung {rung + 1}"
        summary = f"{verb} {who}: {titles} missed (since {items[0]['since']})"
        actions.append(
            comment(esc, summary, "remind", body, tuple(i["marker"] for i in items), users)
        )
    return actions
