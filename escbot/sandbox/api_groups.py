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
    ancestors,
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
    comma_list,
    forbidden,
    keyset_unavailable,
    missing,
    not_found,
    page_params,
    paginate_list,
    route,
    to_int,
    to_query,
)
from escbot.sandbox.domain import delete_project_rows, store_settings

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
    store_settings(ctx, "namespaces", g, render.GROUP_SETTINGS)
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


# Documented for project lists (projects.md, groups.md) but not implemented here.
PROJECT_LIST_UNSUPPORTED = (
    "statistics", "with_custom_attributes", "custom_attributes", "repository_checksum_failed",
    "wiki_checksum_failed", "repository_storage", "with_programming_language", "topic_id",
    "with_security_reports",
)  # fmt: skip


# Documented for the group lists (groups.md) but not implemented here.
GROUP_LIST_UNSUPPORTED = ("statistics", "with_custom_attributes", "custom_attributes",
                          "repository_storage")  # fmt: skip


def _group_list(ctx: Ctx, rows: list[sqlite3.Row], defaults: dict[str, Any]) -> Any:
    """GroupsFinder's filters over candidate groups, then visibility and paging."""
    skip = {to_int(i, "skip_groups") for i in comma_list(ctx.raw("skip_groups"), "skip_groups")}
    rows = [g for g in rows if g["id"] not in skip]
    if ctx.bool_("top_level_only"):
        rows = [g for g in rows if g["parent_id"] is None]
    visibility = ctx.enum("visibility", ("private", "internal", "public"))
    if visibility:
        rows = [g for g in rows if g["visibility"] == visibility]
    search = ctx.str_("search")
    if search:
        s = search.lower()
        rows = [g for g in rows if s in g["name"].lower() or s in g["path"].lower()]
    # Nothing in the sandbox is archived or marked for deletion.
    if ctx.bool_("archived") or ctx.bool_("active") is False or ctx.str_("marked_for_deletion_on"):
        rows = []
    rows = _visible_groups(ctx, rows)
    min_level = ctx.int_("min_access_level")
    if ctx.bool_("owned"):
        min_level = OWNER
    # all_available defaults to true for admins; otherwise only groups one is a member of.
    if min_level is not None or not ctx.bool_("all_available", ctx.is_admin):
        floor = min_level or GUEST
        rows = [g for g in rows if _own_group_level(ctx, g) >= floor]
    order = ctx.enum("order_by", ("name", "path", "id", "similarity"), "name")
    sort = ctx.enum("sort", ("asc", "desc"), "asc")
    key = "full_path" if order in ("name", "similarity") else order or "name"
    rows = sorted(rows, key=lambda g: (g[key], g["id"]), reverse=sort == "desc")
    return [render.group_json(ctx, g) for g in paginate_list(ctx, rows, defaults)]


def _own_group_level(ctx: Ctx, g: sqlite3.Row) -> int:
    """The caller's membership level in a group, ignoring admin rights."""
    ids = [n["id"] for n in ancestors(ctx.conn, g["id"])]
    marks = ",".join("?" * len(ids))
    row = ctx.conn.execute(
        f"SELECT MAX(access_level) FROM members WHERE source_type = 'ns' AND user_id = ? "
        f"AND source_id IN ({marks})",
        [ctx.user["id"], *ids],
    ).fetchone()
    return row[0] or 0


@route("GET", "/groups", unsupported=GROUP_LIST_UNSUPPORTED)
def list_groups(ctx: Ctx) -> Any:
    rows = ctx.conn.execute("SELECT * FROM namespaces WHERE kind = 'group'").fetchall()
    return _group_list(ctx, rows, {"order_by": "name", "sort": "asc"})


@route("GET", "/groups/:id", unsupported=("with_custom_attributes",))
def get_group(ctx: Ctx) -> Any:
    g = find_group(ctx, ctx.path_params["id"])
    out = render.group_json(ctx, g)
    out["shared_with_groups"] = shared_with_groups(ctx, g["id"])
    if ctx.bool_("with_projects", True):
        rows = ctx.conn.execute(
            "SELECT * FROM projects WHERE namespace_id = ? ORDER BY id", (g["id"],)
        ).fetchall()
        out["projects"] = [
            render.project_json(ctx, p) for p in rows if project_level(ctx, p) >= GUEST
        ]
        out["shared_projects"] = []
    return out


