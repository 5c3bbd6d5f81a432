"""JSON entities, shaped like GitLab's lib/api/entities/*.rb.

List renderers batch-load related rows with one query per relation, never one
query per row, so a page of 100 issues costs a handful of queries.
"""

from __future__ import annotations

import json
import re
import sqlite3
from typing import Any
from urllib.parse import urlsplit

from escbot.sandbox.access import reads_internal
from escbot.sandbox.core import Ctx

_TASK = re.compile(r"^(?:>\s{0,4})*(?:\s*(?:[-+*]|\d+[.)]))+\s+(\[[ xX~]\])(\s.+)$")
_FENCE = re.compile(r"^\s*(```|~~~)")


def task_items(description: str | None) -> list[tuple[str, str]]:
    """Markdown checklist items as (box, label), outside fenced code, in order."""
    if not description:
        return []
    items: list[tuple[str, str]] = []
    in_code = False
    for line in description.splitlines():
        if _FENCE.match(line):
            in_code = not in_code
            continue
        if in_code:
            continue
        m = _TASK.match(line)
        if m and m.group(2).strip():
            items.append((m.group(1), m.group(2).strip()))
    return items


def task_counts(description: str | None) -> tuple[int, int]:
    """(count, completed) of checklist items; [~] (inapplicable) is not counted."""
    boxes = [box for box, _ in task_items(description) if box != "[~]"]
    return len(boxes), sum(box in ("[x]", "[X]") for box in boxes)


def updated_tasks(old: str | None, new: str | None) -> list[tuple[bool, str]]:
    """Taskable.get_updated_tasks: same position, same text, completeness flipped."""
    olds = task_items(old)
    out = []
    for n, (box, label) in enumerate(task_items(new)):
        if n < len(olds) and olds[n][1] == label:
            was, now = olds[n][0] in ("[x]", "[X]"), box in ("[x]", "[X]")
            if was != now:
                out.append((now, label))
    return out


def user_basic(ctx: Ctx, u: sqlite3.Row | None) -> dict[str, Any] | None:
    if u is None:
        return None
    return {
        "id": u["id"],
        "username": u["username"],
        "public_email": None,
        "name": u["name"],
        "state": u["state"],
        "locked": False,
        "avatar_url": f"https://www.gravatar.com/avatar/{u['id']:032x}?s=80&d=identicon",
        "web_url": f"{ctx.base}/{u['username']}",
    }


def user_detail(ctx: Ctx, u: sqlite3.Row, *, full: bool) -> dict[str, Any]:
    out = user_basic(ctx, u) or {}
    out.update(
        {
            "created_at": u["created_at"],
            "bio": "",
            "location": "",
            "linkedin": "",
            "twitter": "",
            "discord": "",
            "website_url": "",
            "organization": "",
            "job_title": "",
            "pronouns": None,
            "bot": bool(u["bot"]),
            "work_information": None,
            "local_time": None,
        }
    )
    if full:
        out.update(
            {
                "last_sign_in_at": None,
                "confirmed_at": u["created_at"],
                "last_activity_on": None,
                "email": u["email"],
                "theme_id": 3,
                "color_scheme_id": 1,
                "projects_limit": 100000,
                "current_sign_in_at": None,
                "identities": [],
                "can_create_group": True,
                "can_create_project": True,
                "two_factor_enabled": False,
                "external": False,
                "private_profile": False,
                "commit_email": u["email"],
                "is_admin": bool(u["is_admin"]),
                "note": None,
            }
        )
    return out


def users_by_id(ctx: Ctx, ids: set[int]) -> dict[int, sqlite3.Row]:
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    rows = ctx.conn.execute(f"SELECT * FROM users WHERE id IN ({marks})", list(ids)).fetchall()
    return {r["id"]: r for r in rows}


# ---------------------------------------------------------------- namespaces
def namespace_info(ctx: Ctx, ns_id: int) -> sqlite3.Row:
    key = ("ns", ns_id)
    if key not in ctx.cache:
        ctx.cache[key] = ctx.conn.execute(
            "SELECT * FROM namespaces WHERE id = ?", (ns_id,)
        ).fetchone()
    return ctx.cache[key]


def full_name(ctx: Ctx, ns: sqlite3.Row) -> str:
    names = []
    cur: sqlite3.Row | None = ns
    while cur is not None:
        names.append(cur["name"])
        cur = namespace_info(ctx, cur["parent_id"]) if cur["parent_id"] else None
    return " / ".join(reversed(names))


