"""Issues: lists (project, group, global) with GitLab's filters, create/edit/delete,
system notes, resource label/state events."""

from __future__ import annotations

import base64
import json
import sqlite3
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from escbot.sandbox import render
from escbot.sandbox.access import (
    GUEST,
    OWNER,
    REPORTER,
    can_read_issue,
    descendant_ids,
    find_group,
    find_project,
    find_user,
    project_level,
    readable_issue_sql,
)
from escbot.sandbox.core import (
    ApiError,
    Ctx,
    at_least_one,
    bad_value,
    comma_list,
    forbidden,
    invalid,
    keyset_unavailable,
    missing,
    not_found,
    page_params,
    paginate_list,
    paginate_sql,
    route,
    to_int,
    to_query,
    validation,
)
from escbot.sandbox.domain import (
    add_event,
    add_note,
    delete_issue_rows,
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
EE_UPDATE_KEYS = ("weight",)  # accepted, though not named in the "at least one" error
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


def reload(ctx: Ctx, issue_id: int) -> sqlite3.Row:
    return ctx.conn.execute("SELECT * FROM issues WHERE id = ?", (issue_id,)).fetchone()


# ---------------------------------------------------------------- lists
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
        "weight": f"i.weight IS NULL, i.weight {d}, i.id {d}",
    }[order]


@dataclass
class Where:
    """WHERE terms over `issues i` and their args. For a label-filtered count, `alt`
    holds an equivalent term over `issue_labels d` by position, and `d_only` the
    positions whose term needs no issues row at all."""

    terms: list[str] = field(default_factory=list)
    args: list[Any] = field(default_factory=list)
    alt: dict[int, str] = field(default_factory=dict)
    d_only: set[int] = field(default_factory=set)

    def add(self, sql: str, *args: Any) -> None:
        self.terms.append(sql)
        self.args += args

    def mirrored(self, sql: str, count_sql: str, *args: Any) -> None:
        self.alt[len(self.terms)] = count_sql
        self.d_only.add(len(self.terms))
        self.add(sql, *args)

    def count_sql(self) -> str | None:
        """A COUNT driven from the rarest label's issue_labels rows, when labels filter."""
        if not any(t.startswith("d.label_title") for t in self.alt.values()):
            return None
        terms = [self.alt.get(n, t) for n, t in enumerate(self.terms)]
        join = "" if len(self.d_only) == len(self.terms) else " JOIN issues i ON i.id = d.issue_id"
        return f"SELECT 1 FROM issue_labels d{join} WHERE {' AND '.join(terms)}"


def _visibility_terms(ctx: Ctx, w: Where, project_ids: list[int]) -> None:
    """The projects listed, and confidential issues only where the caller may read them."""
    marks = ",".join("?" * len(project_ids))
    if project_ids:
        w.mirrored(f"i.project_id IN ({marks})", f"d.project_id IN ({marks})", *project_ids)
    else:
        w.mirrored("0", "0")
    if not ctx.is_admin:
        readers = [pid for pid in project_ids
                   if project_level(ctx, _project_row(ctx, pid)) >= REPORTER]  # fmt: skip
        readable, readable_args = readable_issue_sql(ctx)
        w.add(f"(i.project_id IN ({','.join('?' * len(readers)) or 'NULL'}) OR {readable})",
              *readers, *readable_args)  # fmt: skip


def _main_filters(ctx: Ctx, w: Where, scope_default: str) -> None:
    """state, scope, labels, iids and search."""
    p = ctx.params
    state = ctx.enum("state", ("opened", "closed", "all"), "all")
    if state != "all":
        w.mirrored("i.state = ?", "d.state = ?", state)
    scope = ctx.enum("scope", ("created_by_me", "assigned_to_me", "all", "created-by-me",
                               "assigned-to-me"), scope_default)  # fmt: skip
    if scope in ("created_by_me", "created-by-me"):
        w.add("i.author_id = ?", ctx.user["id"])
    elif scope in ("assigned_to_me", "assigned-to-me"):
        w.add("EXISTS (SELECT 1 FROM issue_assignees a WHERE a.issue_id = i.id AND "
              "a.user_id = ?)", ctx.user["id"])  # fmt: skip
    if "labels" in p:
        _label_filter(
            w.terms, w.args, p["labels"], negate=False, alt=w.alt, conn=ctx.conn,
            d_ok=w.d_only, store=ctx.app.store,
        )  # fmt: skip
    iids = p.get("iids")
    if iids not in (None, "", []):
        try:
            nums = [int(x) for x in comma_list(iids, "iids")]
        except ValueError:
            raise invalid("iids") from None
        w.add(f"i.iid IN ({','.join('?' * len(nums)) or 'NULL'})", *nums)
    search = ctx.str_("search")
    if search:
        fields = comma_list(p.get("in", "title,description"), "in")
        if any(f not in ("title", "description") for f in fields):
            raise bad_value("in")
        cols = [f"i.{f} LIKE ?" for f in fields] or ["i.title LIKE ?"]
        w.add("(" + " OR ".join(cols) + ")", *[f"%{search}%"] * len(cols))


