"""Issues: lists (project, group, global) with GitLab's filters, create/edit/delete,
system notes, resource label/state events."""

from __future__ import annotations

import base64
import json
import sqlite3
from datetime import date, timedelta
from typing import Any

from escbot.sandbox import render
from escbot.sandbox.access import (
    GUEST,
    OWNER,
    REPORTER,
    descendant_ids,
    find_group,
    find_project,
    find_user,
    project_level,
)
from escbot.sandbox.core import (
    ApiError,
    Ctx,
    bad_value,
    comma_list,
    forbidden,
    invalid,
    keyset_unavailable,
    missing,
    not_found,
    page_params,
    paginate_sql,
    route,
    to_int,
    to_query,
    validation,
)
from escbot.sandbox.domain import (
    add_event,
    add_note,
    exclusive_labels,
    resolve_labels,
    set_issue_labels,
)

ORDER_BY = (
    "created_at", "updated_at", "priority", "due_date", "relative_position", "label_priority",
    "milestone_due", "popularity", "weight", "title",
)  # fmt: skip
UPDATE_KEYS = [
    "assignee_id", "assignee_ids", "confidential", "created_at", "description",
    "discussion_locked", "due_date", "labels", "add_labels", "remove_labels", "milestone_id",
    "state_event", "title", "issue_type",
]  # fmt: skip
ISSUE_TYPES = ("issue", "incident", "test_case", "task")
TITLE_MAX = 255
DESCRIPTION_MAX = 1_048_576


# ---------------------------------------------------------------- finding
def find_issue(ctx: Ctx, project: sqlite3.Row, iid_text: str) -> sqlite3.Row:
    try:
        iid = to_int(iid_text, "issue_iid")
    except ApiError:
        raise invalid("issue_iid") from None
    row = ctx.conn.execute(
        "SELECT * FROM issues WHERE project_id = ? AND iid = ?", (project["id"], iid)
    ).fetchone()
    if row is None or not can_read_issue(ctx, project, row):
        raise not_found()
    return row


def can_read_issue(ctx: Ctx, project: sqlite3.Row, issue: sqlite3.Row) -> bool:
    if not issue["confidential"] or project_level(ctx, project) >= REPORTER:
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


def reload(ctx: Ctx, issue_id: int) -> sqlite3.Row:
    return ctx.conn.execute("SELECT * FROM issues WHERE id = ?", (issue_id,)).fetchone()


# ---------------------------------------------------------------- lists
def _bool_filter(ctx: Ctx, name: str) -> bool | None:
    return ctx.bool_(name)


def _user_filter(
    ctx: Ctx, where: list[str], args: list[Any], value: Any, kind: str, *, negate: bool = False
) -> None:
    """author_id / assignee_id: an id, or None/Any (assignee only)."""
    neg = "NOT " if negate else ""
    if kind == "assignee":
        s = str(value).strip()
        if s.lower() == "none":
            where.append(
                f"{'' if negate else 'NOT '}EXISTS (SELECT 1 FROM issue_assignees a "
                f"WHERE a.issue_id = i.id)"
            )
            return
        if s.lower() == "any":
            where.append(f"{neg}EXISTS (SELECT 1 FROM issue_assignees a WHERE a.issue_id = i.id)")
            return
        where.append(
            f"{neg}EXISTS (SELECT 1 FROM issue_assignees a WHERE a.issue_id = i.id "
            f"AND a.user_id = ?)"
        )
        args.append(to_int(value, "assignee_id"))
    else:
        where.append(f"i.author_id {'!=' if negate else '='} ?")
        args.append(to_int(value, "author_id"))


def _username_ids(ctx: Ctx, value: Any) -> list[int]:
    names = value if isinstance(value, list) else [value]
    ids = []
    for n in names:
        u = find_user(ctx.conn, str(n)) if not str(n).isdigit() else None
        ids.append(u["id"] if u else -1)
    return ids


def _label_filter(
    where: list[str],
    args: list[Any],
    value: Any,
    *,
    negate: bool,
    alt: dict[int, str] | None = None,
    conn: sqlite3.Connection | None = None,
    d_ok: set[int] | None = None,
    store: Any = None,
) -> None:
    titles = comma_list(value, "labels")
    if not titles:
        return
    if not negate and len(titles) == 1 and titles[0].lower() in ("none", "no+label", "no label"):
        where.append("NOT EXISTS (SELECT 1 FROM issue_labels il WHERE il.issue_id = i.id)")
        return
    if not negate and len(titles) == 1 and titles[0].lower() == "any":
        where.append("EXISTS (SELECT 1 FROM issue_labels il WHERE il.issue_id = i.id)")
        return
    if negate:
        marks = ",".join("?" * len(titles))
        where.append(
            f"NOT EXISTS (SELECT 1 FROM issue_labels il WHERE il.issue_id = i.id "
            f"AND il.label_title IN ({marks}))"
        )
        args.extend(titles)
        return
    titles = list(dict.fromkeys(titles))
    if conn is not None and len(titles) > 1:
        # Rarest label first: SQLite drives the count from the first IN list.
        titles = sorted(titles, key=lambda t: _label_cardinality(store, conn, t))
    if len(titles) > MAX_EXISTS:
        # SQLite caps expression depth at 1000: past the rarest few, one count stands in.
        rest, titles = titles[MAX_EXISTS:], titles[:MAX_EXISTS]
        where.append(
            "(SELECT COUNT(DISTINCT il.label_title) FROM issue_labels il WHERE il.issue_id = i.id "
            f"AND il.label_title IN ({','.join('?' * len(rest))})) = ?"
        )
        args.extend([*rest, len(rest)])
    for n, t in enumerate(titles):
        # EXISTS lets a page walk the ordering index and stop early; the count is driven
        # from the rarest label's rows in issue_labels (alias d) instead.
        if alt is not None and d_ok is not None:
            alt[len(where)] = (
                "d.label_title = ?"
                if n == 0
                else "EXISTS (SELECT 1 FROM issue_labels il WHERE il.issue_id = d.issue_id "
                "AND il.label_title = ?)"
            )
            d_ok.add(len(where))
        where.append(
            "EXISTS (SELECT 1 FROM issue_labels il WHERE il.issue_id = i.id AND il.label_title = ?)"
        )
        args.append(t)


