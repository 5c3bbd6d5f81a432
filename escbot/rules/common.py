"""What several rules share: marker time stamps, the people behind a role, action builders."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from escbot.markers import Marker
from escbot.model import Classification, Context, Escalation
from escbot.plan import Action, ActionKind
from escbot.policies import LabelGroup


def stamp(moment: datetime) -> str:
    """A marker-friendly UTC minute: 2026-11-24T14:00Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")


def local_start_of(day: date, ctx: Context) -> datetime:
    return datetime.combine(day, time(0), tzinfo=ctx.policy.tz).astimezone(UTC)


def local_end_of(day: date, ctx: Context) -> datetime:
    return datetime.combine(day, time(23, 59), tzinfo=ctx.policy.tz).astimezone(UTC)


def dri(esc: Escalation, ctx: Context) -> list[str]:
    return [u for u in esc.assignees if u != ctx.bot]


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
    return [u for u in dict.fromkeys(users) if u != ctx.bot and u not in ctx.muted]


def act(
    kind: ActionKind,
    esc: Escalation,
    summary: str,
    rule: str,
    *,
    body: str = "",
    markers: tuple[Marker, ...] = (),
    add_labels: tuple[str, ...] = (),
    remove_labels: tuple[str, ...] = (),
    data: dict[str, Any] | None = None,
) -> Action:
    """An action on the escalation itself."""
    return Action(
        kind,
        esc.project_id,
        esc.iid,
        esc.ref,
        summary,
        rule,
        body,
        markers,
        add_labels=add_labels,
        remove_labels=remove_labels,
        data=data or {},
    )


def comment(
    esc: Escalation,
    summary: str,
    rule: str,
    body: str,
    markers: tuple[Marker, ...],
    mentions: list[str] | tuple[str, ...] = (),
) -> Action:
    """A comment section; escbot.rules.compose makes one comment per escalation per run of them,
    addressed to everyone in `mentions` once."""
    return Action(
        "comment",
        esc.project_id,
        esc.iid,
        esc.ref,
        f"comment on {esc.ref}: {summary}",
        rule,
        body,
        markers,
        mentions=tuple(mentions),
    )


def set_scoped(
    esc: Escalation, group: LabelGroup, value: str, rule: str, summary: str | None = None
) -> Action:
    """Set one value of a scoped label group, removing any sibling (known value or not)."""
    wanted = group.label(value)
    remove = tuple(lab for lab in esc.labels if group.is_scoped_sibling(lab) and lab != wanted)
    return act(
        "labels",
        esc,
        summary or f"set {wanted} on {esc.ref}",
        rule,
        add_labels=(wanted,),
        remove_labels=remove,
    )
