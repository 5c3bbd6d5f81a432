"""Why escbot does what it does on one escalation: every requirement (last met and by which
comment, next due with the calendar arithmetic spelled out, the ladder's rung, who is next and
when, acknowledgements, snoozes and pauses), and for each comment escbot already posted, the rule
that posted it and its arithmetic. Pure: `/escbot explain`, `escbot explain` and each reminder's
"Why this comment" read the same."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from escbot.durations import Duration
from escbot.markers import Marker
from escbot.model import Classification, Context, Escalation, classify
from escbot.plan import Evaluation, Finding
from escbot.requirements import kind_of
from escbot.rules.cadence import anchor, initiation, ready_at, requirements, told
from escbot.rules.common import role_users, stamp
from escbot.talkback import PHASE1, Talk, listen


@dataclass(frozen=True)
class Row:
    rule: str
    title: str
    last_met: str | None  # "Tue 17 Nov 10:00 EST"
    met_by: str | None  # a link to the comment that met it
    due: str | None
    missed: bool
    arithmetic: str
    rung: str  # what the ladder was told of the current lapse
    next: str  # who hears next, and when
    held: str  # acknowledged, snoozed, paused


@dataclass(frozen=True)
class Posted:
    note: str  # a link to escbot's comment
    at: str
    reasons: list[str]


@dataclass
class Explanation:
    ref: str
    now: str
    rows: list[Row] = field(default_factory=list)
    posted: list[Posted] = field(default_factory=list)
    clock: str = ""  # the pause in force, or the time paused so far


def spell(label: str, base: datetime, every: Duration, due: datetime, ctx: Context) -> str:
    """ "last #status-update Tue 24 Nov 10:02 EST + 1 business day = Fri 27 Nov 10:02 EST
    (skipped: Thu 26 Nov Thanksgiving Day)", and the move by a pause when there was one."""
    cal = ctx.policy.calendar
    raw = cal.add(base, every)
    text = f"{label} {cal.describe(base)} + {every} = {cal.describe(raw)}"
    if every.is_business:
        day, skipped = cal.local(base).date() + timedelta(days=1), []
        while day <= cal.local(raw).date():
            if not cal.is_working_day(day):
                name = cal.holiday_name(day)
                skipped.append(f"{day:%a %d %b}" + (f" {name}" if name else ""))
            day += timedelta(days=1)
        if skipped:
            text += " (skipped: " + ", ".join(skipped) + ")"
    if due != raw:
        text += f", moved by the paused clock to {cal.describe(due)}"
    return text


def explain(esc: Escalation, ctx: Context) -> Explanation:
    cal = ctx.policy.calendar
    out = Explanation(esc.ref, cal.describe(ctx.now))
    cls = classify(esc.labels, ctx.policy)
    ev = Evaluation(esc.ref)
    start = anchor(esc, cls, ev)
    talk = listen(esc, ctx)
    findings = [initiation(esc, cls, start, ctx)] if cls.level else []
    findings += requirements(esc, cls, start, ctx, ev)
    for f in findings:
        out.rows.append(_row(f, esc, cls, start, ctx, talk))
    pause = talk.paused_now()
    if pause is not None:
        out.clock = f"paused since {cal.describe(pause.start)} by {pause.heard.note.author}"
    elif talk.pauses:
        days = talk.paused_time(ctx.now, cal) / timedelta(days=1)
        out.clock = f"running; paused {days:.2f} business days in all"
    out.posted = posted(esc, cls, start, ctx)
    return out


def _every(rule: str, cls: Classification, ctx: Context) -> tuple[Duration, str]:
    if rule == PHASE1:
        return ctx.policy.initiation.within, "opened"
    req = ctx.policy.requirements[cls.level or ""][rule]
    return req.every, f"last {req.tag}"


def _row(
    f: Finding, esc: Escalation, cls: Classification, start: datetime, ctx: Context, talk: Talk
) -> Row:
    cal = ctx.policy.calendar
    every, label = _every(f.rule, cls, ctx)
    base = max(f.met_at, start) if f.met_at and f.rule != PHASE1 else start
    if f.rule != PHASE1 and base == start:
        label = "opened"
    due = f.due or base
    met_by = next((n for n in esc.notes if n.created_at == f.met_at and ctx.counts(n)), None)
    rungs = ctx.policy.rungs_for(cls.level, cls.type)
    rung, told_at = told(esc).get((f.rule, stamp(due)), (-1, None))
    rung_text, next_text = "—", ""
    if rung >= 0:
        rung_text = f"rung {rung + 1} of {len(rungs)} told {cal.describe(told_at)}"  # type: ignore[arg-type]
    if rung + 1 < len(rungs):
        users = role_users(rungs[rung + 1].notify, esc, cls, ctx)
        when = ready_at(rungs, rung + 1, due, told_at, ctx)
        next_text = f"{', '.join(users) or 'nobody'}, not before {cal.describe(when)}"
    held = []
    if (ack := talk.acked(f.rule, due)) is not None and f.missed:
        held.append(f"acknowledged by {ack.note.author} {cal.describe(ack.note.created_at)}")
    if (snooze := talk.snoozed(f.rule, ctx.now)) is not None and snooze.until is not None:
        held.append(f"snoozed by {snooze.note.author} until {cal.describe(snooze.until)}")
    if talk.paused_now() is not None and _pausable(f.rule, ctx):
        held.append("clock paused")
    done = f.rule == PHASE1 and not f.detail  # Phase 1 has no meeting time: done or not
    return Row(
        rule=f.rule,
        title=f.title,
        last_met="done" if done else cal.describe(f.met_at) if f.met_at else None,
        met_by=f"{esc.web_url}#note_{met_by.id}" if met_by else None,
        due=cal.describe(due) if f.due else None,
        missed=f.missed,
        arithmetic=spell(label, base, every, due, ctx) if f.due else f.detail,
        rung=rung_text,
        next="" if done else next_text if f.missed or rung < 0 else "",
        held="; ".join(held),
    )


