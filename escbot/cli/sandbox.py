"""`escbot sandbox serve`: a local GitLab REST v4 stand-in for demos and tests."""

from __future__ import annotations

import sqlite3
import sys

import click

from escbot.cli.common import wait_for_stop
from escbot.errors import echo_unredacted


@click.group(name="sandbox")
def command() -> None:
    """A local GitLab API sandbox (issues, notes, labels, links, events)."""


def _check_now(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    from escbot.sandbox.clock import parse_datetime

    try:
        parse_datetime(value)
    except ValueError:
        raise click.BadParameter(f"not an ISO 8601 date/time: {value!r}") from None
    return value


def _loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")


@command.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8765,
    show_default=True,
    help="Port; 0 picks a free one.",
)
@click.option("--db", type=click.Path(dir_okay=False), help="SQLite file; state survives restarts.")
@click.option("--token", help="Admin token for user root (generated, or reused from --db).")
@click.option("--now", callback=_check_now, help="Freeze the sandbox clock at this ISO instant.")
@click.option("--free", is_flag=True, help="GitLab Free behaviour: scoped labels not exclusive.")
@click.option(
    "--rate-limit",
    type=click.IntRange(min=1),
    default=None,
    help="Authenticated requests per minute per user (429 beyond).",
)
def serve(
    host: str,
    port: int,
    db: str | None,
    token: str | None,
    now: str | None,
    free: bool,
    rate_limit: int | None,
) -> None:
    """Serve the sandbox until Ctrl-C or SIGTERM.

    The first line of output is `sandbox: <base URL> token=<root token>`; the second,
    `web: <URL>`, is where a person starts reading (the read-only web view); the third,
    `slack: <URL>`, the base URL of its Slack Web API for slack_sdk.
    """
    from escbot.sandbox import start_sandbox

    if token is not None and not token.strip():
        raise click.BadParameter("must not be empty", param_hint="--token")
    try:
        sb = start_sandbox(
            token=token,
            now=now,
            db=db,
            host=host,
            port=port,
            scoped_labels=not free,
            rate_limit=rate_limit,
        )
    except sqlite3.Error as exc:
        raise click.UsageError(f"cannot use --db {db}: {exc}") from None
    except OSError as exc:
        raise click.UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    echo_unredacted(f"sandbox: {sb.url} token={sb.token}")
    who = "from this machine, no token needed" if _loopback(host) else "root's token needed"
    click.echo(f"web: {sb.url}/ (start reading here: read-only, what root sees; {who})")
    click.echo(f"slack: {sb.slack_url} (Slack Web API; POST /__sandbox__/slack makes a workspace)")
    sys.stdout.flush()
    try:
        wait_for_stop()
    finally:
        sb.stop()