@route("GET", "/groups/:id/subgroups", unsupported=GROUP_LIST_UNSUPPORTED)
def list_subgroups(ctx: Ctx) -> Any:
    g = find_group(ctx, ctx.path_params["id"])
    rows = ctx.conn.execute(
        "SELECT * FROM namespaces WHERE kind = 'group' AND parent_id = ?", (g["id"],)
    ).fetchall()
    return _group_list(ctx, rows, {"id": ctx.path_params["id"], "order_by": "name", "sort": "asc"})


@route("GET", "/groups/:id/descendant_groups", unsupported=GROUP_LIST_UNSUPPORTED)
def list_descendants(ctx: Ctx) -> Any:
    g = find_group(ctx, ctx.path_params["id"])
    ids = [i for i in descendant_ids(ctx.conn, g["id"]) if i != g["id"]]
    marks = ",".join("?" * len(ids)) or "NULL"
    rows = ctx.conn.execute(f"SELECT * FROM namespaces WHERE id IN ({marks})", ids).fetchall()
    return _group_list(ctx, rows, {"id": ctx.path_params["id"], "order_by": "name", "sort": "asc"})


@route("GET", "/groups/:id/projects", unsupported=PROJECT_LIST_UNSUPPORTED)
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
    ident = ctx.str_("user_id") or ctx.str_("username")  # either names the user
    if not ident:
        raise ApiError(400, {"error": "user_id, username are missing, exactly one parameter "
                                      "must be provided"})  # fmt: skip
    if ctx.raw("access_level") in (None, ""):
        raise missing("access_level")
    level = ctx.int_("access_level")
    if level not in ACCESS_LEVELS:
        raise bad_value("access_level")
    u = find_user(ctx.conn, ident)
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


# Documented for members (members.md) but not implemented here.
MEMBER_LIST_UNSUPPORTED = ("show_seat_info", "with_saml_identity")
MEMBER_WRITE_UNSUPPORTED = ("member_role_id",)


def _list_members(ctx: Ctx, sources: list[tuple[str, int]]) -> Any:
    best: dict[int, sqlite3.Row] = {}
    for source, sid in sources:
        for m in ctx.conn.execute(
            "SELECT * FROM members WHERE source_type = ? AND source_id = ?", (source, sid)
        ):
            cur = best.get(m["user_id"])
            if cur is None or m["access_level"] > cur["access_level"]:
                best[m["user_id"]] = m
    only = {to_int(i, "user_ids") for i in comma_list(ctx.raw("user_ids"), "user_ids")}
    skip = {to_int(i, "skip_users") for i in comma_list(ctx.raw("skip_users"), "skip_users")}
    wanted = {uid for uid in best if (not only or uid in only) and uid not in skip}
    # Every sandbox membership is active; none awaits approval.
    if ctx.enum("state", ("awaiting", "active")) == "awaiting":
        wanted = set()
    users = render.users_by_id(ctx, wanted)
    items = [_member_json(ctx, users[uid], best[uid]) for uid in sorted(wanted) if uid in users]
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


@route("GET", "/groups/:id/members", unsupported=MEMBER_LIST_UNSUPPORTED)
def list_group_members(ctx: Ctx) -> Any:
    g = find_group(ctx, ctx.path_params["id"])
    return _list_members(ctx, [("ns", g["id"])])


@route("GET", "/groups/:id/members/all", unsupported=MEMBER_LIST_UNSUPPORTED)
def list_group_members_all(ctx: Ctx) -> Any:
    from escbot.sandbox.access import ancestors

    g = find_group(ctx, ctx.path_params["id"])
    return _list_members(ctx, [("ns", n["id"]) for n in ancestors(ctx.conn, g["id"])])


@route("POST", "/groups/:id/members", unsupported=MEMBER_WRITE_UNSUPPORTED)
def add_group_member(ctx: Ctx) -> Any:
    g = find_group(ctx, ctx.path_params["id"])
    if group_level(ctx, g) < OWNER:
        raise forbidden()
    return _add_member(ctx, "ns", g["id"])


