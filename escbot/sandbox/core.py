"""Request plumbing shared by the route modules: errors, params, routing, pagination.

Params follow Grape/Rack conventions: query and body are merged (the body wins),
`a[]=1&a[]=2` becomes a list and `not[labels]=x` a nested dict, and JSON,
form-encoded and multipart bodies are accepted. A route names the parameters GitLab
documents for it that the sandbox does not implement; using one is a 400, never a
silently ignored filter.
"""

from __future__ import annotations

import email.policy
import functools
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from email.parser import BytesParser
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote_plus, unquote, urlencode

from escbot.sandbox.clock import fmt, parse_datetime

if TYPE_CHECKING:
    from escbot.sandbox.server import App


class ApiError(Exception):
    """An HTTP error answer; `body` is JSON-able, or a str sent as text/plain."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {body}")
        self.status = status
        self.body = body
        self.headers = headers or {}


def missing(*names: str) -> ApiError:
    return ApiError(400, {"error": ", ".join(f"{n} is missing" for n in names)})


def invalid(name: str) -> ApiError:
    return ApiError(400, {"error": f"{name} is invalid"})


def bad_value(name: str) -> ApiError:
    return ApiError(400, {"error": f"{name} does not have a valid value"})


def not_found(what: str | None = None) -> ApiError:
    return ApiError(404, {"message": f"404 {what} Not Found" if what else "404 Not found"})


def forbidden(reason: str | None = None) -> ApiError:
    return ApiError(403, {"message": f"403 Forbidden - {reason}" if reason else "403 Forbidden"})


def validation(attr: str, *messages: str) -> ApiError:
    return ApiError(400, {"message": {attr: list(messages)}})


def at_least_one(names: list[str]) -> ApiError:
    joined = ", ".join(names)
    return ApiError(
        400, {"error": f"{joined} are missing, at least one parameter must be provided"}
    )


# ---------------------------------------------------------------- params
_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\]]*\])*)$")


def parse_params(qs: str) -> dict[str, Any]:
    """Rack-style nested params: a[]=1 -> list, a[b]=1 -> dict; last scalar wins."""
    out: dict[str, Any] = {}
    for key, value in parse_qsl(qs, keep_blank_values=True):
        m = _KEY.match(key)
        if not m or not m.group(2):
            out[key] = value
            continue
        subs = re.findall(r"\[([^\]]*)\]", m.group(2))
        cur, name = out, m.group(1)
        for sub in subs:
            if sub == "":
                lst = cur.get(name)
                if not isinstance(lst, list):
                    lst = cur[name] = []
                lst.append(value)
                break
            nxt = cur.get(name)
            if not isinstance(nxt, dict):
                nxt = cur[name] = {}
            cur, name = nxt, sub
        else:
            cur[name] = value
    return out


def parse_multipart(content_type: str, body: bytes) -> dict[str, Any]:
    """multipart/form-data fields as Rack nests them; a file part gives its filename
    (python-gitlab switches to multipart when an attribute is a file, e.g. an avatar)."""
    msg = BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    if not msg.is_multipart():
        raise ApiError(400, {"error": "message body does not match declared format"})
    pairs: list[tuple[str, str]] = []
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        filename = part.get_filename()
        if filename is not None:
            pairs.append((name, filename))
        else:
            payload = part.get_payload(decode=True)
            text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
            pairs.append((name, text))
    return parse_params(urlencode(pairs))


def _scalar(v: Any) -> str:
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        return ""
    return str(v)


def _esc(s: str) -> str:
    # Ruby's CGI.escape: everything but *-._0-9A-Za-z is escaped, space -> '+'.
    return quote_plus(s, safe="*").replace("~", "%7E")


def to_query(params: dict[str, Any], prefix: str | None = None) -> str:
    """Rails' Hash#to_query: nested keys, `k[]` for arrays, sorted."""
    pairs: list[str] = []
    for key, value in params.items():
        full = f"{prefix}[{key}]" if prefix else str(key)
        if isinstance(value, dict):
            if value:
                pairs.append(to_query(value, full))
        elif isinstance(value, list | tuple):
            pairs.extend(f"{_esc(full + '[]')}={_esc(_scalar(v))}" for v in value)
        else:
            pairs.append(f"{_esc(full)}={_esc(_scalar(value))}")
    return "&".join(sorted(pairs))


