"""How `escbot check` scales with the portfolio: requests, seconds and peak memory.

    .venv/bin/python bench/check.py [--escalations 300 1000 3000] [--projects 20]

Seeds the sandbox (in this process, over real HTTP on 127.0.0.1), then runs a dry-run check
of the whole group and prints one line per size. Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import resource
import time
from datetime import UTC, datetime

from escbot.check import run_check
from escbot.gitlab_io import GitLab
from escbot.policies import load_policy
from escbot.sandbox import start_sandbox

LABELS = [
    ["escalation", "escalation::sev1", "severity::high", "type::customer", "phase::active"],
    ["escalation", "escalation::sev2", "severity::medium", "type::internal", "phase::active"],
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--escalations", type=int, nargs="+", default=[300, 1000, 3000])
    parser.add_argument("--projects", type=int, default=20)
    parser.add_argument("--latency-ms", type=int, default=0, help="injected per-request latency")
    args = parser.parse_args()
    policy = load_policy()
    now = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
    print(f"{'escalations':>11} {'projects':>8} {'requests':>8} {'seconds':>8} {'peak MB':>8}")
    for n in args.escalations:
        with start_sandbox(now=now.isoformat()) as sb:
            sb.seed(group="bench", projects=args.projects, issues=n, notes_per_issue=3,
                    closed_ratio=0, days=30, label_sets=LABELS, seed=1)  # fmt: skip
            if args.latency_ms:
                sb.set_faults(latency_ms=args.latency_ms)
            api = GitLab(sb.gitlab())
            started = time.perf_counter()
            result = run_check(api, ("group", api.group("bench")), policy, now, apply=False)
            seconds = time.perf_counter() - started
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            assert len(result.escalations) == n, len(result.escalations)
            print(f"{n:>11} {args.projects:>8} {api.stats.total:>8} {seconds:>8.2f} {peak:>8.0f}")


if __name__ == "__main__":
    main()
