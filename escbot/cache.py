"""A local copy of escbot's memory between scheduled runs (`--cache FILE`, ESCBOT_CACHE): a
speed-up, never a source of truth.

escbot's memory of an escalation lives on GitLab, in its own internal notes (escbot.memory).
The cache keeps the same memory for every escalation a run knew whole, with the number of
comments GitLab counted on it then (the issue list's `user_notes_count`). The next run then:

- reads no activity at all for a project whose escalations all still have that many comments
  (nothing was said since; label and description changes come with the issue list);
- reads a changed project's activity only from the oldest memory among its changed
  escalations, not the rules' whole window;
- needs no whole thread for an escalation escbot has not written to lately (a healthy one
  opened Red, a lapse escbot stopped climbing), which its notes alone cannot spare;
- lists only the RAID registers changed since the newest one it knows (GitLab's own
  `updated_at`), instead of every register of the scope.

The cache is trusted only for the GitLab, scope, bot and tracking requirements it was written
for; anything else (a missing or damaged file, another policy) starts it afresh, and the run
reads what it needs from GitLab. An escalation escbot just commented on is kept with that
comment, so escbot's own writes do not count as a change.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from escbot.memory import Memory, from_state, requirements_digest, state_of
from escbot.model import Companion, Context, Escalation, Note

VERSION = 1
REGISTERS_LISTED_EVERY = timedelta(days=7)
# escbot's writes to an escalation (its comment, then labels, due date) follow one another
# within seconds; a later change of `updated_at` is someone else's.
ESCBOTS_OWN_WRITES = timedelta(minutes=1)


@dataclass
class MemoryCache:
    path: Path | None
    identity: dict[str, str]
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)  # read from the file
    kept: dict[str, dict[str, Any]] = field(default_factory=dict)  # this run's, to be saved
    raids: dict[str, Any] = field(default_factory=dict)  # RAID registers: when listed, which
    note: str | None = None  # why the file was not used, for one line on stderr

    @classmethod
    def open(cls, path: str | Path | None, *, url: str, scope: str, ctx: Context) -> MemoryCache:
        identity = {
            "url": url.rstrip("/"),
            "scope": scope,
            "bot": ctx.bot,
            "requirements": requirements_digest(ctx.policy),
        }
        cache = cls(Path(path) if path else None, identity)
        if cache.path is None or not cache.path.exists():
            return cache
        try:
            data = json.loads(cache.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            cache.note = f"cache {cache.path}: not read ({type(exc).__name__}); starting afresh"
            return cache
        if not isinstance(data, dict) or data.get("v") != VERSION:
            cache.note = f"cache {cache.path}: another version; starting afresh"
        elif data.get("for") != identity:
            cache.note = f"cache {cache.path}: written for another GitLab, scope, bot or policy"
        elif isinstance(data.get("escalations"), dict):
            cache.entries = data["escalations"]
            if isinstance(data.get("raids"), dict):
                cache.raids = data["raids"]
        return cache

    def registers(self, now: datetime) -> tuple[dict[tuple[int, int], Companion], datetime] | None:
        """The RAID registers known (by escalation), and the moment after GitLab's newest
        `updated_at` among them (its times are to the millisecond): only those changed since
        need listing. None once a week: a register deleted or moved shows only in a full list."""
        try:
            listed = datetime.fromisoformat(self.raids["listed"])
            known = {_unkey(k): _companion(v) for k, v in self.raids["registers"].items()}
        except (ValueError, TypeError, KeyError, AttributeError):
            return None
        if not known or not listed <= now < listed + REGISTERS_LISTED_EVERY:
            return None
        return known, max(c.updated_at for c in known.values()) + timedelta(milliseconds=1)

    def keep_registers(
        self, raids: dict[tuple[int, int], Companion], listed: datetime | None, now: datetime
    ) -> None:
        """The registers this run knows; `listed`: when they were last listed in full (None:
        by this run, at `now`)."""
        if self.path is not None:
            self.raids = {
                "listed": (listed or now).isoformat(),
                "registers": {f"{p}:{i}": _companion_data(c) for (p, i), c in raids.items()},
            }

    @property
    def registers_listed(self) -> datetime | None:
        try:
            return datetime.fromisoformat(self.raids["listed"])
        except (ValueError, TypeError, KeyError):
            return None

    def recalled(self, esc: Escalation) -> tuple[Memory, bool] | None:
        """The cached memory of `esc`, and whether nothing happened on it since: as many
        comments as then, and GitLab's `updated_at` as then (or within a minute of escbot's own
        last write then). A comment deleted and another added, or a comment edited, shows in
        `updated_at`."""
        entry = self.entries.get(_key(esc))
        if not isinstance(entry, dict) or not isinstance(entry.get("notes"), int):
            return None
        try:
            seen = datetime.fromisoformat(entry["updated"])
            wrote = datetime.fromisoformat(entry["wrote"]) if entry.get("wrote") else None
        except (KeyError, TypeError, ValueError):
            return None
        memory = from_state(
            entry.get("memory"), self.identity["bot"], self.identity["requirements"]
        )
        if memory is None:
            return None
        same = esc.updated_at == seen or (
            wrote is not None and seen <= esc.updated_at <= wrote + ESCBOTS_OWN_WRITES
        )
        return memory, same and entry["notes"] == esc.user_notes_count

    def keep(
        self,
        esc: Escalation,
        ctx: Context,
        posted: Iterable[Note] = (),
        wrote: datetime | None = None,
    ) -> None:
        """Remember `esc` as this run knows it (its whole history: Escalation.history_known),
        with the comments escbot posted on it this run and GitLab's time of its last write."""
        if self.path is None or not esc.history_known:
            return
        posted = tuple(posted)
        if posted:
            esc = esc.with_activity(notes=(*esc.notes, *posted))
        self.kept[_key(esc)] = {
            "notes": esc.user_notes_count + len(posted),
            "updated": esc.updated_at.isoformat(),
            # GitLab's time of escbot's last write: its writes touch `updated_at` up to then.
            "wrote": wrote.isoformat() if wrote else None,
            "memory": state_of(esc, ctx),
        }

    def save(self) -> str | None:
        """Write this run's memory (only the escalations it saw); a warning line on failure."""
        if self.path is None:
            return None
        data = {"v": VERSION, "for": self.identity, "escalations": self.kept, "raids": self.raids}
        tmp = self.path.with_name(self.path.name + f".{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")
            tmp.replace(self.path)  # whole or not at all: a run cut short leaves the old file
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            return (
                f"cache {self.path}: not written ({exc.strerror or exc}); the next run reads more"
            )
        return None


def _key(esc: Escalation) -> str:
    return f"{esc.project_id}:{esc.iid}"


def _unkey(text: str) -> tuple[int, int]:
    project, iid = text.split(":")
    return int(project), int(iid)


def _companion_data(c: Companion) -> dict[str, Any]:
    data = asdict(c)
    data["created_at"], data["updated_at"] = c.created_at.isoformat(), c.updated_at.isoformat()
    return data


def _companion(data: dict[str, Any]) -> Companion:
    return Companion(
        project_id=int(data["project_id"]),
        iid=int(data["iid"]),
        state=str(data["state"]),
        created_at=datetime.fromisoformat(data["created_at"]),
        updated_at=datetime.fromisoformat(data["updated_at"]),
        web_url=str(data["web_url"]),
        reference=str(data["reference"]),
    )
