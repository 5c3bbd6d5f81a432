"""`escbot intake test FILE` and `escbot intake learn`: check and grow the intake vocabulary."""

from __future__ import annotations

import click

from escbot.cli.common import load, open_gitlab, policies_option, scope_options
from escbot.gitlab_io import resolve_scope
from escbot.policies import find_policy_path


@click.group("intake")
def command() -> None:
    """E-mail intake: check the classifier on labelled e-mails, learn from the tracker."""


@command.command("test")
@click.argument("file", metavar="FILE")
@click.option("--explain", is_flag=True, help="Show the evidence of each misclassified e-mail.")
@policies_option
def test(file: str, explain: bool, policies_path: str | None) -> None:
    """Classify the e-mails of FILE (YAML or JSON, with expected labels) and print accuracy,
    triage rate and confident-wrong rate on the clear-cut ones, non-escalations acknowledged,
    account types right, and every e-mail that went wrong.

    Each e-mail: subject, body, from, optional headers, html, project, and `expect`:
    {type, category} for a clear-cut escalation, {ambiguous: [categories]} when triage or any
    of them is right, {kind: auto-reply|bounce|newsletter|thanks} for mail that is not an
    escalation; account_type (null: must stay unknown) and severity are checked where given.

    Exit codes: 0 nothing harmful (no clear-cut e-mail confidently wrong, no non-escalation
    acknowledged; triage is a person's job, not harm), 1 otherwise, 2 for a bad file or policy.
    """
    from escbot.intake_corpus import evaluate, load_corpus

    policy = load(policies_path)
    score = evaluate(load_corpus(file), policy)
    for line in score.report():
        click.echo(line)
    if explain:
        for outcome in score.outcomes:
            if outcome.verdict in ("wrong", "triage"):
                click.echo(f"\n{outcome.sample.id}:")
                for line in outcome.decision.explain() or ["(no evidence)"]:
                    click.echo(f"  {line}")
    failed = score.of("wrong") + score.acknowledged_non_escalations
    raise SystemExit(1 if failed else 0)


@command.command("learn")
@scope_options
@click.option(
    "--min-count",
    type=click.IntRange(1),
    default=2,
    show_default=True,
    help="In how many of a category's e-mails a phrase must be to be proposed.",
)
@policies_option
def learn(
    project: str | None, group: str | None, min_count: int, policies_path: str | None
) -> None:
    """Propose vocabulary from e-mails people classified or re-classified on GitLab.

    Reads the e-mailed issues (authored by the Service Desk bot) of --project or --group whose
    category label a person set: classified by hand after triage, or escbot's category replaced
    (a correction). Prints the proposals as a unified diff of policies.yml; nothing is applied
    (review it, then `patch -p0 < diff` or edit by hand, and check with `escbot intake test`).
    """
    from escbot.intake_learn import policy_diff, propose, read_examples

    policy = load(policies_path)
    api = open_gitlab()
    scope = resolve_scope(api, project, group)
    examples = read_examples(api, scope, policy)
    corrections = [e for e in examples if e.corrected]
    click.echo(
        f"{len(examples)} e-mailed issue(s) classified by a person, "
        f"{len(corrections)} of them correcting escbot"
    )
    for e in corrections:
        click.echo(f"  {e.ref}: {e.corrected} -> {e.category}")
    proposals = propose(examples, policy, min_count)
    if not proposals:
        click.echo("no vocabulary to propose")
        return
    path = find_policy_path(policies_path)
    for category, phrases in proposals.items():
        found = ", ".join(f'"{p}" ({n} e-mails)' for p, n in phrases)
        click.echo(f"  {category}: {found}")
    click.echo(policy_diff(path.read_text(encoding="utf-8"), proposals, str(path)), nl=False)
