"""Opening an escalation: validate the request, plan it (pure), then write it to GitLab.

    request = EscalationRequest(project="acme/portal", level="sev1", type="customer",
                                category="install-issue", severity="high", title="...",
                                customer="Acme Logistics", dri="pm.one")
    validate(request, policy)                         # EscbotError naming the valid values
    plan = plan_escalation(request, policy, project)  # title, description, labels, due date, RAID
    result = open_escalation(api, policy, request)    # both issues, linked; idempotent

Order of writes (open_escalation): the project and the DRI are resolved first, so an unknown one
fails before anything exists; then the labels the two issues use are created with the policy's
colours; then the escalation issue; then its RAID register (whose marker names the escalation);
then the two are linked, and the escalation's "Links" line is pointed at the register. A rerun
finds the open escalation by its title and marker and only adds what is missing, so a failure
half-way is finished by running the same command again, which the error message says.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from escbot.check import EXTRA_HANDLERS, ensure_companion
from escbot.description import field as description_field
from escbot.durations import parse_duration
from escbot.engine import Context
from escbot.errors import EscbotError
from escbot.gitlab_io import GitLab, ProjectRef
from escbot.labels import missing_labels
from escbot.markers import Marker, find_markers, marker
from escbot.model import Escalation, classify
from escbot.plan import Action, Evaluation
from escbot.policies import LabelGroup, Policy
from escbot.render import md, mention, render

# Levels whose issue states the figure that fired the trigger ("17 days behind").
TRIGGER_DETAIL_LEVELS = ("sev2",)
# The type whose escalations carry the project completion date and the warranty window.
WARRANTY_TYPE = "warranty"
RAID_LABEL = "raid-register"
OUT_OF_WARRANTY_LABEL = "out-of-warranty"
RAID_PENDING = "(being created by escbot; if this line stays, rerun the same escbot new command)"
TITLE_MAX = 255


@dataclass(frozen=True)
class Choice:
    """A label value as the templates show it (or a placeholder naming the choices)."""

    value: str
    label: str
    title: str
    description: str


def choice(group: LabelGroup, value: str) -> Choice:
    v = group.values[value]
    return Choice(v.value, v.name, v.title, v.description)


@dataclass(frozen=True)
class EscalationRequest:
    project: str
    level: str
    type: str
    category: str
    severity: str
    title: str
    customer: str
    dri: str
    account_type: str | None = None  # None: policy.routing.default_account_type
    trigger_detail: str | None = None
    completed: date | None = None  # project completion (warranty escalations)
    now: datetime | None = None  # aware; None: the current time


# --------------------------------------------------------------------------------------------
# Validation.


def _unknown(option: str, what: str, value: str, valid: list[str]) -> str:
    return f'{option}: unknown {what} "{value}"; valid: {", ".join(valid)}'


def validate(request: EscalationRequest, policy: Policy) -> None:
    """Raise EscbotError (exit 2) naming every bad value and the valid ones, on one line."""
    groups = policy.labels.groups
    problems: list[str] = []
    levels = list(groups["level"].values)
    types = list(groups["type"].values)
    categories = groups["category"].values
    if request.level not in levels:
        problems.append(_unknown("--level", "level", request.level, levels))
    if request.type not in types:
        problems.append(_unknown("--type", "type", request.type, types))
    if request.category not in categories:
        valid = [
            c for c, v in categories.items() if request.type not in types or request.type in v.types
        ]
        problems.append(_unknown("--category", "category", request.category, valid))
    elif request.type in types and categories[request.category].types:
        allowed = categories[request.category].types
        if request.type not in allowed:
            valid = [c for c, v in categories.items() if request.type in v.types]
            problems.append(
                f'--category: category "{request.category}" is not a {request.type} category; '
                f"valid for {request.type}: {', '.join(valid)}"
            )
    severities = list(groups["severity"].values)
    if request.severity not in severities:
        problems.append(_unknown("--severity", "severity", request.severity, severities))
    accounts = list(groups["account_type"].values)
    if request.account_type is not None and request.account_type not in accounts:
        problems.append(_unknown("--account-type", "account type", request.account_type, accounts))
    for option, value in (("--title", request.title), ("--customer", request.customer)):
        if not " ".join(str(value or "").split()):
            problems.append(f"{option}: must not be empty")
    try:
        mention(request.dri or "")
    except EscbotError:
        problems.append(f'--dri: "{request.dri}" is not a GitLab username')
    if request.level in TRIGGER_DETAIL_LEVELS and not (request.trigger_detail or "").strip():
        problems.append(
            f"--trigger-detail: required for {request.level} (the figure that fired the "
            'trigger, e.g. "17 days behind" or "12% over budget")'
        )
    if request.type == WARRANTY_TYPE:
        if request.completed is None:
            problems.append(
                "--completed: required for warranty escalations (project completion date, "
                "YYYY-MM-DD)"
            )
        elif request.completed > _local_now(request, policy).date():
            problems.append(f"--completed: {request.completed} is in the future")
    if problems:
        raise EscbotError(" | ".join(problems))


# --------------------------------------------------------------------------------------------
# Planning (pure).


def _local_now(request: EscalationRequest, policy: Policy) -> datetime:
    now = request.now or datetime.now(UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=policy.tz)
    return now.astimezone(policy.tz)


def local_text(moment: datetime, policy: Policy) -> str:
    local = moment.astimezone(policy.tz)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"


def clean_title(text: str) -> str:
    """An issue title on one line, within GitLab's limit."""
    title = " ".join(str(text).split())
    return title if len(title) <= TITLE_MAX else title[: TITLE_MAX - 1] + "…"


