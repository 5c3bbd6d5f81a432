"""Instance-wide lookups: search (global, group, project), namespaces and the CI
template list, each showing only what the caller may read."""

from __future__ import annotations

import sqlite3
from typing import Any

from escbot.sandbox import render
from escbot.sandbox.access import (
    GUEST,
    can_read_issue,
    descendant_ids,
    find_group,
    find_project,
    group_level,
    project_level,
    reads_internal,
)
from escbot.sandbox.core import ApiError, Ctx, bad_value, missing, not_found, paginate_list, route

# ---------------------------------------------------------------- search
GLOBAL_SCOPES = ("projects", "issues", "users", "milestones")
PROJECT_SCOPES = ("issues", "users", "milestones", "notes")
# Documented for search (search.md) but not implemented here.
SEARCH_UNSUPPORTED = ("confidential", "state", "fields", "search_type", "regex")


def _like(text: str | None, needle: str) -> bool:
    return needle.lower() in (text or "").lower()


def _search_projects(ctx: Ctx, projects: list[sqlite3.Row], needle: str) -> list[Any]:
    return [render.project_json(ctx, p) for p in projects
            if _like(p["name"], needle) or _like(p["path"], needle)]  # fmt: skip


def _search_issues(ctx: Ctx, projects: list[sqlite3.Row], needle: str) -> list[Any]:
    """Title and description matches among issues the caller may read (confidential ones
    only as Reporter+, author or assignee)."""
    if not projects:
        return []
    marks = ",".join("?" * len(projects))
    rows = ctx.conn.execute(
        f"SELECT * FROM issues WHERE project_id IN ({marks}) AND (title LIKE ? OR description "
        f"LIKE ?) ORDER BY created_at DESC, id DESC",
        [*(p["id"] for p in projects), f"%{needle}%", f"%{needle}%"],
    ).fetchall()
    by_id = {p["id"]: p for p in projects}
    return render.issues_json(
        ctx, [r for r in rows if can_read_issue(ctx, by_id[r["project_id"]], r)]
    )


def _search_milestones(ctx: Ctx, projects: list[sqlite3.Row], needle: str) -> list[Any]:
    if not projects:
        return []
    marks = ",".join("?" * len(projects))
    rows = ctx.conn.execute(
        f"SELECT * FROM milestones WHERE project_id IN ({marks}) AND (title LIKE ? OR "
        f"description LIKE ?) ORDER BY id",
        [*(p["id"] for p in projects), f"%{needle}%", f"%{needle}%"],
    ).fetchall()
    return [render.milestone_json(ctx, m) for m in rows]


def _search_users(ctx: Ctx, needle: str) -> list[Any]:
    rows = ctx.conn.execute(
        "SELECT * FROM users WHERE state = 'active' AND (username LIKE ? OR name LIKE ?) "
        "ORDER BY id",
        (f"%{needle}%", f"%{needle}%"),
    ).fetchall()
    return [render.user_basic(ctx, u) for u in rows]


def _search_notes(ctx: Ctx, project: sqlite3.Row, needle: str) -> list[Any]:
    """Comments (no system notes) on issues the caller may read; internal ones only
    for Reporter+."""
    internal = "" if reads_internal(ctx, project) else " AND n.internal = 0"
    rows = ctx.conn.execute(
        f"SELECT n.* FROM notes n WHERE n.project_id = ? AND n.system = 0 AND n.body LIKE ?"
        f"{internal} ORDER BY n.created_at DESC, n.id DESC",
        (project["id"], f"%{needle}%"),
    ).fetchall()
    issues = {r["id"]: r for r in ctx.conn.execute(
        "SELECT * FROM issues WHERE project_id = ?", (project["id"],))}  # fmt: skip
    readable = [n for n in rows if can_read_issue(ctx, project, issues[n["issue_id"]])]
    return render.notes_json(ctx, readable)


def _search(ctx: Ctx, projects: list[sqlite3.Row], scopes: tuple[str, ...]) -> Any:
    need = [n for n in ("scope", "search") if not ctx.str_(n)]
    if need:
        raise missing(*need)
    scope = ctx.str_("scope")
    if scope not in scopes:
        raise bad_value("scope")
    needle = ctx.str_("search") or ""
    if scope == "projects":
        items = _search_projects(ctx, projects, needle)
    elif scope == "issues":
        items = _search_issues(ctx, projects, needle)
    elif scope == "milestones":
        items = _search_milestones(ctx, projects, needle)
    elif scope == "users":
        items = _search_users(ctx, needle)
    else:
        items = _search_notes(ctx, projects[0], needle)
    return paginate_list(ctx, items, {"scope": scope, "search": needle})


def _readable_projects(ctx: Ctx, where: str = "1=1", args: tuple[Any, ...] = ()) -> list[Any]:
    rows = ctx.conn.execute(f"SELECT * FROM projects WHERE {where} ORDER BY id", args).fetchall()
    return [p for p in rows if project_level(ctx, p) >= GUEST]


@route("GET", "/search", unsupported=SEARCH_UNSUPPORTED)
def search_all(ctx: Ctx) -> Any:
    return _search(ctx, _readable_projects(ctx), GLOBAL_SCOPES)


