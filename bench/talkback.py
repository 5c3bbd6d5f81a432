"""What `/escbot` commands cost the rules: evaluation time of one escalation by number of
comments, without commands and with one command in every tenth comment (pure, no GitLab).

    .venv/bin/python bench/talkback.py [--notes 50 200 800] [--repeat 20]

Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from escbot.model import Context, Member
from escbot.rules import evaluate
from tests.helpers import escalation, note, ny, policy

COMMANDS = (
    "/escbot ack",
    "/escbot snooze blockers for 2 business days vendor",
    "/escbot pause waiting-on-customer",
    "/escbot resume",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notes", type=int, nargs="+", default=[50, 200, 800])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    pol = policy()
    start = ny("2026-09-01 09:00")
    for n in args.notes:
        for with_commands in (False, True):
            notes = tuple(
                note(
                    COMMANDS[(i // 10) % len(COMMANDS)]
                    if with_commands and i % 10 == 0
                    else "#status-update all fine",
                    start + timedelta(hours=3 * i),
                    id=i + 1,
                )
                for i in range(n)
            )
            now = start + timedelta(hours=3 * n + 30)
            esc = escalation(created_at=start, notes=notes, readers=(Member("pat", 40),))
            ctx = Context(policy=pol, now=now, bot="escbot-bot")
            began = time.perf_counter()
            for _ in range(args.repeat):
                evaluate(esc, ctx)
            ms = (time.perf_counter() - began) / args.repeat * 1000
            kind = "one command in ten" if with_commands else "no commands       "
            print(f"{n:5d} comments, {kind}: {ms:7.2f} ms per evaluation")


if __name__ == "__main__":
    main()
