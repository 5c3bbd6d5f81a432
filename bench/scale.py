"""Portfolio scale (issue 19): requests by kind, seconds, CPU seconds and peak MB of `escbot check`,
next to a naive client in the same run.

    .venv/bin/python bench/scale.py [--escalations 500 1000 5000] [--latency-ms 50]
    .venv/bin/python bench/scale.py --quick           # 500 escalations only: a smoke check
    .venv/bin/python bench/scale.py --dimensions      # the cost of each dimension alone

For each size: a sandbox in its own process (so each client's CPU and memory are measured alone),
seeded with one group of `escalations / 25` projects, the escalations carrying 24 notes each over
60 days and four unrelated issues per escalation (about one note each), a first apply run (its
RAID registers, due dates and first reminders) and the next scheduled dry run an hour later
(set-up, not measured: the clock stands still); then, a day later, with the sandbox's clock
running (a run takes time, as on GitLab) and each in a fresh process at the same latency, a cold
dry run (no cache: only the memory escbot keeps in its notes), the naive client, an apply run
and, after 2% of the escalations got a staff comment, a warm dry run (both with the memory cache
the CI job keeps, ESCBOT_CACHE). Each size ends with escbot's cold run against the naive one
(requests and seconds).

The naive client is plain python-gitlab, no escbot code: it lists the group's open issues
labelled `escalation` (100 a page) and reads every page of each one's notes (100 a page), nothing
else; it counts the notes and keeps none. escbot counts its own requests; the naive client's are
the sandbox's own counters (`/__sandbox__/stats`). Figures only; nothing is asserted
(tests/test_scale.py pins request counts).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

SEEDED = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # a Monday; the seed's history ends here
NOW = SEEDED + timedelta(days=1)  # the measured runs: a day after the first apply
SEV1 = ["escalation", "escalation::sev1", "severity::high", "type::customer", "phase::active"]
SEV2 = ["escalation", "escalation::sev2", "severity::medium", "type::internal", "phase::active"]
GROUP = "bench"
SERVE = ["--port", "0", "--rate-limit", "1000000", "--now"]


def lever(url: str, token: str, method: str, path: str, data: Any = None) -> Any:
    body = json.dumps(data).encode() if data is not None else None
    req = urllib.request.Request(url + path, data=body, method=method)
    req.add_header("PRIVATE-TOKEN", token)
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=600) as resp:
        raw = resp.read()
    return json.loads(raw) if raw else None


def start_server() -> tuple[subprocess.Popen[str], str, str]:
    # GitLab's window is per user: the set-up's requests must not eat the measured runs' minute
    # (escbot's own ceiling, 2,000 a minute, still holds in the measured runs).
    proc = subprocess.Popen(
        [sys.executable, "-m", "escbot", "sandbox", "serve", *SERVE, SEEDED.isoformat()],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    found = re.match(r"sandbox: (\S+) token=(\S+)", proc.stdout.readline())
    assert found, "the sandbox did not start"
    return proc, found.group(1), found.group(2)


def seed(url: str, token: str, escalations: int, projects: int, unrelated_notes: int) -> None:
    lever(url, token, "POST", "/__sandbox__/seed",
          {"group": GROUP, "projects": projects, "issues": escalations, "notes_per_issue": 24,
           "closed_ratio": 0, "days": 60, "label_sets": [SEV1, SEV2], "seed": 1})  # fmt: skip
    if unrelated_notes:
        lever(url, token, "POST", "/__sandbox__/seed",
              {"group": GROUP, "projects": projects, "issues": unrelated_notes,
               "notes_per_issue": 1, "closed_ratio": 0.5, "days": 60, "label_sets": [["bug"]],
               "seed": 2})  # fmt: skip


def change(url: str, token: str, share: float) -> int:
    """A staff member (not the bot) comments on `share` of the escalations: what a warm run
    has to notice."""
    import gitlab

    gl = gitlab.Gitlab(url, private_token=token)
    try:
        pm = gl.users.create({"username": "pm", "name": "PM", "email": "pm@example.com",
                              "force_random_password": True,
                              "skip_confirmation": True})  # fmt: skip
        gl.groups.get(GROUP).members.create({"user_id": pm.id, "access_level": 40})
    except gitlab.GitlabCreateError:
        pm = gl.users.list(username="pm")[0]
    pm_token = pm.personal_access_tokens.create({"name": "bench", "scopes": ["api"]}).token
    as_pm = gitlab.Gitlab(url, private_token=pm_token)
    issues = gl.groups.get(GROUP).issues.list(labels="escalation", state="opened", iterator=True)
    every = max(1, round(1 / share))
    changed = 0
    for n, issue in enumerate(issues):
        if n % every == 0:
            project = as_pm.projects.get(issue.project_id, lazy=True)
            project.issues.get(issue.iid, lazy=True).notes.create(
                {"body": "## Status update\n#status-update all on track"}
            )
            changed += 1
    return changed


def child(url: str, token: str, apply: bool, now: datetime, cache: str | None) -> None:
    """One run of `check`, measured from inside: its own CPU and peak memory."""

    from escbot.check import run_check
    from escbot.gitlab_io import GitLab, connect
    from escbot.lease import Lease
    from escbot.policies import load_policy

    os.environ["GITLAB_TOKEN"] = token
    policy = load_policy()
    api = GitLab(connect(url=url, budget=600))  # escbot's Transport: retries and pacing
    cpu0 = time.process_time()
    started = time.perf_counter()
    scope = ("group", api.group(GROUP))
    if apply:
        with Lease(api, scope, "check --apply", wait=0):
            result = run_check(api, scope, policy, now, apply=True, cache_path=cache)
    else:
        result = run_check(api, scope, policy, now, apply=False, cache_path=cache)
    said = {(a.project_id, a.iid) for a in result.actions if a.kind == "comment"}
    print(json.dumps({
        "requests": dict(api.stats.by_kind),
        "seconds": time.perf_counter() - started,
        "cpu": time.process_time() - cpu0,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "escalations": len(result.escalations),
        "with_something_to_say": len(said),
        "errors": len(result.errors),
    }))  # fmt: skip


def naive_child(url: str, token: str) -> None:
    """The naive client, measured from inside like `child`: the list, then every escalation's
    notes, one after the other, with python-gitlab alone (no retries, no pacing)."""
    import gitlab

    gl = gitlab.Gitlab(url, private_token=token)
    cpu0 = time.process_time()
    started = time.perf_counter()
    group = gl.groups.get(GROUP, lazy=True)  # lazy: no request of its own
    escalations = notes = 0
    for issue in group.issues.list(labels="escalation", state="opened", per_page=100,
                                   iterator=True):  # fmt: skip
        thread = gl.projects.get(issue.project_id, lazy=True).issues.get(issue.iid, lazy=True)
        notes += sum(1 for _ in thread.notes.list(per_page=100, iterator=True))
        escalations += 1
    print(json.dumps({
        "seconds": time.perf_counter() - started,
        "cpu": time.process_time() - cpu0,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "escalations": escalations,
        "notes": notes,
    }))  # fmt: skip


def measure(
    url: str,
    token: str,
    mode: str,
    latency_ms: int,
    now: datetime | None = None,
    paced: bool = True,
    cache: str | None = None,
) -> dict[str, Any]:
    """One child run (`mode`: dry, apply or naive) at `latency_ms`, with escbot's memory cache
    at `cache` (as the CI job keeps it) or none, at `now` (the clock stands still) or at the
    sandbox's running clock's time; the naive client's requests are the sandbox's count,
    escbot's its own."""
    lever(url, token, "PUT", "/__sandbox__/faults", {"latency_ms": latency_ms})
    if now is not None:
        lever(url, token, "PUT", "/__sandbox__/clock", {"now": now.isoformat()})
    else:
        now = datetime.fromisoformat(lever(url, token, "GET", "/__sandbox__/clock")["now"])
    lever(url, token, "DELETE", "/__sandbox__/stats")
    # The measured runs keep escbot's own pacing (2,000 requests a minute, --notes-per-minute);
    # the set-up need not: paced, its first notes alone would take minutes.
    unpaced = {"ESCBOT_REQUESTS_PER_MINUTE": "1000000", "ESCBOT_NOTES_PER_MINUTE": "1000000"}
    env = {**os.environ, **({} if paced else unpaced)}
    try:
        out = subprocess.run(
            [sys.executable, __file__, "--child", mode, url, token, now.isoformat(), cache or "-"],
            capture_output=True, text=True, check=True, env=env,
        )  # fmt: skip
    finally:
        lever(url, token, "PUT", "/__sandbox__/faults", {"latency_ms": 0})
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    if mode == "naive":
        result["requests"] = lever(url, token, "GET", "/__sandbox__/stats")["by_route"]
    return result