@route("GET", "/projects/:id/members", unsupported=MEMBER_LIST_UNSUPPORTED)
def list_project_members(ctx: Ctx) -> Any:
    p = find_project(ctx, ctx.path_params["id"])
    return _list_members(ctx, [("project", p["id"])])


@route("GET", "/projects/:id/members/all", unsupported=MEMBER_LIST_UNSUPPORTED)
def list_project_members_all(ctx: Ctx) -> Any:
    p = find_project(ctx, ctx.path_params["id"])
    return _list_members(ctx, _project_sources(ctx, p))


@route("POST", "/projects/:id/members", unsupported=MEMBER_WRITE_UNSUPPORTED)
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
    rows = [p for p in _filter_projects(ctx, rows) if project_level(ctx, p) >= GUEST]
    if ctx.bool_("membership") and ctx.is_admin:
        rows = [p for p in rows if _own_project_level(ctx, p) >= GUEST]
    min_level = ctx.int_("min_access_level")
    if ctx.bool_("owned"):
        min_level = OWNER
    if min_level is not None:
        rows = [p for p in rows if _own_project_level(ctx, p) >= min_level]
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


def _own_project_level(ctx: Ctx, p: sqlite3.Row) -> int:
    """The caller's membership level in a project, ignoring admin rights."""
    user = dict(ctx.user)
    user["is_admin"] = 0
    return project_level(ctx, p, user)  # type: ignore[arg-type]


# Documented project-list filters that every sandbox project passes.
PROJECT_FILTERS_ALWAYS_MET = ("include_hidden", "include_pending_delete", "with_shared",
                              "with_issues_enabled", "with_merge_requests_enabled")  # fmt: skip


def _filter_projects(ctx: Ctx, rows: list[sqlite3.Row]) -> list[sqlite3.Row]:
    """ProjectsFinder's row filters. Sandbox projects are never archived, hidden, imported,
    shared or pending deletion, and always have issues and MRs on."""
    if (
        ctx.bool_("archived") or ctx.bool_("active") is False or ctx.bool_("imported")
        or ctx.str_("marked_for_deletion_on")
    ):  # fmt: skip
        return []
    topics = comma_list(ctx.raw("topic"), "topic")
    if topics:  # projects having all the topics
        wanted = set(topics)
        rows = [
            p for p in rows if wanted <= set(render.settings(p, render.PROJECT_SETTINGS)["topics"])
        ]
    if ctx.bool_("starred"):
        mine = ctx.conn.execute(
            "SELECT project_id FROM project_stars WHERE user_id = ?", (ctx.user["id"],)
        )
        starred = {r[0] for r in mine}
        rows = [p for p in rows if p["id"] in starred]
    visibility = ctx.enum("visibility", ("private", "internal", "public"))
    if visibility:
        rows = [p for p in rows if p["visibility"] == visibility]
    search = ctx.str_("search")
    if search:
        s = search.lower()
        with_ns = bool(ctx.bool_("search_namespaces"))

        def hit(p: sqlite3.Row) -> bool:
            names = [p["name"], p["path"]]
            if with_ns:
                names.append(render.namespace_info(ctx, p["namespace_id"])["full_path"])
            return any(s in n.lower() for n in names)

        rows = [p for p in rows if hit(p)]
    for name, op in (("last_activity_after", ">="), ("last_activity_before", "<="),
                     ("updated_after", ">="), ("updated_before", "<=")):  # fmt: skip
        bound = ctx.datetime_(name)
        if bound is not None:
            if op == ">=":
                rows = [p for p in rows if p["last_activity_at"] >= bound]
            else:
                rows = [p for p in rows if p["last_activity_at"] <= bound]
    after, before = ctx.int_("id_after"), ctx.int_("id_before")
    if ctx.str_("pagination") != "keyset":  # keyset reads them as its cursor
        rows = [p for p in rows if (after is None or p["id"] > after)
                and (before is None or p["id"] < before)]  # fmt: skip
    return rows  # every sandbox project passes PROJECT_FILTERS_ALWAYS_MET


