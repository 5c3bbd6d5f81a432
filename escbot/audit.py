"""The audit trail: one JSON line per decision of a run (`escbot check --audit FILE`), appended,
so a CI artifact (or a file kept across local runs) says what escbot decided and why.

A finding is a decision about a requirement (its inputs, its verdict); an action is a decision to
write (its reasons, what it did: done, already done, an error, or nothing in a dry run).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from escbot.check import CheckResult
from escbot.errors import EscbotError, redact


def _when(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def decisions(result: CheckResult, command: str = "check") -> list[dict[str, Any]]:
    run = {"at": _when(result.now), "command": command, "applied": result.applied}
    status = {id(o.action): o.status for o in result.outcomes}

    def line(
        issue: str, rule: str, inputs: dict[str, Any], verdict: str, **done: Any
    ) -> dict[str, Any]:
        return {**run, "issue": issue, "rule": rule, "inputs": inputs, "verdict": verdict,
                "action": done.get("action"), "outcome": done.get("outcome")}  # fmt: skip

    out = []
    for ev in result.evaluations:
        for f in ev.findings:
            verdict = "missed" if f.missed else "met" if f.met_at else "not due"
            found = {"title": f.title, "due": _when(f.due), "met_at": _when(f.met_at)}
            out.append(line(ev.ref, f.rule, {**found, "detail": f.detail}, verdict))
    for a in result.actions:
        reasons = {"why": a.data.get("why", []), "markers": [m.render() for m in a.markers]}
        action = {"kind": a.kind, "summary": a.summary}
        outcome = status.get(id(a), "not applied" if result.applied else "dry run")
        out.append(line(a.ref, a.rule, reasons, "act", action=action, outcome=outcome))
    return out


def append(path: Path, result: CheckResult) -> None:
    """Append the run's decisions to `path`, secrets redacted."""
    lines = "".join(json.dumps(d, sort_keys=True) + "\n" for d in decisions(result))
    try:
        with path.open("a", encoding="utf-8") as handle:
            handle.write(redact(lines))
    except OSError as exc:
        raise EscbotError(f"cannot write {path}: {exc.strerror or type(exc).__name__}") from None
