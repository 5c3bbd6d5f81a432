"""`escbot report`: the PMO portfolio report, and the weekly briefing issue with --post."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from escbot.businesstime import parse_instant
from escbot.cli.common import (
    lease,
    load,
    now_option,
    open_gitlab,
    policies_option,
    resolve_now,
    scope_options,
    wait_option,
)
from escbot.errors import EscbotError
from escbot.gitlab_io import resolve_scope
from escbot.policies import Policy
from escbot.report import build_report, post_briefing, render_html, render_json, render_markdown

RENDERERS = {"markdown": render_markdown, "json": render_json, "html": render_html}


def resolve_since(text: str | None, policy: Policy) -> datetime | None:
    if not text:
        return None
    parsed = parse_instant(text, policy.tz)
    if parsed is None:
        raise EscbotError(
            f'--since: expected an ISO 8601 date or time such as "2026-11-16", got "{text}"'
        )
    return parsed


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
@click.option("--output", "-o", metavar="FILE", help="Write the report here instead of stdout.")
@click.option(
    "--post",
    metavar="PROJECT",
    help="Create or update this ISO week's briefing issue in PROJECT (markdown).",
)
@policies_option
@wait_option
@click.pass_context
def command(
    ctx: click.Context,
    project: str | None,
    group: str | None,
    since_text: str | None,
    now_text: str | None,
    fmt: str,
    output: str | None,
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
    report = build_report(api, scope, policy, now, since)
    text = RENDERERS[fmt](report, policy)
    if output:
        Path(output).write_text(text, encoding="utf-8")
        click.echo(f"Wrote the {fmt} report to {output}", err=True)
    else:
        click.echo(text, nl=False)
    if post:
        target = api.project(post)
        with lease(True, api, ("project", target), "report --post", wait):
            url, created = post_briefing(api, target, report, policy)
        verb = "Created" if created else "Updated"
        click.echo(f"{verb} the briefing issue for {report.week}: {url}", err=True)
    ctx.exit(3 if report.notes else 0)