@route("GET", "/projects", unsupported=PROJECT_LIST_UNSUPPORTED)
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
    store_settings(ctx, "projects", p, render.PROJECT_SETTINGS)
    p = ctx.conn.execute("SELECT * FROM projects WHERE id = ?", (pid,)).fetchone()
    return render.project_json(ctx, p)


# ---------------------------------------------------------------- one member
def _member_row(ctx: Ctx, source: str, source_id: int) -> tuple[sqlite3.Row, sqlite3.Row]:
    u = find_user(ctx.conn, ctx.path_params["user_id"])
    m = (
        ctx.conn.execute(
            "SELECT * FROM members WHERE source_type = ? AND source_id = ? AND user_id = ?",
            (source, source_id, u["id"]),
        ).fetchone()
        if u is not None
        else None
    )
    if u is None or m is None:
        raise ApiError(404, {"message": "404 Member Not Found"})
    return u, m


def _best_member(ctx: Ctx, sources: list[tuple[str, int]]) -> Any:
    for source, sid in sources:
        try:
            u, m = _member_row(ctx, source, sid)
        except ApiError:
            continue
        return _member_json(ctx, u, m)
    raise ApiError(404, {"message": "404 Member Not Found"})


def _update_member(ctx: Ctx, source: str, source_id: int) -> Any:
    u, m = _member_row(ctx, source, source_id)
    if ctx.raw("access_level") in (None, ""):
        raise missing("access_level")
    level = ctx.int_("access_level")
    if level not in ACCESS_LEVELS:
        raise bad_value("access_level")
    expires = ctx.date_("expires_at") if ctx.has("expires_at") else m["expires_at"]
    ctx.conn.execute(
        "UPDATE members SET access_level = ?, expires_at = ? WHERE source_type = ? "
        "AND source_id = ? AND user_id = ?",
        (level, expires, source, source_id, u["id"]),
    )
    return _member_json(ctx, u, _member_row(ctx, source, source_id)[1])


def _remove_member(ctx: Ctx, source: str, source_id: int) -> None:
    u, _ = _member_row(ctx, source, source_id)
    if source == "ns" and u["id"] != ctx.user["id"]:
        owners = ctx.conn.execute(
            "SELECT COUNT(*) FROM members WHERE source_type = 'ns' AND source_id = ? "
            "AND access_level = ? AND user_id != ?",
            (source_id, OWNER, u["id"]),
        ).fetchone()[0]
        if not owners:
            raise forbidden()  # a group keeps at least one owner
    ctx.conn.execute(
        "DELETE FROM members WHERE source_type = ? AND source_id = ? AND user_id = ?",
        (source, source_id, u["id"]),
    )
    groups = descendant_ids(ctx.conn, source_id) if source == "ns" else []
    if groups and not ctx.bool_("skip_subresources", False):  # Members::DestroyService
        marks = ",".join("?" * len(groups))
        ctx.conn.execute(
            f"DELETE FROM members WHERE user_id = ? AND ((source_type = 'ns' AND source_id IN "
            f"({marks})) OR (source_type = 'project' AND source_id IN (SELECT id FROM projects "
            f"WHERE namespace_id IN ({marks}))))",
            [u["id"], *groups, *groups],
        )
    if ctx.bool_("unassign_issuables", False):
        where = (
            "project_id = ?" if source == "project"
            else f"project_id IN (SELECT id FROM projects WHERE namespace_id IN "
                 f"({','.join('?' * len(groups))}))"
        )  # fmt: skip
        ctx.conn.execute(
            f"DELETE FROM issue_assignees WHERE user_id = ? AND issue_id IN "
            f"(SELECT id FROM issues WHERE {where})",
            [u["id"], *([source_id] if source == "project" else groups)],
        )
    ctx.status = 204


@route("GET", "/groups/:id/members/:user_id")
def get_group_member(ctx: Ctx) -> Any:
    g = find_group(ctx, ctx.path_params["id"])
    return _best_member(ctx, [("ns", g["id"])])


@route("GET", "/groups/:id/members/all/:user_id")
def get_group_member_all(ctx: Ctx) -> Any:
    g = find_group(ctx, ctx.path_params["id"])
    return _best_member(ctx, [("ns", n["id"]) for n in ancestors(ctx.conn, g["id"])])


