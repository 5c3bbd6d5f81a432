"""Requirement kinds: how a tracking requirement is met, as objects with one interface.

    kind = kind_of(req)
    kind.met_times(esc, req, ctx)       when it was met, oldest first, as far as the snapshot shows
    kind.finding(esc, req, start, ctx)  the verdict now: last met, next due, missed; history needed
    kind.how_to_meet(req, esc)          what a reminder says satisfies it (markdown)
    kind.compliance(...)                due points in a window and how many were met on time

The check's verdicts and the report's compliance figures both come from these objects. Adding a
kind: a class here registered in KINDS, its name in `policies.REQUIREMENT_KINDS`, and a line in
`templates/_requirements.md` that says how it is met.
"""

from __future__ import annotations

import bisect
import sys
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from escbot.model import Context, Escalation
from escbot.plan import Finding
from escbot.policies import Requirement
from escbot.render import md


@dataclass(frozen=True, slots=True)
class Compliance:
    """Required updates with a due point in a window, and how many were made on time."""

    required: int = 0
    on_time: int = 0


class RequirementKind:
    name: ClassVar[str]
    # Whether met_times holds every past meeting (a RAID edit leaves only its last).
    full_history: ClassVar[bool] = True

    def met_times(self, esc: Escalation, req: Requirement, ctx: Context) -> list[datetime]:
        raise NotImplementedError

    def detail(self, req: Requirement, esc: Escalation) -> str:
        """What meets it, in plain words (findings, JSON output)."""
        raise NotImplementedError

    def how_to_meet(self, req: Requirement, esc: Escalation) -> str:
        """What meets it, as markdown for a reminder."""
        return md(self.detail(req, esc))

    def needs(self, esc: Escalation, start: datetime, last: datetime | None) -> set[str]:
        """History the snapshot lacks for a sure verdict."""
        return set()

    def finding(
        self, esc: Escalation, req: Requirement, start: datetime, ctx: Context
    ) -> tuple[Finding, set[str]]:
        times = self.met_times(esc, req, ctx)
        last = times[-1] if times else None
        base = max(last, start) if last else start
        due = ctx.policy.calendar.add(base, req.every)
        finding = Finding(
            ref=esc.ref,
            rule=req.key,
            title=req.title,
            missed=ctx.now >= due,
            due=due,
            met_at=last,
            detail=sys.intern(self.detail(req, esc)),  # one text per requirement, not per finding
        )
        return finding, self.needs(esc, start, last)

    def compliance(
        self,
        esc: Escalation,
        req: Requirement,
        ctx: Context,
        start: datetime,
        since: datetime,
        end: datetime,
    ) -> Compliance | None:
        """Due points in (since, end] and how many were met before them; None without history.

        The walk moves the due the way `finding` does: a meeting before the due meets it and
        the next due counts from it; without one the period is missed, and the next due counts
        from a late meeting (the last one within a further period) or else from the missed due,
        so a long silence misses once per period. Meetings older than the snapshot's notes are
        unknown: the walk starts there as if just met.
        """
        if not self.full_history:
            return None
        cal = ctx.policy.calendar
        times = self.met_times(esc, req, ctx)
        base = esc.notes_since if esc.notes_since and start < esc.notes_since else start
        required = on_time = 0
        for _ in range(10_000):
            due = cal.add(base, req.every)
            if due > end or due <= base:
                break
            met = _last_in(times, base, due)
            if met is not None:
                ok, base = True, met
            else:
                late = _last_in(times, due, cal.add(due, req.every))
                ok, base = False, late if late is not None else due
            if due > since:
                required += 1
                on_time += ok
        return Compliance(required, on_time)


def _last_in(times: list[datetime], after: datetime, until: datetime) -> datetime | None:
    """The last of the sorted `times` in (after, until]."""
    i = bisect.bisect_right(times, until)
    return times[i - 1] if i and times[i - 1] > after else None


class NoteKind(RequirementKind):
    """A staff member's comment (or internal note, or reply in the Slack thread) with the
    requirement's tag or a heading with its title; a customer's comment never counts as the
    team's update."""

    name = "note"

    def met_times(self, esc: Escalation, req: Requirement, ctx: Context) -> list[datetime]:
        # A reply in the escalation's Slack thread is a comment like any other.
        replies = esc.thread.replies if esc.thread else ()
        return sorted(
            n.created_at for n in (*esc.notes, *replies) if ctx.counts(n) and n.satisfies(req)
        )

    def detail(self, req: Requirement, esc: Escalation) -> str:
        return f'a comment with {req.tag} or a heading "{req.title}"'

    def how_to_meet(self, req: Requirement, esc: Escalation) -> str:
        return f"a comment with `{req.tag}`, or a heading `## {req.title}`"

    def needs(self, esc: Escalation, start: datetime, last: datetime | None) -> set[str]:
        # The last update may be older than the bulk-read window (and than escbot's memory).
        since = None if esc.history_known else esc.notes_since
        if last is None and since is not None and start < since:
            return {"notes"}
        return set()


# Creation and linking touch a register's updated_at within seconds; later changes are edits.
RAID_SETTLE_SECONDS = 120


class RaidEditKind(RequirementKind):
    """An edit of the escalation's linked RAID register issue."""

    name = "raid_edit"
    full_history = False

    def met_times(self, esc: Escalation, req: Requirement, ctx: Context) -> list[datetime]:
        raid = esc.raid
        if (
            raid is None
            or (raid.updated_at - raid.created_at).total_seconds() <= RAID_SETTLE_SECONDS
        ):
            return []
        return [raid.updated_at]

    def detail(self, req: Requirement, esc: Escalation) -> str:
        if esc.raid is None:
            return "no RAID register issue is linked to this escalation"
        return f"edit the RAID register {esc.raid.reference}"

    def how_to_meet(self, req: Requirement, esc: Escalation) -> str:
        if esc.raid is None:
            return md(self.detail(req, esc))
        # In a code span: a real reference would make GitLab add a "mentioned in" note to the
        # register, and that touch would look like the edit it asks for.
        return f"an edit of the RAID register `{esc.raid.reference}`"


# One explicit registry; tests/test_structure.py keeps it equal to policies.REQUIREMENT_KINDS.
KINDS: dict[str, RequirementKind] = {kind.name: kind for kind in (NoteKind(), RaidEditKind())}


def kind_of(req: Requirement) -> RequirementKind:
    return KINDS[req.met_by]
