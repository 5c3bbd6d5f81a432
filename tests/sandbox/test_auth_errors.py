"""Authentication, scopes, sudo, job tokens and the error forms python-gitlab sees."""

from __future__ import annotations

from typing import Any

import gitlab
import pytest
import requests

from escbot.sandbox import Sandbox


def test_version_and_current_user(gl: gitlab.Gitlab, sandbox: Sandbox) -> None:
    assert gl.version() == ("18.10.0-ee", gl.version()[1])
    gl.auth()
    assert gl.user.username == "root" and gl.user.is_admin is True
    assert gl.user.web_url == f"{sandbox.url}/root"


def test_missing_and_unknown_token(sandbox: Sandbox) -> None:
    r = requests.get(f"{sandbox.url}/api/v4/projects")
    assert r.status_code == 401 and r.json() == {"message": "401 Unauthorized"}
    with pytest.raises(gitlab.GitlabAuthenticationError):
        sandbox.gitlab("glpat-nope").auth()
    # Token as a query parameter and as an OAuth bearer both work.
    ok = requests.get(f"{sandbox.url}/api/v4/user", params={"private_token": sandbox.token})
    assert ok.status_code == 200
    bearer = requests.get(
        f"{sandbox.url}/api/v4/user", headers={"Authorization": f"Bearer {sandbox.token}"}
    )
    assert bearer.json()["username"] == "root"


def test_users_and_tokens(gl: gitlab.Gitlab, sandbox: Sandbox) -> None:
    user, token = sandbox.create_user("alice", "Alice A", bot=True)
    assert user["username"] == "alice" and user["bot"] is True and user["state"] == "active"
    assert gl.users.list(username="alice")[0].id == user["id"]
    alice = sandbox.gitlab(token)
    alice.auth()
    assert alice.user.username == "alice" and "is_admin" not in alice.user.attributes
    assert alice.user.email == "alice@example.com"
    with pytest.raises(gitlab.GitlabCreateError) as exc:
        alice.users.create({"username": "x", "name": "x", "email": "x@x.io", "password": "pw"})
    assert exc.value.response_code == 403
    with pytest.raises(gitlab.GitlabCreateError) as exc:
        gl.users.create({"username": "alice", "name": "a", "email": "new@x.io", "password": "p"})
    assert exc.value.response_code == 409
    pat = gl.users.get(user["id"]).personal_access_tokens.create(
        {"name": "ro", "scopes": ["read_api"]}
    )
    assert pat.scopes == ["read_api"] and pat.active is True and pat.token.startswith("glpat-")
    ro = sandbox.gitlab(pat.token)
    assert ro.users.list(username="alice")
    with pytest.raises(gitlab.GitlabCreateError) as exc:
        ro.groups.create({"name": "g", "path": "g"})
    assert exc.value.response_code == 403
    r = requests.post(
        f"{sandbox.url}/api/v4/groups",
        headers={"PRIVATE-TOKEN": pat.token},
        json={"name": "g", "path": "g"},
    )
    assert r.json() == {
        "error": "insufficient_scope",
        "error_description": "The request requires higher privileges than provided by the "
        "access token.",
        "scope": "api",
    }


def test_sudo(gl: gitlab.Gitlab, sandbox: Sandbox, project: Any) -> None:
    alice, token = sandbox.create_user("alice")
    project.members.create({"user_id": alice["id"], "access_level": 30})
    issue = project.issues.create({"title": "as alice"}, sudo="alice")
    assert issue.author["username"] == "alice"
    r = requests.get(
        f"{sandbox.url}/api/v4/user", headers={"PRIVATE-TOKEN": sandbox.token, "Sudo": "alice"}
    )
    assert r.json()["username"] == "alice"
    with pytest.raises(gitlab.GitlabGetError) as exc:
        gl.projects.get(project.id, sudo="nobody")
    assert exc.value.response_code == 404
    assert exc.value.error_message == "404 User with ID or username 'nobody' Not Found"
    with pytest.raises(gitlab.GitlabGetError) as exc:
        sandbox.gitlab(token).projects.get(project.id, sudo="root")
    assert exc.value.response_code == 403
    assert exc.value.error_message == "403 Forbidden - Must be admin to use sudo"


def test_job_token(gl: gitlab.Gitlab, sandbox: Sandbox, project: Any) -> None:
    issue = project.issues.create({"title": "t"})
    issue.notes.create({"body": "hi"})
    job = sandbox.job_token("root")
    jgl = gitlab.Gitlab(sandbox.url, job_token=job)
    assert [i.title for i in jgl.projects.get(project.id, lazy=True).issues.list()] == ["t"]
    assert jgl.projects.get(project.id, lazy=True).issues.get(issue.iid).title == "t"
    with pytest.raises(gitlab.GitlabAuthenticationError):
        jgl.projects.get(project.id, lazy=True).issues.get(issue.iid, lazy=True).notes.list()
    with pytest.raises(gitlab.GitlabAuthenticationError):
        jgl.projects.get(project.id)
    with pytest.raises(gitlab.GitlabAuthenticationError):
        jgl.projects.get(project.id, lazy=True).issues.create({"title": "nope"})
    r = requests.get(
        f"{sandbox.url}/api/v4/projects/{project.id}/issues", params={"job_token": job}
    )
    assert r.status_code == 200