def requirement_rows(policy: Policy, level: str) -> list[dict[str, Any]]:
    """The level's tracking requirements as the templates list them (daily, then weekly)."""
    rows = []
    for req in policy.requirements.get(level, {}).values():
        every = req.every
        if every.unit in ("minutes", "hours", "business_hours"):
            daily = every.amount <= 48
        elif every.unit in ("days", "business_days"):
            daily = every.amount <= 2
        else:
            daily = False
        rows.append(
            {
                "key": req.key,
                "title": req.title,
                "tag": req.tag,
                "every": every.text,
                "description": req.description,
                "met_by": req.met_by,
                "group": "daily" if daily else "weekly",
            }
        )
    return rows


def escalation_context(
    policy: Policy,
    *,
    marker_text: str,
    level: Choice,
    severity: Choice,
    type_: Choice,
    category: Choice,
    account: Choice,
    title: str,
    customer: str,
    dri: str | None,
    opened: str,
    phase1_due: str,
    milestone_due: str,
    trigger_detail: str | None,
    completed: str | None,
    warranty_until: str | None,
    warranty_note: str | None,
    raid_ref: str,
    is_template: bool = False,
) -> dict[str, Any]:
    """The context of sev1.md / sev2.md (documented at the top of templates/sev1.md)."""
    routing_all = []
    for acct, value in policy.labels.groups["account_type"].values.items():
        routed = policy.routing.account_types.get(acct, {})
        row = {"title": value.title}
        for role in ("pm", "qa", "team_manager"):
            fallback = next(iter(policy.ladder.roles.get(role, ())), "(not set)")
            row[role] = routed.get(role) or fallback
        routing_all.append((acct, row))
    return {
        "marker": marker_text,
        "is_template": is_template,
        "title": title,
        "customer": customer,
        "level": level,
        "severity": severity,
        "type": type_,
        "category": category,
        "account": account,
        "dri": dri,
        "opened": opened,
        "phase1_due": phase1_due,
        "milestone_due": milestone_due,
        "trigger_detail": trigger_detail,
        "completed": completed,
        "warranty_until": warranty_until,
        "warranty_note": warranty_note,
        "routing_all": routing_all,
        "requirements": requirement_rows(policy, level.value),
        "close_out": list(policy.close_out.items.values()),
        "raid_ref": raid_ref,
    }


def escalation_marker(level: str) -> Marker:
    return marker("escalation", level=level)


def raid_marker(project_id: int | str, iid: int | str) -> Marker:
    return marker("raid", project=project_id, iid=iid)


def retro_marker(project_id: int | str, iid: int | str) -> Marker:
    return marker("retro", project=project_id, iid=iid)


@dataclass(frozen=True)
class RaidPlan:
    title: str
    labels: tuple[str, ...]
    context: dict[str, Any]  # raid.md's context without marker and escalation_ref

    def description(self, project_id: int | str, iid: int | str, escalation_ref: str) -> str:
        return render(
            "raid.md",
            marker=raid_marker(project_id, iid).render(),
            escalation_ref=escalation_ref,
            **self.context,
        )


