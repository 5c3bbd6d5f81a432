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
# Fields and task names the templates write and the rules read.
TARGET_DATE = "Target date for Yellow/Green"
DECIDE_PROMOTE = "Escalate to"  # "Escalate to Sev 1: ..." under "Leadership decision"
DECIDE_MONITOR = "Remain in monitoring"

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


def section(text: str | None, heading: str, *, last: bool = False) -> str | None:
    """The body under the first (or `last`) heading that starts with `heading`, up to the next
    heading of the same or a higher level; None when there is no such heading."""
    if not text:
        return None
    lines = text.splitlines()
    wanted = _norm(heading)
    order = reversed(list(enumerate(lines))) if last else enumerate(lines)
    for i, line in order:
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


def checklist(text: str | None, heading: str, *, last: bool = False) -> list[Task] | None:
    body = section(text, heading, last=last)
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


def headings(text: str | None) -> list[str]:
    """The normalised top-level (##) headings, without what follows in parentheses."""
    out = []
    for line in (text or "").splitlines():
        m = _HEADING.match(line)
        if m and len(m.group(1)) == 2:
            out.append(_norm(m.group(2).split("(", 1)[0]))
    return out


def sections(text: str) -> list[tuple[str, str]]:
    """The (heading line, block) pairs of the ## sections, in order; text before the first is
    left out."""
    out: list[tuple[str, str]] = []
    for line in text.splitlines():
        m = _HEADING.match(line)
        if m and len(m.group(1)) == 2:
            out.append((line, ""))
        elif out:
            head, body = out[-1]
            out[-1] = (head, body + line + "\n")
    return out


@dataclass(frozen=True)
class Dated:
    """A dated milestone of the resolution plan (a table row or a task)."""

    text: str
    due: date
    done: bool
    source: str  # "table" or "task"


def milestones(text: str | None) -> list[Dated]:
    """The "Resolution plan" rows with a Due column, and its dated task items."""
    body = section(text, RESOLUTION_PLAN)
    if not body:
        return []
    out: list[Dated] = []
    header: list[str] | None = None
    for line in body.splitlines():
        s = line.strip()
        if not s.startswith("|"):
            header = None if not s else header
            continue
        cells = [c.strip() for c in s.strip("|").split("|")]
        if header is None:
            header = [c.lower() for c in cells]
            continue
        if all(re.fullmatch(r":?-{2,}:?", c) for c in cells if c):
            continue
        due_col = next((i for i, h in enumerate(header) if h.startswith("due")), None)
        pct_col = next((i for i, h in enumerate(header) if "complete" in h or h == "%"), None)
        if due_col is None or due_col >= len(cells):
            continue
        day = date_in(cells[due_col])
        if day is None:
            continue
        pct = cells[pct_col].lower() if pct_col is not None and pct_col < len(cells) else ""
        done = bool(re.match(r"^100\s*%?$", pct)) or pct in ("done", "complete", "completed", "✅")
        out.append(Dated(cells[0], day, done, "table"))
    for task in tasks(body):
        day = date_in(task.text)
        if day is not None:
            out.append(Dated(task.text, day, task.checked or task.inapplicable, "task"))
    return out


def date_in(text: str) -> date | None:
    """The first valid YYYY-MM-DD in a text."""
    for found in _DATE.finditer(text):
        try:
            return date.fromisoformat(found.group(1))
        except ValueError:
            continue
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


def tick_tasks(text: str, names: list[str] | tuple[str, ...]) -> tuple[str, list[str]]:
    """The text with the open tasks that start with any of `names` checked, and their texts."""
    wanted = [_norm(n) for n in names if _norm(n)]
    lines, ticked = text.split("\n"), []
    for i, line in enumerate(lines):
        m = _TASK.match(line)
        if m and m.group(1) == " " and any(_norm(m.group(2)).startswith(w) for w in wanted):
            lines[i] = line.replace("[ ]", "[x]", 1)
            ticked.append(m.group(2).strip())
    return "\n".join(lines), ticked


def fill_link(text: str, name: str, value: str) -> str:
    """The `- Name...: (link)` line (the first starting with `name`) with `value` after its
    colon; without one, a `- Name: value` line first under the "Links" heading, else at the
    end."""
    wanted = _norm(name)
    lines = text.split("\n")
    for i, line in enumerate(lines):
        item = re.match(r"^(\s*[-*+]\s+)([^:]+):", line)
        if item and not _TASK.match(line) and _norm(item.group(2)).startswith(wanted):
            lines[i] = f"{item.group(1)}{item.group(2)}: {value}"
            return "\n".join(lines)
    new = f"- {name}: {value}"
    for i, line in enumerate(lines):
        m = _HEADING.match(line)
        if m and _norm(m.group(2)) == _norm(LINKS):
            at = i + 1 + (i + 1 < len(lines) and not lines[i + 1].strip())
            return "\n".join([*lines[:at], new, *lines[at:]])
    return text.rstrip("\n") + f"\n\n{new}\n"