MAX_EXISTS = 20  # label filter terms written as EXISTS (see _label_filter)


def _label_cardinality(store: Any, conn: sqlite3.Connection, title: str) -> int:
    def count() -> int:
        return conn.execute(
            "SELECT COUNT(*) FROM issue_labels WHERE label_title = ?", (title,)
        ).fetchone()[0]

    return store.cached(("label_cardinality", title), count) if store else count()


def _milestone_filter(
    where: list[str], args: list[Any], value: Any, *, negate: bool = False
) -> None:
    s = str(value)
    if s.lower() == "none":
        where.append("i.milestone_id IS NOT NULL" if negate else "i.milestone_id IS NULL")
    elif s.lower() == "any":
        where.append("i.milestone_id IS NULL" if negate else "i.milestone_id IS NOT NULL")
    else:
        where.append(
            f"{'NOT ' if negate else ''}EXISTS (SELECT 1 FROM milestones m "
            f"WHERE m.id = i.milestone_id AND m.title = ?)"
        )
        args.append(s)


def _due_filter(ctx: Ctx, where: list[str], args: list[Any], value: str) -> None:
    today = ctx.now_dt().date()
    v = value.strip()
    if v == "":
        return
    if v in ("0", "none", "no_due_date"):
        where.append("i.due_date IS NULL")
    elif v == "any":
        where.append("i.due_date IS NOT NULL")
    elif v == "today":
        where.append("i.due_date = ?")
        args.append(today.isoformat())
    elif v == "tomorrow":
        where.append("i.due_date = ?")
        args.append((today + timedelta(days=1)).isoformat())
    elif v == "overdue":
        where.append("i.due_date < ?")
        args.append(today.isoformat())
    elif v == "week":
        start = today - timedelta(days=today.weekday())
        where.append("i.due_date BETWEEN ? AND ?")
        args += [start.isoformat(), (start + timedelta(days=6)).isoformat()]
    elif v == "month":
        start = today.replace(day=1)
        end = _month_end(start)
        where.append("i.due_date BETWEEN ? AND ?")
        args += [start.isoformat(), end.isoformat()]
    elif v == "next_month_and_previous_two_weeks":
        nxt = _month_end(today.replace(day=1)) + timedelta(days=1)
        where.append("i.due_date BETWEEN ? AND ?")
        args += [(today - timedelta(days=14)).isoformat(), _month_end(nxt).isoformat()]
    else:
        raise bad_value("due_date")


def _month_end(first: date) -> date:
    nxt = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    return nxt - timedelta(days=1)


def _order_sql(order: str, sort: str) -> str:
    d = "ASC" if sort == "asc" else "DESC"
    prio = (
        "(SELECT MIN(l.priority) FROM issue_labels il JOIN labels l ON l.id = il.label_id "
        "WHERE il.issue_id = i.id)"
    )
    msdue = "(SELECT m.due_date FROM milestones m WHERE m.id = i.milestone_id)"
    return {
        "created_at": f"i.created_at {d}, i.id {d}",
        "updated_at": f"i.updated_at {d}, i.id {d}",
        "due_date": f"i.due_date IS NULL, i.due_date {d}, i.id {d}",
        "title": f"i.title {d}, i.id {d}",
        "relative_position": f"i.relative_position IS NULL, i.relative_position {d}, i.id {d}",
        "priority": f"{prio} IS NULL, {prio} {d}, i.id {d}",
        "label_priority": f"{prio} IS NULL, {prio} {d}, i.id {d}",
        "milestone_due": f"{msdue} IS NULL, {msdue} {d}, i.id {d}",
        "popularity": f"i.upvotes {d}, i.id {d}",
        "weight": f"i.id {d}",
    }[order]


