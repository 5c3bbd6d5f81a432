"""Groups, projects and members."""

from __future__ import annotations

import re
import sqlite3
from typing import Any

from escbot.sandbox import render
from escbot.sandbox.access import (
    GUEST,
    MAINTAINER,
    OWNER,
    descendant_ids,
    find_group,
    find_project,
    find_user,
    group_level,
    project_level,
)
from escbot.sandbox.core import (
    ApiError,
    Ctx,
    at_least_one,
    bad_value,
    forbidden,
    keyset_unavailable,
    missing,
    page_params,
    paginate_list,
    route,
    to_query,
)

_PATH = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
ACCESS_LEVELS = (0, 5, 10, 15, 20, 30, 40, 50)


def _check_path(path: str) -> None:
    if not _PATH.match(path) or path.endswith((".git", ".atom", ".")):
        raise ApiError(
            400,
            {"message": {"path": ["can contain only letters, digits, '_', '-' and '.'. "
                                  "Cannot start with '-', end in '.git' or end in '.atom'"]}},
        )  # fmt: skip


# ---------------------------------------------------------------- groups
@route("POST", "/groups")
def create_group(ctx: Ctx) -> Any:
    need = [n for n in ("name", "path") if not ctx.str_(n)]
    if need:
        raise missing(*need)
    name, path = ctx.str_("name") or "", ctx.str_("path") or ""
    _check_path(path)
    parent_id = ctx.int_("parent_id")
    full = path
    if parent_id:
        parent = find_group(ctx, str(parent_id))
        if group_level(ctx, parent) < MAINTAINER:
            raise forbidden()
        full = f"{parent['full_path']}/{path}"
    elif ctx.conn.execute(
        "SELECT 1 FROM namespaces WHERE full_path = ? COLLATE NOCASE", (full,)
    ).fetchone():
        raise ApiError(400, {"message": 'Failed to save group {:path=>["has already been taken"]}'})
    if ctx.conn.execute(
        "SELECT 1 FROM namespaces WHERE full_path = ? COLLATE NOCASE", (full,)
    ).fetchone():
        raise ApiError(400, {"message": 'Failed to save group {:path=>["has already been taken"]}'})
    visibility = ctx.enum("visibility", ("private", "internal", "public"), "private")
    now = ctx.now()
    gid = ctx.conn.execute(
        "INSERT INTO namespaces (kind, name, path, full_path, parent_id, description, visibility, "
        "created_at, owner_id) VALUES ('group',?,?,?,?,?,?,?,?)",
        (name, path, full, parent_id, ctx.str_("description", ""), visibility, now, ctx.user["id"]),
    ).lastrowid
    ctx.conn.execute(
        "INSERT OR REPLACE INTO members VALUES ('ns', ?, ?, ?, ?, NULL)",
        (gid, ctx.user["id"], OWNER, now),
    )
    ctx.status = 201
    g = ctx.conn.execute("SELECT * FROM namespaces WHERE id = ?", (gid,)).fetchone()
    return render.group_json(ctx, g)


def _visible_groups(ctx: Ctx, rows: list[sqlite3.Row]) -> list[sqlite3.Row]:
    if ctx.is_admin:
        return rows
    out = []
    for g in rows:
        try:
            find_group(ctx, str(g["id"]))
        except ApiError:
            continue
        out.append(g)
    return out


def _group_list(ctx: Ctx, rows: list[sqlite3.Row], defaults: dict[str, Any]) -> Any:
    search = ctx.str_("search")
    if search:
        s = search.lower()
        rows = [g for g in rows if s in g["name"].lower() or s in g["path"].lower()]
    order = ctx.enum("order_by", ("name", "path", "id", "similarity"), "name")
    sort = ctx.enum("sort", ("asc", "desc"), "asc")
    key = "full_path" if order in ("name", "similarity") else order
    rows = sorted(rows, key=lambda g: (g[key], g["id"]), reverse=sort == "desc")
    rows = _visible_groups(ctx, rows)
    return [render.group_json(ctx, g) for g in paginate_list(ctx, rows, defaults)]


@route("GET", "/groups")
def list_groups(ctx: Ctx) -> Any:
    rows = ctx.conn.execute("SELECT * FROM namespaces WHERE kind = 'group'").fetchall()
    if ctx.bool_("top_level_only"):
        rows = [g for g in rows if g["parent_id"] is None]
    return _group_list(ctx, rows, {"order_by": "name", "sort": "asc"})


