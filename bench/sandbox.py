"""Benchmark the sandbox: seed 50,000 issues, then time a filtered page of 100.

    .venv/bin/python bench/sandbox.py [--issues 50000] [--runs 20]

Prints the seed time and the median latency (ms) of
GET /projects/:id/issues?labels=escalation,escalation::sev1&state=opened&updated_after=...
over real HTTP with a keep-alive session.
"""

from __future__ import annotations

import argparse
import statistics
import time

import requests

from escbot.sandbox import start_sandbox


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--issues", type=int, default=50_000)
    ap.add_argument("--projects", type=int, default=1, help="projects to spread issues over")
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()

    with start_sandbox(now="2026-11-23T14:00:00Z") as sb:
        t0 = time.perf_counter()
        out = sb.seed(
            group="bench", projects=args.projects, issues=args.issues, notes_per_issue=2, days=30
        )
        seed_s = time.perf_counter() - t0
        print(f"seed: {out['issues']} issues, {out['notes']} notes in {seed_s:.2f} s")

        session = requests.Session()
        session.headers["PRIVATE-TOKEN"] = sb.token
        url = f"{sb.url}/api/v4/projects/bench%2Fproject-01/issues"
        params = {
            "labels": "escalation,escalation::sev1",
            "state": "opened",
            "updated_after": "2026-11-01T00:00:00Z",
            "per_page": 100,
        }
        first = session.get(url, params=params)
        first.raise_for_status()
        times = []
        for _ in range(args.runs):
            t = time.perf_counter()
            r = session.get(url, params=params)
            r.raise_for_status()
            times.append((time.perf_counter() - t) * 1000)
        print(
            f"filtered page: {len(r.json())} of {r.headers.get('X-Total')} matching issues; "
            f"median {statistics.median(times):.1f} ms (min {min(times):.1f}, "
            f"max {max(times):.1f}) over {args.runs} runs"
        )


if __name__ == "__main__":
    main()
