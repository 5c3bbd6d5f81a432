"""Issue notes and project events."""

from __future__ import annotations

import dataclasses
import hashlib
import re
import secrets
from datetime import date, timedelta
from typing import Any

from escbot.sandbox import render
from escbot.sandbox.access import (
    GUEST,
    MAINTAINER,
    OWNER,
    REPORTER,
    can_read_issue,
    find_project,
    find_user,
    project_level,
    reads_internal,
    visible_events_sql,
)
from escbot.sandbox.api_issues import find_issue
from escbot.sandbox.core import (
    ApiError,
    Ctx,
    bad_value,
    forbidden,
    invalid,
    missing,
    not_found,
    paginate_list,
    paginate_sql,
    route,
    to_int,
    validation,
)
from escbot.sandbox.domain import add_note

NOTE_MAX = 1_000_000


def _issue_for_notes(ctx: Ctx) -> tuple[Any, Any]:
    project = find_project(ctx, ctx.path_params["id"])
    try:
        return project, find_issue(ctx, project, ctx.path_params["noteable_id"])
    except ApiError as exc:
        if exc.status == 404:
            raise not_found("Issue") from None
        raise


def _find_note(ctx: Ctx, project: Any, issue: Any) -> Any:
    """A note of the issue; 404 to whom may not read it (internal, or a system note
    naming an issue they cannot see)."""
    nid = to_int(ctx.path_params["note_id"], "note_id")
    row = ctx.conn.execute(
        "SELECT * FROM notes WHERE id = ? AND issue_id = ?", (nid, issue["id"])
    ).fetchone()
    if row is None or (row["internal"] and not reads_internal(ctx, project)):
        raise not_found()
    if not readable_system_notes(ctx, project, [row]):
        raise not_found()
    return row


_ISSUE_REF = re.compile(r"(?<![\w/])(?:([\w.\-]+(?:/[\w.\-]+)*))?#(\d+)\b")


def readable_system_notes(ctx: Ctx, project: Any, notes: list[Any]) -> list[Any]:
    """Note#system_note_visible_for?: a system note naming issues ("marked this issue as
    related to #2") is shown only to whom can read every issue it names."""
    if ctx.is_admin:
        return notes
    return [n for n in notes if not n["system"] or _refs_readable(ctx, project, n["body"])]


def _refs_readable(ctx: Ctx, project: Any, body: str) -> bool:
    refs = _ISSUE_REF.findall(body)
    for prefix, iid in refs:
        target = _referenced_project(ctx, project, prefix)
        issue = (
            target
            and ctx.conn.execute(
                "SELECT * FROM issues WHERE project_id = ? AND iid = ?", (target["id"], int(iid))
            ).fetchone()
        )
        if (
            not issue
            or project_level(ctx, target) < GUEST
            or not can_read_issue(ctx, target, issue)
        ):
            return False
    return True


def _referenced_project(ctx: Ctx, project: Any, prefix: str) -> Any:
    """`#2` is this project, `proj#2` a sibling in its namespace, `grp/proj#2` any."""
    if not prefix:
        return project
    if "/" in prefix:
        ns_path, _, path = prefix.rpartition("/")
        return ctx.conn.execute(
            "SELECT p.* FROM projects p JOIN namespaces n ON n.id = p.namespace_id "
            "WHERE n.full_path = ? COLLATE NOCASE AND p.path = ? COLLATE NOCASE",
            (ns_path, path),
        ).fetchone()
    return ctx.conn.execute(
        "SELECT * FROM projects WHERE namespace_id = ? AND path = ? COLLATE NOCASE",
        (project["namespace_id"], prefix),
    ).fetchone()


@route("GET", "/projects/:id/issues/:noteable_id/notes")
def list_notes(ctx: Ctx) -> Any:
    project, issue = _issue_for_notes(ctx)
    order = ctx.enum("order_by", ("created_at", "updated_at"), "created_at") or "created_at"
    sort = ctx.enum("sort", ("asc", "desc"), "desc") or "desc"
    activity = ctx.enum("activity_filter", ("all_notes", "only_comments", "only_activity"),
                        "all_notes")  # fmt: skip
    where, args = ["issue_id = ?"], [issue["id"]]
    if activity == "only_comments":
        where.append("system = 0")
    elif activity == "only_activity":
        where.append("system = 1")
    if not reads_internal(ctx, project):
        where.append("internal = 0")
    d = sort.upper()
    rows = paginate_sql(
        ctx, f"SELECT * FROM notes WHERE {' AND '.join(where)}", args, f"{order} {d}, id {d}",
        {"id": ctx.path_params["id"], "noteable_id": ctx.path_params["noteable_id"],
         "order_by": order, "sort": sort, "activity_filter": activity},
    )  # fmt: skip
    # Filtered after paging, as GitLab redacts notes on the page it loaded.
    return render.notes_json(ctx, readable_system_notes(ctx, project, rows))


