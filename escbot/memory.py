"""escbot's memory of an escalation, kept in its own internal notes on GitLab.

Every internal note escbot posts on an escalation ends with a hidden block, written from the
escalation's whole history as the run that planned the note saw it:

    <!-- escbot-state {"v": 1, "as_of": "...", "said": [...], "met": [...], "commands": [...]} -->

- said: escbot's earlier comments there, each as its note id, time and markers;
- met: the last comment that met each tracking requirement (of every level: a promotion changes
  which apply), as its note id, time, author and the requirements it met;
- commands: the comments that gave escbot commands, as their note id, time, author and lines.

The next run reads only the rules' window of activity (escbot.snapshot). When that window
holds one of escbot's own notes with a block written no earlier than the window's start, the
block's facts stand in for the older comments (as recalled notes), and the comments since come
from the run's own read: the rules see every fact they use, without reading the whole thread.
Without such a note (escbot has not written in the window, or the block was written before it)
nothing is recalled: the rules ask for the whole thread when they need it, as before, and the
next note escbot posts carries a fresh block. The block is trusted only in the bot's own notes:
anyone may paste text into a comment.

Internal notes only: the block names who commented when, which a customer must not read.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from escbot.businesstime import parse_gitlab_time
from escbot.commands import command_lines
from escbot.markers import Marker
from escbot.model import Context, Escalation, Note
from escbot.policies import Policy

VERSION = 1
# The block that ends escbot's note, only: text quoted earlier in the note (a command escbot
# answers) is never taken for one.
_BLOCK = re.compile(r"<!--\s*escbot-state\s+(\{[^<>]*\})\s*-->\s*\Z")
# Reminder markers pile up on a long escalation (one per lapse and rung); only recent lapses
# can come back, so the oldest are forgotten past this many. Every other marker is kept.
REMINDERS_KEPT = 200
COMMANDS_KEPT = 100


@dataclass(frozen=True)
class Memory:
    as_of: datetime
    notes: tuple[Note, ...]  # the recalled facts, as notes (Note.recalled)


def remember(esc: Escalation, ctx: Context) -> str:
    """The hidden block for a note escbot posts now on `esc`, whose notes hold its whole history
    (Escalation.history_known)."""
    # Inside an HTML comment: no "<" or ">" may appear (JSON keeps them as \u escapes).
    text = json.dumps(state_of(esc, ctx), separators=(",", ":"), ensure_ascii=True)
    return "<!-- escbot-state " + text.replace("<", "\\u003c").replace(">", "\\u003e") + " -->"


def requirements_digest(policy: Policy) -> str:
    """Which tracking requirements a memory was written for: what met them is kept by name, so
    a memory of other requirements (a policy changed since) is not used."""
    reqs = sorted(
        f"{r.ident}={r.pattern.pattern}"
        for reqs in policy.requirements.values()
        for r in reqs.values()
    )
    return hashlib.sha256("\n".join(reqs).encode()).hexdigest()[:16]


def _facts(
    esc: Escalation, ctx: Context
) -> tuple[list[tuple[Note, list[Marker]]], dict[str, Note], list[tuple[Note, list[str]]]]:
    """escbot's comments with their markers, the last comment that met each requirement (by
    Requirement.ident), and the comments that gave commands with their lines."""
    said: list[tuple[Note, list[Marker]]] = []
    commands: list[tuple[Note, list[str]]] = []
    requirements = [r for reqs in ctx.policy.requirements.values() for r in reqs.values()]
    last: dict[str, Note] = {}
    for note in esc.notes:
        if note.system:
            continue
        if note.author == ctx.bot:
            if note.markers:
                said.append((note, note.markers))
            continue
        lines = command_lines(note.body)
        if lines:
            commands.append((note, lines))
        if ctx.counts(note):
            for req in requirements:
                if note.satisfies(req):
                    last[req.ident] = note
    return said, last, commands


def settled(esc: Escalation, ctx: Context) -> Escalation:
    """`esc` as a run keeps it once evaluated: only the comments its memory holds, escbot's own
    as their markers. That is all that later steps read (the executor's pre-check, the counts
    of what escbot told, the memory the cache keeps); the rest is a few KB an escalation."""
    said, last, commands = _facts(esc, ctx)
    keep = {n.id for n in last.values()} | {n.id for n, _ in commands}
    notes = [n.markers_only() for n, _ in said] + [n for n in esc.notes if n.id in keep]
    return esc.with_activity(notes=tuple(sorted(notes, key=lambda n: (n.created_at, n.id))))


def state_of(esc: Escalation, ctx: Context) -> dict[str, Any]:
    """What escbot remembers of `esc` now, as plain data (the block's, and the cache's)."""
    said, last, commands = _facts(esc, ctx)
    met: dict[int, tuple[Note, set[str]]] = {}
    for ident, note in last.items():
        met.setdefault(note.id, (note, set()))[1].add(ident)
    return {
        "v": VERSION,
        "reqs": requirements_digest(ctx.policy),
        "as_of": _stamp(ctx.now),
        "said": _forget_old_reminders(said),
        "met": [
            [n.id, _stamp(n.created_at), n.author, sorted(idents)]
            for n, idents in sorted(met.values(), key=lambda x: (x[0].created_at, x[0].id))
        ],
        "commands": [[n.id, _stamp(n.created_at), n.author, lines] for n, lines in commands][
            -COMMANDS_KEPT:
        ],
    }


def _forget_old_reminders(said: list[tuple[Note, list[Marker]]]) -> list[list[Any]]:
    """escbot's markers, each note's; of a lapse's reminders only the highest rung (the next
    rung is planned from it), and of those only the newest REMINDERS_KEPT lapses."""
    top: dict[tuple[str | None, str | None], tuple[int, Note, Marker]] = {}
    for note, markers in said:
        for m in markers:
            if m.kind == "remind":
                lapse, rung = (m.get("rule"), m.get("due")), int(m.get("rung") or 0)
                if lapse not in top or rung >= top[lapse][0]:
                    top[lapse] = (rung, note, m)
    newest = sorted(top.values(), key=lambda t: (t[1].created_at, t[1].id))[-REMINDERS_KEPT:]
    kept_reminders = {(n.id, m) for _, n, m in newest}
    out: list[list[Any]] = []
    for note, markers in said:
        kept = [
            m.render().removeprefix("<!-- escbot:").removesuffix(" -->")
            for m in markers
            if m.kind != "remind" or (note.id, m) in kept_reminders
        ]
        if kept:
            out.append([note.id, _stamp(note.created_at), kept])
    return out


def recall(notes: Iterable[Note], bot: str, read_from: datetime, reqs: str) -> Memory | None:
    """The facts in the newest block of escbot's own notes among `notes` (read from
    `read_from`), when that block was written no earlier, for the same requirements (`reqs`,
    requirements_digest): else None."""
    for note in sorted(notes, key=lambda n: (n.created_at, n.id), reverse=True):
        if note.system or note.author != bot or note.recalled:
            continue
        found = _BLOCK.search(note.body)
        if found is None:
            continue
        try:
            memory = from_state(json.loads(found.group(1)), bot, reqs)
        except ValueError:
            return None
        if memory is None or memory.as_of > note.created_at + timedelta(hours=1):
            return None  # not one escbot wrote when it posted this note
        # What came between the block and the read is unknown.
        return memory if memory.as_of >= read_from else None
    return None


def from_state(state: Any, bot: str, reqs: str) -> Memory | None:
    """The memory a state (state_of) holds; None when it is not one this version wrote for
    these requirements (the history is read instead)."""
    try:
        return _memory(state, bot) if state.get("reqs") == reqs else None
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        return None


def _memory(state: dict[str, Any], bot: str) -> Memory | None:
    if state.get("v") != VERSION:
        return None
    as_of = parse_gitlab_time(state["as_of"])
    notes = [
        Note(int(i), " ".join(f"<!-- escbot:{m} -->" for m in ms), bot, _time(at), recalled=True)
        for i, at, ms in state["said"]
    ]
    notes += [
        Note(int(i), "", str(by), _time(at), recalled=True, meets=frozenset(map(str, idents)))
        for i, at, by, idents in state["met"]
    ]
    notes += [
        Note(int(i), "\n".join(map(str, lines)), str(by), _time(at), recalled=True)
        for i, at, by, lines in state["commands"]
    ]
    return Memory(as_of, tuple(_merged(notes)))


def _merged(notes: list[Note]) -> list[Note]:
    """One note per id (a comment may have met a requirement and given a command)."""
    by_id: dict[int, Note] = {}
    for n in notes:
        old = by_id.get(n.id)
        by_id[n.id] = n if old is None else old.recalled_with(n)
    return sorted(by_id.values(), key=lambda n: (n.created_at, n.id))


def with_memory(esc: Escalation, bot: str, reqs: str, cached: Memory | None = None) -> Escalation:
    """`esc` with what escbot remembers of its history before the read: the newest block in
    its own notes read, or the run's cache (escbot.cache), whichever is newer, when no older
    than the read."""
    if esc.notes_since is None:
        return esc  # the whole history is here
    since = esc.notes_since
    found = [m for m in (recall(esc.notes, bot, since, reqs), cached) if m and m.as_of >= since]
    if not found:
        return esc
    memory = max(found, key=lambda m: m.as_of)
    # Only what came before the read: a remembered comment the read lacks was deleted since.
    older = [n for n in memory.notes if n.created_at < since]
    read = {n.id for n in esc.notes}
    older = [n for n in older if n.id not in read]
    notes = sorted((*older, *esc.notes), key=lambda n: (n.created_at, n.id))
    return esc.with_activity(notes=tuple(notes), memory_as_of=memory.as_of)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _time(text: object) -> datetime:
    return parse_gitlab_time(str(text))