def kinds(requests: dict[str, int]) -> str:
    """The request kinds, largest first, shortened: `GET /projects/:id/events` = `events`."""
    short: Counter[str] = Counter()
    for kind, n in requests.items():
        method, path = kind.split(" ", 1)
        # Route templates (the sandbox's `:noteable_id`) and escbot's `:id` read alike.
        tail = "/".join(p for p in path.split("/") if p and not p.startswith(":"))
        short[f"{method} {tail.removeprefix('projects/').removeprefix('groups/')}"] += n
    return ", ".join(f"{k} {n}" for k, n in short.most_common(5))


def line(label: str, m: dict[str, Any]) -> str:
    total = sum(m["requests"].values())
    posts = sum(n for k, n in m["requests"].items() if k.startswith("POST") and "notes" in k)
    say = m.get("with_something_to_say", "-")  # the naive client says nothing and evaluates nothing
    return (
        f"  {label:<5} {total:>6} req {m['seconds']:>7.1f} s {m['cpu']:>6.1f} s CPU "
        f"{m['peak_mb']:>5.0f} MB  say {say:>5} posts {posts:>5}  "
        f"errors {m.get('errors', '-')}  [{kinds(m['requests'])}]"
    )


def versus(escbot: dict[str, Any], naive: dict[str, Any]) -> str:
    """escbot's cold dry run against the naive client: below 1.0x, escbot costs less."""
    ours, theirs = sum(escbot["requests"].values()), sum(naive["requests"].values())
    return (
        f"  cold vs naive: {ours} / {theirs} requests ({ours / theirs:.2f}x), "
        f"{escbot['seconds']:.1f} / {naive['seconds']:.1f} s "
        f"({escbot['seconds'] / naive['seconds']:.2f}x); the naive client read "
        f"{naive['notes']} notes of {naive['escalations']} escalations"
    )


