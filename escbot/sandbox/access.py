"""Lookups by id-or-path and the permission model.

Private everything: a caller sees a project only as a member (direct, or
inherited from any ancestor group), or as an admin. Invisible means 404.
"""

from __future__ import annotations

import sqlite3
from typing import Any

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
    return max(
        _max_level(ctx.conn, "ns", ids, user["id"]), _shared_level(ctx.conn, ids, user["id"])
    )


def project_level(ctx: Ctx, project: sqlite3.Row, user: sqlite3.Row | None = None) -> int:
    user = user or ctx.user
    if user["is_admin"]:
        return ADMIN
    key = ("plevel", project["id"], user["id"])
    if key in ctx.cache:
        return ctx.cache[key]
    level = _max_level(ctx.conn, "project", [project["id"]], user["id"])
    group_ids = []
    for ns in ancestors(ctx.conn, project["namespace_id"]):
        if ns["kind"] == "user":
            if ns["owner_id"] == user["id"]:
                level = max(level, OWNER)
        else:
            group_ids.append(ns["id"])
    level = max(
        level,
        _max_level(ctx.conn, "ns", group_ids, user["id"]),
        _shared_level(ctx.conn, group_ids, user["id"]),
    )
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


def _shared_level(conn: sqlite3.Connection, group_ids: list[int], user_id: int) -> int:
    """Access through groups shared with these groups: the member's level in the invited
    group (or above it), capped at the share's level."""
    if not group_ids:
        return 0
    marks = ",".join("?" * len(group_ids))
    best = 0
    for share in conn.execute(
        f"SELECT * FROM group_shares WHERE group_id IN ({marks})", group_ids
    ).fetchall():
        invited = [n["id"] for n in ancestors(conn, share["shared_with_group_id"])]
        best = max(best, min(share["access_level"], _max_level(conn, "ns", invited, user_id)))
    return best


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
    below = have < GUEST and _member_below(ctx, row)
    if have < GUEST and not below:
        raise not_found("Group")
    if have < level and not (below and level <= GUEST):
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


# ---------------------------------------------------------------- confidentiality
# GitLab's rules (IssuePolicy, NotePolicy, Notes::BuildService): a confidential issue
# is readable by Reporter+ (and admins), its author and its assignees; an internal
# note only by Reporter+ (and admins), never by a Guest author or assignee.


def reads_internal(ctx: Ctx, project: sqlite3.Row) -> bool:
    """Reporter and above (or an admin) read confidential issues and internal notes."""
    return project_level(ctx, project) >= REPORTER


def can_read_issue(ctx: Ctx, project: sqlite3.Row, issue: sqlite3.Row) -> bool:
    if not issue["confidential"] or reads_internal(ctx, project):
        return True
    uid = ctx.user["id"]
    if issue["author_id"] == uid:
        return True
    return (
        ctx.conn.execute(
            "SELECT 1 FROM issue_assignees WHERE issue_id = ? AND user_id = ?", (issue["id"], uid)
        ).fetchone()
        is not None
    )


def readable_issue_sql(ctx: Ctx, alias: str = "i") -> tuple[str, list[int]]:
    """SQL (and args) true for an issue row `alias` that a non-Reporter may read."""
    uid = ctx.user["id"]
    return (
        f"({alias}.confidential = 0 OR {alias}.author_id = ? OR EXISTS (SELECT 1 FROM "
        f"issue_assignees a WHERE a.issue_id = {alias}.id AND a.user_id = ?))",
        [uid, uid],
    )


def visible_events_sql(ctx: Ctx, reader_project_ids: list[int]) -> tuple[str, list[Any]]:
    """Events on confidential issues and on internal notes are hidden below Reporter
    (Event#visible_to_user? asks read_issue / read_note of the target)."""
    readable, args = readable_issue_sql(ctx)
    marks = ",".join("?" * len(reader_project_ids)) or "NULL"
    sql = (
        f"(project_id IN ({marks}) OR "
        f"(target_type IS NOT 'Issue' OR target_id IN (SELECT i.id FROM issues i WHERE {readable}))"
        f" AND (note_id IS NULL OR note_id IN (SELECT n.id FROM notes n JOIN issues i "
        f"ON i.id = n.issue_id WHERE n.internal = 0 AND {readable})))"
    )
    return sql, [*reader_project_ids, *args, *args]
