"""The sandbox's read-only web view: HTML pages at the addresses the API hands out as
`web_url` (an issue, a project's or a group's issue list, a user) and a top page `/`.

Pages are built from the API's own route handlers, called in-process as `root`, so they
show exactly what the API answers, to someone who may see everything (confidential issues
and internal notes are marked as such); `?as=USERNAME` shows what that user would see.
They never write: the API stays the only way to.
They are outside /api/v4, so never counted in stats, faulted or rate limited.

No token is asked of a loopback client (the sandbox listens on 127.0.0.1 by default);
any other client must send root's token in a PRIVATE-TOKEN header.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from http.cookies import CookieError, SimpleCookie
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlencode, urlsplit

import jinja2
from markupsafe import Markup

from escbot.sandbox import gfm
from escbot.sandbox.access import find_user
from escbot.sandbox.clock import parse_datetime
from escbot.sandbox.core import ApiError, Ctx, match
from escbot.sandbox.render import text_color

if TYPE_CHECKING:
    import sqlite3

    from escbot.sandbox.server import App

PER_PAGE = 50
AS_COOKIE = "escbot_sandbox_as"  # whose eyes the pages are shown through (default root)
LINK_TYPES = {"blocks": "Blocks", "is_blocked_by": "Is blocked by", "relates_to": "Relates to"}
# No scripts, no fonts, no images from anywhere: the pages need no network.
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'"


@dataclass
class Page:
    status: int
    html: str
    headers: dict[str, str]


class NotFound(Exception):
    """No page at this address."""


class Api:
    """GET calls to the API's route handlers, in-process, as one user."""

    def __init__(self, app: App, conn: sqlite3.Connection, user: sqlite3.Row, base: str) -> None:
        self.app, self.conn, self.user, self.base = app, conn, user, base

    def page(self, path: str, **params: Any) -> tuple[Any, dict[str, str]]:
        found = match("GET", path)
        if found is None:
            raise NotFound
        route, path_params = found
        if any(v.isdigit() and len(v) > 18 for v in path_params.values()):
            raise NotFound  # an id beyond bigint: no such row, as the API answers
        query = {k: v for k, v in params.items() if v not in (None, "", [])}
        ctx = Ctx(
            app=self.app, conn=self.conn, method="GET", path="/api/v4" + path,
            params=dict(query), query=query, base=self.base, user=self.user,
            path_params=path_params, token_scopes=("api", "read_api"),
        )  # fmt: skip
        ctx.cache["initial_user_id"] = self.user["id"]
        return route.handler(ctx), ctx.headers

    def get(self, path: str, **params: Any) -> Any:
        return self.page(path, **params)[0]

    def all(self, path: str, **params: Any) -> list[Any]:
        out: list[Any] = []
        page = 1
        while True:
            items, headers = self.page(path, **params, per_page=100, page=page)
            out += items
            if not headers.get("X-Next-Page"):
                return out
            page += 1

    def total(self, path: str, **params: Any) -> int:
        return int(self.page(path, **params, per_page=1)[1].get("X-Total") or 0)


# ---------------------------------------------------------------- entry
def page(app: App, path: str, query: dict[str, Any], headers: Any, base: str, client: str) -> Page:
    """The page at `path` (a GET, with its checked query params); errors are pages too.

    `?as=USERNAME` shows the pages as that user sees them from then on (a cookie);
    `?as=root` goes back to seeing everything.
    """
    if not _trusted(app, client, headers):
        return _error(403, "The web view answers loopback clients, or root's token "
                           "(PRIVATE-TOKEN header).")  # fmt: skip
    chosen = query.get("as")
    name = chosen if isinstance(chosen, str) else _cookie(headers)
    extra: dict[str, str] = {}
    try:
        with app.store.tx() as conn:
            viewer = (find_user(conn, name) if name else None) or find_user(conn, "root")
            assert viewer is not None  # the sandbox always has root
            if isinstance(chosen, str):
                value = "" if viewer["username"] == "root" else viewer["username"]
                extra["Set-Cookie"] = f"{AS_COOKIE}={value}; Path=/; SameSite=Strict; HttpOnly"
            view = View(Api(app, conn, viewer, base), query, app.clock.now())
            html = view.dispatch(unquote(path))
    except Redirect as r:
        return Page(302, "", {"Location": r.location, **extra})
    except NotFound:
        return _error(404, "There is no page at this address.", extra)
    except ApiError as exc:
        body = exc.body if isinstance(exc.body, dict) else {"message": str(exc.body)}
        return _error(exc.status, str(body.get("message") or body.get("error")), extra)
    return Page(200, html, {"Content-Security-Policy": CSP, **extra})


