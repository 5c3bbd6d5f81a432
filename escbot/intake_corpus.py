"""Labelled e-mails, and how the classifier does on them (`escbot intake test`, bench/intake.py).

A corpus is YAML or JSON: a list of e-mails, or a mapping with an `emails` list. Each e-mail has
`subject`, `body`, `from`, and optionally `headers`, `html`, `project`, `id`, and `expect`:
`{type, category}` for a clear-cut escalation, `{ambiguous: [categories]}` for one a dispatcher
would hesitate on (triage or any of them is right), `{kind: auto-reply|bounce|newsletter|thanks}`
for mail that is not an escalation; `account_type` (null: must stay unknown) and `severity` are
checked where given.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from escbot.classifier import Decision, Email, classify
from escbot.errors import EscbotError
from escbot.policies import Policy


@dataclass(frozen=True)
class Sample:
    id: str
    email: Email
    expect: dict[str, Any]

    @property
    def clear_cut(self) -> bool:
        return "category" in self.expect

    @property
    def escalation(self) -> bool:
        return "kind" not in self.expect


@dataclass(frozen=True)
class Outcome:
    sample: Sample
    decision: Decision
    verdict: str  # correct, triage, wrong (confidently), ignored (a non-escalation left alone)

    def describe(self) -> str:
        d, want = self.decision, self.sample.expect
        if not self.sample.escalation:
            expected = want["kind"]
        elif self.sample.clear_cut:
            expected = f"{want.get('type')}/{want['category']}"
        else:
            expected = "triage or " + (", ".join(want.get("ambiguous") or []) or "nothing")
        if not d.is_escalation:
            got = d.kind
        elif d.needs_triage:
            got = f"triage ({d.reason})"
        else:
            got = f"{d.type}/{d.category} ({d.reason})"
        return f"{self.sample.id}: expected {expected}, got {got}"


@dataclass
class Score:
    outcomes: list[Outcome] = field(default_factory=list)
    account: list[tuple[Sample, Decision]] = field(default_factory=list)  # account type wrong
    account_checked: int = 0
    severity: list[tuple[Sample, Decision]] = field(default_factory=list)  # severity wrong
    severity_checked: int = 0

    def of(self, verdict: str, *, clear_cut: bool = True) -> list[Outcome]:
        return [
            o
            for o in self.outcomes
            if o.verdict == verdict and o.sample.clear_cut == clear_cut and o.sample.escalation
        ]

    @property
    def clear(self) -> int:
        return sum(1 for o in self.outcomes if o.sample.clear_cut)

    @property
    def non_escalations(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.sample.escalation]

    @property
    def acknowledged_non_escalations(self) -> list[Outcome]:
        """Non-escalations the intake would treat as escalations (label, acknowledge)."""
        return [
            o
            for o in self.non_escalations
            if o.decision.is_escalation and not o.decision.needs_triage
        ]

    def pct(self, part: int, whole: int) -> float:
        return 100.0 * part / whole if whole else 0.0

    def figures(self) -> dict[str, float]:
        clear = self.clear
        return {
            "correct": self.pct(len(self.of("correct")), clear),
            "triage": self.pct(len(self.of("triage")), clear),
            "wrong": self.pct(len(self.of("wrong")), clear),
            "ambiguous_ok": self.pct(
                len([o for o in self.outcomes if o.verdict == "correct" and _ambiguous(o)]),
                len([o for o in self.outcomes if _ambiguous(o)]),
            ),
            "non_escalations_acknowledged": float(len(self.acknowledged_non_escalations)),
            "non_escalations_recognised": self.pct(
                len([o for o in self.non_escalations if o.verdict == "ignored"]),
                len(self.non_escalations),
            ),
            "account_right": self.pct(
                self.account_checked - len(self.account), self.account_checked
            ),
            "severity_right": self.pct(
                self.severity_checked - len(self.severity), self.severity_checked
            ),
        }

    def report(self) -> list[str]:
        f = self.figures()
        lines = [
            f"{len(self.outcomes)} e-mails: {self.clear} clear-cut escalations, "
            f"{sum(1 for o in self.outcomes if _ambiguous(o))} ambiguous, "
            f"{len(self.non_escalations)} not escalations",
            f"clear-cut: {f['correct']:.1f}% correct, {f['triage']:.1f}% sent to triage, "
            f"{f['wrong']:.1f}% confidently wrong",
            f"ambiguous: {f['ambiguous_ok']:.1f}% sent to triage or to one of the candidates",
            f"not escalations: {int(f['non_escalations_acknowledged'])} acknowledged, "
            f"{f['non_escalations_recognised']:.1f}% recognised",
            f"account type: {f['account_right']:.1f}% right ({self.account_checked} checked)",
            f"severity: {f['severity_right']:.1f}% right ({self.severity_checked} checked)",
        ]
        wrong = [o for o in self.outcomes if o.verdict in ("wrong", "triage")]
        if wrong:
            lines.append("misclassified or sent to triage:")
            lines += [f"  {o.describe()}" for o in wrong]
        if self.account:
            lines.append("account type wrong:")
            lines += [
                f"  {s.id}: expected {s.expect['account_type']}, got {d.account_type} "
                f"({d.account_source})"
                for s, d in self.account
            ]
        return lines


def _ambiguous(o: Outcome) -> bool:
    return o.sample.escalation and not o.sample.clear_cut


def load_corpus(path: str | Path) -> list[Sample]:
    """Read a corpus file; a bad file is one clear error (exit 2)."""
    target = Path(path)
    try:
        text = target.read_text(encoding="utf-8")
        data = json.loads(text) if target.suffix == ".json" else yaml.safe_load(text)
    except OSError as exc:
        raise EscbotError(f"{target}: cannot read: {exc.strerror}") from None
    except (ValueError, yaml.YAMLError) as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{target}:{mark.line + 1}" if mark else str(target)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise EscbotError(f"{where}: not valid YAML or JSON: {problem}") from None
    items = data.get("emails") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise EscbotError(f"{target}: expected a list of e-mails (or a mapping with `emails`)")
    samples = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("expect", {}), dict):
            raise EscbotError(
                f"{target}: e-mail #{i + 1}: expected a mapping with an `expect` mapping"
            )
        samples.append(
            Sample(
                str(item.get("id") or f"#{i + 1}"),
                Email(
                    subject=str(item.get("subject") or ""),
                    body=str(item.get("body") or ""),
                    sender=str(item.get("from") or item.get("sender") or ""),
                    headers={str(k): str(v) for k, v in (item.get("headers") or {}).items()},
                    project=item.get("project"),
                    html=bool(item.get("html")),
                ),
                dict(item.get("expect") or {}),
            )
        )
    return samples


def evaluate(samples: list[Sample], policy: Policy) -> Score:
    score = Score()
    for sample in samples:
        decision = classify(sample.email, policy)
        score.outcomes.append(Outcome(sample, decision, _verdict(sample, decision)))
        want = sample.expect
        if sample.escalation and "account_type" in want:
            score.account_checked += 1
            if decision.account_type != want["account_type"]:
                score.account.append((sample, decision))
        if "severity" in want:
            score.severity_checked += 1
            if decision.severity != want["severity"]:
                score.severity.append((sample, decision))
    return score


def _verdict(sample: Sample, d: Decision) -> str:
    want = sample.expect
    if not sample.escalation:
        if d.kind == want["kind"]:
            return "ignored"
        return "triage" if d.needs_triage or not d.is_escalation else "wrong"
    if not d.is_escalation:
        return "wrong"  # an escalation dropped as an auto-reply is the worst mistake
    if d.needs_triage:
        return "correct" if not sample.clear_cut else "triage"
    if sample.clear_cut:
        right = d.category == want["category"] and d.type == want.get("type", d.type)
    else:
        right = d.category in (want.get("ambiguous") or [])
    return "correct" if right else "wrong"
