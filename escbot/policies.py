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
    sev2_overdue: Duration
    blocker_open: Duration
    notify: tuple[str, ...]
    auto: bool


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
class IntakeRule:
    name: str
    match: tuple[str, ...]
    type: str
    category: str


@dataclass(frozen=True)
class Customer:
    domain: str
    name: str
    account_type: str


@dataclass(frozen=True)
class Intake:
    enabled: bool
    author: str
    acknowledge_within: Duration
    reply_within: Duration
    level: str
    severity: str
    rules: tuple[IntakeRule, ...]
    senders: tuple[IntakeRule, ...]
    customers: dict[str, Customer]


@dataclass(frozen=True)
class Report:
    label: str


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
    warnings: list[str] = field(default_factory=list)

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


def s_duration(v: Any, p: Path_, c: _Ctx) -> Duration:
    parsed = parse_duration(v)
    if parsed is None:
        raise c.fail(p, 'a duration such as "1 business day" or "48h"', v)
    return parsed


def s_enum(*choices: str) -> Check:
    def check(v: Any, p: Path_, c: _Ctx) -> str:
        if isinstance(v, bool):  # YAML 1.1 reads off/on/no/yes as booleans
            v = next((w for w in choices if w in (("on", "yes") if v else ("off", "no"))), v)
        if v not in choices:
            raise c.fail(p, "one of " + ", ".join(choices), v)
        return v

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
    return v


def s_regex(v: Any, p: Path_, c: _Ctx) -> str:
    try:
        re.compile(s_str(v, p, c))
    except re.error as exc:
        raise c.fail(p, f"a regular expression ({exc})", v) from None
    return v


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


def s_label_value(v: Any, p: Path_, c: _Ctx) -> dict[str, Any]:
    return s_struct(
        {
            "color": F(s_color, "#6699cc"),
            "description": F(s_str, "—"),
            "title": F(s_optional(s_str), None),
            "types": F(s_list(s_str), []),
        }
    )(v, p, c)


def s_label_spec(v: Any, p: Path_, c: _Ctx) -> dict[str, Any]:
    return s_struct({"color": F(s_color, "#6699cc"), "description": F(s_str, "—")})(v, p, c)


def s_requirement(v: Any, p: Path_, c: _Ctx) -> dict[str, Any]:
    return s_struct(
        {
            "title": F(s_str),
            "every": F(s_duration),
            "tag": F(s_optional(s_str), None),
            "pattern": F(s_optional(s_regex), None),
            "met_by": F(s_enum("note", "raid_edit"), "note"),
            "description": F(s_str, "—"),
        }
    )(v, p, c)


_RUNG = s_struct({"notify": F(s_list(s_str, allow_scalar=True)), "after": F(s_duration, "0h")})
_RULE = s_struct(
    {
        "name": F(s_str),
        "match": F(s_list(s_str, allow_scalar=True)),
        "type": F(s_str),
        "category": F(s_str),
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
                    "within": F(s_duration, "1 business day"),
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
                    "sev2_overdue": F(s_duration, "14 days"),
                    "blocker_open": F(s_duration, "5 business days"),
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
                    "level": F(s_str, "sev1"),
                    "severity": F(s_str, "high"),
                    "rules": F(s_list(_RULE), []),
                    "senders": F(s_list(_RULE), []),
                    "customers": F(
                        s_map(s_struct({"name": F(s_str), "account_type": F(s_str)})), {}
                    ),
                }
            ),
            {},
        ),
        "report": F(s_struct({"label": F(s_label_name, "pmo-briefing")}), {}),
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
    return parse_policy(text, target.name if path is None else str(path))


def parse_policy(text: str, name: str = "policies.yml") -> Policy:
    raw, src = _compose(text, name)
    ctx = _Ctx(src, [])
    if not isinstance(raw, dict):
        raise ctx.fail((), "a mapping of policy sections", raw)
    version = raw.get("version")
    if version != SUPPORTED_VERSION:
        raise ctx.fail(("version",), f"version {SUPPORTED_VERSION}", version)
    data = SCHEMA(raw, (), ctx)
    return _build(data, ctx, name)


