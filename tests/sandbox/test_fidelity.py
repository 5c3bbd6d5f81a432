"""Issue 17's fidelity gaps: filters honoured, ISO dates, lifecycle writes, threads,
milestone issues, multipart bodies, project URLs and simple lists."""

from __future__ import annotations

from typing import Any

import gitlab
import pytest
import requests

from escbot.sandbox import Sandbox


def test_skip_groups_and_member_user_ids(gl: gitlab.Gitlab, sandbox: Sandbox) -> None:
    a, b, c = (gl.groups.create({"name": n, "path": n}) for n in ("ga", "gb", "gc"))
    assert {g.id for g in gl.groups.list(skip_groups=[a.id, b.id])} == {c.id}
    user, _ = sandbox.create_user("u1")
    a.members.create({"user_id": user["id"], "access_level": 30})
    assert [m.id for m in a.members.list(user_ids=[user["id"], 99999])] == [user["id"]]
    assert [m.username for m in a.members.list(skip_users=[user["id"]])] == ["root"]
    with pytest.raises(gitlab.GitlabListError) as exc:
        gl.groups.list(statistics=True)
    assert exc.value.response_code == 400
    assert exc.value.error_message == "statistics is not supported by the escbot sandbox"


def test_group_lists_for_a_member(gl: gitlab.Gitlab, sandbox: Sandbox) -> None:
    mine = gl.groups.create({"name": "mine", "path": "mine"})
    gl.groups.create({"name": "other", "path": "other"})
    user, token = sandbox.create_user("m")
    mine.members.create({"user_id": user["id"], "access_level": 20})
    client = sandbox.gitlab(token)
    assert [g.path for g in client.groups.list()] == ["mine"]
    assert [g.path for g in gl.groups.list(min_access_level=50)] == ["mine", "other"]
    assert client.groups.list(owned=True) == []
    assert [g.path for g in gl.groups.list(search="oth")] == ["other"]


def test_iso_datetimes_are_dates(project: Any) -> None:
    issue = project.issues.create({"title": "t", "due_date": "2030-01-01T00:00:00Z"})
    assert issue.due_date == "2030-01-01"
    ms = project.milestones.create({"title": "m", "due_date": "2030-02-01T10:00:00Z"})
    assert ms.due_date == "2030-02-01"


def test_group_milestones_and_milestone_issues(gl: gitlab.Gitlab, group: Any, project: Any) -> None:
    ms = group.milestones.create({"title": "gm"})
    ms.due_date = "2020-01-01T00:00:00Z"
    ms.state_event = "close"
    ms.save()
    ms = group.milestones.get(ms.id)
    assert ms.state == "closed" and ms.due_date == "2020-01-01" and ms.group_id == group.id
    assert not ms.issues() and not ms.merge_requests()
    pm = project.milestones.create({"title": "pm"})
    project.issues.create({"title": "in it", "milestone_id": pm.id})
    assert [i.title for i in pm.issues()] == ["in it"]
    assert [m.title for m in project.milestones.list(include_ancestors=True)] == ["gm", "pm"]


def test_discussions_threads_and_replies(project: Any) -> None:
    issue = project.issues.create({"title": "t"})
    thread = issue.discussions.create({"body": "Discussion body"})
    assert thread.individual_note is False and thread in issue.discussions.list()
    note = thread.notes.create({"body": "first note"})
    got = thread.notes.get(note.id)
    got.body = "updated body"
    got.save()
    assert issue.discussions.get(thread.id).attributes["notes"][-1]["body"] == "updated body"
    got.delete()
    assert len(issue.discussions.get(thread.id).attributes["notes"]) == 1
    # Replying to a plain comment turns it into a thread.
    plain = issue.notes.create({"body": "plain"})
    first = next(d for d in issue.discussions.list() if d.individual_note)
    first.notes.create({"body": "reply"})
    replied = issue.discussions.get(first.id)
    assert replied.individual_note is False
    assert [n["body"] for n in replied.attributes["notes"]] == ["plain", "reply"]
    assert issue.notes.get(plain.id).type == "DiscussionNote"


