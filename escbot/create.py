"""Opening an escalation on GitLab: `escbot new`.

    result = open_escalation(api, policy, request)    # both issues, linked; idempotent

Order of writes: the project and the DRI are resolved first, so an unknown one fails before
anything exists; then the labels the two issues use are created with the policy's colours; then
the escalation issue; then its RAID register (whose marker names the escalation, created and
linked by the executor's one companion path); then the escalation's "Links" line is pointed at
the register. A rerun finds the open escalation by its title and marker and only adds what is
missing, so a failure half-way is finished by running the same command again, which the error
message says. The plan itself is pure: escbot.opening.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from escbot.errors import EscbotError
from escbot.executor import ensure_companion
from escbot.gitlab_io import GitLab
from escbot.labels import missing_labels
from escbot.markers import find_markers
from escbot.model import ProjectRef
from escbot.opening import (
    EscalationPlan,
    EscalationRequest,
    plan_escalation,
    raid_marker,
    validate,
)
from escbot.plan import Action
from escbot.policies import Policy


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


def assignable(api: GitLab, project: Any, username: str) -> dict[str, Any]:
    """The GitLab user, if they can be assigned issues of the project; else one line why."""
    name = username.lstrip("@")
    user = api.user(name)
    if user is None:
        raise EscbotError(f'no GitLab user "{name}"')
    if (
        getattr(project, "visibility", "private") != "public"
        and not user.get("is_admin")
        and api.project_member(project.id, name) is None
    ):
        raise EscbotError(
            f"{name} cannot be assigned in {project.path_with_namespace} (not a member of the "
            "project or its groups)",
            hint="add them as a member first",
        )
    return user


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
    """The open escalation with the plan's title and marker, if a previous run made it (the
    first one, should an overlapping run have made a second)."""
    marker_label = plan.labels[0]
    found = [
        issue
        for issue in api.list_issues(("project", project), state="opened", labels=[marker_label])
        if issue.get("title") == plan.title
        and marker_label in _labels_of(issue)
        and plan.marker in find_markers(issue.get("description"))
    ]
    return min(found, key=lambda i: i["iid"]) if found else None


def find_raid(
    api: GitLab, policy: Policy, project: Any, project_id: int, iid: int
) -> dict[str, Any] | None:
    """The RAID register whose marker names escalation project_id#iid."""
    wanted = raid_marker(project_id, iid)
    filters: dict[str, Any] = {"state": "all"}
    label = policy.process.labels.raid_register
    for issue in api.list_issues(("project", project), labels=[label], **filters):
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
    try:
        user = assignable(api, project, request.dri)
    except EscbotError as exc:
        raise EscbotError(f"--dri: {exc.message}; nothing was created", hint=exc.hint) from None
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
            confidential=policy.visibility.confidential,
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
        if not (dry_run or result.existed):
            _keep_first(api, project, plan, result, note)
        _finish(api, policy, project, project_ref, plan, result, dry_run, note)
    except EscbotError as exc:
        raise EscbotError(
            f"the escalation exists ({esc.get('web_url')}) but finishing it failed: "
            f"{exc.message}. Finish with the same command, which reuses the escalation and "
            f"adds only what is missing: {rerun_command(request)}",
            exit_code=exc.exit_code,
        ) from None
    return result


def _keep_first(
    api: GitLab,
    project: Any,
    plan: EscalationPlan,
    result: OpenResult,
    note: Callable[[str], None],
) -> None:
    """Look again after creating: a run not under the lease may have opened the same
    escalation meanwhile; the first one is kept, this run's copy closed as its duplicate."""
    first, mine = find_escalation(api, project, plan), result.escalation
    assert mine is not None
    if first is not None and first["iid"] != mine["iid"]:
        api.add_note(project.id, mine["iid"], f"Duplicate of {_ref(first)}.")
        api.edit_issue(project.id, mine["iid"], state_event="close")
        note(f"Closed {_ref(mine)}: an overlapping run opened {_ref(first)} first")
        result.escalation, result.existed = first, True


def _finish(
    api: GitLab,
    policy: Policy,
    project: Any,
    project_ref: ProjectRef,
    plan: EscalationPlan,
    result: OpenResult,
    dry_run: bool,
    note: Callable[[str], None],
) -> None:
    """The RAID register (created and linked the one way every companion is), and the Links
    line, for an escalation that exists."""
    esc = result.escalation
    assert esc is not None
    iid = esc["iid"]
    if dry_run:
        raid = find_raid(api, policy, project, project_ref.id, iid)
        if raid is None:
            note(
                f'Would create issue "{plan.raid.title}" (labels: {", ".join(plan.raid.labels)}; '
                f"assignee: {plan.dri}) with marker {raid_marker(project_ref.id, iid)}"
            )
            note(f"Would link {_ref(esc)} and the RAID register (relates to)")
            note(f"Would edit {_ref(esc)}: Links -> the RAID register")
            return
        result.raid = raid
        note(f"RAID register already exists: {_ref(raid)} {raid.get('web_url')}")
        linked = {(i.get("project_id"), i.get("iid")) for i in api.links(project_ref.id, iid)}
        if (raid["project_id"], raid["iid"]) in linked:
            note(f"{_ref(esc)} and {_ref(raid)} are already linked")
        else:
            note(f"Would link {_ref(esc)} and {_ref(raid)} (relates to)")
        if plan.pending_raid_line in (esc.get("description") or ""):
            note(f"Would edit {_ref(esc)}: Links -> RAID register {_ref(raid)}")
        return
    made = ensure_companion(api, raid_action(policy, plan, project_ref, esc))
    raid = result.raid = made.issue
    if made.created:
        note(f"Created RAID register {_ref(raid)} {raid.get('web_url')}")
    else:
        note(f"RAID register already exists: {_ref(raid)} {raid.get('web_url')}")
    note(
        f"Linked {_ref(esc)} and {_ref(raid)}"
        if made.linked
        else f"{_ref(esc)} and {_ref(raid)} are already linked"
    )
    if made.named:
        note(f"Edited {_ref(esc)}: Links -> RAID register {_ref(raid)}")


def raid_action(
    policy: Policy, plan: EscalationPlan, project_ref: ProjectRef, esc: dict[str, Any]
) -> Action:
    iid = esc["iid"]
    return Action(
        "create_raid",
        project_ref.id,
        iid,
        f"{project_ref.path}#{iid}",
        f"create the RAID register for {project_ref.path}#{iid} and link it",
        "new",
        body=plan.raid.description(project_ref.id, iid, _ref(esc)),
        markers=(raid_marker(project_ref.id, iid),),
        data={
            "title": plan.raid.title,
            "labels": list(plan.raid.labels),
            "assignees": [plan.dri],
            "links_line": plan.pending_raid_line,
        },
        internal=policy.visibility.confidential,
    )