@route("GET", "/projects/:id/issues/:noteable_id/notes/:note_id")
def get_note(ctx: Ctx) -> Any:
    project, issue = _issue_for_notes(ctx)
    return render.notes_json(ctx, [_find_note(ctx, project, issue)])[0]


def _body(ctx: Ctx) -> str:
    if "body" not in ctx.params:
        raise missing("body")
    body = ctx.str_("body") or ""
    if len(body) > NOTE_MAX:
        raise ApiError(400, {"error": "body is too long (maximum is 1000000 characters)"})
    if not body.strip():
        raise validation("note", "can't be blank")
    return body


def _post_note(
    ctx: Ctx, project: Any, issue: Any, *, discussion_id: str | None = None,
    parent: Any = None,
) -> Any:  # fmt: skip
    """Notes::CreateService for a comment, a new thread or (with `parent`) a reply."""
    body = _body(ctx)
    level = project_level(ctx, project)
    if issue["discussion_locked"] and level < REPORTER:
        raise forbidden()
    if parent is not None:
        internal = bool(parent["internal"])  # a reply inherits its thread's visibility
    else:
        # Notes::BuildService drops `internal` silently for whom may not mark notes
        # internal: the note is saved public, as GitLab does.
        asked = bool(ctx.bool_("internal", False) or ctx.bool_("confidential", False))
        internal = asked and level >= REPORTER
    created_at = ctx.datetime_("created_at") if level >= OWNER else None
    note = add_note(ctx, issue, body, internal=internal, created_at=created_at,
                    discussion_id=discussion_id)  # fmt: skip
    ctx.status = 201
    return note


def _edit_note(ctx: Ctx, project: Any, note: Any) -> Any:
    if note["system"]:
        raise forbidden()
    if note["author_id"] != ctx.user["id"] and project_level(ctx, project) < MAINTAINER:
        raise forbidden()
    body = _body(ctx)
    if body != note["body"]:
        ctx.conn.execute(
            "UPDATE notes SET body = ?, updated_at = ? WHERE id = ?", (body, ctx.now(), note["id"])
        )
    note = ctx.conn.execute("SELECT * FROM notes WHERE id = ?", (note["id"],)).fetchone()
    return render.notes_json(ctx, [note])[0]


def _remove_note(ctx: Ctx, project: Any, issue: Any, note: Any) -> None:
    if note["author_id"] != ctx.user["id"] and project_level(ctx, project) < MAINTAINER:
        raise forbidden()
    ctx.conn.execute("DELETE FROM notes WHERE id = ?", (note["id"],))
    if not note["system"]:
        ctx.conn.execute(
            "UPDATE issues SET user_notes_count = MAX(user_notes_count - 1, 0) WHERE id = ?",
            (issue["id"],),
        )
    ctx.status = 204


@route("POST", "/projects/:id/issues/:noteable_id/notes")
def create_note(ctx: Ctx) -> Any:
    project, issue = _issue_for_notes(ctx)
    return render.notes_json(ctx, [_post_note(ctx, project, issue)])[0]


@route("PUT", "/projects/:id/issues/:noteable_id/notes/:note_id")
def update_note(ctx: Ctx) -> Any:
    project, issue = _issue_for_notes(ctx)
    return _edit_note(ctx, project, _find_note(ctx, project, issue))


@route("DELETE", "/projects/:id/issues/:noteable_id/notes/:note_id")
def delete_note(ctx: Ctx) -> Any:
    project, issue = _issue_for_notes(ctx)
    _remove_note(ctx, project, issue, _find_note(ctx, project, issue))
    return None


