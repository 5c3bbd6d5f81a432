"""policies.yml: the schema, declared once with its defaults, and the loader that validates it.

Errors name the file, the line and the key path, and say what was expected:
    policies.yml:14: requirements.sev1.status_update.every: expected a duration such as
    "1 business day" or "48h", got "daily-ish"
Unknown keys are warnings that name the nearest valid key.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, time
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from escbot.businesstime import BusinessCalendar
from escbot.durations import Duration, parse_duration
from escbot.errors import EscbotError

SUPPORTED_VERSION = 1
# How a requirement is met; each name is a kind in escbot.requirements (a test keeps them equal).
REQUIREMENT_KINDS = ("note", "raid_edit")
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
# Ladder roles resolved per escalation rather than from `ladder.roles`.
DYNAMIC_ROLES = {"dri", "pm", "qa", "team_manager"}

DEFAULT_CLOSE_OUT_ITEMS = {
    "resolution": "Final resolution documented",
    "signoff": "Customer sign-off obtained",
    "lessons": "Lessons learned captured in the retrospective issue",
    "improvements": "Process improvements implemented and documented",
    "pmo": "Learnings shared with the PMO team",
    "artifacts": "Project artifacts updated with final changes",
    "financials": "Financial impact reconciled",
    "unpin": "Escalation thread unpinned in #ps-project-leadership",
}

# Where a word of an e-mail was found, and how much it counts there (intake.zones): the subject
# and the new text decide; quoted replies barely count, a forwarded mail a bit more when the new
# text says little ("see below").
DEFAULT_ZONES = {"subject": 1.0, "new": 1.0, "quoted": 0.2, "forwarded": 0.7}

Path_ = tuple[str | int, ...]


class PolicyError(EscbotError):
    """A policies.yml problem; exit code 2."""


# --------------------------------------------------------------------------------------------
# The policy, as the rest of escbot sees it.


@dataclass(frozen=True)
class LabelSpec:
    name: str
    color: str
    description: str = ""


@dataclass(frozen=True)
class LabelValue:
    value: str
    name: str  # the full label, "prefix::value"
    color: str
    description: str
    title: str
    types: tuple[str, ...] = ()


@dataclass(frozen=True)
class LabelGroup:
    key: str  # level, severity, type, category, rag, phase, account_type
    prefix: str
    values: dict[str, LabelValue]

    def label(self, value: str) -> str:
        return self.values[value].name

    def value_of(self, label: str) -> str | None:
        prefix = self.prefix + "::"
        if label.startswith(prefix) and label[len(prefix) :] in self.values:
            return label[len(prefix) :]
        return None

    def is_scoped_sibling(self, label: str) -> bool:
        """True for any label in this group's scope, known value or not."""
        return label.startswith(self.prefix + "::") and "::" not in label[len(self.prefix) + 2 :]


@dataclass(frozen=True)
class Labels:
    marker: LabelSpec
    groups: dict[str, LabelGroup]
    extra: dict[str, LabelSpec]

    def all_specs(self) -> list[LabelSpec]:
        specs = [self.marker]
        for group in self.groups.values():
            specs += [LabelSpec(v.name, v.color, v.description) for v in group.values.values()]
        return specs + list(self.extra.values())

    def __getitem__(self, key: str) -> LabelGroup:
        return self.groups[key]


@dataclass(frozen=True)
class Initiation:
    within: Duration
    require: tuple[str, ...]


@dataclass(frozen=True)
class Requirement:
    key: str
    level: str
    title: str
    every: Duration
    tag: str
    pattern: re.Pattern[str]
    met_by: str  # "note" or "raid_edit"
    description: str

    @property
    def slug(self) -> str:
        return self.key.replace("_", "-")

    @property
    def ident(self) -> str:
        """Unique across levels (`sev1.status_update`): escbot's memory names it so."""
        return f"{self.level}.{self.key}"

    def matches(self, body: str) -> bool:
        """Whether a comment meets this requirement. Only a person's own words count: quoted
        text (a "quote reply" to escbot's reminder) and code are left out first."""
        text = _FENCED.sub("", body)
        text = _GITLAB_QUOTE.sub("", text)
        text = _QUOTED_LINE.sub("", text)
        return bool(self.pattern.search(_CODE_SPAN.sub("", text)))


_FENCED = re.compile(r"^\s*(```|~~~).*?^\s*\1[^\n]*$", re.MULTILINE | re.DOTALL)
_GITLAB_QUOTE = re.compile(r"^>>>[^\n]*$.*?^>>>\s*$", re.MULTILINE | re.DOTALL)
_QUOTED_LINE = re.compile(r"^\s{0,3}>.*$", re.MULTILINE)
_CODE_SPAN = re.compile(r"`[^`\n]*`")


@dataclass(frozen=True)
class Rung:
    notify: tuple[str, ...]
    after: Duration


@dataclass(frozen=True)
class Ladder:
    roles: dict[str, tuple[str, ...]]
    rungs: dict[str, tuple[Rung, ...]]  # by level, and by type (e.g. warranty) as an override


@dataclass(frozen=True)
class Routing:
    account_types: dict[str, dict[str, str]]
    default_account_type: str


@dataclass(frozen=True)
class Promotion:
    sev2_overdue: Duration  # past the path-to-green target or the tracked milestone by this
    blocker_open: Duration
    missed_updates: int  # the status update missed this many periods running
    notify: tuple[str, ...]
    auto: bool


@dataclass(frozen=True)
class Notifications:
    outside_working_hours: str  # wait | silent


@dataclass(frozen=True)
class Rag:
    auto: bool
    on_missed: str
    on_met: str


@dataclass(frozen=True)
class CloseOut:
    gate: str  # gate | warn | off
    close_when_done: bool
    retrospective: bool
    items: dict[str, str]  # key -> checklist title; "signoff" is the gated one


@dataclass(frozen=True)
class Warranty:
    days: int


@dataclass(frozen=True)
class Phrase:
    text: str  # as written in policies.yml; escbot.classifier normalises it
    weight: float


@dataclass(frozen=True)
class IntakeCategory:
    """What the classifier knows about a category: words for it, words against it, and the
    level and severity an e-mail about it gets."""

    name: str
    type: str
    level: str
    severity: str
    phrases: tuple[Phrase, ...]
    against: tuple[Phrase, ...]


@dataclass(frozen=True)
class SenderRole:
    """Who may send what (seed 004: internal escalations are decided by who sent them)."""

    name: str
    default: str | None  # the category mail from this role is, unless its words say otherwise
    categories: tuple[str, ...]  # every category this role's mail may be (default included)
    automated: bool  # machine-sent (device monitoring): auto-generated mail still counts