def _people_filters(ctx: Ctx, w: Where) -> None:
    """assignee_id/assignee_username, author_id/author_username, my_reaction_emoji."""
    p = ctx.params
    if "assignee_id" in p and "assignee_username" in p:
        raise ApiError(400, {"error": "assignee_id, assignee_username are mutually exclusive"})
    if p.get("assignee_id") not in (None, ""):
        _user_filter(ctx, w.terms, w.args, p["assignee_id"], "assignee")
    if p.get("assignee_username") not in (None, "", []):
        for uid in _username_ids(ctx, p["assignee_username"]):
            _user_filter(ctx, w.terms, w.args, uid, "assignee")
    if "author_id" in p and "author_username" in p:
        raise ApiError(400, {"error": "author_id, author_username are mutually exclusive"})
    if p.get("author_id") not in (None, ""):
        _user_filter(ctx, w.terms, w.args, p["author_id"], "author")
    if p.get("author_username") not in (None, ""):
        uid = _username_ids(ctx, p["author_username"])[0]
        _user_filter(ctx, w.terms, w.args, uid, "author")
    emoji = ctx.str_("my_reaction_emoji")
    if emoji:
        mine = ("SELECT 1 FROM award_emoji e WHERE e.awardable_type = 'Issue' AND "
                "e.awardable_id = i.id AND e.user_id = ?")  # fmt: skip
        if emoji.lower() == "none":
            w.add(f"NOT EXISTS ({mine})", ctx.user["id"])
        elif emoji.lower() == "any":
            w.add(f"EXISTS ({mine})", ctx.user["id"])
        else:
            w.add(f"EXISTS ({mine} AND e.name = ?)", ctx.user["id"], emoji)


def _attribute_filters(ctx: Ctx, w: Where) -> None:
    """milestone, milestone_id, weight, confidential, issue_type, dates, due_date."""
    p = ctx.params
    if p.get("milestone") not in (None, ""):
        _milestone_filter(w.terms, w.args, p["milestone"])
    if p.get("milestone_id") not in (None, ""):
        _milestone_id_filter(ctx, w, str(p["milestone_id"]))
    if p.get("weight") not in (None, ""):
        weight = str(p["weight"])
        if weight.lower() in ("none", "any"):
            w.add(f"i.weight IS {'' if weight.lower() == 'none' else 'NOT '}NULL")
        else:
            w.add("i.weight = ?", to_int(weight, "weight"))
    conf = ctx.bool_("confidential")
    if conf is not None:
        w.add("i.confidential = ?", int(conf))
    if p.get("issue_type") not in (None, ""):
        w.add("i.issue_type = ?", ctx.enum("issue_type", ISSUE_TYPES))
    for name, col, op in (
        ("created_after", "created_at", ">="),
        ("created_before", "created_at", "<="),
        ("updated_after", "updated_at", ">="),
        ("updated_before", "updated_at", "<="),
    ):
        bound = ctx.datetime_(name)
        if bound is not None:
            w.mirrored(f"i.{col} {op} ?", f"d.{col} {op} ?", bound)
    if "due_date" in p:
        _due_filter(ctx, w.terms, w.args, str(p["due_date"]))


def _milestone_id_filter(ctx: Ctx, w: Where, value: str) -> None:
    """milestone_id: None, Any, Upcoming (the next due), Started (begun, not yet due)."""
    today = ctx.now_dt().date().isoformat()
    kind = value.lower()
    if kind in ("none", "any"):
        w.add(f"i.milestone_id IS {'' if kind == 'none' else 'NOT '}NULL")
    elif kind == "upcoming":
        w.add("i.milestone_id IN (SELECT id FROM milestones WHERE due_date = (SELECT "
              "MIN(due_date) FROM milestones WHERE due_date > ? AND state = 'active'))",
              today)  # fmt: skip
    elif kind == "started":
        w.add("i.milestone_id IN (SELECT id FROM milestones WHERE state = 'active' AND "
              "start_date <= ? AND (due_date IS NULL OR due_date >= ?))", today, today)  # fmt: skip
    else:
        raise bad_value("milestone_id")


