"""Bulk data for demos and benchmarks: one group, N projects, labels, issues with
checklists, notes and events, written with executemany (50,000 issues in seconds)."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from escbot.sandbox import render
from escbot.sandbox.access import OWNER, find_user
from escbot.sandbox.clock import fmt
from escbot.sandbox.core import ApiError, Ctx, comma_list, to_bool

DEFAULT_LABEL_SETS = [
    ["escalation", "escalation::sev1", "severity::high"],
    ["escalation", "escalation::sev2"],
    ["bug"],
]
PALETTE = ["#dc143c", "#ff8c00", "#6699cc", "#428bca", "#8fbc8f", "#7f8c8d", "#9400d3"]


def _num(params: dict[str, Any], key: str, default: float, *, integer: bool = True) -> Any:
    v = params.get(key, default)
    try:
        n = int(v) if integer else float(v)
    except (TypeError, ValueError):
        raise ApiError(400, {"error": f"{key} is invalid"}) from None
    if n < 0:
        raise ApiError(400, {"error": f"{key} is invalid"})
    return n


def seed(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    conn = ctx.conn
    group_path = str(params.get("group") or "bench")
    n_projects = max(1, _num(params, "projects", 20))
    n_issues = _num(params, "issues", 300)
    notes_per = _num(params, "notes_per_issue", 2)
    closed_ratio = _num(params, "closed_ratio", 0.1, integer=False)
    days = max(0.0, _num(params, "days", 30, integer=False))
    rng = random.Random(_num(params, "seed", 1))
    label_sets = params.get("label_sets", DEFAULT_LABEL_SETS)
    if not isinstance(label_sets, list) or not all(isinstance(s, list | str) for s in label_sets):
        raise ApiError(400, {"error": "label_sets is invalid"})
    label_sets = [comma_list(s, "label_sets") for s in label_sets] or [[]]
    author = find_user(conn, str(params.get("author") or "root"))
    if author is None:
        raise ApiError(400, {"error": "author is invalid"})
    confidential_ratio = _num(params, "confidential_ratio", 0.0, integer=False)
    assign = to_bool(params.get("assign", False), "assign")
    now_dt = ctx.now_dt()
    now = fmt(now_dt)

    # Group, projects and labels (created when missing).
    g = conn.execute(
        "SELECT * FROM namespaces WHERE kind = 'group' AND full_path = ? COLLATE NOCASE",
        (group_path,),
    ).fetchone()
    if g is None:
        gid = conn.execute(
            "INSERT INTO namespaces (kind, name, path, full_path, created_at, owner_id) "
            "VALUES ('group', ?, ?, ?, ?, ?)",
            (group_path, group_path.rsplit("/", 1)[-1], group_path, now, author["id"]),
        ).lastrowid
        conn.execute("INSERT OR IGNORE INTO members VALUES ('ns', ?, ?, ?, ?, NULL)",
                     (gid, author["id"], OWNER, now))  # fmt: skip
        g = conn.execute("SELECT * FROM namespaces WHERE id = ?", (gid,)).fetchone()
    projects = []
    for n in range(1, n_projects + 1):
        path = f"project-{n:02d}"
        p = conn.execute(
            "SELECT * FROM projects WHERE namespace_id = ? AND path = ?", (g["id"], path)
        ).fetchone()
        if p is None:
            pid = conn.execute(
                "INSERT INTO projects (name, path, namespace_id, creator_id, created_at, "
                "last_activity_at, default_branch) VALUES (?,?,?,?,?,?, 'main')",
                (f"Project {n:02d}", path, g["id"], author["id"], now, now),
            ).lastrowid
            conn.execute("INSERT OR IGNORE INTO members VALUES ('project', ?, ?, ?, ?, NULL)",
                         (pid, author["id"], OWNER, now))  # fmt: skip
            p = conn.execute("SELECT * FROM projects WHERE id = ?", (pid,)).fetchone()
        projects.append(p)
    labels: dict[str, Any] = {}
    for title in sorted({t for s in label_sets for t in s}):
        row = conn.execute(
            "SELECT * FROM labels WHERE group_id = ? AND title = ?", (g["id"], title)
        ).fetchone()
        if row is None:
            lid = conn.execute(
                "INSERT INTO labels (title, color, group_id, created_at) VALUES (?,?,?,?)",
                (title, PALETTE[len(labels) % len(PALETTE)], g["id"], now),
            ).lastrowid
            row = conn.execute("SELECT * FROM labels WHERE id = ?", (lid,)).fetchone()
        labels[title] = row
    members = [
        r[0]
        for r in conn.execute(
            "SELECT user_id FROM members WHERE source_type = 'ns' AND source_id = ?", (g["id"],)
        )
    ]

    # Issues and everything hanging off them, with explicit ids for executemany.
    next_issue = (conn.execute("SELECT COALESCE(MAX(id), 0) FROM issues").fetchone()[0]) + 1
    next_note = (conn.execute("SELECT COALESCE(MAX(id), 0) FROM notes").fetchone()[0]) + 1
    next_iid = {
        p["id"]: conn.execute(
            "SELECT COALESCE(MAX(iid), 0) FROM issues WHERE project_id = ?", (p["id"],)
        ).fetchone()[0]
        for p in projects
    }
    span = days * 86400
    issues, issue_labels, notes, events, label_events, state_events, assignees = (
        [], [], [], [], [], [], []
    )  # fmt: skip
    uid = author["id"]
    for n in range(n_issues):
        p = projects[n % len(projects)]
        next_iid[p["id"]] += 1
        iid = next_iid[p["id"]]
        issue_id = next_issue + n
        created = now_dt - timedelta(seconds=rng.uniform(0, span))
        updated = created + timedelta(seconds=rng.uniform(0, (now_dt - created).total_seconds()))
        c, u = fmt(created), fmt(updated)
        tasks = rng.randint(0, 4)
        done = rng.randint(0, tasks)
        lines = [f"Seeded issue {n + 1} for {p['path']}.", "", "## Checklist"]
        lines += [f"- [{'x' if k < done else ' '}] Step {k + 1}" for k in range(tasks)]
        description = "\n".join(lines)
        tc, td = render.task_counts(description)
        closed = rng.random() < closed_ratio
        title = f"Seeded issue {n + 1}"
        lset = label_sets[n % len(label_sets)]
        issues.append((
            issue_id, p["id"], iid, title, description, "closed" if closed else "opened", uid, c,
            u, u if closed else None, uid if closed else None,
            int(rng.random() < confidential_ratio), tc, td, notes_per, iid * 513,
        ))  # fmt: skip
        for t in lset:
            issue_labels.append((issue_id, labels[t]["id"], t, p["id"],
                                 "closed" if closed else "opened", c, u))  # fmt: skip
            label_events.append((issue_id, uid, labels[t]["id"], "add", c))
        if assign and members:
            assignees.append((issue_id, members[n % len(members)], 0))
        events.append((p["id"], uid, "opened", "Issue", issue_id, iid, title, None, c))
        for k in range(notes_per):
            nc = fmt(created + (updated - created) * ((k + 1) / (notes_per + 1)))
            notes.append((next_note, issue_id, p["id"], uid, f"Update {k + 1} on {title}.", nc, nc))
            events.append((p["id"], uid, "commented on", "Note", next_note, None, title,
                           next_note, nc))  # fmt: skip
            next_note += 1
        if closed:
            state_events.append((issue_id, uid, "closed", u))
            events.append((p["id"], uid, "closed", "Issue", issue_id, iid, title, None, u))
    conn.executemany(
        "INSERT INTO issues (id, project_id, iid, title, description, state, author_id, "
        "created_at, updated_at, closed_at, closed_by_id, confidential, task_count, "
        "task_completed, user_notes_count, relative_position) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        issues,
    )
    conn.executemany(
        "INSERT INTO issue_labels (issue_id, label_id, label_title, project_id, state, "
        "created_at, updated_at) VALUES (?,?,?,?,?,?,?)",
        issue_labels,
    )
    conn.executemany(
        "INSERT INTO issue_assignees (issue_id, user_id, position) VALUES (?,?,?)", assignees
    )
    conn.executemany(
        "INSERT INTO notes (id, issue_id, project_id, author_id, body, created_at, updated_at) "
        "VALUES (?,?,?,?,?,?,?)",
        notes,
    )
    conn.executemany(
        "INSERT INTO events (project_id, author_id, action_name, target_type, target_id, "
        "target_iid, target_title, note_id, created_at) VALUES (?,?,?,?,?,?,?,?,?)",
        events,
    )
    conn.executemany(
        "INSERT INTO label_events (issue_id, user_id, label_id, action, created_at) "
        "VALUES (?,?,?,?,?)",
        label_events,
    )
    conn.executemany(
        "INSERT INTO state_events (issue_id, user_id, state, created_at) VALUES (?,?,?,?)",
        state_events,
    )
    conn.execute("ANALYZE")
    ctx.status = 201
    return {
        "group": render.group_json(ctx, g),
        "projects": len(projects),
        "issues": len(issues),
        "notes": len(notes),
    }