@route("GET", "/groups/:id")
def get_group(ctx: Ctx) -> Any:
    g = find_group(ctx, ctx.path_params["id"])
    out = render.group_json(ctx, g)
    out["shared_with_groups"] = []
    if ctx.bool_("with_projects", True):
        rows = ctx.conn.execute(
            "SELECT * FROM projects WHERE namespace_id = ? ORDER BY id", (g["id"],)
        ).fetchall()
        out["projects"] = [
            render.project_json(ctx, p) for p in rows if project_level(ctx, p) >= GUEST
        ]
        out["shared_projects"] = []
    return out


@route("GET", "/groups/:id/subgroups")
def list_subgroups(ctx: Ctx) -> Any:
    g = find_group(ctx, ctx.path_params["id"])
    rows = ctx.conn.execute(
        "SELECT * FROM namespaces WHERE kind = 'group' AND parent_id = ?", (g["id"],)
    ).fetchall()
    return _group_list(ctx, rows, {"id": ctx.path_params["id"], "order_by": "name", "sort": "asc"})


@route("GET", "/groups/:id/descendant_groups")
def list_descendants(ctx: Ctx) -> Any:
    g = find_group(ctx, ctx.path_params["id"])
    ids = [i for i in descendant_ids(ctx.conn, g["id"]) if i != g["id"]]
    marks = ",".join("?" * len(ids)) or "NULL"
    rows = ctx.conn.execute(f"SELECT * FROM namespaces WHERE id IN ({marks})", ids).fetchall()
    return _group_list(ctx, rows, {"id": ctx.path_params["id"], "order_by": "name", "sort": "asc"})


@route("GET", "/groups/:id/projects")
def list_group_projects(ctx: Ctx) -> Any:
    g = find_group(ctx, ctx.path_params["id"])
    ns_ids = descendant_ids(ctx.conn, g["id"]) if ctx.bool_("include_subgroups") else [g["id"]]
    marks = ",".join("?" * len(ns_ids))
    rows = ctx.conn.execute(
        f"SELECT * FROM projects WHERE namespace_id IN ({marks})", ns_ids
    ).fetchall()
    return _project_list(ctx, rows, {"id": ctx.path_params["id"]})


# ---------------------------------------------------------------- members
def _member_json(ctx: Ctx, u: sqlite3.Row, m: sqlite3.Row) -> dict[str, Any]:
    out = render.user_basic(ctx, u) or {}
    out.update(
        {
            "access_level": m["access_level"],
            "created_at": m["created_at"],
            "created_by": None,
            "expires_at": m["expires_at"],
            "membership_state": "active",
        }
    )
    return out


def _add_member(ctx: Ctx, source: str, source_id: int) -> Any:
    need = [n for n in ("user_id", "access_level") if ctx.raw(n) in (None, "")]
    if need:
        raise missing(*need)
    level = ctx.int_("access_level")
    if level not in ACCESS_LEVELS:
        raise bad_value("access_level")
    u = find_user(ctx.conn, ctx.str_("user_id") or "")
    if u is None:
        raise ApiError(404, {"message": "404 User Not Found"})
    if ctx.conn.execute(
        "SELECT 1 FROM members WHERE source_type = ? AND source_id = ? AND user_id = ?",
        (source, source_id, u["id"]),
    ).fetchone():
        raise ApiError(409, {"message": "Member already exists"})
    ctx.conn.execute(
        "INSERT INTO members VALUES (?,?,?,?,?,?)",
        (source, source_id, u["id"], level, ctx.now(), ctx.date_("expires_at")),
    )
    m = ctx.conn.execute(
        "SELECT * FROM members WHERE source_type = ? AND source_id = ? AND user_id = ?",
        (source, source_id, u["id"]),
    ).fetchone()
    ctx.status = 201
    return _member_json(ctx, u, m)


def _list_members(ctx: Ctx, sources: list[tuple[str, int]]) -> Any:
    best: dict[int, sqlite3.Row] = {}
    for source, sid in sources:
        for m in ctx.conn.execute(
            "SELECT * FROM members WHERE source_type = ? AND source_id = ?", (source, sid)
        ):
            cur = best.get(m["user_id"])
            if cur is None or m["access_level"] > cur["access_level"]:
                best[m["user_id"]] = m
    users = render.users_by_id(ctx, set(best))
    items = [_member_json(ctx, users[uid], best[uid]) for uid in sorted(best) if uid in users]
    query = ctx.str_("query")
    if query:
        q = query.lower()
        items = [i for i in items if q in i["username"].lower() or q in i["name"].lower()]
    return paginate_list(ctx, items, {"id": ctx.path_params["id"]})


