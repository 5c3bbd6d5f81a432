"""Issues through python-gitlab: fields, edits, filters, scoped labels, system notes."""

from __future__ import annotations

from typing import Any

import gitlab
import pytest

from escbot.sandbox import Sandbox

NOW = "2026-11-23T14:00:00.000Z"


def titles(issues: Any) -> list[str]:
    return sorted(i.title for i in issues)


def test_issue_json_fields(gl: gitlab.Gitlab, sandbox: Sandbox, project: Any) -> None:
    issue = project.issues.create(
        {
            "title": "Customer down",
            "description": "Steps\n- [ ] one\n* [x] two\n1. [X] three\n- [~] n/a\n"
            "```\n- [ ] code\n```",
            "labels": ["escalation", "bug"],
            "due_date": "2026-11-30",
        }
    )
    a = issue.attributes
    assert a["iid"] == 1 and a["project_id"] == project.id and a["state"] == "opened"
    assert a["created_at"] == a["updated_at"] == NOW
    assert a["labels"] == ["bug", "escalation"]  # sorted by title
    assert a["task_completion_status"] == {"count": 3, "completed_count": 2}
    assert a["has_tasks"] is True
    assert a["task_status"] == "2 of 3 checklist items completed"
    assert a["web_url"] == f"{sandbox.url}/support/esc/-/issues/1"
    assert a["references"] == {"short": "#1", "relative": "#1", "full": "support/esc#1"}
    assert a["author"]["username"] == "root" and set(a["author"]) >= {
        "id", "username", "name", "state", "locked", "avatar_url", "web_url",
    }  # fmt: skip
    assert a["closed_at"] is None and a["closed_by"] is None
    assert a["user_notes_count"] == 0 and a["type"] == "ISSUE" and a["issue_type"] == "issue"
    assert a["due_date"] == "2026-11-30" and a["confidential"] is False
    assert a["service_desk_reply_to"] is None and a["imported_from"] == "none"
    assert a["subscribed"] is True
    assert a["_links"]["self"].endswith(f"/api/v4/projects/{project.id}/issues/1")
    assert a["time_stats"]["time_estimate"] == 0
    # Creation writes the due-date note (CommonSystemNotesService, is_update: false) only.
    assert [(n.body, n.system) for n in issue.notes.list()] == [
        ("changed due date to November 30, 2026", True)
    ]
    assert project.issues.get(issue.iid).updated_at == NOW
    events = [(e.action, e.label["name"]) for e in issue.resourcelabelevents.list()]
    assert sorted(events) == [("add", "bug"), ("add", "escalation")]
    # Lists do not carry `subscribed`; no tasks -> no task_status.
    listed = project.issues.list()[0].attributes
    assert "subscribed" not in listed
    plain = project.issues.create({"title": "no tasks", "description": "text"})
    assert "task_status" not in plain.attributes and plain.has_tasks is False


def test_create_validation_and_admin_created_at(gl: gitlab.Gitlab, project: Any) -> None:
    with pytest.raises(gitlab.GitlabHttpError) as exc:  # python-gitlab checks this itself
        gl.http_post(f"/projects/{project.id}/issues", post_data={"description": "no title"})
    assert exc.value.response_code == 400 and exc.value.error_message == "title is missing"
    with pytest.raises(gitlab.GitlabCreateError) as exc:
        project.issues.create({"title": " "})
    assert exc.value.error_message == {"title": ["can't be blank"]}
    with pytest.raises(gitlab.GitlabCreateError) as exc:
        project.issues.create({"title": "x" * 256})
    assert exc.value.error_message == {"title": ["is too long (maximum is 255 characters)"]}
    with pytest.raises(gitlab.GitlabCreateError) as exc:
        project.issues.create({"title": "t", "due_date": "tomorrow"})
    assert exc.value.error_message == "due_date is invalid"
    old = project.issues.create({"title": "old", "created_at": "2026-01-02T03:04:05Z"})
    assert old.created_at == "2026-01-02T03:04:05.000Z"
    assert [i.title for i in project.issues.list(get_all=True)] == ["old"]