@dataclass(frozen=True)
class Customer:
    name: str
    account_type: str
    domains: tuple[str, ...]
    projects: tuple[str, ...]  # GitLab collaboration projects (a project belongs to one customer)
    aliases: tuple[str, ...]  # how mail names the customer ("Acme")


@dataclass(frozen=True)
class Signals:
    """Seed 000's Sev1 triggers (cancel, withhold payment, executive): raise the level."""

    level: str
    severity: str
    min_score: float
    phrases: tuple[Phrase, ...]


@dataclass(frozen=True)
class NotEscalation:
    """Mail that is never acknowledged: auto-replies, bounces, newsletters, thank-you notes."""

    kind: str
    headers: dict[str, tuple[str, ...]]  # header -> values it contains ("*": any)
    senders: tuple[str, ...]  # local parts of the address
    subject: tuple[str, ...]
    body: tuple[str, ...]  # only in a short mail with no clear escalation in it
    max_words: int
    unless: tuple[str, ...]  # words that make the body a complaint after all
    resolved: tuple[str, ...]  # words that say the problem is over


@dataclass(frozen=True)
class Intake:
    enabled: bool
    author: str
    acknowledge_within: Duration
    reply_within: Duration
    zones: dict[str, float]  # subject, new, quoted, forwarded -> weight of a word found there
    min_score: float
    margin: float
    staff_prior: float
    categories: dict[str, IntakeCategory]
    roles: dict[str, SenderRole]
    staff: dict[str, str]  # address or domain -> role
    customers: tuple[Customer, ...]
    account_words: dict[str, tuple[str, ...]]  # account type -> words that name it in a mail
    sev1: Signals
    not_escalations: tuple[NotEscalation, ...]


@dataclass(frozen=True)
class Report:
    label: str


# The kinds of escbot's comments (their marker kind: `<!-- escbot:ack -->`), for
# `visibility.public_comments`.
COMMENT_KINDS = (
    "ack", "remind", "promote", "rag", "gate", "closeout", "complete", "warranty", "triage",
    "raid-final", "public", "talkback",
)  # fmt: skip
# GitLab's Reporter role: from here up, a member reads confidential issues and internal notes.
REPORTER = 20


@dataclass(frozen=True)
class Staff:
    groups: tuple[str, ...]  # GitLab group paths whose members (inherited too) are staff
    users: tuple[str, ...]

    @property
    def declared(self) -> bool:
        return bool(self.groups or self.users)


@dataclass(frozen=True)
class Visibility:
    """What the customer can see: confidential issues, internal notes, who is staff."""

    confidential: bool  # escalations, RAID registers, retrospectives, briefings
    public_comments: tuple[str, ...]  # comment kinds posted public; the rest are internal notes
    public_escalation: str  # fix | warn | off: an escalation a person opened public
    staff: Staff
    pmo_project: str | None  # where `report --post` may post (path or id)

    def internal(self, comment_kinds: set[str]) -> bool:
        """Whether a comment with markers of these kinds is an internal note."""
        return not comment_kinds & set(self.public_comments)


@dataclass(frozen=True)
class Talkback:
    """`/escbot` commands in comments (escbot.talkback): who may snooze for how long, which
    clocks a pause stops, and the label that shows a pause."""

    enabled: bool
    snooze_max: Duration  # longer snoozes need the PMO
    pmo: Staff  # groups and users who may snooze longer
    pausable: tuple[str, ...]  # requirement keys whose clock stops while paused
    pause_phase1: bool  # Phase 1's deadline moves too
    paused_label: str | None  # a declared label set while paused


@dataclass(frozen=True)
class Chat:
    """The escalation thread in Slack, and a one-way mirror to an incoming webhook."""

    slack: bool  # off by default: nothing is posted to Slack unless enabled
    token_env: str  # the environment variable holding the bot token (never in the file)
    base_url: str | None  # Slack's Web API unless set (the sandbox's /slack/api/)
    channel: str  # the leadership channel, where threads start (name or ID)
    customer_channels: dict[str, str]  # customer (intake.customers) -> its own channel
    users: dict[str, str]  # GitLab username -> Slack user ID
    lookup_by_email: bool  # unmapped users: Slack's users.lookupByEmail on their GitLab e-mail
    mirror: tuple[str, ...]  # comment kinds also posted to the thread
    phase1_items: tuple[str, ...]  # checklist items the thread's start ticks (by their start)
    links_line: str  # the Links line that gets the thread's link (by its start)
    closeout_item: str | None  # the close-out item unpinning ticks (a close_out.items key)
    webhook_env: str | None  # the variable holding an incoming-webhook URL (Mattermost, Teams)

    def channel_for(self, customer: str | None) -> str:
        return self.customer_channels.get(customer or "", self.channel)


@dataclass(frozen=True)
class CalendarSpec:
    timezone: str
    working_days: tuple[str, ...]
    start: time
    end: time
    country: str | None
    subdivision: str | None
    closed_dates: tuple[date, ...]
    quiet_on_closed_days: bool


@dataclass(frozen=True)
class LevelSpec:
    """What a level means to the process: its template, its status update, where it goes."""

    key: str
    template: str  # file name in the templates search path
    phase1_section: bool  # its template carries the Phase 1 checklist, so it is required
    status_requirement: str | None  # the requirement that is "the status update" of the level
    promote_to: str | None  # the level a deteriorating escalation is proposed for
    trigger_detail: bool  # the issue states the figure that fired the trigger


@dataclass(frozen=True)
class ProcessLabels:
    decision: str
    raid_register: str
    retrospective: str
    triage: str
    out_of_warranty: str
    not_escalation: str


@dataclass(frozen=True)
class Process:
    """The process vocabulary: every level, phase, type and label name the rules rely on."""

    levels: dict[str, LevelSpec]
    opening_rag: str | None
    opening_phase: str | None
    resolution_phases: tuple[str, ...]  # in these, daily/weekly cadence gives way to close-out
    closure_phase: str
    warranty_type: str | None
    due_date: str  # follow: GitLab's due date is the next deadline; off: escbot leaves it
    labels: ProcessLabels
    template_dirs: tuple[str, ...]  # the organisation's own templates, searched first

    def level(self, key: str | None) -> LevelSpec | None:
        return self.levels.get(key or "")


