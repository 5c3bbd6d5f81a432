"""`escbot new`: open an escalation issue and its RAID register from the templates."""

from __future__ import annotations

import sys
from datetime import date, datetime
from typing import Any

import click

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
from escbot.create import assignable, open_escalation
from escbot.errors import EscbotError
from escbot.gitlab_io import GitLab
from escbot.opening import EscalationRequest, is_warranty, needs_trigger_detail, validate
from escbot.policies import Policy, load_policy

# (parameter, option) in prompt order; all required, plus the conditional ones below.
REQUIRED = [
    ("project", "--project"),
    ("level", "--level"),
    ("type_", "--type"),
    ("category", "--category"),
    ("severity", "--severity"),
    ("title", "--title"),
    ("customer", "--customer"),
    ("dri", "--dri"),
]


def start_thread(api: GitLab, policy: Policy, now: datetime, issue: dict[str, Any] | None) -> None:
    """The escalation's Slack thread at once (policy `chat`); else the next run starts it."""
    if issue is None or policy.chat is None or not policy.chat.slack:
        return
    from escbot.check import run_one
    from escbot.rules import rules_named

    done = run_one(
        api, issue["project_id"], issue["iid"], policy, now, apply=True, rules=rules_named("chat")
    )
    for outcome in done.outcomes:
        click.echo(f"{outcome.action.summary}: {outcome.status}", err=True)
    for warning in done.warnings:
        click.echo(f"escbot: warning: {warning}", err=True)


def interactive() -> bool:
    """True when a person can answer prompts (tests replace this)."""
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def _choices(policy: Policy, param: str, values: dict[str, Any]) -> list[str] | None:
    groups = policy.labels.groups
    if param == "level":
        return list(groups["level"].values)
    if param == "type_":
        return list(groups["type"].values)
    if param == "severity":
        return list(groups["severity"].values)
    if param == "account_type":
        return list(groups["account_type"].values)
    if param == "category":
        type_ = values.get("type_")
        return [
            c
            for c, v in groups["category"].values.items()
            if not type_ or not v.types or type_ in v.types
        ]
    return None


def _missing(policy: Policy, values: dict[str, Any]) -> list[tuple[str, str]]:
    out = [(param, option) for param, option in REQUIRED if not values.get(param)]
    if needs_trigger_detail(policy, values.get("level")) and not values.get("trigger_detail"):
        out.append(("trigger_detail", "--trigger-detail"))
    if is_warranty(policy, values.get("type_")) and not values.get("completed"):
        out.append(("completed", "--completed"))
    return out


PROMPTS = {
    "project": "Customer project (path)",
    "level": "Escalation level",
    "type_": "Escalation type",
    "category": "Category",
    "severity": "Severity",
    "title": "Issue title",
    "customer": "Customer name",
    "account_type": "Account type",
    "dri": "DRI (GitLab username)",
    "trigger_detail": 'Trigger detail (e.g. "17 days behind")',
    "completed": "Project completed (YYYY-MM-DD)",
}


def _next_question(policy: Policy, values: dict[str, Any]) -> str | None:
    """The next thing to ask, in prompt order; the account type just before the DRI."""
    missing = [param for param, _option in _missing(policy, values)]
    if missing and missing[0] != "dri" and missing[0] in dict(REQUIRED):
        return missing[0]
    if values.get("account_type") is None:
        return "account_type"
    return missing[0] if missing else None


def ask(policy: Policy, api: GitLab, values: dict[str, Any], now: datetime) -> None:
    """Ask for everything missing, checking each answer as it is given (a wrong DRI is
    asked again at once, not found after every other answer)."""
    while (param := _next_question(policy, values)) is not None:
        values[param] = _prompt(policy, api, param, values, now)


def _prompt(policy: Policy, api: GitLab, param: str, values: dict[str, Any], now: datetime) -> Any:
    text = PROMPTS[param]
    valid = _choices(policy, param, values)
    if param == "account_type":
        return click.prompt(
            text, type=click.Choice(valid or []), default=policy.routing.default_account_type,
            err=True,
        )  # fmt: skip
    if valid:
        return click.prompt(text, type=click.Choice(valid), err=True)

    def check(answer: str) -> Any:
        answer = answer.strip()
        try:
            return _checked(api, param, answer, values, policy, now)
        except EscbotError as exc:
            raise click.UsageError(str(exc)) from None

    routed = policy.routing.account_types.get(values.get("account_type") or "", {}).get("pm")
    default = routed if param == "dri" else None
    return click.prompt(text, default=default, value_proc=check, err=True)


def _checked(
    api: GitLab, param: str, answer: str, values: dict[str, Any], policy: Policy, now: datetime
) -> Any:
    """One answer, converted, or EscbotError saying what is wrong with it."""
    if not answer:
        raise EscbotError("an answer is needed")
    if param == "project":
        api.project(answer)
    elif param == "dri":
        assignable(api, api.project(values["project"]), answer)
    elif param == "completed":
        try:
            day = date.fromisoformat(answer)
        except ValueError:
            raise EscbotError(f'"{answer}" is not a date such as 2026-11-10') from None
        if day > now.astimezone(policy.tz).date():
            raise EscbotError(f"{day} is in the future")
        return day
    return answer