def _pausable(rule: str, ctx: Context) -> bool:
    tb = ctx.policy.talkback
    return rule in tb.pausable or (rule == PHASE1 and tb.pause_phase1)


def posted(esc: Escalation, cls: Classification, start: datetime, ctx: Context) -> list[Posted]:
    """Each of escbot's comments, with the rule behind each of its markers."""
    cal = ctx.policy.calendar
    out = []
    for note in esc.notes:
        if note.system or note.author != ctx.bot or not note.markers:
            continue
        reasons = [reason(m, esc, cls, start, ctx) for m in note.markers]
        out.append(Posted(f"{esc.web_url}#note_{note.id}", cal.describe(note.created_at), reasons))
    return out


def why(markers: tuple[Marker, ...], esc: Escalation, ctx: Context) -> list[str]:
    """The reasons behind a comment's markers: its "Why this comment" section, its audit line."""
    cls = classify(esc.labels, ctx.policy)
    start = anchor(esc, cls, Evaluation(esc.ref))
    return list(dict.fromkeys(reason(m, esc, cls, start, ctx) for m in markers))


def reason(m: Marker, esc: Escalation, cls: Classification, start: datetime, ctx: Context) -> str:
    """One marker's rule and the reasoning behind it (the arithmetic of a reminder's due)."""
    if m.kind == "talkback":
        return f"rule talkback: the answer to the /escbot commands of comment {m.get('note')}"
    if m.kind != "remind":
        attrs = " ".join(f"{k}={v}" for k, v in m.attrs)
        return f"rule {m.kind}" + (f" ({attrs})" if attrs else "")
    return why_reminder(
        m.get("rule") or "", m.get("due") or "", int(m.get("rung") or 0), esc, cls, start, ctx
    )


def why_reminder(
    rule: str,
    due_stamp: str,
    rung: int,
    esc: Escalation,
    cls: Classification,
    start: datetime,
    ctx: Context,
) -> str:
    """ "Status update due Fri 27 Nov 10:02 EST (last #status-update Tue 24 Nov 10:02 EST + 1
    business day = ...); rung 2 of 4 (qa): 1 business day after the due = ..."."""
    cal = ctx.policy.calendar
    due = datetime.fromisoformat(due_stamp.replace("Z", "+00:00"))
    rungs = ctx.policy.rungs_for(cls.level, cls.type)
    if rule == PHASE1:
        title, label, base = "Phase 1", "opened", start
        every = ctx.policy.initiation.within
    else:
        req = ctx.policy.requirements.get(cls.level or "", {}).get(rule)
        if req is None:
            return f"rule tracking: {rule} due {cal.describe(due)}, rung {rung + 1}"
        title, every = req.title, req.every
        met = [t for t in kind_of(req).met_times(esc, req, ctx) if t < due]
        base = max(met[-1], start) if met else start
        label = f"last {req.tag}" if met and base > start else "opened"
    text = f"rule tracking: {title} due {cal.describe(due)} ({spell(label, base, every, due, ctx)})"
    if rung < len(rungs):
        after = rungs[rung].after
        who = ", ".join(rungs[rung].notify)
        text += (
            f"; rung {rung + 1} of {len(rungs)} ({who}): {after} after the due = "
            f"{cal.describe(cal.add(due, after))}"
        )
    return text


def to_markdown(ex: Explanation, *, with_posted: bool = True) -> str:
    """The table (and escbot's comments with their reasons), as GitLab markdown."""
    from escbot.render import md

    lines = [
        f"State of {md(ex.ref)} at {ex.now}" + (f"; clock {ex.clock}" if ex.clock else "") + ":",
        "",
        "| Requirement | Last met | Next due | Missed | Ladder | Next | Held |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in ex.rows:
        met = r.last_met or "never"
        if r.met_by:
            met = f"[{met}]({r.met_by})"
        lines.append(
            f"| **{md(r.title)}** | {met} | {r.due or '—'} | {'yes' if r.missed else 'no'} "
            f"| {r.rung} | {md(r.next) or '—'} | {md(r.held) or '—'} |"
        )
    lines += ["", "How each deadline is counted:", ""]
    lines += [f"- {md(r.title)}: {md(r.arithmetic)}" for r in ex.rows]
    if with_posted and ex.posted:
        lines += ["", "escbot's comments so far:", ""]
        for p in ex.posted:
            lines.append(f"- [{p.at}]({p.note}):")
            lines += [f"  - {md(x)}" for x in p.reasons]
    return "\n".join(lines) + "\n"
