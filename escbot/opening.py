"""What an escalation is when it opens, computed without GitLab (pure).

    request = EscalationRequest(project="acme/portal", level="sev1", type="customer",
                                category="install-issue", severity="high", title="...",
                                customer="Acme Logistics", dri="pm.one")
    validate(request, policy)                         # EscbotError naming the valid values
    plan = plan_escalation(request, policy, project)  # title, description, labels, due date, RAID

`escbot.create` writes a plan to GitLab; e-mail intake and the templates export use the same
labels, context and markers from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from escbot.durations import parse_duration
from escbot.errors import EscbotError
from escbot.markers import Marker, marker
from escbot.model import ProjectRef
from escbot.policies import LabelGroup, Policy
from escbot.render import md, mention, render

RAID_PENDING = "(being created by escbot; if this line stays, rerun the same escbot new command)"
RAID_TEMPLATE_PLACEHOLDER = "(the RAID register issue: link it here)"  # the web UI templates
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


def needs_trigger_detail(policy: Policy, level: str | None) -> bool:
    """Whether the level's issue states the figure that fired the trigger ("17 days behind")."""
    spec = policy.process.level(level)
    return bool(spec and spec.trigger_detail)


def is_warranty(policy: Policy, type_: str | None) -> bool:
    """Whether escalations of this type carry a completion date and the warranty window."""
    return type_ is not None and type_ == policy.process.warranty_type


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
    if needs_trigger_detail(policy, request.level) and not (request.trigger_detail or "").strip():
        problems.append(
            f"--trigger-detail: required for {request.level} (the figure that fired the "
            'trigger, e.g. "17 days behind" or "12% over budget")'
        )
    if is_warranty(policy, request.type):
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
    """A local date and time; a deadline at 00:00 is the end of the day before (24:00)."""
    local = moment.astimezone(policy.tz)
    if local.time() == datetime.min.time():
        return f"{policy.calendar.due_day(moment).isoformat()} 24:00 {local.tzname()}"
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


def escalation_labels(
    policy: Policy,
    *,
    level: str,
    severity: str,
    type_: str,
    category: str,
    account_type: str,
) -> tuple[str, ...]:
    """The labels an escalation opens with: the marker, its classification, the opening RAG
    and phase of the process."""
    groups = policy.labels.groups
    process = policy.process
    labels = [
        policy.labels.marker.name,
        groups["level"].label(level),
        groups["severity"].label(severity),
        groups["type"].label(type_),
        groups["category"].label(category),
        groups["account_type"].label(account_type),
        groups["rag"].label(process.opening_rag) if process.opening_rag else None,
        groups["phase"].label(process.opening_phase) if process.opening_phase else None,
    ]
    return tuple(label for label in labels if label)


@dataclass(frozen=True)
class RaidPlan:
    title: str
    labels: tuple[str, ...]
    context: dict[str, Any]  # raid.md's context without marker and escalation_ref
    template_dirs: tuple[str, ...] = ()  # the policy's own templates folder, if any

    def description(self, project_id: int | str, iid: int | str, escalation_ref: str) -> str:
        return render(
            "raid.md",
            dirs=self.template_dirs,
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
        return raid_line(md(RAID_PENDING))


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

    labels = list(
        escalation_labels(
            policy,
            level=request.level,
            severity=request.severity,
            type_=request.type,
            category=request.category,
            account_type=account_type,
        )
    )
    completed = warranty_until = warranty_note = None
    if request.completed is not None:
        until = request.completed + timedelta(days=policy.warranty.days)
        completed, warranty_until = request.completed.isoformat(), until.isoformat()
        if is_warranty(policy, request.type):
            if now.date() > until:
                warranty_note = (
                    f"outside the {policy.warranty.days}-day warranty window (it ended "
                    f"{warranty_until}); a person must confirm the escalation is covered."
                )
                labels.append(policy.process.labels.out_of_warranty)
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
    description = policy.render(policy.process.levels[request.level].template, **context)
    raid = RaidPlan(
        title=clean_title(f"RAID register: {title}"),
        labels=(policy.process.labels.raid_register,),
        context={
            "title": title,
            "customer": customer,
            "dri": request.dri.lstrip("@"),
            "opened": now.date().isoformat(),
            "category": category,
            "trigger_detail": request.trigger_detail or None,
        },
        template_dirs=policy.process.template_dirs,
    )
    return EscalationPlan(
        project=project_ref,
        title=title,
        description=description,
        labels=tuple(labels),
        due_date=cal.due_day(due),
        phase1_due=due.astimezone(UTC),
        marker=mark,
        dri=request.dri.lstrip("@"),
        raid=raid,
    )


def raid_line(ref: str) -> str:
    """The escalation's "Links" line for its RAID register."""
    return f"- RAID register: {ref}"


def pending_raid_line(description: str) -> str | None:
    """The Links line still waiting for the RAID register's reference, if the description has
    one: `escbot new` cut short, or an escalation opened from a web template."""
    for text in (RAID_PENDING, RAID_TEMPLATE_PLACEHOLDER):
        line = raid_line(md(text))
        if line in description:
            return line
    return None
