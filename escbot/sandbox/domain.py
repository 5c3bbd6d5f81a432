"""Write-side rules shared by the routes, the seed lever and service desk:
users and tokens, labels (auto-create, scoped exclusivity), notes and events.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from typing import Any

from escbot.sandbox.access import ancestors
from escbot.sandbox.core import Ctx, comma_list, to_bool, to_int

AUTO_LABEL_COLOR = "#6699cc"


def new_token(prefix: str = "glpat-") -> str:
    return prefix + secrets.token_urlsafe(15)


def insert_user(
    conn: sqlite3.Connection,
    now: str,
    username: str,
    name: str,
    email: str | None,
    *,
    admin: bool = False,
    bot: bool = False,
) -> sqlite3.Row:
    cur = conn.execute(
        "INSERT INTO users (username, name, email, is_admin, bot, created_at) VALUES (?,?,?,?,?,?)",
        (username, name, email or f"{username}@example.com", int(admin), int(bot), now),
    )
    uid = cur.lastrowid
    ns = conn.execute(
        "INSERT INTO namespaces (kind, name, path, full_path, created_at, owner_id) "
        "VALUES ('user', ?, ?, ?, ?, ?)",
        (username, username, username, now, uid),
    ).lastrowid
    conn.execute("UPDATE users SET namespace_id = ? WHERE id = ?", (ns, uid))
    return conn.execute("SELECT * FROM users WHERE id = ?", (uid,)).fetchone()


def insert_token(
    conn: sqlite3.Connection,
    now: str,
    user_id: int,
    name: str,
    scopes: list[str] | tuple[str, ...],
    *,
    kind: str = "pat",
    token: str | None = None,
    expires_at: str | None = None,
) -> sqlite3.Row:
    token = token or new_token("glcbt-" if kind == "job" else "glpat-")
    tid = conn.execute(
        "INSERT INTO tokens (user_id, name, token, scopes, kind, created_at, expires_at) "
        "VALUES (?,?,?,?,?,?,?)",
        (user_id, name, token, json.dumps(list(scopes)), kind, now, expires_at),
    ).lastrowid
    return conn.execute("SELECT * FROM tokens WHERE id = ?", (tid,)).fetchone()


# ---------------------------------------------------------------- labels
def available_label_owners(conn: sqlite3.Connection, project: sqlite3.Row) -> tuple[int, list[int]]:
    group_ids = [n["id"] for n in ancestors(conn, project["namespace_id"]) if n["kind"] == "group"]
    return project["id"], group_ids


def find_available_label(
    conn: sqlite3.Connection, project: sqlite3.Row, title: str
) -> sqlite3.Row | None:
    pid, gids = available_label_owners(conn, project)
    row = conn.execute(
        "SELECT * FROM labels WHERE project_id = ? AND title = ?", (pid, title)
    ).fetchone()
    if row is None and gids:
        marks = ",".join("?" * len(gids))
        # Nearest group first, as GitLab prefers the closest definition.
        for gid in gids:
            row = conn.execute(
                f"SELECT * FROM labels WHERE group_id = ? AND title = ? AND group_id IN ({marks})",
                (gid, title, *gids),
            ).fetchone()
            if row is not None:
                break
    return row


def resolve_labels(
    ctx: Ctx, project: sqlite3.Row, titles: list[str], *, create: bool
) -> list[sqlite3.Row]:
    """Titles -> label rows; unknown ones are auto-created as project labels (or dropped)."""
    out: list[sqlite3.Row] = []
    seen: set[int] = set()
    for title in titles:
        row = find_available_label(ctx.conn, project, title)
        if row is None:
            if not create or "," in title or len(title) > 255:
                continue
            lid = ctx.conn.execute(
                "INSERT INTO labels (title, color, project_id, created_at) VALUES (?,?,?,?)",
                (title, AUTO_LABEL_COLOR, project["id"], ctx.now()),
            ).lastrowid
            row = ctx.conn.execute("SELECT * FROM labels WHERE id = ?", (lid,)).fetchone()
        if row["id"] not in seen:
            seen.add(row["id"])
            out.append(row)
    return out


def scoped_key(title: str) -> str | None:
    """Everything before the LAST '::', or None for an unscoped label."""
    idx = title.rfind("::")
    return title[:idx] if idx > 0 else None


def exclusive_labels(
    final: list[sqlite3.Row], added_in_order: list[sqlite3.Row]
) -> list[sqlite3.Row]:
    """EE ScopedLabelSet: in each key group holding a newly added label, keep the last added."""
    keep_for_key: dict[str, int] = {}
    for lb in added_in_order:
        key = scoped_key(lb["title"])
        if key is not None:
            keep_for_key[key] = lb["id"]  # the last one wins
    out = []
    for lb in final:
        key = scoped_key(lb["title"])
        if key is not None and key in keep_for_key and keep_for_key[key] != lb["id"]:
            continue
        out.append(lb)
    return out


def set_issue_labels(
    ctx: Ctx, issue: sqlite3.Row, new: list[sqlite3.Row], *, when: str | None = None
) -> bool:
    """Replace the issue's labels; record resource_label_events; True if changed."""
    conn = ctx.conn
    when = when or ctx.now()
    old = {
        r[0]: r[1]
        for r in conn.execute(
            "SELECT label_id, label_title FROM issue_labels WHERE issue_id = ?", (issue["id"],)
        )
    }
    new_ids = [lb["id"] for lb in new]
    added = [lb for lb in new if lb["id"] not in old]
    removed = [lid for lid in old if lid not in set(new_ids)]
    uid = ctx.user["id"]
    for lid in removed:
        conn.execute(
            "DELETE FROM issue_labels WHERE issue_id = ? AND label_id = ?", (issue["id"], lid)
        )
        conn.execute(
            "INSERT INTO label_events (issue_id, user_id, label_id, action, created_at) "
            "VALUES (?,?,?,'remove',?)",
            (issue["id"], uid, lid, when),
        )
    for lb in added:
        conn.execute(
            "INSERT INTO issue_labels (issue_id, label_id, label_title, project_id, state, "
            "created_at, updated_at) SELECT id, ?, ?, project_id, state, created_at, updated_at "
            "FROM issues WHERE id = ?",
            (lb["id"], lb["title"], issue["id"]),
        )
        conn.execute(
            "INSERT INTO label_events (issue_id, user_id, label_id, action, created_at) "
            "VALUES (?,?,?,'add',?)",
            (issue["id"], uid, lb["id"], when),
        )
    return bool(added or removed)