def _build(d: dict[str, Any], ctx: _Ctx, name: str) -> Policy:
    cal = d["calendar"]
    calendar_spec = CalendarSpec(
        timezone=cal["timezone"],
        working_days=cal["working_days"],
        start=cal["working_hours"]["start"],
        end=cal["working_hours"]["end"],
        country=cal["holidays"]["country"],
        subdivision=cal["holidays"]["subdivision"],
        closed_dates=cal["closed_dates"],
        quiet_on_closed_days=cal["quiet_on_closed_days"],
    )
    if calendar_spec.start >= calendar_spec.end:
        raise ctx.fail(
            ("calendar", "working_hours", "end"),
            "a time after start",
            cal["working_hours"]["end"].strftime("%H:%M"),
        )
    if calendar_spec.country:
        _check_country(calendar_spec, ctx)

    lab = d["labels"]
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
    for needed in ("level", "severity", "type", "category", "rag", "phase", "account_type"):
        if needed not in groups:
            raise ctx.fail(("labels", "groups"), f'a "{needed}" label group', sorted(groups))
    labels = Labels(
        marker=LabelSpec(**lab["marker"]),
        groups=groups,
        extra={n: LabelSpec(n, s["color"], s["description"]) for n, s in lab["extra"].items()},
    )
    levels, types = groups["level"].values, groups["type"].values
    for value in groups["category"].values.values():
        for i, t in enumerate(value.types):
            if t not in types:
                path = ("labels", "groups", "category", "values", value.value, "types", i)
                raise ctx.fail(path, "a type value (" + ", ".join(types) + ")", t)

    requirements: dict[str, dict[str, Requirement]] = {}
    for level, reqs in d["requirements"].items():
        if level not in levels:
            raise ctx.fail(("requirements", level), "a level (" + ", ".join(levels) + ")", level)
        requirements[level] = {}
        for key, r in reqs.items():
            slug = key.replace("_", "-")
            tag = r["tag"] or f"#{slug}"
            heading = r"^\s{0,3}#{1,6}\s*" + re.escape(r["title"]) + r"\b"
            pattern = r["pattern"] or rf"(?:{re.escape(tag)}\b|{heading})"
            requirements[level][key] = Requirement(
                key=key,
                level=level,
                title=r["title"],
                every=r["every"],
                tag=tag,
                pattern=re.compile(pattern, re.IGNORECASE | re.MULTILINE),
                met_by=r["met_by"],
                description=r["description"],
            )

    roles = dict(d["ladder"]["roles"])
    known_roles = set(roles) | DYNAMIC_ROLES
    rungs: dict[str, tuple[Rung, ...]] = {}
    for scope, items in d["ladder"]["rungs"].items():
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

    account_types = groups["account_type"].values
    routing_raw = d["routing"]
    for acct in routing_raw["account_types"]:
        if acct not in account_types:
            raise ctx.fail(("routing", "account_types", acct), "an account type value", acct)
    default_acct = routing_raw["default_account_type"]
    if default_acct is not None and default_acct not in account_types:
        raise ctx.fail(("routing", "default_account_type"), "an account type value", default_acct)
    routing = Routing(routing_raw["account_types"], default_acct or next(iter(account_types)))
    for acct in account_types:  # every routed escalation needs an owner
        if not (routing.account_types.get(acct, {}).get("pm") or roles.get("pm")):
            raise ctx.fail(
                ("routing", "account_types", acct, "pm"),
                f"the GitLab username of the PM for {acct} accounts (or ladder.roles.pm)",
                None,
            )

    promo = d["promotion"]
    for i, role in enumerate(promo["notify"]):
        if role not in known_roles:
            raise ctx.fail(("promotion", "notify", i), "a role from ladder.roles", role)
    if "signoff" not in d["close_out"]["items"] and d["close_out"]["gate"] != "off":
        raise ctx.fail(("close_out", "items"), 'a "signoff" item (the gate checks it)', "none")
    rag = d["rag"]
    rag_values = groups["rag"].values
    for key in ("on_missed", "on_met"):
        if rag[key] not in rag_values:
            raise ctx.fail(("rag", key), "a rag value (" + ", ".join(rag_values) + ")", rag[key])

    it = d["intake"]
    categories = groups["category"].values
    rules: dict[str, tuple[IntakeRule, ...]] = {}
    for kind in ("rules", "senders"):
        built = []
        for i, r in enumerate(it[kind]):
            if r["type"] not in types:
                raise ctx.fail(("intake", kind, i, "type"), "a type value", r["type"])
            if r["category"] not in categories:
                raise ctx.fail(
                    ("intake", kind, i, "category"),
                    "a category value",
                    r["category"],
                    hint=did_you_mean(r["category"], list(categories)),
                )
            built.append(
                IntakeRule(
                    r["name"], tuple(m.lower() for m in r["match"]), r["type"], r["category"]
                )
            )
        rules[kind] = tuple(built)
    customers = {}
    for domain, cust in it["customers"].items():
        if cust["account_type"] not in account_types:
            raise ctx.fail(
                ("intake", "customers", domain, "account_type"),
                "an account type value",
                cust["account_type"],
            )
        customers[domain.lower()] = Customer(domain.lower(), cust["name"], cust["account_type"])
    if it["level"] not in levels:
        raise ctx.fail(("intake", "level"), "a level value", it["level"])
    if it["severity"] not in groups["severity"].values:
        raise ctx.fail(("intake", "severity"), "a severity value", it["severity"])

    return Policy(
        source=name,
        version=d["version"],
        calendar_spec=calendar_spec,
        labels=labels,
        initiation=Initiation(d["initiation"]["within"], d["initiation"]["require"]),
        requirements=requirements,
        ladder=Ladder(roles, rungs),
        routing=routing,
        promotion=Promotion(
            promo["sev2_overdue"], promo["blocker_open"], promo["notify"], promo["auto"]
        ),
        rag=Rag(rag["auto"], rag["on_missed"], rag["on_met"]),
        close_out=CloseOut(**d["close_out"]),
        warranty=Warranty(d["warranty"]["days"]),
        intake=Intake(
            enabled=it["enabled"],
            author=it["author"],
            acknowledge_within=it["acknowledge_within"],
            reply_within=it["reply_within"],
            level=it["level"],
            severity=it["severity"],
            rules=rules["rules"],
            senders=rules["senders"],
            customers=customers,
        ),
        report=Report(d["report"]["label"]),
        warnings=ctx.warnings,
    )


def _check_country(spec: CalendarSpec, ctx: _Ctx) -> None:
    import holidays

    try:
        holidays.country_holidays(spec.country, subdiv=spec.subdivision, years=[])
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
