"""`escbot triage`: what is wrong with each open escalation, and the fix escbot proposes."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from escbot.cli.common import (
    lease,
    load,
    now_option,
    open_gitlab,
    policies_option,
    resolve_now,
    scope_options,
    timeout_option,
    wait_option,
)
from escbot.errors import EscbotError
from escbot.executor import Outcome
from escbot.gitlab_io import resolve_scope
from escbot.policies import Policy
from escbot.triage import TriageResult, apply_fixes, run_triage


@click.command("triage")
@scope_options
@click.option("--fix", is_flag=True, help="Apply the safe fixes (asks once on a terminal).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask before --fix applies (for scripts).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@now_option
@policies_option
@timeout_option
@wait_option
@click.pass_context
def command(
    ctx: click.Context,
    project: str | None,
    group: str | None,
    fix: bool,
    yes: bool,
    fmt: str,
    now_text: str | None,
    policies_path: str | None,
    wait: float,
) -> None:
    """List open escalations and e-mailed intake issues with what is wrong, and the fixes.

    Problems: missing, conflicting or unknown level/severity/type/category labels, no DRI,
    no due date, Phase 1 overdue, requirements missed (as `escbot check` sees them),
    e-mailed escalations not classified yet. With --fix, the safe fixes are applied (labels
    are only ever added; the routed PM is assigned where nobody is; the due date is set to the
    end of Phase 1); the rest stays listed as "needs a person".

    Exit codes: 0 nothing wrong, 1 problems remain, 2 usage or policy error, 3 errors on some
    issues (the others were still processed), 4 another escbot run held the lease for longer
    than --wait (nothing was fixed).
    """
    if fix and not yes and not sys.stdin.isatty():
        raise EscbotError("--fix without a terminal to confirm on: use --yes")
    policy = load(policies_path)
    now = resolve_now(now_text, policy)
    api = open_gitlab(progress=yes or not fix)  # no bar over the confirmation
    scope = resolve_scope(api, project, group)
    result = run_triage(api, scope, policy, now)
    if not fix:
        _show(result, policy, fmt)
        ctx.exit(result.exit_code)

    actions = result.safe_actions
    if fmt == "table":
        _show(result, policy, fmt)
    if not actions:
        if fmt == "json":
            _show(result, policy, fmt)
        else:
            click.echo("No safe fixes to apply.")
        ctx.exit(result.exit_code)
    if not yes:
        issues = len({a.ref for a in actions})
        click.confirm(
            f"Apply {len(actions)} safe fix action(s) to {issues} issue(s)?", abort=True, err=True
        )
    with lease(True, api, scope, "triage --fix", wait):
        # Read again under the lease: an overlapping run may have fixed some meanwhile.
        result = run_triage(api, scope, policy, now)
        outcomes = apply_fixes(api, result)
    errors = [f"{o.action.ref}: {o.error}" for o in outcomes if o.error]
    after = run_triage(api, scope, policy, now)
    after.errors = result.errors + errors + after.errors
    if fmt == "json":
        _show(after, policy, fmt)
    else:
        click.echo(outcome_lines(outcomes), nl=False)
        click.echo("\nAfter the fixes:")
        _show(after, policy, fmt)
    ctx.exit(after.exit_code)


def _show(result: TriageResult, policy: Policy, fmt: str) -> None:
    if fmt == "json":
        click.echo(json.dumps(to_json(result), indent=2))
    elif sys.stdout.isatty() and (result.reports or result.errors):
        _rich_table(result, policy)
    else:
        click.echo(to_text(result, policy), nl=False)


def to_json(result: TriageResult) -> list[dict[str, Any]]:
    out = [r.to_json() for r in result.reports]
    for error in result.errors:
        ref = error.split(": ", 1)[0] if "#" in error.split(": ", 1)[0] else ""
        out.append(
            {
                "ref": ref,
                "web_url": "",
                "problems": [{"code": "gitlab-error", "message": error}],
                "fixes": [],
            }
        )
    return out


def rows(result: TriageResult) -> list[tuple[str, str, str]]:
    """(issue, what, detail): a problem by its code, then each fix."""
    out = []
    for report in result.reports:
        first = report.ref
        if not report.problems:
            out.append((first, "ok", ""))
            continue
        for p in report.problems:
            out.append((first, p.code, p.message))
            first = ""
        for f in report.fixes:
            out.append(("", "fix" if f.safe else "needs a person", f.summary))
    for error in result.errors:
        out.append(("", "error", error))
    return out


def header(result: TriageResult, policy: Policy) -> str:
    return (
        f"escbot triage at {policy.calendar.describe(result.now)}: {len(result.reports)} open "
        f"issue(s), {len(result.with_problems)} with problems"
    )


def to_text(result: TriageResult, policy: Policy) -> str:
    if not result.reports and not result.errors:
        return header(result, policy) + "\nNothing to triage.\n"
    table = [("ISSUE", "WHAT", "DETAIL"), *rows(result)]
    w0 = max(len(r[0]) for r in table)
    w1 = max(len(r[1]) for r in table)
    lines = [header(result, policy), ""]
    lines += [f"{a:<{w0}}  {b:<{w1}}  {c}".rstrip() for a, b, c in table]
    return "\n".join(lines) + "\n"


def _rich_table(result: TriageResult, policy: Policy) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=header(result, policy), title_justify="left")
    for name in ("Issue", "What", "Detail"):
        table.add_column(name, overflow="fold")
    styles = {"ok": "green", "fix": "cyan", "needs a person": "yellow", "error": "red"}
    for issue, what, detail in rows(result):
        style = styles.get(what, "bold" if issue else "")
        shown = f"[{style}]{escape(what)}[/]" if style else escape(what)
        table.add_row(escape(issue), shown, escape(detail))
    Console().print(table)


def outcome_lines(outcomes: list[Outcome]) -> str:
    lines = []
    for o in outcomes:
        verb = {"done": "Did", "already done": "Already done:"}.get(o.status)
        if verb is None and o.status.startswith("already done"):
            verb = "Already done:"
        lines.append(
            f"{verb} {o.action.summary}" if verb else f"Failed: {o.action.summary}: {o.status}"
        )
    return "\n".join(lines) + ("\n" if lines else "")
