"""The label taxonomy on GitLab: a pure difference between what policies.yml wants and what a
project or group has, and applying it.

`diff_labels` never talks to GitLab; `sync_labels` reads once and writes only what differs, so a
second run has nothing to do. `ensure_labels` is the small version `escbot new` uses: it creates
the labels an issue is about to carry, with the policy's colours (GitLab would auto-create them
grey), and leaves existing ones alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from escbot.gitlab_io import GitLab
from escbot.policies import LabelSpec, Policy

CREATE = "create"
UPDATE = "update"
UNCHANGED = "unchanged"


@dataclass(frozen=True)
class LabelChange:
    action: str  # create | update | unchanged
    spec: LabelSpec
    label_id: int | None = None  # the existing label (update / unchanged)
    # attribute -> (current, wanted), for updates: "color" and/or "description"
    changes: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.spec.name

    def describe(self, *, applied: bool) -> str:
        """One line: "Would create label escalation::sev1 (#d9534f)" / "Created ..."."""
        if self.action == CREATE:
            verb = "Created" if applied else "Would create"
            return f"{verb} label {self.name} ({self.spec.color})"
        if self.action == UPDATE:
            verb = "Updated" if applied else "Would update"
            parts = []
            for attr, (old, new) in self.changes.items():
                if attr == "color":
                    parts.append(f"colour {old} -> {new}")
                else:
                    parts.append(f'description "{old}" -> "{new}"')
            return f"{verb} label {self.name}: " + ", ".join(parts)
        return f"Label {self.name} is up to date"


def _same_color(a: str | None, b: str | None) -> bool:
    return (a or "").strip().lower() == (b or "").strip().lower()


def _same_text(a: str | None, b: str | None) -> bool:
    return (a or "").strip() == (b or "").strip()


def diff_labels(
    wanted: Iterable[LabelSpec], existing: Iterable[dict[str, Any]]
) -> list[LabelChange]:
    """What to do so that every wanted label exists with its colour and description.

    Pure: `existing` is GitLab's label list (dicts with id, name, color, description). Labels
    escbot does not declare are never touched. Names compare exactly (GitLab label names are
    case-sensitive); colours compare case-insensitively.
    """
    by_name = {label["name"]: label for label in existing}
    out: list[LabelChange] = []
    seen: set[str] = set()
    for spec in wanted:
        if spec.name in seen:
            continue
        seen.add(spec.name)
        current = by_name.get(spec.name)
        if current is None:
            out.append(LabelChange(CREATE, spec))
            continue
        changes: dict[str, tuple[str, str]] = {}
        if not _same_color(current.get("color"), spec.color):
            changes["color"] = (current.get("color") or "", spec.color)
        if not _same_text(current.get("description"), spec.description):
            changes["description"] = (current.get("description") or "", spec.description)
        out.append(LabelChange(UPDATE if changes else UNCHANGED, spec, current.get("id"), changes))
    return out


def apply_changes(api: GitLab, scope: tuple[str, Any], changes: Iterable[LabelChange]) -> None:
    for change in changes:
        if change.action == CREATE:
            api.create_label(scope, change.spec.name, change.spec.color, change.spec.description)
        elif change.action == UPDATE and change.label_id is not None:
            attrs = {attr: wanted for attr, (_old, wanted) in change.changes.items()}
            api.update_label(scope, change.label_id, **attrs)


def sync_labels(
    api: GitLab, scope: tuple[str, Any], policy: Policy, *, apply: bool
) -> list[LabelChange]:
    """The difference between the policy's labels and the scope's; applied when `apply`."""
    changes = diff_labels(policy.labels.all_specs(), api.labels(scope))
    if apply:
        apply_changes(api, scope, changes)
    return changes


def spec_for(policy: Policy, name: str) -> LabelSpec | None:
    for spec in policy.labels.all_specs():
        if spec.name == name:
            return spec
    return None


def missing_labels(
    policy: Policy, names: Iterable[str], existing: Iterable[dict[str, Any]]
) -> list[LabelSpec]:
    """The policy labels among `names` that `existing` lacks (pure)."""
    have = {label["name"] for label in existing}
    out = []
    for name in dict.fromkeys(names):
        spec = spec_for(policy, name)
        if spec is not None and name not in have:
            out.append(spec)
    return out


def ensure_labels(
    api: GitLab, scope: tuple[str, Any], policy: Policy, names: Iterable[str]
) -> list[LabelSpec]:
    """Create the policy labels among `names` that the scope lacks; returns those created."""
    todo = missing_labels(policy, names, api.labels(scope, include_ancestors=True))
    for spec in todo:
        api.create_label(scope, spec.name, spec.color, spec.description)
    return todo
