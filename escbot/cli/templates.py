"""`escbot templates export DIR`: GitLab issue templates from escbot's templates."""

from __future__ import annotations

import click

from escbot.cli.common import load, policies_option
from escbot.export import export_templates


@click.group("templates")
def command() -> None:
    """The escalation templates."""


@command.command("export")
@click.argument("directory", type=click.Path(file_okay=False), metavar="DIR")
@policies_option
def export(directory: str, policies_path: str | None) -> None:
    """Write DIR/.gitlab/issue_templates/*.md for GitLab's "new issue" page.

    An issue opened from one of them carries the same marker, headings and (through quick
    actions) labels as one opened by `escbot new`, so the check run treats it alike. Commit the
    files to the project (or the group's template project) to offer them in the web UI.
    """
    policy = load(policies_path)
    for path in export_templates(policy, directory):
        click.echo(f"Wrote {path}")