def _negated_filters(ctx: Ctx, w: Where) -> None:
    """not[labels], not[author_*], not[assignee_*], not[milestone], not[iids]."""
    neg = ctx.params.get("not")
    if not isinstance(neg, dict):
        return
    if neg.get("labels") not in (None, ""):
        _label_filter(w.terms, w.args, neg["labels"], negate=True)
    if neg.get("author_id") not in (None, ""):
        _user_filter(ctx, w.terms, w.args, neg["author_id"], "author", negate=True)
    if neg.get("author_username") not in (None, ""):
        uid = _username_ids(ctx, neg["author_username"])[0]
        _user_filter(ctx, w.terms, w.args, uid, "author", negate=True)
    if neg.get("assignee_id") not in (None, ""):
        _user_filter(ctx, w.terms, w.args, neg["assignee_id"], "assignee", negate=True)
    if neg.get("assignee_username") not in (None, "", []):
        for uid in _username_ids(ctx, neg["assignee_username"]):
            _user_filter(ctx, w.terms, w.args, uid, "assignee", negate=True)
    if neg.get("milestone") not in (None, ""):
        _milestone_filter(w.terms, w.args, neg["milestone"], negate=True)
    if neg.get("iids") not in (None, "", []):
        nums = [to_int(x, "iids") for x in comma_list(neg["iids"], "iids")]
        w.add(f"i.iid NOT IN ({','.join('?' * len(nums))})", *nums)


def _issue_page(
    ctx: Ctx, w: Where, project_ids: list[int], defaults: dict[str, Any], *, keyset_ok: bool
) -> list[sqlite3.Row]:
    """One page of the matching issues: keyset (cursor) or offset pagination."""
    order = ctx.enum("order_by", ORDER_BY, "created_at") or "created_at"
    sort = ctx.enum("sort", ("asc", "desc"), "desc") or "desc"
    base = f"SELECT i.* FROM issues i WHERE {' AND '.join(w.terms)}"
    if ctx.str_("pagination") == "keyset":
        if not keyset_ok or (ctx.str_("order_by") or "") not in ("id", "created_at", "updated_at"):
            raise keyset_unavailable()
        return _keyset(ctx, base, w.args, ctx.str_("order_by") or "id", sort, defaults)
    if ctx.params.get("order_by") == "id":
        raise bad_value("order_by")

    def page_sql(total: int) -> str:
        # Many matches over several projects: walk the global order index and stop
        # at the page; few matches: fetch them through the narrow indexes and sort.
        if len(project_ids) > 1 and order in ("created_at", "updated_at") and total > 1500:
            return base.replace("FROM issues i ", f"FROM issues i INDEXED BY issues_{order}_all ")
        return base

    return paginate_sql(
        ctx, base, w.args, _order_sql(order, sort), defaults, count_sql=w.count_sql(),
        page_sql=page_sql,
    )  # fmt: skip


# Documented for issues (issues.md) but not implemented here.
ISSUE_LIST_UNSUPPORTED = ("epic_id", "health_status", "iteration_id", "iteration_title")
ISSUE_WRITE_UNSUPPORTED = ("epic_id", "epic_iid", "merge_request_to_resolve_discussions_of",
                           "discussion_to_resolve")  # fmt: skip
