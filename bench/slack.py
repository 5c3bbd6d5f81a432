"""What the Slack thread costs a scheduled run: Slack requests by method, and seconds.

    .venv/bin/python bench/slack.py [--escalations 20]

Opens N Sev1 escalations with `escbot new` (each starts its thread), then runs `escbot check
--apply` on the next morning (reminders, each mirrored in its thread), again an hour later
(nothing new), and with Slack answering 503 to everything (one warning line), against the
embedded sandbox's GitLab and Slack. Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from escbot.sandbox import start_sandbox
from tests.helpers import World, policy_text


def slack_calls(sb: object) -> dict[str, int]:
    stats = sb.stats()["by_route"]  # type: ignore[attr-defined]
    return {k.split("/slack/api/")[1]: v for k, v in stats.items() if "/slack/api/" in k}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--escalations", type=int, default=20)
    n = parser.parse_args().escalations
    with start_sandbox(now="2026-11-23T14:00:00Z") as sb, tempfile.TemporaryDirectory() as tmp:
        world = World(sb)
        ws = sb.slack_seed(
            users=[{"name": "escbot", "bot": True}, {"name": "pat"}],
            channels=[{"name": "ps-project-leadership", "members": ["escbot", "pat"]}],
        )
        path = Path(tmp) / "policies.yml"
        path.write_text(
            policy_text(
                ("  slack: false", f"  slack: true\n  base_url: {sb.slack_url}"),
                ("  # users: {pat: U0123ABCD}", f"  users: {{pat: {ws['users']['pat']}}}"),
            )
        )
        os.environ["ESCBOT_POLICIES"] = str(path)
        os.environ["SLACK_BOT_TOKEN"] = ws["tokens"]["escbot"]
        sb.reset_stats()
        started = time.monotonic()
        for i in range(n):
            world.open("2026-11-23 09:00", title=f"Install stalled {i}")
        opened = time.monotonic() - started
        print(f"escbot new x{n}: {opened:.2f}s, Slack calls {slack_calls(sb)}")
        for label, when, faults in (
            ("check next morning (reminders mirrored)", "2026-11-24 10:00", 0.0),
            ("check an hour later (nothing new)", "2026-11-24 11:00", 0.0),
            ("check with Slack down (503)", "2026-11-25 10:00", 1.0),
        ):
            sb.set_slack_faults(rate_5xx=faults)
            sb.reset_stats()
            started = time.monotonic()
            result = world.run("check", "--project", world.path, "--apply", when=when)
            seconds = time.monotonic() - started
            warnings = sum("Slack" in line for line in result.stderr.splitlines())
            print(
                f"{label:<42} exit {result.exit_code} {seconds:5.2f}s  warning lines {warnings}"
                f"  Slack calls {sum(slack_calls(sb).values())} {slack_calls(sb)}"
            )


if __name__ == "__main__":
    main()
