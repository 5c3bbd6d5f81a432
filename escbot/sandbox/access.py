"""Lookups by id-or-path and the permission model.

Private everything: a caller sees a project only as a member (direct, or
inherited from any ancestor group), or as an admin. Invisible means 404.
"""

from __future__ import annotations

import sqlite3

from escbot.sandbox.core import Ctx, forbidden, not_found

GUEST, REPORTER, DEVELOPER, MAINTAINER, OWNER = 10, 20, 30, 40, 50
ADMIN = 60  # not a GitLab level: "may do anything"


def ancestors(conn: sqlite3.Connection, ns_id: int | None) -> list[sqlite3.Row]:
    """The namespace and its ancestors, nearest first."""
    out: list[sqlite3.Row] = []
    seen: set[int] = set()
    while ns_id is not None and ns_id not in seen:
        seen.add(ns_id)
        row = conn.execute("SELECT * FROM namespaces WHERE id = ?", (ns_id,)).fetchone()
        if row is None:
            break
        out.append(row)
        ns_id = row["parent_id"]
    return out


def descendant_ids(conn: sqlite3.Connection, group_id: int) -> list[int]:
    """The group and every group below it."""
    rows = conn.execute(
        """WITH RECURSIVE d(id) AS (SELECT ? UNION ALL
           SELECT n.id FROM namespaces n JOIN d ON n.parent_id = d.id)
           SELECT id FROM d""",
        (group_id,),
    ).fetchall()
    return [r[0] for r in rows]


def group_level(ctx: Ctx, group: sqlite3.Row, user: sqlite3.Row | None = None) -> int:
    user = user or ctx.user
    if user["is_admin"]:
        return ADMIN
    ids = [g["id"] for g in ancestors(ctx.conn, group["id"])]
    return _max_level(ctx.conn, "ns", ids, user["id"])


def project_level(ctx: Ctx, project: sqlite3.Row, user: sqlite3.Row | None = None) -> int:
    user = user or ctx.user
    if user["is_admin"]:
        return ADMIN
    key = ("plevel", project["id"], user["id"])
    if key in ctx.cache:
        return ctx.cache[key]
    level = _max_level(ctx.conn, "project", [project["id"]], user["id"])
    for ns in ancestors(ctx.conn, project["namespace_id"]):
        if ns["kind"] == "user":
            if ns["owner_id"] == user["id"]:
                level = max(level, OWNER)
        else:
            level = max(level, _max_level(ctx.conn, "ns", [ns["id"]], user["id"]))
    ctx.cache[key] = level
    return level


def _max_level(conn: sqlite3.Connection, source: str, ids: list[int], user_id: int) -> int:
    if not ids:
        return 0
    marks = ",".join("?" * len(ids))
    row = conn.execute(
        f"SELECT MAX(access_level) FROM members WHERE source_type = ? AND user_id = ? "
        f"AND source_id IN ({marks})",
        [source, user_id, *ids],
    ).fetchone()
    return row[0] or 0


def find_project(ctx: Ctx, ident: str, *, level: int = GUEST) -> sqlite3.Row:
    """Project by id or full path; 404 unless visible, 403 when visible but below `level`."""
    conn = ctx.conn
    if ident.isdigit():
        row = conn.execute("SELECT * FROM projects WHERE id = ?", (int(ident),)).fetchone()
    else:
        ns_path, _, path = ident.rpartition("/")
        row = conn.execute(
            "SELECT p.* FROM projects p JOIN namespaces n ON n.id = p.namespace_id "
            "WHERE n.full_path = ? COLLATE NOCASE AND p.path = ? COLLATE NOCASE",
            (ns_path, path),
        ).fetchone()
    if row is None:
        raise not_found("Project")
    have = project_level(ctx, row)
    if have < GUEST:
        raise not_found("Project")
    if have < level:
        raise forbidden()
    return row


def find_group(ctx: Ctx, ident: str, *, level: int = GUEST) -> sqlite3.Row:
    conn = ctx.conn
    if ident.isdigit():
        row = conn.execute(
            "SELECT * FROM namespaces WHERE id = ? AND kind = 'group'", (int(ident),)
        ).fetchone()
    else:
        row = conn.execute(
            "SELECT * FROM namespaces WHERE full_path = ? COLLATE NOCASE AND kind = 'group'",
            (ident,),
        ).fetchone()
    if row is None:
        raise not_found("Group")
    have = group_level(ctx, row)
    if have < GUEST and not _member_below(ctx, row):
        raise not_found("Group")
    if have < level:
        raise forbidden()
    return row


def _member_below(ctx: Ctx, group: sqlite3.Row) -> bool:
    """Members of a subgroup or project below a group can see the group itself."""
    ids = descendant_ids(ctx.conn, group["id"])
    marks = ",".join("?" * len(ids))
    uid = ctx.user["id"]
    row = ctx.conn.execute(
        f"""SELECT 1 FROM members WHERE user_id = ? AND (
              (source_type = 'ns' AND source_id IN ({marks})) OR
              (source_type = 'project' AND source_id IN
                 (SELECT id FROM projects WHERE namespace_id IN ({marks})))) LIMIT 1""",
        [uid, *ids, *ids],
    ).fetchone()
    return row is not None


def find_user(conn: sqlite3.Connection, ident: str | int) -> sqlite3.Row | None:
    s = str(ident)
    if s.isdigit():
        return conn.execute("SELECT * FROM users WHERE id = ?", (int(s),)).fetchone()
    return conn.execute("SELECT * FROM users WHERE username = ? COLLATE NOCASE", (s,)).fetchone()


def visible_project_ids(ctx: Ctx, project_ids: list[int]) -> list[int]:
    if ctx.is_admin:
        return project_ids
    out = []
    for pid in project_ids:
        p = ctx.conn.execute("SELECT * FROM projects WHERE id = ?", (pid,)).fetchone()
        if p is not None and project_level(ctx, p) >= GUEST:
            out.append(pid)
    return out
