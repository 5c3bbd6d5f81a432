"""The rule engine: (escalation snapshot, policy, now) -> findings and a plan of actions.

Pure: no I/O, no clock. Each rule is a small function. When a verdict depends on history the
snapshot lacks (notes older than the bulk-read window, label events), the rule says so in
`Evaluation.needs` and the caller fetches it and evaluates again.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from escbot import description as desc
from escbot.markers import Marker, marker
from escbot.model import Classification, Escalation, Note, classify
from escbot.plan import Action, Evaluation, Finding
from escbot.policies import LabelGroup, Policy, Requirement, Rung
from escbot.render import md, render


@dataclass(frozen=True)
class Context:
    policy: Policy
    now: datetime
    bot: str  # the bot's GitLab username: its notes never satisfy a requirement


def stamp(moment: datetime) -> str:
    """A marker-friendly UTC minute: 2026-11-24T14:00Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")


def is_human(note: Note, ctx: Context) -> bool:
    return not note.system and note.author != ctx.bot


def posted_markers(esc: Escalation) -> list[Marker]:
    return [m for n in esc.notes if not n.system for m in n.markers]


def _has(esc: Escalation, wanted: Marker) -> bool:
    return any(m == wanted for m in posted_markers(esc))


# --------------------------------------------------------------------------------------------
# When the clock for an escalation's requirements starts.


def anchor(esc: Escalation, cls: Classification, ev: Evaluation) -> datetime:
    """Opened, or when the current level label was added (a Sev2 promoted to Sev1).

    The description marker says which level an escalation was opened at; only when it differs
    from the current label is the label history needed.
    """
    opened_as = next(
        (m.get("level") for m in esc.description_markers if m.kind == "escalation"), None
    )
    level_label = None
    if cls.level:
        level_label = next(
            lab for lab in esc.labels if cls.level and lab.endswith("::" + cls.level)
        )
    if esc.label_events is None:
        # Opened at this level (or with no marker to say otherwise): the clock starts at opening.
        if opened_as is None or opened_as == cls.level:
            return esc.created_at
        ev.needs.add("label_events")
        return esc.created_at
    added = [e.created_at for e in esc.label_events if e.action == "add" and e.label == level_label]
    return max([esc.created_at, *added[-1:]])


# --------------------------------------------------------------------------------------------
# Phase 1 (seed 000): within 24 hours, checklist done, DRI named, severity and type labelled.


def initiation(esc: Escalation, cls: Classification, ctx: Context) -> Finding:
    policy = ctx.policy
    deadline = policy.calendar.add(esc.created_at, policy.initiation.within)
    gaps: list[str] = []
    for need in policy.initiation.require:
        if need == "checklist":
            items = desc.checklist(esc.description, desc.PHASE1)
            if items is None:
                if cls.level == "sev1":
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


# --------------------------------------------------------------------------------------------
# Tracking requirements (seed 000): each met by a human note with its tag or heading.


def requirement(
    esc: Escalation, req: Requirement, start: datetime, ctx: Context, ev: Evaluation
) -> Finding:
    if req.met_by == "raid_edit":
        last = _raid_edit(esc)
        if esc.raid is None:
            detail = "no RAID register issue is linked to this escalation"
        else:
            detail = f"edit the RAID register {esc.raid.reference}"
    else:
        matches = [n.created_at for n in esc.notes if is_human(n, ctx) and req.matches(n.body)]
        last = max(matches) if matches else None
        detail = f'a comment with {req.tag} or a heading "{req.title}"'
        if last is None and esc.notes_since is not None and start < esc.notes_since:
            ev.needs.add("notes")  # the last update may be older than the bulk-read window
    base = max(last, start) if last else start
    due = ctx.policy.calendar.add(base, req.every)
    return Finding(
        ref=esc.ref,
        rule=req.key,
        title=req.title,
        missed=ctx.now >= due,
        due=due,
        met_at=last,
        detail=detail,
    )


def _raid_edit(esc: Escalation) -> datetime | None:
    raid = esc.raid
    if raid is None:
        return None
    # Creation and linking touch updated_at within seconds; later changes are people's edits.
    if (raid.updated_at - raid.created_at).total_seconds() <= 120:
        return None
    return raid.updated_at


# --------------------------------------------------------------------------------------------
# The ladder (seed 004): DRI first, then the next rung once the limit passes.


def role_users(
    roles: tuple[str, ...], esc: Escalation, cls: Classification, ctx: Context
) -> list[str]:
    """Usernames for ladder roles; "dri" is the assignees (or the routed PM when unassigned)."""
    account = cls["account_type"]
    users: list[str] = []
    for role in roles:
        if role == "dri":
            users += list(esc.assignees) or list(ctx.policy.role_users("pm", account))
        else:
            users += list(ctx.policy.role_users(role, account))
    return [u for u in dict.fromkeys(users) if u != ctx.bot]