@dataclass(frozen=True)
class EscalationPlan:
    project: ProjectRef
    title: str
    description: str
    labels: tuple[str, ...]
    due_date: date  # the Phase 1 deadline's local date
    phase1_due: datetime  # aware UTC
    marker: Marker
    dri: str
    raid: RaidPlan

    @property
    def pending_raid_line(self) -> str:
        return f"- RAID register: {md(RAID_PENDING)}"


def plan_escalation(
    request: EscalationRequest, policy: Policy, project_ref: ProjectRef
) -> EscalationPlan:
    """Everything `escbot new` will write, computed without GitLab. Call validate() first."""
    groups = policy.labels.groups
    account_type = request.account_type or policy.routing.default_account_type
    now = _local_now(request, policy)
    cal = policy.calendar
    due = cal.add(now, policy.initiation.within)
    one_day = parse_duration("1 business day")
    assert one_day is not None
    milestone_due = cal.local(cal.add(now, one_day)).date().isoformat()
    title = clean_title(request.title)
    customer = " ".join(request.customer.split())

    labels = [
        policy.labels.marker.name,
        groups["level"].label(request.level),
        groups["severity"].label(request.severity),
        groups["type"].label(request.type),
        groups["category"].label(request.category),
        groups["account_type"].label(account_type),
        groups["rag"].label("red") if "red" in groups["rag"].values else None,
        groups["phase"].label("initiation") if "initiation" in groups["phase"].values else None,
    ]
    completed = warranty_until = warranty_note = None
    if request.completed is not None:
        until = request.completed + timedelta(days=policy.warranty.days)
        completed, warranty_until = request.completed.isoformat(), until.isoformat()
        if request.type == WARRANTY_TYPE:
            if now.date() > until:
                warranty_note = (
                    f"outside the {policy.warranty.days}-day warranty window (it ended "
                    f"{warranty_until}); a person must confirm the escalation is covered."
                )
                if OUT_OF_WARRANTY_LABEL in policy.labels.extra:
                    labels.append(OUT_OF_WARRANTY_LABEL)
            else:
                warranty_note = (
                    f"within the {policy.warranty.days}-day warranty window (until "
                    f"{warranty_until}). Confirm the issue is installation-related; warranty "
                    "escalations go to QA first."
                )
    mark = escalation_marker(request.level)
    category = choice(groups["category"], request.category)
    context = escalation_context(
        policy,
        marker_text=mark.render(),
        level=choice(groups["level"], request.level),
        severity=choice(groups["severity"], request.severity),
        type_=choice(groups["type"], request.type),
        category=category,
        account=choice(groups["account_type"], account_type),
        title=title,
        customer=customer,
        dri=request.dri.lstrip("@"),
        opened=local_text(now, policy),
        phase1_due=local_text(due, policy),
        milestone_due=milestone_due,
        trigger_detail=request.trigger_detail or None,
        completed=completed,
        warranty_until=warranty_until,
        warranty_note=warranty_note,
        raid_ref=RAID_PENDING,
    )
    description = render(f"{request.level}.md", **context)
    raid = RaidPlan(
        title=clean_title(f"RAID register: {title}"),
        labels=(RAID_LABEL,) if RAID_LABEL in policy.labels.extra else (),
        context={
            "title": title,
            "customer": customer,
            "dri": request.dri.lstrip("@"),
            "opened": now.date().isoformat(),
            "category": category,
            "trigger_detail": request.trigger_detail or None,
        },
    )
    return EscalationPlan(
        project=project_ref,
        title=title,
        description=description,
        labels=tuple(label for label in labels if label),
        due_date=cal.local(due).date(),
        phase1_due=due.astimezone(UTC),
        marker=mark,
        dri=request.dri.lstrip("@"),
        raid=raid,
    )


# --------------------------------------------------------------------------------------------
# Writing.


@dataclass
class OpenResult:
    plan: EscalationPlan
    escalation: dict[str, Any] | None = None  # GitLab's issue (None in a dry run)
    raid: dict[str, Any] | None = None
    actions: list[str] = field(default_factory=list)  # done, or "Would ..." in a dry run
    existed: bool = False  # the escalation was already open (a rerun)

    @property
    def escalation_url(self) -> str | None:
        return (self.escalation or {}).get("web_url")

    @property
    def raid_url(self) -> str | None:
        return (self.raid or {}).get("web_url")


def rerun_command(request: EscalationRequest) -> str:
    args = ["escbot", "new", "--project", request.project, "--level", request.level]
    args += ["--type", request.type, "--category", request.category]
    args += ["--severity", request.severity, "--title", request.title]
    args += ["--customer", request.customer, "--dri", request.dri]
    if request.account_type:
        args += ["--account-type", request.account_type]
    if request.trigger_detail:
        args += ["--trigger-detail", request.trigger_detail]
    if request.completed:
        args += ["--completed", request.completed.isoformat()]
    return shlex.join(args)