@route("PUT", "/groups/:id/members/:user_id", unsupported=MEMBER_WRITE_UNSUPPORTED)
def update_group_member(ctx: Ctx) -> Any:
    g = find_group(ctx, ctx.path_params["id"], level=OWNER)
    return _update_member(ctx, "ns", g["id"])


@route("DELETE", "/groups/:id/members/:user_id")
def remove_group_member(ctx: Ctx) -> Any:
    g = find_group(ctx, ctx.path_params["id"])
    if group_level(ctx, g) < OWNER and ctx.path_params["user_id"] != str(ctx.user["id"]):
        raise forbidden()
    _remove_member(ctx, "ns", g["id"])
    return None


@route("GET", "/projects/:id/members/:user_id")
def get_project_member(ctx: Ctx) -> Any:
    p = find_project(ctx, ctx.path_params["id"])
    return _best_member(ctx, [("project", p["id"])])


@route("GET", "/projects/:id/members/all/:user_id")
def get_project_member_all(ctx: Ctx) -> Any:
    p = find_project(ctx, ctx.path_params["id"])
    return _best_member(ctx, _project_sources(ctx, p))


@route("PUT", "/projects/:id/members/:user_id", unsupported=MEMBER_WRITE_UNSUPPORTED)
def update_project_member(ctx: Ctx) -> Any:
    p = find_project(ctx, ctx.path_params["id"], level=MAINTAINER)
    return _update_member(ctx, "project", p["id"])


@route("DELETE", "/projects/:id/members/:user_id")
def remove_project_member(ctx: Ctx) -> Any:
    p = find_project(ctx, ctx.path_params["id"])
    if project_level(ctx, p) < MAINTAINER and ctx.path_params["user_id"] != str(ctx.user["id"]):
        raise forbidden()
    _remove_member(ctx, "project", p["id"])
    return None


@route("GET", "/users/:user_id/memberships")
def list_memberships(ctx: Ctx) -> Any:
    """Admin only: the user's direct memberships of projects and groups."""
    if not ctx.is_admin:
        raise forbidden()
    u = find_user(ctx.conn, ctx.path_params["user_id"])
    if u is None:
        raise not_found("User")
    kind = ctx.enum("type", ("Project", "Namespace"))
    items = []
    for m in ctx.conn.execute(
        "SELECT * FROM members WHERE user_id = ? ORDER BY created_at, source_id", (u["id"],)
    ):
        source_type = "Project" if m["source_type"] == "project" else "Namespace"
        if kind and kind != source_type:
            continue
        table = "projects" if source_type == "Project" else "namespaces"
        src = ctx.conn.execute(f"SELECT name FROM {table} WHERE id = ?", (m["source_id"],))
        items.append(
            {"source_id": m["source_id"], "source_name": src.fetchone()[0],
             "source_type": source_type, "access_level": m["access_level"]}
        )  # fmt: skip
    return paginate_list(ctx, items, {"user_id": ctx.path_params["user_id"]})


# ---------------------------------------------------------------- lifecycle writes
ACCEPTED = {"message": "202 Accepted"}


@route("PUT", "/groups/:id")
def update_group(ctx: Ctx) -> Any:
    g = find_group(ctx, ctx.path_params["id"], level=OWNER)
    updates: dict[str, Any] = {}
    if ctx.has("name"):
        updates["name"] = ctx.str_("name") or g["name"]
    if ctx.has("description"):
        updates["description"] = ctx.str_("description") or ""
    if ctx.has("visibility"):
        updates["visibility"] = ctx.enum("visibility", ("private", "internal", "public"))
    if ctx.has("path") and ctx.str_("path") != g["path"]:
        path = ctx.str_("path") or ""
        _check_path(path)
        parent = g["full_path"].rpartition("/")[0]
        updates["path"] = path
        _rename_namespace(ctx, g, f"{parent}/{path}" if parent else path)
    if updates:
        sets = ", ".join(f"{k} = ?" for k in updates)
        ctx.conn.execute(f"UPDATE namespaces SET {sets} WHERE id = ?", [*updates.values(), g["id"]])
    store_settings(ctx, "namespaces", g, render.GROUP_SETTINGS)
    return render.group_json(
        ctx, ctx.conn.execute("SELECT * FROM namespaces WHERE id = ?", (g["id"],)).fetchone()
    )


