"""`escbot report`: the PMO portfolio report, and the weekly briefing issue with --post."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from escbot.cli.common import (
    OutputFile,
    lease,
    load,
    now_option,
    open_gitlab,
    parse_when,
    policies_option,
    resolve_now,
    scope_options,
    timeout_option,
    wait_option,
    write_output,
)
from escbot.errors import EscbotError
from escbot.gitlab_io import resolve_scope
from escbot.policies import Policy
from escbot.report import build_report, post_briefing, render_html, render_json, render_markdown

RENDERERS = {"markdown": render_markdown, "json": render_json, "html": render_html}


def resolve_since(text: str | None, policy: Policy) -> datetime | None:
    return parse_when("--since", text, policy.tz, "2026-11-16") if text else None


@click.command("report")
@scope_options
@click.option(
    "--since",
    "since_text",
    metavar="DATE",
    help="Report changes since this date or time (default: 7 days before --now).",
)
@now_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(list(RENDERERS)),
    default="markdown",
    show_default=True,
    help="markdown (with Mermaid charts), json, or one self-contained HTML page.",
)
@click.option(
    "--output",
    "-o",
    type=OutputFile(),
    metavar="FILE",
    help="Write the report here instead of stdout.",
)
@click.option(
    "--post",
    metavar="PROJECT",
    help="Create or update this ISO week's briefing issue in PROJECT (markdown).",
)
@policies_option
@timeout_option
@wait_option
@click.pass_context
def command(
    ctx: click.Context,
    project: str | None,
    group: str | None,
    since_text: str | None,
    now_text: str | None,
    fmt: str,
    output: Path | None,
    post: str | None,
    policies_path: str | None,
    wait: float,
) -> None:
    """Portfolio report of open escalations: RAG status, changes, cadence compliance.

    For the Y/R portfolio review and the weekly PMO briefing: every open escalation by customer
    project with its RAG status, next due item and latest status update; what was opened,
    promoted, resolved, closed, went red or back to green; required updates made on time;
    time to acknowledge and resolve; overdue milestones. --post keeps one briefing issue per
    ISO week (labelled with report.label of policies.yml) up to date.

    Exit codes: 0 done, 2 usage or policy error, 3 some escalations could not be read or
    evaluated (listed in the report's notes; the others are in it), 4 another escbot run held
    the lease for longer than --wait (nothing was posted).
    """
    policy = load(policies_path)
    now = resolve_now(now_text, policy)
    since = resolve_since(since_text, policy)
    if since is not None and since >= now:
        raise EscbotError("--since must be before --now")
    api = open_gitlab()
    scope = resolve_scope(api, project, group)
    target = api.project(post) if post else None  # before the long part, not after
    report = build_report(api, scope, policy, now, since)
    if output:
        write_output(output, RENDERERS[fmt](report, policy))
        click.echo(f"Wrote the {fmt} report to {output}", err=True)
    elif not post:
        click.echo(RENDERERS[fmt](report, policy), nl=False)
    if target is not None:
        with lease(True, api, ("project", target), "report --post", wait):
            url, outcome = post_briefing(api, target, report, policy)
        if outcome == "up to date":
            click.echo(f"The briefing issue for {report.week} was up to date: {url}")
        else:
            click.echo(f"{outcome.capitalize()} the briefing issue for {report.week}: {url}")
    ctx.exit(3 if report.notes else 0)
