"""Phase 1 and the tracking requirements (seed 000), and the reminders that climb the ladder
(seed 004): DRI first, then the next rung once each limit passes."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from escbot import description as desc
from escbot.markers import marker
from escbot.model import Classification, Context, Escalation
from escbot.plan import Action, Evaluation, Finding
from escbot.policies import Rung
from escbot.render import md
from escbot.requirements import kind_of
from escbot.rules.common import comment, role_users, stamp


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


def initiation(esc: Escalation, cls: Classification, ctx: Context) -> Finding:
    """Phase 1: within the policy's limit, checklist done, DRI named, labels set."""
    policy = ctx.policy
    deadline = policy.calendar.add(esc.created_at, policy.initiation.within)
    spec = policy.process.level(cls.level)
    gaps: list[str] = []
    for need in policy.initiation.require:
        if need == "checklist":
            items = desc.checklist(esc.description, desc.PHASE1)
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
    """Each requirement of the level, judged by its kind."""
    out = []
    for req in ctx.policy.requirements.get(cls.level or "", {}).values():
        finding, needs = kind_of(req).finding(esc, req, start, ctx)
        ev.needs |= needs
        out.append(finding)
    return out


def reached_rung(rungs: tuple[Rung, ...], since: datetime, ctx: Context) -> int:
    reached = -1
    for i, rung in enumerate(rungs):
        if ctx.now >= ctx.policy.calendar.add(since, rung.after):
            reached = i
    return reached


def how_to_meet(f: Finding, esc: Escalation, level: str | None, ctx: Context) -> str:
    """Markdown saying what satisfies a finding; user text in it is made inert."""
    req = ctx.policy.requirements.get(level or "", {}).get(f.rule)
    if req is None:
        return md(f.detail)
    return kind_of(req).how_to_meet(req, esc)


def reminders(
    esc: Escalation, cls: Classification, missed: list[Finding], ctx: Context
) -> list[Action]:
    policy = ctx.policy
    rungs = policy.rungs_for(cls.level, cls.type)
    if not rungs:
        return []
    posted: dict[tuple[str, str], int] = defaultdict(lambda: -1)
    for m in esc.posted_markers:
        if m.kind == "remind":
            key = (m.get("rule") or "", m.get("due") or "")
            posted[key] = max(posted[key], int(m.get("rung") or 0))
    # Keyed by (rung reached, first rung not yet told): after a gap in scheduled runs, everyone
    # skipped over is told at once rather than only the top rung.
    by_rung: dict[tuple[int, int], list[dict[str, Any]]] = defaultdict(list)
    for f in missed:
        assert f.due is not None
        rung = reached_rung(rungs, f.due, ctx)
        told = posted[(f.rule, stamp(f.due))]
        if rung <= told:
            continue
        nxt = rungs[rung + 1] if rung + 1 < len(rungs) else None
        by_rung[(rung, told + 1)].append(
            {
                "rule": f.rule,
                "title": f.title,
                "how": how_to_meet(f, esc, cls.level, ctx),
                "since": policy.calendar.describe(f.due),
                "marker": marker("remind", rule=f.rule, due=stamp(f.due), rung=rung),
                "next_users": role_users(nxt.notify, esc, cls, ctx) if nxt else [],
                "next_when": policy.calendar.describe(policy.calendar.add(f.due, nxt.after))
                if nxt
                else None,
            }
        )
    actions = []
    for (rung, first), items in sorted(by_rung.items()):
        roles = tuple(role for step in rungs[first : rung + 1] for role in step.notify)
        users = role_users(roles, esc, cls, ctx)
        body = policy.render(
            "reminders/reminder.md",
            esc=esc,
            level=cls.level or "",
            rung=rung,
            users=users,
            dri=[u for u in esc.assignees if u != ctx.bot],
            dri_reminded=first > 0,
            items=items,
            markers=[i["marker"] for i in items],
        )
        titles = ", ".join(i["title"].lower() for i in items)
        who = " ".join("@" + u for u in users) or "nobody (no DRI, no routing)"
        verb = "remind" if rung == 0 else f"escalate to rung {rung + 1}"
        summary = f"{verb} {who}: {titles} missed (since {items[0]['since']})"
        actions.append(comment(esc, summary, "remind", body, tuple(i["marker"] for i in items)))
    return actions
