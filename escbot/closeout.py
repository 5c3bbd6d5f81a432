"""Close-out (seed 000 step 8) and the warranty window (seed 004), as rules plus their handlers.

Rules are pure like the engine's; the two writes that are more than a comment or a label
(creating the retrospective, closing the RAID register) are handled here and registered with
the check's applier.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from escbot import description as desc
from escbot.check import EXTRA_HANDLERS, ensure_companion, markers_on
from escbot.engine import Context, is_human, posted_markers, role_users, stamp
from escbot.gitlab_io import GitLab
from escbot.markers import marker
from escbot.model import Classification, Escalation, classify
from escbot.plan import Action, Evaluation, Finding
from escbot.policies import Policy
from escbot.render import render


@dataclass(frozen=True)
class Item:
    key: str
    title: str
    state: str  # "done", "open", "missing"


def closeout_items(esc: Escalation, policy: Policy) -> list[Item]:
    tasks = desc.checklist(esc.description, desc.CLOSE_OUT) or []
    out = []
    for key, title in policy.close_out.items.items():
        task = desc.find_task(tasks, title)
        state = (
            "missing" if task is None else ("done" if task.checked or task.inapplicable else "open")
        )
        out.append(Item(key, title, state))
    return out


def in_closeout(esc: Escalation, cls: Classification) -> bool:
    return esc.state == "closed" or cls["phase"] in ("resolution", "closure")


def _comment(esc: Escalation, summary: str, rule: str, body: str, markers: tuple) -> Action:
    return Action("comment", esc.project_id, esc.iid, esc.ref, summary, rule, body, markers)


def closeout_rule(esc: Escalation, ctx: Context, *, force: bool = False) -> Evaluation:
    ev = Evaluation(esc.ref)
    policy = ctx.policy
    cls = classify(esc.labels, policy)
    if cls.level is None or not (force or in_closeout(esc, cls)):
        return ev
    items = closeout_items(esc, policy)
    posted = posted_markers(esc)
    dri = [u for u in esc.assignees if u != ctx.bot]
    done = all(i.state == "done" for i in items)

    gate_holds = False
    # 1. The sign-off gate first (later actions on an issue wait for earlier ones): one
    # comment per closing, and a reopen for as long as it is closed without sign-off.
    signoff = next((i for i in items if i.key == "signoff"), None)
    if (
        esc.state == "closed"
        and esc.closed_at
        and policy.close_out.gate != "off"
        and signoff
        and signoff.state != "done"
    ):
        gate = marker("gate", closed=stamp(esc.closed_at))
        reopen = policy.close_out.gate == "gate"
        if gate not in posted:
            body = render(
                "reminders/gate.md", esc=esc, item=signoff, reopen=reopen, dri=dri, marker=gate
            )
            ev.actions.append(
                _comment(
                    esc,
                    f"comment on {esc.ref}: closed without customer sign-off"
                    + (" (reopening)" if reopen else " (warning only)"),
                    "gate",
                    body,
                    (gate,),
                )
            )
        if reopen:
            # Decided by the state, not the marker: a reopen that failed is tried again.
            ev.actions.append(
                Action(
                    "reopen",
                    esc.project_id,
                    esc.iid,
                    esc.ref,
                    f"reopen {esc.ref}: customer sign-off is not checked",
                    "gate",
                )
            )
        if reopen or gate not in posted:
            ev.findings.append(
                Finding(
                    esc.ref,
                    "signoff_gate",
                    "Closed without customer sign-off",
                    True,
                    due=esc.closed_at,
                    detail=signoff.state,
                )
            )
            gate_holds = True

    # 2. The checklist, once.
    once = marker("closeout")
    if once not in posted:
        body = render(
            "reminders/closeout.md",
            esc=esc,
            items=items,
            dri=dri,
            marker=once,
            retro=esc.retro,
            raid=esc.raid,
        )
        ev.actions.append(
            _comment(
                esc,
                f"comment on {esc.ref}: post the close-out checklist "
                f"({sum(i.state == 'done' for i in items)}/{len(items)} done)",
                "closeout",
                body,
                (once,),
            )
        )
    for item in items:
        ev.findings.append(
            Finding(esc.ref, f"closeout_{item.key}", item.title, missed=False, detail=item.state)
        )

    # 3. The retrospective issue, created once, with a timeline from the tracker.
    if policy.close_out.retrospective and esc.retro is None:
        if esc.notes_since is not None or esc.label_events is None:
            ev.needs |= {"notes", "label_events"}
        else:
            ev.actions.append(_retro_action(esc, cls, ctx))

    if gate_holds:
        return ev  # nothing else closes while the gate holds
    # 4. Everything checked: phase closure, RAID wrapped up, escalation closed.
    if done:
        phases = policy.labels["phase"]
        if cls["phase"] != "closure":
            ev.actions.append(
                Action(
                    "labels",
                    esc.project_id,
                    esc.iid,
                    esc.ref,
                    f"set {phases.label('closure')} on {esc.ref}",
                    "closeout",
                    add_labels=(phases.label("closure"),),
                    remove_labels=tuple(
                        lab
                        for lab in esc.labels
                        if phases.is_scoped_sibling(lab) and lab != phases.label("closure")
                    ),
                )
            )
        if esc.raid is not None and esc.raid.state == "opened":
            final = marker("raid-final", project=esc.project_id, iid=esc.iid)
            body = render("reminders/raid_final.md", esc=esc, raid=esc.raid, marker=final)
            ev.actions.append(
                Action(
                    "close_companion",
                    esc.raid.project_id,
                    esc.raid.iid,
                    esc.raid.reference,
                    f"close RAID register {esc.raid.reference} with a final note",
                    "closeout",
                    body=body,
                    markers=(final,),
                )
            )
        # Once: a person who reopens a completed escalation keeps it open.
        complete = marker("complete")
        if complete not in posted:
            closing = esc.state == "opened" and policy.close_out.close_when_done
            if closing:
                ev.actions.append(
                    Action(
                        "close",
                        esc.project_id,
                        esc.iid,
                        esc.ref,
                        f"close {esc.ref}: every close-out item is checked",
                        "closeout",
                    )
                )
            body = render("reminders/complete.md", esc=esc, closing=closing, marker=complete)
            ev.actions.append(
                _comment(
                    esc, f"comment on {esc.ref}: close-out complete", "closeout", body, (complete,)
                )
            )
    return ev


# --------------------------------------------------------------------------------------------
# The retrospective's timeline, computed from the tracker itself.


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
    human = [n for n in esc.notes if is_human(n, ctx)]
    if human:
        rows.append((human[0].created_at, f"First acknowledgement by {human[0].author}"))
    status_key = "status_update" if cls.level == "sev1" else "path_to_green"
    req = policy.requirements.get(cls.level or "", {}).get(status_key)
    first_update = next((n for n in human if req and req.matches(n.body)), None)
    if first_update:
        rows.append(
            (first_update.created_at, f"First {req.title.lower()} by {first_update.author}")
        )  # type: ignore[union-attr]
    phases = policy.labels["phase"]
    levels = policy.labels["level"]
    resolved_at = None
    for e in esc.label_events or ():
        if e.action != "add":
            continue
        if phases.value_of(e.label):
            rows.append((e.created_at, f"Phase changed to {phases.value_of(e.label)} by {e.user}"))
            if phases.value_of(e.label) in ("resolution", "closure") and resolved_at is None:
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
                rows.append(
                    (n.created_at, f"escbot proposed promotion to Sev1 ({m.get('reason')})")
                )
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


def _retro_action(esc: Escalation, cls: Classification, ctx: Context) -> Action:
    tl = timeline(esc, cls, ctx)
    retro_marker = marker("retro", project=esc.project_id, iid=esc.iid)
    body = render(
        "retrospective.md",
        esc=esc,
        level=cls.level,
        timeline=tl,
        marker=retro_marker,
        items=closeout_items(esc, ctx.policy),
    )
    assignees = [u for u in esc.assignees if u != ctx.bot] or role_users(("dri",), esc, cls, ctx)
    return Action(
        "create_retro",
        esc.project_id,
        esc.iid,
        esc.ref,
        f"create the retrospective issue for {esc.ref} and link it (assignee: "
        + (", ".join("@" + u for u in assignees) or "none")
        + ")",
        "closeout",
        body=body,
        markers=(retro_marker,),
        data={
            "title": f"Retrospective: {esc.title}"[:255],
            "assignees": assignees,
            "labels": ["retrospective"],
        },
    )


def _close_companion(api: GitLab, action: Action) -> str:
    if not set(action.markers) <= markers_on(api, action.project_id, action.iid):
        api.add_note(action.project_id, action.iid, action.body)
    if api.issue(action.project_id, action.iid)["state"] == "closed":
        return "already done"
    api.edit_issue(action.project_id, action.iid, state_event="close")
    return "done"


EXTRA_HANDLERS["create_retro"] = ensure_companion
EXTRA_HANDLERS["close_companion"] = _close_companion


# --------------------------------------------------------------------------------------------
# Warranty (seed 004): 30 days from the completion date, counted in the policy's calendar days.

COMPLETED_FIELD = "Project completed"


def warranty_window(completed: date, policy: Policy) -> datetime:
    """The end of the window: the end of day N after completion, local time."""
    last_day = completed + timedelta(days=policy.warranty.days)
    return datetime.combine(last_day + timedelta(days=1), time(0), tzinfo=policy.tz).astimezone(UTC)


def warranty_rule(esc: Escalation, ctx: Context) -> Evaluation:
    ev = Evaluation(esc.ref)
    policy = ctx.policy
    cls = classify(esc.labels, policy)
    if cls.type != "warranty" or esc.state != "opened":
        return ev
    posted = posted_markers(esc)
    completed = desc.date_field(esc.description, COMPLETED_FIELD)
    if completed is None:
        m = marker("warranty", state="no-date")
        ev.findings.append(
            Finding(
                esc.ref,
                "warranty_window",
                "Warranty window",
                True,
                detail=f'no "{COMPLETED_FIELD}: YYYY-MM-DD" line in the description',
            )
        )
        if m not in posted:
            body = render(
                "reminders/warranty.md",
                esc=esc,
                state="no-date",
                completed=None,
                end=None,
                days=policy.warranty.days,
                field=COMPLETED_FIELD,
                marker=m,
                label="out-of-warranty",
                dri=list(esc.assignees),
            )
            ev.actions.append(
                _comment(
                    esc,
                    f"comment on {esc.ref}: warranty completion date missing",
                    "warranty",
                    body,
                    (m,),
                )
            )
        return ev
    end = warranty_window(completed, policy)
    inside = esc.created_at < end
    day = (policy.calendar.local(esc.created_at).date() - completed).days
    ev.findings.append(
        Finding(
            esc.ref,
            "warranty_window",
            "Warranty window",
            not inside,
            due=end,
            detail=f"opened on day {day} after completion {completed.isoformat()}",
        )
    )
    if inside:
        return ev
    m = marker("warranty", state="out", completed=completed.isoformat())
    if m not in posted:
        body = render(
            "reminders/warranty.md",
            esc=esc,
            state="out",
            completed=completed.isoformat(),
            end=policy.calendar.describe(end),
            days=policy.warranty.days,
            field=COMPLETED_FIELD,
            marker=m,
            label="out-of-warranty",
            dri=list(esc.assignees),
            day=day,
        )
        ev.actions.append(
            _comment(
                esc,
                f"comment on {esc.ref}: opened on day {day}, outside the "
                f"{policy.warranty.days}-day warranty",
                "warranty",
                body,
                (m,),
            )
        )
        if "out-of-warranty" not in esc.labels:
            ev.actions.append(
                Action(
                    "labels",
                    esc.project_id,
                    esc.iid,
                    esc.ref,
                    f"label {esc.ref} out-of-warranty (a person confirms)",
                    "warranty",
                    add_labels=("out-of-warranty",),
                )
            )
    return ev
