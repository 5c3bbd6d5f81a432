"""Issue links (relates_to / blocks / is_blocked_by) and project milestones."""

from __future__ import annotations

import sqlite3
from typing import Any

from escbot.sandbox import render
from escbot.sandbox.access import (
    GUEST,
    REPORTER,
    ancestors,
    can_read_issue,
    descendant_ids,
    find_group,
    find_project,
    project_level,
)
from escbot.sandbox.api_issues import find_issue
from escbot.sandbox.core import (
    ApiError,
    Ctx,
    bad_value,
    missing,
    not_found,
    paginate_list,
    paginate_sql,
    route,
    to_int,
    validation,
)
from escbot.sandbox.domain import add_note, issue_ref_from

LINK_TYPES = ("relates_to", "blocks", "is_blocked_by")
NO_MATCH = "No matching issue found. Make sure that you are adding a valid issue URL."
_NOTE = {
    "relates_to": ("marked this issue as related to", "marked this issue as related to"),
    "blocks": ("marked this issue as blocking", "marked this issue as blocked by"),
}


def _link_type_for(link: sqlite3.Row, issue_id: int) -> str:
    if link["link_type"] == "relates_to":
        return "relates_to"
    return "blocks" if link["source_id"] == issue_id else "is_blocked_by"


def _issue_basic(ctx: Ctx, issue_id: int) -> dict[str, Any]:
    row = ctx.conn.execute("SELECT * FROM issues WHERE id = ?", (issue_id,)).fetchone()
    return render.issues_json(ctx, [row])[0]


def _link_json(ctx: Ctx, link: sqlite3.Row, from_issue_id: int) -> dict[str, Any]:
    src, tgt = link["source_id"], link["target_id"]
    return {
        "id": link["id"],
        "source_issue": _issue_basic(ctx, src),
        "target_issue": _issue_basic(ctx, tgt),
        "link_type": link["link_type"] if from_issue_id == src else _link_type_for(link, tgt),
    }


@route("GET", "/projects/:id/issues/:issue_iid/links")
def list_links(ctx: Ctx) -> Any:
    project = find_project(ctx, ctx.path_params["id"])
    issue = find_issue(ctx, project, ctx.path_params["issue_iid"])
    links = ctx.conn.execute(
        "SELECT * FROM issue_links WHERE source_id = ? OR target_id = ? ORDER BY created_at, id",
        (issue["id"], issue["id"]),
    ).fetchall()
    other_ids = [lk["target_id"] if lk["source_id"] == issue["id"] else lk["source_id"]
                 for lk in links]  # fmt: skip
    if not other_ids:
        return []
    marks = ",".join("?" * len(other_ids))
    rows = {r["id"]: r for r in ctx.conn.execute(
        f"SELECT * FROM issues WHERE id IN ({marks})", other_ids)}  # fmt: skip
    out = []
    for lk, oid in zip(links, other_ids, strict=True):
        other = rows[oid]
        oproj = render.project_paths(ctx, other["project_id"])[0]
        if project_level(ctx, oproj) < GUEST or not can_read_issue(ctx, oproj, other):
            continue
        item = render.issues_json(ctx, [other], context_project=project["id"])[0]
        item.update(
            {
                "issue_link_id": lk["id"],
                "link_type": _link_type_for(lk, issue["id"]),
                "link_created_at": lk["created_at"],
                "link_updated_at": lk["updated_at"],
            }
        )
        out.append(item)
    return out


