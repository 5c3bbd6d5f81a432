"""Plain snapshots of what GitLab holds, so the rules never see python-gitlab objects."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from escbot.businesstime import parse_gitlab_time
from escbot.markers import Marker, find_markers
from escbot.policies import Policy, Requirement


@dataclass(frozen=True, slots=True)
class Note:
    id: int
    body: str
    author: str
    created_at: datetime
    system: bool = False
    # A fact escbot's memory holds of an older comment (escbot.memory): its markers or command
    # lines as the body, and the requirements (level.key) it met, since its text is not kept.
    recalled: bool = False
    meets: frozenset[str] = frozenset()

    @classmethod
    def from_gitlab(cls, data: dict[str, Any]) -> Note:
        return cls(
            id=data["id"],
            body=data.get("body") or "",
            author=sys.intern((data.get("author") or {}).get("username", "")),
            created_at=parse_gitlab_time(data["created_at"]),
            system=bool(data.get("system")),
        )

    @property
    def markers(self) -> list[Marker]:
        return find_markers(self.body)

    def satisfies(self, req: Requirement) -> bool:
        """Whether its words meet the requirement (a recalled comment: whether it did)."""
        return req.ident in self.meets if self.recalled else req.matches(self.body)

    def markers_only(self) -> Note:
        return replace(self, body="\n".join(m.render() for m in self.markers))

    def recalled_with(self, other: Note) -> Note:
        """Two recalled facts of one comment, as one note."""
        body = "\n".join(b for b in (self.body, other.body) if b)
        return replace(self, body=body, meets=self.meets | other.meets)


@dataclass(frozen=True, slots=True)
class LabelEvent:
    created_at: datetime
    label: str
    action: str  # "add" | "remove"
    user: str

    @classmethod
    def from_gitlab(cls, data: dict[str, Any]) -> LabelEvent:
        return cls(
            created_at=parse_gitlab_time(data["created_at"]),
            label=((data.get("label") or {}).get("name")) or "",
            action=data.get("action", ""),
            user=(data.get("user") or {}).get("username", ""),
        )


@dataclass(frozen=True, slots=True)
class Companion:
    """A RAID register or retrospective issue that belongs to an escalation."""

    project_id: int
    iid: int
    state: str
    created_at: datetime
    updated_at: datetime
    web_url: str
    reference: str

    @classmethod
    def of(cls, issue: Escalation) -> Companion:
        """The companion an issue is, read as an Escalation (Escalation.companion_of)."""
        return cls(
            project_id=issue.project_id,
            iid=issue.iid,
            state=issue.state,
            created_at=issue.created_at,
            updated_at=issue.updated_at,
            web_url=issue.web_url,
            reference=issue.ref,
        )


def _date(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text[:10]) if text else None
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class Member:
    """A member of a project (direct or inherited) and their GitLab access level."""

    username: str
    access_level: int


@dataclass(frozen=True, slots=True)
class ChatThread:
    """The escalation's Slack thread as read this run."""

    channel: str  # the channel's ID
    ts: str  # the thread's first message
    pinned: bool
    replies: tuple[Note, ...]  # people's replies, as comments (they meet requirements too)
    mirrored: frozenset[Marker]  # the markers of escbot's replies (from message metadata)


@dataclass(frozen=True, slots=True)
class Escalation:
    project_id: int
    project_path: str
    iid: int
    title: str
    description: str
    state: str
    labels: tuple[str, ...]
    assignees: tuple[str, ...]
    author: str
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    due_date: date | None
    web_url: str
    user_notes_count: int = 0
    service_desk_reply_to: str | None = None
    # The GitLab milestone the escalation tracks (a project milestone, not escbot's deadlines).
    milestone_title: str | None = None
    milestone_due: date | None = None
    confidential: bool = False
    # Members of its project who read confidential issues (Reporter and above); None: not read.
    readers: tuple[Member, ...] | None = None
    # Activity, as far as it was read: notes_since None means the whole history is here.
    notes: tuple[Note, ...] = ()
    notes_since: datetime | None = None
    # Set when escbot's memory (escbot.memory) recalled the facts older than notes_since.
    memory_as_of: datetime | None = None
    label_events: tuple[LabelEvent, ...] | None = None
    raid: Companion | None = None
    retro: Companion | None = None
    links: frozenset[tuple[int, int]] | None = None  # (project id, iid) of linked issues
    thread: ChatThread | None = None  # its Slack thread, when recorded and readable this run
    # group/project#iid, made once: every finding and action of the escalation shares it.
    ref: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "ref", f"{self.project_path}#{self.iid}")

    @property
    def key(self) -> tuple[int, int]:
        return (self.project_id, self.iid)

    @property
    def description_markers(self) -> list[Marker]:
        return find_markers(self.description)

    def companion_of(self, kind: str) -> tuple[int, int] | None:
        """The escalation (project id, iid) whose companion of `kind` ("raid", "retro") the
        description's marker says this issue is."""
        for m in self.description_markers:
            project, iid = m.get("project") or "", m.get("iid") or ""
            if m.kind == kind and project.isdigit() and iid.isdigit():
                return int(project), int(iid)
        return None

    @property
    def thread_ref(self) -> tuple[str, str] | None:
        """(channel ID, ts) of the Slack thread the description's marker records."""
        for m in self.description_markers:
            channel, ts = m.get("channel"), m.get("ts")
            if m.kind == "chat-thread" and channel and ts:
                return channel, ts
        return None

    @property
    def opened_as(self) -> str | None:
        """The level the description's escalation marker says it was opened at."""
        return next(
            (m.get("level") for m in self.description_markers if m.kind == "escalation"), None
        )

    @property
    def history_known(self) -> bool:
        """Whether the notes hold every fact the rules use: the whole thread was read, or
        escbot's memory recalled what came before the read."""
        return self.notes_since is None or self.memory_as_of is not None

    @property
    def posted_markers(self) -> list[Marker]:
        """escbot's markers in the comments read so far (system notes never carry them)."""
        return [m for n in self.notes if not n.system for m in n.markers]

    def has_posted(self, wanted: Marker) -> bool:
        return wanted in self.posted_markers

    def with_activity(self, **changes: Any) -> Escalation:
        return replace(self, **changes)

    @classmethod
    def from_gitlab(cls, data: dict[str, Any]) -> Escalation:
        refs = data.get("references") or {}
        full = refs.get("full") or f"#{data['iid']}"
        project_path = full.rsplit("#", 1)[0] if "#" in full else str(data["project_id"])
        due = data.get("due_date")
        closed = data.get("closed_at")
        milestone = data.get("milestone") or {}
        return cls(
            project_id=data["project_id"],
            project_path=project_path,
            iid=data["iid"],
            title=data.get("title") or "",
            description=data.get("description") or "",
            state=data.get("state") or "opened",
            # A portfolio has few labels and people: one string each, not one per issue.
            labels=tuple(
                sys.intern(lab if isinstance(lab, str) else lab.get("name", ""))
                for lab in data.get("labels") or ()
            ),
            assignees=tuple(sys.intern(a["username"]) for a in data.get("assignees") or ()),
            author=sys.intern((data.get("author") or {}).get("username", "")),
            created_at=parse_gitlab_time(data["created_at"]),
            updated_at=parse_gitlab_time(data["updated_at"]),
            closed_at=parse_gitlab_time(closed) if closed else None,
            due_date=_date(due),
            web_url=data.get("web_url") or "",
            user_notes_count=data.get("user_notes_count") or 0,
            service_desk_reply_to=data.get("service_desk_reply_to"),
            milestone_title=milestone.get("title"),
            milestone_due=_date(milestone.get("due_date")),
            confidential=bool(data.get("confidential")),
        )