def list_issues(
    ctx: Ctx,
    project_ids: list[int],
    *,
    defaults: dict[str, Any],
    scope_default: str = "all",
    context_project: int | None = None,
    context_group: int | None = None,
    keyset_ok: bool = False,
) -> Any:
    p = ctx.params
    where: list[str] = []
    args: list[Any] = []
    # Count forms over issue_labels d (by position in `where`), and which need no issues row.
    alt: dict[int, str] = {}
    d_ok: set[int] = set()

    def mirrored(page_sql: str, count_sql: str) -> None:
        alt[len(where)] = count_sql
        d_ok.add(len(where))
        where.append(page_sql)

    if not project_ids:
        mirrored("0", "0")
    else:
        marks = ",".join("?" * len(project_ids))
        mirrored(f"i.project_id IN ({marks})", f"d.project_id IN ({marks})")
        args += project_ids
    # Confidential issues: Reporter+ (or admin), the author, or an assignee.
    if not ctx.is_admin:
        readers = [
            pid for pid in project_ids if project_level(ctx, _project_row(ctx, pid)) >= REPORTER
        ]
        marks = ",".join("?" * len(readers)) or "NULL"
        where.append(
            f"(i.confidential = 0 OR i.project_id IN ({marks}) OR i.author_id = ? OR EXISTS "
            f"(SELECT 1 FROM issue_assignees a WHERE a.issue_id = i.id AND a.user_id = ?))"
        )
        args += [*readers, ctx.user["id"], ctx.user["id"]]

    state = ctx.enum("state", ("opened", "closed", "all"), "all")
    if state != "all":
        mirrored("i.state = ?", "d.state = ?")
        args.append(state)
    scope = ctx.enum("scope", ("created_by_me", "assigned_to_me", "all", "created-by-me",
                               "assigned-to-me"), scope_default)  # fmt: skip
    if scope in ("created_by_me", "created-by-me"):
        where.append("i.author_id = ?")
        args.append(ctx.user["id"])
    elif scope in ("assigned_to_me", "assigned-to-me"):
        where.append("EXISTS (SELECT 1 FROM issue_assignees a WHERE a.issue_id = i.id AND "
                     "a.user_id = ?)")  # fmt: skip
        args.append(ctx.user["id"])
    if "labels" in p:
        _label_filter(
            where, args, p["labels"], negate=False, alt=alt, conn=ctx.conn, d_ok=d_ok,
            store=ctx.app.store,
        )  # fmt: skip
    iids = p.get("iids")
    if iids not in (None, "", []):
        try:
            nums = [int(x) for x in comma_list(iids, "iids")]
        except ValueError:
            raise invalid("iids") from None
        marks = ",".join("?" * len(nums)) or "NULL"
        where.append(f"i.iid IN ({marks})")
        args += nums
    search = ctx.str_("search")
    if search:
        fields = comma_list(p.get("in", "title,description"), "in")
        if any(f not in ("title", "description") for f in fields):
            raise bad_value("in")
        like = f"%{search}%"
        cols = [f"i.{f} LIKE ?" for f in fields] or ["i.title LIKE ?"]
        where.append("(" + " OR ".join(cols) + ")")
        args += [like] * len(cols)
    if "assignee_id" in p and "assignee_username" in p:
        raise ApiError(400, {"error": "assignee_id, assignee_username are mutually exclusive"})
    if p.get("assignee_id") not in (None, ""):
        _user_filter(ctx, where, args, p["assignee_id"], "assignee")
    if p.get("assignee_username") not in (None, "", []):
        for uid in _username_ids(ctx, p["assignee_username"]):
            _user_filter(ctx, where, args, uid, "assignee")
    if "author_id" in p and "author_username" in p:
        raise ApiError(400, {"error": "author_id, author_username are mutually exclusive"})
    if p.get("author_id") not in (None, ""):
        _user_filter(ctx, where, args, p["author_id"], "author")
    if p.get("author_username") not in (None, ""):
        _user_filter(ctx, where, args, _username_ids(ctx, p["author_username"])[0], "author")
    if p.get("milestone") not in (None, ""):
        _milestone_filter(where, args, p["milestone"])
    conf = _bool_filter(ctx, "confidential")
    if conf is not None:
        where.append("i.confidential = ?")
        args.append(int(conf))
    if p.get("issue_type") not in (None, ""):
        where.append("i.issue_type = ?")
        args.append(ctx.enum("issue_type", ISSUE_TYPES))
    for name, col, op in (
        ("created_after", "created_at", ">="),
        ("created_before", "created_at", "<="),
        ("updated_after", "updated_at", ">="),
        ("updated_before", "updated_at", "<="),
    ):
        bound = ctx.datetime_(name)
        if bound is not None:
            mirrored(f"i.{col} {op} ?", f"d.{col} {op} ?")
            args.append(bound)
    if "due_date" in p:
        _due_filter(ctx, where, args, str(p["due_date"]))
    neg = p.get("not")
    if isinstance(neg, dict):
        if neg.get("labels") not in (None, ""):
            _label_filter(where, args, neg["labels"], negate=True)
        if neg.get("author_id") not in (None, ""):
            _user_filter(ctx, where, args, neg["author_id"], "author", negate=True)
        if neg.get("author_username") not in (None, ""):
            uid = _username_ids(ctx, neg["author_username"])[0]
            _user_filter(ctx, where, args, uid, "author", negate=True)
        if neg.get("assignee_id") not in (None, ""):
            _user_filter(ctx, where, args, neg["assignee_id"], "assignee", negate=True)
        if neg.get("assignee_username") not in (None, "", []):
            for uid in _username_ids(ctx, neg["assignee_username"]):
                _user_filter(ctx, where, args, uid, "assignee", negate=True)
        if neg.get("milestone") not in (None, ""):
            _milestone_filter(where, args, neg["milestone"], negate=True)
        if neg.get("iids") not in (None, "", []):
            nums = [to_int(x, "iids") for x in comma_list(neg["iids"], "iids")]
            where.append(f"i.iid NOT IN ({','.join('?' * len(nums))})")
            args += nums
    order = ctx.enum("order_by", ORDER_BY, "created_at") or "created_at"
    sort = ctx.enum("sort", ("asc", "desc"), "desc") or "desc"
    details = bool(ctx.bool_("with_labels_details", False))
    base = f"SELECT i.* FROM issues i WHERE {' AND '.join(where)}"

    if ctx.str_("pagination") == "keyset":
        if not keyset_ok or (ctx.str_("order_by") or "") not in ("id", "created_at", "updated_at"):
            raise keyset_unavailable()
        rows = _keyset(ctx, base, args, ctx.str_("order_by") or "id", sort, defaults)
    else:
        if "order_by" in p and p["order_by"] == "id":
            raise bad_value("order_by")
        count_sql = None
        if any(w.startswith("d.label_title") for w in alt.values()):
            cwhere = [alt.get(n, w) for n, w in enumerate(where)]
            join = "" if len(d_ok) == len(where) else " JOIN issues i ON i.id = d.issue_id"
            count_sql = f"SELECT 1 FROM issue_labels d{join} WHERE {' AND '.join(cwhere)}"

        def page_sql(total: int) -> str:
            # Many matches over several projects: walk the global order index and stop
            # at the page; few matches: fetch them through the narrow indexes and sort.
            if len(project_ids) > 1 and order in ("created_at", "updated_at") and total > 1500:
                return base.replace(
                    "FROM issues i ", f"FROM issues i INDEXED BY issues_{order}_all "
                )
            return base

        rows = paginate_sql(
            ctx, base, args, _order_sql(order, sort), defaults, count_sql=count_sql,
            page_sql=page_sql,
        )  # fmt: skip
    return render.issues_json(
        ctx, rows, context_project=context_project, context_group=context_group,
        label_details=details,
    )  # fmt: skip


