"""The intake rule: an e-mailed issue (GitLab Service Desk) classified, routed, acknowledged
once, and labelled as an escalation; or sent to triage with an internal note saying why."""

from __future__ import annotations

from escbot.intake import (
    IntakeResult,
    classified_by_person,
    classify_intake,
    intake_labels,
    is_intake,
    phase1_due,
    routed,
)
from escbot.markers import marker
from escbot.model import Context, Escalation, ProjectRef
from escbot.opening import EscalationRequest, is_warranty, plan_escalation
from escbot.plan import Action, Evaluation, Finding
from escbot.policies import Policy
from escbot.rules.common import act

ACK = marker("ack")
TRIAGED = marker("triage")


def label_specs(policy: Policy, names: tuple[str, ...]) -> list[list[str]]:
    specs = {s.name: s for s in policy.labels.all_specs()}
    return [[n, specs[n].color, specs[n].description] for n in names if n in specs]


def assign_action(
    esc: Escalation,
    policy: Policy,
    *,
    assignee: str | None,
    due: str | None,
    labels: tuple[str, ...] = (),
    description: str | None = None,
) -> Action:
    parts = []
    if assignee:
        parts.append(f"assign @{assignee}")
    if due:
        parts.append(f"set due date {due}")
    if description:
        parts.append("add the tracking sections")
    return Action(
        "assign",
        esc.project_id,
        esc.iid,
        esc.ref,
        f"{' and '.join(parts) or 'create labels'} on {esc.ref}",
        rule="intake",
        data={
            "assignee": assignee,
            "due_date": due,
            "labels": label_specs(policy, labels),
            "description": description,
        },
    )


def intake_rule(esc: Escalation, ctx: Context) -> Evaluation:
    ev = Evaluation(esc.ref)
    policy = ctx.policy
    if not is_intake(esc, policy) or esc.state != "opened":
        return ev
    if classified_by_person(esc, policy):
        return ev
    acked = esc.has_posted(ACK)
    due = policy.calendar.add(esc.created_at, policy.intake.acknowledge_within)
    result = classify_intake(
        esc.title, esc.description, esc.service_desk_reply_to, policy, project=esc.project_path
    )
    if not result.is_escalation:  # an auto-reply, bounce, newsletter or thanks: labelled only
        label = policy.process.labels.not_escalation
        if label not in esc.labels:
            summary = f"label {esc.ref} {label} ({result.reasons[0]})"
            ev.actions.append(act("labels", esc, summary, "intake", add_labels=(label,)))
        return ev
    if not result.ok:
        ev.findings.append(
            Finding(
                esc.ref,
                "intake",
                "Intake classification",
                True,
                due=esc.created_at,
                detail=result.problem or "",
            )
        )
        ev.actions += triage_actions(esc, result, ctx)
        return ev
    ev.findings.append(
        Finding(esc.ref, "acknowledge", "Acknowledgement", ctx.now >= due and not acked, due=due)
    )
    ev.actions += classify_actions(esc, result, ctx, acked=acked)
    return ev


def triage_actions(esc: Escalation, result: IntakeResult, ctx: Context) -> list[Action]:
    actions = []
    label = ctx.policy.process.labels.triage
    if not esc.has_posted(TRIAGED):
        body = ctx.policy.render(
            "reminders/needs_triage.md", esc=esc, result=result, label=label, marker=TRIAGED
        )
        actions.append(
            Action(
                "comment",
                esc.project_id,
                esc.iid,
                esc.ref,
                f"post an internal note on {esc.ref}: needs triage ({result.problem})",
                rule="intake",
                body=body,
                markers=(TRIAGED,),
            )
        )
    if label not in esc.labels:
        actions.append(
            act("labels", esc, f"label {esc.ref} {label}", "intake", add_labels=(label,))
        )
    return actions


def classify_actions(
    esc: Escalation, result: IntakeResult, ctx: Context, *, acked: bool
) -> list[Action]:
    policy = ctx.policy
    assert result.account_type  # an unknown account type goes to triage
    people = routed(policy, result.account_type)
    # Seed 004: warranty escalations are directed to QA; every other one to the PM.
    owner = people["qa"] if is_warranty(policy, result.type) else people["pm"]
    labels = intake_labels(policy, result)
    due = phase1_due(esc, policy)
    due_text = policy.calendar.due_day(due).isoformat()
    actions = [
        assign_action(
            esc,
            policy,
            assignee=None if esc.assignees else owner,
            due=None if esc.due_date else due_text,
            labels=labels,
            description=tracking_description(esc, result, ctx, owner),
        )
    ]
    if not acked:
        reply_by = policy.calendar.add(ctx.now, policy.intake.reply_within)
        category = policy.labels["category"].values[result.category or ""]
        type_ = policy.labels["type"].values[result.type or ""]
        body = policy.render(
            "reminders/acknowledge.md",
            esc=esc,
            result=result,
            owner=(list(esc.assignees) or [owner or "the team"])[0],
            type=type_,
            category=category,
            reply_by=policy.calendar.describe(reply_by),
            marker=ACK,
        )
        actions.append(
            Action(
                "comment",
                esc.project_id,
                esc.iid,
                esc.ref,
                f"acknowledge {esc.ref} to {esc.service_desk_reply_to or 'the sender'}: "
                f"{category.title} ({result.account_type}), owner @{owner}",
                rule="intake",
                body=body,
                markers=(ACK,),
            )
        )
    # needs-triage goes only when escbot put it there (its note is on the issue).
    triage = policy.process.labels.triage
    remove = (triage,) if triage in esc.labels and esc.has_posted(TRIAGED) else ()
    actions.append(
        Action(
            "labels",
            esc.project_id,
            esc.iid,
            esc.ref,
            f"label {esc.ref} as an escalation: {', '.join(labels)}",
            rule="intake",
            add_labels=labels,
            remove_labels=remove,
        )
    )
    return actions


def tracking_description(
    esc: Escalation, result: IntakeResult, ctx: Context, pm: str | None
) -> str | None:
    """The e-mail, then the escalation template's sections (Phase 1 checklist, requirements,
    close-out...), so an e-mailed escalation is tracked like one opened by `escbot new`."""
    if any(m.kind == "escalation" for m in esc.description_markers):
        return None
    policy = ctx.policy
    request = EscalationRequest(
        project=esc.project_path,
        level=result.level or "",
        type=result.type or "",
        category=result.category or "",
        severity=result.severity or "",
        title=esc.title,
        customer=result.customer or esc.service_desk_reply_to or "the sender",
        dri=(list(esc.assignees) or [pm or "the team"])[0],
        account_type=result.account_type,
        trigger_detail=f"reported by e-mail from {esc.service_desk_reply_to or 'the customer'}",
        now=esc.created_at,
    )
    plan = plan_escalation(request, policy, ProjectRef(esc.project_id, esc.project_path, ""))
    return f"{esc.description.rstrip()}\n\n---\n\n{plan.description}"