def _labels_of(issue: dict[str, Any]) -> set[str]:
    return {lab if isinstance(lab, str) else lab.get("name", "") for lab in issue.get("labels", [])}


def find_escalation(api: GitLab, project: Any, plan: EscalationPlan) -> dict[str, Any] | None:
    """The open escalation with the plan's title and marker, if a previous run made it."""
    marker_label = plan.labels[0]
    for issue in api.list_issues(("project", project), state="opened", labels=[marker_label]):
        if (
            issue.get("title") == plan.title
            and marker_label in _labels_of(issue)
            and plan.marker in find_markers(issue.get("description"))
        ):
            return issue
    return None


def find_raid(api: GitLab, project: Any, project_id: int, iid: int) -> dict[str, Any] | None:
    """The RAID register whose marker names escalation project_id#iid."""
    wanted = raid_marker(project_id, iid)
    filters: dict[str, Any] = {"state": "all"}
    for issue in api.list_issues(("project", project), labels=[RAID_LABEL], **filters):
        if wanted in find_markers(issue.get("description")):
            return issue
    return None


def _ref(issue: dict[str, Any]) -> str:
    return (issue.get("references") or {}).get("short") or f"#{issue['iid']}"


def open_escalation(
    api: GitLab,
    policy: Policy,
    request: EscalationRequest,
    *,
    dry_run: bool = False,
    progress: Callable[[str], None] | None = None,
) -> OpenResult:
    """Open (or finish opening) the escalation and its RAID register; see the module doc.

    In a dry run only GET requests are made; `actions` says what would be written.
    `progress` is called with each action as it happens.
    """
    validate(request, policy)
    project = api.project(request.project)
    project_ref = api.project_ref(project.id)
    user = api.user(request.dri)
    dri = request.dri.lstrip("@")
    if user is None:
        raise EscbotError(f'--dri: no GitLab user "{dri}"; nothing was created')
    if (
        getattr(project, "visibility", "private") != "public"
        and not user.get("is_admin")
        and api.project_member(project.id, dri) is None
    ):
        raise EscbotError(
            f"--dri: {dri} cannot be assigned in {project_ref.path} (not a member of the project "
            "or its groups); nothing was created",
            hint="add them as a member first",
        )
    plan = plan_escalation(request, policy, project_ref)
    result = OpenResult(plan)

    def note(text: str) -> None:
        result.actions.append(text)
        if progress:
            progress(text)

    scope = ("project", project)
    wanted = list(plan.labels) + list(plan.raid.labels)
    existing = find_escalation(api, project, plan)
    for spec in missing_labels(policy, wanted, api.labels(scope, include_ancestors=True)):
        if not dry_run:
            api.create_label(scope, spec.name, spec.color, spec.description)
        note(f"{'Would create' if dry_run else 'Created'} label {spec.name} ({spec.color})")

    if existing is not None:
        result.escalation, result.existed = existing, True
        note(f"Escalation already open: {_ref(existing)} {existing.get('web_url')}")
    elif dry_run:
        note(
            f'Would create issue "{plan.title}" in {project_ref.path} (labels: '
            f"{', '.join(plan.labels)}; assignee: {plan.dri}; due {plan.due_date.isoformat()})"
        )
    else:
        result.escalation = api.create_issue(
            project_ref.id,
            title=plan.title,
            description=plan.description,
            labels=",".join(plan.labels),
            assignee_ids=[user["id"]],
            due_date=plan.due_date.isoformat(),
        )
        note(f"Created escalation {_ref(result.escalation)} {result.escalation.get('web_url')}")

    if result.escalation is None:  # dry run of a new escalation
        note(
            f'Would create issue "{plan.raid.title}" in {project_ref.path} (labels: '
            f"{', '.join(plan.raid.labels)}; assignee: {plan.dri}) with marker "
            f"{raid_marker(project_ref.id, 'NEW')}"
        )
        note("Would link the escalation and its RAID register (relates to)")
        note("Would edit the escalation's Links to reference the RAID register")
        return result

    esc = result.escalation
    try:
        _finish(api, project, project_ref, plan, result, user, dry_run, note)
    except EscbotError as exc:
        raise EscbotError(
            f"the escalation exists ({esc.get('web_url')}) but finishing it failed: "
            f"{exc.message}. Finish with the same command, which reuses the escalation and "
            f"adds only what is missing: {rerun_command(request)}",
            exit_code=exc.exit_code,
        ) from None
    return result