# ---------------------------------------------------------------- context
@dataclass
class Ctx:
    """Everything a route handler needs for one request."""

    app: App
    conn: sqlite3.Connection
    method: str
    path: str  # raw request path, e.g. /api/v4/projects/grp%2Fproj/issues
    params: dict[str, Any]
    query: dict[str, Any]
    base: str  # http://host:port as the client connected
    user: sqlite3.Row
    path_params: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)  # response headers
    status: int = 200
    token_kind: str = "pat"
    token_scopes: tuple[str, ...] = ()
    # Per-request caches for rendering, keyed by strings or tuples.
    cache: dict[Any, Any] = field(default_factory=dict)

    @property
    def api(self) -> str:
        return self.base + "/api/v4"

    @property
    def is_admin(self) -> bool:
        return bool(self.user["is_admin"])

    def now(self) -> str:
        return fmt(self.app.clock.now())

    def now_dt(self) -> datetime:
        return self.app.clock.now()

    # --- params -------------------------------------------------------
    def has(self, name: str) -> bool:
        return name in self.params

    def raw(self, name: str, default: Any = None) -> Any:
        return self.params.get(name, default)

    def str_(self, name: str, default: str | None = None, *, required: bool = False) -> str | None:
        v = self.params.get(name)
        if v is None:
            if required:
                raise missing(name)
            return default
        if isinstance(v, dict | list):
            raise invalid(name)
        return _scalar(v)

    def int_(self, name: str, default: int | None = None, *, required: bool = False) -> int | None:
        v = self.params.get(name)
        if v is None or v == "":
            if required:
                raise missing(name)
            return default
        return to_int(v, name)

    def bool_(self, name: str, default: bool | None = None) -> bool | None:
        v = self.params.get(name)
        if v is None or v == "":
            return default
        return to_bool(v, name)

    def list_(self, name: str) -> list[str] | None:
        """CommaSeparatedToArray: a comma string or an array, stripped, blanks dropped."""
        if name not in self.params:
            return None
        return comma_list(self.params[name], name)

    def datetime_(self, name: str) -> str | None:
        """An ISO 8601 bound turned into the stored timestamp form."""
        v = self.params.get(name)
        if v is None or v == "":
            return None
        text = str(v)
        try:
            return fmt(parse_datetime(text))
        except (ValueError, TypeError):
            pass
        try:
            # An unencoded "+00:00" arrives as " 00:00" (form decoding); Rails copes too.
            return fmt(parse_datetime(text.replace(" ", "+")))
        except (ValueError, TypeError):
            raise invalid(name) from None

    def date_(self, name: str) -> str | None:
        """Grape's Date coercion: a date, or an ISO datetime reduced to its date."""
        v = self.params.get(name)
        if v is None or v == "":
            return None
        text = str(v)
        try:
            return date.fromisoformat(text).isoformat()
        except ValueError:
            pass
        try:
            return parse_datetime(text.replace(" ", "+")).date().isoformat()
        except (ValueError, TypeError):
            raise invalid(name) from None

    def enum(self, name: str, allowed: tuple[str, ...], default: str | None = None) -> str | None:
        v = self.params.get(name)
        if v is None:
            return default
        if not isinstance(v, str) or v not in allowed:
            raise bad_value(name)
        return v


def to_int(v: Any, name: str) -> int:
    if isinstance(v, bool):
        raise invalid(name)
    if isinstance(v, int):
        return v
    try:
        return int(str(v).strip())
    except ValueError:
        raise invalid(name) from None


def to_bool(v: Any, name: str) -> bool:
    if isinstance(v, bool):
        return v
    s = str(v).strip().lower()
    if s in ("true", "1", "t", "yes", "y", "on"):
        return True
    if s in ("false", "0", "f", "no", "n", "off"):
        return False
    raise invalid(name)


def comma_list(v: Any, name: str) -> list[str]:
    if v is None:
        return []
    items = v if isinstance(v, list) else [v]
    out: list[str] = []
    for item in items:
        if isinstance(item, dict | list):
            raise invalid(name)
        out.extend(p.strip() for p in _scalar(item).split(","))
    return [p for p in out if p]


# ---------------------------------------------------------------- routing
Handler = Callable[[Ctx], Any]


@dataclass
class Route:
    method: str
    template: str  # e.g. /projects/:id/issues/:issue_iid
    regex: re.Pattern[str]
    handler: Handler
    job_token: bool = False  # JOB-TOKEN authenticates on this route
    # Parameters GitLab documents for the route that the sandbox does not implement:
    # answered with a 400 rather than silently ignored (a 200 with wrong data).
    unsupported: tuple[str, ...] = ()


ROUTES: list[Route] = []


def unsupported_param(name: str) -> ApiError:
    return ApiError(400, {"error": f"{name} is not supported by the escbot sandbox"})


