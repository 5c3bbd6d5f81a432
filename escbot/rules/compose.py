"""The noise budget: at most one escbot comment per escalation per run, each person mentioned
once at its top, and nobody mentioned outside working hours.

Rules plan comment *sections* (reminders, ladder mentions, RAG, promotion, close-out...), each
with its markers and the people it addresses. `compose` merges the sections for one issue into
one comment that carries all their markers, so the executor's marker check still sees each
section as done once the comment exists. Outside working hours the policy chooses: `wait` holds
every section that would mention someone until the next run in working hours (its markers are
not posted, so it comes back by itself), `silent` posts at once and names people without
notifying them.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from escbot.model import Context
from escbot.plan import Action, ActionKind
from escbot.policies import Policy

MERGED_KINDS: tuple[ActionKind, ...] = ("comment",)
# Closing goes before the comment: close-out's comment records that escbot closed the
# escalation, so a run cut short between the two must not leave it open for good. (A reopen
# stays after the gate's comment: the gate decides it by the state, and says why first.)
STATE_KINDS: tuple[ActionKind, ...] = ("close",)


def working_time(policy: Policy, now: datetime) -> bool:
    """Whether people may be mentioned now: a working day (unless the policy pings on closed
    days too) within the policy's working hours."""
    cal, spec = policy.calendar, policy.calendar_spec
    local = cal.local(now)
    if not cal.is_working_day(local.date()):
        return not spec.quiet_on_closed_days
    return spec.start <= local.time() < spec.end


def compose(actions: list[Action], ctx: Context) -> tuple[list[Action], list[str]]:
    """One comment per (issue, audience) from the planned sections; returns the actions and plain
    remarks for the plan (what waits for working hours)."""
    policy = ctx.policy
    quiet = not working_time(policy, ctx.now)
    wait = quiet and policy.notifications.outside_working_hours == "wait"
    remarks: list[str] = []
    held = [a for a in actions if wait and a.kind in MERGED_KINDS and a.mentions]
    if held:
        remarks.append(
            f"{held[0].ref}: outside working hours ({policy.calendar.describe(ctx.now)}): "
            f"{len(held)} comment section(s) that mention someone wait for working hours"
        )
    # One comment per issue and audience: an internal note never carries a public section.
    sections: dict[tuple[int, int, bool], list[Action]] = {}
    for action in actions:
        if action in held or action.kind not in MERGED_KINDS:
            continue
        sections.setdefault((action.project_id, action.iid, action.internal), []).append(action)
    states = [a for a in actions if a.kind in STATE_KINDS and a not in held]
    out: list[Action] = []
    for action in actions:
        if action in held or action in states:
            continue
        if action.kind not in MERGED_KINDS:
            out.append(action)
            continue
        group = sections[(action.project_id, action.iid, action.internal)]
        if action is group[0]:
            out += [s for s in states if (s.project_id, s.iid) == (action.project_id, action.iid)]
            out.append(_merge(group, policy, silent=quiet and not wait))
    out += [s for s in states if s not in out]
    return out, remarks


def _merge(group: list[Action], policy: Policy, *, silent: bool) -> Action:
    first = group[0]
    mentions = list(dict.fromkeys(u for a in group for u in a.mentions))
    if len(group) == 1 and not mentions:
        return first
    body = policy.render(
        "reminders/comment.md",
        mentions=mentions,
        silent=silent,
        sections=[a.body.strip("\n") for a in group],
    )
    markers = tuple(dict.fromkeys(m for a in group for m in a.markers))
    summary = first.summary + "".join("; " + a.summary.split(": ", 1)[-1] for a in group[1:])
    rule = "+".join(dict.fromkeys(a.rule for a in group))
    return replace(first, summary=summary, rule=rule, body=body, markers=markers)
