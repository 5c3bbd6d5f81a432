"""`escbot doctor`: what would make a scheduled run fail or misbehave, checked in one go."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import click

from escbot.cli.common import (
    now_option,
    open_gitlab,
    parse_when,
    policies_option,
    scope_options,
    timeout_option,
)
from escbot.doctor import Report, run_doctor
from escbot.errors import EscbotError
from escbot.gitlab_io import GitLab, resolve_scope
from escbot.policies import Policy, load_policy


@click.command("doctor")
@scope_options
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@now_option
@policies_option
@timeout_option
@click.pass_context
def command(
    ctx: click.Context,
    project: str | None,
    group: str | None,
    fmt: str,
    now_text: str | None,
    policies_path: str | None,
) -> None:
    """Check everything a scheduled run needs, and say what is wrong.

    The connection and API version; the token (valid, api scope, expiry: a warning 14 days
    ahead); the bot's role in each project of --group or --project (default: ESCBOT_GROUP);
    labels in sync; the ladder's and routing's users exist and can see the projects; a
    template per level; policies.yml valid; in CI, the CI/CD variables.

    Exit codes: 0 all good, 1 warnings, 2 errors (a scheduled run would fail or misbehave).
    """
    group = group or (None if project else os.environ.get("ESCBOT_GROUP") or None)
    try:
        loaded = load_policy(policies_path)
        policy: Policy | EscbotError = loaded
        tz = loaded.tz
    except EscbotError as exc:
        policy, tz = exc, ZoneInfo("UTC")
    now = parse_when("--now", now_text, tz, "2026-11-24") if now_text else datetime.now(UTC)

    def scope(api: GitLab) -> tuple[str, Any] | None:
        return resolve_scope(api, project, group) if project or group else None

    report = run_doctor(
        policy, open_gitlab, scope, now.date(), os.environ, scope_given=bool(project or group)
    )
    if fmt == "json":
        click.echo(json.dumps(to_json(report), indent=2))
    else:
        click.echo(to_text(report), nl=False)
    ctx.exit(report.exit_code)


def to_text(report: Report) -> str:
    width = max((len(c.area) for c in report.checks), default=0)
    lines = [f"{c.status:<5}  {c.area:<{width}}  {c.message}" for c in report.checks]
    errors = sum(c.status == "error" for c in report.checks)
    warnings = sum(c.status == "warn" for c in report.checks)
    verdict = (
        "A scheduled run would fail or misbehave." if errors
        else "A scheduled run would work; see the warnings." if warnings
        else "Ready for a scheduled run."
    )  # fmt: skip
    lines.append(f"{errors} error(s), {warnings} warning(s). {verdict}")
    return "\n".join(lines) + "\n"


def to_json(report: Report) -> dict[str, Any]:
    return {"exit_code": report.exit_code, "checks": [c.to_json() for c in report.checks]}
