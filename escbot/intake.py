"""E-mailed escalations (GitLab Service Desk): classify, route and acknowledge.

    result = classify_intake(title, description, sender, policy)   # pure
    ev = intake_rule(esc, ctx)                                      # pure: a plan of Actions
    found = run_intake(api, scope, policy, now, apply=True)         # read, plan, apply

An intake issue is an open issue authored by `policy.intake.author` (GitLab's support-bot)
that does not carry the escalation marker label yet. escbot.classifier decides what it is
about from `intake:` in the policy (scored vocabulary, the sender's role from the staff
directory, the account type from the customer directory or the project). Nothing is guessed:
split or missing evidence, or an unknown account type, is a `problem` and the issue is labelled
`needs-triage` with an internal note (internal, so Service Desk does not e-mail it) that shows
the evidence. Auto-replies, bounces, newsletters and thank-you notes are labelled
`not-an-escalation` and never acknowledged.

A classified issue gets, in this order (each step idempotent, so a half-done run is finished by
the next one): the routed PM as assignee and the Phase 1 deadline as due date (action kind
"assign", handled here and registered with the check's applier), the acknowledgement (a public
note, which Service Desk e-mails to the sender; hidden marker `escbot:ack`, posted once), then
the escalation labels. Once the labels are on, the issue is an escalation like any other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from escbot.check import EXTRA_HANDLERS, apply_actions, collect, markers_on
from escbot.classifier import ESCALATION, Email, classify, sender_address
from escbot.engine import Context, posted_markers
from escbot.errors import GitLabError
from escbot.gitlab_io import GitLab
from escbot.markers import find_markers, marker
from escbot.model import Escalation
from escbot.plan import Action, Evaluation, Finding
from escbot.policies import Policy
from escbot.render import render

NEEDS_TRIAGE = "needs-triage"
NOT_ESCALATION = "not-an-escalation"
ACK = marker("ack")


# --------------------------------------------------------------------------------------------
# Classification (pure).


@dataclass(frozen=True)
class IntakeResult:
    type: str | None
    category: str | None
    account_type: str | None  # None: unknown, a person is asked (never a silent default)
    customer: str | None  # the customer's name from the customer directory, if known
    rules: tuple[str, ...]  # the evidence: words of the winning category, or the competitors
    reasons: tuple[str, ...]  # how each part of the result was reached, for people
    problem: str | None = None  # why nothing was classified (split or no evidence, no account)
    kind: str = ESCALATION  # or auto-reply, bounce, newsletter, thanks: never acknowledged
    level: str | None = None
    severity: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None and self.category is not None

    @property
    def is_escalation(self) -> bool:
        return self.kind == ESCALATION


def sender_domain(sender: str | None) -> str:
    address = sender_address(sender)
    return address.rsplit("@", 1)[1].strip() if "@" in address else ""


def classify_intake(
    title: str,
    description: str,
    sender: str | None,
    policy: Policy,
    *,
    project: str | None = None,
    headers: dict[str, str] | None = None,
) -> IntakeResult:
    """What an e-mailed escalation is about, and who owns it (escbot.classifier); never a
    silent guess: split or missing evidence, or an unknown account type, is a `problem`."""
    d = classify(
        Email(title or "", description or "", sender or "", headers or {}, project), policy
    )
    reasons = (
        f"sender: {d.sender_role}",
        *d.explain(),
        f"account type {d.account_type or 'unknown'}: {d.account_source}",
        *d.notes,
    )
    if not d.is_escalation:
        return IntakeResult(
            None, None, d.account_type, d.customer, (), (d.reason, *reasons), kind=d.kind
        )
    if d.needs_triage:
        competing = tuple(f"{c} {score:.1f}" for c, score in d.scores if score > 0)[:3]
        return IntakeResult(None, None, d.account_type, d.customer, competing, reasons, d.reason)
    # The words that decided (weight 2 or more), not every supporting one.
    words = [
        e.phrase if e.zone == "sender" else e.found
        for e in sorted(d.evidence, key=lambda e: -e.score)
        if e.category == d.category and e.score >= 2
    ]
    problem = None
    if d.account_type is None:
        problem = f"account type unknown ({d.account_source})"
    return IntakeResult(
        d.type,
        d.category,
        d.account_type,
        d.customer,
        tuple(dict.fromkeys(words))[:3],
        (d.reason, *reasons),
        problem,
        level=d.level,
        severity=d.severity,
    )


# --------------------------------------------------------------------------------------------
# Which issues are intake issues.


def is_intake(esc: Escalation, policy: Policy) -> bool:
    """Authored by the Service Desk bot and not (yet) an escalation."""
    return (
        policy.intake.enabled
        and esc.author == policy.intake.author
        and policy.labels.marker.name not in esc.labels
    )


def classified_by_person(esc: Escalation, policy: Policy) -> bool:
    """A person has put a label of escbot's scoped groups on it (a level, type, category, or
    even a severity or RAG value): hands off, since adding escbot's own values would replace
    theirs (scoped labels are exclusive)."""
    groups = policy.labels.groups.values()
    return any(g.is_scoped_sibling(lab) for g in groups for lab in esc.labels)


def routed(policy: Policy, account_type: str) -> dict[str, str | None]:
    """PM (the DRI), QA and team manager for an account type."""

    def one(role: str) -> str | None:
        users = policy.role_users(role, account_type)
        return users[0] if users else None

    return {"pm": one("pm"), "qa": one("qa"), "team_manager": one("team_manager")}


def intake_labels(policy: Policy, result: IntakeResult) -> tuple[str, ...]:
    """The escalation labels a classified intake issue gets."""
    groups = policy.labels.groups
    assert result.type and result.category
    labels = [
        policy.labels.marker.name,
        groups["level"].label(result.level or "sev1"),
        groups["severity"].label(result.severity or "high"),
        groups["type"].label(result.type),
        groups["category"].label(result.category),
        groups["account_type"].label(result.account_type),
    ]
    if "red" in groups["rag"].values:
        labels.append(groups["rag"].label("red"))
    if "initiation" in groups["phase"].values:
        labels.append(groups["phase"].label("initiation"))
    return tuple(labels)


def phase1_due(esc: Escalation, policy: Policy) -> datetime:
    return policy.calendar.add(esc.created_at, policy.initiation.within)


def label_specs(policy: Policy, names: tuple[str, ...]) -> list[list[str]]:
    specs = {s.name: s for s in policy.labels.all_specs()}
    return [[n, specs[n].color, specs[n].description] for n in names if n in specs]


def assign_action(
    esc: Escalation,
    policy: Policy,
    *,
    assignee: str | None,
    due: str | None,
    labels: tuple = (),
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
        "assign",  # handled by escbot.intake (EXTRA_HANDLERS)
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


# --------------------------------------------------------------------------------------------
# The rule the scheduled check runs (pure).


def intake_rule(esc: Escalation, ctx: Context) -> Evaluation:
    ev = Evaluation(esc.ref)
    policy = ctx.policy
    if not is_intake(esc, policy) or esc.state != "opened":
        return ev
    if classified_by_person(esc, policy):
        return ev
    posted = posted_markers(esc)
    acked = ACK in posted
    due = policy.calendar.add(esc.created_at, policy.intake.acknowledge_within)
    result = classify_intake(
        esc.title, esc.description, esc.service_desk_reply_to, policy, project=esc.project_path
    )
    if not result.is_escalation:  # an auto-reply, bounce, newsletter or thanks: labelled only
        if NOT_ESCALATION not in esc.labels:
            ev.actions.append(
                Action(
                    "labels",
                    esc.project_id,
                    esc.iid,
                    esc.ref,
                    f"label {esc.ref} {NOT_ESCALATION} ({result.reasons[0]})",
                    rule="intake",
                    add_labels=(NOT_ESCALATION,),
                )
            )
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
        ev.actions += triage_actions(esc, result, posted)
        return ev
    ev.findings.append(
        Finding(esc.ref, "acknowledge", "Acknowledgement", ctx.now >= due and not acked, due=due)
    )
    ev.actions += classify_actions(esc, result, ctx, acked=acked)
    return ev


def triage_actions(esc: Escalation, result: IntakeResult, posted: list[Any]) -> list[Action]:
    actions = []
    note = marker("triage")
    if note not in posted:
        body = render(
            "reminders/needs_triage.md",
            esc=esc,
            result=result,
            label=NEEDS_TRIAGE,
            marker=note,
        )
        actions.append(
            Action(
                "internal_note",
                esc.project_id,
                esc.iid,
                esc.ref,
                f"post an internal note on {esc.ref}: needs triage ({result.problem})",
                rule="intake",
                body=body,
                markers=(note,),
            )
        )
    if NEEDS_TRIAGE not in esc.labels:
        actions.append(
            Action(
                "labels",
                esc.project_id,
                esc.iid,
                esc.ref,
                f"label {esc.ref} {NEEDS_TRIAGE}",
                rule="intake",
                add_labels=(NEEDS_TRIAGE,),
            )
        )
    return actions


def classify_actions(
    esc: Escalation, result: IntakeResult, ctx: Context, *, acked: bool
) -> list[Action]:
    policy = ctx.policy
    people = routed(policy, result.account_type)
    labels = intake_labels(policy, result)
    due = phase1_due(esc, policy)
    due_text = policy.calendar.local(due).date().isoformat()
    actions = [
        assign_action(
            esc,
            policy,
            assignee=None if esc.assignees else people["pm"],
            due=None if esc.due_date else due_text,
            labels=labels,
            description=tracking_description(esc, result, ctx, people["pm"]),
        )
    ]
    if not acked:
        reply_by = policy.calendar.add(ctx.now, policy.intake.reply_within)
        category = policy.labels["category"].values[result.category or ""]
        type_ = policy.labels["type"].values[result.type or ""]
        body = render(
            "reminders/acknowledge.md",
            esc=esc,
            result=result,
            owner=(list(esc.assignees) or [people["pm"]])[0],
            owner_name=None,
            qa=people["qa"],
            team_manager=people["team_manager"],
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
                f"{category.title} ({result.account_type}), owner @{people['pm']}",
                rule="intake",
                body=body,
                markers=(ACK,),
            )
        )
    # needs-triage goes only when escbot put it there (its note is on the issue).
    escbot_triaged = marker("triage") in posted_markers(esc)
    remove = (NEEDS_TRIAGE,) if NEEDS_TRIAGE in esc.labels and escbot_triaged else ()
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
    esc: Escalation, result: IntakeResult, ctx: Context, pm: str
) -> str | None:
    """The e-mail, then the escalation template's sections (Phase 1 checklist, requirements,
    close-out...), so an e-mailed escalation is tracked like one opened by `escbot new`."""
    from escbot.create import EscalationRequest, plan_escalation
    from escbot.gitlab_io import ProjectRef

    if any(m.kind == "escalation" for m in esc.description_markers):
        return None
    policy = ctx.policy
    request = EscalationRequest(
        project=esc.project_path,
        level=result.level or "sev1",
        type=result.type or "",
        category=result.category or "",
        severity=result.severity or "high",
        title=esc.title,
        customer=result.customer or esc.service_desk_reply_to or "the sender",
        dri=(list(esc.assignees) or [pm])[0],
        account_type=result.account_type,
        trigger_detail=f"reported by e-mail from {esc.service_desk_reply_to or 'the customer'}",
        now=esc.created_at,
    )
    plan = plan_escalation(request, policy, ProjectRef(esc.project_id, esc.project_path, ""))
    return f"{esc.description.rstrip()}\n\n---\n\n{plan.description}"


# --------------------------------------------------------------------------------------------
# Handlers for the check's applier.


def apply_assign(api: GitLab, action: Action) -> str:
    """Create missing policy labels; set assignee and due date only where none is set."""
    data = action.data
    changes: dict[str, Any] = {}
    specs = data.get("labels") or []
    if specs:
        project = api.project(action.project_id)
        have = {lab["name"] for lab in api.labels(("project", project), include_ancestors=True)}
        for name, color, description in specs:
            if name not in have:
                api.create_label(("project", project), name, color, description)
    issue = api.issue(action.project_id, action.iid)
    if data.get("assignee") and not issue.get("assignees"):
        user = api.user(data["assignee"])
        if user is None:
            raise GitLabError(f"user {data['assignee']} (routing) not found on GitLab")
        changes["assignee_ids"] = [user["id"]]
    if data.get("due_date") and not issue.get("due_date"):
        changes["due_date"] = data["due_date"]
    text = issue.get("description") or ""
    if data.get("description") and not any(m.kind == "escalation" for m in find_markers(text)):
        changes["description"] = data["description"]
    if not changes:
        return "already done"
    api.edit_issue(action.project_id, action.iid, **changes)
    return "done"


def apply_internal_note(api: GitLab, action: Action) -> str:
    """An internal note (never e-mailed to a Service Desk sender), posted once by its markers."""
    if set(action.markers) <= markers_on(api, action.project_id, action.iid):
        return "already done"
    api.call(
        f"comment on {action.ref}",
        lambda: api.gl.http_post(
            f"/projects/{action.project_id}/issues/{action.iid}/notes",
            post_data={"body": action.body, "internal": True},
        ),
    )
    return "done"


EXTRA_HANDLERS["assign"] = apply_assign
EXTRA_HANDLERS["internal_note"] = apply_internal_note


# --------------------------------------------------------------------------------------------
# For the demo and on-demand runs.


@dataclass
class IntakeRun:
    evaluations: list[Evaluation] = field(default_factory=list)
    outcomes: list[Any] = field(default_factory=list)  # escbot.check.Outcome
    errors: list[str] = field(default_factory=list)

    @property
    def actions(self) -> list[Action]:
        return [a for ev in self.evaluations for a in ev.actions]


def run_intake(
    api: GitLab, scope: tuple[str, Any], policy: Policy, now: datetime, *, apply: bool
) -> IntakeRun:
    """Classify, route and acknowledge the open intake issues of a project or group."""
    run = IntakeRun()
    ctx = Context(policy=policy, now=now, bot=api.me()["username"])
    for esc in sorted(collect(api, scope, policy, now, run.errors), key=lambda e: e.key):
        if not is_intake(esc, policy):
            continue
        if esc.extra.get("error"):
            run.errors.append(f"{esc.ref}: skipped, its activity could not be read")
            continue
        run.evaluations.append(intake_rule(esc, ctx))
    if apply:
        run.outcomes = apply_actions(api, run.actions, run.errors)
    return run
