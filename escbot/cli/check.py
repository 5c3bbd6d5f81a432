"""`escbot check`: the scheduled run. Dry run unless --apply."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import click

from escbot.audit import append as append_audit
from escbot.check import CheckResult, run_check
from escbot.cli.common import (
    OutputFile,
    lease,
    load,
    now_option,
    open_gitlab,
    policies_option,
    print_stats,
    resolve_now,
    scope_options,
    timeout_option,
    wait_option,
    write_output,
)
from escbot.gitlab_io import resolve_scope
from escbot.model import Escalation
from escbot.policies import Policy
from escbot.timeline import bot_activity


@click.command("check")
@scope_options
@click.option("--apply", is_flag=True, help="Post comments and change labels (default: dry run).")
@now_option
@policies_option
@timeout_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.option(
    "--junit",
    type=OutputFile(),
    metavar="FILE",
    help="Write a JUnit report: one test per requirement.",
)
@click.option(
    "--audit",
    type=OutputFile(),
    metavar="FILE",
    help="Append one JSON line per decision (rule, issue, inputs, verdict, action, outcome).",
)
@click.option("--stats", is_flag=True, help="Print HTTP requests made, by kind, and the wall time.")
@click.option(
    "--cache",
    "cache_path",
    type=click.Path(dir_okay=False, writable=True),
    envvar="ESCBOT_CACHE",
    metavar="FILE",
    help="Keep escbot's memory of each escalation here between runs, so the next run reads only "
    "what changed (a speed-up: a missing or stale file is rebuilt). Env: ESCBOT_CACHE.",
)
@wait_option
@click.pass_context
def command(
    ctx: click.Context,
    project: str | None,
    group: str | None,
    apply: bool,
    now_text: str | None,
    policies_path: str | None,
    fmt: str,
    junit: Path | None,
    audit: Path | None,
    stats: bool,
    cache_path: str | None,
    wait: float,
) -> None:
    """Hold every open escalation against policies.yml and plan reminders.

    Exit codes: 0 nothing missed, 1 requirements missed, 2 usage or policy error,
    3 errors on some issues (the others were still processed), 4 another escbot run held the
    lease for longer than --wait (nothing was done).
    """
    policy = load(policies_path)
    now = resolve_now(now_text, policy)
    api = open_gitlab()
    scope = resolve_scope(api, project, group)
    with lease(apply, api, scope, "check --apply", wait):
        result = run_check(api, scope, policy, now, apply=apply, cache_path=cache_path)
    for warning in result.warnings:
        click.echo(f"escbot: warning: {warning}", err=True)
    if fmt == "json":
        click.echo(json.dumps(to_json(result, policy), indent=2))
    else:
        click.echo(to_text(result, policy), nl=False)
    if junit:
        write_output(junit, to_junit(result))
    if audit:
        append_audit(audit, result)
    if stats:
        print_stats(api)
    ctx.exit(result.exit_code)


def to_text(result: CheckResult, policy: Policy, command: str = "check") -> str:
    cal = policy.calendar
    missed = sum(len(ev.missed) for ev in result.evaluations)
    lines = [
        f"escbot {command} at {cal.describe(result.now)}: {_what(result, policy, command)}, "
        f"{missed} requirement(s) missed"
    ]
    for ev in result.evaluations:
        for f in ev.missed:
            since = cal.describe(f.due) if f.due else "?"
            detail = f" ({_short(f.detail)})" if f.detail else ""
            lines.append(f"  missed  {ev.ref} {f.rule}: {f.title} due since {since}{detail}")
        lines += [f"  note    {n}" for n in ev.notes]
    if result.applied:
        for o in result.outcomes:
            verb = {
                "done": "Did",
                "already done": "Already done:",
                "skipped": "Skipped:",
                "deferred": "Left for the next run:",
            }.get(o.status)
            lines.append(
                f"{verb} {o.action.summary}" if verb else f"Failed: {o.action.summary}: {o.status}"
            )
    else:
        lines += [a.describe() for a in result.actions]
    if not result.actions:
        lines.append("Nothing to do.")
    lines += [f"error: {e}" for e in result.errors]
    return "\n".join(lines) + "\n"


def _what(result: CheckResult, policy: Policy, command: str) -> str:
    """What the run looked at: the escalation for closeout, the counts for a check."""
    if command != "check":
        return ", ".join(f"{e.ref} ({e.state}) {e.title}" for e in result.escalations)
    marker = policy.labels.marker.name
    open_ = sum(e.state == "opened" and marker in e.labels for e in result.escalations)
    closed = sum(e.state == "closed" for e in result.escalations)
    intake = len(result.escalations) - open_ - closed
    counts = [f"{open_} open escalation(s)"]
    counts += [f"{closed} closed lately"] if closed else []
    counts += [f"{intake} e-mailed issue(s)"] if intake else []
    return ", ".join(counts)


def _short(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def to_json(result: CheckResult, policy: Policy) -> dict[str, Any]:
    def when(value: Any) -> str | None:
        return value.isoformat() if value else None

    outcome = {id(o.action): o.status for o in result.outcomes}
    return {
        "now": when(result.now),
        "applied": result.applied,
        "exit_code": result.exit_code,
        "escalations": [
            {
                "ref": ev.ref,
                "findings": [
                    {
                        "rule": f.rule,
                        "title": f.title,
                        "missed": f.missed,
                        "due": when(f.due),
                        "met_at": when(f.met_at),
                        "detail": f.detail,
                    }
                    for f in ev.findings
                ],
                "notes": ev.notes,
                "told": _told(esc, result.bot),
            }
            for esc, ev in zip(result.escalations, result.evaluations, strict=True)
        ],
        "actions": [
            {
                "kind": a.kind,
                "ref": a.ref,
                "rule": a.rule,
                "summary": a.summary,
                "markers": [m.render() for m in a.markers],
                "add_labels": list(a.add_labels),
                "remove_labels": list(a.remove_labels),
                "internal": a.internal,  # an internal note, a confidential issue
                "status": outcome.get(id(a)),
            }
            for a in result.actions
        ],
        "errors": result.errors,
    }


def _told(esc: Escalation, bot: str) -> dict[str, Any]:
    """What escbot told about the escalation in the comments read (counted as the report and
    the retrospective count it)."""
    told = bot_activity(esc, bot)
    return {
        "since": esc.notes_since.isoformat() if esc.notes_since else esc.created_at.isoformat(),
        "reminders": told.reminders,
        "ladder_mentions": told.ladder_mentions,
        "requirements_missed": len(told.lapses),
        "missed_by_requirement": dict(told.missed_by_rule),
    }


def to_junit(result: CheckResult) -> str:
    """One testcase per escalation and rule; a missed requirement is a failure."""
    cases = []
    failures = 0
    for ev in result.evaluations:
        for f in ev.findings:
            name = quoteattr(f"{ev.ref} {f.rule}")
            classname = quoteattr(ev.ref.rsplit("#", 1)[0])
            if f.missed:
                failures += 1
                since = f.due.isoformat() if f.due else ""
                message = quoteattr(f"{f.title} missed since {since}")
                cases.append(
                    f"    <testcase classname={classname} name={name}>\n"
                    f"      <failure message={message}>{escape(f.detail)}</failure>\n"
                    f"    </testcase>"
                )
            else:
                cases.append(f"    <testcase classname={classname} name={name}/>")
    errors = len(result.errors)
    for e in result.errors:
        cases.append(
            f'    <testcase classname="escbot" name={quoteattr(e[:80])}>\n'
            f"      <error message={quoteattr(e)}/>\n    </testcase>"
        )
    body = "\n".join(cases)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<testsuites name="escbot check">\n'
        f'  <testsuite name="escbot check" tests="{len(cases)}" failures="{failures}" '
        f'errors="{errors}" timestamp="{result.now.isoformat()}">\n'
        f"{body}\n  </testsuite>\n</testsuites>\n"
    )