def _project_row(ctx: Ctx, pid: int) -> sqlite3.Row:
    return render.project_paths(ctx, pid)[0]


def _keyset(
    ctx: Ctx, base: str, args: list[Any], order: str, sort: str, defaults: dict[str, Any]
) -> list[sqlite3.Row]:
    """Cursor pagination: only a rel="next" Link with a cursor, none on the last page."""
    _, per_page = page_params(ctx)
    col = f"i.{order}"
    d, op = ("DESC", "<") if sort == "desc" else ("ASC", ">")
    where, extra = "", list(args)
    cursor = ctx.str_("cursor")
    if cursor:
        try:
            data = json.loads(base64.urlsafe_b64decode(cursor.encode() + b"=="))
            cval, cid = data[order], int(data["id"])
        except (ValueError, KeyError, TypeError):
            raise invalid("cursor") from None
        if order == "id":
            where = f" AND i.id {op} ?"
            extra.append(cid)
        else:
            where = f" AND ({col} {op} ? OR ({col} = ? AND i.id {op} ?))"
            extra += [cval, cval, cid]
    order_sql = f"i.id {d}" if order == "id" else f"{col} {d}, i.id {d}"
    rows = ctx.conn.execute(
        f"{base}{where} ORDER BY {order_sql} LIMIT ?", [*extra, per_page + 1]
    ).fetchall()
    if len(rows) > per_page:
        rows = rows[:per_page]
        last = rows[-1]
        token = json.dumps({order: last[order], "id": last["id"]}, separators=(",", ":"))
        cur = base64.urlsafe_b64encode(token.encode()).decode().rstrip("=")
        params = {**defaults, **ctx.query, "per_page": per_page, "cursor": cur}
        params.pop("page", None)
        ctx.headers["Link"] = f'<{ctx.base}{ctx.path}?{to_query(params)}>; rel="next"'
    return rows


ISSUE_LIST_DEFAULTS = {
    "order_by": "created_at",
    "sort": "desc",
    "state": "all",
    "with_labels_details": False,
}


@route("GET", "/projects/:id/issues", job_token=True)
def list_project_issues(ctx: Ctx) -> Any:
    p = find_project(ctx, ctx.path_params["id"])
    defaults = {**ISSUE_LIST_DEFAULTS, "id": ctx.path_params["id"], "scope": "all"}
    return list_issues(ctx, [p["id"]], defaults=defaults, context_project=p["id"], keyset_ok=True)


@route("GET", "/groups/:id/issues")
def list_group_issues(ctx: Ctx) -> Any:
    g = find_group(ctx, ctx.path_params["id"])
    ns_ids = descendant_ids(ctx.conn, g["id"])
    marks = ",".join("?" * len(ns_ids))
    projects = ctx.conn.execute(
        f"SELECT * FROM projects WHERE namespace_id IN ({marks})", ns_ids
    ).fetchall()
    pids = [p["id"] for p in projects if project_level(ctx, p) >= GUEST]
    defaults = {**ISSUE_LIST_DEFAULTS, "id": ctx.path_params["id"], "scope": "all"}
    return list_issues(ctx, pids, defaults=defaults, context_group=g["id"])


@route("GET", "/issues")
def list_all_issues(ctx: Ctx) -> Any:
    projects = ctx.conn.execute("SELECT * FROM projects").fetchall()
    pids = [p["id"] for p in projects if project_level(ctx, p) >= GUEST]
    defaults = {**ISSUE_LIST_DEFAULTS, "scope": "created_by_me"}
    return list_issues(ctx, pids, defaults=defaults, scope_default="created_by_me")


@route("GET", "/projects/:id/issues/:issue_iid", job_token=True)
def get_issue(ctx: Ctx) -> Any:
    p = find_project(ctx, ctx.path_params["id"])
    issue = find_issue(ctx, p, ctx.path_params["issue_iid"])
    return render.issue_json(ctx, issue, context_project=p["id"])


