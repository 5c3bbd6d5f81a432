"""Labels, issue links, notes, project events, milestones, groups and members."""

from __future__ import annotations

from typing import Any

import gitlab
import pytest
import requests

from escbot.sandbox import Sandbox


def test_project_and_group_labels(gl: gitlab.Gitlab, sandbox: Sandbox, group: Any,
                                  project: Any) -> None:  # fmt: skip
    glabel = group.labels.create({"name": "escalation", "color": "#FF0000"})
    assert glabel.name == "escalation" and "priority" not in glabel.attributes
    lb = project.labels.create(
        {"name": "escalation::sev1", "color": "red", "description": "Sev 1", "priority": 1}
    )
    assert lb.color == "#ff0000" and lb.is_project_label is True and lb.priority == 1
    assert lb.text_color == "#FFFFFF"
    names = [x.name for x in project.labels.list()]
    assert names == ["escalation", "escalation::sev1"]  # ancestors included, sorted
    assert [x.name for x in project.labels.list(include_ancestor_groups=False)] == [
        "escalation::sev1"
    ]
    with pytest.raises(gitlab.GitlabCreateError) as exc:
        project.labels.create({"name": "escalation", "color": "#000000"})
    assert exc.value.response_code == 409 and exc.value.error_message == "Label already exists"
    with pytest.raises(gitlab.GitlabCreateError) as exc:
        project.labels.create({"name": "a,b", "color": "#000000"})
    assert exc.value.response_code == 400 and exc.value.error_message == {"title": ["is invalid"]}
    # Get by id or (encoded) title; save() uses the deprecated PUT on the collection.
    assert project.labels.get(lb.id).name == "escalation::sev1"
    got = project.labels.get("escalation::sev1")
    got.new_name = "escalation::critical"
    got.color = "#00ff00"
    got.save()
    assert project.labels.get("escalation::critical").color == "#00ff00"
    issue = project.issues.create({"title": "t", "labels": "escalation::critical"})
    counted = project.labels.list(with_counts=True)
    assert {x.name: x.open_issues_count for x in counted}["escalation::critical"] == 1
    assert project.issues.list(labels="escalation::critical")[0].iid == issue.iid
    project.labels.delete("escalation::critical")
    assert project.issues.get(issue.iid).labels == []
    # Group labels cannot be changed through the project.
    r = requests.delete(
        f"{sandbox.url}/api/v4/projects/{project.id}/labels/escalation",
        headers={"PRIVATE-TOKEN": sandbox.token},
    )
    assert r.status_code == 404 and r.json() == {"message": "404 Label Not Found"}
    glabel.description = "group level"
    glabel.save()
    assert group.labels.get("escalation").description == "group level"
    with_details = project.issues.create({"title": "d", "labels": "escalation"})
    detailed = project.issues.list(with_labels_details=True, iids=[with_details.iid])[0]
    assert detailed.labels[0]["name"] == "escalation" and detailed.labels[0]["color"] == "#FF0000"


def test_issue_links(gl: gitlab.Gitlab, sandbox: Sandbox, group: Any, project: Any) -> None:
    other = gl.projects.create({"name": "Other", "path": "other", "namespace_id": group.id})
    a = project.issues.create({"title": "a"})
    b = project.issues.create({"title": "b"})
    c = other.issues.create({"title": "c"})
    src, tgt = a.links.create({"target_project_id": project.id, "target_issue_iid": b.iid})
    assert src.iid == a.iid and tgt.iid == b.iid
    a.links.create({"target_project_id": "support/other", "target_issue_iid": c.iid})
    linked = a.links.list()
    assert [(i.title, i.link_type) for i in linked] == [("b", "relates_to"), ("c", "relates_to")]
    assert all("issue_link_id" in i.attributes and "link_created_at" in i.attributes
               for i in linked)  # fmt: skip
    assert [i.title for i in b.links.list()] == ["a"]
    with pytest.raises(gitlab.GitlabCreateError) as exc:
        b.links.create({"target_project_id": project.id, "target_issue_iid": a.iid})
    assert exc.value.response_code == 409
    assert exc.value.error_message == "Issue(s) already assigned"
    with pytest.raises(gitlab.GitlabCreateError) as exc:
        a.links.create({"target_project_id": project.id, "target_issue_iid": 99})
    assert exc.value.response_code == 404
    assert exc.value.error_message.startswith("No matching issue found")
    # References as Issue#to_reference(project) writes them: same namespace -> "other#1".
    notes_a = [n.body for n in a.notes.list(sort="asc")]
    assert notes_a == [
        "marked this issue as related to #2",
        "marked this issue as related to other#1",
    ]
    assert [n.body for n in c.notes.list()] == ["marked this issue as related to esc#1"]
    assert {i.title: i.references["relative"] for i in linked} == {"b": "#2", "c": "other#1"}
    # Another namespace: the full path.
    far_group = gl.groups.create({"name": "Far", "path": "far"})
    far = gl.projects.create({"name": "Far", "path": "far", "namespace_id": far_group.id})
    d = far.issues.create({"title": "d"})
    d.links.create({"target_project_id": project.id, "target_issue_iid": a.iid})
    assert d.notes.list()[0].body == "marked this issue as related to support/esc#1"
    assert a.notes.list()[0].body == "marked this issue as related to far/far#1"
    link_id = linked[0].issue_link_id
    raw = gl.http_get(f"/projects/{project.id}/issues/{a.iid}/links/{link_id}")
    assert raw["source_issue"]["iid"] == a.iid and raw["link_type"] == "relates_to"
    deleted = gl.http_delete(f"/projects/{project.id}/issues/{a.iid}/links/{link_id}")
    assert deleted.status_code == 200 and deleted.json()["target_issue"]["iid"] == b.iid
    assert b.notes.list()[0].body == "removed the relation with #1"
    assert [i.title for i in a.links.list()] == ["c", "d"]