@route("GET", "/groups/:id/search", unsupported=SEARCH_UNSUPPORTED)
def search_group(ctx: Ctx) -> Any:
    g = find_group(ctx, ctx.path_params["id"])
    ids = descendant_ids(ctx.conn, g["id"])
    marks = ",".join("?" * len(ids))
    return _search(ctx, _readable_projects(ctx, f"namespace_id IN ({marks})", tuple(ids)),
                   GLOBAL_SCOPES)  # fmt: skip


@route("GET", "/projects/:id/search", unsupported=SEARCH_UNSUPPORTED)
def search_project(ctx: Ctx) -> Any:
    return _search(ctx, [find_project(ctx, ctx.path_params["id"])], PROJECT_SCOPES)


# ---------------------------------------------------------------- namespaces
def _namespace_json(ctx: Ctx, ns: sqlite3.Row) -> dict[str, Any]:
    out = render.namespace_json(ctx, ns)
    out["members_count_with_descendants"] = None
    return out


def _visible_namespaces(ctx: Ctx) -> list[sqlite3.Row]:
    """The caller's own namespace and the groups they can see (all for an admin)."""
    rows = ctx.conn.execute("SELECT * FROM namespaces ORDER BY id").fetchall()
    out = []
    for ns in rows:
        if ns["kind"] == "user":
            if ctx.is_admin or ns["owner_id"] == ctx.user["id"]:
                out.append(ns)
        elif group_level(ctx, ns) >= GUEST:
            out.append(ns)
    return out


@route("GET", "/namespaces")
def list_namespaces(ctx: Ctx) -> Any:
    rows = _visible_namespaces(ctx)
    search = ctx.str_("search")
    if search:
        rows = [ns for ns in rows if _like(ns["path"], search) or _like(ns["name"], search)]
    if ctx.bool_("owned_only"):
        rows = [ns for ns in rows if (ns["kind"] == "user" and ns["owner_id"] == ctx.user["id"])
                or (ns["kind"] == "group" and group_level(ctx, ns) >= 50)]  # fmt: skip
    if ctx.bool_("top_level_only"):
        rows = [ns for ns in rows if ns["parent_id"] is None]
    return [_namespace_json(ctx, ns) for ns in paginate_list(ctx, rows, {})]


def _find_namespace(ctx: Ctx, ident: str) -> sqlite3.Row | None:
    column = "id" if ident.isdigit() else "full_path"
    for ns in _visible_namespaces(ctx):
        if str(ns[column]).lower() == ident.lower():
            return ns
    return None


@route("GET", "/namespaces/:id")
def get_namespace(ctx: Ctx) -> Any:
    ns = _find_namespace(ctx, ctx.path_params["id"])
    if ns is None:
        raise not_found("Namespace")
    return _namespace_json(ctx, ns)


@route("GET", "/namespaces/:id/exists")
def namespace_exists(ctx: Ctx) -> Any:
    """Whether a path is taken at the top level (or below parent_id), and a free one."""
    path = ctx.path_params["id"]
    parent_id = ctx.int_("parent_id")
    parent = None
    if parent_id is not None:
        parent = ctx.conn.execute(
            "SELECT full_path FROM namespaces WHERE id = ?", (parent_id,)
        ).fetchone()
        if parent is None:
            raise ApiError(404, {"message": "404 Namespace Not Found"})
    full = f"{parent[0]}/{path}" if parent else path
    taken = ctx.conn.execute(
        "SELECT 1 FROM namespaces WHERE full_path = ? COLLATE NOCASE", (full,)
    ).fetchone()
    suggests: list[str] = []
    n = 1
    while taken and not suggests:
        candidate = f"{path}{n}"
        if not ctx.conn.execute(
            "SELECT 1 FROM namespaces WHERE full_path = ? COLLATE NOCASE",
            (f"{parent[0]}/{candidate}" if parent else candidate,),
        ).fetchone():
            suggests.append(candidate)
        n += 1
    return {"exists": taken is not None, "suggests": suggests}


# ---------------------------------------------------------------- CI templates
# The names of the .gitlab-ci.yml templates GitLab ships (lib/gitlab/ci/templates);
# the sandbox lists them (clients page through this list) but serves no content.
CI_TEMPLATES = (
    "5-Minute-Production-App", "Android", "Android-Fastlane", "Bash", "C++", "Chef", "Clojure",
    "Composer", "Crystal", "Dart", "Django", "Docker", "Elixir", "Flutter", "Getting-Started",
    "Go", "Gradle", "Grails", "Julia", "Laravel", "LaTeX", "Maven", "Mono", "Nodejs", "npm",
    "OpenShift", "Packer", "PHP", "Python", "Ruby", "Rust", "Scala", "Swift", "Terraform",
    "dotNET", "dotNET-Core", "iOS-Fastlane",
)  # fmt: skip


@route("GET", "/templates/gitlab_ci_ymls")
def list_ci_templates(ctx: Ctx) -> Any:
    items = [{"key": name, "name": name} for name in sorted(CI_TEMPLATES, key=str.lower)]
    return paginate_list(ctx, items, {})