def test_lifecycle_writes(gl: gitlab.Gitlab, sandbox: Sandbox, group: Any, project: Any) -> None:
    user, _ = sandbox.create_user("temp")
    project.members.create({"user_id": user["id"], "access_level": 20})
    member = project.members.get(user["id"])
    member.access_level = 40
    member.save()
    assert project.members.get(user["id"]).access_level == 40
    assert [
        (m.source_type, m.access_level) for m in gl.users.get(user["id"]).memberships.list()
    ] == [("Project", 40)]
    with pytest.raises(gitlab.GitlabListError) as exc:
        gl.users.get(user["id"]).memberships.list(type="Invalid")
    assert "type does not have a valid value" in str(exc.value)
    project.members.delete(user["id"])
    assert [m.username for m in project.members.list()] == ["root"]
    project.issues.create({"title": "by temp?"})
    gl.users.delete(user["id"])
    with pytest.raises(gitlab.GitlabGetError):
        gl.users.get(user["id"])
    project.description = "new"
    project.save()
    assert gl.projects.get(project.id).description == "new"
    group.description = "g"
    group.save()
    assert gl.groups.get(group.id).description == "g"
    out = requests.delete(
        f"{sandbox.url}/api/v4/projects/{project.id}", headers={"PRIVATE-TOKEN": sandbox.token}
    )
    assert (out.status_code, out.json()) == (202, {"message": "202 Accepted"})
    with pytest.raises(gitlab.GitlabGetError):
        gl.projects.get(project.id)
    out = requests.delete(
        f"{sandbox.url}/api/v4/groups/{group.id}", headers={"PRIVATE-TOKEN": sandbox.token}
    )
    assert out.status_code == 202
    assert gl.groups.list() == []


def test_multipart_bodies_are_accepted(sandbox: Sandbox, project: Any) -> None:
    out = requests.post(
        f"{sandbox.url}/api/v4/projects/{project.id}/issues",
        headers={"PRIVATE-TOKEN": sandbox.token},
        files={"title": (None, "from a form"), "labels": (None, "a,b")},
    )
    assert out.status_code == 201
    assert out.json()["title"] == "from a form" and out.json()["labels"] == ["a", "b"]


def test_project_urls_and_simple_lists(gl: gitlab.Gitlab, sandbox: Sandbox, project: Any) -> None:
    assert project.ssh_url_to_repo == "git@127.0.0.1:support/esc.git"
    simple = gl.projects.list(simple=True)[0].attributes
    assert "visibility" not in simple and "_links" not in simple
    assert {"id", "name", "path_with_namespace", "ssh_url_to_repo", "namespace"} <= set(simple)
    assert gl.projects.list(archived=True) == [] and gl.projects.list(starred=True) == []
    assert [p.id for p in gl.projects.list(search="support", search_namespaces=True)] == [
        project.id
    ]


def test_my_events(gl: gitlab.Gitlab, project: Any) -> None:
    project.issues.create({"title": "t"})
    actions = [e.action_name for e in gl.events.list()]
    assert "opened" in actions and "created" in actions


def test_group_sharing_grants_access(gl: gitlab.Gitlab, sandbox: Sandbox) -> None:
    host = gl.groups.create({"name": "host", "path": "host"})
    guests = gl.groups.create({"name": "guests", "path": "guests"})
    p = gl.projects.create({"name": "shared", "namespace_id": host.id})
    user, token = sandbox.create_user("invited")
    guests.members.create({"user_id": user["id"], "access_level": 40})
    with pytest.raises(gitlab.GitlabGetError):
        sandbox.gitlab(token).projects.get(p.id)
    host.share(guests.id, 20)  # capped at Reporter
    assert gl.groups.get(host.id).shared_with_groups[0]["group_access_level"] == 20
    assert sandbox.gitlab(token).projects.get(p.id).name == "shared"
    with pytest.raises(gitlab.GitlabCreateError):
        sandbox.gitlab(token).projects.get(p.id, lazy=True).members.create(
            {"user_id": user["id"], "access_level": 10}
        )
    host.unshare(guests.id)
    with pytest.raises(gitlab.GitlabGetError):
        sandbox.gitlab(token).projects.get(p.id)


def test_block_ban_star_subscribe(gl: gitlab.Gitlab, sandbox: Sandbox, project: Any) -> None:
    user, token = sandbox.create_user("b")
    u = gl.users.get(user["id"])
    assert u.block() is True and u.block() is None
    assert [x.username for x in gl.users.list(blocked=True)] == ["b"]
    with pytest.raises(gitlab.GitlabAuthenticationError):
        sandbox.gitlab(token).auth()
    assert u.unblock() is True and u.unblock() is False
    project.star()
    assert project.star_count == 1 and [p.id for p in gl.projects.list(starred=True)] == [
        project.id
    ]
    label = project.labels.create({"name": "l", "color": "#aabbcc"})
    label.subscribe()
    assert project.labels.get("l").subscribed is True


def test_project_settings_are_echoed_and_topics_filter(gl: gitlab.Gitlab, group: Any) -> None:
    p = gl.projects.create(
        {"name": "t", "namespace_id": group.id, "remove_source_branch_after_merge": False,
         "topics": ["escalations", "acme"]}
    )  # fmt: skip
    assert p.remove_source_branch_after_merge is False and p.topics == ["escalations", "acme"]
    p.merge_method = "ff"
    p.save()
    assert gl.projects.get(p.id).merge_method == "ff"
    assert [x.id for x in gl.projects.list(topic="acme,escalations")] == [p.id]
    assert gl.projects.list(topic="other") == []
    group.project_creation_level = "maintainer"
    group.save()
    assert gl.groups.get(group.id).project_creation_level == "maintainer"
