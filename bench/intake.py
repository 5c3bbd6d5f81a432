"""Print the intake classifier's figures on the labelled e-mails (tests/data), and its speed.

    python bench/intake.py [FILE ...]      # default: the corpus and the held-out file

Goals (issue 12): on clear-cut escalations >= 90% correct, <= 10% sent to triage, <= 1%
confidently wrong; no non-escalation acknowledged; account type right wherever knowable.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from escbot.classifier import Email, classify
from escbot.intake_corpus import evaluate, load_corpus
from escbot.policies import load_policy

ROOT = Path(__file__).resolve().parent.parent


def main(files: list[str]) -> None:
    policy = load_policy(ROOT / "policies.yml")
    paths = [Path(f) for f in files] or sorted((ROOT / "tests" / "data").glob("intake_*.yml"))
    for path in paths:
        samples = load_corpus(path)
        start = time.perf_counter()
        score = evaluate(samples, policy)
        elapsed = time.perf_counter() - start
        f = score.figures()
        print(f"{path.name}: {len(samples)} e-mails, {1000 * elapsed / len(samples):.1f} ms each")
        print(f"  clear-cut correct      {f['correct']:5.1f}%   (goal >= 90%)")
        print(f"  clear-cut to triage    {f['triage']:5.1f}%   (goal <= 10%)")
        print(f"  confidently wrong      {f['wrong']:5.1f}%   (goal <= 1%)")
        print(f"  non-escalations acked  {int(f['non_escalations_acknowledged']):5d}    (goal 0)")
        print(f"  account type right     {f['account_right']:5.1f}%")
        print(f"  ambiguous ok           {f['ambiguous_ok']:5.1f}%")
    big = "The technician did not show up. " + "Lorem ipsum dolor sit amet. " * 40_000
    start = time.perf_counter()
    classify(Email("Nobody came", big, "jane@acme.example"), policy)
    print(f"1 MB body: {time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