def _rename_namespace(ctx: Ctx, ns: sqlite3.Row, full: str) -> None:
    if ctx.conn.execute(
        "SELECT 1 FROM namespaces WHERE full_path = ? COLLATE NOCASE AND id != ?", (full, ns["id"])
    ).fetchone():
        raise ApiError(400, {"message": {"path": ["has already been taken"]}})
    old = ns["full_path"]
    for d in descendant_ids(ctx.conn, ns["id"]):
        row = ctx.conn.execute("SELECT full_path FROM namespaces WHERE id = ?", (d,)).fetchone()
        ctx.conn.execute(
            "UPDATE namespaces SET full_path = ? WHERE id = ?", (full + row[0][len(old) :], d)
        )


@route("DELETE", "/groups/:id")
def delete_group(ctx: Ctx) -> Any:
    g = find_group(ctx, ctx.path_params["id"], level=OWNER)
    ns_ids = descendant_ids(ctx.conn, g["id"])
    marks = ",".join("?" * len(ns_ids))
    for (pid,) in ctx.conn.execute(
        f"SELECT id FROM projects WHERE namespace_id IN ({marks})", ns_ids
    ).fetchall():
        delete_project_rows(ctx.conn, pid)
    for where in ("labels WHERE group_id", "milestones WHERE group_id",
                  "members WHERE source_type = 'ns' AND source_id"):  # fmt: skip
        ctx.conn.execute(f"DELETE FROM {where} IN ({marks})", ns_ids)
    ctx.conn.execute(f"DELETE FROM namespaces WHERE id IN ({marks})", ns_ids)
    ctx.status = 202
    return ACCEPTED


@route("PUT", "/projects/:id")
def update_project(ctx: Ctx) -> Any:
    p = find_project(ctx, ctx.path_params["id"], level=MAINTAINER)
    updates: dict[str, Any] = {}
    for key in ("name", "description", "default_branch"):
        if ctx.has(key):
            updates[key] = ctx.str_(key)
    if ctx.has("visibility"):
        updates["visibility"] = ctx.enum("visibility", ("private", "internal", "public"))
    if ctx.has("path"):
        path = ctx.str_("path") or ""
        _check_path(path)
        if ctx.conn.execute(
            "SELECT 1 FROM projects WHERE namespace_id = ? AND path = ? COLLATE NOCASE AND id != ?",
            (p["namespace_id"], path, p["id"]),
        ).fetchone():
            raise ApiError(400, {"message": {"path": ["has already been taken"]}})
        updates["path"] = path
    if updates:
        updates["last_activity_at"] = ctx.now()
        sets = ", ".join(f"{k} = ?" for k in updates)
        ctx.conn.execute(f"UPDATE projects SET {sets} WHERE id = ?", [*updates.values(), p["id"]])
    store_settings(ctx, "projects", p, render.PROJECT_SETTINGS)
    return render.project_json(
        ctx, ctx.conn.execute("SELECT * FROM projects WHERE id = ?", (p["id"],)).fetchone()
    )


@route("DELETE", "/projects/:id")
def delete_project(ctx: Ctx) -> Any:
    p = find_project(ctx, ctx.path_params["id"], level=OWNER)
    delete_project_rows(ctx.conn, p["id"])
    ctx.status = 202
    return ACCEPTED


# ---------------------------------------------------------------- group sharing
def shared_with_groups(ctx: Ctx, group_id: int) -> list[dict[str, Any]]:
    rows = ctx.conn.execute(
        "SELECT s.*, n.name, n.full_path FROM group_shares s JOIN namespaces n "
        "ON n.id = s.shared_with_group_id WHERE s.group_id = ? ORDER BY n.id",
        (group_id,),
    ).fetchall()
    return [
        {"group_id": r["shared_with_group_id"], "group_name": r["name"],
         "group_full_path": r["full_path"], "group_access_level": r["access_level"],
         "expires_at": r["expires_at"]}
        for r in rows
    ]  # fmt: skip