@route("POST", "/projects/:id/issues/:issue_iid/links")
def create_link(ctx: Ctx) -> Any:
    project = find_project(ctx, ctx.path_params["id"])
    issue = find_issue(ctx, project, ctx.path_params["issue_iid"])
    need = [n for n in ("target_project_id", "target_issue_iid") if ctx.raw(n) in (None, "")]
    if need:
        raise missing(*need)
    link_type = ctx.enum("link_type", LINK_TYPES, "relates_to") or "relates_to"
    try:
        target_project = find_project(ctx, ctx.str_("target_project_id") or "")
        target = find_issue(ctx, target_project, ctx.str_("target_issue_iid") or "")
    except ApiError as exc:
        if exc.status in (400, 404):
            raise ApiError(404, {"message": NO_MATCH}) from None
        raise
    if project_level(ctx, project) < REPORTER or project_level(ctx, target_project) < REPORTER:
        raise ApiError(
            403,
            {"message": "Couldn't link issue. You must have at least the Reporter role in both "
                        "projects."},
        )  # fmt: skip
    if target["id"] == issue["id"]:
        raise ApiError(422, {"message": "Source issue cannot be related to itself."})
    if ctx.conn.execute(
        "SELECT 1 FROM issue_links WHERE (source_id = ? AND target_id = ?) "
        "OR (source_id = ? AND target_id = ?)",
        (issue["id"], target["id"], target["id"], issue["id"]),
    ).fetchone():
        raise ApiError(409, {"message": "Issue(s) already assigned"})
    # GitLab stores is_blocked_by as the reverse `blocks` link.
    src, tgt, stored = issue, target, link_type
    if link_type == "is_blocked_by":
        src, tgt, stored = target, issue, "blocks"
    now = ctx.now()
    lid = ctx.conn.execute(
        "INSERT INTO issue_links (source_id, target_id, link_type, created_at, updated_at) "
        "VALUES (?,?,?,?,?)",
        (src["id"], tgt["id"], stored, now, now),
    ).lastrowid
    src_text, tgt_text = _NOTE[stored]
    add_note(ctx, src, f"{src_text} {issue_ref_from(ctx, tgt, src['project_id'])}", system=True)
    add_note(ctx, tgt, f"{tgt_text} {issue_ref_from(ctx, src, tgt['project_id'])}", system=True)
    ctx.status = 201
    return {
        "id": lid,
        "source_issue": _issue_basic(ctx, issue["id"]),
        "target_issue": _issue_basic(ctx, target["id"]),
        "link_type": link_type,
    }


def _find_link(ctx: Ctx) -> tuple[Any, Any, sqlite3.Row]:
    project = find_project(ctx, ctx.path_params["id"])
    issue = find_issue(ctx, project, ctx.path_params["issue_iid"])
    lid = to_int(ctx.path_params["issue_link_id"], "issue_link_id")
    link = ctx.conn.execute(
        "SELECT * FROM issue_links WHERE id = ? AND (source_id = ? OR target_id = ?)",
        (lid, issue["id"], issue["id"]),
    ).fetchone()
    if link is None:
        raise not_found()
    return project, issue, link


@route("GET", "/projects/:id/issues/:issue_iid/links/:issue_link_id")
def get_link(ctx: Ctx) -> Any:
    _, issue, link = _find_link(ctx)
    # read_issue_link needs both ends readable.
    other_id = link["target_id"] if link["source_id"] == issue["id"] else link["source_id"]
    other = ctx.conn.execute("SELECT * FROM issues WHERE id = ?", (other_id,)).fetchone()
    oproj = render.project_paths(ctx, other["project_id"])[0]
    if project_level(ctx, oproj) < GUEST or not can_read_issue(ctx, oproj, other):
        raise not_found()
    return _link_json(ctx, link, issue["id"])


@route("DELETE", "/projects/:id/issues/:issue_iid/links/:issue_link_id")
def delete_link(ctx: Ctx) -> Any:
    project, issue, link = _find_link(ctx)
    if project_level(ctx, project) < REPORTER:
        raise ApiError(404, {"message": "No Issue Link found"})
    out = _link_json(ctx, link, issue["id"])
    ctx.conn.execute("DELETE FROM issue_links WHERE id = ?", (link["id"],))
    src = ctx.conn.execute("SELECT * FROM issues WHERE id = ?", (link["source_id"],)).fetchone()
    tgt = ctx.conn.execute("SELECT * FROM issues WHERE id = ?", (link["target_id"],)).fetchone()
    add_note(ctx, src, f"removed the relation with {issue_ref_from(ctx, tgt, src['project_id'])}",
             system=True)  # fmt: skip
    add_note(ctx, tgt, f"removed the relation with {issue_ref_from(ctx, src, tgt['project_id'])}",
             system=True)  # fmt: skip
    return out


# ---------------------------------------------------------------- milestones
# Project and group milestones share one table (project_id or group_id set) and one
# set of handlers; `_owner` says which, from the route.


