"""Nothing twice, nothing lost (issue 18): the full trial figures.

    .venv/bin/python bench/reliability.py [--trials 20] [--soak-days 10] [--only overlap|soak|crash]

overlap  N simultaneous `escbot check --apply`, `triage --fix --yes`, `report --post` and `new`
         (N = 2 and 5; subprocesses of the real CLI, one sandbox, the scenario of tests/trials.py
         fresh for each trial): duplicates left, notes posted then deleted (a duplicate that
         existed for a moment), acknowledgements e-mailed more than once, exit codes
soak     a working fortnight of hourly checks (and a `new` a day) with 5% of write answers lost
         after the write (rate_drop_after_write): duplicates left
crash    a check, and a `new`, killed after each of their writes, then the next scheduled runs:
         end states that differ from an uninterrupted run
Figures only; nothing is asserted (tests/test_reliability.py asserts a few trials of each).
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from escbot.sandbox import start_sandbox
from tests import trials
from tests.helpers import World, ny, policy_text

SANDBOX_NOW = "2026-11-23T14:00:00Z"


def fresh(sb: Any) -> tuple[World, dict[str, int]]:
    sb.reset()
    world = World(sb)
    return world, trials.build(world)


def commands(world: World, kind: str, n: int) -> list[Any]:
    if kind == "check":
        return [trials.cli(world, "check", "--group", "acme", "--apply")] * n
    if kind == "triage":
        return [trials.cli(world, "triage", "--group", "acme", "--fix", "--yes")] * n
    if kind == "report":
        pmo = Path(tempfile.mkdtemp()) / "policies.yml"
        pmo.write_text(policy_text(trials.PMO_POLICY))
        post = ["report", "--group", "acme", "--post", "acme/collab", "--policies", str(pmo)]
        return [trials.cli(world, *post)] * n
    return [trials.cli(world, *trials.new_args(), who="pat")] * n


def overlap(sb: Any, count: int) -> None:
    print("overlap: trials of N simultaneous runs (subprocesses), totals over the trials")
    for kind in ("check", "triage", "report", "new"):
        for n in (2, 5):
            totals: Counter[str] = Counter()
            codes: Counter[int] = Counter()
            started = time.monotonic()
            for _ in range(count):
                world, roles = fresh(sb)
                sb.reset_stats()
                runs = trials.overlap(commands(world, kind, n))
                codes.update(r.returncode for r in runs)
                totals["tracebacks"] += sum("Traceback" in r.stderr for r in runs)
                totals["waited"] += sum("waiting up to" in r.stderr for r in runs)
                totals.update(trials.duplicates(world))
                totals["transient"] += trials.deleted_notes(world)
                totals["acks>1"] += trials.acks(world, roles["mail"]) > 1
                titles = [i.title for i in trials.issues(world)]
                totals["escalations>1"] += titles.count("Overlapping opening") > 1
                totals["briefings>1"] += sum(t.startswith("PMO briefing") for t in titles) > 1
                totals["lease left"] += bool(trials.lease_label(world))
            print(
                f"  {kind:<7} x{n}: {count} trials, duplicate issues {totals['issues']}, "
                f"duplicate notes {totals['notes']}, notes posted then deleted "
                f"{totals['transient']}, acks e-mailed twice {totals['acks>1']}, "
                f"two escalations {totals['escalations>1']}, two briefings "
                f"{totals['briefings>1']}, tracebacks {totals['tracebacks']}, lease left "
                f"{totals['lease left']}, runs that waited for the lease {totals['waited']}, "
                f"exit codes {dict(sorted(codes.items()))}, "
                f"{time.monotonic() - started:.1f}s"
            )


def soak(sb: Any, days: int) -> None:
    world, roles = fresh(sb)
    sb.set_faults(rate_drop_after_write=0.05, seed=18)
    start = ny(trials.START)
    runs = opened = 0
    for day in range(days):
        date = start + timedelta(days=day)
        if date.weekday() >= 5:
            continue
        stamp = date.strftime("%Y-%m-%d")
        world.run(*trials.new_args(f"Soak escalation {day}"), who="pat", when=f"{stamp} 08:30")
        opened += 1
        for hour in range(9, 18):
            trials.leased_check(world, f"{stamp} {hour:02d}:00")
            runs += 1
    lost = sb.set_faults(rate_drop_after_write=0)
    dup = trials.duplicates(world)
    titles = Counter(i.title for i in trials.issues(world))
    print(
        f"soak: {days} days, {runs} checks, {opened} `new`, 5% of write answers lost "
        f"(seeded; faults now {lost['rate_drop_after_write']}): duplicate issues "
        f"{dup['issues']}, duplicate notes {dup['notes']}, titles made twice "
        f"{sum(n > 1 for n in titles.values())}, acks on the e-mailed issue "
        f"{trials.acks(world, roles['mail'])}"
    )


def crash(sb: Any) -> None:
    sb.reset()
    expected, writes = trials.reference_check(World(sb))
    differ = []
    for point in range(1, writes + 1):
        world, _roles = fresh(sb)
        trials.run_crashed(
            lambda gl, w=world: trials.leased_check(w, trials.START, gl=gl), world, point
        )
        trials.expire_leftover_lease(world)
        trials.later(world)
        if trials.end_state(world) != expected:
            differ.append(point)
    print(f"crash: check killed after each of its {writes} writes: {len(differ)} differing end "
          f"states {differ or ''}")  # fmt: skip
    sb.reset()
    expected_new, new_writes = trials.reference_new(World(sb))
    created = next(i for i, w in enumerate(new_writes, 1) if re.fullmatch(r"POST .*/issues", w))
    differ = []
    for point in range(created, len(new_writes) + 1):
        sb.reset()
        world = World(sb)
        trials.run_crashed(lambda gl, w=world: trials.open_new(w, gl), world, point, "pat")
        trials.expire_leftover_lease(world)
        trials.later(world)
        if trials.end_state(world) != expected_new:
            differ.append(point)
    points = len(new_writes) - created + 1
    print(f"crash: new killed after each of its {points} writes from the escalation's creation "
          f"on: {len(differ)} differing end states {differ or ''}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--soak-days", type=int, default=10)
    parser.add_argument("--only", choices=["overlap", "soak", "crash"])
    args = parser.parse_args()
    with start_sandbox(now=SANDBOX_NOW) as sb:
        if args.only in (None, "overlap"):
            overlap(sb, args.trials)
        if args.only in (None, "soak"):
            soak(sb, args.soak_days)
        if args.only in (None, "crash"):
            crash(sb)


if __name__ == "__main__":
    main()
