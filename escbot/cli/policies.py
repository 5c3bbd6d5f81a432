"""`escbot policies check`: validate a policies.yml and summarise it."""

from __future__ import annotations

import click

from escbot.policies import Policy, find_policy_path, load_policy


@click.group("policies")
def command() -> None:
    """Work with policies.yml."""


@command.command("check")
@click.argument("file", required=False, metavar="[FILE]")
def check(file: str | None) -> None:
    """Validate FILE (default: ./policies.yml, else the shipped one) and print a summary.

    Errors name the file, line and key path and exit 2; unknown keys are warnings.
    """
    policy = load_policy(file)
    for warning in policy.warnings:
        click.echo(f"escbot: warning: {warning}", err=True)
    click.echo(summary(policy, str(find_policy_path(file))))


def summary(policy: Policy, path: str) -> str:
    spec = policy.calendar_spec
    holidays = (
        f"{spec.country}{'-' + spec.subdivision if spec.subdivision else ''} holidays"
        if spec.country
        else "no public holidays"
    )
    lines = [
        f"{path}: ok (version {policy.version})",
        f"  calendar: {spec.timezone}, {'/'.join(spec.working_days)} "
        f"{spec.start:%H:%M}-{spec.end:%H:%M}, {holidays}, "
        f"{len(spec.closed_dates)} closed date(s)",
        f"  labels: {len(policy.labels.all_specs())} (marker {policy.labels.marker.name}; "
        + ", ".join(f"{k} {len(g.values)}" for k, g in policy.labels.groups.items())
        + ")",
        f"  initiation: within {policy.initiation.within}: {', '.join(policy.initiation.require)}",
    ]
    for level, reqs in policy.requirements.items():
        items = ", ".join(f"{r.key} every {r.every}" for r in reqs.values())
        lines.append(f"  {level}: {items}")
    for scope, rungs in policy.ladder.rungs.items():
        steps = " -> ".join(f"{'+'.join(r.notify)} after {r.after}" for r in rungs)
        lines.append(f"  ladder {scope}: {steps}")
    promo = policy.promotion
    lines.append(
        f"  promotion: Sev2 {promo.sev2_overdue} past due or a blocker open {promo.blocker_open}"
        f" -> {'auto' if promo.auto else 'proposed to ' + ', '.join(promo.notify)}"
    )
    lines.append(
        f"  rag: {'auto' if policy.rag.auto else 'manual'}; close-out gate: "
        f"{policy.close_out.gate}; warranty: {policy.warranty.days} days; intake: "
        f"{'on' if policy.intake.enabled else 'off'} ({len(policy.intake.categories)} categories)"
    )
    vis = policy.visibility
    staff = ", ".join([*vis.staff.groups, *vis.staff.users]) or "not named (no access audit)"
    lines.append(
        f"  visibility: issues {'confidential' if vis.confidential else 'public'}; comments "
        f"internal except {', '.join(vis.public_comments) or 'none'}; public escalation: "
        f"{vis.public_escalation}; staff: {staff}"
    )
    if policy.warnings:
        lines.append(f"  {len(policy.warnings)} warning(s)")
    return "\n".join(lines)
