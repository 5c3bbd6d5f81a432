"""`escbot demo`: start a sandbox, seed a demo customer group and walk through escbot."""

from __future__ import annotations

from pathlib import Path

import click

from escbot.cli.common import load, policies_option
from escbot.errors import EscbotError, echo_unredacted


@click.command("demo")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("escbot-demo"),
    show_default=True,
    help="Where the demo writes its report.",
)
@click.option("--keep", is_flag=True, help="Keep the sandbox serving afterwards (Ctrl-C stops).")
@policies_option
def command(out: Path, keep: bool, policies_path: str | None) -> None:
    """Run escbot end to end against an embedded GitLab sandbox.

    Opens a Sev1 and a Sev2, runs a week of scheduled checks, closes out the Sev1 through the
    sign-off gate, takes in e-mailed escalations and writes the weekly report. Nothing
    outside the sandbox is touched.
    """
    from escbot.demo import run_demo
    from escbot.sandbox import start_sandbox

    policy = load(policies_path)
    try:  # now, not after the demo's six steps
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EscbotError(f"--out {out}: {exc.strerror}") from None
    with start_sandbox() as sb:
        run_demo(sb, policy, out, click.echo)
        if keep:
            echo_unredacted(f"\nsandbox: {sb.url} token={sb.token} (Ctrl-C stops it)")
            try:
                import threading

                threading.Event().wait()
            except KeyboardInterrupt:
                pass
