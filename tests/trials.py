"""Overlap, lost-answer and crash trials against one sandbox, shared by tests/test_reliability.py
(a few trials) and bench/reliability.py (the 20-trial figures).

A scenario where one `escbot check --apply` has something of every kind to write: a reminder
with a ladder mention, a RAG change, a sign-off gate (comment, reopen, checklist,
retrospective), a completed close-out (checklist, retrospective, RAID final note and close,
closing the escalation), a RAID register for an escalation opened from the web template, and an
e-mailed escalation to classify and acknowledge (a public comment Service Desk e-mails).

What counts:
  duplicates   escbot notes with the same markers on one issue, and issues escbot made twice
               (the same title and marker, closed duplicates included), in the end state
  transient    notes posted and later deleted (post-then-delete): every note escbot posted is
               either still there or was deleted, so duplicates + transient counts every note
               that ever existed twice; the sandbox's stats count the DELETE requests
  acks         public acknowledgement notes on the e-mailed issue (with no transient note, that
               is every one that ever existed: Service Desk e-mails each the moment it exists)
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import gitlab
import requests

from escbot.check import run_check
from escbot.gitlab_io import GitLab, resolve_scope
from escbot.lease import LABEL, Lease
from escbot.markers import find_markers
from tests.helpers import World, ny, policy

ROOT = Path(__file__).resolve().parent.parent
START = "2026-11-17 10:00"  # Tuesday: the first check of the scenario
LATER = ("2026-11-17 11:00", "2026-11-17 12:00")  # the next scheduled runs
SENDER = "jane@acme.example"


def build(world: World) -> dict[str, int]:
    """The scenario; returns iids by role."""
    from escbot.export import issue_templates, quick_action_labels, strip_quick_actions

    roles = {"late": world.open("2026-11-16 09:00", title="Install stalled")}
    roles["gate"] = world.open("2026-11-16 09:05", title="Wrong parts shipped")
    world.edit(roles["gate"], "2026-11-17 08:00", state_event="close")
    roles["done"] = world.open("2026-11-16 09:10", title="Cameras down")
    world.edit(roles["done"], "2026-11-16 15:00", add_labels="phase::resolution")
    world.tick(roles["done"], "## Close-out checklist", "2026-11-16 16:00")
    template = next(
        t for t in issue_templates(policy()) if t.filename == "Escalation-Sev1-Customer.md"
    )
    world.at("2026-11-16 09:20")
    roles["web"] = world.as_user("pat").http_post(
        f"/projects/{world.project.id}/issues",
        post_data={
            "title": "Opened in the web UI",
            "description": strip_quick_actions(template.body),
            "labels": ",".join(quick_action_labels(template.body)),
            "assignee_ids": [world.users["pat"]["id"]],
        },
    )["iid"]
    world.at("2026-11-17 09:00")
    roles["mail"] = world.sb.service_desk(
        world.project.id,
        SENDER,
        "Technician never showed up",
        "We waited all morning at the Dallas yard; the technician did not show.",
    )["iid"]
    world.at(START)
    return roles


def client(world: World, who: str = "escbot") -> gitlab.Gitlab:
    """A client configured as escbot.gitlab_io.connect() configures it: its Transport retries
    what is safe to repeat and never resends a new note or issue blindly."""
    from escbot.gitlab_io import DEFAULT_BUDGET, PER_PAGE, Transport

    url = world.sb.url
    return gitlab.Gitlab(
        url,
        private_token=world.tokens[who],
        per_page=PER_PAGE,
        session=Transport(url, DEFAULT_BUDGET),
    )


def leased_check(world: World, when: str, *, gl: gitlab.Gitlab | None = None) -> Any:
    """`escbot check --group acme --apply` in this process, under the lease."""
    api = GitLab(gl or client(world))
    scope = resolve_scope(api, None, "acme")
    with Lease(api, scope, "check --apply", wait=120):
        return run_check(api, scope, policy(), ny(when), apply=True)


# --------------------------------------------------------------------------------------------
# Overlapping runs: the CLI in subprocesses, started together.


def cli(
    world: World, *args: str, who: str = "escbot", when: str = START
) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of an escbot subprocess."""
    env = {
        **os.environ,
        "GITLAB_URL": world.sb.url,
        "GITLAB_TOKEN": world.tokens[who],
        "ESCBOT_NOW": ny(when).isoformat(),
        "PYTHONPATH": str(ROOT),
    }
    env.pop("ESCBOT_GITLAB", None)
    return [sys.executable, "-m", "escbot", *args], env


