"""What the `/escbot` commands in an escalation's comments mean now: acknowledgements, snoozes and
pauses in force, and why a command was refused. Pure: read from the snapshot every run, so an
edited command means what it says now and a deleted one means nothing.

Only members with the Reporter role and above (the snapshot's `readers`) give commands; never
escbot itself, never a system note.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from escbot.businesstime import BusinessCalendar
from escbot.commands import Command, parse
from escbot.model import Context, Escalation, Note, classify

PHASE1 = "initiation"  # the rule name of Phase 1's finding (escbot.rules.cadence)
_PHASE1_NAMES = ("phase1", "phase_1", PHASE1)


@dataclass(frozen=True)
class Heard:
    """One command as escbot understood it: in force, or refused and why."""

    note: Note
    command: Command
    refusal: str | None = None
    requirements: tuple[str, ...] = ()  # resolved keys (ack, snooze); () for "all" (ack)
    until: datetime | None = None  # snooze, pause: when it ends (a pause may end sooner)


@dataclass(frozen=True)
class Pause:
    start: datetime
    end: datetime | None  # None: in force
    heard: Heard


@dataclass(frozen=True)
class Talk:
    heard: tuple[Heard, ...]
    pauses: tuple[Pause, ...]

    def in_force(self, verb: str) -> list[Heard]:
        return [h for h in self.heard if h.command.verb == verb and h.refusal is None]

    def acked(self, rule: str, due: datetime) -> Heard | None:
        """The acknowledgement of the lapse of `rule` due at `due`, if any: one given after it."""
        return next(
            (
                h
                for h in self.in_force("ack")
                if h.note.created_at >= due and (not h.requirements or rule in h.requirements)
            ),
            None,
        )

    def snoozed(self, rule: str, now: datetime) -> Heard | None:
        """The snooze of `rule` in force now."""
        return next(
            (
                h
                for h in reversed(self.in_force("snooze"))
                if rule in h.requirements and h.until is not None and now < h.until
            ),
            None,
        )

    def paused_now(self) -> Pause | None:
        return next((p for p in self.pauses if p.end is None), None)

    def shift(
        self, base: datetime, due: datetime, now: datetime, cal: BusinessCalendar, hours_only: bool
    ) -> datetime:
        """`due` (counted from `base`) moved by the working time of every pause that began
        before it: each such pause stops the clock for its whole length (up to now)."""
        for pause in self.pauses:
            if pause.start >= due:
                break
            paused = cal.between(max(pause.start, base), pause.end or now, hours_only=hours_only)
            due = cal.extend(due, paused, hours_only=hours_only)
        return due

    def paused_time(self, now: datetime, cal: BusinessCalendar) -> timedelta:
        """Working time paused in all (whole working days, as business days count)."""
        return sum((cal.between(p.start, p.end or now) for p in self.pauses), timedelta(0))


def digest(command_lines: list[str]) -> str:
    """What a comment's answer is keyed by besides its note id: an edited command is new."""
    return hashlib.sha1("\n".join(command_lines).encode()).hexdigest()[:10]


def may_command(note: Note, esc: Escalation, ctx: Context) -> bool:
    """Reporter and above (escbot reads the project's members every run), never escbot."""
    if not ctx.is_human(note) or note.created_at > ctx.now:
        return False
    return any(m.username == note.author for m in esc.readers or ())


def requirement_names(esc: Escalation, ctx: Context) -> dict[str, str]:
    """Every way a command may name a requirement of the escalation's level -> its key."""
    names = {n: PHASE1 for n in _PHASE1_NAMES}
    level = classify(esc.labels, ctx.policy).level
    for key, req in ctx.policy.requirements.get(level or "", {}).items():
        names[_norm(key)] = key
        names[_norm(req.tag)] = key
    return names


def _norm(word: str) -> str:
    return word.strip().lstrip("#").lower().replace("-", "_")


def commanded_notes(esc: Escalation, ctx: Context) -> list[tuple[Note, list[Command]]]:
    """The notes that give commands, each with its commands, oldest first."""
    if not ctx.policy.talkback.enabled:
        return []
    out = []
    for note in esc.notes:
        if "/escbot" in note.body.lower() and may_command(note, esc, ctx):
            commands = parse(note.body, ctx.policy.tz)
            if commands:
                out.append((note, commands))
    return out


def listen(esc: Escalation, ctx: Context) -> Talk:
    """Every command of the escalation, judged in the order given."""
    policy, cal = ctx.policy, ctx.policy.calendar
    names = requirement_names(esc, ctx)
    heard: list[Heard] = []
    pauses: list[Pause] = []
    for note, commands in commanded_notes(esc, ctx):
        at = note.created_at
        for cmd in commands:
            h = Heard(note, cmd, refusal=cmd.error)
            if h.refusal is not None:
                heard.append(h)
                continue
            unknown = [w for w in cmd.requirements if _norm(w) not in names]
            known_keys = (names[_norm(w)] for w in cmd.requirements if w not in unknown)
            keys = tuple(dict.fromkeys(known_keys))
            if unknown:
                keys_named = {"phase1" if k == PHASE1 else k for k in names.values()}
                known = ", ".join(sorted(k.replace("_", "-") for k in keys_named))
                h = Heard(note, cmd, f"unknown requirement {', '.join(unknown)} ({known})")
            elif cmd.verb == "ack":
                h = Heard(note, cmd, requirements=keys)
            elif cmd.verb == "snooze":
                until = cmd.until or cal.add(at, cmd.duration)  # type: ignore[arg-type]
                limit = cal.add(at, policy.talkback.snooze_max)
                if until <= at:
                    h = Heard(note, cmd, f"{cal.describe(until)} has passed")
                elif until > limit and note.author not in ctx.pmo:
                    h = Heard(
                        note,
                        cmd,
                        f"until {cal.describe(until)} is longer than the policy's maximum of "
                        f"{policy.talkback.snooze_max} (until {cal.describe(limit)}); only the "
                        "PMO may snooze longer",
                    )
                else:
                    h = Heard(note, cmd, requirements=keys, until=until)
            elif cmd.verb == "pause":
                h, pause = _pause(note, cmd, pauses, at, cal)
                if pause is not None:
                    pauses.append(pause)
            elif cmd.verb == "resume":
                current = next((p for p in pauses if p.end is None or p.end > at), None)
                if current is None:
                    h = Heard(note, cmd, "the clock is not paused")
                else:
                    pauses[pauses.index(current)] = Pause(current.start, at, current.heard)
            heard.append(h)
    return Talk(tuple(heard), tuple(_ended(p, ctx.now) for p in pauses))


def _pause(
    note: Note, cmd: Command, pauses: list[Pause], at: datetime, cal: BusinessCalendar
) -> tuple[Heard, Pause | None]:
    running = next((p for p in pauses if p.end is None or p.end > at), None)
    if running is not None:
        since = cal.describe(running.start)
        return Heard(note, cmd, f"the clock is already paused (since {since})"), None
    if cmd.until is not None and cmd.until <= at:
        return Heard(note, cmd, f"{cal.describe(cmd.until)} has passed"), None
    h = Heard(note, cmd, until=cmd.until)
    return h, Pause(at, cmd.until, h)


def _ended(pause: Pause, now: datetime) -> Pause:
    """A pause whose `until` is still ahead is in force (end None) until then."""
    if pause.end is not None and pause.end > now:
        return Pause(pause.start, None, pause.heard)
    return pause