def test_update_and_system_notes(gl: gitlab.Gitlab, sandbox: Sandbox, project: Any) -> None:
    alice, _ = sandbox.create_user("alice")
    bob, _ = sandbox.create_user("bob")
    for u in (alice, bob):
        project.members.create({"user_id": u["id"], "access_level": 30})
    issue = project.issues.create({"title": "Old title", "description": "d"})
    sandbox.advance("PT1H")
    issue.assignee_ids = [alice["id"]]
    issue.due_date = "2026-11-24"
    issue.title = "New title"
    issue.description = "changed"
    issue.confidential = True
    issue.save()
    assert issue.updated_at == "2026-11-23T15:00:00.000Z"
    assert [a["username"] for a in issue.assignees] == ["alice"]
    issue.assignee_ids = [bob["id"]]
    issue.due_date = None
    issue.confidential = False
    issue.save()
    bodies = [n.body for n in issue.notes.list(get_all=True, sort="asc")]
    assert bodies == [
        "changed title from **{-Old-} title** to **{+New+} title**",
        "changed the description",
        "changed due date to November 24, 2026",
        "made the issue confidential",
        "assigned to @alice",
        "removed due date November 24, 2026",
        "made the issue visible to everyone",
        "assigned to @bob and unassigned @alice",
    ]
    notes = issue.notes.list(get_all=True)
    assert all(n.system for n in notes)
    assert gl.projects.get(project.id).issues.get(issue.iid).user_notes_count == 0


def test_no_param_update_is_400_and_changes_nothing(gl: gitlab.Gitlab, project: Any) -> None:
    issue = project.issues.create({"title": "t"})
    with pytest.raises(gitlab.GitlabUpdateError) as exc:
        project.issues.update(issue.iid, {"foo": "bar"})
    assert exc.value.response_code == 400
    assert "at least one parameter must be provided" in exc.value.error_message
    assert exc.value.error_message.startswith("assignee_id, assignee_ids, confidential")
    with pytest.raises(gitlab.GitlabUpdateError) as exc:
        project.issues.update(issue.iid, {"state_event": "explode", "title": "changed"})
    assert exc.value.error_message == "state_event does not have a valid value"
    # A failed request changed nothing, and nothing else was created.
    again = project.issues.get(issue.iid)
    assert again.title == "t" and again.updated_at == issue.updated_at


def test_failed_write_is_rolled_back(gl: gitlab.Gitlab, project: Any) -> None:
    issue = project.issues.create({"title": "t", "labels": ["a"]})
    with pytest.raises(gitlab.GitlabUpdateError):
        # New label auto-created, then the due date fails validation: nothing sticks.
        project.issues.update(issue.iid, {"add_labels": "brand-new", "due_date": "nope"})
    assert [lb.name for lb in project.labels.list()] == ["a"]
    assert project.issues.get(issue.iid).labels == ["a"]


def test_close_reopen_events(gl: gitlab.Gitlab, sandbox: Sandbox, project: Any) -> None:
    issue = project.issues.create({"title": "t"})
    sandbox.advance("P1D")
    issue.state_event = "close"
    issue.save()
    assert issue.state == "closed" and issue.closed_at == "2026-11-24T14:00:00.000Z"
    assert issue.attributes["closed_by"]["username"] == "root"
    sandbox.advance("PT1M")
    issue.state_event = "reopen"
    issue.save()
    assert issue.state == "opened" and issue.closed_at is None
    states = [(e.state, e.created_at) for e in issue.resourcestateevents.list()]
    assert states == [
        ("closed", "2026-11-24T14:00:00.000Z"),
        ("reopened", "2026-11-24T14:01:00.000Z"),
    ]
    assert issue.notes.list() == []  # state changes make no notes
    events = [(e.action_name, e.target_type, e.target_iid) for e in project.events.list(sort="asc")]
    assert ("opened", "Issue", 1) in events and ("closed", "Issue", 1) in events
    assert ("reopened", "Issue", 1) in events


def test_scoped_labels_exclusive(gl: gitlab.Gitlab, sandbox: Sandbox, project: Any) -> None:
    issue = project.issues.create({"title": "t", "labels": "escalation,escalation::sev2"})
    issue = issue.attributes
    issue = project.issues.update(issue["iid"], {"add_labels": "escalation::sev1"})
    assert issue["labels"] == ["escalation", "escalation::sev1"]
    # The last added wins: add_labels then labels order.
    issue = project.issues.update(issue["iid"], {"add_labels": ["severity::high", "severity::low"]})
    assert issue["labels"] == ["escalation", "escalation::sev1", "severity::low"]
    # Key is everything before the LAST '::'.
    issue = project.issues.update(issue["iid"], {"add_labels": "nested::key1::v1,nested::key2::v1"})
    issue = project.issues.update(issue["iid"], {"add_labels": "nested::key1::v2"})
    assert "nested::key1::v2" in issue["labels"] and "nested::key1::v1" not in issue["labels"]
    assert "nested::key2::v1" in issue["labels"]
    events = project.issues.get(issue["iid"]).resourcelabelevents.list(get_all=True)
    removed = [e.label["name"] for e in events if e.action == "remove"]
    assert removed == ["escalation::sev2", "nested::key1::v1"]  # severity::high never landed
    # remove_labels and labels="" clear.
    issue = project.issues.update(issue["iid"], {"remove_labels": "escalation"})
    assert "escalation" not in issue["labels"]
    issue = project.issues.update(issue["iid"], {"labels": ""})
    assert issue["labels"] == []
    # Auto-created labels are project labels with GitLab's default colour.
    lb = project.labels.get("escalation::sev1")
    assert lb.color == "#6699cc" and lb.is_project_label is True