def _owner(ctx: Ctx, level: int = GUEST) -> tuple[str, sqlite3.Row]:
    if ctx.path.split("/api/v4/", 1)[-1].startswith("groups/"):
        return "group_id", find_group(ctx, ctx.path_params["id"], level=level)
    return "project_id", find_project(ctx, ctx.path_params["id"], level=level)


def _find_milestone(ctx: Ctx, col: str, owner: sqlite3.Row) -> sqlite3.Row:
    m = ctx.conn.execute(
        f"SELECT * FROM milestones WHERE {col} = ? AND id = ?",
        (owner["id"], to_int(ctx.path_params["milestone_id"], "milestone_id")),
    ).fetchone()
    if m is None:
        raise not_found("Milestone")
    return m


def _ancestor_group_ids(ctx: Ctx, col: str, owner: sqlite3.Row) -> list[int]:
    ns = owner["namespace_id"] if col == "project_id" else owner["parent_id"]
    return [n["id"] for n in ancestors(ctx.conn, ns) if n["kind"] == "group"]


def list_milestones(ctx: Ctx) -> Any:
    col, owner = _owner(ctx)
    where, args = [f"{col} = ?"], [owner["id"]]
    if ctx.bool_("include_ancestors") or ctx.bool_("include_parent_milestones"):
        groups = _ancestor_group_ids(ctx, col, owner)
        if groups:
            where = [f"({where[0]} OR group_id IN ({','.join('?' * len(groups))}))"]
            args += groups
    if col == "group_id" and ctx.bool_("include_descendants"):
        below = [g for g in descendant_ids(ctx.conn, owner["id"]) if g != owner["id"]]
        marks = ",".join("?" * len(below)) or "NULL"
        where = [f"({where[0]} OR group_id IN ({marks}) OR project_id IN (SELECT id FROM "
                 f"projects WHERE namespace_id IN ({marks}, ?)))"]  # fmt: skip
        args += [*below, *below, owner["id"]]
    state = ctx.enum("state", ("active", "closed"))
    if state:
        where.append("state = ?")
        args.append(state)
    title = ctx.str_("title")
    if title:
        where.append("title = ?")
        args.append(title)
    search = ctx.str_("search")
    if search:
        where.append("(title LIKE ? OR description LIKE ?)")
        args += [f"%{search}%"] * 2
    search_title = ctx.str_("search_title")
    if search_title:
        where.append("title LIKE ?")
        args.append(f"%{search_title}%")
    iids = ctx.list_("iids")
    if iids:
        where.append(f"iid IN ({','.join('?' * len(iids))})")
        args += [to_int(i, "iids") for i in iids]
    for name, op in (("updated_after", ">="), ("updated_before", "<=")):
        bound = ctx.datetime_(name)
        if bound is not None:
            where.append(f"updated_at {op} ?")
            args.append(bound)
    day = ctx.date_("containing_date")
    if day:
        where.append(
            "(start_date IS NULL OR start_date <= ?) AND (due_date IS NULL OR due_date >= ?)"
        )
        args += [day, day]
    start, end = ctx.date_("start_date"), ctx.date_("end_date")
    if start and end:  # milestones overlapping [start, end] (MilestonesFinder)
        where.append(
            "(due_date IS NULL OR due_date >= ?) AND (start_date IS NULL OR start_date <= ?)"
        )
        args += [start, end]
    rows = paginate_sql(
        ctx, f"SELECT * FROM milestones WHERE {' AND '.join(where)}", args,
        "due_date IS NULL, due_date ASC, title ASC", {"id": ctx.path_params["id"]},
    )  # fmt: skip
    return [render.milestone_json(ctx, m) for m in rows]


def get_milestone(ctx: Ctx) -> Any:
    col, owner = _owner(ctx)
    return render.milestone_json(ctx, _find_milestone(ctx, col, owner))


