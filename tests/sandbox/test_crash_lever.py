"""The crash lever: `drop_after_writes` performs the Nth write under /api/v4 and then
closes the connection without answering, as when a response is lost after the write."""

from __future__ import annotations

from typing import Any

import gitlab
import pytest
import requests

from escbot.sandbox import Sandbox, SandboxError


def test_nth_write_is_kept_and_its_answer_lost(sandbox: Sandbox, project: Any) -> None:
    gl = sandbox.gitlab(retry_transient_errors=False)
    issues = gl.projects.get(project.id, lazy=True).issues
    assert sandbox.set_faults(drop_after_writes=2)["drop_after_writes"] == [2]
    issue = issues.create({"title": "first write"})
    issues.list()  # reads are not writes
    with pytest.raises(requests.ConnectionError):
        issue.notes.create({"body": "second write"})
    # The note was saved all the same; later writes are answered again.
    assert [n.body for n in issue.notes.list() if not n.system] == ["second write"]
    issue.notes.create({"body": "third write"})
    faults = sandbox.request("GET", "/__sandbox__/faults")
    assert (faults["drop_after_writes"], faults["writes"]) == ([2], 3)


def test_several_ordinals_and_every_kind_of_write(sandbox: Sandbox, project: Any) -> None:
    gl = sandbox.gitlab(retry_transient_errors=False)
    issues = gl.projects.get(project.id, lazy=True).issues
    issue = issues.create({"title": "t"})
    sandbox.set_faults(drop_after_writes=[1, 3, 4])
    with pytest.raises(requests.ConnectionError):  # 1: PUT
        issues.update(issue.iid, {"title": "renamed"})
    note = issue.notes.create({"body": "kept"})  # 2
    with pytest.raises(requests.ConnectionError):  # 3: DELETE
        note.delete()
    with pytest.raises(requests.ConnectionError):  # 4: a write GitLab refuses is lost too
        issues.update(999, {"title": "no such issue"})
    issue = issues.get(issue.iid)
    assert issue.title == "renamed"
    assert [n.body for n in issue.notes.list() if not n.system] == []
    issue.save()  # 5: answered


def test_lever_validation_and_reset(sandbox: Sandbox) -> None:
    for bad in (0, -1, "x", [1, "two"], 1.5, True):
        with pytest.raises(SandboxError) as exc:
            sandbox.set_faults(drop_after_writes=bad)
        assert exc.value.status == 400
    # Form values arrive as strings; null or [] turns the lever off.
    r = requests.put(
        f"{sandbox.url}/__sandbox__/faults",
        headers={"PRIVATE-TOKEN": sandbox.token},
        data={"drop_after_writes[]": ["3", "2"]},
    )
    assert r.json()["drop_after_writes"] == [2, 3]
    assert sandbox.set_faults(drop_after_writes=None)["drop_after_writes"] == []
    sandbox.set_faults(drop_after_writes=1)
    sandbox.reset()
    assert sandbox.request("GET", "/__sandbox__/faults")["drop_after_writes"] == []


def test_levers_themselves_are_never_dropped(sandbox: Sandbox, gl: gitlab.Gitlab) -> None:
    sandbox.set_faults(drop_after_writes=1)
    sandbox.set_now("2027-01-01T00:00:00Z")  # a lever write: not counted
    with pytest.raises(requests.ConnectionError):
        gl.groups.create({"name": "G", "path": "g"})
    assert [g.path for g in gl.groups.list()] == ["g"]
