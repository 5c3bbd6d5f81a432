"""`escbot explain`: why escbot does what it does on one escalation (read only)."""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from urllib.parse import unquote, urlsplit

import click

from escbot.cli.common import (
    load,
    now_option,
    open_gitlab,
    policies_option,
    resolve_now,
    timeout_option,
)
from escbot.errors import EscbotError
from escbot.explain import explain, to_markdown
from escbot.snapshot import read_context, read_one

_WEB_ISSUE = re.compile(r"^/(.+?)/-/issues/(\d+)/?$")


def target(project: str | None, args: tuple[str, ...]) -> tuple[str, int]:
    """(project, iid) from `--project P IID` or an issue's web address."""
    if project is not None:
        if len(args) != 1 or not args[0].isdigit() or int(args[0]) < 1:
            raise EscbotError("explain: with --project give the issue's number (IID)")
        return project, int(args[0])
    if len(args) != 1:
        raise EscbotError("explain: give --project P IID, or the issue's URL")
    match = _WEB_ISSUE.match(urlsplit(args[0]).path)
    if not match:
        raise EscbotError(f"explain: {args[0]} is not an issue URL (…/GROUP/PROJECT/-/issues/N)")
    return unquote(match.group(1)), int(match.group(2))


@click.command("explain")
@click.option("--project", "-p", metavar="PROJECT", help="Project path or id (then give IID).")
@click.argument("issue", nargs=-1, metavar="(IID | URL)")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@now_option
@policies_option
@timeout_option
def command(
    project: str | None,
    issue: tuple[str, ...],
    fmt: str,
    now_text: str | None,
    policies_path: str | None,
) -> None:
    """Every requirement of one escalation: last met (by which comment), next due with the
    calendar arithmetic, the ladder's rung, who is next and when, acknowledgements, snoozes and
    pauses; and for each comment escbot posted, the rule that posted it and why. Reads only.

    Exit codes: 0 done, 2 usage or policy error.
    """
    path, iid = target(project, issue)
    policy = load(policies_path)
    now = resolve_now(now_text, policy)
    api = open_gitlab()
    proj = api.project(path)
    ctx = read_context(api, policy, now)
    ex = explain(read_one(api, proj.id, iid), ctx)
    if fmt == "json":
        click.echo(json.dumps(asdict(ex), indent=2))
    else:
        click.echo(to_markdown(ex), nl=False)
