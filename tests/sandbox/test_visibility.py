"""Confidential issues and internal notes per role, as GitLab shows them: a Guest sees
a confidential issue only as its author or assignee and never an internal note; a
Reporter (and an admin) sees everything. Driven over HTTP as each user."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gitlab
import pytest

from escbot.sandbox import Sandbox


@dataclass
class World:
    project: Any  # as root
    public: Any  # issue with a public and an internal comment, linked to `secret`
    secret: Any  # confidential, by root
    clients: dict[str, gitlab.Gitlab]
    users: dict[str, dict[str, Any]]

    def as_(self, who: str) -> Any:
        return self.clients[who].projects.get(self.project.id, lazy=True)


@pytest.fixture
def world(sandbox: Sandbox, gl: gitlab.Gitlab, project: Any) -> World:
    users, clients = {}, {}
    for name, level in (("guest", 10), ("author", 10), ("assignee", 10), ("reporter", 20)):
        user, token = sandbox.create_user(name)
        project.members.create({"user_id": user["id"], "access_level": level})
        users[name], clients[name] = user, sandbox.gitlab(token)
    clients["admin"] = gl
    public = project.issues.create({"title": "public outage"})
    secret = project.issues.create({"title": "secret budget", "confidential": True})
    project.issues.create(
        {
            "title": "secret assigned",
            "confidential": True,
            "assignee_ids": [users["assignee"]["id"]],
        }
    )
    clients["author"].projects.get(project.id, lazy=True).issues.create(
        {"title": "secret authored", "confidential": True}
    )
    public.notes.create({"body": "public comment"})
    reporter_issue = clients["reporter"].projects.get(project.id, lazy=True).issues.get(public.iid)
    reporter_issue.notes.create(
        {"body": "internal: customer may withhold payment", "internal": True}
    )
    secret.notes.create({"body": "comment on the secret"})
    public.links.create({"target_project_id": project.id, "target_issue_iid": secret.iid})
    return World(project, public, secret, clients, users)


def titles(issues: Any) -> list[str]:
    return sorted(i.title for i in issues)


EVERYTHING = ["public outage", "secret assigned", "secret authored", "secret budget"]


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("guest", ["public outage"]),
        ("author", ["public outage", "secret authored"]),
        ("assignee", ["public outage", "secret assigned"]),
        ("reporter", EVERYTHING),
        ("admin", EVERYTHING),
    ],
)
def test_issue_lists_get_and_search(world: World, who: str, expected: list[str]) -> None:
    p = world.as_(who)
    assert titles(p.issues.list(all=True)) == expected
    assert titles(p.issues.list(search="secret", all=True)) == [
        t for t in expected if "secret" in t
    ]
    assert titles(p.issues.list(confidential=True, all=True)) == [
        t for t in expected if "secret" in t
    ]
    client = world.clients[who]
    assert titles(client.groups.get("support", lazy=True).issues.list(all=True)) == expected
    assert titles(client.issues.list(scope="all", all=True)) == expected
    if "secret budget" in expected:
        assert p.issues.get(world.secret.iid).title == "secret budget"
    else:
        with pytest.raises(gitlab.GitlabGetError) as exc:
            p.issues.get(world.secret.iid)
        assert exc.value.response_code == 404
        with pytest.raises(gitlab.GitlabHttpError) as exc:
            client.http_get(f"/issues/{world.secret.id}")
        assert exc.value.response_code == 404


@pytest.mark.parametrize(("who", "sees_internal"), [("guest", False), ("author", False),
                                                    ("reporter", True), ("admin", True)])  # fmt: skip
def test_internal_notes_and_their_count(world: World, who: str, sees_internal: bool) -> None:
    issue = world.as_(who).issues.get(world.public.iid)
    bodies = [n.body for n in issue.notes.list(all=True) if not n.system]
    internal = "internal: customer may withhold payment"
    assert (internal in bodies) is sees_internal and "public comment" in bodies
    assert issue.user_notes_count == (2 if sees_internal else 1)
    listed = world.as_(who).issues.list(iids=[world.public.iid])[0]
    assert listed.user_notes_count == issue.user_notes_count
    threads = [d.attributes["notes"][0]["body"] for d in issue.discussions.list(all=True)]
    assert (internal in threads) is sees_internal
    note_id = next(n.id for n in world.public.notes.list(all=True) if n.body == internal)
    if not sees_internal:
        with pytest.raises(gitlab.GitlabGetError) as exc:
            issue.notes.get(note_id)
        assert exc.value.response_code == 404 and exc.value.error_message == "404 Not found"
        with pytest.raises(gitlab.GitlabUpdateError) as exc2:
            issue.notes.update(note_id, {"body": "edited"})
        assert exc2.value.response_code == 404
    else:
        assert issue.notes.get(note_id).internal is True


def test_a_guest_asking_for_an_internal_note_gets_a_public_one(world: World) -> None:
    # Notes::BuildService drops `internal` silently for users who may not set it.
    issue = world.as_("guest").issues.get(world.public.iid)
    note = issue.notes.create({"body": "from the customer", "internal": True})
    assert note.internal is False and note.confidential is False
    reporter_view = world.as_("reporter").issues.get(world.public.iid).notes.get(note.id)
    assert reporter_view.internal is False


def test_replies_inherit_a_thread_internal_flag(world: World) -> None:
    issue = world.as_("reporter").issues.get(world.public.iid)
    thread = issue.discussions.create({"body": "internal thread", "internal": True})
    reply = thread.notes.create({"body": "reply"})
    assert reply.internal is True and reply.type == "DiscussionNote"
    guest_issue = world.as_("guest").issues.get(world.public.iid)
    with pytest.raises(gitlab.GitlabGetError) as exc:
        guest_issue.discussions.get(thread.id)
    assert exc.value.response_code == 404
    with pytest.raises(gitlab.GitlabCreateError) as exc2:
        guest_issue.discussions.get(thread.id, lazy=True).notes.create({"body": "sneak"})
    assert exc2.value.response_code == 404


@pytest.mark.parametrize(("who", "sees"), [("guest", False), ("reporter", True), ("admin", True)])
def test_events_hide_confidential_issues_and_internal_notes(
    world: World, who: str, sees: bool
) -> None:
    events = world.as_(who).events.list(all=True)
    titles_seen = {e.target_title for e in events}
    assert ("secret budget" in titles_seen) is sees
    bodies = {e.note["body"] for e in events if getattr(e, "note", None)}
    assert ("internal: customer may withhold payment" in bodies) is sees
    assert "public comment" in bodies
    mine = world.clients[who].events.list(scope="all", all=True)
    assert ("secret budget" in {e.target_title for e in mine}) is sees


@pytest.mark.parametrize(("who", "sees"), [("guest", False), ("reporter", True)])
def test_links_and_participants(world: World, who: str, sees: bool) -> None:
    issue = world.as_(who).issues.get(world.public.iid)
    links = issue.links.list()
    assert [lk.title for lk in links] == (["secret budget"] if sees else [])
    link_id = world.public.links.list()[0].issue_link_id
    path = f"/projects/{world.project.id}/issues/{world.public.iid}/links/{link_id}"
    client = world.clients[who]
    if sees:
        assert client.http_get(path)["target_issue"]["title"] == "secret budget"
    else:
        with pytest.raises(gitlab.GitlabHttpError) as exc:
            client.http_get(path)
        assert exc.value.response_code == 404
    # The reporter only wrote an internal note: a Guest does not learn of them.
    names = [u["username"] for u in issue.participants()]
    assert names == (["root", "reporter"] if sees else ["root"])


def test_participants_who_cannot_read_a_confidential_issue_are_left_out(world: World) -> None:
    world.secret.notes.create({"body": "cc"})
    names = [
        u["username"] for u in world.as_("reporter").issues.get(world.secret.iid).participants()
    ]
    assert names == ["root"]
    # The assignee (a Guest) can read the issue, so is a participant.
    assigned = world.as_("reporter").issues.list(search="secret assigned")[0]
    assert [u["username"] for u in assigned.participants()] == ["root", "assignee"]


@pytest.mark.parametrize(("who", "sees"), [("guest", False), ("reporter", True)])
def test_system_notes_naming_a_hidden_issue_are_hidden(world: World, who: str, sees: bool) -> None:
    # Linking wrote "marked this issue as related to #2" on the public issue.
    issue = world.as_(who).issues.get(world.public.iid)
    bodies = [n.body for n in issue.notes.list(all=True) if n.system]
    assert ("marked this issue as related to #2" in bodies) is sees
    threads = [d.attributes["notes"][0]["body"] for d in issue.discussions.list(all=True)]
    assert ("marked this issue as related to #2" in threads) is sees


@pytest.mark.parametrize(("who", "sees"), [("guest", False), ("reporter", True), ("admin", True)])
def test_search_api_respects_confidentiality(world: World, who: str, sees: bool) -> None:
    client = world.clients[who]
    pid = world.project.id
    found = client.http_get(
        f"/projects/{pid}/search", query_data={"scope": "issues", "search": "secret budget"}
    )
    assert [i["title"] for i in found] == (["secret budget"] if sees else [])
    notes = client.http_get(
        f"/projects/{pid}/search", query_data={"scope": "notes", "search": "withhold"}
    )
    assert len(notes) == (1 if sees else 0)
    everywhere = client.search("issues", "secret")
    assert ("secret budget" in [i["title"] for i in everywhere]) is sees
