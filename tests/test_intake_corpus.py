"""The issue's goals on our labelled e-mails (tests/data): behaviour, not timing. The held-out
file was written with the corpus and only evaluated once the vocabulary was built."""

from __future__ import annotations

import pytest

from escbot.intake_corpus import evaluate, load_corpus
from tests.helpers import ROOT, policy

DATA = ROOT / "tests" / "data"


@pytest.fixture(scope="module")
def samples() -> dict[str, list]:
    return {name: load_corpus(DATA / f"{name}.yml") for name in ("intake_corpus", "intake_holdout")}


def test_the_corpus_is_big_and_varied(samples: dict[str, list]) -> None:
    everything = [s for group in samples.values() for s in group]
    assert len(everything) >= 150
    assert len({s.id for s in everything}) == len(everything)
    kinds = {s.expect.get("kind") for s in everything} - {None}
    assert kinds == {"auto-reply", "bounce", "newsletter", "thanks"}
    categories = {s.expect.get("category") for s in everything} - {None}
    assert len(categories) == 11  # every seed 004 category can be produced


@pytest.mark.parametrize("name", ["intake_corpus", "intake_holdout"])
def test_goals_on_clear_cut_escalations_and_non_escalations(
    samples: dict[str, list], name: str
) -> None:
    score = evaluate(samples[name], policy())
    figures = score.figures()
    report = "\n".join(score.report())
    assert figures["correct"] >= 90, report
    assert figures["triage"] <= 10, report
    assert figures["wrong"] <= 1, report
    assert score.acknowledged_non_escalations == [], report
    assert figures["non_escalations_recognised"] == 100, report
    assert figures["ambiguous_ok"] == 100, report
    assert figures["account_right"] >= 95, report


SMALL = """
emails:
  - id: right
    from: jane@acme.example
    subject: Nobody came
    body: The technician did not show up.
    expect: {type: customer, category: technician-no-show, account_type: fixed}
  - id: wrong-label
    from: jane@acme.example
    subject: Wrong model received
    body: We got bullet cameras instead of domes.
    expect: {type: customer, category: shipping-delay}
  - id: ooo
    from: jane@acme.example
    subject: "Automatic reply: escalation"
    body: I am out of the office.
    expect: {kind: auto-reply}
"""


def test_intake_test_prints_the_figures_and_the_misses(tmp_path) -> None:
    from click.testing import CliRunner

    from escbot.cli import cli

    corpus = tmp_path / "mails.yml"
    corpus.write_text(SMALL)
    result = CliRunner().invoke(cli, ["intake", "test", str(corpus)])
    assert result.exit_code == 1  # one clear-cut e-mail confidently wrong
    assert result.output.splitlines()[:8] == [
        "3 e-mails: 2 clear-cut escalations, 0 ambiguous, 1 not escalations",
        "clear-cut: 50.0% correct, 0.0% sent to triage, 50.0% confidently wrong",
        "ambiguous: 0.0% sent to triage or to one of the candidates",
        "not escalations: 0 acknowledged, 100.0% recognised",
        "account type: 100.0% right (1 checked)",
        "severity: 0.0% right (0 checked)",
        "misclassified or sent to triage:",
        "  wrong-label: expected customer/shipping-delay, got customer/incorrect-shipment "
        "(incorrect-shipment scored 6.0, next install-issue 1.0)",
    ]
    explained = CliRunner().invoke(cli, ["intake", "test", str(corpus), "--explain"])
    assert (
        '\nwrong-label:\n  incorrect-shipment 6.0: "wrong model" (subject, +3.0)'
        in explained.output
    )


@pytest.mark.parametrize(
    "content,error",
    [
        ("emails: [", "mails.yml:1: not valid YAML or JSON: expected the node content"),
        ("emails: 3", "mails.yml: expected a list of e-mails (or a mapping with `emails`)"),
        ("- just text", "mails.yml: e-mail #1: expected a mapping with an `expect` mapping"),
    ],
)
def test_intake_test_bad_file_is_one_line_and_exit_2(tmp_path, content: str, error: str) -> None:
    from click.testing import CliRunner

    from escbot.cli import cli

    corpus = tmp_path / "mails.yml"
    corpus.write_text(content)
    result = CliRunner().invoke(cli, ["intake", "test", str(corpus)])
    assert result.exit_code == 2
    assert result.output.startswith("escbot: error: ") and error in result.output
    assert len(result.output.strip().splitlines()) == 1
