"""A plan: what a run would do, as data. Dry run prints it; --apply performs it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from escbot.markers import Marker

ActionKind = Literal[
    "comment",
    "edit_description",
    "due_date",
    "labels",
    "close",
    "reopen",
    "create_retro",
    "create_raid",
    "close_companion",
    "assign",
    "confidential",
    "chat_open",
    "chat_reply",
    "chat_close",
]
# Kinds whose write the customer might read: a note, or an issue escbot creates.
NOTE_KINDS: frozenset[ActionKind] = frozenset({"comment", "close_companion", "chat_open"})
ISSUE_KINDS: frozenset[ActionKind] = frozenset({"create_raid", "create_retro"})


@dataclass(frozen=True, slots=True)
class Action:
    kind: ActionKind
    project_id: int
    iid: int
    ref: str
    summary: str  # "comment on acme/collab#12: status update missed since Tue 09:00"
    rule: str = ""
    body: str = ""
    markers: tuple[Marker, ...] = ()
    add_labels: tuple[str, ...] = ()
    remove_labels: tuple[str, ...] = ()
    # Who a comment is addressed to: mentioned once at its top when comments are composed.
    mentions: tuple[str, ...] = ()
    # For actions on a companion issue (RAID register) or creating one (retrospective).
    data: dict[str, Any] = field(default_factory=dict, compare=False)
    # Only members with Reporter and above read what it writes: an internal note (NOTE_KINDS),
    # a confidential issue (ISSUE_KINDS). Decided from the policy by `rules.evaluate`.
    internal: bool = False

    def describe(self, applied: bool | None = None) -> str:
        verb = {None: "Would", True: "Did", False: "Skipped:"}[applied]
        return f"{verb} {self.summary}"


@dataclass(frozen=True, slots=True)
class Finding:
    """One rule's verdict on one escalation (a requirement, Phase 1, the gate...)."""

    ref: str
    rule: str
    title: str
    missed: bool
    due: datetime | None = None
    met_at: datetime | None = None
    detail: str = ""


@dataclass
class Evaluation:
    ref: str
    findings: list[Finding] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # plain remarks for the plan ("quiet day")
    needs: set[str] = field(
        default_factory=set
    )  # history the rules lacked: "notes", "label_events"

    @property
    def missed(self) -> list[Finding]:
        return [f for f in self.findings if f.missed]