def portfolio(escalations: int, projects: int, unrelated: int, latency_ms: int) -> None:
    proc, url, token = start_server()
    with tempfile.TemporaryDirectory() as tmp:
        cache = os.path.join(tmp, "memory.json")  # the CI job's cache (ESCBOT_CACHE)
        try:
            seed(url, token, escalations, projects, unrelated)
            # The first apply (registers, due dates, first reminders) is the set-up, not
            # measured; like the CI job, it keeps its memory in the cache.
            measure(url, token, "apply", 0, SEEDED, paced=False, cache=cache)
            # And the next scheduled run, an hour on: its list of changes holds the first one's
            # writes (all stamped at one instant here); the measured runs' lists start after.
            measure(url, token, "dry", 0, SEEDED + timedelta(hours=1), paced=False, cache=cache)
            print(f"{escalations} escalations, {projects} projects, {unrelated} unrelated issues:")
            # A day later, time runs as it does on GitLab: a run takes time, and the next
            # change comes after it.
            lever(
                url, token, "PUT", "/__sandbox__/clock", {"now": NOW.isoformat(), "running": True}
            )
            # Cold: no cache (a new runner), only the memory escbot keeps in its notes.
            cold = measure(url, token, "dry", latency_ms)
            print(line("cold", cold), flush=True)
            naive = measure(url, token, "naive", latency_ms)  # the state the cold run read
            print(line("naive", naive), flush=True)
            print(line("apply", measure(url, token, "apply", latency_ms, cache=cache)), flush=True)
            change(url, token, 0.02)
            warm = measure(url, token, "dry", latency_ms, cache=cache)
            print(line("warm", warm), flush=True)
            print(versus(cold, naive), flush=True)
        finally:
            proc.terminate()
            proc.wait()


def dimensions(latency_ms: int) -> None:
    """Cold dry-run requests as one dimension grows and the others stay put."""
    base = {"escalations": 500, "projects": 20, "unrelated": 2000}
    for dim, values in (("escalations", (500, 1000)), ("projects", (20, 40)),
                        ("unrelated", (2000, 4000))):  # fmt: skip
        costs = []
        for value in values:
            shape = {**base, dim: value}
            proc, url, token = start_server()
            try:
                seed(url, token, shape["escalations"], shape["projects"], shape["unrelated"])
                m = measure(url, token, "dry", latency_ms, NOW)
            finally:
                proc.terminate()
                proc.wait()
            costs.append((value, sum(m["requests"].values()), m["seconds"]))
        (v0, r0, s0), (v1, r1, s1) = costs
        per = (r1 - r0) / (v1 - v0)
        print(f"{dim:<12} {v0}->{v1}: {r0}->{r1} requests ({per:.3f} per unit), "
              f"{s0:.1f}->{s1:.1f} s", flush=True)  # fmt: skip


def natural(text: str) -> int:
    """An argparse type: a whole number, 0 or more (argparse exits 2 on anything else)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}")
    return value


def positive(text: str) -> int:
    value = natural(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        mode, url, token, now, cache = sys.argv[2:7]
        if mode == "naive":
            naive_child(url, token)
        else:
            child(
                url,
                token,
                mode == "apply",
                datetime.fromisoformat(now),
                None if cache == "-" else cache,
            )
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sizes = parser.add_mutually_exclusive_group()
    sizes.add_argument("--escalations", type=positive, nargs="+", default=[500, 1000, 5000])
    sizes.add_argument("--quick", action="store_true", help="500 escalations only: a smoke check")
    parser.add_argument("--latency-ms", type=natural, default=50)
    parser.add_argument("--dimensions", action="store_true")
    parser.add_argument(
        "--notes-per-minute", default="120", help="ESCBOT_NOTES_PER_MINUTE of the apply runs"
    )
    args = parser.parse_args()
    os.environ["ESCBOT_NOTES_PER_MINUTE"] = args.notes_per_minute
    os.environ.setdefault("ESCBOT_TIMEOUT", "600")
    if args.dimensions:
        dimensions(args.latency_ms)
        return
    print(f"latency {args.latency_ms} ms per request, {args.notes_per_minute} notes a minute")
    for n in [500] if args.quick else args.escalations:
        portfolio(n, max(1, n // 25), 4 * n, args.latency_ms)


if __name__ == "__main__":
    main()