def test_notes(gl: gitlab.Gitlab, sandbox: Sandbox, project: Any) -> None:
    issue = project.issues.create({"title": "t"})
    sandbox.advance("PT5M")
    note = issue.notes.create({"body": "first"})
    a = note.attributes
    assert a["system"] is False and a["noteable_type"] == "Issue"
    assert a["noteable_iid"] == issue.iid and a["noteable_id"] == issue.id
    assert a["internal"] is False and a["confidential"] is False and a["type"] is None
    assert a["created_at"] == "2026-11-23T14:05:00.000Z"
    fresh = project.issues.get(issue.iid)
    assert fresh.updated_at == "2026-11-23T14:05:00.000Z" and fresh.user_notes_count == 1
    sandbox.advance("PT5M")
    issue.notes.create({"body": "second", "internal": True})
    backdated = issue.notes.create({"body": "old", "created_at": "2026-01-01T00:00:00Z"})
    assert backdated.created_at == "2026-01-01T00:00:00.000Z"
    assert [n.body for n in issue.notes.list()] == ["second", "first", "old"]  # desc default
    assert [n.body for n in issue.notes.list(sort="asc")] == ["old", "first", "second"]
    note.body = "edited"
    note.save()
    assert issue.notes.get(note.id).body == "edited"
    issue.notes.delete(note.id)
    with pytest.raises(gitlab.GitlabGetError) as exc:
        issue.notes.get(note.id)
    assert exc.value.error_message == "404 Not found"
    assert project.issues.get(issue.iid).user_notes_count == 2
    with pytest.raises(gitlab.GitlabCreateError) as exc:
        issue.notes.create({"body": "x" * 1_000_001})
    assert exc.value.response_code == 400
    issue.title = "renamed"
    issue.save()
    only = issue.notes.list(activity_filter="only_activity")
    assert [n.system for n in only] == [True]
    assert all(not n.system for n in issue.notes.list(activity_filter="only_comments"))


def test_project_events(gl: gitlab.Gitlab, sandbox: Sandbox, project: Any) -> None:
    issue = project.issues.create({"title": "t"})
    sandbox.advance("P1D")
    note = issue.notes.create({"body": "hello"})
    issue.title = "t2"
    issue.save()  # system note: no event
    events = project.events.list(target_type="note")
    assert len(events) == 1
    e = events[0].attributes
    assert e["action_name"] == "commented on" and e["target_type"] == "Note"
    assert e["target_id"] == note.id and e["target_title"] == "t"
    assert e["note"]["body"] == "hello" and e["note"]["noteable_iid"] == issue.iid
    assert e["author_username"] == "root" and e["imported_from"] == "none"
    opened = project.events.list(action="created", target_type="issue")
    assert [x.action_name for x in opened] == ["opened"] and opened[0].target_iid == issue.iid
    # after/before are exclusive days.
    assert [x.action_name for x in project.events.list(after="2026-11-23")] == ["commented on"]
    assert all(x.created_at < "2026-11-24" for x in project.events.list(before="2026-11-24"))
    assert project.events.list(after="2026-11-24") == []


