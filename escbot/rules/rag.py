"""RAG status follows the requirements: on_missed while any is missed, and back when all are
met. escbot only undoes its own changes (its rag markers say which); the status an escalation
was opened with, or one a person set, is theirs."""

from __future__ import annotations

from datetime import datetime

from escbot.markers import marker
from escbot.model import Classification, Context, Escalation
from escbot.plan import Action, Evaluation, Finding
from escbot.policies import LabelGroup
from escbot.rules.common import comment, set_scoped, stamp


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
            if not esc.history_known:
                ev.needs.add("notes")  # escbot's marker may be older than the bulk read
            return []
        last = said[-1][1]
        if last.get("to") != policy.rag.on_missed:
            return []
        back = last.get("frm")
        target = back if back in group.values and back != current else policy.rag.on_met
        wanted = marker("rag", to=target, frm=current, since=last.get("since") or "x")
        if esc.has_posted(wanted):
            return []
        reason = []
    body = policy.render(
        "reminders/rag.md", esc=esc, target=target, previous=current, missed=reason, marker=wanted
    )
    # The comment first: its marker records escbot's intent, so a failed label write is redone.
    return [
        comment(esc, _change(current, target), "rag", body, (wanted,)),
        _rag_label(esc, group, current, target),
    ]


def _change(current: str | None, target: str) -> str:
    return f"status {current} -> {target}" if current else f"status set to {target}"


def _rag_label(
    esc: Escalation, group: LabelGroup, current: str | None, target: str, prefix: str = ""
) -> Action:
    summary = f"{prefix}set {group.label(target)} on {esc.ref}" + (
        f" (was {current})" if current else ""
    )
    return set_scoped(esc, group, target, "rag", summary)
