"""`escbot demo`: start a sandbox, seed a demo customer group and walk through escbot."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from escbot.cli.common import load, policies_option, wait_for_stop
from escbot.errors import EscbotError, echo_unredacted


@click.command("demo")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("escbot-demo"),
    show_default=True,
    help="Where the demo writes its report.",
)
@click.option(
    "--serve",
    is_flag=True,
    help="Keep the sandbox and its web view up afterwards (until Ctrl-C or SIGTERM).",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="The sandbox's port on 127.0.0.1; 0 picks a free one.",
)
@policies_option
def command(out: Path, serve: bool, port: int, policies_path: str | None) -> None:
    """Run escbot end to end against an embedded GitLab sandbox.

    Opens a Sev1 and a Sev2, runs a week of scheduled checks, closes out the Sev1 through the
    sign-off gate, takes in e-mailed escalations and writes the weekly report, telling who did
    what and what escbot posted and why. Every run leaves the same GitLab (a fixed clock and
    token). With --serve the sandbox stays up so its links can be read. Nothing outside the
    sandbox is touched.
    """
    from escbot.demo import reading_list, run_demo, start_demo_sandbox

    policy = load(policies_path)
    try:  # now, not after the demo's steps
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EscbotError(f"--out {out}: {exc.strerror}") from None
    try:
        sb = start_demo_sandbox(port)
    except OSError as exc:
        raise click.UsageError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}") from None
    with sb:
        d = run_demo(sb, policy, out, click.echo)
        if not serve:
            click.echo("\nThe sandbox stops with the demo: `escbot demo --serve` keeps it up.")
            return
        click.echo("\n== Where to start reading (the sandbox's read-only web view)")
        for what, url in reading_list(d):
            click.echo(f"  {what + ':':<42} {url}")
        echo_unredacted(f"sandbox: {sb.url} token={sb.token} (the API; Ctrl-C stops it)")
        sys.stdout.flush()
        wait_for_stop()
