"""Reading escalation descriptions: stable section headings, task lists, fields.

The templates write these headings; the check run reads them. Descriptions are edited by
people, so every reader here tolerates missing or reordered sections and reports by name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

# Stable headings (templates/ uses exactly these; matching ignores case and trailing text).
PHASE1 = "Phase 1 checklist"
TRACKING = "Tracking requirements"
RESOLUTION_PLAN = "Resolution plan"
BLOCKERS = "Blockers"
ALTERNATIVES = "Alternative approaches"
RACI = "RACI matrix"
LINKS = "Links"
CLOSE_OUT = "Close-out checklist"
PATH_TO_GREEN = "Path to green"
DECISION = "Leadership decision"

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_TASK = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+\[([ xX~])\]\s+(.*)$")
_DATE = re.compile(r"\b(\d{4}-\d{2}-\d{2})\b")


@dataclass(frozen=True)
class Task:
    text: str
    checked: bool
    inapplicable: bool = False


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def section(text: str | None, heading: str) -> str | None:
    """The body under the first heading that starts with `heading`, up to the next heading of
    the same or a higher level; None when there is no such heading."""
    if not text:
        return None
    lines = text.splitlines()
    wanted = _norm(heading)
    for i, line in enumerate(lines):
        m = _HEADING.match(line)
        if m and _norm(m.group(2)).startswith(wanted):
            level = len(m.group(1))
            body = []
            for nxt in lines[i + 1 :]:
                h = _HEADING.match(nxt)
                if h and len(h.group(1)) <= level:
                    break
                body.append(nxt)
            return "\n".join(body)
    return None


def tasks(text: str | None) -> list[Task]:
    out = []
    for line in (text or "").splitlines():
        m = _TASK.match(line)
        if m:
            mark = m.group(1)
            out.append(Task(m.group(2).strip(), mark in "xX", mark == "~"))
    return out


def checklist(text: str | None, heading: str) -> list[Task] | None:
    body = section(text, heading)
    return None if body is None else tasks(body)


def find_task(items: list[Task], name: str) -> Task | None:
    """The task whose text starts with `name` (case and punctuation ignored)."""
    wanted = _norm(name)
    for item in items:
        if _norm(item.text).startswith(wanted):
            return item
    return None


def tick_section(text: str, heading: str) -> str:
    """The text with every task under `heading` checked, as a person ticks them in GitLab."""
    start = text.index(heading)
    end = text.find("\n## ", start + 1)
    end = len(text) if end == -1 else end
    return text[:start] + text[start:end].replace("- [ ]", "- [x]") + text[end:]


def field(text: str | None, name: str) -> str | None:
    """The value of a `Name: value` line (also inside a table row or bold)."""
    if not text:
        return None
    pattern = re.compile(
        r"^[\s|*_-]*" + re.escape(name) + r"[*_]*\s*[:|]\s*[*_]*\s*(.+?)\s*\|?\s*$",
        re.IGNORECASE | re.MULTILINE,
    )
    m = pattern.search(text)
    return m.group(1).strip() if m else None


def date_field(text: str | None, name: str) -> date | None:
    value = field(text, name)
    if not value:
        return None
    m = _DATE.search(value)
    if not m:
        return None
    try:
        return date.fromisoformat(m.group(1))
    except ValueError:
        return None


@dataclass(frozen=True)
class Blocker:
    text: str
    opened: date | None
    resolved: bool


def blockers(text: str | None) -> list[Blocker]:
    """Blockers are task items under "Blockers", each with the date it was opened."""
    out = []
    for item in checklist(text, BLOCKERS) or []:
        m = _DATE.search(item.text)
        opened = None
        if m:
            try:
                opened = date.fromisoformat(m.group(1))
            except ValueError:
                opened = None
        out.append(Blocker(item.text, opened, item.checked or item.inapplicable))
    return out
