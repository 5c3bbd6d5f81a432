"""Options and helpers every command shares, declared once."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime
from typing import Any

import click

from escbot.businesstime import parse_instant
from escbot.errors import EscbotError
from escbot.gitlab_io import GitLab, connect
from escbot.lease import Lease
from escbot.policies import Policy, load_policy

F = Callable[..., Any]


def policies_option(f: F) -> F:
    return click.option(
        "--policies",
        "policies_path",
        metavar="FILE",
        envvar="ESCBOT_POLICIES",
        help="policies.yml to use (default: ./policies.yml, else the shipped one).",
    )(f)


def now_option(f: F) -> F:
    return click.option(
        "--now",
        "now_text",
        metavar="ISO",
        envvar="ESCBOT_NOW",
        help="Pretend it is this time (ISO 8601; naive = policy timezone). Env: ESCBOT_NOW.",
    )(f)


def scope_options(f: F) -> F:
    f = click.option("--group", "-g", metavar="GROUP", help="Group path or id (subgroups too).")(f)
    return click.option("--project", "-p", metavar="PROJECT", help="Project path or id.")(f)


def wait_option(f: F) -> F:
    return click.option(
        "--wait",
        type=click.FloatRange(min=0, max=86400),
        default=120,
        show_default=True,
        metavar="SECONDS",
        envvar="ESCBOT_LEASE_WAIT",
        help="When writing and another escbot run holds the lease on the same top-level group: "
        "wait this long for it, then exit 4 naming it. Env: ESCBOT_LEASE_WAIT.",
    )(f)


def lease(
    writing: bool, api: GitLab, scope: tuple[str, Any], command: str, wait: float
) -> AbstractContextManager[Any]:
    """The lease a writing run holds while it writes (escbot.lease); nothing for a dry run."""
    if not writing:
        return nullcontext()
    return Lease(
        api, scope, command, wait=wait, say=lambda text: click.echo(f"escbot: {text}", err=True)
    )


def load(policies_path: str | None) -> Policy:
    policy = load_policy(policies_path)
    for warning in policy.warnings:
        click.echo(f"escbot: warning: {warning}", err=True)
    return policy


def resolve_now(now_text: str | None, policy: Policy) -> datetime:
    if not now_text:
        return datetime.now(UTC)
    parsed = parse_instant(now_text, policy.tz)
    if parsed is None:
        raise EscbotError(
            f'--now: expected an ISO 8601 time such as "2026-11-24T09:00", got "{now_text}"'
        )
    return parsed


def open_gitlab() -> GitLab:
    api = GitLab(connect())
    api.require_notes_access()
    return api


def print_stats(api: GitLab) -> None:
    stats = api.stats
    kinds = ", ".join(f"{k}: {n}" for k, n in sorted(stats.by_kind.items()))
    click.echo(f"requests: {stats.total} ({kinds}); wall time {stats.elapsed():.2f}s", err=True)
