"""The rules: each a small pure function of (snapshot, context) -> findings and actions.

RULES is the one table the scheduled check, `closeout`, `triage` and `report` read. A rule
reads only the snapshot, the policy and the clock in its Context; it never does I/O and never
imports the executor. When a verdict needs history the snapshot lacks, the rule says so in
`Evaluation.needs` and the caller reads it and evaluates again.

To add a rule: a module here with a function `(Escalation, Context) -> Evaluation`, and a row
in RULES naming the action kinds it can plan (tests/test_structure.py checks each has a
handler in escbot.executor.HANDLERS).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from functools import partial

from escbot.explain import why
from escbot.memory import remember
from escbot.model import Context, Escalation
from escbot.plan import ISSUE_KINDS, NOTE_KINDS, Action, ActionKind, Evaluation
from escbot.policies import Visibility
from escbot.rules.chat import chat_rule, mirror
from escbot.rules.closeout import closeout_rule
from escbot.rules.compose import compose
from escbot.rules.decision import decision_rule
from escbot.rules.due_date import due_date_rule
from escbot.rules.intake import intake_rule
from escbot.rules.raid import raid_rule
from escbot.rules.talkback import talkback_rule
from escbot.rules.tracking import tracking_rule
from escbot.rules.visibility import visibility_rule
from escbot.rules.warranty import warranty_rule


@dataclass(frozen=True)
class Rule:
    name: str
    evaluate: Callable[[Escalation, Context], Evaluation]
    kinds: frozenset[ActionKind]  # the action kinds it can plan


RULES: tuple[Rule, ...] = (
    # First: an escalation opened public is made confidential before anything is posted.
    Rule("visibility", visibility_rule, frozenset({"confidential", "comment"})),
    # Commands people gave escbot are answered (and their label set) before the reminders.
    Rule("talkback", talkback_rule, frozenset({"comment", "labels"})),
    # The decision first: a promotion it completes changes what the others see next run.
    Rule("decision", decision_rule, frozenset({"labels", "edit_description", "comment"})),
    Rule("tracking", tracking_rule, frozenset({"comment", "labels"})),
    Rule(
        "closeout",
        closeout_rule,
        frozenset({"comment", "labels", "reopen", "close", "create_retro", "close_companion"}),
    ),
    Rule("warranty", warranty_rule, frozenset({"comment", "labels"})),
    Rule("intake", intake_rule, frozenset({"comment", "labels", "assign"})),
    Rule("raid", raid_rule, frozenset({"create_raid"})),
    Rule("due_date", due_date_rule, frozenset({"due_date"})),
    # Last: Slack's actions come after the GitLab work they mirror.
    Rule("chat", chat_rule, frozenset({"chat_open", "chat_reply", "chat_close"})),
)
BY_NAME = {rule.name: rule for rule in RULES}
# `escbot closeout`: the close-out rules whatever the escalation's phase, and the warranty.
ON_DEMAND_CLOSEOUT: tuple[Rule, ...] = (
    replace(BY_NAME["closeout"], evaluate=partial(closeout_rule, force=True)),
    BY_NAME["warranty"],
    BY_NAME["talkback"],
)


def rules_named(*names: str) -> tuple[Rule, ...]:
    return tuple(BY_NAME[name] for name in names)


def evaluate(esc: Escalation, ctx: Context, rules: Iterable[Rule] = RULES) -> Evaluation:
    """Every rule's verdict on one escalation, merged in table order, its comment sections
    composed into one comment (the noise budget)."""
    ev = Evaluation(esc.ref)
    for rule in rules:
        found = rule.evaluate(esc, ctx)
        ev.findings += found.findings
        ev.actions += [audience(a, ctx.policy.visibility) for a in found.actions]
        ev.notes += found.notes
        ev.needs |= found.needs
    ev.actions, remarks = compose(ev.actions, ctx)
    ev.actions += mirror(esc, ev.actions, ctx)  # the composed comments, also in the thread
    ev.notes += remarks
    ev.actions = [remembered(explained(a, esc, ctx), esc, ctx) for a in ev.actions]
    return ev


def remembered(action: Action, esc: Escalation, ctx: Context) -> Action:
    """An internal note on the escalation ends with escbot's memory of it (escbot.memory), when
    this run knows its whole history: the next runs then need only the recent activity."""
    if (
        action.kind != "comment"
        or not action.internal
        or (action.project_id, action.iid) != esc.key
        or not esc.history_known
    ):
        return action
    return replace(action, body=action.body.rstrip("\n") + "\n\n" + remember(esc, ctx))


def explained(action: Action, esc: Escalation, ctx: Context) -> Action:
    """An internal note ends with a collapsed "Why this comment" section (escbot.explain; never
    a public comment: the customer reads those), and every action keeps its reasons for the
    audit trail."""
    if not action.markers:
        return action
    reasons = why(action.markers, esc, ctx)
    data = {**action.data, "why": reasons}
    if action.kind != "comment" or not action.internal:
        return replace(action, data=data)
    section = ctx.policy.render("reminders/why.md", reasons=reasons)
    return replace(action, body=action.body.rstrip("\n") + "\n\n" + section, data=data)


def audience(action: Action, visibility: Visibility) -> Action:
    """Who may read what an action writes, decided here for every rule: a comment is an
    internal note unless its kind is public; an issue escbot creates is confidential."""
    if action.kind in NOTE_KINDS:
        return replace(action, internal=visibility.internal({m.kind for m in action.markers}))
    if action.kind in ISSUE_KINDS:
        return replace(action, internal=visibility.confidential)
    return action
