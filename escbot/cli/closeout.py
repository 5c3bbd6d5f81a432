"""`escbot closeout`: run the close-out rules on one escalation, on demand."""

from __future__ import annotations

import click

from escbot.check import run_one
from escbot.cli.check import to_text
from escbot.cli.common import (
    lease,
    load,
    now_option,
    open_gitlab,
    policies_option,
    resolve_now,
    timeout_option,
    wait_option,
)
from escbot.rules import ON_DEMAND_CLOSEOUT


@click.command("closeout")
@click.option("--project", "-p", required=True, metavar="PROJECT", help="Project path or id.")
@click.argument("iid", type=click.IntRange(min=1))
@click.option("--apply", is_flag=True, help="Post, create and close (default: dry run).")
@now_option
@policies_option
@timeout_option
@wait_option
@click.pass_context
def command(
    ctx: click.Context,
    project: str,
    iid: int,
    apply: bool,
    now_text: str | None,
    policies_path: str | None,
    wait: float,
) -> None:
    """Post the close-out checklist, open the retrospective, apply the sign-off gate.

    Works whatever the escalation's phase: this is the on-demand form of what the scheduled
    check does once an escalation reaches resolution or is closed.

    Exit codes: 0 done, 2 usage or policy error, 3 errors, 4 another escbot run held the lease
    for longer than --wait (nothing was done).
    """
    policy = load(policies_path)
    now = resolve_now(now_text, policy)
    api = open_gitlab()
    proj = api.project(project)
    with lease(apply, api, ("project", proj), "closeout --apply", wait):
        result = run_one(api, proj.id, iid, policy, now, apply=apply, rules=ON_DEMAND_CLOSEOUT)
    click.echo(to_text(result, policy, "closeout"), nl=False)
    ctx.exit(3 if result.errors else 0)
