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
- lists only the issues changed since the last run's list (GitLab's `updated_after`, labelled
  or not: a label removed or an issue closed takes an escalation off), not every open
  escalation of the scope, and only the RAID registers changed since, not every register.
  Both are listed whole once a week: an issue deleted, or moved out of the scope's reach,
  leaves no trace in a list of changes.

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
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from escbot.memory import Memory, from_state, requirements_digest, state_of
from escbot.model import Companion, Context, Escalation, Note

VERSION = 2
LISTED_EVERY = timedelta(days=7)
# GitLab stamps `updated_at` as it saves, and the save may commit a little later (a request
# lasts at most a minute on GitLab's web server): a change a list did not show yet is newer
# than a minute before the list began (GitLab's Date). The next list starts there.
COMMIT_LAG = timedelta(minutes=1)
# escbot's writes to an escalation (its comment, then labels, due date) follow one another
# within seconds; a later change of `updated_at` is someone else's.
ESCBOTS_OWN_WRITES = timedelta(minutes=1)


@dataclass
class Listing:
    """The scope's open escalations and RAID registers as a run left them (GitLab's issue
    fields), so that the next run lists only the issues changed `since`."""

    escalations: dict[tuple[int, int], Escalation]
    # By the register's own issue: the escalation its marker names, and the register.
    registers: dict[tuple[int, int], tuple[tuple[int, int], Companion]]
    since: datetime | None  # a list of the issues changed from here shows every later change
    listed: datetime  # when they were last listed whole (the run's clock)

    def changed(self, seen: Iterable[Escalation], marker: str, register: str) -> Listing:
        """This listing after `seen`, issues changed since: each an escalation still open (or
        now) or not (closed, its label removed), a register or not."""
        escalations, registers = dict(self.escalations), dict(self.registers)
        for issue in seen:
            if issue.state == "opened" and marker in issue.labels:
                escalations[issue.key] = issue
            else:
                escalations.pop(issue.key, None)
            belongs = issue.companion_of("raid") if register in issue.labels else None
            if belongs:
                registers[issue.key] = (belongs, Companion.of(issue))
            else:
                registers.pop(issue.key, None)
        return Listing(escalations, registers, self.since, self.listed)

    def after(self, start: datetime | None) -> Listing:
        """This listing, read whole or brought up to date by lists begun after GitLab's time
        `start` (the Date of an earlier answer): the next list of changes starts a lag before
        it. Without a time from GitLab, the next run lists all again."""
        return replace(self, since=start - COMMIT_LAG if start else None)

    def ordered(self) -> list[Escalation]:
        """Newest first, as GitLab lists them."""
        return sorted(self.escalations.values(), key=lambda e: (e.created_at, e.key), reverse=True)


@dataclass
class MemoryCache:
    path: Path | None
    identity: dict[str, str]
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)  # read from the file
    kept: dict[str, dict[str, Any]] = field(default_factory=dict)  # this run's, to be saved
    listing: Listing | None = None  # as the file held it, then as this run leaves it
    note: str | None = None  # why the file was not used, for one line on stderr

    @classmethod
    def open(cls, path: str | Path | None, *, url: str, scope: str, ctx: Context) -> MemoryCache:
        identity = {
            "url": url.rstrip("/"),
            "scope": scope,
            "bot": ctx.bot,
            "requirements": requirements_digest(ctx.policy),
            # What the listing holds is chosen by these labels.
            "labels": f"{ctx.policy.labels.marker.name} {ctx.policy.process.labels.raid_register}",
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
            cache.listing = _listing(data.get("listing"))
        return cache

    def listed(self, now: datetime) -> Listing | None:
        """The open escalations and registers the last run left, to be brought up to date with
        the issues changed since; None once a week, when they are listed whole again."""
        listing = self.listing
        if listing is None or listing.since is None:
            return None
        return listing if listing.listed <= now < listing.listed + LISTED_EVERY else None

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
        data = {
            "v": VERSION,
            "for": self.identity,
            "escalations": self.kept,
            "listing": _listing_data(self.listing) if self.listing else None,
        }
        tmp = self.path.with_name(self.path.name + f".{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with tmp.open("w", encoding="utf-8") as out:  # in pieces: never one huge string
                json.dump(data, out, separators=(",", ":"))
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


def _listing_data(listing: Listing) -> dict[str, Any]:
    return {
        "since": listing.since.isoformat() if listing.since else None,
        "listed": listing.listed.isoformat(),
        "escalations": [_issue_data(e) for e in listing.ordered()],
        "registers": {
            f"{p}:{i}": {"of": "{}:{}".format(*of), **_companion_data(c)}
            for (p, i), (of, c) in listing.registers.items()
        },
    }


def _listing(data: Any) -> Listing | None:
    """The listing a cache file holds; None when damaged (all is listed whole)."""
    try:
        issues = [Escalation.from_gitlab(i) for i in data["escalations"]]
        registers = {
            _unkey(k): (_unkey(v["of"]), _companion(v)) for k, v in data["registers"].items()
        }
        since = datetime.fromisoformat(data["since"]) if data["since"] else None
        listed = datetime.fromisoformat(data["listed"])
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    return Listing({e.key: e for e in issues}, registers, since, listed)


def _issue_data(esc: Escalation) -> dict[str, Any]:
    """The fields of GitLab's issue that Escalation.from_gitlab reads, as GitLab gives them."""

    def when(moment: date | None) -> str | None:  # a datetime is a date too
        return moment.isoformat() if moment else None

    milestone = {"title": esc.milestone_title, "due_date": when(esc.milestone_due)}
    return {
        "project_id": esc.project_id,
        "iid": esc.iid,
        "references": {"full": esc.ref},
        "title": esc.title,
        "description": esc.description,
        "state": esc.state,
        "labels": list(esc.labels),
        "assignees": [{"username": a} for a in esc.assignees],
        "author": {"username": esc.author},
        "created_at": when(esc.created_at),
        "updated_at": when(esc.updated_at),
        "closed_at": when(esc.closed_at),
        "due_date": when(esc.due_date),
        "web_url": esc.web_url,
        "user_notes_count": esc.user_notes_count,
        "service_desk_reply_to": esc.service_desk_reply_to,
        "milestone": milestone if esc.milestone_title is not None else None,
        "confidential": esc.confidential,
    }


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