def overlap(commands: list[tuple[list[str], dict[str, str]]]) -> list[subprocess.CompletedProcess]:
    """Start the commands together; their results."""
    procs = [
        subprocess.Popen(
            cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for cmd, env in commands
    ]
    done = []
    for (cmd, _env), p in zip(commands, procs, strict=True):
        out, err = p.communicate(timeout=300)
        done.append(subprocess.CompletedProcess(cmd, p.returncode, out, err))
    return done


def at_once(fns: list[Callable[[], Any]]) -> list[Any]:
    """Run the callables in threads released together; their results (or exceptions)."""
    results: list[Any] = [None] * len(fns)
    barrier = threading.Barrier(len(fns))

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = fns[i]()
        except Exception as exc:  # reported to the caller, who asserts on it
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(fns))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def leased_triage(world: World, when: str = START) -> Any:
    """`escbot triage --group acme --fix --yes` in this process."""
    from escbot.triage import apply_fixes, run_triage

    api = GitLab(client(world))
    scope = resolve_scope(api, None, "acme")
    with Lease(api, scope, "triage --fix", wait=120):
        return apply_fixes(api, run_triage(api, scope, policy(), ny(when)))


# The trials post the briefing in the one project they watch; the policy names it the PMO
# project (a real one is internal: see "What the customer can see").
PMO_POLICY = ("pmo_project: null", "pmo_project: acme/collab")


def leased_report(world: World, when: str = START) -> Any:
    """`escbot report --group acme --post acme/collab` in this process."""
    from escbot.report import build_report, post_briefing

    pmo = policy(pmo=PMO_POLICY)
    api = GitLab(client(world))
    scope = resolve_scope(api, None, "acme")
    report = build_report(api, scope, pmo, ny(when), None)
    target = api.project("acme/collab")
    with Lease(api, ("project", target), "report --post", wait=120):
        return post_briefing(api, target, report, pmo)


def new_args(title: str = "Overlapping opening") -> list[str]:
    return [
        "new", "--project", "acme/collab", "--level", "sev1", "--type", "customer",
        "--category", "install-issue", "--severity", "high", "--title", title,
        "--customer", "Acme Logistics", "--dri", "pat",
    ]  # fmt: skip


# --------------------------------------------------------------------------------------------
# Counting.


def issues(world: World) -> list[Any]:
    return world.gl.projects.get(world.project.id).issues.list(state="all", get_all=True)


def bot_notes(world: World, iid: int) -> list[Any]:
    return world.notes(iid, "escbot")


def duplicates(world: World) -> Counter[str]:
    """Notes and issues escbot made twice, by kind, in the end state."""
    found: Counter[str] = Counter()
    everything = issues(world)
    made = Counter(
        (i.title, tuple(m.render() for m in find_markers(i.description)))
        for i in everything
        if find_markers(i.description)
    )
    found["issues"] = sum(n - 1 for n in made.values())
    for issue in everything:
        seen = Counter(
            tuple(m.render() for m in find_markers(n.body))
            for n in bot_notes(world, issue.iid)
            if find_markers(n.body)
        )
        found["notes"] += sum(n - 1 for n in seen.values())
    return found


def deleted_notes(world: World) -> int:
    return sum(
        n
        for route, n in world.sb.stats()["by_route"].items()
        if re.match(r"DELETE .*/notes/", route)
    )


def acks(world: World, iid: int) -> int:
    """Acknowledgements on the e-mailed issue now (a deleted one is in deleted_notes)."""
    now = [
        n
        for n in bot_notes(world, iid)
        if not getattr(n, "internal", False) and "escbot:ack" in n.body
    ]
    return len(now)


