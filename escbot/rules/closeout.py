"""Close-out (seed 000 step 8): four small sub-rules, in the order their actions must run.

gate            closed without customer sign-off: one comment per closing, reopen (policy)
checklist       the close-out checklist, posted once
retrospective   the retrospective issue, created once with a timeline from the tracker
completion      everything ticked: closure phase, RAID register wrapped up, escalation closed
"""

from __future__ import annotations

from dataclasses import dataclass

from escbot import description as desc
from escbot.markers import marker
from escbot.model import Classification, Context, Escalation, classify
from escbot.plan import Action, Evaluation, Finding
from escbot.policies import Policy
from escbot.rules.common import act, comment, dri, role_users, set_scoped, stamp
from escbot.timeline import timeline


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


def in_closeout(esc: Escalation, cls: Classification, policy: Policy) -> bool:
    return (
        esc.state == "closed"
        or cls["phase"] in policy.process.resolution_phases
        or reopened_by_gate(esc, policy)
    )


def reopened_by_gate(esc: Escalation, policy: Policy) -> bool:
    """The gate reopened it and the run that did so stopped before the rest of what it planned
    with the reopen (the checklist, the retrospective, linked): the close-out goes on until
    they are there."""
    kinds = {m.kind for m in esc.posted_markers}
    if esc.state != "opened" or "gate" not in kinds:
        return False
    if "closeout" not in kinds:
        return True
    if not policy.close_out.retrospective:
        return False
    retro = esc.retro
    if retro is None:
        return True
    return esc.links is None or (retro.project_id, retro.iid) not in esc.links


def gate(esc: Escalation, items: list[Item], ctx: Context, ev: Evaluation) -> bool:
    """The sign-off gate; True while it holds (nothing else closes then)."""
    policy = ctx.policy
    signoff = next((i for i in items if i.key == "signoff"), None)
    if (
        esc.state != "closed"
        or esc.closed_at is None
        or policy.close_out.gate == "off"
        or signoff is None
        or signoff.state == "done"
    ):
        return False
    once = marker("gate", closed=stamp(esc.closed_at))
    reopen = policy.close_out.gate == "gate"
    posted = esc.has_posted(once)
    if not posted:
        body = policy.render(
            "reminders/gate.md",
            esc=esc,
            item=signoff,
            reopen=reopen,
            marker=once,
        )
        summary = "closed without customer sign-off" + (
            " (reopening)" if reopen else " (warning only)"
        )
        ev.actions.append(comment(esc, summary, "gate", body, (once,), dri(esc, ctx)))
    if reopen:
        # Decided by the state, not the marker: a reopen that failed is tried again.
        ev.actions.append(
            act("reopen", esc, f"reopen {esc.ref}: customer sign-off is not checked", "gate")
        )
    if not (reopen or not posted):
        return False
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
    return True


def checklist(esc: Escalation, items: list[Item], ctx: Context, ev: Evaluation) -> None:
    """The checklist, posted once; each item a finding (never missed: the gate enforces)."""
    once = marker("closeout")
    if not esc.has_posted(once):
        body = ctx.policy.render(
            "reminders/closeout.md",
            esc=esc,
            items=items,
            marker=once,
            retro=esc.retro,
            raid=esc.raid,
        )
        done = sum(i.state == "done" for i in items)
        summary = f"post the close-out checklist ({done}/{len(items)} done)"
        ev.actions.append(comment(esc, summary, "closeout", body, (once,), dri(esc, ctx)))
    for item in items:
        ev.findings.append(
            Finding(esc.ref, f"closeout_{item.key}", item.title, missed=False, detail=item.state)
        )


def retrospective(esc: Escalation, cls: Classification, ctx: Context, ev: Evaluation) -> None:
    """The retrospective issue, once, linked; its timeline needs the whole history."""
    if not ctx.policy.close_out.retrospective:
        return
    if esc.retro is not None:
        # Found by its marker; a run cut short between creating and linking it left it unlinked.
        if esc.links is None:
            ev.needs.add("links")
        elif (esc.retro.project_id, esc.retro.iid) not in esc.links:
            ev.actions.append(retro_action(esc, cls, ctx))
        return
    if esc.notes_since is not None or esc.label_events is None:
        ev.needs |= {"notes", "label_events"}
        return
    ev.actions.append(retro_action(esc, cls, ctx))


def retro_action(esc: Escalation, cls: Classification, ctx: Context) -> Action:
    policy = ctx.policy
    retro_marker = marker("retro", project=esc.project_id, iid=esc.iid)
    body = policy.render(
        "retrospective.md",
        esc=esc,
        level=cls.level,
        level_title=policy.labels["level"].values[cls.level].title if cls.level else None,
        timeline=timeline(esc, cls, ctx),
        marker=retro_marker,
        items=closeout_items(esc, policy),
    )
    assignees = dri(esc, ctx) or role_users(("dri",), esc, cls, ctx)
    who = ", ".join("@" + u for u in assignees) or "none"
    return Action(
        "create_retro",
        esc.project_id,
        esc.iid,
        esc.ref,
        f"create the retrospective issue for {esc.ref} and link it (assignee: {who})",
        "closeout",
        body=body,
        markers=(retro_marker,),
        data={
            "title": f"Retrospective: {esc.title}"[:255],
            "assignees": assignees,
            "labels": [policy.process.labels.retrospective],
        },
    )


def completion(esc: Escalation, cls: Classification, ctx: Context, ev: Evaluation) -> None:
    """Every item ticked: the closure phase, the RAID register's final note and close, and the
    escalation closed (policy), announced once."""
    policy = ctx.policy
    closure = policy.process.closure_phase
    if cls["phase"] != closure:
        ev.actions.append(set_scoped(esc, policy.labels["phase"], closure, "closeout"))
    if esc.raid is not None and esc.raid.state == "opened":
        final = marker("raid-final", project=esc.project_id, iid=esc.iid)
        body = policy.render("reminders/raid_final.md", esc=esc, raid=esc.raid, marker=final)
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
    once = marker("complete")
    if esc.has_posted(once):
        return
    closing = esc.state == "opened" and policy.close_out.close_when_done
    if closing:
        ev.actions.append(
            act("close", esc, f"close {esc.ref}: every close-out item is checked", "closeout")
        )
    body = policy.render("reminders/complete.md", esc=esc, closing=closing, marker=once)
    ev.actions.append(comment(esc, "close-out complete", "closeout", body, (once,)))


def closeout_rule(esc: Escalation, ctx: Context, *, force: bool = False) -> Evaluation:
    """Close-out for an escalation in a resolution phase or closed (or any, with `force`)."""
    ev = Evaluation(esc.ref)
    policy = ctx.policy
    cls = classify(esc.labels, policy)
    if cls.level is None or not (force or in_closeout(esc, cls, policy)):
        return ev
    items = closeout_items(esc, policy)
    holds = gate(esc, items, ctx, ev)  # first: later actions on an issue wait for earlier ones
    checklist(esc, items, ctx, ev)
    retrospective(esc, cls, ctx, ev)
    if not holds and all(i.state == "done" for i in items):
        completion(esc, cls, ctx, ev)
    return ev