@dataclass
class Policy:
    source: str
    version: int
    calendar_spec: CalendarSpec
    labels: Labels
    initiation: Initiation
    requirements: dict[str, dict[str, Requirement]]
    ladder: Ladder
    routing: Routing
    promotion: Promotion
    rag: Rag
    close_out: CloseOut
    warranty: Warranty
    intake: Intake
    report: Report
    process: Process
    notifications: Notifications
    visibility: Visibility
    talkback: Talkback
    warnings: list[str] = field(default_factory=list)
    chat: Chat | None = None  # None: the section's defaults (off)

    def render(self, name: str, **context: Any) -> str:
        """A template from the policy's own templates folder, else the shipped ones."""
        from escbot.render import render

        return render(name, dirs=self.process.template_dirs, **context)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.calendar_spec.timezone)

    @property
    def calendar(self) -> BusinessCalendar:
        cal = self.__dict__.get("_calendar")
        if cal is None:
            spec = self.calendar_spec
            cal = BusinessCalendar(
                self.tz,
                [WEEKDAYS.index(d) for d in spec.working_days],
                spec.start,
                spec.end,
                spec.country,
                spec.subdivision,
                spec.closed_dates,
            )
            self.__dict__["_calendar"] = cal
        return cal

    def rungs_for(self, level: str | None, type_: str | None) -> tuple[Rung, ...]:
        if type_ and type_ in self.ladder.rungs:
            return self.ladder.rungs[type_]
        return self.ladder.rungs.get(level or "", ())

    def people(self) -> list[str]:
        """Every username the ladder, routing and promotion can mention."""
        names = [u for users in self.ladder.roles.values() for u in users]
        names += [u for routed in self.routing.account_types.values() for u in routed.values()]
        return list(dict.fromkeys(names))

    def role_users(self, role: str, account_type: str | None) -> tuple[str, ...]:
        """GitLab usernames for a ladder role; routing by account type comes first."""
        routed = self.routing.account_types.get(account_type or self.routing.default_account_type)
        if routed and role in routed:
            return (routed[role],)
        return self.ladder.roles.get(role, ())


# --------------------------------------------------------------------------------------------
# YAML with line numbers.

# Limits far above any real policies file (the shipped one: ~15 KB, ~700 values, 6 levels).
MAX_POLICY_CHARS = 1_000_000
MAX_NODES = 100_000
MAX_DEPTH = 32


class _Source:
    def __init__(self, name: str, lines: dict[Path_, int]) -> None:
        self.name = name
        self.lines = lines

    def line(self, path: Path_) -> int | None:
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), None)


def _compose(text: str, name: str) -> tuple[Any, _Source]:
    """The YAML as plain data, with the line of every key path; bounded, so a hostile file
    (an alias bomb, a self-referring alias, deep nesting) is one clear error, not a hang."""
    if len(text) > MAX_POLICY_CHARS:
        raise PolicyError(
            f"{name}: too large for a policies file (over {MAX_POLICY_CHARS} characters)"
        )
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{name}:{mark.line + 1}" if mark else name
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise PolicyError(f"{where}: not valid YAML: {problem}") from None
    except RecursionError:
        raise PolicyError(f"{name}: nested too deeply (at most {MAX_DEPTH} levels)") from None
    lines: dict[Path_, int] = {}
    loader = yaml.SafeLoader("")
    count = 0

    def fail(n: yaml.Node, problem: str) -> PolicyError:
        return PolicyError(f"{name}:{n.start_mark.line + 1}: {problem}")

    def scalar(n: yaml.Node) -> Any:
        try:
            value = loader.construct_object(n)
            hash(value)
        except yaml.YAMLError as exc:
            raise fail(n, f"not valid YAML: {getattr(exc, 'problem', None) or exc}") from None
        except (ValueError, OverflowError, TypeError):  # 2026-02-30, 5000-digit numbers
            raise fail(n, f"not a valid value: {str(n.value)[:40]!r}") from None
        return value

    def build(n: yaml.Node | None, path: Path_) -> Any:
        nonlocal count
        if n is None:
            return None
        count += 1
        if count > MAX_NODES:
            raise fail(n, f"more than {MAX_NODES} values (aliases expanding without end?)")
        if len(path) > MAX_DEPTH:
            raise fail(n, f"nested more than {MAX_DEPTH} levels (or an alias contains itself)")
        lines[path] = n.start_mark.line + 1
        if isinstance(n, yaml.MappingNode):
            out: dict[Any, Any] = {}
            for key_node, value_node in n.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    raise fail(key_node, "a key must be a plain word, not a list or mapping")
                key = scalar(key_node)
                out[key] = build(value_node, (*path, str(key)))
                lines[(*path, str(key))] = key_node.start_mark.line + 1
            return out
        if isinstance(n, yaml.SequenceNode):
            return [build(item, (*path, i)) for i, item in enumerate(n.value)]
        return scalar(n)

    return build(node, ()), _Source(name, lines)


def nearest(word: str, options: list[str] | set[str]) -> str | None:
    """The closest valid spelling, for "did you mean" hints."""
    options = sorted(options)
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if close:
        return close[0]
    containing = [o for o in options if word and (word in o or o in word)]
    return containing[0] if len(containing) == 1 else None


def did_you_mean(word: str, options: list[str] | set[str]) -> str | None:
    near = nearest(word, options)
    return f'did you mean "{near}"?' if near else None