def _cookie(headers: Any) -> str | None:
    jar = SimpleCookie()
    try:
        jar.load(headers.get("Cookie") or "")
    except CookieError:
        return None
    morsel = jar.get(AS_COOKIE)
    return morsel.value if morsel and morsel.value else None


def _trusted(app: App, client: str, headers: Any) -> bool:
    try:
        addr = ipaddress.ip_address(client)
    except ValueError:
        addr = None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        addr = addr.ipv4_mapped
    if addr is not None and addr.is_loopback:
        return True
    token = headers.get("PRIVATE-TOKEN")
    if not token:
        return False
    with app.store.tx() as conn:
        row = conn.execute(
            "SELECT u.is_admin FROM tokens t JOIN users u ON u.id = t.user_id "
            "WHERE t.token = ? AND t.kind = 'pat' AND t.revoked = 0",
            (token,),
        ).fetchone()
    return bool(row and row["is_admin"])


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Page:
    html = (
        env()
        .get_template("error.html")
        .render(status=status, message=message, crumbs=[], viewer=None)
    )
    return Page(status, html, {"Content-Security-Policy": CSP, **(headers or {})})


class Redirect(Exception):
    def __init__(self, location: str) -> None:
        self.location = location


# ---------------------------------------------------------------- templates
@cache
def env() -> jinja2.Environment:
    e = jinja2.Environment(
        loader=jinja2.PackageLoader("escbot.sandbox", "web_templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    e.filters["when"] = when
    e.filters["day"] = day
    e.filters["initials"] = initials
    e.filters["local"] = local_path
    e.filters["labelobj"] = label_of
    return e


def when(ts: str | None) -> str:
    if not ts:
        return ""
    return parse_datetime(ts).strftime("%b %-d, %Y, %H:%M UTC")


def day(value: str | None) -> str:
    if not value:
        return ""
    return datetime.fromisoformat(value).strftime("%b %-d, %Y")


def initials(name: str) -> str:
    words = re.findall(r"[^\W_]+", name)
    return "".join(w[0] for w in words[:2]).upper() or "?"


def local_path(url: str) -> str:
    """A web_url as a link on this server (whatever host the API put in it)."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


@dataclass
class Label:
    name: str
    color: str
    text_color: str
    description: str | None = None

    @property
    def scope(self) -> str | None:
        """GitLab splits a scoped label at its last `::`."""
        return self.name.rsplit("::", 1)[0] if "::" in self.name else None

    @property
    def value(self) -> str:
        return self.name.rsplit("::", 1)[1] if "::" in self.name else self.name

    def html(self, href: str | None = None) -> Markup:
        return env().get_template("_label.html").module.pill(self, href)  # type: ignore[attr-defined]


def label_of(data: dict[str, Any]) -> Label:
    color = data.get("color") or "#6699cc"
    return Label(data["name"], color, data.get("text_color") or text_color(color),
                 data.get("description"))  # fmt: skip


# ---------------------------------------------------------------- pages
# 18 digits: every iid within bigint that a sandbox will ever hand out.
PROJECT_ISSUE = re.compile(r"^/(?P<project>.+?)/-/issues/(?P<iid>\d{1,18})/?$")
PROJECT_ISSUES = re.compile(r"^/(?P<project>.+?)/-/issues/?$")
GROUP_ISSUES = re.compile(r"^/groups/(?P<group>.+?)/-/issues/?$")
GROUP = re.compile(r"^/groups/(?P<group>(?:(?!/-/).)+?)/?$")


class View:
    def __init__(self, api: Api, query: dict[str, Any], now: datetime) -> None:
        self.api = api
        self.query = query
        self.now = now

    def render(self, template: str, **context: Any) -> str:
        user = self.api.user
        viewer = None if user["username"] == "root" else user
        return env().get_template(template).render(now=self.now, viewer=viewer, **context)

    def dispatch(self, path: str) -> str:
        if path in ("/", ""):
            return self.index()
        if m := GROUP_ISSUES.match(path):
            return self.group_issues(m["group"])
        if m := GROUP.match(path):
            raise Redirect(f"/groups/{quote(m['group'])}/-/issues")
        if m := PROJECT_ISSUE.match(path):
            return self.issue(m["project"], int(m["iid"]))
        if m := PROJECT_ISSUES.match(path):
            return self.project_issues(m["project"])
        name = path.strip("/")
        if name and "/-/" not in path:
            return self.namespace(name)
        raise NotFound

    # -------------------------------------------------------- top page
    def index(self) -> str:
        groups = sorted(self.api.all("/groups", all_available="true"),
                        key=lambda g: g["full_path"])  # fmt: skip
        projects = sorted(self.api.all("/projects"), key=lambda p: p["path_with_namespace"])
        users = sorted(self.api.all("/users"), key=lambda u: u["username"])
        return self.render("index.html", groups=groups, projects=projects, users=users, crumbs=[])

    def namespace(self, name: str) -> str:
        """`/NAME` is a user, a group or a project, as on GitLab."""
        if "/" not in name:
            found = self.api.get("/users", username=name)
            if found:
                return self.user(found[0])
            try:
                self.api.get(f"/groups/{quote(name, safe='')}")
            except ApiError:
                raise NotFound from None
            raise Redirect(f"/groups/{quote(name)}/-/issues")
        project = self.project(name)
        raise Redirect(f"/{project['path_with_namespace']}/-/issues")

    def user(self, user: dict[str, Any]) -> str:
        filters = {"assignee_username": user["username"], "scope": "all"}
        assigned = self.api.get("/issues", **filters, state="opened", per_page=PER_PAGE,
                                with_labels_details="true")  # fmt: skip
        authored = self.api.total("/issues", author_id=user["id"], scope="all")
        crumbs = [(user["name"], None)]
        return self.render("user.html", user=user, issues=assigned, authored=authored,
                           crumbs=crumbs)  # fmt: skip

    # -------------------------------------------------------- issue lists
    def project(self, path: str) -> dict[str, Any]:
        return self.api.get(f"/projects/{quote(path, safe='')}")

    def project_issues(self, path: str) -> str:
        project = self.project(path)
        api_path = f"/projects/{project['id']}/issues"
        list_url = f"/{project['path_with_namespace']}/-/issues"
        crumbs = [*self._namespace_crumbs(project["namespace"]["full_path"]),
                  (project["name"], list_url), ("Issues", None)]  # fmt: skip
        return self.issue_list(api_path, list_url, crumbs, title=project["name_with_namespace"])

    def group_issues(self, path: str) -> str:
        group = self.api.get(f"/groups/{quote(path, safe='')}")
        api_path = f"/groups/{group['id']}/issues"
        list_url = f"/groups/{group['full_path']}/-/issues"
        crumbs = [*self._namespace_crumbs(group["full_path"]), ("Issues", None)]
        return self.issue_list(api_path, list_url, crumbs, title=group["full_name"], group=True)

    def issue_list(self, api_path: str, list_url: str, crumbs: list[Any], *, title: str,
                   group: bool = False) -> str:  # fmt: skip
        q = self.query
        labels = _strings(q.get("label_name"))
        neg = q.get("not")
        not_labels = _strings(neg.get("label_name")) if isinstance(neg, dict) else []
        state = q.get("state") if q.get("state") in ("opened", "closed", "all") else "opened"
        try:
            page_no = max(1, int(str(q.get("page") or 1)))
        except ValueError:
            page_no = 1
        filters = {
            "labels": ",".join(labels),
            "not": {"labels": ",".join(not_labels)} if not_labels else None,
            "assignee_username": _string(q.get("assignee_username")),
            "search": _string(q.get("search")), "scope": "all",
        }  # fmt: skip
        counts = {s: self.api.total(api_path, **filters, state=s)
                  for s in ("opened", "closed", "all")}  # fmt: skip
        issues, headers = self.api.page(
            api_path, **filters, state=state, page=page_no, per_page=PER_PAGE,
            with_labels_details="true",
        )  # fmt: skip

        def url(**change: Any) -> str:
            params = {"state": state, "label_name[]": labels, "not[label_name][]": not_labels,
                      "assignee_username": filters.get("assignee_username"),
                      "search": filters.get("search"), **change}  # fmt: skip
            clean = {k: v for k, v in params.items() if v not in (None, "", [], 1)}
            return list_url + ("?" + urlencode(clean, doseq=True) if clean else "")

        return self.render(
            "issues.html", title=title, issues=issues, counts=counts, state=state,
            labels=labels, not_labels=not_labels, url=url, group=group, crumbs=crumbs,
            page=page_no, has_next=bool(headers.get("X-Next-Page")), list_url=list_url,
            search=filters.get("search") or "", assignee=filters.get("assignee_username"),
        )  # fmt: skip

    # -------------------------------------------------------- one issue
    def issue(self, path: str, iid: int) -> str:
        project = self.project(path)
        pid = project["id"]
        base = f"/projects/{pid}/issues/{iid}"
        issue = self.api.get(base)
        listed = self.api.get(f"/projects/{pid}/issues", iids=[iid], scope="all",
                              with_labels_details="true")  # fmt: skip
        labels = [label_of(lb) for lb in (listed[0]["labels"] if listed else [])]
        list_url = f"/{project['path_with_namespace']}/-/issues"
        refs = self._references(project, list_url)
        timeline = list(self._timeline(base))
        links = self.api.get(f"{base}/links")
        linked: dict[str, list[Any]] = {}
        for link in links:
            linked.setdefault(LINK_TYPES.get(link["link_type"], link["link_type"]), []).append(link)
        crumbs = [*self._namespace_crumbs(project["namespace"]["full_path"]),
                  (project["name"], list_url), ("Issues", list_url),
                  (issue["references"]["short"], None)]  # fmt: skip
        overdue = bool(
            issue["due_date"] and issue["state"] == "opened"
            and issue["due_date"] < self.now.date().isoformat()
        )  # fmt: skip
        return self.render(
            "issue.html", issue=issue, project=project, labels=labels, timeline=timeline,
            linked=linked, list_url=list_url, crumbs=crumbs, overdue=overdue,
            md=lambda text: gfm.render(text, refs),
        )  # fmt: skip

    def _timeline(self, base: str) -> Iterator[dict[str, Any]]:
        """Notes and the label, state and milestone events, oldest first, as GitLab's
        activity shows them (a person's label changes at one instant read as one line).
        At one instant (a frozen clock), label and milestone changes come first, then
        notes, then state changes: the order in which one GitLab update writes them."""
        items: list[dict[str, Any]] = []
        for note in self.api.all(f"{base}/notes", sort="asc", order_by="created_at"):
            items.append({"kind": "system" if note["system"] else "note", "at": note["created_at"],
                          "rank": 1, "id": note["id"], "note": note})  # fmt: skip
        group: dict[str, Any] | None = None
        for ev in self.api.all(f"{base}/resource_label_events"):
            user = ev["user"] or {}
            if group and group["at"] == ev["created_at"] and group["user"] == user:
                group["added" if ev["action"] == "add" else "removed"].append(label_of(ev["label"]))
                continue
            group = {"kind": "labels", "at": ev["created_at"], "rank": 0, "id": ev["id"],
                     "user": user, "added": [], "removed": []}  # fmt: skip
            group["added" if ev["action"] == "add" else "removed"].append(label_of(ev["label"]))
            items.append(group)
        for ev in self.api.all(f"{base}/resource_state_events"):
            items.append({"kind": "state", "at": ev["created_at"], "rank": 2, "id": ev["id"],
                          "user": ev["user"] or {}, "state": ev["state"]})  # fmt: skip
        for ev in self.api.all(f"{base}/resource_milestone_events"):
            items.append({"kind": "milestone", "at": ev["created_at"], "rank": 0, "id": ev["id"],
                          "user": ev["user"] or {}, "action": ev["action"],
                          "milestone": ev["milestone"]})  # fmt: skip
        yield from sorted(items, key=lambda i: (i["at"], i["rank"], i["id"]))

    def _references(self, project: dict[str, Any], list_url: str) -> gfm.References:
        pid = project["id"]
        project_labels = {
            lb["name"]: label_of(lb)
            for lb in self.api.all(f"/projects/{pid}/labels", include_ancestor_groups="true")
        }

        def issue(iid: int) -> str | None:
            try:
                self.api.get(f"/projects/{pid}/issues/{iid}")
            except ApiError:
                return None
            return f"{list_url}/{iid}"

        def user(name: str) -> str | None:
            return f"/{name}" if self.api.get("/users", username=name) else None

        def label(name: str) -> str | None:
            found = project_labels.get(name)
            href = f"{list_url}?{urlencode({'label_name[]': name})}"
            return str(found.html(href)) if found else None

        return gfm.References(cache(issue), cache(user), cache(label))

    def _namespace_crumbs(self, full_path: str) -> list[tuple[str, str]]:
        parts = full_path.split("/")
        return [(p, f"/groups/{'/'.join(parts[: n + 1])}/-/issues") for n, p in enumerate(parts)]


def _string(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _strings(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value] if value else []
    return [v for v in items if isinstance(v, str) and v]