# ---------------------------------------------------------------- notes, events
def add_event(
    ctx: Ctx,
    project_id: int,
    action_name: str,
    target_type: str | None,
    target_id: int | None,
    target_iid: int | None,
    target_title: str | None,
    *,
    note_id: int | None = None,
    when: str | None = None,
    author_id: int | None = None,
) -> None:
    ctx.conn.execute(
        "INSERT INTO events (project_id, author_id, action_name, target_type, target_id, "
        "target_iid, target_title, note_id, created_at) VALUES (?,?,?,?,?,?,?,?,?)",
        (
            project_id,
            author_id or ctx.user["id"],
            action_name,
            target_type,
            target_id,
            target_iid,
            target_title,
            note_id,
            when or ctx.now(),
        ),
    )
    ctx.conn.execute(
        "UPDATE projects SET last_activity_at = ? WHERE id = ? AND last_activity_at < ?",
        (when or ctx.now(), project_id, when or ctx.now()),
    )


def add_note(
    ctx: Ctx,
    issue: sqlite3.Row,
    body: str,
    *,
    system: bool = False,
    internal: bool = False,
    created_at: str | None = None,
    touch: bool = True,
    discussion_id: str | None = None,
) -> sqlite3.Row:
    """A note on an issue: touches the issue; user notes also count and make an event.

    touch=False mirrors CommonSystemNotesService's `no_touching` block."""
    conn = ctx.conn
    when = created_at or ctx.now()
    nid = conn.execute(
        "INSERT INTO notes (issue_id, project_id, author_id, body, system, internal, created_at, "
        "updated_at, discussion_id) VALUES (?,?,?,?,?,?,?,?,?)",
        (issue["id"], issue["project_id"], ctx.user["id"], body, int(system), int(internal), when,
         when, discussion_id),
    ).lastrowid  # fmt: skip
    now = ctx.now()
    if system:
        if touch:
            conn.execute("UPDATE issues SET updated_at = ? WHERE id = ?", (now, issue["id"]))
    else:
        conn.execute(
            "UPDATE issues SET updated_at = ?, user_notes_count = user_notes_count + 1 "
            "WHERE id = ?",
            (now, issue["id"]),
        )
        add_event(ctx, issue["project_id"], "commented on", "Note", nid, None, issue["title"],
                  note_id=nid, when=when)  # fmt: skip
    return conn.execute("SELECT * FROM notes WHERE id = ?", (nid,)).fetchone()


