"""Options and helpers every command shares, declared once."""

from __future__ import annotations

import os
import re
import signal
import sys
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click

from escbot.businesstime import parse_instant
from escbot.errors import EscbotError, RedactingStream, redact
from escbot.gitlab_io import DEFAULT_BUDGET, GitLab, Transport, connect, env_rate
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


class OutputFile(click.ParamType):  # type: ignore[type-arg]  # generic in newer click only
    """A file to write at the end of a run, checked at the start so a long run is not lost."""

    name = "file"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Path:
        path = Path(value)
        if path.is_dir():
            self.fail(f"{value} is a directory", param, ctx)
        folder = path.parent
        if not folder.is_dir():
            self.fail(f"{value}: directory {folder} does not exist", param, ctx)
        if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
            self.fail(f"{value}: not writable", param, ctx)
        return path


def write_output(path: Path, text: str) -> None:
    try:
        path.write_text(redact(text), encoding="utf-8")
    except OSError as exc:
        raise EscbotError(f"cannot write {path}: {exc.strerror or type(exc).__name__}") from None


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


# --now and --since far outside this range would overflow date arithmetic downstream.
EARLIEST = datetime(1971, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def parse_when(option: str, text: str, tz: ZoneInfo, example: str) -> datetime:
    """An ISO 8601 time option (naive = the policy's timezone), or one line saying why not."""
    parsed = parse_instant(text, tz)
    if parsed is None:
        raise EscbotError(f'{option}: expected an ISO 8601 time such as "{example}", got "{text}"')
    if not EARLIEST <= parsed < LATEST:
        raise EscbotError(
            f"{option}: {text} is out of range (years {EARLIEST.year} to {LATEST.year - 1})"
        )
    return parsed


def resolve_now(now_text: str | None, policy: Policy) -> datetime:
    if not now_text:
        return datetime.now(UTC)
    return parse_when("--now", now_text, policy.tz, "2026-11-24T09:00")


def timeout_option(f: F) -> F:
    """--timeout, kept in the click context so open_gitlab finds it without more plumbing."""

    def remember(ctx: click.Context, param: click.Parameter, value: float) -> float:
        ctx.meta["escbot.timeout"] = value
        return value

    return click.option(
        "--timeout",
        type=click.FloatRange(min=1, max=24 * 3600),
        default=DEFAULT_BUDGET,
        envvar="ESCBOT_TIMEOUT",
        show_default=True,
        metavar="SECONDS",
        expose_value=False,
        callback=remember,
        help="How long to keep retrying a failing GitLab (5xx, 429, timeouts) in this run, "
        "in all. Refused connections fail at once. Env: ESCBOT_TIMEOUT.",
    )(f)


def open_gitlab(*, progress: bool = True) -> GitLab:
    """The GitLab client for a command. On a terminal, retries are shown and (unless the
    command asks questions) a progress bar runs on stderr until the command ends."""
    ctx = click.get_current_context(silent=True)
    budget = ctx.meta.get("escbot.timeout", DEFAULT_BUDGET) if ctx else DEFAULT_BUDGET
    terminal = stderr_is_terminal()
    on_retry = (lambda text: click.echo(f"escbot: {text}", err=True)) if terminal else None
    api = GitLab(
        connect(budget=budget, on_retry=on_retry),
        notes_per_run=env_rate("ESCBOT_NOTES_PER_RUN", None),
    )
    api.notify = lambda text: click.echo(f"escbot: {text}", err=True)
    api.require_notes_access()
    if progress and terminal and ctx is not None:
        # Retry notices then print above the bar instead of ending it.
        session = api.gl.session
        assert isinstance(session, Transport)
        stop, session.on_retry = show_progress(api, ctx.command_path)
        api.notify = session.on_retry
        ctx.call_on_close(stop)
    return api


_ISSUE_URL = re.compile(r"/projects/([^/]+)/issues/(\d+)")


def show_progress(api: GitLab, what: str) -> tuple[Callable[[], None], Callable[[str], None]]:
    """A progress bar on stderr, moved by the issues read; returns the function that ends it,
    and one that prints a line above it (retry notices).

    It ends at the command's first line of output, so nothing is printed over it. The number
    of issues a run reads is not known in advance, so the bar pulses and counts.
    """
    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    err = sys.stderr
    bar = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[counts]}"),
        TimeElapsedColumn(),
        console=Console(file=getattr(err, "inner", err), force_terminal=True),
        transient=True,
        redirect_stdout=False,
        redirect_stderr=False,
    )
    task = bar.add_task(what, total=None, counts="")
    issues: set[tuple[str, ...]] = set()

    def on_response(response: Any, *args: Any, **kwargs: Any) -> None:
        found = _ISSUE_URL.search(response.url or "")
        if found:
            issues.add(found.groups())
        bar.update(task, counts=f"{len(issues)} issue(s), {api.stats.total} request(s)")

    api.gl.session.hooks["response"].append(on_response)
    for stream in (sys.stdout, err):
        if isinstance(stream, RedactingStream):
            stream.before_write = bar.stop
    bar.start()

    def notice(text: str) -> None:
        bar.console.print(redact(f"escbot: {text}"), markup=False, highlight=False, soft_wrap=True)

    return bar.stop, notice


def stderr_is_terminal() -> bool:
    """Progress and retry notices only for a person watching; never in CI logs or pipes."""
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def print_stats(api: GitLab) -> None:
    stats = api.stats
    kinds = ", ".join(f"{k}: {n}" for k, n in sorted(stats.by_kind.items()))
    click.echo(f"requests: {stats.total} ({kinds}); wall time {stats.elapsed():.2f}s", err=True)


def wait_for_stop() -> None:
    """Block until Ctrl-C or SIGTERM."""
    stop = threading.Event()

    def _stop(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