def create_milestone(ctx: Ctx) -> Any:
    col, owner = _owner(ctx, REPORTER)
    if ctx.raw("title") is None:
        raise missing("title")
    title = ctx.str_("title") or ""
    if not title.strip():
        raise validation("title", "can't be blank")
    if ctx.conn.execute(
        f"SELECT 1 FROM milestones WHERE {col} = ? AND title = ?", (owner["id"], title)
    ).fetchone():
        raise ApiError(400, {"message": "Milestone already exists"})
    due, start = ctx.date_("due_date"), ctx.date_("start_date")
    if due and start and start > due:
        raise bad_value("start_date")
    iid = ctx.conn.execute(
        f"SELECT COALESCE(MAX(iid), 0) + 1 FROM milestones WHERE {col} = ?", (owner["id"],)
    ).fetchone()[0]
    now = ctx.now()
    mid = ctx.conn.execute(
        f"INSERT INTO milestones ({col}, iid, title, description, due_date, start_date, "
        f"created_at, updated_at) VALUES (?,?,?,?,?,?,?,?)",
        (owner["id"], iid, title, ctx.str_("description"), due, start, now, now),
    ).lastrowid
    ctx.status = 201
    m = ctx.conn.execute("SELECT * FROM milestones WHERE id = ?", (mid,)).fetchone()
    return render.milestone_json(ctx, m)


def update_milestone(ctx: Ctx) -> Any:
    col, owner = _owner(ctx, REPORTER)
    m = _find_milestone(ctx, col, owner)
    keys = ["title", "description", "due_date", "start_date", "state_event"]
    if not any(k in ctx.params for k in keys):
        raise ApiError(
            400,
            {"error": ", ".join(keys) + " are missing, at least one parameter must be provided"},
        )
    updates: dict[str, Any] = {}
    if ctx.has("title"):
        title = ctx.str_("title") or ""
        if not title.strip():
            raise validation("title", "can't be blank")
        updates["title"] = title
    if ctx.has("description"):
        updates["description"] = ctx.str_("description")
    for key in ("due_date", "start_date"):
        if ctx.has(key):
            updates[key] = ctx.date_(key)
    event = ctx.enum("state_event", ("close", "activate"))
    if event:
        updates["state"] = "closed" if event == "close" else "active"
    updates["updated_at"] = ctx.now()
    sets = ", ".join(f"{k} = ?" for k in updates)
    ctx.conn.execute(f"UPDATE milestones SET {sets} WHERE id = ?", [*updates.values(), m["id"]])
    return render.milestone_json(
        ctx, ctx.conn.execute("SELECT * FROM milestones WHERE id = ?", (m["id"],)).fetchone()
    )


def delete_milestone(ctx: Ctx) -> Any:
    col, owner = _owner(ctx, REPORTER)
    m = _find_milestone(ctx, col, owner)
    # Milestones::DestroyService updates each of its issues (Issues::UpdateService).
    ctx.conn.execute(
        "UPDATE issues SET milestone_id = NULL, updated_at = ? WHERE milestone_id = ?",
        (ctx.now(), m["id"]),
    )
    ctx.conn.execute("DELETE FROM milestones WHERE id = ?", (m["id"],))
    ctx.status = 204
    return None


def list_milestone_issues(ctx: Ctx) -> Any:
    """The milestone's issues that the caller can read, oldest first by id."""
    col, owner = _owner(ctx)
    m = _find_milestone(ctx, col, owner)
    rows = ctx.conn.execute(
        "SELECT * FROM issues WHERE milestone_id = ? ORDER BY id", (m["id"],)
    ).fetchall()
    visible = []
    for r in rows:
        proj = render.project_paths(ctx, r["project_id"])[0]
        if project_level(ctx, proj) >= GUEST and can_read_issue(ctx, proj, r):
            visible.append(r)
    page = paginate_list(
        ctx, visible, {"id": ctx.path_params["id"], "milestone_id": ctx.path_params["milestone_id"]}
    )
    return render.issues_json(ctx, page)


def list_milestone_merge_requests(ctx: Ctx) -> Any:
    col, owner = _owner(ctx)
    _find_milestone(ctx, col, owner)
    return paginate_list(ctx, [], {"id": ctx.path_params["id"]})  # the sandbox has no MRs


for _base in ("/projects/:id/milestones", "/groups/:id/milestones"):
    route("GET", _base)(list_milestones)
    route("POST", _base)(create_milestone)
    route("GET", f"{_base}/:milestone_id")(get_milestone)
    route("PUT", f"{_base}/:milestone_id")(update_milestone)
    route("DELETE", f"{_base}/:milestone_id")(delete_milestone)
    route("GET", f"{_base}/:milestone_id/issues")(list_milestone_issues)
    route("GET", f"{_base}/:milestone_id/merge_requests")(list_milestone_merge_requests)