def _dotted(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _show(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


# --------------------------------------------------------------------------------------------
# The schema: small validators that convert as they check.

Check = Callable[[Any, Path_, "_Ctx"], Any]


@dataclass
class _Ctx:
    src: _Source
    warnings: list[str]

    def fail(self, path: Path_, expected: str, got: Any, hint: str | None = None) -> PolicyError:
        line = self.src.line(path)
        where = f"{self.src.name}:{line}" if line else self.src.name
        return PolicyError(
            f"{where}: {_dotted(path)}: expected {expected}, got {_show(got)}", hint=hint
        )

    def warn(self, path: Path_, message: str) -> None:
        line = self.src.line(path)
        where = f"{self.src.name}:{line}" if line else self.src.name
        self.warnings.append(f"{where}: {_dotted(path)}: {message}")


def s_str(v: Any, p: Path_, c: _Ctx) -> str:
    if not isinstance(v, str) or not v.strip():
        raise c.fail(p, "a non-empty string", v)
    return v


def s_bool(v: Any, p: Path_, c: _Ctx) -> bool:
    if not isinstance(v, bool):
        raise c.fail(p, "true or false", v)
    return v


def s_int(minimum: int = 0) -> Check:
    def check(v: Any, p: Path_, c: _Ctx) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
            raise c.fail(p, f"a whole number >= {minimum}", v)
        return v

    return check


# Ten years: longer is a typo, and calendar arithmetic past year 9999 cannot be done.
MAX_DURATION_DAYS = 3650


def s_number(v: Any, p: Path_, c: _Ctx) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
        raise c.fail(p, "a number >= 0", v)
    return float(v)


def s_duration(v: Any, p: Path_, c: _Ctx) -> Duration:
    """A duration, zero allowed (a ladder's first rung is told at once)."""
    parsed = parse_duration(v)
    if parsed is None:
        raise c.fail(p, 'a duration such as "1 business day" or "48h"', v)
    if parsed.days_at_most > MAX_DURATION_DAYS:
        raise c.fail(p, "a duration of at most ten years", v)
    return parsed


def s_period(v: Any, p: Path_, c: _Ctx) -> Duration:
    """A duration that must pass before something is due again: more than zero."""
    parsed = s_duration(v, p, c)
    if parsed.amount <= 0:
        raise c.fail(p, 'a duration longer than zero, such as "1 business day"', v)
    return parsed


def s_enum(*choices: str) -> Check:
    def check(v: Any, p: Path_, c: _Ctx) -> str:
        if isinstance(v, bool):  # YAML 1.1 reads off/on/no/yes as booleans
            v = next((w for w in choices if w in (("on", "yes") if v else ("off", "no"))), v)
        if v not in choices:
            raise c.fail(p, "one of " + ", ".join(choices), v)
        return str(v)

    return check


def s_optional(inner: Check) -> Check:
    def check(v: Any, p: Path_, c: _Ctx) -> Any:
        return None if v is None else inner(v, p, c)

    return check


def s_list(inner: Check, *, allow_scalar: bool = False) -> Check:
    def check(v: Any, p: Path_, c: _Ctx) -> tuple[Any, ...]:
        if allow_scalar and not isinstance(v, list):
            v = [v]
        if not isinstance(v, list):
            raise c.fail(p, "a list", v)
        return tuple(inner(item, (*p, i), c) for i, item in enumerate(v))

    return check


_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


def s_color(v: Any, p: Path_, c: _Ctx) -> str:
    if not isinstance(v, str) or not _COLOR.match(v):
        raise c.fail(p, 'a colour such as "#d9534f"', v)
    return v


def s_label_name(v: Any, p: Path_, c: _Ctx) -> str:
    name = s_str(v, p, c)
    if "," in name or len(name) > 255:
        raise c.fail(p, "a GitLab label name (no commas, at most 255 characters)", v)
    return name


def s_username(v: Any, p: Path_, c: _Ctx) -> str:
    name = s_str(v, p, c).lstrip("@")
    if not re.fullmatch(r"[A-Za-z0-9_.][A-Za-z0-9_.\-]*", name):
        raise c.fail(p, "a GitLab username", v)
    return name


def s_time(v: Any, p: Path_, c: _Ctx) -> time:
    if isinstance(v, int) and not isinstance(v, bool):  # YAML 1.1 reads 09:00 as sexagesimal
        return time(v // 60, v % 60) if 0 <= v < 1440 else _bad_time(v, p, c)
    if isinstance(v, str) and re.fullmatch(r"\d{1,2}:\d{2}", v):
        hours, minutes = map(int, v.split(":"))
        if hours < 24 and minutes < 60:
            return time(hours, minutes)
    return _bad_time(v, p, c)


def _bad_time(v: Any, p: Path_, c: _Ctx) -> time:
    raise c.fail(p, 'a time of day such as "09:00"', v)


def s_date(v: Any, p: Path_, c: _Ctx) -> date:
    if isinstance(v, date):
        return v
    if isinstance(v, str):
        try:
            return date.fromisoformat(v)
        except ValueError:
            pass
    raise c.fail(p, 'a date such as "2026-12-24"', v)


def s_timezone(v: Any, p: Path_, c: _Ctx) -> str:
    try:
        ZoneInfo(s_str(v, p, c))
    except (ZoneInfoNotFoundError, ValueError):
        raise c.fail(p, 'an IANA time zone such as "America/New_York"', v) from None
    return str(v)


def s_regex(v: Any, p: Path_, c: _Ctx) -> str:
    try:
        re.compile(s_str(v, p, c))
    except re.error as exc:
        raise c.fail(p, f"a regular expression ({exc})", v) from None
    return str(v)


@dataclass(frozen=True)
class F:
    """A key of a mapping: its check and its default (MISSING = required)."""

    check: Check
    default: Any = ...


def s_struct(fields: dict[str, F], build: Callable[..., Any] | None = None) -> Check:
    def check(v: Any, p: Path_, c: _Ctx) -> Any:
        if v is None:
            v = {}
        if not isinstance(v, dict):
            raise c.fail(p, "a mapping", v)
        out: dict[str, Any] = {}
        for key, spec in fields.items():
            if key in v:
                out[key] = spec.check(v[key], (*p, key), c)
            elif spec.default is ...:
                raise c.fail((*p, key) if p else (key,), "this key to be set", None)
            else:
                default = spec.default
                out[key] = spec.check(default, (*p, key), c) if default is not None else None
        for key in v:
            if key not in fields:
                tip = did_you_mean(str(key), list(fields)) or "valid keys: " + ", ".join(fields)
                c.warn((*p, str(key)), f"unknown key, ignored ({tip})")
        return build(**out) if build else out

    return check


def s_map(value: Check, key: Check | None = None) -> Check:
    def check(v: Any, p: Path_, c: _Ctx) -> dict[str, Any]:
        if v is None:
            return {}
        if not isinstance(v, dict):
            raise c.fail(p, "a mapping", v)
        out: dict[str, Any] = {}
        for k, item in v.items():
            name = key(k, (*p, str(k)), c) if key else str(k)
            out[name] = value(item, (*p, str(k)), c)
        return out

    return check


s_label_value = s_struct(
    {
        "color": F(s_color, "#6699cc"),
        "description": F(s_str, "—"),
        "title": F(s_optional(s_str), None),
        "types": F(s_list(s_str), []),
    }
)
s_label_spec = s_struct({"color": F(s_color, "#6699cc"), "description": F(s_str, "—")})
s_requirement = s_struct(
    {
        "title": F(s_str),
        "every": F(s_period),
        "tag": F(s_optional(s_str), None),
        "pattern": F(s_optional(s_regex), None),
        "met_by": F(s_enum(*REQUIREMENT_KINDS), "note"),
        "description": F(s_str, "—"),
    }
)

_RUNG = s_struct({"notify": F(s_list(s_str, allow_scalar=True)), "after": F(s_duration, "0h")})
_LEVEL = s_struct(
    {
        "template": F(s_optional(s_str), None),
        "phase1_section": F(s_bool, False),
        "status_requirement": F(s_optional(s_str), None),
        "promote_to": F(s_optional(s_str), None),
        "trigger_detail": F(s_bool, False),
    }
)


def s_weighted(v: Any, p: Path_, c: _Ctx) -> tuple[Phrase, ...]:
    """{weight: [phrases]}: one line per weight reads better than a weight per phrase."""
    if v is None:
        return ()
    if not isinstance(v, dict):
        raise c.fail(p, "a mapping of weight to phrases, such as {3: [no show]}", v)
    out = []
    for weight, phrases in v.items():
        if isinstance(weight, bool) or not isinstance(weight, int | float) or weight <= 0:
            raise c.fail((*p, str(weight)), "a positive number (a weight)", weight)
        out += [Phrase(t, float(weight)) for t in s_list(s_str)(phrases, (*p, str(weight)), c)]
    return tuple(out)


_WORDS = s_list(s_str, allow_scalar=True)
_INTAKE_CATEGORY = s_struct(
    {
        "type": F(s_str),
        "level": F(s_str, "sev1"),
        "severity": F(s_str, "high"),
        "phrases": F(s_weighted),
        "against": F(s_weighted, {}),
    }
)
_NOT_ESCALATION = s_struct(
    {
        "headers": F(s_map(_WORDS), {}),
        "senders": F(_WORDS, []),
        "subject": F(_WORDS, []),
        "body": F(_WORDS, []),
        "max_words": F(s_int(1), 60),
        "unless": F(_WORDS, []),
        "resolved": F(_WORDS, []),
    }
)

SCHEMA = s_struct(
    {
        "version": F(s_int(1)),
        "calendar": F(
            s_struct(
                {
                    "timezone": F(s_timezone, "UTC"),
                    "working_days": F(s_list(s_enum(*WEEKDAYS)), list(WEEKDAYS[:5])),
                    "working_hours": F(
                        s_struct({"start": F(s_time, "09:00"), "end": F(s_time, "17:00")}), {}
                    ),
                    "holidays": F(
                        s_struct(
                            {
                                "country": F(s_optional(s_str), None),
                                "subdivision": F(s_optional(s_str), None),
                            }
                        ),
                        {},
                    ),
                    "closed_dates": F(s_list(s_date), []),
                    "quiet_on_closed_days": F(s_bool, True),
                }
            ),
            {},
        ),
        "labels": F(
            s_struct(
                {
                    "marker": F(
                        s_struct(
                            {
                                "name": F(s_label_name),
                                "color": F(s_color, "#b60205"),
                                "description": F(s_str, "Escalation tracked by escbot"),
                            }
                        )
                    ),
                    "groups": F(
                        s_map(
                            s_struct({"prefix": F(s_label_name), "values": F(s_map(s_label_value))})
                        )
                    ),
                    "extra": F(s_map(s_label_spec), {}),
                }
            )
        ),
        "initiation": F(
            s_struct(
                {
                    "within": F(s_period, "1 business day"),
                    "require": F(
                        s_list(s_enum("checklist", "dri", "severity", "type", "category")),
                        ["checklist", "dri", "severity", "type"],
                    ),
                }
            ),
            {},
        ),
        "requirements": F(s_map(s_map(s_requirement))),
        "ladder": F(
            s_struct(
                {
                    "roles": F(s_map(s_list(s_username, allow_scalar=True)), {}),
                    "rungs": F(s_map(s_list(_RUNG))),
                }
            )
        ),
        "routing": F(
            s_struct(
                {
                    "account_types": F(s_map(s_map(s_username)), {}),
                    "default_account_type": F(s_optional(s_str), None),
                }
            ),
            {},
        ),
        "promotion": F(
            s_struct(
                {
                    "sev2_overdue": F(s_period, "14 days"),
                    "blocker_open": F(s_period, "5 business days"),
                    "missed_updates": F(s_int(1), 2),
                    "notify": F(s_list(s_str, allow_scalar=True), ["director_ps"]),
                    "auto": F(s_bool, False),
                }
            ),
            {},
        ),
        "rag": F(
            s_struct(
                {"auto": F(s_bool, True), "on_missed": F(s_str, "red"), "on_met": F(s_str, "green")}
            ),
            {},
        ),
        "close_out": F(
            s_struct(
                {
                    "gate": F(s_enum("gate", "warn", "off"), "gate"),
                    "close_when_done": F(s_bool, False),
                    "retrospective": F(s_bool, True),
                    "items": F(s_map(s_str), DEFAULT_CLOSE_OUT_ITEMS),
                }
            ),
            {},
        ),
        "warranty": F(s_struct({"days": F(s_int(1), 30)}), {}),
        "intake": F(
            s_struct(
                {
                    "enabled": F(s_bool, False),
                    "author": F(s_username, "support-bot"),
                    "acknowledge_within": F(s_duration, "1h"),
                    "reply_within": F(s_duration, "1 business day"),
                    "zones": F(s_struct({z: F(s_number, w) for z, w in DEFAULT_ZONES.items()}), {}),
                    "min_score": F(s_number, 2.5),
                    "margin": F(s_number, 1.5),
                    "staff_prior": F(s_number, 3),
                    "categories": F(s_map(_INTAKE_CATEGORY), {}),
                    "roles": F(
                        s_map(
                            s_struct(
                                {
                                    "default": F(s_optional(s_str), None),
                                    "categories": F(_WORDS, []),
                                    "automated": F(s_bool, False),
                                }
                            )
                        ),
                        {},
                    ),
                    "staff": F(s_map(s_str), {}),
                    "customers": F(
                        s_map(
                            s_struct(
                                {
                                    "account_type": F(s_str),
                                    "domains": F(_WORDS, []),
                                    "projects": F(_WORDS, []),
                                    "aliases": F(_WORDS, []),
                                }
                            )
                        ),
                        {},
                    ),
                    "account_words": F(s_map(_WORDS), {}),
                    "sev1_signals": F(
                        s_struct(
                            {
                                "level": F(s_str, "sev1"),
                                "severity": F(s_str, "critical"),
                                "min_score": F(s_number, 3),
                                "phrases": F(s_weighted, {}),
                            }
                        ),
                        {},
                    ),
                    "not_escalations": F(s_map(_NOT_ESCALATION), {}),
                }
            ),
            {},
        ),
        "report": F(s_struct({"label": F(s_label_name, "pmo-briefing")}), {}),
        "notifications": F(
            s_struct({"outside_working_hours": F(s_enum("wait", "silent"), "wait")}), {}
        ),
        "visibility": F(
            s_struct(
                {
                    "confidential": F(s_bool, True),
                    "public_comments": F(s_list(s_enum(*COMMENT_KINDS)), ["ack"]),
                    "public_escalation": F(s_enum("fix", "warn", "off"), "fix"),
                    "staff": F(
                        s_struct(
                            {
                                "groups": F(s_list(s_str, allow_scalar=True), []),
                                "users": F(s_list(s_username, allow_scalar=True), []),
                            },
                            Staff,
                        ),
                        {},
                    ),
                    "pmo_project": F(s_optional(s_str), None),
                },
                Visibility,
            ),
            {},
        ),
        "talkback": F(
            s_struct(
                {
                    "enabled": F(s_bool, True),
                    "snooze_max": F(s_duration, "5 business days"),
                    "pmo": F(
                        s_struct(
                            {
                                "groups": F(s_list(s_str, allow_scalar=True), []),
                                "users": F(s_list(s_username, allow_scalar=True), []),
                            },
                            Staff,
                        ),
                        {},
                    ),
                    "pausable": F(s_list(s_str), []),
                    "pause_phase1": F(s_bool, True),
                    "paused_label": F(s_optional(s_label_name), None),
                }
            ),
            {},
        ),
        "chat": F(
            s_struct(
                {
                    "slack": F(s_bool, False),
                    "token_env": F(s_str, "SLACK_BOT_TOKEN"),
                    "base_url": F(s_optional(s_str), None),
                    "channel": F(s_str, "ps-project-leadership"),
                    "customer_channels": F(s_map(s_str), {}),
                    "users": F(s_map(s_str, s_username), {}),
                    "lookup_by_email": F(s_bool, True),
                    "mirror": F(
                        s_list(s_enum(*COMMENT_KINDS)),
                        ["remind", "promote", "rag", "gate", "closeout", "complete"],
                    ),
                    "phase1_items": F(
                        s_list(s_str),
                        ["Escalation thread started", "This issue attached to the Slack thread"],
                    ),
                    "links_line": F(s_str, "Slack thread"),
                    "closeout_item": F(s_optional(s_str), "unpin"),
                    "webhook_env": F(s_optional(s_str), None),
                },
                Chat,
            ),
            {},
        ),
        "process": F(
            s_struct(
                {
                    "templates": F(s_optional(s_str), None),
                    "levels": F(s_map(_LEVEL), {}),
                    "opening": F(
                        s_struct(
                            {
                                "rag": F(s_optional(s_str), None),
                                "phase": F(s_optional(s_str), None),
                            }
                        ),
                        {},
                    ),
                    "resolution_phases": F(s_list(s_str), []),
                    "closure_phase": F(s_optional(s_str), None),
                    "warranty_type": F(s_optional(s_str), None),
                    "due_date": F(s_enum("follow", "off"), "follow"),
                    "labels": F(
                        s_struct(
                            {
                                "decision": F(s_label_name, "needs-decision"),
                                "raid_register": F(s_label_name, "raid-register"),
                                "retrospective": F(s_label_name, "retrospective"),
                                "triage": F(s_label_name, "needs-triage"),
                                "out_of_warranty": F(s_label_name, "out-of-warranty"),
                                "not_escalation": F(s_label_name, "not-an-escalation"),
                            }
                        ),
                        {},
                    ),
                }
            ),
            {},
        ),
    }
)


# --------------------------------------------------------------------------------------------
# Loading.


def default_policy_path() -> Path:
    """The shipped policies.yml: package data when installed, the repository file otherwise."""
    packaged = resources.files("escbot").joinpath("_data/policies.yml")
    if packaged.is_file():
        return Path(str(packaged))
    return Path(__file__).resolve().parent.parent / "policies.yml"


def find_policy_path(explicit: str | Path | None = None) -> Path:
    """--policies, else ESCBOT_POLICIES, else ./policies.yml, else the shipped one."""
    import os

    if explicit:
        return Path(explicit)
    env = os.environ.get("ESCBOT_POLICIES")
    if env:
        return Path(env)
    local = Path("policies.yml")
    return local if local.is_file() else default_policy_path()


def load_policy(path: str | Path | None = None) -> Policy:
    target = find_policy_path(path)
    try:
        with target.open("rb") as f:  # bounded: /dev/zero is a file name too
            data = f.read(MAX_POLICY_CHARS + 1)
    except FileNotFoundError:
        raise PolicyError(f"{target}: no such policies file") from None
    except OSError as exc:
        raise PolicyError(f"{target}: cannot read: {exc.strerror}") from None
    if len(data) > MAX_POLICY_CHARS:
        raise PolicyError(
            f"{target}: too large for a policies file (over {MAX_POLICY_CHARS} bytes)"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyError(
            f"{target}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})"
        ) from None
    return parse_policy(text, target.name if path is None else str(path), target.parent)


def parse_policy(text: str, name: str = "policies.yml", base: Path | None = None) -> Policy:
    """Validate policy text; `base` is the folder relative paths in it start from."""
    raw, src = _compose(text, name)
    ctx = _Ctx(src, [])
    if not isinstance(raw, dict):
        raise ctx.fail((), "a mapping of policy sections", raw)
    version = raw.get("version")
    if version != SUPPORTED_VERSION:
        raise ctx.fail(("version",), f"version {SUPPORTED_VERSION}", version)
    data = SCHEMA(raw, (), ctx)
    return _build(data, ctx, name, base)


def _build(d: dict[str, Any], ctx: _Ctx, name: str, base: Path | None) -> Policy:
    """The validated sections as a Policy; each part checks what crosses sections."""
    calendar_spec = _calendar(d["calendar"], ctx)
    labels = _labels(d["labels"], ctx)
    requirements = _requirements(d["requirements"], labels, ctx)
    ladder = _ladder(d["ladder"], labels, ctx)
    routing = _routing(d["routing"], labels, ladder, ctx)
    promo = d["promotion"]
    known_roles = set(ladder.roles) | DYNAMIC_ROLES
    for i, role in enumerate(promo["notify"]):
        if role not in known_roles:
            raise ctx.fail(("promotion", "notify", i), "a role from ladder.roles", role)
    if "signoff" not in d["close_out"]["items"] and d["close_out"]["gate"] != "off":
        raise ctx.fail(("close_out", "items"), 'a "signoff" item (the gate checks it)', "none")
    rag = d["rag"]
    rag_values = labels["rag"].values
    for key in ("on_missed", "on_met"):
        if rag[key] not in rag_values:
            raise ctx.fail(("rag", key), "a rag value (" + ", ".join(rag_values) + ")", rag[key])
    return Policy(
        source=name,
        version=d["version"],
        calendar_spec=calendar_spec,
        labels=labels,
        initiation=Initiation(d["initiation"]["within"], d["initiation"]["require"]),
        requirements=requirements,
        ladder=ladder,
        routing=routing,
        promotion=Promotion(
            promo["sev2_overdue"],
            promo["blocker_open"],
            promo["missed_updates"],
            promo["notify"],
            promo["auto"],
        ),
        notifications=Notifications(d["notifications"]["outside_working_hours"]),
        rag=Rag(rag["auto"], rag["on_missed"], rag["on_met"]),
        close_out=CloseOut(**d["close_out"]),
        warranty=Warranty(d["warranty"]["days"]),
        intake=_build_intake(d["intake"], labels.groups, ctx),
        report=Report(d["report"]["label"]),
        process=_process(d["process"], labels, requirements, d["report"]["label"], ctx, base),
        visibility=d["visibility"],
        talkback=_talkback(d["talkback"], labels, requirements, ctx),
        warnings=ctx.warnings,
        chat=d["chat"],
    )


def _talkback(
    raw: dict[str, Any],
    labels: Labels,
    requirements: dict[str, dict[str, Requirement]],
    ctx: _Ctx,
) -> Talkback:
    keys = {key for reqs in requirements.values() for key in reqs}
    for i, key in enumerate(raw["pausable"]):
        if key not in keys:
            raise ctx.fail(("talkback", "pausable", i), "a requirement key", key)
    label = raw["paused_label"]
    if label is not None and label not in {spec.name for spec in labels.all_specs()}:
        raise ctx.fail(("talkback", "paused_label"), "a label declared in labels", label)
    return Talkback(**raw)


def _calendar(cal: dict[str, Any], ctx: _Ctx) -> CalendarSpec:
    spec = CalendarSpec(
        timezone=cal["timezone"],
        working_days=cal["working_days"],
        start=cal["working_hours"]["start"],
        end=cal["working_hours"]["end"],
        country=cal["holidays"]["country"],
        subdivision=cal["holidays"]["subdivision"],
        closed_dates=cal["closed_dates"],
        quiet_on_closed_days=cal["quiet_on_closed_days"],
    )
    if spec.start >= spec.end:
        raise ctx.fail(
            ("calendar", "working_hours", "end"),
            "a time after start",
            cal["working_hours"]["end"].strftime("%H:%M"),
        )
    if spec.country:
        _check_country(spec, ctx)
    return spec


REQUIRED_GROUPS = ("level", "severity", "type", "category", "rag", "phase", "account_type")


def _labels(lab: dict[str, Any], ctx: _Ctx) -> Labels:
    groups: dict[str, LabelGroup] = {}
    for key, g in lab["groups"].items():
        values = {
            value: LabelValue(
                value=value,
                name=f"{g['prefix']}::{value}",
                color=spec["color"],
                description=spec["description"],
                title=spec["title"] or value.replace("-", " ").capitalize(),
                types=spec["types"],
            )
            for value, spec in g["values"].items()
        }
        groups[key] = LabelGroup(key, g["prefix"], values)
    for needed in REQUIRED_GROUPS:
        if needed not in groups:
            raise ctx.fail(("labels", "groups"), f'a "{needed}" label group', sorted(groups))
    types = groups["type"].values
    for value in groups["category"].values.values():
        for i, t in enumerate(value.types):
            if t not in types:
                path = ("labels", "groups", "category", "values", value.value, "types", i)
                raise ctx.fail(path, "a type value (" + ", ".join(types) + ")", t)
    return Labels(
        marker=LabelSpec(**lab["marker"]),
        groups=groups,
        extra={n: LabelSpec(n, s["color"], s["description"]) for n, s in lab["extra"].items()},
    )


def _requirements(
    raw: dict[str, Any], labels: Labels, ctx: _Ctx
) -> dict[str, dict[str, Requirement]]:
    levels = labels["level"].values
    out: dict[str, dict[str, Requirement]] = {}
    for level, reqs in raw.items():
        if level not in levels:
            raise ctx.fail(("requirements", level), "a level (" + ", ".join(levels) + ")", level)
        out[level] = {}
        for key, r in reqs.items():
            tag = r["tag"] or f"#{key.replace('_', '-')}"
            heading = r"^\s{0,3}#{1,6}\s*" + re.escape(r["title"]) + r"\b"
            pattern = r["pattern"] or rf"(?:{re.escape(tag)}\b|{heading})"
            out[level][key] = Requirement(
                key=key,
                level=level,
                title=r["title"],
                every=r["every"],
                tag=tag,
                pattern=re.compile(pattern, re.IGNORECASE | re.MULTILINE),
                met_by=r["met_by"],
                description=r["description"],
            )
    return out


def _ladder(raw: dict[str, Any], labels: Labels, ctx: _Ctx) -> Ladder:
    roles = dict(raw["roles"])
    known_roles = set(roles) | DYNAMIC_ROLES
    levels, types = labels["level"].values, labels["type"].values
    rungs: dict[str, tuple[Rung, ...]] = {}
    for scope, items in raw["rungs"].items():
        if scope not in levels and scope not in types:
            raise ctx.fail(("ladder", "rungs", scope), "a level or type name", scope)
        for i, rung in enumerate(items):
            for j, role in enumerate(rung["notify"]):
                if role not in known_roles:
                    raise ctx.fail(
                        ("ladder", "rungs", scope, i, "notify", j),
                        "a role from ladder.roles or dri/pm/qa/team_manager",
                        role,
                        hint=did_you_mean(role, known_roles),
                    )
        rungs[scope] = tuple(Rung(r["notify"], r["after"]) for r in items)
    return Ladder(roles, rungs)


def _routing(raw: dict[str, Any], labels: Labels, ladder: Ladder, ctx: _Ctx) -> Routing:
    account_types = labels["account_type"].values
    for acct in raw["account_types"]:
        if acct not in account_types:
            raise ctx.fail(("routing", "account_types", acct), "an account type value", acct)
    default_acct = raw["default_account_type"]
    if default_acct is not None and default_acct not in account_types:
        raise ctx.fail(("routing", "default_account_type"), "an account type value", default_acct)
    routing = Routing(raw["account_types"], default_acct or next(iter(account_types)))
    for acct in account_types:  # every routed escalation needs an owner
        if not (routing.account_types.get(acct, {}).get("pm") or ladder.roles.get("pm")):
            raise ctx.fail(
                ("routing", "account_types", acct, "pm"),
                f"the GitLab username of the PM for {acct} accounts (or ladder.roles.pm)",
                None,
            )
    return routing


def _build_intake(it: dict[str, Any], groups: dict[str, LabelGroup], ctx: _Ctx) -> Intake:
    """intake: every category, type, level, severity, role and account type must exist."""

    def known(path: Path_, group: str, value: str | None) -> None:
        values = groups[group].values
        if value is not None and value not in values:
            raise ctx.fail(
                ("intake", *path), f"a {group} value", value, hint=did_you_mean(value, list(values))
            )

    categories = {}
    for name, cat in it["categories"].items():
        known(("categories", name), "category", name)
        for key in ("type", "level", "severity"):
            known(("categories", name, key), key, cat[key])
        categories[name] = IntakeCategory(
            name, cat["type"], cat["level"], cat["severity"], cat["phrases"], cat["against"]
        )
    roles = {}
    for name, role in it["roles"].items():
        default = [role["default"]] if role["default"] else []
        paths = [("default",)] * len(default) + [
            ("categories", i) for i in range(len(role["categories"]))
        ]
        for path, cat in zip(paths, default + list(role["categories"]), strict=True):
            if cat not in categories:
                raise ctx.fail(
                    ("intake", "roles", name, *path),
                    "a category of intake.categories",
                    cat,
                    hint=did_you_mean(cat, list(categories)),
                )
        allowed = tuple(dict.fromkeys(default + list(role["categories"])))
        roles[name] = SenderRole(name, role["default"], allowed, role["automated"])
    if "customer" not in roles and categories:
        raise ctx.fail(("intake", "roles"), 'a "customer" role (what customers may send)', None)
    for who, role in it["staff"].items():
        if role not in roles:
            raise ctx.fail(("intake", "staff", who), "a role of intake.roles", role)
    customers = []
    for name, cust in it["customers"].items():
        known(("customers", name, "account_type"), "account_type", cust["account_type"])
        customers.append(
            Customer(
                name,
                cust["account_type"],
                tuple(x.lower() for x in cust["domains"]),
                tuple(x.lower().strip("/") for x in cust["projects"]),
                cust["aliases"],
            )
        )
    for account in it["account_words"]:
        known(("account_words", account), "account_type", account)
    sig = it["sev1_signals"]
    known(("sev1_signals", "level"), "level", sig["level"])
    known(("sev1_signals", "severity"), "severity", sig["severity"])
    return Intake(
        enabled=it["enabled"],
        author=it["author"],
        acknowledge_within=it["acknowledge_within"],
        reply_within=it["reply_within"],
        zones=it["zones"],
        min_score=it["min_score"],
        margin=it["margin"],
        staff_prior=it["staff_prior"],
        categories=categories,
        roles=roles,
        staff={k.lower().lstrip("@"): v for k, v in it["staff"].items()},
        customers=tuple(customers),
        account_words=it["account_words"],
        sev1=Signals(sig["level"], sig["severity"], sig["min_score"], sig["phrases"]),
        not_escalations=tuple(
            NotEscalation(
                kind,
                {h.lower(): tuple(v.lower() for v in vals) for h, vals in n["headers"].items()},
                tuple(x.lower() for x in n["senders"]),
                n["subject"],
                n["body"],
                n["max_words"],
                n["unless"],
                n["resolved"],
            )
            for kind, n in it["not_escalations"].items()
        ),
    )


def _process(
    raw: dict[str, Any],
    labels: Labels,
    requirements: dict[str, dict[str, Requirement]],
    report_label: str,
    ctx: _Ctx,
    base: Path | None,
) -> Process:
    """The vocabulary, each name checked against the label groups it comes from."""

    def value_of(group: str, value: str | None, path: Path_) -> str | None:
        values = labels[group].values
        if value is not None and value not in values:
            raise ctx.fail(
                ("process", *path),
                f"a {group} value (" + ", ".join(values) + ")",
                value,
                hint=did_you_mean(value, list(values)),
            )
        return value

    dirs: tuple[str, ...] = ()
    if raw["templates"]:
        folder = Path(raw["templates"])
        folder = folder if folder.is_absolute() or base is None else base / folder
        if not folder.is_dir():
            raise ctx.fail(("process", "templates"), "a folder of templates", str(folder))
        dirs = (str(folder),)
    levels: dict[str, LevelSpec] = {}
    for key in raw["levels"]:
        value_of("level", key, ("levels", key))
    for key in labels["level"].values:
        spec = raw["levels"].get(key) or {}
        path: Path_ = ("levels", key)
        status = spec.get("status_requirement")
        if status is not None and status not in requirements.get(key, {}):
            raise ctx.fail(
                ("process", *path, "status_requirement"),
                f"a requirement of {key} (" + ", ".join(requirements.get(key, {})) + ")",
                status,
            )
        levels[key] = LevelSpec(
            key=key,
            template=spec.get("template") or f"{key}.md",
            phase1_section=bool(spec.get("phase1_section")),
            status_requirement=status,
            promote_to=value_of("level", spec.get("promote_to"), (*path, "promote_to")),
            trigger_detail=bool(spec.get("trigger_detail")),
        )
        _check_template(levels[key].template, dirs, ("process", *path, "template"), ctx)
    phases = labels["phase"].values
    resolution = tuple(
        value_of("phase", p, ("resolution_phases", i)) or p
        for i, p in enumerate(raw["resolution_phases"])
    )
    closure = value_of("phase", raw["closure_phase"], ("closure_phase",))
    names = ProcessLabels(**raw["labels"])
    declared = set(labels.extra) | {labels.marker.name}
    for path, label in [(("process", "labels", k), v) for k, v in vars(names).items()] + [
        (("report", "label"), report_label)
    ]:
        if label not in declared:
            raise ctx.fail(
                path,
                "a label declared in labels.extra",
                label,
                hint=did_you_mean(label, declared),
            )
    return Process(
        levels=levels,
        opening_rag=value_of("rag", raw["opening"]["rag"], ("opening", "rag")),
        opening_phase=value_of("phase", raw["opening"]["phase"], ("opening", "phase")),
        resolution_phases=resolution,
        closure_phase=closure or list(phases)[-1],
        warranty_type=value_of("type", raw["warranty_type"], ("warranty_type",)),
        due_date=raw["due_date"],
        labels=names,
        template_dirs=dirs,
    )


def _check_template(name: str, dirs: tuple[str, ...], path: Path_, ctx: _Ctx) -> None:
    from escbot.render import templates_dir

    searched = [*dirs, str(templates_dir())]
    if not any((Path(d) / name).is_file() for d in searched):
        raise ctx.fail(path, "a template file in " + " or ".join(searched), name)


def _check_country(spec: CalendarSpec, ctx: _Ctx) -> None:
    import holidays

    try:
        holidays.country_holidays(spec.country or "", subdiv=spec.subdivision, years=[])
    except NotImplementedError:
        raise ctx.fail(
            ("calendar", "holidays", "country"),
            'a country code known to the holidays library, such as "US"',
            spec.country,
        ) from None
    except Exception:
        raise ctx.fail(
            ("calendar", "holidays", "subdivision"),
            f"a subdivision of {spec.country}",
            spec.subdivision,
        ) from None