def _finish(
    api: GitLab,
    project: Any,
    project_ref: ProjectRef,
    plan: EscalationPlan,
    result: OpenResult,
    user: dict[str, Any],
    dry_run: bool,
    note: Callable[[str], None],
) -> None:
    """The RAID register, the link and the Links line, for an escalation that exists."""
    esc = result.escalation
    assert esc is not None
    iid = esc["iid"]
    raid = find_raid(api, project, project_ref.id, iid)
    if raid is not None:
        result.raid = raid
        note(f"RAID register already exists: {_ref(raid)} {raid.get('web_url')}")
    elif dry_run:
        note(
            f'Would create issue "{plan.raid.title}" (labels: {", ".join(plan.raid.labels)}; '
            f"assignee: {plan.dri}) with marker {raid_marker(project_ref.id, iid)}"
        )
    else:
        result.raid = api.create_issue(
            project_ref.id,
            title=plan.raid.title,
            description=plan.raid.description(project_ref.id, iid, _ref(esc)),
            labels=",".join(plan.raid.labels),
            assignee_ids=[user["id"]],
        )
        note(f"Created RAID register {_ref(result.raid)} {result.raid.get('web_url')}")

    raid = result.raid
    if raid is None:  # dry run
        note(f"Would link {_ref(esc)} and the RAID register (relates to)")
        note(f"Would edit {_ref(esc)}: Links -> the RAID register")
        return
    linked = {(i.get("project_id"), i.get("iid")) for i in api.links(project_ref.id, iid)}
    if (raid["project_id"], raid["iid"]) in linked:
        note(f"{_ref(esc)} and {_ref(raid)} are already linked")
    elif dry_run:
        note(f"Would link {_ref(esc)} and {_ref(raid)} (relates to)")
    else:
        api.link(project_ref.id, iid, raid["project_id"], raid["iid"])
        note(f"Linked {_ref(esc)} and {_ref(raid)}")

    description = esc.get("description") or ""
    if plan.pending_raid_line in description:
        if dry_run:
            note(f"Would edit {_ref(esc)}: Links -> RAID register {_ref(raid)}")
        else:
            updated = description.replace(
                plan.pending_raid_line, f"- RAID register: {_ref(raid)}", 1
            )
            result.escalation = api.edit_issue(project_ref.id, iid, description=updated)
            note(f"Edited {_ref(esc)}: Links -> RAID register {_ref(raid)}")


# --------------------------------------------------------------------------------------------
# The scheduled check gives an escalation opened from GitLab's web UI its RAID register too.

# `escbot new` creates the register seconds after the escalation; give it time to finish.
RAID_GRACE = timedelta(minutes=10)


def raid_rule(esc: Escalation, ctx: Context) -> Evaluation:
    """Plan the RAID register for an open escalation that has none (opened from a template)."""
    ev = Evaluation(esc.ref)
    policy = ctx.policy
    cls = classify(esc.labels, policy)
    if (
        esc.state != "opened"
        or cls.level is None
        or esc.raid is not None
        or RAID_LABEL not in policy.labels.extra
        or ctx.now - esc.created_at < RAID_GRACE
    ):
        return ev
    category = cls["category"]
    dri = next((u for u in esc.assignees if u != ctx.bot), None)
    mark = raid_marker(esc.project_id, esc.iid)
    body = render(
        "raid.md",
        marker=mark.render(),
        escalation_ref=f"#{esc.iid}",
        title=esc.title,
        customer=description_field(esc.description, "Customer") or "customer not named",
        dri=dri,
        opened=policy.calendar.local(ctx.now).date().isoformat(),
        category=choice(policy.labels["category"], category)
        if category
        else Choice("", "", "Escalation issue", ""),
        trigger_detail=None,
    )
    ev.actions.append(
        Action(
            "create_raid",
            esc.project_id,
            esc.iid,
            esc.ref,
            f"create the RAID register for {esc.ref} (opened without one) and link it",
            "raid",
            body=body,
            markers=(mark,),
            data={
                "title": clean_title(f"RAID register: {esc.title}"),
                "labels": [RAID_LABEL],
                "assignees": [dri] if dri else [],
            },
        )
    )
    return ev


EXTRA_HANDLERS["create_raid"] = ensure_companion