def project_paths(ctx: Ctx, project_id: int) -> tuple[sqlite3.Row, sqlite3.Row, str]:
    """(project row, namespace row, full path) cached per request."""
    key = ("proj", project_id)
    if key not in ctx.cache:
        p = ctx.conn.execute("SELECT * FROM projects WHERE id = ?", (project_id,)).fetchone()
        ns = namespace_info(ctx, p["namespace_id"])
        ctx.cache[key] = (p, ns, f"{ns['full_path']}/{p['path']}")
    return ctx.cache[key]


def namespace_json(ctx: Ctx, ns: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": ns["id"],
        "name": ns["name"],
        "path": ns["path"],
        "kind": ns["kind"],
        "full_path": ns["full_path"],
        "parent_id": ns["parent_id"],
        "avatar_url": None,
        "web_url": f"{ctx.base}/{'groups/' if ns['kind'] == 'group' else ''}{ns['full_path']}",
    }


# Settings GitLab stores and returns that change nothing in the sandbox (it has no
# repository, merge requests, CI or e-mail): POST/PUT store any of them and the JSON
# echoes it. Defaults are GitLab's.
PROJECT_SETTINGS: dict[str, Any] = {
    "topics": [], "resolve_outdated_diff_discussions": False,
    "container_registry_enabled": False, "merge_requests_enabled": True, "wiki_enabled": True,
    "jobs_enabled": True, "snippets_enabled": True, "service_desk_enabled": True,
    "repository_access_level": "enabled", "merge_requests_access_level": "enabled",
    "builds_access_level": "enabled", "wiki_access_level": "enabled",
    "snippets_access_level": "enabled", "pages_access_level": "enabled",
    "forking_access_level": "enabled", "analytics_access_level": "enabled",
    "only_allow_merge_if_pipeline_succeeds": False,
    "only_allow_merge_if_all_discussions_are_resolved": False,
    "remove_source_branch_after_merge": True, "merge_method": "merge",
    "squash_option": "default_off", "lfs_enabled": True, "shared_runners_enabled": True,
    "printing_merge_request_link_enabled": True, "autoclose_referenced_issues": True,
    "ci_config_path": None, "emails_enabled": True, "public_jobs": True,
    "request_access_enabled": True, "issues_template": None,
}  # fmt: skip
GROUP_SETTINGS: dict[str, Any] = {
    "share_with_group_lock": False, "require_two_factor_authentication": False,
    "two_factor_grace_period": 48, "project_creation_level": "developer",
    "auto_devops_enabled": None, "subgroup_creation_level": "maintainer",
    "emails_enabled": True, "mentions_disabled": None, "lfs_enabled": True,
    "request_access_enabled": True, "wiki_access_level": "enabled",
}  # fmt: skip


def settings(row: sqlite3.Row, defaults: dict[str, Any]) -> dict[str, Any]:
    """A project's or group's settings: GitLab's defaults overlaid with what was stored."""
    return {**defaults, **json.loads(row["settings"] or "{}")}


def group_json(ctx: Ctx, g: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": g["id"],
        "web_url": f"{ctx.base}/groups/{g['full_path']}",
        "name": g["name"],
        "path": g["path"],
        "description": g["description"],
        "visibility": g["visibility"],
        **settings(g, GROUP_SETTINGS),
        "emails_disabled": not settings(g, GROUP_SETTINGS)["emails_enabled"],
        "default_branch": None,
        "default_branch_protection": 2,
        "avatar_url": None,
        "full_name": full_name(ctx, g),
        "full_path": g["full_path"],
        "created_at": g["created_at"],
        "parent_id": g["parent_id"],
        "organization_id": 1,
        "shared_runners_setting": "enabled",
        "ldap_cn": None,
        "ldap_access": None,
        "marked_for_deletion_on": None,
        "archived": False,
    }


