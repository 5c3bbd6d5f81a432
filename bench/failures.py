"""How fast escbot fails, and how it holds up under faults: seconds to the one error line.

    .venv/bin/python bench/failures.py [--timeout 5]

Runs `escbot` as a user would (a subprocess) against a refused port, a sandbox answering 5xx
to everything, a sandbox that never answers in time, and a sandbox with 20% 5xx and 20% 429,
and prints the exit code and wall time of each. Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time

from escbot.sandbox import start_sandbox


def run(label: str, env: dict[str, str], *args: str) -> None:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "escbot", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.monotonic() - started
    last = (done.stderr.strip().splitlines() or [""])[-1][:100]
    print(f"{label:<44} exit {done.returncode}  {seconds:6.2f}s  {last}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", default="5", help="--timeout budget for the fault runs")
    budget = parser.parse_args().timeout
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        refused = f"http://127.0.0.1:{s.getsockname()[1]}"
    run("refused connection", {"GITLAB_URL": refused, "GITLAB_TOKEN": "x"}, "check", "-g", "g")
    with start_sandbox() as sb:
        gl = sb.gitlab()
        gl.projects.create({"name": "collab"})
        env = {"GITLAB_URL": sb.url, "GITLAB_TOKEN": sb.token}
        scope = ("labels", "sync", "-p", "root/collab", "--timeout", budget)
        run("healthy (labels sync, dry run)", env, *scope)
        sb.set_faults(latency_ms=0, rate_5xx=0.2, rate_429=0.2, retry_after=0, seed=2)
        run("20% 5xx + 20% 429, --apply (default budget)", env, *scope[:4], "--apply")
        sb.set_faults(rate_5xx=1.0, rate_429=0, seed=1)
        run(f"5xx on every request, --timeout {budget}", env, *scope)
        sb.set_faults(rate_5xx=0, latency_ms=60_000)
        run(f"no answer in time, --timeout {budget}", env, *scope)


if __name__ == "__main__":
    main()
