"""GitLab issue templates (.gitlab/issue_templates/*.md) from the same Jinja templates.

A PM who opens an escalation from GitLab's web UI picks "Escalation-Sev1-Customer" (say), fills
in the (brackets) and submits; the quick actions at the end set the same labels `escbot new`
sets, assign the PM and set the due date. The marker line and the headings are the ones
`escbot new` writes, so the check run treats both alike.

Quick actions only run when an issue is created in the UI (or through the API on GitLab, not in
the sandbox); `quick_action_labels()` reads the labels they name, for tests and for tools.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from escbot.errors import EscbotError
from escbot.markers import marker
from escbot.opening import (
    RAID_TEMPLATE_PLACEHOLDER,
    Choice,
    choice,
    escalation_context,
    escalation_marker,
    is_warranty,
)
from escbot.policies import LabelGroup, Policy

ISSUE_TEMPLATES = Path(".gitlab") / "issue_templates"
# Levels exported as one template with a default type (the label can be changed before submit);
# every other level gets one template per type.
# level -> (type, default category).
SINGLE_TYPE_LEVELS = {"sev2": ("internal", "timeline")}
DEFAULT_SEVERITY = "high"
_QUICK_LABEL = re.compile(r'~"([^"]+)"|~([^\s"~]+)')


@dataclass(frozen=True)
class IssueTemplate:
    filename: str  # e.g. Escalation-Sev1-Customer.md
    body: str
    labels: tuple[str, ...]  # the labels its quick actions set


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")


def _placeholder(group: LabelGroup) -> Choice:
    return Choice("", "", f"set by the {group.prefix}:: label", "")


def _quick(label: str) -> str:
    return f'~"{label}"'


def _assign_and_hide(policy: Policy) -> list[str]:
    """Assign the author; confidential like the issues `escbot new` creates (policy)."""
    return ["/assign me", *(["/confidential"] if policy.visibility.confidential else [])]


def _quick_actions(
    fixed: list[str], pick: list[tuple[LabelGroup, str, list[str]]], due: bool, policy: Policy
) -> tuple[str, list[str]]:
    """The quick-action block and the labels it sets; `pick` lines are one value each."""
    lines = ["/label " + " ".join(_quick(label) for label in fixed)]
    labels = list(fixed)
    notes = []
    for group, default, valid in pick:
        label = group.label(default)
        lines.append(f"/label {_quick(label)}")
        labels.append(label)
        notes.append(f"{group.key.replace('_', ' ')}: {', '.join(valid)}")
    lines += _assign_and_hide(policy)
    if due:
        lines.append("/due in 1 day")
    comment = ""
    if notes:
        comment = (
            "<!-- Before you submit: keep one value per line below and change it if needed "
            "(" + "; ".join(notes) + "). -->\n"
        )
    return comment + "\n".join(lines) + "\n", labels


def escalation_templates(policy: Policy) -> list[IssueTemplate]:
    groups = policy.labels.groups
    levels, types = groups["level"], groups["type"]
    categories = groups["category"]
    out = []
    for level in levels.values:
        single = SINGLE_TYPE_LEVELS.get(level)
        if single and single[0] in types.values:
            variants = [(single[0], False)]
        else:
            variants = [(t, True) for t in types.values]
        for type_, per_type in variants:
            valid_categories = [
                c for c, v in categories.values.items() if not v.types or type_ in v.types
            ]
            if not per_type and single and single[1] in valid_categories:
                valid_categories.remove(single[1])
                valid_categories.insert(0, single[1])
            severity_default = (
                DEFAULT_SEVERITY if DEFAULT_SEVERITY in groups["severity"].values else None
            ) or next(iter(groups["severity"].values))
            account_default = policy.routing.default_account_type
            warranty = is_warranty(policy, type_)
            context = escalation_context(
                policy,
                marker_text=escalation_marker(level).render(),
                level=choice(levels, level),
                severity=_placeholder(groups["severity"]),
                type_=choice(types, type_) if per_type else _placeholder(types),
                category=_placeholder(categories),
                account=_placeholder(groups["account_type"]),
                title="(title)",
                customer="(customer name)",
                dri=None,
                opened="(the date this issue was opened)",
                phase1_due="1 business day after opening; see the due date",
                milestone_due="(YYYY-MM-DD)",
                trigger_detail=None,
                completed="(YYYY-MM-DD)" if warranty else None,
                warranty_until=(
                    f"(completion date + {policy.warranty.days} days)" if warranty else None
                ),
                warranty_note=(
                    f"check that the issue is installation-related and within the "
                    f"{policy.warranty.days}-day warranty window; warranty escalations go to QA "
                    "first."
                )
                if warranty
                else None,
                raid_ref=RAID_TEMPLATE_PLACEHOLDER,
                is_template=True,
            )
            fixed = [policy.labels.marker.name, levels.label(level)]
            if per_type:
                fixed.append(types.label(type_))
            opening = (("rag", policy.process.opening_rag), ("phase", policy.process.opening_phase))
            fixed += [groups[key].label(value) for key, value in opening if value]
            pick = [(groups["severity"], severity_default, list(groups["severity"].values))]
            if not per_type:
                pick.append((types, type_, list(types.values)))
            pick.append((categories, valid_categories[0], valid_categories))
            pick.append(
                (groups["account_type"], account_default, list(groups["account_type"].values))
            )
            actions, labels = _quick_actions(fixed, pick, due=True, policy=policy)
            template = policy.process.levels[level].template
            body = policy.render(template, **context).rstrip("\n") + "\n\n" + actions
            name = f"Escalation-{_slug(levels.values[level].title)}"
            if per_type:
                name += f"-{_slug(types.values[type_].title)}"
            out.append(IssueTemplate(name + ".md", body, tuple(labels)))
    return out


def raid_template(policy: Policy) -> IssueTemplate:
    placeholder = Choice("", "", "(the escalation's category)", "")
    body = policy.render(
        "raid.md",
        marker=marker("raid", project="PROJECT_ID", iid="ESCALATION_IID").render(),
        escalation_ref="#ESCALATION_IID",
        title="(escalation title)",
        customer="(customer name)",
        dri=None,
        opened="(YYYY-MM-DD)",
        category=placeholder,
        trigger_detail=None,
    ).rstrip("\n")
    labels = [policy.process.labels.raid_register]
    note = (
        "<!-- Before you submit: in the first line and above, replace PROJECT_ID with the "
        "escalation's project id and ESCALATION_IID with its issue number; after creating, "
        "relate this issue to the escalation (Linked items). -->\n"
    )
    lines = ["/label " + " ".join(_quick(label) for label in labels)] if labels else []
    actions = note + "\n".join([*lines, *_assign_and_hide(policy)]) + "\n"
    return IssueTemplate("RAID-register.md", body + "\n\n" + actions, tuple(labels))


def issue_templates(policy: Policy) -> list[IssueTemplate]:
    return [*escalation_templates(policy), raid_template(policy)]


def export_templates(policy: Policy, directory: str | Path) -> list[Path]:
    """Write DIR/.gitlab/issue_templates/*.md; returns the paths written."""
    target = Path(directory) / ISSUE_TEMPLATES
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EscbotError(f"cannot create {target}: {exc.strerror}") from None
    written = []
    for template in issue_templates(policy):
        path = target / template.filename
        try:
            path.write_text(template.body, encoding="utf-8")
        except OSError as exc:
            raise EscbotError(f"cannot write {path}: {exc.strerror}") from None
        written.append(path)
    return written


def strip_quick_actions(body: str) -> str:
    """The body without its quick-action lines (what GitLab stores after running them)."""
    return "\n".join(line for line in body.splitlines() if not line.startswith("/")) + "\n"


def quick_action_labels(body: str) -> list[str]:
    """The labels the body's /label quick actions set, in order."""
    out: list[str] = []
    for line in body.splitlines():
        if line.startswith("/label "):
            for quoted, bare in _QUICK_LABEL.findall(line):
                out.append(quoted or bare)
    return out