@route("GET", "/projects/:id/issues/:noteable_id/participants")
def list_participants(ctx: Ctx) -> Any:
    """Issue#visible_participants: author, assignees, then authors of the comments the
    caller can read, keeping only users who can read the issue themselves."""
    project, issue = _issue_for_notes(ctx)
    assignees = [r[0] for r in ctx.conn.execute(
        "SELECT user_id FROM issue_assignees WHERE issue_id = ? ORDER BY position", (issue["id"],)
    )]  # fmt: skip
    commenters = [n["author_id"] for n in _visible_notes(ctx, project, issue) if not n["system"]]
    ids = list(dict.fromkeys([issue["author_id"], *assignees, *commenters]))
    users = render.users_by_id(ctx, set(ids))
    out = []
    for uid in ids:
        u = users.get(uid)
        viewer = dataclasses.replace(ctx, user=u, cache={}) if u is not None else None
        if (
            viewer
            and project_level(viewer, project) >= GUEST
            and can_read_issue(viewer, project, issue)
        ):
            out.append(render.user_basic(ctx, u))
    return out


# ---------------------------------------------------------------- events
TARGET_TYPES = {
    "issue": "Issue", "milestone": "Milestone", "merge_request": "MergeRequest", "note": "Note",
    "project": "Project", "snippet": "Snippet", "user": "User", "wiki": "WikiPage::Meta",
    "design": "DesignManagement::Design", "epic": "Epic",
}  # fmt: skip
ACTIONS = {
    "created": ("opened", "created"), "updated": ("updated",), "closed": ("closed",),
    "reopened": ("reopened",), "pushed": ("pushed to", "pushed new"),
    "commented": ("commented on",),
    "merged": ("accepted",), "joined": ("joined",), "left": ("left",), "destroyed": ("deleted",),
    "expired": ("removed due to membership expiration from",), "approved": ("approved",),
}  # fmt: skip


def _day(ctx: Ctx, name: str) -> date | None:
    v = ctx.str_(name)
    if not v:
        return None
    try:
        return date.fromisoformat(v[:10])
    except ValueError:
        raise invalid(name) from None


def _list_events(
    ctx: Ctx, projects: list[Any], where: list[str], args: list[Any], defaults: dict[str, Any]
) -> Any:
    """EventsFinder's filters (target_type, action, after/before, sort) over the events of
    `projects` that the caller may see."""
    ids = [p["id"] for p in projects]
    where = [f"project_id IN ({','.join('?' * len(ids)) or 'NULL'})", *where]
    args = [*ids, *args]
    tt = ctx.str_("target_type")
    if tt:
        if tt.lower() not in TARGET_TYPES:
            raise bad_value("target_type")
        where.append("target_type = ?")
        args.append(TARGET_TYPES[tt.lower()])
    action = ctx.str_("action")
    if action:
        if action not in ACTIONS:
            raise bad_value("action")
        names = ACTIONS[action]
        where.append(f"action_name IN ({','.join('?' * len(names))})")
        args += names
    # after/before are exclusive whole days (EventsFinder: > after.end_of_day).
    after, before = _day(ctx, "after"), _day(ctx, "before")
    if after:
        where.append("created_at >= ?")
        args.append(f"{(after + timedelta(days=1)).isoformat()}T00:00:00.000Z")
    if before:
        where.append("created_at < ?")
        args.append(f"{before.isoformat()}T00:00:00.000Z")
    visible, visible_args = visible_events_sql(
        ctx, [p["id"] for p in projects if reads_internal(ctx, p)]
    )
    where.append(visible)
    args += visible_args
    sort = ctx.enum("sort", ("asc", "desc"), "desc") or "desc"
    d = sort.upper()
    rows = paginate_sql(
        ctx, f"SELECT * FROM events WHERE {' AND '.join(where)}", args, f"created_at {d}, id {d}",
        {**defaults, "sort": sort},
    )  # fmt: skip
    return render.events_json(ctx, rows)


@route("GET", "/projects/:id/events")
def list_project_events(ctx: Ctx) -> Any:
    project = find_project(ctx, ctx.path_params["id"])
    return _list_events(ctx, [project], [], [], {"id": ctx.path_params["id"]})


def _readable_projects(ctx: Ctx) -> list[Any]:
    rows = ctx.conn.execute("SELECT * FROM projects").fetchall()
    return [p for p in rows if project_level(ctx, p) >= GUEST]


@route("GET", "/events")
def list_my_events(ctx: Ctx) -> Any:
    """The caller's own events, or with scope=all those of every project they can read."""
    scope = ctx.str_("scope")
    if scope == "all":
        return _list_events(ctx, _readable_projects(ctx), [], [], {"scope": scope})
    return _list_events(ctx, _readable_projects(ctx), ["author_id = ?"], [ctx.user["id"]], {})