def end_state(world: World) -> list[tuple[Any, ...]]:
    """What a run leaves behind, independent of iids and wording: each issue by title and
    marker, its state, labels, assignees, the titles it is linked to, whether a Links line is
    still waiting, and the markers of escbot's notes on it."""
    from escbot.opening import pending_raid_line

    everything = issues(world)
    title = {i.iid: i.title for i in everything}
    out = []
    for i in everything:
        links = sorted(title.get(lk.iid, "?") for lk in i.links.list(get_all=True))
        notes = sorted(
            " ".join(m.render() for m in find_markers(n.body)) for n in bot_notes(world, i.iid)
        )
        out.append(
            (
                i.title,
                tuple(m.kind for m in find_markers(i.description)),
                i.state,
                tuple(sorted(i.labels)),
                tuple(sorted(a["username"] for a in i.assignees)),
                tuple(links),
                pending_raid_line(i.description or "") is not None,
                tuple(notes),
            )
        )
    return sorted(out)


def reference_check(world: World) -> tuple[list[tuple[Any, ...]], int]:
    """The scenario's end state after an uninterrupted check and the next ones, and the number
    of writes the first made (its crash points)."""
    build(world)
    gl, writes = crashing(world, 0)
    leased_check(world, START, gl=gl)
    later(world)
    return end_state(world), len(writes)


def later(world: World) -> None:
    """The next scheduled runs: some steps take two (an e-mailed escalation is classified by
    one run, then gets its RAID register from the next, as when nothing is cut short)."""
    for when in LATER:
        leased_check(world, when)


def open_new(world: World, gl: gitlab.Gitlab, title: str = "Opened and killed") -> Any:
    """`escbot new` in this process under the lease, as the PM."""
    from escbot.create import open_escalation
    from escbot.opening import EscalationRequest

    world.at(START)
    api = GitLab(gl)
    request = EscalationRequest(
        project="acme/collab", level="sev1", type="customer", category="install-issue",
        severity="high", title=title, customer="Acme Logistics", dri="pat",
        now=ny(START),
    )  # fmt: skip
    with Lease(api, ("project", api.project("acme/collab")), "new", wait=120):
        return open_escalation(api, policy(), request)


def reference_new(world: World) -> tuple[list[tuple[Any, ...]], list[str]]:
    """The end state of an uninterrupted `escbot new` and the next checks; the writes of new."""
    gl, writes = crashing(world, 0, "pat")
    open_new(world, gl)
    later(world)
    return end_state(world), writes


def lease_label(world: World) -> list[Any]:
    return [lb for lb in world.gl.groups.get("acme").labels.list(get_all=True) if lb.name == LABEL]


# --------------------------------------------------------------------------------------------
# Crashes: the process stops right after its Nth write reached GitLab.


class Crash(BaseException):
    """kill -9: nothing after it runs (not even the lease's release)."""


def crashing(world: World, after: int, who: str = "escbot") -> tuple[gitlab.Gitlab, list[str]]:
    """A client that dies right after its `after`th write (0: never); and its writes so far
    ("POST /api/v4/projects/2/issues", ...)."""
    gl = client(world, who)
    writes: list[str] = []

    def hook(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        method = response.request.method or ""
        if method in ("POST", "PUT", "DELETE") and "/api/v4/" in response.url:
            writes.append(f"{method} {urlsplit(response.url).path}")
            if len(writes) == after:
                _ = response.content  # read, so the connection closes cleanly
                raise Crash(f"killed after write {after}: {writes[-1]}")

    gl.session.hooks.setdefault("response", []).append(hook)
    return gl, writes


def run_crashed(
    fn: Callable[[gitlab.Gitlab], Any], world: World, after: int, who: str = "escbot"
) -> bool:
    """Run fn with a client killed after write `after`; True if it was killed."""
    gl, _writes = crashing(world, after, who)
    try:
        fn(gl)
    except Crash:
        return True
    finally:
        gl.session.close()
    return False


def expire_leftover_lease(world: World) -> None:
    """The next scheduled run comes after the killed run's lease expired: age it."""
    for label in lease_label(world):
        label.description = re.sub(
            r"expires=\S+", "expires=2000-01-01T00:00:00+00:00", label.description or ""
        )
        label.save()