def complete_value(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """Shell completion from policies.yml: levels, types, the type's categories, ..."""
    try:
        policy = load_policy(ctx.params.get("policies_path"))
    except EscbotError:
        return []
    valid = _choices(policy, param.name or "", {"type_": ctx.params.get("type_")}) or []
    return [value for value in valid if value.startswith(incomplete)]


class NewCommand(click.Command):
    """Lists the valid values from policies.yml at the end of --help."""

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        try:
            policy = load_policy(None)
        except EscbotError:
            return
        groups = policy.labels.groups
        rows = [
            (name, ", ".join(groups[key].values))
            for name, key in (
                ("--level", "level"),
                ("--type", "type"),
                ("--severity", "severity"),
                ("--account-type", "account_type"),
            )
        ]
        for type_ in groups["type"].values:
            cats = [c for c, v in groups["category"].values.items() if type_ in v.types]
            rows.append((f"--category ({type_})", ", ".join(cats)))
        with formatter.section(f"Valid values ({policy.source})"):
            formatter.write_dl(rows)


@click.command("new", cls=NewCommand)
@click.option("--project", "-p", metavar="PROJECT", help="Customer project path or id.")
@click.option(
    "--level",
    metavar="LEVEL",
    help="Escalation level (policies.yml).",
    shell_complete=complete_value,
)
@click.option(
    "--type",
    "type_",
    metavar="TYPE",
    help="Escalation type (policies.yml).",
    shell_complete=complete_value,
)
@click.option(
    "--category",
    metavar="CATEGORY",
    help="Category, one of the type's.",
    shell_complete=complete_value,
)
@click.option(
    "--severity", metavar="SEVERITY", help="Severity (policies.yml).", shell_complete=complete_value
)
@click.option("--title", metavar="TEXT", help="Issue title.")
@click.option("--customer", metavar="NAME", help="Customer name.")
@click.option("--dri", metavar="USERNAME", help="GitLab username of the DRI (assignee).")
@click.option(
    "--account-type",
    metavar="TYPE",
    help="fixed or mobile (default: policies routing).",
    shell_complete=complete_value,
)
@click.option(
    "--trigger-detail",
    metavar="TEXT",
    help='The figure behind the trigger, e.g. "17 days behind" (required for sev2).',
)
@click.option(
    "--completed",
    type=click.DateTime(["%Y-%m-%d"]),
    metavar="YYYY-MM-DD",
    help="Project completion date (warranty escalations).",
)
@now_option
@click.option("--dry-run", is_flag=True, help="Print what would be created; change nothing.")
@policies_option
@timeout_option
@wait_option
def command(
    dry_run: bool,
    wait: float,
    policies_path: str | None,
    now_text: str | None,
    completed: datetime | None,
    **given: Any,
) -> None:
    """Open an escalation issue and its RAID register, linked, from the templates.

    Valid levels, types, categories, severities and account types come from policies.yml. On a
    terminal, missing options are asked for; otherwise they are an error. Running the same
    command again finishes a half-made escalation instead of creating a second one.

    Exit codes: 0 done, 2 usage or policy error, 3 GitLab error, 4 another escbot run held the
    lease for longer than --wait (nothing was created).
    """
    policy = load(policies_path)
    now = resolve_now(now_text, policy)
    values: dict[str, Any] = {k: (v.strip() if isinstance(v, str) else v) for k, v in given.items()}
    values["completed"] = completed.date() if completed else None
    missing = _missing(policy, values)
    api = None
    if missing and interactive():
        api = open_gitlab(progress=False)  # it asks questions
        ask(policy, api, values, now)
    elif missing:
        raise EscbotError(
            "missing options: " + ", ".join(option for _p, option in missing),
            hint="no terminal to ask on; see escbot new --help",
        )
    completed_date: date | None = values["completed"]
    request = EscalationRequest(
        project=values["project"],
        level=values["level"],
        type=values["type_"],
        category=values["category"],
        severity=values["severity"],
        title=values["title"],
        customer=values["customer"],
        dri=values["dri"],
        account_type=values.get("account_type") or None,
        trigger_detail=values.get("trigger_detail") or None,
        completed=completed_date,
        now=now,
    )
    validate(request, policy)
    api = api or open_gitlab(progress=False)
    if dry_run:
        result = open_escalation(api, policy, request, dry_run=True)
        click.echo(f"--- escalation issue: {result.plan.title}")
        click.echo(result.plan.description)
        click.echo(f"--- RAID register issue: {result.plan.raid.title}")
        click.echo(result.plan.raid.description(result.plan.project.id, "NEW", "(the escalation)"))
        click.echo("--- dry run: nothing was changed; it would do this:")
        for action in result.actions:
            click.echo(action)
        return
    # Checked first with reads only: a refused request or a finished escalation takes no lease.
    result = open_escalation(api, policy, request, dry_run=True)
    if any(action.startswith("Would ") for action in result.actions):
        with lease(True, api, ("project", api.project(request.project)), "new", wait):
            result = open_escalation(
                api, policy, request, progress=lambda text: click.echo(text, err=True)
            )
            start_thread(api, policy, now, result.escalation)
    else:
        for action in result.actions:
            click.echo(action, err=True)
    if result.existed:
        click.echo("The escalation was already open; nothing duplicated.", err=True)
    click.echo(f"Escalation: {result.escalation_url}")
    click.echo(f"RAID register: {result.raid_url}")
