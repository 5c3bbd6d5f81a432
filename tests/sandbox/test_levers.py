"""Test levers: clock, stats, faults (with python-gitlab's retries), settings and rate
limits, seed, service desk, reset."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import gitlab
import pytest
import requests

from escbot.sandbox import Sandbox, SandboxError


def lever(sandbox: Sandbox, method: str, path: str, token: str | None = None,
          **kw: Any) -> requests.Response:  # fmt: skip
    return requests.request(
        method, f"{sandbox.url}/__sandbox__{path}",
        headers={"PRIVATE-TOKEN": token or sandbox.token}, **kw,
    )  # fmt: skip


def test_clock(gl: gitlab.Gitlab, sandbox: Sandbox, project: Any) -> None:
    assert lever(sandbox, "GET", "/clock").json()["now"] == "2026-11-23T14:00:00.000Z"
    r = lever(sandbox, "PUT", "/clock", json={"advance": "P1DT2H30M"})
    assert r.json()["now"] == "2026-11-24T16:30:00.000Z"
    issue = project.issues.create({"title": "t"})
    assert issue.created_at == "2026-11-24T16:30:00.000Z"
    sandbox.set_now(datetime(2027, 1, 1, tzinfo=UTC))
    assert sandbox.now() == datetime(2027, 1, 1, tzinfo=UTC)
    # GitLab's Date header is its server's time: the sandbox's is its clock.
    assert lever(sandbox, "GET", "/clock").headers["Date"] == "Fri, 01 Jan 2027 00:00:00 GMT"
    issue.notes.create({"body": "later"})
    assert project.issues.get(issue.iid).updated_at == "2027-01-01T00:00:00.000Z"
    assert lever(sandbox, "PUT", "/clock", json={"advance": "soon"}).status_code == 400
    # Running: set, then on at real speed (a bench's run takes time, as a real one does).
    r = lever(sandbox, "PUT", "/clock", json={"now": "2027-02-01T00:00:00Z", "running": True})
    assert r.json()["now"] == "2027-02-01T00:00:00.000Z"
    time.sleep(0.02)
    ticking = lever(sandbox, "GET", "/clock").json()
    assert not ticking["frozen"] and ticking["now"] > "2027-02-01T00:00:00.010Z"
    assert ticking["now"] < "2027-02-01T00:01:00.000Z"
    moved = lever(sandbox, "PUT", "/clock", json={"advance": "P1D"}).json()["now"]
    assert "2027-02-02T00:00:00.010Z" < moved < "2027-02-02T00:01:00.000Z"
    real = lever(sandbox, "PUT", "/clock", json={"real": True}).json()
    assert real["now"].startswith(str(datetime.now(UTC).year))
    # Levers need the admin token and live outside /api/v4.
    _, token = sandbox.create_user("mallory")
    assert lever(sandbox, "GET", "/clock", token=token).status_code == 403
    assert lever(sandbox, "GET", "/clock", token="nope").status_code == 401
    missing = lever(sandbox, "GET", "/nothing")
    assert missing.status_code == 404 and missing.json() == {"error": "404 Not Found"}


def test_stats(gl: gitlab.Gitlab, sandbox: Sandbox, project: Any) -> None:
    sandbox.reset_stats()
    project.issues.list()
    project.issues.list()
    project.issues.create({"title": "t"})
    assert lever(sandbox, "GET", "/clock").status_code == 200  # levers are not counted
    stats = sandbox.stats()
    assert stats["total"] == 3
    assert stats["by_method"] == {"GET": 2, "POST": 1}
    assert stats["by_route"] == {"GET /projects/:id/issues": 2, "POST /projects/:id/issues": 1}
    sandbox.reset_stats()
    assert sandbox.stats() == {"total": 0, "by_method": {}, "by_route": {}}


def test_faults_validation(sandbox: Sandbox) -> None:
    assert lever(sandbox, "PUT", "/faults", json={"rate_5xx": 1.5}).status_code == 400
    assert lever(sandbox, "PUT", "/faults", json={"rate_429": "lots"}).status_code == 400
    assert lever(sandbox, "PUT", "/faults", json={"bogus": 1}).status_code == 400
    got = sandbox.set_faults(latency_ms=5, seed=3)
    assert got["latency_ms"] == 5 and got["rate_5xx"] == 0
    assert lever(sandbox, "GET", "/faults").json()["seed"] == 3


def test_429_fault_retried_by_python_gitlab(gl: gitlab.Gitlab, sandbox: Sandbox,
                                             project: Any) -> None:  # fmt: skip
    sandbox.set_faults(rate_429=0.5, retry_after=0, seed=7)
    r = requests.get(f"{sandbox.url}/api/v4/version", headers={"PRIVATE-TOKEN": sandbox.token})
    codes = {r.status_code}
    for _ in range(20):
        r = requests.get(f"{sandbox.url}/api/v4/version",
                         headers={"PRIVATE-TOKEN": sandbox.token})  # fmt: skip
        codes.add(r.status_code)
        if r.status_code == 429:
            assert r.text.strip() == "Retry later" and r.headers["Retry-After"] == "0"
    assert codes == {200, 429}
    sandbox.reset_stats()
    for n in range(10):
        project.issues.create({"title": f"t{n}"})  # python-gitlab retries the 429s
    sandbox.set_faults(rate_429=0)
    assert len(project.issues.list(get_all=True)) == 10  # faulted writes changed nothing
    assert sandbox.stats()["by_route"]["POST /projects/:id/issues"] > 10


def test_5xx_and_drop_faults(gl: gitlab.Gitlab, sandbox: Sandbox, project: Any) -> None:
    sandbox.set_faults(rate_5xx=1)
    with pytest.raises(gitlab.GitlabHttpError) as exc:
        gl.http_get("/version")
    assert exc.value.response_code in (502, 503)
    sandbox.set_faults(rate_5xx=0.5, seed=1)
    retrying = sandbox.gitlab(retry_transient_errors=True)
    for n in range(5):
        retrying.projects.get(project.id, lazy=True).issues.create({"title": f"t{n}"})
    sandbox.set_faults(rate_5xx=0, rate_drop=1)
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"{sandbox.url}/api/v4/version", headers={"PRIVATE-TOKEN": sandbox.token})
    sandbox.set_faults(rate_drop=0.5, seed=2)
    for _ in range(3):
        retrying.projects.get(project.id)
    sandbox.set_faults(rate_drop=0)
    assert len(project.issues.list(get_all=True)) == 5


def test_rate_limit(gl: gitlab.Gitlab, sandbox: Sandbox) -> None:
    h = {"PRIVATE-TOKEN": sandbox.token}
    r = requests.get(f"{sandbox.url}/api/v4/version", headers=h)
    assert r.headers["RateLimit-Name"] == "throttle_authenticated_api"
    assert {"RateLimit-Limit", "RateLimit-Observed", "RateLimit-Remaining",
            "RateLimit-Reset"} <= set(r.headers)  # fmt: skip
    assert sandbox.settings(rate_limit=3)["rate_limit"] == 3
    seen = [requests.get(f"{sandbox.url}/api/v4/version", headers=h) for _ in range(4)]
    assert [x.status_code for x in seen] == [200, 200, 200, 429]
    assert seen[2].headers["RateLimit-Remaining"] == "0"
    limited = seen[3]
    assert limited.text.strip() == "Retry later" and int(limited.headers["Retry-After"]) >= 1
    assert "RateLimit-ResetTime" in limited.headers
    with pytest.raises(gitlab.GitlabHttpError) as exc:
        gl.http_get("/version", obey_rate_limit=False)
    assert exc.value.response_code == 429
    sandbox.settings(rate_limit=None)
    assert requests.get(f"{sandbox.url}/api/v4/version", headers=h).status_code == 200


def test_free_setting_via_start(gl: gitlab.Gitlab) -> None:
    from escbot.sandbox import start_sandbox

    with start_sandbox(scoped_labels=False) as sb:
        g = sb.gitlab()
        p = g.projects.create({"name": "p"})
        issue = p.issues.create({"title": "t", "labels": "a::1"})
        assert p.issues.update(issue.iid, {"add_labels": "a::2"})["labels"] == ["a::1", "a::2"]


def test_seed(gl: gitlab.Gitlab, sandbox: Sandbox) -> None:
    out = sandbox.seed(group="demo", projects=3, issues=30, notes_per_issue=2, closed_ratio=0.5,
                       seed=4)  # fmt: skip
    assert out["projects"] == 3 and out["issues"] == 30 and out["notes"] == 60
    assert out["group"]["full_path"] == "demo"
    grp = gl.groups.get("demo")
    issues = grp.issues.list(get_all=True)
    assert len(issues) == 30
    assert {tuple(sorted(i.labels)) for i in issues} == {
        ("escalation", "escalation::sev1", "severity::high"),
        ("escalation", "escalation::sev2"),
        ("bug",),
    }
    assert all(i.user_notes_count == 2 for i in issues)
    assert all(i.created_at <= i.updated_at <= "2026-11-23T14:00:00.000Z" for i in issues)
    assert any(i.state == "closed" for i in issues) and any(i.state == "opened" for i in issues)
    assert all(i.task_completion_status["count"] >= 0 for i in issues)
    one = grp.issues.list(iids=[1], get_all=True)[0]
    project = gl.projects.get(one.project_id)
    assert len(project.issues.get(one.iid).notes.list()) == 2
    assert project.events.list(target_type="note")
    again = sandbox.seed(group="demo", projects=3, issues=3, notes_per_issue=0)
    assert again["issues"] == 3 and len(grp.issues.list(get_all=True)) == 33
    with pytest.raises(SandboxError) as exc:
        sandbox.seed(issues="many")
    assert exc.value.status == 400


def test_service_desk(gl: gitlab.Gitlab, sandbox: Sandbox, project: Any) -> None:
    out = sandbox.service_desk(project.id, "jane@customer.example", "Help!", "It broke.")
    assert out["author"]["username"] == "support-bot" and out["confidential"] is True
    assert out["title"] == "Help!" and out["description"] == "It broke."
    assert out["service_desk_reply_to"] == "jane@customer.example"
    bot = gl.users.list(username="support-bot")[0]
    assert gl.users.get(bot.id).bot is True
    again = sandbox.service_desk("support/esc", "bob@customer.example", "Again")
    assert again["author"]["id"] == bot.id and again["iid"] == out["iid"] + 1


def test_reset(gl: gitlab.Gitlab, sandbox: Sandbox, project: Any) -> None:
    sandbox.create_user("zed")
    project.issues.create({"title": "t"})
    sandbox.reset()
    assert gl.projects.list() == [] and gl.groups.list() == []
    assert [u.username for u in gl.users.list()] == ["root"]
    again = gl.projects.create({"name": "fresh"})
    assert again.path_with_namespace == "root/fresh"