def _project_sources(ctx: Ctx, p: sqlite3.Row) -> list[tuple[str, int]]:
    from escbot.sandbox.access import ancestors

    out: list[tuple[str, int]] = [("project", p["id"])]
    for ns in ancestors(ctx.conn, p["namespace_id"]):
        if ns["kind"] == "group":
            out.append(("ns", ns["id"]))
    return out


@route("GET", "/groups/:id/members")
def list_group_members(ctx: Ctx) -> Any:
    g = find_group(ctx, ctx.path_params["id"])
    return _list_members(ctx, [("ns", g["id"])])


@route("GET", "/groups/:id/members/all")
def list_group_members_all(ctx: Ctx) -> Any:
    from escbot.sandbox.access import ancestors

    g = find_group(ctx, ctx.path_params["id"])
    return _list_members(ctx, [("ns", n["id"]) for n in ancestors(ctx.conn, g["id"])])


@route("POST", "/groups/:id/members")
def add_group_member(ctx: Ctx) -> Any:
    g = find_group(ctx, ctx.path_params["id"])
    if group_level(ctx, g) < OWNER:
        raise forbidden()
    return _add_member(ctx, "ns", g["id"])


@route("GET", "/projects/:id/members")
def list_project_members(ctx: Ctx) -> Any:
    p = find_project(ctx, ctx.path_params["id"])
    return _list_members(ctx, [("project", p["id"])])


@route("GET", "/projects/:id/members/all")
def list_project_members_all(ctx: Ctx) -> Any:
    p = find_project(ctx, ctx.path_params["id"])
    return _list_members(ctx, _project_sources(ctx, p))


@route("POST", "/projects/:id/members")
def add_project_member(ctx: Ctx) -> Any:
    p = find_project(ctx, ctx.path_params["id"], level=MAINTAINER)
    return _add_member(ctx, "project", p["id"])


# ---------------------------------------------------------------- projects
def _projects_keyset(ctx: Ctx, rows: list[sqlite3.Row], sort: str) -> list[sqlite3.Row]:
    """GET /projects keyset: order_by=id only; the next Link carries id_after/id_before."""
    if ctx.str_("order_by") != "id":
        raise keyset_unavailable()
    _, per_page = page_params(ctx)
    after, before = ctx.int_("id_after"), ctx.int_("id_before")
    if after is not None:
        rows = [p for p in rows if p["id"] > after]
    if before is not None:
        rows = [p for p in rows if p["id"] < before]
    page = rows[:per_page]
    if len(rows) > per_page:
        key = "id_after" if sort == "asc" else "id_before"
        params = {**ctx.query, "per_page": per_page, key: page[-1]["id"]}
        params.pop("page", None)
        params.pop("id_after" if key == "id_before" else "id_before", None)
        ctx.headers["Link"] = f'<{ctx.base}{ctx.path}?{to_query(params)}>; rel="next"'
    return page


def _project_list(
    ctx: Ctx, rows: list[sqlite3.Row], defaults: dict[str, Any], *, keyset_ok: bool = False
) -> Any:
    rows = [p for p in rows if project_level(ctx, p) >= GUEST]
    if ctx.bool_("membership") and ctx.is_admin:
        rows = [p for p in rows if _is_member(ctx, p)]
    if ctx.bool_("owned"):
        rows = [p for p in rows if p["creator_id"] == ctx.user["id"]]
    search = ctx.str_("search")
    if search:
        s = search.lower()
        rows = [p for p in rows if s in p["name"].lower() or s in p["path"].lower()]
    order = ctx.enum(
        "order_by",
        ("id", "name", "path", "created_at", "updated_at", "last_activity_at", "similarity",
         "star_count"),
        "created_at",
    )  # fmt: skip
    sort = ctx.enum("sort", ("asc", "desc"), "desc")
    key = {"updated_at": "last_activity_at", "similarity": "name", "star_count": "id"}.get(
        order or "created_at", order or "created_at"
    )
    rows = sorted(rows, key=lambda p: (p[key], p["id"]), reverse=sort == "desc")
    simple = bool(ctx.bool_("simple"))
    if ctx.str_("pagination") == "keyset" and keyset_ok:
        return [render.project_json(ctx, p, simple=simple)
                for p in _projects_keyset(ctx, rows, sort or "desc")]  # fmt: skip
    page = paginate_list(ctx, rows, {"order_by": order, "sort": sort, **defaults})
    return [render.project_json(ctx, p, simple=simple) for p in page]


def _is_member(ctx: Ctx, p: sqlite3.Row) -> bool:
    user = dict(ctx.user)
    user["is_admin"] = 0
    return project_level(ctx, p, user) >= GUEST  # type: ignore[arg-type]


