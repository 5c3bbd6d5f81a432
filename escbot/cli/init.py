"""`escbot init [DIR]`: a starter policies.yml, a .gitlab-ci.yml using the component, templates."""

from __future__ import annotations

from pathlib import Path

import click

from escbot.init import DEFAULT_COMPONENT, init_project


@click.command("init")
@click.argument(
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    metavar="[DIR]",
)
@click.option(
    "--group",
    "-g",
    default="$ESCBOT_GROUP",
    show_default=True,
    metavar="GROUP",
    help="The group holding the customers' projects (default: the CI/CD variable).",
)
@click.option(
    "--component",
    default=DEFAULT_COMPONENT,
    show_default=True,
    metavar="PATH",
    help="Where your GitLab hosts escbot's CI/CD component (without @version).",
)
@click.option("--force", is_flag=True, help="Overwrite files that exist.")
def command(directory: Path, group: str, component: str, force: bool) -> None:
    """Write a starter policies.yml, a .gitlab-ci.yml and the issue templates into DIR.

    The .gitlab-ci.yml includes escbot's CI/CD component (the scheduled check and the weekly
    report); the issue templates open escalations from GitLab's web UI. Files that exist are
    kept unless --force.
    """
    for written in init_project(directory, group, component, force=force):
        if written.kept:
            click.echo(f"Kept {written.path} (it exists; --force overwrites)")
        else:
            click.echo(f"Wrote {written.path}")
    from_variable = group.startswith("$")
    click.echo(
        f"""
Three steps left:
  1. Token: a bot user (or a group access token) with at least the Reporter role in
     {group}, and a token of it with the api scope.
  2. Variables: in this project's Settings > CI/CD > Variables, ESCBOT_TOKEN (masked,
     protected){" and ESCBOT_GROUP (the group's path)" if from_variable else ""}.
  3. Schedule: Build > Pipeline schedules, one every hour on working days (0 * * * 1-5) and
     one weekly (Monday 07:00) with the variable ESCBOT_JOB=report.
Then commit the files, and check the set-up with: escbot doctor --group {group}"""
    )