def issue_ref_from(ctx: Ctx, target: sqlite3.Row, from_project_id: int) -> str:
    """Issue#to_reference(project): `#2` in the same project, `proj#2` in the same
    namespace, `grp/proj#2` otherwise (Project#cross_namespace_reference?)."""
    if target["project_id"] == from_project_id:
        return f"#{target['iid']}"
    p = ctx.conn.execute("SELECT * FROM projects WHERE id = ?", (target["project_id"],)).fetchone()
    src = ctx.conn.execute("SELECT namespace_id FROM projects WHERE id = ?", (from_project_id,))
    if src.fetchone()[0] == p["namespace_id"]:
        return f"{p['path']}#{target['iid']}"
    ns = ctx.conn.execute("SELECT * FROM namespaces WHERE id = ?", (p["namespace_id"],)).fetchone()
    return f"{ns['full_path']}/{p['path']}#{target['iid']}"


def json_scopes(token: sqlite3.Row) -> list[str]:
    return json.loads(token["scopes"])


def row_dict(row: sqlite3.Row | None) -> dict[str, Any] | None:
    return dict(row) if row is not None else None


# ---------------------------------------------------------------- deletion
def delete_issue_rows(conn: sqlite3.Connection, issue_ids: list[int]) -> None:
    """An issue and everything hanging off it."""
    if not issue_ids:
        return
    marks = ",".join("?" * len(issue_ids))
    conn.execute(
        f"DELETE FROM award_emoji WHERE (awardable_type = 'Issue' AND awardable_id IN ({marks})) "
        f"OR (awardable_type = 'Note' AND awardable_id IN "
        f"(SELECT id FROM notes WHERE issue_id IN ({marks})))",
        [*issue_ids, *issue_ids],
    )
    for table, col in (
        ("issue_labels", "issue_id"), ("issue_assignees", "issue_id"), ("notes", "issue_id"),
        ("label_events", "issue_id"), ("state_events", "issue_id"),
        ("milestone_events", "issue_id"), ("weight_events", "issue_id"),
        ("issue_links", "source_id"), ("issue_links", "target_id"), ("issues", "id"),
    ):  # fmt: skip
        conn.execute(f"DELETE FROM {table} WHERE {col} IN ({marks})", issue_ids)


def delete_project_rows(conn: sqlite3.Connection, project_id: int) -> None:
    """A project with its issues, labels, milestones, events, members and bot users."""
    ids = [r[0] for r in conn.execute("SELECT id FROM issues WHERE project_id = ?", (project_id,))]
    delete_issue_rows(conn, ids)
    for table, col in (("labels", "project_id"), ("milestones", "project_id"),
                       ("events", "project_id")):  # fmt: skip
        conn.execute(f"DELETE FROM {table} WHERE {col} = ?", (project_id,))
    conn.execute(
        "DELETE FROM members WHERE source_type = 'project' AND source_id = ?", (project_id,)
    )
    conn.execute("DELETE FROM project_stars WHERE project_id = ?", (project_id,))
    conn.execute("DELETE FROM projects WHERE id = ?", (project_id,))


# ---------------------------------------------------------------- echoed settings
def store_settings(ctx: Ctx, table: str, row: sqlite3.Row, defaults: dict[str, Any]) -> None:
    """Keep the echoed settings (see render.PROJECT_SETTINGS) named in the request,
    coerced like GitLab's declared types; `tag_list` is the deprecated name of `topics`."""
    stored = json.loads(row["settings"] or "{}")
    params = dict(ctx.params)
    if "tag_list" in params and "topics" in defaults:
        params.setdefault("topics", params["tag_list"])
    for key, default in defaults.items():
        if key not in params:
            continue
        value = params[key]
        if isinstance(default, bool):
            stored[key] = to_bool(value, key)
        elif isinstance(default, int):
            stored[key] = to_int(value, key)
        elif isinstance(default, list):
            stored[key] = comma_list(value, key)
        else:
            stored[key] = None if value in (None, "") else str(value)
    ctx.conn.execute(
        f"UPDATE {table} SET settings = ? WHERE id = ?", (json.dumps(stored), row["id"])
    )
