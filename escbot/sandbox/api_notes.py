"""Issue notes and project events."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from escbot.sandbox import render
from escbot.sandbox.access import GUEST, MAINTAINER, OWNER, REPORTER, find_project, project_level
from escbot.sandbox.api_issues import find_issue
from escbot.sandbox.core import (
    ApiError,
    Ctx,
    bad_value,
    forbidden,
    invalid,
    missing,
    not_found,
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


def _find_note(ctx: Ctx, issue: Any) -> Any:
    nid = to_int(ctx.path_params["note_id"], "note_id")
    row = ctx.conn.execute(
        "SELECT * FROM notes WHERE id = ? AND issue_id = ?", (nid, issue["id"])
    ).fetchone()
    if row is None:
        raise not_found()
    return row


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
    if project_level(ctx, project) < REPORTER:
        where.append("internal = 0")
    d = sort.upper()
    rows = paginate_sql(
        ctx, f"SELECT * FROM notes WHERE {' AND '.join(where)}", args, f"{order} {d}, id {d}",
        {"id": ctx.path_params["id"], "noteable_id": ctx.path_params["noteable_id"],
         "order_by": order, "sort": sort, "activity_filter": activity},
    )  # fmt: skip
    return render.notes_json(ctx, rows)


@route("GET", "/projects/:id/issues/:noteable_id/notes/:note_id")
def get_note(ctx: Ctx) -> Any:
    project, issue = _issue_for_notes(ctx)
    note = _find_note(ctx, issue)
    if note["internal"] and project_level(ctx, project) < REPORTER:
        raise not_found()
    return render.notes_json(ctx, [note])[0]


@route("POST", "/projects/:id/issues/:noteable_id/notes")
def create_note(ctx: Ctx) -> Any:
    project, issue = _issue_for_notes(ctx)
    if "body" not in ctx.params:
        raise missing("body")
    body = ctx.str_("body") or ""
    if len(body) > NOTE_MAX:
        raise ApiError(400, {"error": "body is too long (maximum is 1000000 characters)"})
    if not body.strip():
        raise validation("note", "can't be blank")
    level = project_level(ctx, project)
    if level < GUEST:
        raise not_found("Project")
    if issue["discussion_locked"] and level < REPORTER:
        raise forbidden()
    internal = bool(ctx.bool_("internal", False) or ctx.bool_("confidential", False))
    if internal and level < REPORTER:
        raise forbidden()
    created_at = ctx.datetime_("created_at") if level >= OWNER else None
    note = add_note(ctx, issue, body, internal=internal, created_at=created_at)
    ctx.status = 201
    return render.notes_json(ctx, [note])[0]


@route("PUT", "/projects/:id/issues/:noteable_id/notes/:note_id")
def update_note(ctx: Ctx) -> Any:
    project, issue = _issue_for_notes(ctx)
    note = _find_note(ctx, issue)
    if note["system"]:
        raise forbidden()
    if note["author_id"] != ctx.user["id"] and project_level(ctx, project) < MAINTAINER:
        raise forbidden()
    if "body" not in ctx.params:
        raise missing("body")
    body = ctx.str_("body") or ""
    if len(body) > NOTE_MAX:
        raise ApiError(400, {"error": "body is too long (maximum is 1000000 characters)"})
    if not body.strip():
        raise validation("note", "can't be blank")
    if body != note["body"]:
        ctx.conn.execute(
            "UPDATE notes SET body = ?, updated_at = ? WHERE id = ?", (body, ctx.now(), note["id"])
        )
    note = ctx.conn.execute("SELECT * FROM notes WHERE id = ?", (note["id"],)).fetchone()
    return render.notes_json(ctx, [note])[0]


@route("DELETE", "/projects/:id/issues/:noteable_id/notes/:note_id")
def delete_note(ctx: Ctx) -> Any:
    project, issue = _issue_for_notes(ctx)
    note = _find_note(ctx, issue)
    if note["author_id"] != ctx.user["id"] and project_level(ctx, project) < MAINTAINER:
        raise forbidden()
    ctx.conn.execute("DELETE FROM notes WHERE id = ?", (note["id"],))
    if not note["system"]:
        ctx.conn.execute(
            "UPDATE issues SET user_notes_count = MAX(user_notes_count - 1, 0) WHERE id = ?",
            (issue["id"],),
        )
    ctx.status = 204
    return None


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


@route("GET", "/projects/:id/events")
def list_project_events(ctx: Ctx) -> Any:
    project = find_project(ctx, ctx.path_params["id"])
    where, args = ["project_id = ?"], [project["id"]]
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
    if project_level(ctx, project) < REPORTER:
        where.append(
            "(target_type IS NULL OR target_type != 'Issue' OR target_id NOT IN "
            "(SELECT id FROM issues WHERE confidential = 1))"
        )
    sort = ctx.enum("sort", ("asc", "desc"), "desc") or "desc"
    d = sort.upper()
    rows = paginate_sql(
        ctx, f"SELECT * FROM events WHERE {' AND '.join(where)}", args, f"created_at {d}, id {d}",
        {"id": ctx.path_params["id"], "sort": sort},
    )  # fmt: skip
    return render.events_json(ctx, rows)


# ---------------------------------------------------------------- discussions (read-only)
def _discussion(note: dict[str, Any]) -> dict[str, Any]:
    import hashlib

    # Every sandbox note is its own "individual note" discussion, as a plain comment is.
    digest = hashlib.sha1(f"note-{note['id']}".encode()).hexdigest()
    return {"id": digest, "individual_note": True, "notes": [note]}


@route("GET", "/projects/:id/issues/:noteable_id/discussions")
def list_discussions(ctx: Ctx) -> Any:
    project, issue = _issue_for_notes(ctx)
    where, args = ["issue_id = ?"], [issue["id"]]
    if project_level(ctx, project) < REPORTER:
        where.append("internal = 0")
    rows = paginate_sql(
        ctx, f"SELECT * FROM notes WHERE {' AND '.join(where)}", args, "created_at ASC, id ASC",
        {"id": ctx.path_params["id"], "noteable_id": ctx.path_params["noteable_id"]},
    )  # fmt: skip
    return [_discussion(n) for n in render.notes_json(ctx, rows)]