@route("GET", "/issues/:id")
def get_issue_by_id(ctx: Ctx) -> Any:
    issue = ctx.conn.execute(
        "SELECT * FROM issues WHERE id = ?", (to_int(ctx.path_params["id"], "id"),)
    ).fetchone()
    if issue is None:
        raise not_found()
    p = _project_row(ctx, issue["project_id"])
    if project_level(ctx, p) < GUEST or not can_read_issue(ctx, p, issue):
        raise not_found()
    return render.issue_json(ctx, issue)


# ---------------------------------------------------------------- writing
def _parse_assignees(ctx: Ctx, project: sqlite3.Row) -> list[int] | None:
    """assignee_ids (array or comma string; [0]/[] clears) or legacy assignee_id."""
    if "assignee_ids" in ctx.params:
        raw = ctx.params["assignee_ids"]
        try:
            ids = [int(x) for x in comma_list(raw, "assignee_ids")]
        except ValueError:
            raise invalid("assignee_ids") from None
    elif "assignee_id" in ctx.params:
        v = ctx.params["assignee_id"]
        ids = [] if v in (None, "") else [to_int(v, "assignee_id")]
    else:
        return None
    out: list[int] = []
    for uid in ids:
        if uid <= 0 or uid in out:
            continue
        u = ctx.conn.execute("SELECT * FROM users WHERE id = ?", (uid,)).fetchone()
        # GitLab silently drops users who cannot read the project.
        if u is not None and project_level(ctx, project, u) >= GUEST:
            out.append(uid)
    if not ctx.app.settings["scoped_labels"]:
        out = out[:1]  # Free: one assignee
    return out


def _due(ctx: Ctx) -> tuple[bool, str | None]:
    if "due_date" not in ctx.params:
        return False, None
    v = ctx.params["due_date"]
    if v in (None, ""):
        return True, None
    try:
        return True, date.fromisoformat(str(v)).isoformat()
    except ValueError:
        raise invalid("due_date") from None


def _milestone(ctx: Ctx, project: sqlite3.Row) -> tuple[bool, int | None]:
    if "milestone_id" not in ctx.params:
        return False, None
    mid = ctx.int_("milestone_id")
    if not mid:
        return True, None
    row = ctx.conn.execute(
        "SELECT id FROM milestones WHERE id = ? AND (project_id = ? OR group_id IS NOT NULL)",
        (mid, project["id"]),
    ).fetchone()
    return True, row["id"] if row else None


def _check_title(title: str | None) -> None:
    if title is None or not title.strip():
        raise validation("title", "can't be blank")
    if len(title) > TITLE_MAX:
        raise validation("title", "is too long (maximum is 255 characters)")


def _check_description(desc: str | None) -> None:
    if desc is not None and len(desc) > DESCRIPTION_MAX:
        raise validation("description", "is too long (maximum is 1048576 characters)")


def _set_assignees(ctx: Ctx, issue_id: int, ids: list[int]) -> None:
    ctx.conn.execute("DELETE FROM issue_assignees WHERE issue_id = ?", (issue_id,))
    ctx.conn.executemany(
        "INSERT INTO issue_assignees (issue_id, user_id, position) VALUES (?,?,?)",
        [(issue_id, uid, n) for n, uid in enumerate(ids)],
    )


def create_issue_row(
    ctx: Ctx,
    project: sqlite3.Row,
    *,
    title: str,
    description: str | None,
    created_at: str | None = None,
    iid: int | None = None,
    confidential: bool = False,
    service_desk_reply_to: str | None = None,
) -> sqlite3.Row:
    conn = ctx.conn
    if iid is None:
        iid = conn.execute(
            "SELECT COALESCE(MAX(iid), 0) + 1 FROM issues WHERE project_id = ?",
            (project["id"],),
        ).fetchone()[0]
    when = created_at or ctx.now()
    count, done = render.task_counts(description)
    issue_id = conn.execute(
        "INSERT INTO issues (project_id, iid, title, description, author_id, created_at, "
        "updated_at, confidential, task_count, task_completed, service_desk_reply_to, "
        "relative_position) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        (project["id"], iid, title, description, ctx.user["id"], when, when, int(confidential),
         count, done, service_desk_reply_to, iid * 513),
    ).lastrowid  # fmt: skip
    issue = reload(ctx, issue_id)
    add_event(ctx, project["id"], "opened", "Issue", issue_id, iid, title, when=when)
    return issue


