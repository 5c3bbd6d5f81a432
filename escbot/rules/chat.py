"""The escalation's Slack thread (policy `chat`): opened once, mirrored, unpinned at close-out.

chat_open    no thread recorded in the description: start it, pin it, record it on the issue,
             tick the Phase 1 items it does (the executor finds a thread already posted by its
             Slack metadata, so a run cut short never starts a second one)
chat_reply   each escbot comment of a mirrored kind, once per set of markers: comments already
             on GitLab that the thread lacks (catch-up after an outage), and those this run plans
             (`mirror`, after the noise budget composed them)
chat_close   in close-out, once the retrospective exists: unpin, post the outcome and the
             retrospective's link, tick the close-out item

Pure: what Slack holds comes from the snapshot (Escalation.thread, read by escbot.slack_io);
when Slack could not be read, nothing is planned for the thread this run.
"""

from __future__ import annotations

from escbot import description as desc
from escbot.markers import Marker, marker
from escbot.model import ChatThread, Classification, Context, Escalation, classify
from escbot.plan import Action, Evaluation
from escbot.policies import Chat, Policy
from escbot.rules.closeout import in_closeout
from escbot.rules.common import act

THREAD_KIND = "chat-thread"  # the description's marker (where the thread is) and the comment's


def chat_rule(esc: Escalation, ctx: Context) -> Evaluation:
    ev = Evaluation(esc.ref)
    chat = ctx.policy.chat
    if chat is None or not chat.slack:
        return ev
    cls = classify(esc.labels, ctx.policy)
    if cls.level is None:  # not a tracked escalation (yet): an e-mail waiting for triage
        return ev
    if esc.thread_ref is None:
        if esc.state == "opened":
            ev.actions.append(open_action(esc, cls, ctx, chat))
        return ev
    thread = esc.thread
    if thread is None:  # recorded, but Slack could not be read this run
        return ev
    opened = thread.ts
    for note in esc.notes:
        if note.author != ctx.bot or note.created_at.timestamp() < float(opened):
            continue
        action = reply_action(esc, note.body, tuple(note.markers), chat, thread)
        if action is None:
            continue
        if note.recalled:  # escbot's memory keeps its markers, not its text: read it whole
            ev.needs.add("notes")
        else:
            ev.actions.append(action)
    if thread.pinned and in_closeout(esc, cls, ctx.policy):
        close = close_action(esc, cls, ctx.policy, chat, thread)
        if close is not None:
            ev.actions.append(close)
    return ev


def mirror(esc: Escalation, actions: list[Action], ctx: Context) -> list[Action]:
    """The thread's copies of the comments this run plans for the escalation (composed)."""
    chat = ctx.policy.chat
    thread = esc.thread
    if chat is None or not chat.slack or thread is None:
        return []
    out = []
    for action in actions:
        if action.kind == "comment" and (action.project_id, action.iid) == esc.key:
            copy = reply_action(esc, action.body, action.markers, chat, thread)
            if copy is not None:
                out.append(copy)
    return out


def reply_action(
    esc: Escalation, body: str, markers: tuple[Marker, ...], chat: Chat, thread: ChatThread
) -> Action | None:
    """A reply in the thread for a comment of a mirrored kind the thread does not hold yet."""
    wanted = tuple(m for m in markers if m.kind in chat.mirror)
    if not wanted or set(wanted) <= thread.mirrored:
        return None
    kinds = ", ".join(dict.fromkeys(m.kind for m in wanted))
    return act(
        "chat_reply",
        esc,
        f"reply in the Slack thread of {esc.ref} ({kinds})",
        "chat",
        body=body,
        markers=wanted,
        data={"thread": (thread.channel, thread.ts)},
    )


def open_action(esc: Escalation, cls: Classification, ctx: Context, chat: Chat) -> Action:
    policy = ctx.policy
    customer = desc.field(esc.description, "Customer")
    channel = chat.channel_for(customer)
    text = policy.render(
        "chat/thread.md",
        esc=esc,
        level=_title(policy, "level", cls.level),
        severity=_title(policy, "severity", cls["severity"]),
        customer=customer,
        dri=[f"@{u}" for u in esc.assignees],
    )
    once = marker(THREAD_KIND)
    _, ticked = desc.tick_tasks(esc.description, chat.phase1_items)
    note = policy.render("reminders/chat_thread.md", channel=channel, ticked=ticked, marker=once)
    return act(
        "chat_open",
        esc,
        f"start the Slack thread of {esc.ref} in #{channel.removeprefix('#')} and pin it",
        "chat",
        body=text,
        markers=(once,),
        data={
            "channel": channel,
            "oldest": f"{esc.created_at.timestamp() - 86400:.6f}",  # where to look for it
            "phase1_items": list(chat.phase1_items),
            "links_line": chat.links_line,
            "comment": note,  # on the issue once the thread is there
        },
    )


def close_action(
    esc: Escalation, cls: Classification, policy: Policy, chat: Chat, thread: ChatThread
) -> Action | None:
    """Unpin with the outcome, once the retrospective (its link) exists."""
    if policy.close_out.retrospective and esc.retro is None:
        return None
    phase = cls["phase"]
    outcome = "closed" if esc.state == "closed" else _title(policy, "phase", phase) or "resolved"
    text = policy.render("chat/closed.md", esc=esc, outcome=outcome, retro=esc.retro)
    item = policy.close_out.items.get(chat.closeout_item or "")
    return act(
        "chat_close",
        esc,
        f"unpin the Slack thread of {esc.ref} with its outcome ({outcome})",
        "chat",
        body=text,
        markers=(marker("chat-close"),),
        data={"thread": (thread.channel, thread.ts), "closeout_item": item},
    )


def _title(policy: Policy, group: str, value: str | None) -> str | None:
    labels = policy.labels.groups.get(group)
    if value is None or labels is None or value not in labels.values:
        return value
    spec = labels.values[value]
    return spec.title or spec.description or value