@route("POST", "/groups/:id/share")
def share_group(ctx: Ctx) -> Any:
    """Members of `group_id` get up to `group_access` in this group (and below it)."""
    g = find_group(ctx, ctx.path_params["id"], level=OWNER)
    need = [n for n in ("group_id", "group_access") if ctx.raw(n) in (None, "")]
    if need:
        raise missing(*need)
    other = find_group(ctx, ctx.str_("group_id") or "")
    access = ctx.int_("group_access")
    if access not in ACCESS_LEVELS:
        raise bad_value("group_access")
    ctx.conn.execute(
        "INSERT OR REPLACE INTO group_shares VALUES (?,?,?,?)",
        (g["id"], other["id"], access, ctx.date_("expires_at")),
    )
    ctx.status = 201
    out = render.group_json(ctx, g)
    out["shared_with_groups"] = shared_with_groups(ctx, g["id"])
    return out


@route("DELETE", "/groups/:id/share/:group_id")
def unshare_group(ctx: Ctx) -> Any:
    g = find_group(ctx, ctx.path_params["id"], level=OWNER)
    gone = ctx.conn.execute(
        "DELETE FROM group_shares WHERE group_id = ? AND shared_with_group_id = ?",
        (g["id"], to_int(ctx.path_params["group_id"], "group_id")),
    ).rowcount
    if not gone:
        raise ApiError(404, {"message": "404 Group Link Not Found"})
    ctx.status = 204
    return None


# ---------------------------------------------------------------- project groups, user projects
# Documented for GET /projects/:id/groups but not implemented here.
PROJECT_GROUPS_UNSUPPORTED = ("shared_min_access_level", "shared_visible_only")


@route("GET", "/projects/:id/groups", unsupported=PROJECT_GROUPS_UNSUPPORTED)
def list_project_groups(ctx: Ctx) -> Any:
    """The project's ancestor groups (with_shared: none are shared with projects here)."""
    p = find_project(ctx, ctx.path_params["id"])
    rows = [n for n in ancestors(ctx.conn, p["namespace_id"]) if n["kind"] == "group"]
    skip = {to_int(i, "skip_groups") for i in comma_list(ctx.raw("skip_groups"), "skip_groups")}
    rows = [g for g in rows if g["id"] not in skip]
    search = ctx.str_("search")
    if search:
        rows = [g for g in rows if search.lower() in g["name"].lower()]
    rows = sorted(_visible_groups(ctx, rows), key=lambda g: g["id"])
    page = paginate_list(ctx, rows, {"id": ctx.path_params["id"]})
    return [
        {k: render.group_json(ctx, g)[k]
         for k in ("id", "name", "avatar_url", "web_url", "full_name", "full_path")}
        for g in page
    ]  # fmt: skip


@route("GET", "/users/:user_id/projects", unsupported=PROJECT_LIST_UNSUPPORTED)
def list_user_projects(ctx: Ctx) -> Any:
    u = find_user(ctx.conn, ctx.path_params["user_id"])
    if u is None:
        raise not_found("User")
    rows = ctx.conn.execute(
        "SELECT * FROM projects WHERE namespace_id = ?", (u["namespace_id"],)
    ).fetchall()
    return _project_list(ctx, rows, {"user_id": ctx.path_params["user_id"]})


# ---------------------------------------------------------------- stars
def _star(ctx: Ctx, star: bool) -> Any:
    """POST .../star and .../unstar: 304 when nothing changes."""
    p = find_project(ctx, ctx.path_params["id"])
    args = (p["id"], ctx.user["id"])
    if star:
        changed = ctx.conn.execute("INSERT OR IGNORE INTO project_stars VALUES (?, ?)", args)
    else:
        changed = ctx.conn.execute(
            "DELETE FROM project_stars WHERE project_id = ? AND user_id = ?", args
        )
    if not changed.rowcount:
        raise ApiError(304, None)
    ctx.status = 201
    return render.project_json(ctx, p)


@route("POST", "/projects/:id/star")
def star_project(ctx: Ctx) -> Any:
    return _star(ctx, True)


@route("POST", "/projects/:id/unstar")
def unstar_project(ctx: Ctx) -> Any:
    return _star(ctx, False)
