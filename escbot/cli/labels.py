"""`escbot labels sync`: make a project's or group's labels match policies.yml."""

from __future__ import annotations

import click

from escbot.cli.common import load, open_gitlab, policies_option, scope_options, timeout_option
from escbot.gitlab_io import resolve_scope, scope_path
from escbot.labels import UNCHANGED, sync_labels


@click.group("labels")
def command() -> None:
    """The escalation label taxonomy (declared in policies.yml)."""


@command.command("sync")
@scope_options
@click.option("--apply", is_flag=True, help="Make the changes (default: only show them).")
@policies_option
@timeout_option
def sync(project: str | None, group: str | None, apply: bool, policies_path: str | None) -> None:
    """Create or update the policy's labels in a project or group.

    Without --apply nothing changes: it prints what it would do. Labels that policies.yml does
    not declare are left alone. A second run has nothing to do.
    """
    policy = load(policies_path)
    api = open_gitlab()
    scope = resolve_scope(api, project, group)
    where = scope_path(scope)
    changes = sync_labels(api, scope, policy, apply=apply)
    todo = [c for c in changes if c.action != UNCHANGED]
    for change in todo:
        click.echo(change.describe(applied=apply))
    unchanged = len(changes) - len(todo)
    if not todo:
        click.echo(f"{where}: all {unchanged} labels up to date, nothing to do")
    elif apply:
        click.echo(f"{where}: {len(todo)} labels changed, {unchanged} already up to date")
    else:
        click.echo(
            f"{where}: {len(todo)} labels to change, {unchanged} up to date "
            "(dry run; rerun with --apply)"
        )