def reached_rung(rungs: tuple[Rung, ...], since: datetime, ctx: Context) -> int:
    reached = -1
    for i, rung in enumerate(rungs):
        if ctx.now >= ctx.policy.calendar.add(since, rung.after):
            reached = i
    return reached


def how_to_meet(f: Finding, esc: Escalation, level: str | None, policy: Policy) -> str:
    """Markdown saying what satisfies a finding; user text in it is made inert."""
    req = policy.requirements.get(level or "", {}).get(f.rule)
    if req is not None and req.met_by == "raid_edit" and esc.raid is not None:
        # In a code span: a real reference would make GitLab add a "mentioned in" note to the
        # register, and that touch would look like the edit it asks for.
        return f"an edit of the RAID register `{esc.raid.reference}`"
    if req is None or req.met_by != "note":
        return md(f.detail)
    return f"a comment with `{req.tag}`, or a heading `## {req.title}`"


def reminders(
    esc: Escalation, cls: Classification, missed: list[Finding], ctx: Context
) -> list[Action]:
    policy = ctx.policy
    rungs = policy.rungs_for(cls.level, cls.type)
    if not rungs:
        return []
    posted: dict[tuple[str, str], int] = defaultdict(lambda: -1)
    for m in posted_markers(esc):
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
                "how": how_to_meet(f, esc, cls.level, policy),
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
        body = render(
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
        actions.append(
            Action(
                kind="comment",
                project_id=esc.project_id,
                iid=esc.iid,
                ref=esc.ref,
                summary=f"comment on {esc.ref}: {verb} {who}: {titles} missed "
                f"(since {items[0]['since']})",
                rule="remind",
                body=body,
                markers=tuple(i["marker"] for i in items),
            )
        )
    return actions


# --------------------------------------------------------------------------------------------
# RAG status follows the requirements.


def _person_changed_rag(
    esc: Escalation, group: LabelGroup, after: datetime, ctx: Context, ev: Evaluation
) -> bool:
    """Whether a person changed the RAG label since `after` (label history is fetched once)."""
    if esc.label_events is None:
        ev.needs.add("label_events")
        return True  # decide once the history is here
    return any(
        e.user != ctx.bot and group.is_scoped_sibling(e.label) and e.created_at >= after
        for e in esc.label_events
    )


def rag(
    esc: Escalation, cls: Classification, missed: list[Finding], ctx: Context, ev: Evaluation
) -> list[Action]:
    """Status follows the requirements: on_missed while any is missed, and back when all are
    met. escbot only undoes its own changes (its rag markers say which); the status an
    escalation was opened with, or one a person set, is theirs."""
    policy = ctx.policy
    if not policy.rag.auto or "rag" in cls.conflicts:
        return []
    group = policy.labels["rag"]
    current = cls["rag"]
    said = [(n, m) for n in esc.notes if not n.system for m in n.markers if m.kind == "rag"]
    if missed:
        if current == policy.rag.on_missed:
            return []
        since = stamp(min(f.due for f in missed if f.due))
        wanted = marker("rag", to=policy.rag.on_missed, frm=current or "none", since=since)
        earlier = [
            n for n, m in said if m.get("since") == since and m.get("to") == wanted.get("to")
        ]
        if earlier:
            # escbot announced this lapse, yet the label differs: a person changed it since
            # (respected), or the label write after the comment failed (done again, silently).
            if _person_changed_rag(esc, group, earlier[0].created_at, ctx, ev):
                return []
            return [_rag_label(esc, group, current, policy.rag.on_missed, "redo: ")]
        target, reason = policy.rag.on_missed, [f.title for f in missed]
    else:
        if current != policy.rag.on_missed:
            return []
        if not said:
            if esc.notes_since is not None:
                ev.needs.add("notes")  # escbot's marker may be older than the bulk read
            return []
        last = said[-1][1]
        if last.get("to") != policy.rag.on_missed:
            return []
        back = last.get("frm")
        target = back if back in group.values and back != current else policy.rag.on_met
        wanted = marker("rag", to=target, frm=current, since=last.get("since") or "x")
        if _has(esc, wanted):
            return []
        reason = []
    body = render(
        "reminders/rag.md", esc=esc, target=target, previous=current, missed=reason, marker=wanted
    )
    # The comment first: its marker records escbot's intent, so a failed label write is redone.
    return [
        Action(
            kind="comment",
            project_id=esc.project_id,
            iid=esc.iid,
            ref=esc.ref,
            summary=f"comment on {esc.ref}: status {current or 'unset'} -> {target}",
            rule="rag",
            body=body,
            markers=(wanted,),
        ),
        _rag_label(esc, group, current, target),
    ]


def _rag_label(
    esc: Escalation, group: LabelGroup, current: str | None, target: str, prefix: str = ""
) -> Action:
    remove = tuple(
        lab for lab in esc.labels if group.is_scoped_sibling(lab) and lab != group.label(target)
    )
    return Action(
        kind="labels",
        project_id=esc.project_id,
        iid=esc.iid,
        ref=esc.ref,
        summary=f"{prefix}set {group.label(target)} on {esc.ref}"
        + (f" (was {current})" if current else ""),
        rule="rag",
        add_labels=(group.label(target),),
        remove_labels=remove,
    )


# --------------------------------------------------------------------------------------------
# Sev2 -> Sev1 (seed 000): >2 weeks past due, or a blocker open >5 business days.


def _local_end_of(day: date, ctx: Context) -> datetime:
    tz = ctx.policy.tz
    return datetime.combine(day, time(23, 59), tzinfo=tz).astimezone(UTC)


def _local_start_of(day: date, ctx: Context) -> datetime:
    return datetime.combine(day, time(0), tzinfo=ctx.policy.tz).astimezone(UTC)


def promotion(
    esc: Escalation, cls: Classification, ctx: Context
) -> tuple[list[Finding], list[Action]]:
    policy = ctx.policy
    if cls.level != "sev2":
        return [], []
    reasons: list[tuple[Marker, str]] = []
    findings: list[Finding] = []
    if esc.due_date:
        limit = policy.calendar.add(_local_end_of(esc.due_date, ctx), policy.promotion.sev2_overdue)
        late = ctx.now >= limit
        proposed = _has(esc, marker("promote", reason="overdue", due=esc.due_date.isoformat()))
        findings.append(
            Finding(
                esc.ref,
                "promotion_overdue",
                "Sev2 past due",
                late and not proposed,  # once leadership has it, the decision is theirs
                due=limit,
                detail=f"due {esc.due_date.isoformat()}, limit {policy.promotion.sev2_overdue}",
            )
        )
        if late:
            days = (ctx.policy.calendar.local(ctx.now).date() - esc.due_date).days
            reasons.append(
                (
                    marker("promote", reason="overdue", due=esc.due_date.isoformat()),
                    f"{days} days past its due date {esc.due_date.isoformat()} "
                    f"(limit: {policy.promotion.sev2_overdue})",
                )
            )
    for blocker in desc.blockers(esc.description):
        if blocker.resolved or blocker.opened is None:
            continue
        limit = policy.calendar.add(
            _local_start_of(blocker.opened, ctx), policy.promotion.blocker_open
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
    new = [(m, why) for m, why in reasons if not _has(esc, m)]
    if not new:
        return findings, []
    users = role_users(policy.promotion.notify, esc, cls, ctx)
    levels = policy.labels["level"]
    body = render(
        "reminders/promotion.md",
        esc=esc,
        users=users,
        reasons=[why for _, why in new],
        auto=policy.promotion.auto,
        decision_label="needs-decision",
        markers=[m for m, _ in new],
    )
    actions = [
        Action(
            kind="comment",
            project_id=esc.project_id,
            iid=esc.iid,
            ref=esc.ref,
            summary=f"comment on {esc.ref}: propose promotion to Sev1 to "
            + " ".join("@" + u for u in users)
            + f" ({new[0][1]})",
            rule="promotion",
            body=body,
            markers=tuple(m for m, _ in new),
        )
    ]
    if policy.promotion.auto:
        add = (levels.label("sev1"),)
        remove = tuple(lab for lab in esc.labels if levels.is_scoped_sibling(lab))
        summary = f"promote {esc.ref} to Sev1 (policy: auto)"
    else:
        add, remove, summary = ("needs-decision",), (), f"label {esc.ref} needs-decision"
    if not set(add) <= set(esc.labels) or set(remove) & set(esc.labels):
        actions.append(
            Action(
                "labels",
                esc.project_id,
                esc.iid,
                esc.ref,
                summary,
                "promotion",
                add_labels=add,
                remove_labels=remove,
            )
        )
    return findings, actions


# --------------------------------------------------------------------------------------------


def tracking_applies(esc: Escalation, cls: Classification) -> bool:
    return esc.state == "opened" and cls["phase"] != "closure" and cls.level is not None


def evaluate(esc: Escalation, ctx: Context) -> Evaluation:
    ev = Evaluation(esc.ref)
    policy = ctx.policy
    cls = classify(esc.labels, policy)
    if not tracking_applies(esc, cls):
        return ev
    start = anchor(esc, cls, ev)
    ev.findings.append(initiation(esc, cls, ctx))
    for req in policy.requirements.get(cls.level or "", {}).values():
        ev.findings.append(requirement(esc, req, start, ctx, ev))
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