def test_scoped_labels_free(gl: gitlab.Gitlab, sandbox: Sandbox, project: Any) -> None:
    assert sandbox.settings(scoped_labels=False)["scoped_labels"] is False
    issue = project.issues.create({"title": "t", "labels": "sev::1,sev::2"})
    issue = project.issues.update(issue.iid, {"add_labels": "sev::3"})
    assert issue["labels"] == ["sev::1", "sev::2", "sev::3"]


def test_filters(gl: gitlab.Gitlab, sandbox: Sandbox, project: Any) -> None:
    alice, _ = sandbox.create_user("alice")
    project.members.create({"user_id": alice["id"], "access_level": 30})
    a = project.issues.create(
        {"title": "alpha", "labels": "escalation,escalation::sev1",
         "assignee_ids": [alice["id"]], "due_date": "2026-11-23"}
    )  # fmt: skip
    sandbox.advance("P1D")
    b = project.issues.create({"title": "beta", "labels": "escalation", "description": "needle",
                               "due_date": "2026-11-20"})  # fmt: skip
    sandbox.advance("P1D")
    c = project.issues.create({"title": "gamma"})
    c.state_event = "close"
    c.save()
    pi = project.issues

    assert titles(pi.list(labels="escalation,escalation::sev1")) == ["alpha"]
    assert titles(pi.list(labels=["escalation"])) == ["alpha", "beta"]
    assert titles(pi.list(labels="None")) == ["gamma"]
    assert titles(pi.list(labels="No+Label")) == ["gamma"]
    assert titles(pi.list(labels="any")) == ["alpha", "beta"]
    assert titles(pi.list(**{"not": {"labels": "escalation::sev1"}})) == ["beta", "gamma"]
    assert titles(pi.list(state="opened")) == ["alpha", "beta"]
    assert titles(pi.list(state="closed")) == ["gamma"]
    assert titles(pi.list(iids=[a.iid, c.iid])) == ["alpha", "gamma"]
    assert titles(pi.list(query_parameters={"iids": f"{a.iid},{b.iid}"})) == ["alpha", "beta"]
    assert titles(pi.list(search="needle")) == ["beta"]
    assert titles(pi.list(search="needle", **{"in": "title"})) == []
    assert titles(pi.list(assignee_id=alice["id"])) == ["alpha"]
    assert titles(pi.list(assignee_id="None")) == ["beta", "gamma"]
    assert titles(pi.list(assignee_id="Any")) == ["alpha"]
    assert titles(pi.list(assignee_username="alice")) == ["alpha"]
    assert titles(pi.list(author_username="root")) == ["alpha", "beta", "gamma"]
    assert titles(pi.list(**{"not": {"assignee_id": alice["id"]}})) == ["beta", "gamma"]
    # Bounds are inclusive.
    assert titles(pi.list(created_after="2026-11-24T14:00:00Z")) == ["beta", "gamma"]
    assert titles(pi.list(created_before="2026-11-24T14:00:00Z")) == ["alpha", "beta"]
    assert titles(pi.list(updated_after="2026-11-25T14:00:00.000Z")) == ["gamma"]
    assert titles(pi.list(updated_before="2026-11-23T14:00:00Z")) == ["alpha"]
    with pytest.raises(gitlab.GitlabListError) as exc:
        pi.list(updated_after="yesterday-ish")
    assert exc.value.response_code == 400 and exc.value.error_message == "updated_after is invalid"
    # Due dates relative to the sandbox clock (now 2026-11-25, a Wednesday).
    assert titles(pi.list(due_date="0")) == ["gamma"]
    assert titles(pi.list(due_date="any")) == ["alpha", "beta"]
    assert titles(pi.list(due_date="overdue")) == ["alpha", "beta"]
    assert titles(pi.list(due_date="today")) == []
    assert titles(pi.list(due_date="week")) == ["alpha"]
    assert titles(pi.list(due_date="month")) == ["alpha", "beta"]
    assert titles(pi.list(due_date="next_month_and_previous_two_weeks")) == ["alpha", "beta"]
    assert len(pi.list(due_date="")) == 3
    # Ordering.
    assert [i.title for i in pi.list()] == ["gamma", "beta", "alpha"]
    assert [i.title for i in pi.list(sort="asc")] == ["alpha", "beta", "gamma"]
    assert [i.title for i in pi.list(order_by="due_date", sort="asc")] == ["beta", "alpha", "gamma"]
    assert [i.title for i in pi.list(order_by="title", sort="asc")] == ["alpha", "beta", "gamma"]
    with pytest.raises(gitlab.GitlabListError) as exc:
        pi.list(order_by="colour")
    assert exc.value.error_message == "order_by does not have a valid value"
    # Group issues include subgroup projects and use relative references.
    sub = gl.groups.create({"name": "Sub", "path": "sub", "parent_id": project.namespace["id"]})
    other = gl.projects.create({"name": "Other", "path": "other", "namespace_id": sub.id})
    other.issues.create({"title": "delta", "labels": "escalation"})
    grp = gl.groups.get("support")
    found = grp.issues.list(labels="escalation", get_all=True)
    assert titles(found) == ["alpha", "beta", "delta"]
    refs = {i.title: i.references["relative"] for i in found}
    assert refs["alpha"] == "esc#1" and refs["delta"] == "support/sub/other#1"


