"""Triage: what is wrong with each open escalation (and e-mailed intake issue), and the fix.

    result = run_triage(api, scope, policy, now)        # reads like `escbot check`, writes nothing
    outcomes = apply_fixes(api, result)                 # the safe fixes only

Findings come from the same reader and rules as the check (escbot.snapshot, escbot.rules),
so triage and check agree on what is missed. On top of that, triage looks
at the labels themselves (missing, conflicting, unknown values), the DRI and the due date.

A fix is *safe* when escbot can make it without overruling anyone: it only adds labels (a value
the description or the intake rules state unambiguously), assigns the routed PM where nobody is
assigned, sets the Phase 1 due date where none is set, and classifies or flags intake issues.
Fixes never remove a label a person added: conflicting or unknown labels, and anything else
that needs judgement, are listed as "needs a person".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from escbot import description as desc
from escbot import intake
from escbot.check import CheckResult, evaluate_all, guarded
from escbot.executor import Outcome, apply_plan
from escbot.gitlab_io import GitLab
from escbot.model import Classification, Context, Escalation, classify
from escbot.plan import Action, Evaluation
from escbot.policies import LabelGroup, Policy, did_you_mean
from escbot.rules.intake import assign_action
from escbot.rules.visibility import ACCESS_RULE, PUBLIC_RULE, role_name
from escbot.snapshot import read_context, read_portfolio

LABEL_KEYS = ("level", "severity", "type", "category")
PERSON = "person"


@dataclass(frozen=True)
class Problem:
    code: str
    message: str


@dataclass(frozen=True)
class Fix:
    kind: str  # labels | assign | due_date | classify | acknowledge | needs_triage | person
    summary: str
    safe: bool
    actions: tuple[Action, ...] = field(default=(), compare=False)


@dataclass
class IssueReport:
    ref: str
    web_url: str
    problems: list[Problem] = field(default_factory=list)
    fixes: list[Fix] = field(default_factory=list)

    @property
    def safe_actions(self) -> list[Action]:
        return [a for f in self.fixes if f.safe for a in f.actions]

    def to_json(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "web_url": self.web_url,
            "problems": [{"code": p.code, "message": p.message} for p in self.problems],
            "fixes": [{"kind": f.kind, "summary": f.summary, "safe": f.safe} for f in self.fixes],
        }


@dataclass
class TriageResult:
    now: datetime
    reports: list[IssueReport] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def with_problems(self) -> list[IssueReport]:
        return [r for r in self.reports if r.problems]

    @property
    def safe_actions(self) -> list[Action]:
        return [a for r in self.reports for a in r.safe_actions]

    @property
    def exit_code(self) -> int:
        if self.errors:
            return 3
        return 1 if self.with_problems else 0


# --------------------------------------------------------------------------------------------
# Pure: one issue's problems and fixes.


def _labels_fix(esc: Escalation, label: str, why: str) -> Fix:
    action = Action(
        "labels",
        esc.project_id,
        esc.iid,
        esc.ref,
        f"add {label} to {esc.ref}",
        rule="triage",
        add_labels=(label,),
    )
    return Fix("labels", f"add {label} ({why})", True, (action,))


def _person(summary: str) -> Fix:
    return Fix(PERSON, summary, False)


def _by_title(group: LabelGroup, text: str | None) -> str | None:
    """A group value named by a description field ("High", "high", "severity::high")."""
    if not text:
        return None
    wanted = text.strip().strip("*_`").lower()
    for value in group.values.values():
        if wanted in (value.value.lower(), value.title.lower(), value.name.lower()):
            return value.value
    return None


def _choices(group: LabelGroup) -> str:
    if len(group.values) <= 6:
        return "one of " + ", ".join(v.name for v in group.values.values())
    return f"one of the {len(group.values)} {group.prefix}::... values in policies.yml"


def _missing_label_fix(
    key: str, esc: Escalation, cls: Classification, policy: Policy
) -> Fix | None:
    group = policy.labels[key]
    if key == "level":
        if esc.opened_as in group.values:
            return _labels_fix(
                esc, group.label(esc.opened_as), "the description's escalation marker"
            )
        return None
    field_name = {"severity": "Severity", "type": "Type", "category": "Category"}[key]
    stated = _by_title(group, desc.field(esc.description, field_name))
    if stated:
        return _labels_fix(esc, group.label(stated), f"the description's {field_name} line")
    if key == "type" and cls["category"]:
        types = policy.labels["category"].values[cls["category"] or ""].types
        if len(types) == 1:
            return _labels_fix(
                esc, group.label(types[0]), f"category {cls['category']} is a {types[0]} category"
            )
    if key == "category":
        found = intake.classify_intake(esc.title, esc.description, None, policy)
        if found.ok and found.category and (cls.type in (None, found.type)):
            return _labels_fix(
                esc, group.label(found.category), f"intake rule {', '.join(found.rules)}"
            )
    return None


def escalation_problems(esc: Escalation, ev: Evaluation, ctx: Context) -> IssueReport:
    """Problems and fixes of an escalation (it carries the marker label)."""
    policy = ctx.policy
    report = IssueReport(esc.ref, esc.web_url)
    cls = classify(esc.labels, policy)
    problems, fixes = report.problems, report.fixes
    for key in LABEL_KEYS:
        group = policy.labels[key]
        if key in cls.conflicts:
            labels = [group.label(v) for v in cls.conflicts[key]]
            problems.append(
                Problem(f"conflict-{key}", f"conflicting {key} labels: {', '.join(labels)}")
            )
            fixes.append(_person(f"keep one of {', '.join(labels)} (labels a person added)"))
        elif not cls[key]:
            problems.append(Problem(f"missing-{key}", f"no {key} label ({group.prefix}::...)"))
            # With scoped labels, adding a value would drop the unknown one a person added.
            strays = [lab for lab in cls.unknown if group.is_scoped_sibling(lab)]
            if strays:
                continue  # the unknown label's own fix says what to choose
            fix = _missing_label_fix(key, esc, cls, policy)
            if fix is None:
                what = (
                    "no intake rule matches the title or description"
                    if key == "category"
                    else "nothing on the issue states it"
                )
                fix = _person(f"choose {_choices(group)} ({what})")
            fixes.append(fix)
    for key, group in policy.labels.groups.items():
        if key not in LABEL_KEYS and key in cls.conflicts:
            labels = [group.label(v) for v in cls.conflicts[key]]
            problems.append(
                Problem(f"conflict-{key}", f"conflicting {key} labels: {', '.join(labels)}")
            )
            fixes.append(_person(f"keep one of {', '.join(labels)} (labels a person added)"))
    for label in cls.unknown:
        group = next(g for g in policy.labels.groups.values() if g.is_scoped_sibling(label))
        value = label.split("::", 1)[1]
        hint = did_you_mean(value, list(group.values))
        problems.append(
            Problem(
                "unknown-label",
                f"{label} is not a {group.key} in policies.yml" + (f" ({hint})" if hint else ""),
            )
        )
        fixes.append(_person(f"replace {label} (a label a person added) with {_choices(group)}"))
    category, type_ = cls["category"], cls.type
    if category and type_:
        allowed = policy.labels["category"].values[category].types
        if allowed and type_ not in allowed:
            problems.append(
                Problem(
                    "category-type-mismatch",
                    f"category {category} is not a {type_} category ({', '.join(allowed)})",
                )
            )
            fixes.append(_person(f"change the type or the category of {esc.ref}"))

    due = intake.phase1_due(esc, policy)
    due_text = policy.calendar.due_day(due).isoformat()
    if not esc.assignees:
        account = cls["account_type"]
        note = "" if account else f", default account type {policy.routing.default_account_type}"
        pm = intake.routed(policy, account or policy.routing.default_account_type)["pm"]
        problems.append(Problem("no-dri", "no DRI (nobody is assigned)"))
        if pm and "account_type" not in cls.conflicts:
            action = assign_action(esc, policy, assignee=pm, due=None)
            fixes.append(Fix("assign", f"assign @{pm} (routing: PM{note})", True, (action,)))
        else:
            fixes.append(_person("assign a DRI (no routed PM for this account type)"))
    if esc.due_date is None:
        problems.append(Problem("no-due-date", "no due date"))
        action = assign_action(esc, policy, assignee=None, due=due_text)
        fixes.append(Fix("due_date", f"set due date {due_text} (end of Phase 1)", True, (action,)))
    if any(f.rule == PUBLIC_RULE for f in ev.findings):
        problems.append(Problem("public", "not confidential: customers in the project read it"))
        public = tuple(a for a in ev.actions if a.kind == "confidential")
        fixes.append(
            Fix("confidential", "make it confidential", True, public)
            if public
            else _person("make it confidential (policy: visibility.public_escalation warn)")
        )
    _missed(esc, ev, ctx, report)
    return report


def access_reports(escalations: list[Escalation], ctx: Context) -> list[IssueReport]:
    """The access audit: per customer project, every non-staff member who reads confidential
    issues and internal notes (Reporter and above), for whom confidentiality hides nothing."""
    out = []
    seen: set[int] = set()
    for esc in escalations:
        if esc.project_id in seen or esc.readers is None:
            continue
        seen.add(esc.project_id)
        exposed = [m for m in esc.readers if not ctx.is_staff(m.username)]
        if not exposed:
            continue
        report = IssueReport(esc.project_path, esc.web_url.split("/-/", 1)[0])
        for m in exposed:
            report.problems.append(
                Problem(
                    "customer-access",
                    f"{m.username} ({role_name(m.access_level)}) is not staff and reads "
                    "confidential issues and internal notes",
                )
            )
        report.fixes.append(
            _person(
                f"give customers the Guest role in {esc.project_path}, or name them in "
                "visibility.staff"
            )
        )
        out.append(report)
    return out


def _missed(esc: Escalation, ev: Evaluation, ctx: Context, report: IssueReport) -> None:
    cal = ctx.policy.calendar
    updates: list[str] = []
    for f in ev.missed:
        since = f" since {cal.describe(f.due)}" if f.due else ""
        detail = f": {f.detail}" if f.detail else ""
        if f.rule == "initiation":
            report.problems.append(Problem("phase1-overdue", f"Phase 1 overdue{since}{detail}"))
            report.fixes.append(_person("the DRI completes Phase 1 (the check reminds them)"))
        elif f.rule in ("intake", PUBLIC_RULE, ACCESS_RULE):
            continue  # reported as unclassified-intake, not confidential, the access audit
        elif f.rule == "acknowledge":
            report.problems.append(
                Problem("not-acknowledged", f"the sender has not been acknowledged{since}")
            )
        else:
            report.problems.append(Problem(f"missed-{f.rule}", f"{f.title} missed{since}{detail}"))
            updates.append(f.title.lower())
    if updates:
        report.fixes.append(
            _person(f"the DRI posts the missed update(s): {', '.join(updates)} (the check reminds)")
        )


def intake_problems(esc: Escalation, ev: Evaluation, ctx: Context) -> IssueReport:
    """Problems and fixes of an e-mailed issue that is not an escalation yet."""
    policy = ctx.policy
    report = IssueReport(esc.ref, esc.web_url)
    if intake.classified_by_person(esc, policy):
        report.problems.append(
            Problem(
                "intake-partly-classified",
                f'e-mailed issue has classification labels but no "{policy.labels.marker.name}" '
                "label",
            )
        )
        report.fixes.append(
            _person(f'finish the classification and add "{policy.labels.marker.name}"')
        )
        return report
    result = intake.classify_intake(
        esc.title, esc.description, esc.service_desk_reply_to, policy, project=esc.project_path
    )
    mine = [a for a in ev.actions if a.rule == "intake"]
    if result.ok:
        report.problems.append(
            Problem(
                "unclassified-intake",
                f"e-mailed escalation not classified yet (from {esc.service_desk_reply_to or '?'})",
            )
        )
        pm = intake.routed(policy, result.account_type or policy.routing.default_account_type)["pm"]
        report.fixes.append(
            Fix(
                "classify",
                f"classify as {result.type}/{result.category} ({', '.join(result.rules)}), "
                f"account {result.account_type}, assign @{pm}, acknowledge the sender",
                True,
                tuple(mine),
            )
        )
    else:
        report.problems.append(
            Problem("unclassified-intake", f"e-mailed escalation not classified: {result.problem}")
        )
        if mine:
            report.fixes.append(
                Fix(
                    "needs_triage",
                    f"label {policy.process.labels.triage} and note the reason (internal note)",
                    True,
                    tuple(mine),
                )
            )
        report.fixes.append(_person("classify it by hand (type, category) or close it"))
    _missed(esc, ev, ctx, report)
    return report


def triage_issue(esc: Escalation, ev: Evaluation, ctx: Context) -> IssueReport:
    if intake.is_intake(esc, ctx.policy):
        return intake_problems(esc, ev, ctx)
    return escalation_problems(esc, ev, ctx)


# --------------------------------------------------------------------------------------------
# Reading and applying.


def run_triage(api: GitLab, scope: tuple[str, Any], policy: Policy, now: datetime) -> TriageResult:
    result = TriageResult(now=now)
    ctx = read_context(api, policy, now)
    portfolio = read_portfolio(api, scope, policy, now)
    result.errors += [f"{u.ref}: skipped, {u.reason}" for u in portfolio.unreadable]
    checked = CheckResult(now=now)
    evaluate_all(api, [e for e in portfolio.escalations if e.state == "opened"], ctx, checked)
    result.errors += checked.errors
    for esc, ev in zip(checked.escalations, checked.evaluations, strict=True):
        report = guarded(esc.ref, result.errors, triage_issue, esc, ev, ctx)
        if report is not None:
            result.reports.append(report)
    result.reports += access_reports(portfolio.escalations, ctx)
    result.reports.sort(key=lambda r: _sort_key(r.ref))
    return result


def _sort_key(ref: str) -> tuple[str, int]:
    path, _, iid = ref.rpartition("#")
    return (path, int(iid) if iid.isdigit() else 0)


def apply_fixes(api: GitLab, result: TriageResult) -> list[Outcome]:
    """Apply the safe fixes (idempotent: labels diffed, notes by marker, assignee if unset)."""
    return apply_plan(api, result.safe_actions)


__all__ = [
    "Fix",
    "IssueReport",
    "Problem",
    "TriageResult",
    "apply_fixes",
    "run_triage",
    "triage_issue",
]