@route("POST", "/projects/:id/issues")
def create_issue(ctx: Ctx) -> Any:
    project = find_project(ctx, ctx.path_params["id"])
    level = project_level(ctx, project)
    if "title" not in ctx.params:
        raise missing("title")
    title = ctx.str_("title")
    _check_title(title)
    description = ctx.str_("description")
    _check_description(description)
    privileged = level >= OWNER  # admins and owners may set created_at / iid
    created_at = ctx.datetime_("created_at") if privileged else None
    iid = ctx.int_("iid") if privileged else None
    if (
        iid is not None
        and ctx.conn.execute(
            "SELECT 1 FROM issues WHERE project_id = ? AND iid = ?", (project["id"], iid)
        ).fetchone()
    ):
        raise ApiError(409, {"message": "Duplicated issue"})
    has_due, due = _due(ctx)
    has_ms, ms = _milestone(ctx, project)
    issue_type = ctx.enum("issue_type", ISSUE_TYPES, "issue")
    can_admin = level >= REPORTER
    assignees = _parse_assignees(ctx, project) if can_admin else None
    titles = (ctx.list_("labels") or []) if can_admin else []
    issue = create_issue_row(
        ctx, project, title=title or "", description=description, created_at=created_at,
        iid=iid, confidential=bool(ctx.bool_("confidential", False)),
    )  # fmt: skip
    updates: dict[str, Any] = {"issue_type": issue_type}
    if has_due and can_admin:
        updates["due_date"] = due
    if has_ms and can_admin and ms:
        updates["milestone_id"] = ms
        _milestone_event(ctx, issue, ms, "add", issue["created_at"])
    if ctx.has("discussion_locked"):
        updates["discussion_locked"] = int(bool(ctx.bool_("discussion_locked")))
    sets = ", ".join(f"{k} = ?" for k in updates)
    ctx.conn.execute(f"UPDATE issues SET {sets} WHERE id = ?", [*updates.values(), issue["id"]])
    if assignees:
        _set_assignees(ctx, issue["id"], assignees)
    if titles:
        labels = resolve_labels(ctx, project, titles, create=True)
        if ctx.app.settings["scoped_labels"]:
            labels = exclusive_labels(labels, labels)
        set_issue_labels(ctx, issue, labels, when=issue["created_at"])
    if updates.get("due_date"):
        # CommonSystemNotesService runs on create too (is_update: false): title and
        # description notes are skipped, the due-date note is not.
        add_note(ctx, reload(ctx, issue["id"]), f"changed due date to "
                 f"{_long_date(updates['due_date'])}", system=True,
                 created_at=issue["created_at"], touch=False)  # fmt: skip
    ctx.status = 201
    return render.issue_json(ctx, reload(ctx, issue["id"]), context_project=project["id"])