@route("GET", "/users/:user_id/events")
def list_user_events(ctx: Ctx) -> Any:
    user = find_user(ctx.conn, ctx.path_params["user_id"])
    if user is None:
        raise not_found("User")
    return _list_events(
        ctx, _readable_projects(ctx), ["author_id = ?"], [user["id"]],
        {"user_id": ctx.path_params["user_id"]},
    )  # fmt: skip


# ---------------------------------------------------------------- discussions
# A plain comment is its own "individual note" discussion (id derived from the note);
# a thread started with POST .../discussions, or a comment replied to, carries a
# discussion_id shared by all its notes.


def _individual_id(note_id: int) -> str:
    return hashlib.sha1(f"note-{note_id}".encode()).hexdigest()


def _discussion_key(note: Any) -> str:
    return note["discussion_id"] or _individual_id(note["id"])


def _visible_notes(ctx: Ctx, project: Any, issue: Any) -> list[Any]:
    internal = "" if reads_internal(ctx, project) else " AND internal = 0"
    rows = ctx.conn.execute(
        f"SELECT * FROM notes WHERE issue_id = ?{internal} ORDER BY created_at, id", (issue["id"],)
    ).fetchall()
    return readable_system_notes(ctx, project, rows)


def _discussions(ctx: Ctx, notes: list[Any]) -> list[dict[str, Any]]:
    grouped: dict[str, list[Any]] = {}
    for n in notes:
        grouped.setdefault(_discussion_key(n), []).append(n)
    return [
        {"id": key, "individual_note": rows[0]["discussion_id"] is None,
         "notes": render.notes_json(ctx, rows)}
        for key, rows in grouped.items()
    ]  # fmt: skip


def _find_discussion(ctx: Ctx, project: Any, issue: Any) -> list[Any]:
    did = ctx.path_params["discussion_id"]
    notes = [n for n in _visible_notes(ctx, project, issue) if _discussion_key(n) == did]
    if not notes:
        raise not_found()
    return notes


@route("GET", "/projects/:id/issues/:noteable_id/discussions")
def list_discussions(ctx: Ctx) -> Any:
    project, issue = _issue_for_notes(ctx)
    items = _discussions(ctx, _visible_notes(ctx, project, issue))
    defaults = {"id": ctx.path_params["id"], "noteable_id": ctx.path_params["noteable_id"]}
    return paginate_list(ctx, items, defaults)


@route("GET", "/projects/:id/issues/:noteable_id/discussions/:discussion_id")
def get_discussion(ctx: Ctx) -> Any:
    project, issue = _issue_for_notes(ctx)
    return _discussions(ctx, _find_discussion(ctx, project, issue))[0]


@route("POST", "/projects/:id/issues/:noteable_id/discussions")
def create_discussion(ctx: Ctx) -> Any:
    project, issue = _issue_for_notes(ctx)
    note = _post_note(ctx, project, issue, discussion_id=secrets.token_hex(20))
    return _discussions(ctx, [note])[0]


@route("POST", "/projects/:id/issues/:noteable_id/discussions/:discussion_id/notes")
def reply_to_discussion(ctx: Ctx) -> Any:
    project, issue = _issue_for_notes(ctx)
    thread = _find_discussion(ctx, project, issue)
    first = thread[0]
    key = _discussion_key(first)
    if first["discussion_id"] is None:  # Discussion#convert_to_discussion!
        ctx.conn.execute("UPDATE notes SET discussion_id = ? WHERE id = ?", (key, first["id"]))
    note = _post_note(ctx, project, issue, discussion_id=key, parent=first)
    return render.notes_json(ctx, [note])[0]


def _discussion_note(ctx: Ctx) -> tuple[Any, Any, Any]:
    project, issue = _issue_for_notes(ctx)
    nid = to_int(ctx.path_params["note_id"], "note_id")
    for note in _find_discussion(ctx, project, issue):
        if note["id"] == nid:
            return project, issue, note
    raise not_found()


@route("GET", "/projects/:id/issues/:noteable_id/discussions/:discussion_id/notes/:note_id")
def get_discussion_note(ctx: Ctx) -> Any:
    return render.notes_json(ctx, [_discussion_note(ctx)[2]])[0]


@route("PUT", "/projects/:id/issues/:noteable_id/discussions/:discussion_id/notes/:note_id")
def update_discussion_note(ctx: Ctx) -> Any:
    project, _, note = _discussion_note(ctx)
    return _edit_note(ctx, project, note)


