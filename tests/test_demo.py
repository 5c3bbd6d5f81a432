"""`escbot demo`: the same GitLab every run, a story of short steps, and `--serve` keeping
the sandbox's web view up until it is stopped."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from escbot.demo import run_demo, start_demo_sandbox
from tests import helpers

ISSUE_FIELDS = ("id", "iid", "title", "description", "labels", "state", "confidential",
                "due_date", "created_at", "updated_at", "closed_at", "web_url")  # fmt: skip
NOTE_FIELDS = ("id", "body", "system", "internal", "created_at")


def note_state(note: Any) -> dict[str, Any]:
    return {k: note.attributes.get(k) for k in NOTE_FIELDS} | {"author": note.author["username"]}


def demo_state(out: Path) -> tuple[str, list[str]]:
    """Run the demo on a fresh sandbox; (every project's issues and notes as JSON, the story's
    lines), with the sandbox's URL (its port) replaced by `URL`."""
    lines: list[str] = []
    with start_demo_sandbox() as sb:
        run_demo(sb, helpers.policy(), out, lines.append)
        gl = sb.gitlab()
        state: list[Any] = []
        for project in sorted(gl.projects.list(get_all=True), key=lambda p: p.id):
            for issue in project.issues.list(state="all", sort="asc", get_all=True):
                notes = issue.notes.list(sort="asc", order_by="created_at", get_all=True)
                state.append(
                    {k: issue.attributes.get(k) for k in ISSUE_FIELDS}
                    | {"notes": [note_state(n) for n in notes]}
                )
        text = json.dumps(state, indent=1, sort_keys=True)
        return text.replace(sb.url, "URL"), [line.replace(sb.url, "URL") for line in lines]


Run = tuple[str, list[str]]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Run, Run]:
    """Two runs of the demo, each on its own sandbox (another port), writing to one folder."""
    out = tmp_path_factory.mktemp("demo")
    return demo_state(out), demo_state(out)


def test_every_run_leaves_the_same_gitlab(runs: tuple[Run, Run]) -> None:
    (first, story), (second, again) = runs
    assert first == second  # issue numbers, titles, descriptions, notes, their times
    assert story == again
    assert '"iid": 5' in first and "Technician no-show at the Plano yard" in first


def test_the_story_is_short_steps_without_raw_descriptions(runs: tuple[Run, Run]) -> None:
    _, story = runs[0]
    steps = "\n".join(story).split("\n== ")[1:]
    assert len(steps) == 9 and all(len(step.splitlines()) <= 40 for step in steps)
    assert not any(line.startswith(("## ", "- [")) or "| " in line for line in story)
    # People's comments appear, abbreviated, with their time; escbot's notes link to anchors.
    assert (
        "  09:30  pat     comments on acme-logistics#1: “Crew on site 08:00. #milestone-progress "
        "#blockers”" in story
    )
    anchors = [line.strip() for line in story if "#note_" in line]
    assert anchors and all(a.startswith("URL/demo-customers/") for a in anchors)
    # At most one comment per escalation per run, and who it mentions.
    for step in steps:
        for run in step.split("`escbot check --apply` over ")[1:]:
            posted = [line.split(":")[0].strip() for line in run.split("\n  ")[0].splitlines()
                      if ": one " in line]  # fmt: skip
            assert len(posted) == len(set(posted))
    assert any("one internal note, mentions @pat, @fixed.qa:" in line for line in story)


def test_serve_keeps_the_web_view_up_until_terminated(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "escbot", "demo", "--serve", "--out", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        reading: dict[str, str] = {}
        for line in proc.stdout:
            if line.startswith("sandbox: "):
                break
            what, _, url = line.strip().rpartition(" ")
            if what.strip().endswith(":") and url.startswith("http://127.0.0.1:"):
                reading[what.strip().rstrip(":")] = url
        assert line.startswith("sandbox: http://127.0.0.1:"), line
        assert set(reading) >= {
            "the top page (projects, groups, people)",
            "the Sev1 escalation, closed out",
            "the Sev2 escalation, its ladder",
            "every escalation",
            "the PMO briefing",
        }
        with urllib.request.urlopen(reading["the PMO briefing"], timeout=10) as resp:
            page = resp.read().decode()
        assert resp.status == 200 and "text/html" in resp.headers["Content-Type"]
        assert "demo-pmo/briefings" in page or "PMO briefings" in page
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