def project_json(ctx: Ctx, p: sqlite3.Row, *, simple: bool = False) -> dict[str, Any]:
    ns = namespace_info(ctx, p["namespace_id"])
    own = settings(p, PROJECT_SETTINGS)
    path_with_ns = f"{ns['full_path']}/{p['path']}"
    web = f"{ctx.base}/{path_with_ns}"
    out: dict[str, Any] = {
        "id": p["id"],
        "description": p["description"],
        "name": p["name"],
        "name_with_namespace": f"{full_name(ctx, ns)} / {p['name']}",
        "path": p["path"],
        "path_with_namespace": path_with_ns,
        "created_at": p["created_at"],
        "default_branch": p["default_branch"],
        "tag_list": own["topics"],
        "topics": own["topics"],
        # SSH listens on its own port: GitLab's ssh URL never carries the HTTP one.
        "ssh_url_to_repo": f"git@{urlsplit(ctx.base).hostname}:{path_with_ns}.git",
        "http_url_to_repo": f"{web}.git",
        "web_url": web,
        "readme_url": None,
        "forks_count": 0,
        "avatar_url": None,
        "star_count": ctx.conn.execute(
            "SELECT COUNT(*) FROM project_stars WHERE project_id = ?", (p["id"],)
        ).fetchone()[0],
        "last_activity_at": p["last_activity_at"],
        "namespace": namespace_json(ctx, ns),
    }
    if simple:  # Entities::BasicProjectDetails
        return out
    api = f"{ctx.api}/projects/{p['id']}"
    out.update(
        {
            "visibility": p["visibility"],
            "_links": {
                "self": api,
                "issues": f"{api}/issues",
                "merge_requests": f"{api}/merge_requests",
                "repo_branches": f"{api}/repository/branches",
                "labels": f"{api}/labels",
                "events": f"{api}/events",
                "members": f"{api}/members",
                "cluster_agents": f"{api}/cluster_agents",
            },
            "empty_repo": True,
            "archived": False,
            **{k: v for k, v in own.items() if k != "topics"},
            "issues_enabled": True,
            "service_desk_address": f"contact-project+{path_with_ns.replace('/', '-')}"
            f"-{p['id']}-issue-@incoming.example.com",
            "issues_access_level": "enabled",
            "creator_id": p["creator_id"],
            "open_issues_count": ctx.conn.execute(
                "SELECT COUNT(*) FROM issues WHERE project_id = ? AND state = 'opened'",
                (p["id"],),
            ).fetchone()[0],
            "shared_with_groups": [],
            "marked_for_deletion_on": None,
        }
    )
    return out


# ---------------------------------------------------------------- labels
def text_color(color: str) -> str:
    try:
        r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    except (ValueError, IndexError):
        return "#FFFFFF"
    return "#1F1E24" if r * 0.299 + g * 0.587 + b * 0.114 > 186 else "#FFFFFF"


def label_json(ctx: Ctx, lb: sqlite3.Row, *, counts: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": lb["id"],
        "name": lb["title"],
        "description": lb["description"],
        "description_html": lb["description"] or "",
        "text_color": text_color(lb["color"]),
        "color": lb["color"],
        "subscribed": ctx.conn.execute(
            "SELECT 1 FROM label_subscriptions WHERE label_id = ? AND user_id = ?",
            (lb["id"], ctx.user["id"]),
        ).fetchone()
        is not None,
        "archived": bool(lb["archived"]),
    }
    if lb["project_id"] is not None:
        out["priority"] = lb["priority"]
        out["is_project_label"] = True
    elif ctx.cache.get("label_context") == "project":
        out["priority"] = None
        out["is_project_label"] = False
    if counts:
        row = ctx.conn.execute(
            "SELECT SUM(i.state = 'opened'), SUM(i.state = 'closed') FROM issue_labels il "
            "JOIN issues i ON i.id = il.issue_id WHERE il.label_id = ?",
            (lb["id"],),
        ).fetchone()
        out["open_issues_count"] = row[0] or 0
        out["closed_issues_count"] = row[1] or 0
        out["open_merge_requests_count"] = 0
    return out


def label_basic(lb: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": lb["id"],
        "name": lb["title"],
        "color": lb["color"],
        "description": lb["description"],
        "description_html": lb["description"] or "",
        "text_color": text_color(lb["color"]),
    }


def milestone_json(ctx: Ctx, m: sqlite3.Row) -> dict[str, Any]:
    today = ctx.now_dt().date().isoformat()
    out = {
        "id": m["id"],
        "iid": m["iid"],
        "project_id": m["project_id"],
        "title": m["title"],
        "description": m["description"],
        "state": m["state"],
        "created_at": m["created_at"],
        "updated_at": m["updated_at"],
        "due_date": m["due_date"],
        "start_date": m["start_date"],
        "expired": bool(m["due_date"] and m["due_date"] < today),
        "web_url": "",
    }
    if m["project_id"] is not None:
        _, _, full = project_paths(ctx, m["project_id"])
        out["web_url"] = f"{ctx.base}/{full}/-/milestones/{m['iid']}"
    else:
        out["group_id"] = m["group_id"]
        del out["project_id"]
    return out