@route("DELETE", "/projects/:id/issues/:noteable_id/discussions/:discussion_id/notes/:note_id")
def delete_discussion_note(ctx: Ctx) -> Any:
    project, issue, note = _discussion_note(ctx)
    _remove_note(ctx, project, issue, note)
    return None


# ---------------------------------------------------------------- award emoji
# On issues and on their notes; thumbsup/thumbsdown on an issue are its up/downvotes.
VOTES = {"thumbsup": "upvotes", "thumbsdown": "downvotes"}


def _awardable(ctx: Ctx) -> tuple[str, Any, Any]:
    """('Issue', issue, issue) or ('Note', note, issue) from the route."""
    project, issue = _issue_for_notes(ctx)
    if "note_id" in ctx.path_params:
        return "Note", _find_note(ctx, project, issue), issue
    return "Issue", issue, issue


def _award_json(ctx: Ctx, r: Any) -> dict[str, Any]:
    users = render.users_by_id(ctx, {r["user_id"]})
    return {
        "id": r["id"], "name": r["name"], "user": render.user_basic(ctx, users.get(r["user_id"])),
        "created_at": r["created_at"], "updated_at": r["created_at"],
        "awardable_id": r["awardable_id"], "awardable_type": r["awardable_type"], "url": None,
    }  # fmt: skip


def list_awards(ctx: Ctx) -> Any:
    kind, target, _ = _awardable(ctx)
    rows = paginate_sql(
        ctx, "SELECT * FROM award_emoji WHERE awardable_type = ? AND awardable_id = ?",
        [kind, target["id"]], "id ASC", {"id": ctx.path_params["id"]},
    )  # fmt: skip
    return [_award_json(ctx, r) for r in rows]


def _find_award(ctx: Ctx) -> tuple[Any, Any, Any]:
    kind, target, issue = _awardable(ctx)
    row = ctx.conn.execute(
        "SELECT * FROM award_emoji WHERE awardable_type = ? AND awardable_id = ? AND id = ?",
        (kind, target["id"], to_int(ctx.path_params["award_id"], "award_id")),
    ).fetchone()
    if row is None:
        raise not_found("Award Emoji")
    return row, target, issue


def get_award(ctx: Ctx) -> Any:
    return _award_json(ctx, _find_award(ctx)[0])


def create_award(ctx: Ctx) -> Any:
    kind, target, issue = _awardable(ctx)
    name = ctx.str_("name", required=True) or ""
    if ctx.conn.execute(
        "SELECT 1 FROM award_emoji WHERE awardable_type = ? AND awardable_id = ? AND user_id = ? "
        "AND name = ?",
        (kind, target["id"], ctx.user["id"], name),
    ).fetchone():
        raise ApiError(404, {"message": "404 Award Emoji Name has already been taken Not Found"})
    aid = ctx.conn.execute(
        "INSERT INTO award_emoji (awardable_type, awardable_id, user_id, name, created_at) "
        "VALUES (?,?,?,?,?)",
        (kind, target["id"], ctx.user["id"], name, ctx.now()),
    ).lastrowid
    if kind == "Issue" and name in VOTES:
        ctx.conn.execute(
            f"UPDATE issues SET {VOTES[name]} = {VOTES[name]} + 1 WHERE id = ?", (issue["id"],)
        )
    ctx.status = 201
    return _award_json(
        ctx, ctx.conn.execute("SELECT * FROM award_emoji WHERE id = ?", (aid,)).fetchone()
    )


def delete_award(ctx: Ctx) -> Any:
    row, _, issue = _find_award(ctx)
    if row["user_id"] != ctx.user["id"] and not ctx.is_admin:
        raise forbidden()
    ctx.conn.execute("DELETE FROM award_emoji WHERE id = ?", (row["id"],))
    if row["awardable_type"] == "Issue" and row["name"] in VOTES:
        col = VOTES[row["name"]]
        ctx.conn.execute(
            f"UPDATE issues SET {col} = MAX({col} - 1, 0) WHERE id = ?", (issue["id"],)
        )
    ctx.status = 204
    return None


for _base in ("/projects/:id/issues/:noteable_id/award_emoji",
              "/projects/:id/issues/:noteable_id/notes/:note_id/award_emoji"):  # fmt: skip
    route("GET", _base)(list_awards)
    route("POST", _base)(create_award)
    route("GET", f"{_base}/:award_id")(get_award)
    route("DELETE", f"{_base}/:award_id")(delete_award)