@route("GET", "/projects")
def list_projects(ctx: Ctx) -> Any:
    rows = ctx.conn.execute("SELECT * FROM projects").fetchall()
    return _project_list(ctx, rows, {}, keyset_ok=True)


@route("GET", "/projects/:id")
def get_project(ctx: Ctx) -> Any:
    p = find_project(ctx, ctx.path_params["id"])
    out = render.project_json(ctx, p)
    # Direct project membership, and the best membership in the groups above it.
    uid = ctx.user["id"]
    direct = ctx.conn.execute(
        "SELECT access_level FROM members WHERE source_type = 'project' AND source_id = ? "
        "AND user_id = ?",
        (p["id"], uid),
    ).fetchone()
    from escbot.sandbox.access import ancestors

    group_ids = [n["id"] for n in ancestors(ctx.conn, p["namespace_id"]) if n["kind"] == "group"]
    group_level_ = 0
    for gid in group_ids:
        row = ctx.conn.execute(
            "SELECT access_level FROM members WHERE source_type = 'ns' AND source_id = ? "
            "AND user_id = ?",
            (gid, uid),
        ).fetchone()
        group_level_ = max(group_level_, row[0] if row else 0)
    out["permissions"] = {
        "project_access": {"access_level": direct[0], "notification_level": 3} if direct else None,
        "group_access": {"access_level": group_level_, "notification_level": 3}
        if group_level_
        else None,
    }
    return out


@route("POST", "/projects")
def create_project(ctx: Ctx) -> Any:
    name, path = ctx.str_("name"), ctx.str_("path")
    if not name and not path:
        raise at_least_one(["name", "path"])
    path = path or re.sub(r"[^A-Za-z0-9_.\-]+", "-", (name or "").strip()).strip("-").lower()
    name = name or path
    _check_path(path)
    ns_ident = ctx.str_("namespace_id") or ctx.str_("namespace")
    if ns_ident:
        if ns_ident.isdigit():
            ns = ctx.conn.execute(
                "SELECT * FROM namespaces WHERE id = ?", (int(ns_ident),)
            ).fetchone()
        else:
            ns = ctx.conn.execute(
                "SELECT * FROM namespaces WHERE full_path = ? COLLATE NOCASE", (ns_ident,)
            ).fetchone()
        if ns is None:
            raise ApiError(404, {"message": "404 Namespace Not Found"})
        if ns["kind"] == "group":
            if group_level(ctx, ns) < MAINTAINER:
                raise (
                    ApiError(403, {"message": "403 Forbidden - Namespace is not valid"})
                    if group_level(ctx, ns)
                    else ApiError(404, {"message": "404 Namespace Not Found"})
                )
        elif ns["owner_id"] != ctx.user["id"] and not ctx.is_admin:
            raise forbidden()
    else:
        ns = ctx.conn.execute(
            "SELECT * FROM namespaces WHERE id = ?", (ctx.user["namespace_id"],)
        ).fetchone()
    dup = ctx.conn.execute(
        "SELECT name, path FROM projects WHERE namespace_id = ? AND (path = ? COLLATE NOCASE "
        "OR name = ?)",
        (ns["id"], path, name),
    ).fetchall()
    if dup:
        errs: dict[str, list[str]] = {}
        if any(d["name"] == name for d in dup):
            errs["name"] = ["has already been taken"]
        if any(d["path"].lower() == path.lower() for d in dup):
            errs["path"] = ["has already been taken"]
        raise ApiError(400, {"message": errs})
    now = ctx.now()
    visibility = ctx.enum("visibility", ("private", "internal", "public"), "private")
    pid = ctx.conn.execute(
        "INSERT INTO projects (name, path, namespace_id, description, visibility, creator_id, "
        "created_at, last_activity_at, default_branch) VALUES (?,?,?,?,?,?,?,?,?)",
        (name, path, ns["id"], ctx.str_("description"), visibility, ctx.user["id"], now, now,
         ctx.str_("default_branch", "main")),
    ).lastrowid  # fmt: skip
    ctx.conn.execute(
        "INSERT INTO members VALUES ('project', ?, ?, ?, ?, NULL)",
        (pid, ctx.user["id"], OWNER, now),
    )
    ctx.conn.execute(
        "INSERT INTO events (project_id, author_id, action_name, target_type, created_at) "
        "VALUES (?, ?, 'created', NULL, ?)",
        (pid, ctx.user["id"], now),
    )
    ctx.status = 201
    p = ctx.conn.execute("SELECT * FROM projects WHERE id = ?", (pid,)).fetchone()
    return render.project_json(ctx, p)