def test_milestones_groups_members(gl: gitlab.Gitlab, sandbox: Sandbox, group: Any,
                                   project: Any) -> None:  # fmt: skip
    ms = project.milestones.create({"title": "Q4", "due_date": "2026-12-31"})
    assert ms.iid == 1 and ms.state == "active"
    assert project.milestones.get(ms.id).title == "Q4"
    issue = project.issues.create({"title": "t", "milestone_id": ms.id})
    assert issue.milestone["title"] == "Q4"
    assert [i.iid for i in project.issues.list(milestone="Q4")] == [issue.iid]
    assert project.issues.list(milestone="None") == []
    sub = gl.groups.create({"name": "Sub", "path": "sub", "parent_id": group.id})
    assert sub.full_path == "support/sub"
    assert [g.full_path for g in group.subgroups.list()] == ["support/sub"]
    assert [g.full_path for g in group.descendant_groups.list()] == ["support/sub"]
    deep = gl.projects.create({"name": "Deep", "path": "deep", "namespace_id": sub.id})
    assert [p.path for p in group.projects.list()] == ["esc"]
    assert sorted(p.path for p in group.projects.list(include_subgroups=True)) == ["deep", "esc"]
    assert gl.groups.get("support/sub").id == sub.id
    # Group membership is inherited by the projects below.
    carol, token = sandbox.create_user("carol")
    cgl = sandbox.gitlab(token)
    with pytest.raises(gitlab.GitlabGetError):
        cgl.projects.get(deep.id)
    group.members.create({"user_id": carol["id"], "access_level": 20})
    assert cgl.projects.get(deep.id).path == "deep"
    assert sorted(p.path for p in cgl.projects.list(get_all=True)) == ["deep", "esc"]
    created = cgl.projects.get(project.id).issues.create({"title": "by carol"})
    assert created.author["username"] == "carol"
    members = {m.username: m.access_level for m in project.members_all.list(get_all=True)}
    assert members == {"root": 50, "carol": 20}
    assert [m.username for m in project.members.list()] == ["root"]


def test_group_label_scopes(gl: gitlab.Gitlab, group: Any, project: Any) -> None:
    sub = gl.groups.create({"name": "Sub", "path": "sub", "parent_id": group.id})
    group.labels.create({"name": "top", "color": "#111111"})
    sub.labels.create({"name": "mid", "color": "#222222"})
    project.labels.create({"name": "proj", "color": "#333333"})

    def names(g: Any, **kw: Any) -> list[str]:
        return [lb["name"] for lb in gl.http_list(f"/groups/{g.id}/labels", get_all=True, **kw)]

    assert names(sub) == ["mid", "top"]  # include_ancestor_groups defaults to true
    assert names(sub, include_ancestor_groups=False) == ["mid"]
    assert names(group, include_descendant_groups=True) == ["mid", "top"]
    assert names(group, only_group_labels=False) == ["proj", "top"]


def test_milestone_events(gl: gitlab.Gitlab, sandbox: Sandbox, project: Any) -> None:
    m1 = project.milestones.create({"title": "M1"})
    m2 = project.milestones.create({"title": "M2"})
    issue = project.issues.create({"title": "t", "milestone_id": m1.id})
    sandbox.advance("PT1M")
    project.issues.update(issue.iid, {"milestone_id": m2.id})
    project.issues.update(issue.iid, {"milestone_id": 0})
    events = issue.resourcemilestoneevents.list()
    assert [(e.action, e.milestone["title"]) for e in events] == [
        ("add", "M1"), ("add", "M2"), ("remove", "M2"),
    ]  # fmt: skip
    assert issue.notes.list() == []


def test_group_and_project_validation(gl: gitlab.Gitlab, group: Any, project: Any) -> None:
    with pytest.raises(gitlab.GitlabCreateError) as exc:
        gl.groups.create({"name": "Support", "path": "support"})
    assert exc.value.response_code == 400
    with pytest.raises(gitlab.GitlabCreateError) as exc:
        gl.projects.create({"name": "Escalations", "path": "esc", "namespace_id": group.id})
    assert exc.value.response_code == 400
    assert exc.value.error_message == {
        "name": ["has already been taken"], "path": ["has already been taken"],
    }  # fmt: skip
    with pytest.raises(gitlab.GitlabCreateError) as exc:
        project.members.create({"user_id": 1, "access_level": 30})
    assert exc.value.response_code == 409
    with pytest.raises(gitlab.GitlabGetError) as exc:
        gl.users.get(999)
    assert exc.value.error_message == "404 User Not Found"
    with pytest.raises(gitlab.GitlabGetError) as exc:
        gl.groups.get("support/nope")
    assert exc.value.error_message == "404 Group Not Found"
    detail = gl.groups.get(group.id)
    assert [p["path"] for p in detail.attributes["projects"]] == ["esc"]
    assert detail.full_name == "Support" and detail.web_url.endswith("/groups/support")
    p = gl.projects.get(project.id)
    assert (
        p.namespace["full_path"] == "support" and p.name_with_namespace == "Support / Escalations"
    )
    assert p.permissions["project_access"]["access_level"] == 50


def test_milestone_edit_delete_and_discussions(gl: gitlab.Gitlab, project: Any) -> None:
    ms = project.milestones.create({"title": "Q4"})
    ms.state_event = "close"
    ms.save()
    assert project.milestones.get(ms.id).state == "closed"
    issue = project.issues.create({"title": "t", "milestone_id": ms.id})
    project.milestones.delete(ms.id)
    assert project.issues.get(issue.iid).milestone is None
    issue.notes.create({"body": "one"})
    discussions = issue.discussions.list()
    assert len(discussions) == 1 and discussions[0].individual_note is True
    assert discussions[0].attributes["notes"][0]["body"] == "one"