def test_error_forms(gl: gitlab.Gitlab, sandbox: Sandbox, project: Any) -> None:
    h = {"PRIVATE-TOKEN": sandbox.token}
    api = f"{sandbox.url}/api/v4"
    r = requests.get(f"{api}/nope/nothing", headers=h)
    assert r.status_code == 404 and r.json() == {"error": "404 Not Found"}
    r = requests.get(f"{api}/projects/999", headers=h)
    assert r.json() == {"message": "404 Project Not Found"}
    r = requests.get(f"{api}/groups/nope", headers=h)
    assert r.json() == {"message": "404 Group Not Found"}
    r = requests.get(f"{api}/projects/{project.id}/labels/nope", headers=h)
    assert r.json() == {"message": "404 Label Not Found"}
    r = requests.get(f"{api}/projects/{project.id}/issues/5", headers=h)
    assert r.json() == {"message": "404 Not found"}
    r = requests.get(f"{api}/projects/{project.id}/issues/5/notes", headers=h)
    assert r.json() == {"message": "404 Issue Not Found"}
    r = requests.post(
        f"{api}/projects/{project.id}/issues",
        headers={**h, "Content-Type": "application/json"},
        data=b'{"title": ',
    )
    assert r.status_code == 400 and "error" in r.json()
    assert gl.projects.get(project.id).issues.list() == []
    # Form-encoded bodies and query params on POST work as in Grape.
    r = requests.post(f"{api}/projects/{project.id}/issues", headers=h, data={"title": "form"})
    assert r.status_code == 201 and r.json()["title"] == "form"
    r = requests.post(f"{api}/projects/{project.id}/issues?title=query", headers=h)
    assert r.status_code == 201 and r.json()["title"] == "query"
    assert r.headers["Content-Type"].startswith("application/json")
    # Project by URL-encoded path.
    assert gl.projects.get("support/esc").id == project.id
    r = requests.get(f"{api}/projects/support%2Fesc", headers=h)
    assert r.json()["path_with_namespace"] == "support/esc"


def test_internal_error_is_500_json(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    from escbot.sandbox import api_users

    def boom(ctx: Any) -> Any:
        raise RuntimeError("kaboom")

    route = next(r for r in __import__("escbot.sandbox.core").sandbox.core.ROUTES
                 if r.handler is api_users.get_version)  # fmt: skip
    monkeypatch.setattr(route, "handler", boom)
    monkeypatch.setattr(sandbox.app, "log", open("/dev/null", "w"))  # noqa: SIM115
    r = requests.get(f"{sandbox.url}/api/v4/version", headers={"PRIVATE-TOKEN": sandbox.token})
    assert r.status_code == 500 and r.json() == {"message": "500 Internal Server Error"}
    assert "kaboom" not in r.text


def test_expired_token(gl: gitlab.Gitlab, sandbox: Sandbox) -> None:
    user, _ = sandbox.create_user("temp")
    pat = gl.users.get(user["id"]).personal_access_tokens.create(
        {"name": "short", "scopes": ["api"], "expires_at": "2026-11-25"}
    )
    assert pat.expires_at == "2026-11-25"
    assert sandbox.gitlab(pat.token).users.list(username="temp")
    sandbox.advance("P2D")
    r = requests.get(f"{sandbox.url}/api/v4/user", headers={"PRIVATE-TOKEN": pat.token})
    assert r.status_code == 401 and r.json()["error"] == "invalid_token"


def test_unencoded_plus_in_timestamps(sandbox: Sandbox, project: Any) -> None:
    project.issues.create({"title": "t"})
    r = requests.get(
        f"{sandbox.url}/api/v4/projects/{project.id}/issues"
        "?updated_after=2026-11-23T13:00:00+00:00",
        headers={"PRIVATE-TOKEN": sandbox.token},
    )
    assert r.status_code == 200 and len(r.json()) == 1


def test_project_access_token(gl: gitlab.Gitlab, sandbox: Sandbox, project: Any) -> None:
    pat = project.access_tokens.create({"name": "escbot", "scopes": ["api"]})
    assert pat.access_level == 40 and pat.active is True and pat.token
    bot_gl = sandbox.gitlab(pat.token)
    bot_gl.auth()
    assert bot_gl.user.username.startswith(f"project_{project.id}_bot_")
    assert bot_gl.user.name == "escbot" and bot_gl.user.bot is True
    issue = bot_gl.projects.get(project.id).issues.create({"title": "by bot"})
    assert issue.author["name"] == "escbot"
    assert [t.name for t in project.access_tokens.list()] == ["escbot"]
    project.access_tokens.delete(pat.id)
    r = requests.get(f"{sandbox.url}/api/v4/user", headers={"PRIVATE-TOKEN": pat.token})
    assert r.status_code == 401


def test_head_mirrors_get(sandbox: Sandbox, project: Any) -> None:
    r = requests.head(
        f"{sandbox.url}/api/v4/projects/{project.id}/issues",
        headers={"PRIVATE-TOKEN": sandbox.token},
    )
    assert r.status_code == 200 and r.headers["X-Total"] == "0" and r.content == b""
