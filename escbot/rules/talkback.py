"""Answers to `/escbot` commands (escbot.talkback): each comment's commands answered once, in a
note that says what escbot understood or why it refused; answered again when the commands were
edited. While the clock is paused the policy's `paused` label shows it."""

from __future__ import annotations

from datetime import timedelta

from escbot.explain import explain, to_markdown
from escbot.markers import marker
from escbot.model import Context, Escalation, Note, classify
from escbot.plan import Action, Evaluation
from escbot.policies import Requirement
from escbot.rules.common import act, comment
from escbot.talkback import PHASE1, Heard, Talk, digest, listen

RULE = "talkback"


def talkback_rule(esc: Escalation, ctx: Context) -> Evaluation:
    ev = Evaluation(esc.ref)
    # Escalations only: an e-mailed issue not classified yet has no clocks to talk about.
    level = classify(esc.labels, ctx.policy).level
    if esc.state != "opened" or level is None or not ctx.policy.talkback.enabled:
        return ev
    talk = listen(esc, ctx)
    if any(h.note.recalled for h in talk.heard):
        # escbot's memory holds a command, not whether it was edited or deleted since: the
        # thread is read whole (commands are few; their clocks must be right).
        ev.needs.add("notes")
    answered = {m.get("note") for m in esc.posted_markers if m.kind == RULE}
    by_note: dict[Note, list[Heard]] = {}
    for h in talk.heard:
        by_note.setdefault(h.note, []).append(h)
    for note, heard in by_note.items():
        mark = marker(RULE, note=note.id, v=digest([h.command.text for h in heard]))
        if esc.has_posted(mark):
            continue
        body = ctx.policy.render(
            "reminders/talkback.md",
            marker=mark,
            author=note.author,
            at=ctx.policy.calendar.describe(note.created_at),
            edited=str(note.id) in answered,
            answers=[answer(h, esc, ctx, talk) for h in heard],
        )
        verbs = ", ".join(h.command.verb or "?" for h in heard)
        summary = f"answer {note.author}'s /escbot {verbs}"
        ev.actions.append(comment(esc, summary, RULE, body, (mark,)))
    ev.actions += pause_label(esc, ctx, talk)
    return ev


def pause_label(esc: Escalation, ctx: Context, talk: Talk) -> list[Action]:
    label = ctx.policy.talkback.paused_label
    if label is None or (talk.paused_now() is not None) == (label in esc.labels):
        return []
    if talk.paused_now() is not None:
        summary = f"set {label} on {esc.ref} (clock paused)"
        return [act("labels", esc, summary, RULE, add_labels=(label,))]
    summary = f"remove {label} from {esc.ref} (clock running)"
    return [act("labels", esc, summary, RULE, remove_labels=(label,))]


def level_requirements(esc: Escalation, ctx: Context) -> dict[str, Requirement]:
    return ctx.policy.requirements.get(classify(esc.labels, ctx.policy).level or "", {})


def titles(keys: tuple[str, ...], esc: Escalation, ctx: Context) -> list[str]:
    reqs = level_requirements(esc, ctx)
    return ["Phase 1" if k == PHASE1 else reqs[k].title if k in reqs else k for k in keys]


def pausable(esc: Escalation, ctx: Context) -> list[str]:
    """The titles of the clocks a pause stops on this escalation."""
    tb = ctx.policy.talkback
    names = [r.title for k, r in level_requirements(esc, ctx).items() if k in tb.pausable]
    return names + (["Phase 1"] if tb.pause_phase1 else [])


def business_days(length: timedelta) -> str:
    days = length / timedelta(days=1)
    unit = "business day" if days == 1 else "business days"
    return f"{days:.2f}".rstrip("0").rstrip(".") + " " + unit


def answer(h: Heard, esc: Escalation, ctx: Context, talk: Talk) -> dict[str, object]:
    """One command's line: what it was, and what escbot understood (or why not)."""
    cal = ctx.policy.calendar
    cmd = h.command
    out: dict[str, object] = {"text": cmd.text, "refusal": h.refusal, "verb": cmd.verb}
    if h.refusal is not None:
        return out
    if cmd.verb == "ack":
        what = ", ".join(titles(h.requirements, esc, ctx)) or "every requirement"
        out["meaning"] = (
            f"acknowledged: no further ladder step for {what} overdue at "
            f"{cal.describe(h.note.created_at)}; the reminders carry on with the next period"
        )
    elif cmd.verb == "snooze":
        assert h.until is not None
        why = f" ({cmd.reason})" if cmd.reason else ""
        what = ", ".join(titles(h.requirements, esc, ctx))
        out["meaning"] = f"no reminder for {what} until {cal.describe(h.until)}{why}"
    elif cmd.verb == "pause":
        clocks = pausable(esc, ctx)
        until = f" until {cal.describe(h.until)}" if h.until else " until `/escbot resume`"
        out["meaning"] = (
            f"clock paused ({cmd.reason}) from {cal.describe(h.note.created_at)}{until}: the "
            f"deadlines of {', '.join(clocks) or 'nothing'} move by the paused business time"
        )
    elif cmd.verb == "resume":
        pause = next(p for p in talk.pauses if p.end == h.note.created_at)
        length = cal.between(pause.start, h.note.created_at)
        out["meaning"] = (
            f"clock running again from {cal.describe(h.note.created_at)}: paused since "
            f"{cal.describe(pause.start)}, {business_days(length)} of business time"
        )
    elif cmd.verb == "explain":
        out["meaning"] = "the state of every requirement follows"
        out["table"] = to_markdown(explain(esc, ctx), with_posted=False)
    return out