# Documented list filters every sandbox issue passes (no project is ever archived).
ISSUE_FILTERS_ALWAYS_MET = ("non_archived",)


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
    """GET .../issues with GitLab's filters over the given projects."""
    w = Where()
    _visibility_terms(ctx, w, project_ids)
    _main_filters(ctx, w, scope_default)
    _people_filters(ctx, w)
    _attribute_filters(ctx, w)
    _negated_filters(ctx, w)
    rows = _issue_page(ctx, w, project_ids, defaults, keyset_ok=keyset_ok)
    return render.issues_json(
        ctx, rows, context_project=context_project, context_group=context_group,
        label_details=bool(ctx.bool_("with_labels_details", False)),
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


@route("GET", "/projects/:id/issues", job_token=True, unsupported=ISSUE_LIST_UNSUPPORTED)
def list_project_issues(ctx: Ctx) -> Any:
    p = find_project(ctx, ctx.path_params["id"])
    defaults = {**ISSUE_LIST_DEFAULTS, "id": ctx.path_params["id"], "scope": "all"}
    return list_issues(ctx, [p["id"]], defaults=defaults, context_project=p["id"], keyset_ok=True)


@route("GET", "/groups/:id/issues", unsupported=ISSUE_LIST_UNSUPPORTED)
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


@route("GET", "/issues", unsupported=ISSUE_LIST_UNSUPPORTED)
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
    return True, ctx.date_("due_date")


def _weight(ctx: Ctx) -> tuple[bool, int | None]:
    """EE weight: a non-negative integer, or empty/null to remove it."""
    if "weight" not in ctx.params:
        return False, None
    weight = ctx.int_("weight")
    if weight is not None and weight < 0:
        raise bad_value("weight")
    return True, weight


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
    assert issue_id is not None  # an INSERT always sets it
    issue = reload(ctx, issue_id)
    add_event(ctx, project["id"], "opened", "Issue", issue_id, iid, title, when=when)
    return issue


@route("POST", "/projects/:id/issues", unsupported=ISSUE_WRITE_UNSUPPORTED)
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
    has_weight, weight = _weight(ctx)
    if has_weight and can_admin:
        updates["weight"] = weight
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


# PUT is split by concern; each part returns the column changes and the system notes
# (in GitLab's order) it implies, and update_issue writes them once.
Changes = dict[str, Any]


def _content_changes(ctx: Ctx, issue: sqlite3.Row, level: int) -> tuple[Changes, list[str]]:
    """Title, description (checklist toggles get their own notes), lock, created_at, type."""
    changes: Changes = {}
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
            notes += _description_notes(issue["description"], desc)
    if "discussion_locked" in ctx.params:
        locked = bool(ctx.bool_("discussion_locked"))
        if bool(issue["discussion_locked"]) != locked:
            changes["discussion_locked"] = int(locked)
            verb = "locked" if locked else "unlocked"
            notes.append(f"{verb} the discussion in this issue")
    if "created_at" in ctx.params and level >= OWNER:
        ts = ctx.datetime_("created_at")
        if ts:
            changes["created_at"] = ts
    if "issue_type" in ctx.params:
        changes["issue_type"] = ctx.enum("issue_type", ISSUE_TYPES)
    return changes, notes


def _description_notes(old: str | None, new: str | None) -> list[str]:
    """CommonSystemNotesService: ticked/unticked checklist items get their own notes
    instead of "changed the description"."""
    flipped = render.updated_tasks(old, new)
    if not (render.task_items(new) and flipped):
        return ["changed the description"]
    return [
        f"marked the checklist item **{label}** as {'completed' if done else 'incomplete'}"
        for done, label in flipped
    ]


def _planning_changes(
    ctx: Ctx, project: sqlite3.Row, issue: sqlite3.Row, *, can_admin: bool
) -> tuple[Changes, list[str]]:
    """Due date, milestone and weight: notes and resource events. Values are validated
    for everyone, applied only for Reporter and above."""
    has_due, due = _due(ctx)
    has_ms, ms = _milestone(ctx, project)
    has_weight, weight = _weight(ctx)
    changes: Changes = {}
    notes: list[str] = []
    if not can_admin:
        return changes, notes
    if has_due and due != issue["due_date"]:
        changes["due_date"] = due
        notes.append(
            f"changed due date to {_long_date(due)}"
            if due
            else f"removed due date {_long_date(issue['due_date'])}"
        )
    if has_ms and ms != issue["milestone_id"]:
        changes["milestone_id"] = ms
        # One event, as ResourceEvents::ChangeMilestoneService records it.
        if ms:
            _milestone_event(ctx, issue, ms, "add", ctx.now())
        else:
            _milestone_event(ctx, issue, issue["milestone_id"], "remove", ctx.now())
    if has_weight and weight != issue["weight"]:
        changes["weight"] = weight
        ctx.conn.execute(
            "INSERT INTO weight_events (issue_id, user_id, weight, created_at) VALUES (?,?,?,?)",
            (issue["id"], ctx.user["id"], weight, ctx.now()),
        )
    return changes, notes


def _confidentiality_change(ctx: Ctx, issue: sqlite3.Row) -> tuple[Changes, list[str]]:
    if "confidential" not in ctx.params:
        return {}, []
    conf = bool(ctx.bool_("confidential"))
    if conf == bool(issue["confidential"]):
        return {}, []
    note = "made the issue confidential" if conf else "made the issue visible to everyone"
    return {"confidential": int(conf)}, [note]


def _update_assignees(ctx: Ctx, project: sqlite3.Row, issue: sqlite3.Row) -> str | None:
    """Replace the assignees if asked; the system note's text, or None."""
    assignees = _parse_assignees(ctx, project)
    if assignees is None:
        return None
    old = [r[0] for r in ctx.conn.execute(
        "SELECT user_id FROM issue_assignees WHERE issue_id = ? ORDER BY position",
        (issue["id"],),
    )]  # fmt: skip
    if old == assignees:
        return None
    _set_assignees(ctx, issue["id"], assignees)
    names = dict(ctx.conn.execute("SELECT id, username FROM users").fetchall())
    added = [f"@{names[u]}" for u in assignees if u not in old]
    removed = [f"@{names[u]}" for u in old if u not in assignees]
    parts = []
    if added:
        parts.append(f"assigned to {_sentence(added)}")
    if removed:
        parts.append(f"unassigned {_sentence(removed)}")
    return " and ".join(parts) or None


def _update_labels(ctx: Ctx, project: sqlite3.Row, issue: sqlite3.Row) -> bool:
    """`labels` (or the current set) + add_labels - remove_labels; True if changed."""
    if not any(k in ctx.params for k in ("labels", "add_labels", "remove_labels")):
        return False
    current = ctx.conn.execute(
        "SELECT l.* FROM issue_labels il JOIN labels l ON l.id = il.label_id WHERE il.issue_id = ?",
        (issue["id"],),
    ).fetchall()
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
        cur_ids = {lb["id"] for lb in current}
        added_order = [lb for lb in [*adds, *from_labels] if lb["id"] not in cur_ids]
        final = exclusive_labels(final, added_order)
    return set_issue_labels(ctx, issue, final)


def _state_change(ctx: Ctx, issue: sqlite3.Row, state_event: str | None) -> Changes:
    if state_event == "close" and issue["state"] == "opened":
        return {"state": "closed", "closed_at": ctx.now(), "closed_by_id": ctx.user["id"]}
    if state_event == "reopen" and issue["state"] == "closed":
        return {"state": "opened", "closed_at": None, "closed_by_id": None}
    return {}


def _record_state_event(ctx: Ctx, project: sqlite3.Row, issue: sqlite3.Row, state: str) -> None:
    new_state = "closed" if state == "closed" else "reopened"
    ctx.conn.execute(
        "INSERT INTO state_events (issue_id, user_id, state, created_at) VALUES (?,?,?,?)",
        (issue["id"], ctx.user["id"], new_state, ctx.now()),
    )
    add_event(ctx, project["id"], new_state, "Issue", issue["id"], issue["iid"], issue["title"])


def _updated_at_override(ctx: Ctx, level: int) -> str | None:
    """Admins and owners may set updated_at (imports, backfills); it wins over "now"."""
    if "updated_at" not in ctx.params or level < OWNER:
        return None
    override = ctx.datetime_("updated_at")
    if override is None:
        raise invalid("updated_at")
    return override


@route("PUT", "/projects/:id/issues/:issue_iid", unsupported=ISSUE_WRITE_UNSUPPORTED)
def update_issue(ctx: Ctx) -> Any:
    project = find_project(ctx, ctx.path_params["id"])
    issue = find_issue(ctx, project, ctx.path_params["issue_iid"])
    if not any(k in ctx.params for k in [*UPDATE_KEYS, *EE_UPDATE_KEYS, "updated_at"]):
        raise at_least_one(UPDATE_KEYS)
    level = project_level(ctx, project)
    can_admin = level >= REPORTER  # below it, an author edits only title and description
    if not can_admin and issue["author_id"] != ctx.user["id"]:
        raise forbidden()
    state_event = ctx.enum("state_event", ("close", "reopen"))
    changes, notes = _content_changes(ctx, issue, level)
    for more, more_notes in (
        _planning_changes(ctx, project, issue, can_admin=can_admin),
        _confidentiality_change(ctx, issue),
    ):
        changes.update(more)
        notes += more_notes
    assignee_note = _update_assignees(ctx, project, issue) if can_admin else None
    labels_changed = _update_labels(ctx, project, issue) if can_admin else False
    changes.update(_state_change(ctx, issue, state_event))
    if changes or labels_changed or assignee_note:
        changes["updated_at"] = ctx.now()
    override = _updated_at_override(ctx, level)
    if changes:
        sets = ", ".join(f"{k} = ?" for k in changes)
        ctx.conn.execute(f"UPDATE issues SET {sets} WHERE id = ?", [*changes.values(), issue["id"]])
    issue_now = reload(ctx, issue["id"])
    for body in [*notes, *([assignee_note] if assignee_note else [])]:
        add_note(ctx, issue_now, body, system=True)
    if "state" in changes:
        _record_state_event(ctx, project, issue_now, changes["state"])
    if override is not None:
        ctx.conn.execute("UPDATE issues SET updated_at = ? WHERE id = ?", (override, issue["id"]))
    return render.issue_json(ctx, reload(ctx, issue["id"]), context_project=project["id"])


@route("DELETE", "/projects/:id/issues/:issue_iid")
def delete_issue(ctx: Ctx) -> Any:
    project = find_project(ctx, ctx.path_params["id"])
    issue = find_issue(ctx, project, ctx.path_params["issue_iid"])
    if project_level(ctx, project) < OWNER:
        raise forbidden()
    delete_issue_rows(ctx.conn, [issue["id"]])
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


@route("GET", "/projects/:id/issues/:issue_iid/resource_milestone_events/:event_id")
def get_milestone_event(ctx: Ctx) -> Any:
    project = find_project(ctx, ctx.path_params["id"])
    issue = find_issue(ctx, project, ctx.path_params["issue_iid"])
    r = ctx.conn.execute(
        "SELECT * FROM milestone_events WHERE issue_id = ? AND id = ?",
        (issue["id"], to_int(ctx.path_params["event_id"], "event_id")),
    ).fetchone()
    if r is None:
        raise not_found()
    return _milestone_events_json(ctx, [r])[0]


def _weight_event_json(ctx: Ctx, r: sqlite3.Row, users: dict[int, sqlite3.Row]) -> dict[str, Any]:
    return {
        "id": r["id"],
        "user": render.user_basic(ctx, users.get(r["user_id"])),
        "created_at": r["created_at"],
        "issue_id": r["issue_id"],
        "weight": r["weight"],
    }


@route("GET", "/projects/:id/issues/:issue_iid/resource_weight_events")
def list_weight_events(ctx: Ctx) -> Any:
    project = find_project(ctx, ctx.path_params["id"])
    issue = find_issue(ctx, project, ctx.path_params["issue_iid"])
    rows = paginate_sql(
        ctx, "SELECT * FROM weight_events WHERE issue_id = ?", [issue["id"]], "id ASC",
        {"id": ctx.path_params["id"], "eventable_id": ctx.path_params["issue_iid"]},
    )  # fmt: skip
    users = render.users_by_id(ctx, {r["user_id"] for r in rows})
    return [_weight_event_json(ctx, r, users) for r in rows]


@route("GET", "/projects/:id/issues/:issue_iid/resource_weight_events/:event_id")
def get_weight_event(ctx: Ctx) -> Any:
    project = find_project(ctx, ctx.path_params["id"])
    issue = find_issue(ctx, project, ctx.path_params["issue_iid"])
    r = ctx.conn.execute(
        "SELECT * FROM weight_events WHERE issue_id = ? AND id = ?",
        (issue["id"], to_int(ctx.path_params["event_id"], "event_id")),
    ).fetchone()
    if r is None:
        raise not_found()
    return _weight_event_json(ctx, r, render.users_by_id(ctx, {r["user_id"]}))


def _no_merge_requests(ctx: Ctx) -> Any:
    """The sandbox has no merge requests: none closes or mentions an issue."""
    project = find_project(ctx, ctx.path_params["id"])
    find_issue(ctx, project, ctx.path_params["issue_iid"])
    return paginate_list(ctx, [], {"id": ctx.path_params["id"]})


route("GET", "/projects/:id/issues/:issue_iid/closed_by")(_no_merge_requests)
route("GET", "/projects/:id/issues/:issue_iid/related_merge_requests")(_no_merge_requests)