def route(
    method: str, template: str, *, job_token: bool = False, unsupported: tuple[str, ...] = ()
) -> Callable[[Handler], Handler]:
    pattern = re.sub(r":(\w+)", r"(?P<\1>[^/]+)", template)
    regex = re.compile("^" + pattern + "$")

    def deco(fn: Handler) -> Handler:
        @functools.wraps(fn)
        def checked(ctx: Ctx) -> Any:
            for name in unsupported:
                value = ctx.params.get(name)
                if value not in (None, "", [], {}) and str(value).lower() != "false":
                    raise unsupported_param(name)
            return fn(ctx)

        ROUTES.append(Route(method, template, regex, checked if unsupported else fn, job_token,
                            unsupported))  # fmt: skip
        return fn

    return deco


def match(method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    """Find the route for a raw (still percent-encoded) path below /api/v4."""
    for r in ROUTES:
        if r.method != method:
            continue
        m = r.regex.match(path)
        if m:
            return r, {k: unquote(v) for k, v in m.groupdict().items()}
    return None


# ---------------------------------------------------------------- pagination
def page_params(ctx: Ctx) -> tuple[int, int]:
    page = ctx.int_("page", 1) or 1
    per_page = ctx.int_("per_page", 20)
    if per_page is None or per_page < 1:
        per_page = 20
    return max(page, 1), min(per_page, 100)  # Kaminari's max_per_page, silently


COUNT_CAP = 10_000  # above this GitLab leaves out X-Total, X-Total-Pages and rel="last"


def set_page_headers(
    ctx: Ctx, total: int, defaults: dict[str, Any], has_next: bool | None = None
) -> None:
    """X-* headers and the Link header exactly as OffsetHeaderBuilder builds them.

    `total` may be capped at COUNT_CAP + 1; `has_next` then decides the next page.
    """
    page, per_page = page_params(ctx)
    big = total > COUNT_CAP
    pages = max(1, -(-total // per_page))
    if has_next is None:
        has_next = page < pages
    nxt = page + 1 if has_next else None
    prev = page - 1 if page > 1 else None
    if prev is not None and not big and prev > pages:
        prev = None  # past the end: GitLab sends no prev link either
    h = ctx.headers
    h["X-Page"] = str(page)
    h["X-Per-Page"] = str(per_page)
    h["X-Next-Page"] = str(nxt) if nxt else ""
    h["X-Prev-Page"] = str(prev) if prev else ""
    if not big:
        h["X-Total"] = str(total)
        h["X-Total-Pages"] = str(pages)
    params = {**defaults, **ctx.query}
    params["per_page"] = per_page

    def url(p: int) -> str:
        return f"{ctx.base}{ctx.path}?{to_query({**params, 'page': p})}"

    links = []
    if prev:
        links.append(f'<{url(prev)}>; rel="prev"')
    if nxt:
        links.append(f'<{url(nxt)}>; rel="next"')
    links.append(f'<{url(1)}>; rel="first"')
    if not big:
        links.append(f'<{url(pages)}>; rel="last"')
    h["Link"] = ", ".join(links)


def paginate_sql(
    ctx: Ctx,
    base_sql: str,
    args: list[Any],
    order_sql: str,
    defaults: dict[str, Any],
    *,
    count_sql: str | None = None,
    page_sql: Callable[[int], str] | None = None,
) -> list[sqlite3.Row]:
    """A capped COUNT plus one LIMIT/OFFSET page over `SELECT ... FROM ... WHERE ...`.

    `count_sql` is an equivalent query with the same placeholders that counts faster;
    `page_sql(total)` may pick an equivalent page query by how many rows match.
    """
    if ctx.params.get("pagination") == "keyset":
        raise keyset_unavailable()
    page, per_page = page_params(ctx)
    total = ctx.conn.execute(
        f"SELECT COUNT(*) FROM ({count_sql or base_sql} LIMIT {COUNT_CAP + 1})", args
    ).fetchone()[0]
    if page_sql is not None:
        base_sql = page_sql(total)
    rows = ctx.conn.execute(
        f"{base_sql} ORDER BY {order_sql} LIMIT ? OFFSET ?",
        [*args, per_page + 1, (page - 1) * per_page],
    ).fetchall()
    has_next = len(rows) > per_page
    set_page_headers(ctx, total, defaults, has_next)
    return rows[:per_page]


def keyset_unavailable() -> ApiError:
    return ApiError(
        405, {"message": "Keyset pagination is not yet available for this type of request"}
    )


def paginate_list(ctx: Ctx, items: list[Any], defaults: dict[str, Any]) -> list[Any]:
    if ctx.params.get("pagination") == "keyset":
        raise keyset_unavailable()
    page, per_page = page_params(ctx)
    set_page_headers(ctx, len(items), defaults)
    return items[(page - 1) * per_page : page * per_page]