def _sentence(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    if len(items) == 2:
        return f"{items[0]} and {items[1]}"
    return ", ".join(items[:-1]) + f", and {items[-1]}"


def _long_date(d: str) -> str:
    dt = date.fromisoformat(d)
    return f"{dt.strftime('%B')} {dt.day}, {dt.year}"


def _marked_title_diff(old: str, new: str) -> tuple[str, str]:
    """GitLab's InlineDiff + markdown marker: {-removed-} / {+added+} around the change."""
    if old == "" or old == new:
        return old, new
    lcp = 0
    while lcp < min(len(old), len(new)) and old[lcp] == new[lcp]:
        lcp += 1
    lcs = 0
    while (
        lcs < min(len(old), len(new)) - lcp and old[len(old) - 1 - lcs] == new[len(new) - 1 - lcs]
    ):
        lcs += 1
    o_mid, n_mid = old[lcp : len(old) - lcs], new[lcp : len(new) - lcs]
    o = old[:lcp] + (f"{{-{o_mid}-}}" if o_mid else "") + old[len(old) - lcs :]
    n = new[:lcp] + (f"{{+{n_mid}+}}" if n_mid else "") + new[len(new) - lcs :]
    return o, n


@route("PUT", "/projects/:id/issues/:issue_iid")
def update_issue(ctx: Ctx) -> Any:
    project = find_project(ctx, ctx.path_params["id"])
    issue = find_issue(ctx, project, ctx.path_params["issue_iid"])
    if not any(k in ctx.params for k in [*UPDATE_KEYS, "updated_at"]):
        raise ApiError(
            400,
            {"error": ", ".join(UPDATE_KEYS)
             + " are missing, at least one parameter must be provided"},
        )  # fmt: skip
    level = project_level(ctx, project)
    can_admin = level >= REPORTER
    if not can_admin and issue["author_id"] != ctx.user["id"]:
        raise forbidden()
    state_event = ctx.enum("state_event", ("close", "reopen"))
    conn = ctx.conn
    changes: dict[str, Any] = {}
    notes: list[str] = []

    if "title" in ctx.params:
        title = ctx.str_("title")
        _check_title(title)
        if title != issue["title"]:
            changes["title"] = title
            o, n = _marked_title_diff(issue["title"], title or "")
            notes.append(f"changed title from **{o}** to **{n}**")
    if "description" in ctx.params:
        desc = ctx.str_("description")
        _check_description(desc)
        if (desc or "") != (issue["description"] or ""):
            changes["description"] = desc
            changes["task_count"], changes["task_completed"] = render.task_counts(desc)
            # CommonSystemNotesService: ticked/unticked checklist items get their own notes
            # instead of "changed the description".
            flipped = render.updated_tasks(issue["description"], desc)
            if render.task_items(desc) and flipped:
                notes.extend(
                    f"marked the checklist item **{label}** as "
                    f"{'completed' if done else 'incomplete'}"
                    for done, label in flipped
                )
            else:
                notes.append("changed the description")
    if "discussion_locked" in ctx.params:
        locked = bool(ctx.bool_("discussion_locked"))
        if bool(issue["discussion_locked"]) != locked:
            changes["discussion_locked"] = int(locked)
            notes.append(
                "locked the discussion in this issue"
                if locked
                else "unlocked the discussion in this issue"
            )
    if "created_at" in ctx.params and level >= OWNER:
        ts = ctx.datetime_("created_at")
        if ts:
            changes["created_at"] = ts
    if "issue_type" in ctx.params:
        changes["issue_type"] = ctx.enum("issue_type", ISSUE_TYPES)
    has_due, due = _due(ctx)
    if has_due and can_admin and due != issue["due_date"]:
        changes["due_date"] = due
        notes.append(
            f"changed due date to {_long_date(due)}"
            if due
            else f"removed due date {_long_date(issue['due_date'])}"
        )
    has_ms, ms = _milestone(ctx, project)
    if has_ms and can_admin and ms != issue["milestone_id"]:
        changes["milestone_id"] = ms
        # One event, as ResourceEvents::ChangeMilestoneService records it.
        if ms:
            _milestone_event(ctx, issue, ms, "add", ctx.now())
        else:
            _milestone_event(ctx, issue, issue["milestone_id"], "remove", ctx.now())
    if "confidential" in ctx.params:
        conf = bool(ctx.bool_("confidential"))
        if conf != bool(issue["confidential"]):
            changes["confidential"] = int(conf)
            notes.append(
                "made the issue confidential" if conf else "made the issue visible to everyone"
            )
    # Assignees.
    assignees = _parse_assignees(ctx, project) if can_admin else None
    assignee_note = None
    if assignees is not None:
        old = [r[0] for r in conn.execute(
            "SELECT user_id FROM issue_assignees WHERE issue_id = ? ORDER BY position",
            (issue["id"],),
        )]  # fmt: skip
        if old != assignees:
            _set_assignees(ctx, issue["id"], assignees)
            names = dict(conn.execute("SELECT id, username FROM users").fetchall())
            added = [f"@{names[u]}" for u in assignees if u not in old]
            removed = [f"@{names[u]}" for u in old if u not in assignees]
            parts = []
            if added:
                parts.append(f"assigned to {_sentence(added)}")
            if removed:
                parts.append(f"unassigned {_sentence(removed)}")
            if parts:
                assignee_note = " and ".join(parts)
            changes.setdefault("_touched", True)
    # Labels: `labels` (or the current set) + add_labels - remove_labels.
    labels_changed = False
    if can_admin and any(k in ctx.params for k in ("labels", "add_labels", "remove_labels")):
        current = conn.execute(
            "SELECT l.* FROM issue_labels il JOIN labels l ON l.id = il.label_id "
            "WHERE il.issue_id = ?",
            (issue["id"],),
        ).fetchall()
        cur_ids = {lb["id"] for lb in current}
        base = current
        from_labels: list[sqlite3.Row] = []
        if "labels" in ctx.params:
            from_labels = resolve_labels(ctx, project, ctx.list_("labels") or [], create=True)
            base = from_labels
        adds = resolve_labels(ctx, project, ctx.list_("add_labels") or [], create=True)
        removes = set(ctx.list_("remove_labels") or [])
        final: list[sqlite3.Row] = []
        seen: set[int] = set()
        for lb in [*base, *adds]:
            if lb["id"] in seen or lb["title"] in removes:
                continue
            seen.add(lb["id"])
            final.append(lb)
        if ctx.app.settings["scoped_labels"]:
            added_order = [lb for lb in [*adds, *from_labels] if lb["id"] not in cur_ids]
            final = exclusive_labels(final, added_order)
        labels_changed = set_issue_labels(ctx, issue, final)

    now = ctx.now()
    touched = labels_changed or bool(changes) or bool(state_event)
    changes.pop("_touched", None)
    if state_event == "close" and issue["state"] == "opened":
        changes.update(state="closed", closed_at=now, closed_by_id=ctx.user["id"])
    elif state_event == "reopen" and issue["state"] == "closed":
        changes.update(state="opened", closed_at=None, closed_by_id=None)
    if touched and (changes or labels_changed or assignee_note):
        changes["updated_at"] = now
    override = None
    if "updated_at" in ctx.params and level >= OWNER:
        # Admins and owners may set updated_at (imports, backfills); it wins over "now".
        override = ctx.datetime_("updated_at")
        if override is None:
            raise invalid("updated_at")
    if changes:
        sets = ", ".join(f"{k} = ?" for k in changes)
        conn.execute(f"UPDATE issues SET {sets} WHERE id = ?", [*changes.values(), issue["id"]])
    issue_now = reload(ctx, issue["id"])
    for body in notes:
        add_note(ctx, issue_now, body, system=True)
    if assignee_note:
        add_note(ctx, issue_now, assignee_note, system=True)
    if "state" in changes:
        new_state = "closed" if changes["state"] == "closed" else "reopened"
        conn.execute(
            "INSERT INTO state_events (issue_id, user_id, state, created_at) VALUES (?,?,?,?)",
            (issue["id"], ctx.user["id"], new_state, now),
        )
        add_event(ctx, project["id"], new_state, "Issue", issue["id"], issue["iid"],
                  issue_now["title"])  # fmt: skip
    if override is not None:
        conn.execute("UPDATE issues SET updated_at = ? WHERE id = ?", (override, issue["id"]))
    return render.issue_json(ctx, reload(ctx, issue["id"]), context_project=project["id"])


@route("DELETE", "/projects/:id/issues/:issue_iid")
def delete_issue(ctx: Ctx) -> Any:
    project = find_project(ctx, ctx.path_params["id"])
    issue = find_issue(ctx, project, ctx.path_params["issue_iid"])
    if project_level(ctx, project) < OWNER:
        raise forbidden()
    iid = issue["id"]
    for table, col in (
        ("issue_labels", "issue_id"), ("issue_assignees", "issue_id"), ("notes", "issue_id"),
        ("label_events", "issue_id"), ("state_events", "issue_id"),
        ("milestone_events", "issue_id"),
        ("issue_links", "source_id"), ("issue_links", "target_id"),
    ):  # fmt: skip
        ctx.conn.execute(f"DELETE FROM {table} WHERE {col} = ?", (iid,))
    ctx.conn.execute("DELETE FROM issues WHERE id = ?", (iid,))
    ctx.status = 204
    return None


# ---------------------------------------------------------------- resource events
def _label_event_json(ctx: Ctx, r: sqlite3.Row, users: dict[int, sqlite3.Row]) -> dict[str, Any]:
    label = None
    if r["l_id"] is not None:
        label = {
            "id": r["l_id"],
            "name": r["l_title"],
            "color": r["l_color"],
            "description": r["l_description"],
        }
    return {
        "id": r["id"],
        "user": render.user_basic(ctx, users.get(r["user_id"])),
        "created_at": r["created_at"],
        "resource_type": "Issue",
        "resource_id": r["issue_id"],
        "label": label,
        "action": r["action"],
    }


_LABEL_EVENTS_SQL = (
    "SELECT e.*, l.id AS l_id, l.title AS l_title, l.color AS l_color, "
    "l.description AS l_description FROM label_events e LEFT JOIN labels l ON l.id = e.label_id "
    "WHERE e.issue_id = ?"
)


@route("GET", "/projects/:id/issues/:issue_iid/resource_label_events")
def list_label_events(ctx: Ctx) -> Any:
    project = find_project(ctx, ctx.path_params["id"])
    issue = find_issue(ctx, project, ctx.path_params["issue_iid"])
    rows = paginate_sql(
        ctx, _LABEL_EVENTS_SQL, [issue["id"]], "id ASC",
        {"id": ctx.path_params["id"], "eventable_id": ctx.path_params["issue_iid"]},
    )  # fmt: skip
    users = render.users_by_id(ctx, {r["user_id"] for r in rows})
    return [_label_event_json(ctx, r, users) for r in rows]


@route("GET", "/projects/:id/issues/:issue_iid/resource_label_events/:event_id")
def get_label_event(ctx: Ctx) -> Any:
    project = find_project(ctx, ctx.path_params["id"])
    issue = find_issue(ctx, project, ctx.path_params["issue_iid"])
    r = ctx.conn.execute(
        _LABEL_EVENTS_SQL + " AND e.id = ?",
        (issue["id"], to_int(ctx.path_params["event_id"], "event_id")),
    ).fetchone()
    if r is None:
        raise not_found()
    return _label_event_json(ctx, r, render.users_by_id(ctx, {r["user_id"]}))


def _state_event_json(ctx: Ctx, r: sqlite3.Row, users: dict[int, sqlite3.Row]) -> dict[str, Any]:
    return {
        "id": r["id"],
        "user": render.user_basic(ctx, users.get(r["user_id"])),
        "created_at": r["created_at"],
        "resource_type": "Issue",
        "resource_id": r["issue_id"],
        "state": r["state"],
    }


@route("GET", "/projects/:id/issues/:issue_iid/resource_state_events")
def list_state_events(ctx: Ctx) -> Any:
    project = find_project(ctx, ctx.path_params["id"])
    issue = find_issue(ctx, project, ctx.path_params["issue_iid"])
    rows = paginate_sql(
        ctx, "SELECT * FROM state_events WHERE issue_id = ?", [issue["id"]], "id ASC",
        {"id": ctx.path_params["id"], "eventable_id": ctx.path_params["issue_iid"]},
    )  # fmt: skip
    users = render.users_by_id(ctx, {r["user_id"] for r in rows})
    return [_state_event_json(ctx, r, users) for r in rows]


@route("GET", "/projects/:id/issues/:issue_iid/resource_state_events/:event_id")
def get_state_event(ctx: Ctx) -> Any:
    project = find_project(ctx, ctx.path_params["id"])
    issue = find_issue(ctx, project, ctx.path_params["issue_iid"])
    r = ctx.conn.execute(
        "SELECT * FROM state_events WHERE issue_id = ? AND id = ?",
        (issue["id"], to_int(ctx.path_params["event_id"], "event_id")),
    ).fetchone()
    if r is None:
        raise not_found()
    return _state_event_json(ctx, r, render.users_by_id(ctx, {r["user_id"]}))


def _milestone_event(ctx: Ctx, issue: sqlite3.Row, ms: int, action: str, when: str) -> None:
    ctx.conn.execute(
        "INSERT INTO milestone_events (issue_id, user_id, milestone_id, action, state, "
        "created_at) VALUES (?,?,?,?,?,?)",
        (issue["id"], ctx.user["id"], ms, action, issue["state"], when),
    )


def _milestone_events_json(ctx: Ctx, rows: list[sqlite3.Row]) -> list[dict[str, Any]]:
    users = render.users_by_id(ctx, {r["user_id"] for r in rows})
    out = []
    for r in rows:
        m = ctx.conn.execute("SELECT * FROM milestones WHERE id = ?", (r["milestone_id"],))
        mrow = m.fetchone()
        out.append(
            {
                "id": r["id"],
                "user": render.user_basic(ctx, users.get(r["user_id"])),
                "created_at": r["created_at"],
                "resource_type": "Issue",
                "resource_id": r["issue_id"],
                "milestone": render.milestone_json(ctx, mrow) if mrow else None,
                "action": r["action"],
                "state": r["state"],
            }
        )
    return out


@route("GET", "/projects/:id/issues/:issue_iid/resource_milestone_events")
def list_milestone_events(ctx: Ctx) -> Any:
    project = find_project(ctx, ctx.path_params["id"])
    issue = find_issue(ctx, project, ctx.path_params["issue_iid"])
    rows = paginate_sql(
        ctx, "SELECT * FROM milestone_events WHERE issue_id = ?", [issue["id"]], "id ASC",
        {"id": ctx.path_params["id"], "eventable_id": ctx.path_params["issue_iid"]},
    )  # fmt: skip
    return _milestone_events_json(ctx, rows)
