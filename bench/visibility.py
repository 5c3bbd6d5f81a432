"""What the access audit and staff resolution cost a scheduled check: requests and seconds.

    .venv/bin/python bench/visibility.py [--escalations 300 1000] [--projects 20]

Seeds the sandbox, then runs a dry-run check of the whole group with `visibility.staff` empty
(no audit) and naming a staff group (one members read for the group, one per project). Figures
only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from pathlib import Path

from escbot.check import run_check
from escbot.gitlab_io import GitLab
from escbot.policies import parse_policy
from escbot.sandbox import start_sandbox

LABELS = [
    ["escalation", "escalation::sev1", "severity::high", "type::customer", "phase::active"],
    ["escalation", "escalation::sev2", "severity::medium", "type::internal", "phase::active"],
]
TEXT = (Path(__file__).resolve().parent.parent / "policies.yml").read_text()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--escalations", type=int, nargs="+", default=[300, 1000])
    parser.add_argument("--projects", type=int, default=20)
    args = parser.parse_args()
    policies = {
        "no staff": parse_policy(TEXT),
        "staff group": parse_policy(TEXT.replace("    groups: []", "    groups: [bench]", 1)),
    }
    now = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
    print(f"{'escalations':>11} {'projects':>8} {'policy':>12} {'requests':>8} {'seconds':>8}")
    for n in args.escalations:
        with start_sandbox(now=now.isoformat()) as sb:
            sb.seed(group="bench", projects=args.projects, issues=n, notes_per_issue=3,
                    closed_ratio=0, days=30, label_sets=LABELS, seed=1)  # fmt: skip
            for name, policy in policies.items():
                api = GitLab(sb.gitlab())
                started = time.perf_counter()
                result = run_check(api, ("group", api.group("bench")), policy, now, apply=False)
                seconds = time.perf_counter() - started
                assert len(result.escalations) == n, len(result.escalations)
                print(f"{n:>11} {args.projects:>8} {name:>12} {api.stats.total:>8} {seconds:>8.2f}")


if __name__ == "__main__":
    main()