# ---------------------------------------------------------------- issues
def issue_refs(
    ctx: Ctx, project_id: int, iid: int, *, context_project: int | None, context_group: int | None
) -> dict[str, str]:
    p, ns, full = project_paths(ctx, project_id)
    short = f"#{iid}"
    # Project#to_reference_base: same project "#1", same namespace "proj#1", else full.
    if context_project == project_id:
        relative = short
    elif (context_group is not None and ns["id"] == context_group) or (
        context_project is not None
        and project_paths(ctx, context_project)[0]["namespace_id"] == ns["id"]
    ):
        relative = f"{p['path']}#{iid}"
    else:
        relative = f"{full}#{iid}"
    return {"short": short, "relative": relative, "full": f"{full}#{iid}"}


def issues_json(
    ctx: Ctx,
    rows: list[sqlite3.Row],
    *,
    single: bool = False,
    context_project: int | None = None,
    context_group: int | None = None,
    label_details: bool = False,
) -> list[dict[str, Any]]:
    """Render a page of issues; one query per relation for the whole page."""
    if not rows:
        return []
    conn = ctx.conn
    ids = [r["id"] for r in rows]
    marks = ",".join("?" * len(ids))
    labels: dict[int, list[sqlite3.Row]] = {i: [] for i in ids}
    for lr in conn.execute(
        f"SELECT il.issue_id, l.* FROM issue_labels il JOIN labels l ON l.id = il.label_id "
        f"WHERE il.issue_id IN ({marks}) ORDER BY l.title",
        ids,
    ):
        labels[lr["issue_id"]].append(lr)
    assignees: dict[int, list[int]] = {i: [] for i in ids}
    for ar in conn.execute(
        f"SELECT issue_id, user_id FROM issue_assignees WHERE issue_id IN ({marks}) "
        f"ORDER BY position",
        ids,
    ):
        assignees[ar[0]].append(ar[1])
    user_ids = {r["author_id"] for r in rows} | {r["closed_by_id"] for r in rows}
    for a in assignees.values():
        user_ids.update(a)
    users = users_by_id(ctx, user_ids)
    ms_ids = {r["milestone_id"] for r in rows if r["milestone_id"]}
    milestones = {}
    if ms_ids:
        mm = ",".join("?" * len(ms_ids))
        milestones = {
            m["id"]: milestone_json(ctx, m)
            for m in conn.execute(f"SELECT * FROM milestones WHERE id IN ({mm})", list(ms_ids))
        }
    hidden_notes = _internal_note_counts(ctx, rows)
    subscribed: set[int] = set()
    if single:
        uid = ctx.user["id"]
        for r in rows:
            if (
                r["author_id"] == uid
                or uid in assignees[r["id"]]
                or conn.execute(
                    "SELECT 1 FROM notes WHERE issue_id = ? AND author_id = ? LIMIT 1",
                    (r["id"], uid),
                ).fetchone()
            ):
                subscribed.add(r["id"])

    out = []
    for r in rows:
        _, _, full = project_paths(ctx, r["project_id"])
        api = f"{ctx.api}/projects/{r['project_id']}"
        ass = [user_basic(ctx, users.get(u)) for u in assignees[r["id"]] if u in users]
        lbls = labels[r["id"]]
        count, done = r["task_count"], r["task_completed"]
        item: dict[str, Any] = {
            "id": r["id"],
            "iid": r["iid"],
            "project_id": r["project_id"],
            "title": r["title"],
            "description": r["description"],
            "state": r["state"],
            "created_at": r["created_at"],
            "updated_at": r["updated_at"],
            "closed_at": r["closed_at"],
            "closed_by": user_basic(ctx, users.get(r["closed_by_id"])),
            "labels": [label_basic(lb) for lb in lbls]
            if label_details
            else [lb["title"] for lb in lbls],
            "milestone": milestones.get(r["milestone_id"]),
            "assignees": ass,
            "author": user_basic(ctx, users.get(r["author_id"])),
            "type": "ISSUE",
            "assignee": ass[0] if ass else None,
            "user_notes_count": r["user_notes_count"] - hidden_notes.get(r["id"], 0),
            "merge_requests_count": 0,
            "upvotes": r["upvotes"],
            "downvotes": r["downvotes"],
            "due_date": r["due_date"],
            "confidential": bool(r["confidential"]),
            "discussion_locked": None
            if r["discussion_locked"] is None
            else bool(r["discussion_locked"]),
            "issue_type": r["issue_type"],
            "web_url": f"{ctx.base}/{full}/-/issues/{r['iid']}",
            "time_stats": {
                "time_estimate": 0,
                "total_time_spent": 0,
                "human_time_estimate": None,
                "human_total_time_spent": None,
            },
            "task_completion_status": {"count": count, "completed_count": done},
            "weight": r["weight"],
            "blocking_issues_count": 0,
            "has_tasks": count > 0,
        }
        if count > 0:
            noun = "checklist item" if count == 1 else "checklist items"
            item["task_status"] = f"{done} of {count} {noun} completed"
        item.update(
            {
                "_links": {
                    "self": f"{api}/issues/{r['iid']}",
                    "notes": f"{api}/issues/{r['iid']}/notes",
                    "award_emoji": f"{api}/issues/{r['iid']}/award_emoji",
                    "project": api,
                    "closed_as_duplicate_of": None,
                },
                "references": issue_refs(
                    ctx,
                    r["project_id"],
                    r["iid"],
                    context_project=context_project,
                    context_group=context_group,
                ),
                "severity": "UNKNOWN",
                "moved_to_id": None,
                "imported": False,
                "imported_from": "none",
                "service_desk_reply_to": r["service_desk_reply_to"],
                "epic_iid": None,
                "epic": None,
                "iteration": None,
                "health_status": None,
            }
        )
        if single:
            item["subscribed"] = r["id"] in subscribed
        out.append(item)
    return out


