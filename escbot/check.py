"""The scheduled check, and every run built like it: read snapshots, evaluate the rules, plan,
and (with apply) hand the plan to the executor.

    run_check(api, scope, policy, now, apply=...)       every escalation of a project or group
    run_one(api, project_id, iid, policy, now, ...)      one escalation (escbot closeout)
    run_intake(api, scope, policy, now, apply=...)       only the e-mailed issues not classified
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from escbot import memory
from escbot.cache import MemoryCache
from escbot.errors import EscbotError, GitLabError
from escbot.executor import Outcome, apply_plan
from escbot.gitlab_io import GitLab, scope_path
from escbot.intake import is_intake
from escbot.model import Context, Escalation, Unreadable
from escbot.plan import Action, Evaluation
from escbot.policies import Policy
from escbot.rules import RULES, Rule, evaluate, rules_named
from escbot.slack_io import Gateway, connect, read_threads
from escbot.snapshot import (
    check_people,
    complete,
    read_context,
    read_one,
    read_portfolio,
    recent_start,
    relist,
    stream_portfolio,
    threads_read,
)

T = TypeVar("T")


@dataclass
class CheckResult:
    now: datetime
    escalations: list[Escalation] = field(default_factory=list)
    evaluations: list[Evaluation] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # on stderr: the run went on
    applied: bool = False
    bot: str = ""  # the bot's username: its notes are what escbot told

    @property
    def actions(self) -> list[Action]:
        return [a for ev in self.evaluations for a in ev.actions]

    @property
    def exit_code(self) -> int:
        if self.errors:
            return 3
        return 1 if any(ev.missed for ev in self.evaluations) else 0


def settle(
    api: GitLab, esc: Escalation, ctx: Context, rules: Iterable[Rule]
) -> tuple[Escalation, Evaluation]:
    """Evaluate, reading the history the rules said they lacked, until the verdict is sure."""
    rules = tuple(rules)
    ev = evaluate(esc, ctx, rules)
    for _ in range(2):  # notes may reveal a need for label events, once
        needs = set(ev.needs)
        if ev.actions and not esc.history_known:
            # A marker older than the bulk read would look like "not done yet".
            needs.add("notes")
        if not needs:
            break
        before = esc
        esc = complete(api, esc, needs)
        if esc is before:
            break
        ev = evaluate(esc, ctx, rules)
    return esc, ev


def guarded(ref: str, errors: list[str], fn: Callable[..., T], *args: Any) -> T | None:
    """fn(*args), or None with the failure listed as that issue's error: whatever one issue holds
    (a date in year 9999, text no rule foresaw), the others are still evaluated."""
    try:
        return fn(*args)
    except GitLabError as exc:
        errors.append(f"{ref}: {exc}")
    except Exception as exc:  # any failure is this issue's, never the run's
        errors.append(f"{ref}: could not be evaluated ({type(exc).__name__}: {exc})")
    return None


def evaluate_all(
    api: GitLab,
    escalations: list[Escalation],
    ctx: Context,
    result: CheckResult,
    rules: Iterable[Rule] = RULES,
) -> None:
    """Settle each escalation into `result`; any failure is that escalation's, not the run's."""
    rules = tuple(rules)
    for esc in escalations:
        settled = guarded(esc.ref, result.errors, settle, api, esc, ctx, rules)
        if settled is not None:
            result.escalations.append(memory.settled(settled[0], ctx))
            result.evaluations.append(settled[1])


def _report_unreadable(result: CheckResult, unreadable: list[Unreadable]) -> None:
    result.errors += [f"{u.ref}: skipped, {u.reason}" for u in unreadable]


def run_check(
    api: GitLab,
    scope: tuple[str, Any],
    policy: Policy,
    now: datetime,
    *,
    apply: bool,
    rules: Iterable[Rule] = RULES,
    chat: Gateway | None = None,
    cache_path: str | Path | None = None,
) -> CheckResult:
    """Every open escalation of the scope; with `cache_path`, escbot's memory kept between runs
    there (escbot.cache) spares the reads of what did not change."""
    result = CheckResult(now=now, applied=apply)
    muted, result.warnings = check_people(api, scope, policy)
    ctx = replace(read_context(api, policy, now), muted=muted)
    result.bot = ctx.bot
    cache = None
    if cache_path:
        where = f"{scope[0]}:{scope_path(scope)}"
        cache = MemoryCache.open(cache_path, url=api.url, scope=where, ctx=ctx)
        result.warnings += [cache.note] if cache.note else []
    chat = chat or connect(policy)
    # Only the rules' window of activity: escbot's memory in its own notes holds what came before
    # (escbot.memory), and an escalation without it is read whole when its verdict needs that.
    parts = stream_portfolio(api, scope, policy, now, notes_from=recent_start(policy, now),
                             bot=ctx.bot, cache=cache)  # fmt: skip
    for part in parts:  # evaluated project by project
        _report_unreadable(result, part.unreadable)
        escalations = part.escalations
        if chat and chat.slack:
            escalations = read_threads(chat.slack, escalations)
        evaluate_all(api, escalations, ctx, result, rules)
    if apply:
        read = threads_read(result.escalations)
        result.outcomes = apply_plan(api, result.actions, result.errors, chat, read)
    if cache is not None:
        if apply and api.wrote:
            warning = relist(api, scope, policy, cache)
            result.warnings += [warning] if warning else []
        _keep(api, cache, result, ctx)
    _chat_warning(result, chat)
    return result


def _keep(api: GitLab, cache: MemoryCache, result: CheckResult, ctx: Context) -> None:
    """Every escalation the run knew whole, with the comments it posted, into the cache."""
    for esc in result.escalations:
        cache.keep(esc, ctx, api.posted.get(esc.key, ()), api.wrote.get(esc.key))
    warning = cache.save()
    if warning:
        result.warnings.append(warning)


def _chat_warning(result: CheckResult, chat: Gateway | None) -> None:
    """Slack's failure (and the webhook's) is one warning line; the GitLab work was done."""
    if chat is not None:
        result.warnings += chat.failures


def run_one(
    api: GitLab,
    project_id: int,
    iid: int,
    policy: Policy,
    now: datetime,
    *,
    apply: bool,
    rules: Iterable[Rule],
    chat: Gateway | None = None,
) -> CheckResult:
    """Evaluate the given rules (only) on one escalation; apply the plan if asked."""
    result = CheckResult(now=now, applied=apply)
    ctx = read_context(api, policy, now)
    result.bot = ctx.bot
    chat = chat or connect(policy)
    esc = read_one(api, project_id, iid)
    if policy.labels.marker.name not in esc.labels:
        raise EscbotError(f"{esc.ref} is not an escalation: {_what_it_is(esc, policy)}")
    if chat and chat.slack:
        esc = read_threads(chat.slack, [esc])[0]
    ev = guarded(esc.ref, result.errors, evaluate, esc, ctx, rules)
    if ev is not None:
        result.escalations, result.evaluations = [esc], [ev]
    if apply:
        result.outcomes = apply_plan(api, result.actions, result.errors, chat)
    _chat_warning(result, chat)
    return result


def _what_it_is(esc: Escalation, policy: Policy) -> str:
    companion = next((m for m in esc.description_markers if m.kind in ("raid", "retro")), None)
    if companion is not None:
        what = "the RAID register" if companion.kind == "raid" else "the retrospective"
        return f"it is {what} of #{companion.get('iid')}; give the escalation's number"
    return f'it has no "{policy.labels.marker.name}" label'


def run_intake(
    api: GitLab, scope: tuple[str, Any], policy: Policy, now: datetime, *, apply: bool
) -> CheckResult:
    """Classify, route and acknowledge the open intake issues of a project or group."""
    result = CheckResult(now=now, applied=apply)
    ctx = read_context(api, policy, now)
    result.bot = ctx.bot
    portfolio = read_portfolio(api, scope, policy, now)
    mine = sorted((e for e in portfolio.escalations if is_intake(e, policy)), key=lambda e: e.key)
    _report_unreadable(result, portfolio.unreadable)
    for esc in mine:
        ev = guarded(esc.ref, result.errors, evaluate, esc, ctx, rules_named("intake"))
        if ev is not None:
            result.escalations.append(esc)
            result.evaluations.append(ev)
    if apply:
        result.outcomes = apply_plan(api, result.actions, result.errors)
    return result
