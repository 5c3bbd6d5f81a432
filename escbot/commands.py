"""`/escbot ...` commands in comments: the words, parsed; what they mean is escbot.talkback's.

A command is a line of its own that starts with `/escbot`, like a GitLab quick action. GitLab
builds its quick-action pattern from the names of the commands it knows
(Gitlab::QuickActions::Extractor), so an `/escbot` line is left in the comment as written and
escbot reads it back. Quoted lines (a quote reply) and code blocks are not commands.

    /escbot ack [REQUIREMENT...]
    /escbot snooze REQUIREMENT until DATE|for DURATION [reason]
    /escbot pause waiting-on-customer [until DATE]
    /escbot resume
    /escbot explain
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from escbot.businesstime import parse_instant
from escbot.durations import Duration, parse_duration

VERBS = ("ack", "snooze", "pause", "resume", "explain")
PAUSE_REASONS = ("waiting-on-customer",)
_LINE = re.compile(r"^/escbot(?:\s+(.*))?$", re.IGNORECASE)
_FENCE = re.compile(r"^\s{0,3}(```|~~~)")
_GITLAB_QUOTE = re.compile(r"^>>>")


@dataclass(frozen=True)
class Command:
    verb: str  # one of VERBS, or what was written when it is none
    text: str  # the line as written
    requirements: tuple[str, ...] = ()  # ack, snooze: as written (escbot.talkback resolves them)
    until: datetime | None = None  # snooze, pause
    duration: Duration | None = None  # snooze `for`
    reason: str = ""
    error: str | None = None  # what could not be understood

    @property
    def ok(self) -> bool:
        return self.error is None


def command_lines(body: str) -> list[str]:
    """The `/escbot` lines of a comment, outside code blocks and quotes."""
    lines: list[str] = []
    fence: str | None = None
    quoted = False
    for raw in body.replace("\r", "").split("\n"):
        line = raw.strip()
        opened = _FENCE.match(raw)
        if fence is not None:
            fence = None if opened and opened.group(1) == fence else fence
            continue
        if opened:
            fence = opened.group(1)
            continue
        if _GITLAB_QUOTE.match(line):
            quoted = not quoted
            continue
        if quoted or line.startswith(">") or raw.startswith("    "):
            continue
        if _LINE.match(line):
            lines.append(line)
    return lines


def parse(body: str, tz: ZoneInfo) -> list[Command]:
    """Every command of a comment, in order; dates without an offset are read in `tz`."""
    return [parse_line(line, tz) for line in command_lines(body)]


def parse_line(line: str, tz: ZoneInfo) -> Command:
    match = _LINE.match(line.strip())
    words = (match.group(1) or "").split() if match else []
    if not words:
        return Command("", line, error="no command after /escbot (" + ", ".join(VERBS) + ")")
    verb, args = words[0].lower(), words[1:]
    if verb == "ack":
        return Command(verb, line, requirements=tuple(args))
    if verb in ("resume", "explain"):
        if args:
            return Command(verb, line, error=f"/escbot {verb} takes nothing after it")
        return Command(verb, line)
    if verb == "pause":
        return _pause(line, args, tz)
    if verb == "snooze":
        return _snooze(line, args, tz)
    return Command(verb, line, error=f'unknown command "{verb}" (' + ", ".join(VERBS) + ")")


def _until(word: str, tz: ZoneInfo) -> datetime | None:
    return parse_instant(word, tz) if re.match(r"^\d{4}-\d{2}-\d{2}", word) else None


def _pause(line: str, args: list[str], tz: ZoneInfo) -> Command:
    usage = "expected /escbot pause " + "|".join(PAUSE_REASONS) + " [until DATE]"
    if not args or args[0].lower() not in PAUSE_REASONS:
        return Command("pause", line, error=usage)
    reason, rest = args[0].lower(), args[1:]
    if not rest:
        return Command("pause", line, reason=reason)
    until = _until(rest[1], tz) if len(rest) == 2 and rest[0].lower() == "until" else None
    if until is None:
        return Command("pause", line, reason=reason, error=usage)
    return Command("pause", line, reason=reason, until=until)


def _snooze(line: str, args: list[str], tz: ZoneInfo) -> Command:
    usage = "expected /escbot snooze REQUIREMENT until DATE|for DURATION [reason]"
    if len(args) < 3 or args[1].lower() not in ("until", "for"):
        return Command("snooze", line, error=usage)
    req, how, rest = args[0], args[1].lower(), args[2:]
    if how == "until":
        until = _until(rest[0], tz)
        if until is None:
            return Command("snooze", line, error=f'"{rest[0]}" is not a date (YYYY-MM-DD)')
        return Command("snooze", line, (req,), until=until, reason=" ".join(rest[1:]))
    # The longest prefix that is a duration: "2 business days", "3 days", "48h".
    for n in (3, 2, 1):
        duration = parse_duration(" ".join(rest[:n])) if len(rest) >= n else None
        if duration is not None and duration.amount > 0:
            return Command("snooze", line, (req,), duration=duration, reason=" ".join(rest[n:]))
    return Command("snooze", line, error=f'"{" ".join(rest)}" does not start with a duration')