def _internal_note_counts(ctx: Ctx, rows: list[sqlite3.Row]) -> dict[int, int]:
    """Internal comments per issue that the caller may not read (they leave the count)."""
    ids = [r["id"] for r in rows if not reads_internal(ctx, project_paths(ctx, r["project_id"])[0])]
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    return dict(
        ctx.conn.execute(
            f"SELECT issue_id, COUNT(*) FROM notes WHERE issue_id IN ({marks}) AND internal = 1 "
            f"AND system = 0 GROUP BY issue_id",
            ids,
        ).fetchall()
    )


def issue_json(ctx: Ctx, row: sqlite3.Row, **kw: Any) -> dict[str, Any]:
    return issues_json(ctx, [row], single=True, **kw)[0]


# ---------------------------------------------------------------- notes & events
def notes_json(ctx: Ctx, rows: list[sqlite3.Row]) -> list[dict[str, Any]]:
    if not rows:
        return []
    users = users_by_id(ctx, {r["author_id"] for r in rows})
    issue_ids = {r["issue_id"] for r in rows}
    marks = ",".join("?" * len(issue_ids))
    iids = dict(
        ctx.conn.execute(
            f"SELECT id, iid FROM issues WHERE id IN ({marks})", list(issue_ids)
        ).fetchall()
    )
    return [
        {
            "id": r["id"],
            "type": "DiscussionNote" if r["discussion_id"] else None,
            "body": r["body"],
            "author": user_basic(ctx, users.get(r["author_id"])),
            "created_at": r["created_at"],
            "updated_at": r["updated_at"],
            "system": bool(r["system"]),
            "attachment": None,
            "noteable_id": r["issue_id"],
            "noteable_type": "Issue",
            "project_id": r["project_id"],
            "resolvable": False,
            "confidential": bool(r["internal"]),
            "internal": bool(r["internal"]),
            "imported": False,
            "imported_from": "none",
            "noteable_iid": iids.get(r["issue_id"]),
            "commands_changes": {},
        }
        for r in rows
    ]


def events_json(ctx: Ctx, rows: list[sqlite3.Row]) -> list[dict[str, Any]]:
    if not rows:
        return []
    users = users_by_id(ctx, {r["author_id"] for r in rows})
    note_ids = [r["note_id"] for r in rows if r["note_id"]]
    notes: dict[int, dict[str, Any]] = {}
    if note_ids:
        marks = ",".join("?" * len(note_ids))
        nrows = ctx.conn.execute(f"SELECT * FROM notes WHERE id IN ({marks})", note_ids).fetchall()
        notes = {n["id"]: n for n in notes_json(ctx, nrows)}
    out = []
    for r in rows:
        author = users.get(r["author_id"])
        item: dict[str, Any] = {
            "id": r["id"],
            "project_id": r["project_id"],
            "action_name": r["action_name"],
            "target_id": r["target_id"],
            "target_iid": r["target_iid"],
            "target_type": r["target_type"],
            "author_id": r["author_id"],
            "target_title": r["target_title"],
            "created_at": r["created_at"],
            "author": user_basic(ctx, author),
            "imported": False,
            "imported_from": "none",
            "author_username": author["username"] if author else None,
        }
        if r["note_id"]:
            item["note"] = notes.get(r["note_id"])
        out.append(item)
    return out