@dataclass(frozen=True, slots=True)
class ProjectRef:
    id: int
    path: str  # path_with_namespace
    web_url: str


@dataclass(frozen=True, slots=True)
class Unreadable:
    """An escalation (or a whole project's) that could not be read: reported, never evaluated."""

    ref: str
    reason: str

    def __str__(self) -> str:
        return f"{self.ref}: {self.reason}"


@dataclass(frozen=True, slots=True)
class Context:
    """What every rule is evaluated against besides the snapshot."""

    policy: Policy
    now: datetime
    bot: str  # the bot's GitLab username: its notes never satisfy a requirement
    # Usernames the policy counts as staff (visibility.staff, resolved); None: none declared.
    staff: frozenset[str] | None = None
    # Ladder and routing users GitLab does not know, or who cannot see the projects: named in
    # one warning per run, never mentioned.
    muted: frozenset[str] = frozenset()
    # Usernames of talkback.pmo (its groups resolved): they may snooze past the policy maximum.
    pmo: frozenset[str] = frozenset()

    def is_human(self, note: Note) -> bool:
        return not note.system and note.author != self.bot

    def is_staff(self, username: str) -> bool:
        """Staff, or anyone when the policy names no staff; never the Service Desk author (a
        customer's e-mailed reply)."""
        if username == self.policy.intake.author:
            return False
        return self.staff is None or username in self.staff or username == self.bot

    def counts(self, note: Note) -> bool:
        """A note that can meet a requirement: by a person on the staff, public or internal."""
        return self.is_human(note) and self.is_staff(note.author)


@dataclass(frozen=True, slots=True)
class Classification:
    """What an escalation's labels say, and what is wrong with them."""

    values: dict[str, str | None]
    conflicts: dict[str, tuple[str, ...]]
    unknown: tuple[str, ...]

    def __getitem__(self, key: str) -> str | None:
        return self.values.get(key)

    @property
    def level(self) -> str | None:
        return self.values.get("level")

    @property
    def type(self) -> str | None:
        return self.values.get("type")


# Every rule classifies each escalation it sees, and a portfolio has few label sets: one verdict
# per label set and policy (`Labels` by identity: it is not hashable), never changed by callers.
_CLASSIFIED: dict[tuple[int, tuple[str, ...]], tuple[object, Classification]] = {}


def classify(labels: tuple[str, ...] | list[str], policy: Policy) -> Classification:
    key = (id(policy.labels), tuple(labels))
    hit = _CLASSIFIED.get(key)
    if hit is not None and hit[0] is policy.labels:
        return hit[1]
    if len(_CLASSIFIED) >= 4096:
        _CLASSIFIED.clear()
    found = _classify(labels, policy)
    _CLASSIFIED[key] = (policy.labels, found)
    return found


def _classify(labels: tuple[str, ...] | list[str], policy: Policy) -> Classification:
    values: dict[str, str | None] = {}
    conflicts: dict[str, tuple[str, ...]] = {}
    unknown: list[str] = []
    for key, group in policy.labels.groups.items():
        found = [v for v in (group.value_of(lab) for lab in labels) if v]
        strays = [lab for lab in labels if group.is_scoped_sibling(lab) and not group.value_of(lab)]
        unknown += strays
        if len(found) > 1:
            conflicts[key] = tuple(found)
        # With a conflict, no value is trusted: the rules must not guess.
        values[key] = found[0] if len(found) == 1 else None
    return Classification(values, conflicts, tuple(unknown))