def test_delete_issue(gl: gitlab.Gitlab, sandbox: Sandbox, project: Any) -> None:
    issue = project.issues.create({"title": "t"})
    _, token = sandbox.create_user("dev")
    dev = sandbox.gitlab(token)
    project.members.create({"user_id": dev.users.list(username="dev")[0].id, "access_level": 30})
    with pytest.raises(gitlab.GitlabDeleteError) as exc:
        dev.projects.get(project.id).issues.delete(issue.iid)
    assert exc.value.response_code == 403
    project.issues.delete(issue.iid)
    with pytest.raises(gitlab.GitlabGetError) as exc:
        project.issues.get(issue.iid)
    assert exc.value.response_code == 404 and exc.value.error_message == "404 Not found"


def test_confidential_and_guest_visibility(
    gl: gitlab.Gitlab, sandbox: Sandbox, project: Any
) -> None:
    project.issues.create({"title": "secret", "confidential": True})
    project.issues.create({"title": "open"})
    guest, token = sandbox.create_user("guest")
    project.members.create({"user_id": guest["id"], "access_level": 10})
    g = sandbox.gitlab(token)
    assert titles(g.projects.get(project.id).issues.list()) == ["open"]
    _, token2 = sandbox.create_user("outsider")
    with pytest.raises(gitlab.GitlabGetError) as exc:
        sandbox.gitlab(token2).projects.get(project.id)
    assert exc.value.error_message == "404 Project Not Found"


def test_owner_may_set_updated_at(gl: gitlab.Gitlab, sandbox: Sandbox, project: Any) -> None:
    issue = project.issues.create({"title": "t"})
    out = project.issues.update(issue.iid, {"updated_at": "2026-10-01T08:00:00Z"})
    assert out["updated_at"] == "2026-10-01T08:00:00.000Z"
    out = project.issues.update(issue.iid, {"title": "t2", "updated_at": "2026-10-02T08:00:00Z"})
    assert out["updated_at"] == "2026-10-02T08:00:00.000Z" and out["title"] == "t2"
    dev, token = sandbox.create_user("dev")
    project.members.create({"user_id": dev["id"], "access_level": 30})
    devp = sandbox.gitlab(token).projects.get(project.id, lazy=True)
    out = devp.issues.update(issue.iid, {"title": "t3", "updated_at": "2020-01-01T00:00:00Z"})
    assert out["updated_at"] == NOW  # ignored below Owner


def test_concurrent_writers_get_unique_iids(sandbox: Sandbox, project: Any) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def work(n: int) -> list[int]:
        client = sandbox.gitlab()
        p = client.projects.get(project.id, lazy=True)
        return [p.issues.create({"title": f"w{n}-{k}"}).iid for k in range(10)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        iids = [i for chunk in pool.map(work, range(8)) for i in chunk]
    assert sorted(iids) == list(range(1, 81))


def test_checklist_toggles_make_task_notes(gl: gitlab.Gitlab, project: Any) -> None:
    issue = project.issues.create({"title": "t", "description": "- [ ] Call customer\n- [ ] Fix"})
    issue.description = "- [x] Call customer\n- [ ] Fix"
    issue.save()
    assert issue.task_completion_status == {"count": 2, "completed_count": 1}
    issue.description = "- [ ] Call customer\n- [ ] Fix\n\nMore words."
    issue.save()
    issue.description = "Rewritten entirely."
    issue.save()
    assert [n.body for n in issue.notes.list(sort="asc")] == [
        "marked the checklist item **Call customer** as completed",
        "marked the checklist item **Call customer** as incomplete",
        "changed the description",
    ]
    assert "task_status" not in project.issues.get(issue.iid).attributes
