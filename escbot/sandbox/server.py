"""HTTP front: routing, auth (PAT, OAuth bearer, job token, sudo), pagination
headers, rate limits, fault injection, stats, and the /__sandbox__ levers.

`App.handle` is transport-free; `Handler` only moves bytes, within `Limits`.
Faults are decided before the store is touched, so a faulted write changes
nothing; only `drop_after_writes` drops the answer of a write that was kept.

Hostile input gets GitLab's answers, never a 500: malformed strings 400 (as its
HandleMalformedStrings middleware), ids beyond PostgreSQL's bigint match no row
(404 for a path id, as Rails), bodies beyond nginx's limit 413.
"""

from __future__ import annotations

import io
import json
import math
import random
import socket
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote_to_bytes, urlsplit

# Route modules register themselves on import.
from escbot.sandbox import (  # noqa: F401
    api_groups,
    api_issues,
    api_labels,
    api_links,
    api_notes,
    api_search,
    api_users,
    slack,
    web,
)
from escbot.sandbox.access import find_user
from escbot.sandbox.clock import Clock
from escbot.sandbox.core import ApiError, Ctx, match, parse_multipart, parse_params
from escbot.sandbox.domain import json_scopes
from escbot.sandbox.store import Store

DROP = object()  # answer: close the connection without a response
UNAUTHORIZED = ApiError(401, {"message": "401 Unauthorized"})
INSUFFICIENT = {
    "error": "insufficient_scope",
    "error_description": "The request requires higher privileges than provided by the "
    "access token.",
}
DEFAULT_LIMIT = 2000  # GitLab.com's authenticated API limit, advertised when none is set
# GitLab's HandleMalformedStrings middleware: invalid UTF-8 or a NUL in the path or params.
MALFORMED = ApiError(400, "Bad Request")
BAD_FORMAT = ApiError(400, {"error": "message body does not match declared format"})
PARAM_DEPTH = 100  # Rack's param_depth_limit: a[b][c]... deeper is a 400
JSON_DEPTH = 100  # Ruby's JSON max_nesting: a body nested deeper is a 400
BIGINT = 2**63  # PostgreSQL bigint; Rails matches no row for an id beyond it
NO_ROW = 2**53  # stands in for such an id: no row has it, and offsets from it stay in range


@dataclass
class Limits:
    """What one connection may cost; GitLab's front ends (Puma, nginx) have the same kinds."""

    idle_timeout: float = 20.0  # keep-alive wait for a next request (Puma's persistent_timeout)
    header_timeout: float = 10.0  # first byte of a request to the end of its headers
    body_timeout: float = 60.0  # end of the headers to the end of the body
    write_timeout: float = 60.0  # for the client to take the answer
    max_body: int = 250 * 1024 * 1024  # Omnibus nginx's client_max_body_size: 413 beyond


@dataclass
class Response:
    status: int
    body: Any = None  # dict/list -> JSON; str -> text/plain (or content_type); None -> empty
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "text/plain"  # of a str body

    def encode(self) -> tuple[bytes, str]:
        if self.body is None:  # Grape renders a nil result as JSON null (e.g. block twice)
            return (b"" if self.status in (204, 304) else b"null"), "application/json"
        if isinstance(self.body, str):
            return self.body.encode(), self.content_type
        return json.dumps(self.body, separators=(",", ":")).encode(), "application/json"


class Faults:
    """Seeded, reproducible fault injection for /api/v4 requests."""

    RATES = ("rate_5xx", "rate_429", "rate_drop", "rate_drop_after_write")
    WRITES = ("POST", "PUT", "PATCH", "DELETE")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.config: dict[str, Any] = {
            "latency_ms": 0, "rate_5xx": 0.0, "rate_429": 0.0, "rate_drop": 0.0, "seed": 0,
            "retry_after": 1, "drop_after_writes": [], "rate_drop_after_write": 0.0,
        }  # fmt: skip
        self.writes = 0  # writes performed since drop_after_writes was set
        self.rng = random.Random(0)
        self.writes = 0  # writes performed since drop_after_writes was last set

    def update(self, data: dict[str, Any]) -> dict[str, Any]:
        new = dict(self.config)
        for key, value in data.items():
            if key not in self.config:
                raise ApiError(400, {"error": f"{key} does not have a valid value"})
            if key == "drop_after_writes":
                new[key] = _ordinals(key, value)
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ApiError(400, {"error": f"{key} is invalid"})
            if key in self.RATES:
                if not 0 <= value <= 1:
                    raise ApiError(400, {"error": f"{key} does not have a valid value"})
                new[key] = float(value)
            else:
                if value < 0 or (key != "latency_ms" and value != int(value)):
                    raise ApiError(400, {"error": f"{key} does not have a valid value"})
                new[key] = int(value) if key != "latency_ms" else value
        with self.lock:
            self.config = new
            if "seed" in data:
                self.rng = random.Random(new["seed"])
            if "drop_after_writes" in data:
                self.writes = 0
        return self.snapshot()

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {**self.config, "drop_after_writes": list(self.config["drop_after_writes"]),
                    "writes": self.writes}  # fmt: skip

    def drop_answer(self, method: str) -> bool:
        """Count a write about to be performed; True if its answer is to be lost: the Nth
        writes of drop_after_writes (a crash at that point), or each with the probability
        rate_drop_after_write (seeded)."""
        if method not in self.WRITES:
            return False
        with self.lock:
            self.writes += 1
            if self.writes in self.config["drop_after_writes"]:
                return True
            rate = self.config["rate_drop_after_write"]
            return bool(rate) and self.rng.random() < rate

    def decide(self) -> tuple[float, str | None, int]:
        """(latency seconds, fault kind or None, 5xx code)."""
        with self.lock:
            c = self.config
            if not (c["rate_5xx"] or c["rate_429"] or c["rate_drop"]):
                return c["latency_ms"] / 1000, None, 0
            r = self.rng.random()
            code = self.rng.choice((502, 503))
            kind = None
            if r < c["rate_drop"]:
                kind = "drop"
            elif r < c["rate_drop"] + c["rate_5xx"]:
                kind = "5xx"
            elif r < c["rate_drop"] + c["rate_5xx"] + c["rate_429"]:
                kind = "429"
            return c["latency_ms"] / 1000, kind, code


def _ordinals(key: str, value: Any) -> list[int]:
    """N, [N, M, ...] or null: the write ordinals (from 1) whose answers are dropped."""
    items = [] if value is None else value if isinstance(value, list) else [value]
    out = []
    for item in items:
        n = item if isinstance(item, int) and not isinstance(item, bool) else None
        if isinstance(item, str) and item.strip().isdigit():
            n = int(item)
        if n is None or n < 1:
            raise ApiError(400, {"error": f"{key} does not have a valid value"})
        out.append(n)
    return sorted(set(out))


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.total = 0
            self.by_method: dict[str, int] = {}
            self.by_route: dict[str, int] = {}

    def count(self, method: str, route: str) -> None:
        with self.lock:
            self.total += 1
            self.by_method[method] = self.by_method.get(method, 0) + 1
            key = f"{method} {route}"
            self.by_route[key] = self.by_route.get(key, 0) + 1

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "total": self.total,
                "by_method": dict(self.by_method),
                "by_route": dict(self.by_route),
            }


class RateLimiter:
    """Per-user fixed one-minute windows on real monotonic time (frozen clocks still reset)."""

    WINDOW = 60.0

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.windows: dict[str, tuple[float, int]] = {}

    def hit(self, key: str) -> tuple[int, float]:
        """Count one request; (observed in window, seconds until the window resets)."""
        now = time.monotonic()
        with self.lock:
            start, n = self.windows.get(key, (now, 0))
            if now - start >= self.WINDOW:
                start, n = now, 0
            n += 1
            self.windows[key] = (start, n)
            return n, max(0.0, self.WINDOW - (now - start))

    def reset(self) -> None:
        with self.lock:
            self.windows.clear()


def request_params(qs: str, headers: Any, body: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    """(query params, query and body params merged), checked as GitLab checks them."""
    query = _ids_in_range(_form(qs))
    params = dict(query)
    params.update(_ids_in_range(_body_params(headers, body)))
    return query, params


def _form(text: str) -> dict[str, Any]:
    """Rack-style params of a query string or form body; malformed strings are a 400."""
    try:
        pairs = parse_qsl(text, keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        raise MALFORMED from None
    for key, value in pairs:
        if "\0" in key or "\0" in value:
            raise MALFORMED
        if key.count("[") > PARAM_DEPTH:
            raise MALFORMED
    return parse_params(text)


def _body_params(headers: Any, body: bytes) -> dict[str, Any]:
    if not body:
        return {}
    ctype = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if ctype == "multipart/form-data":  # python-gitlab sends files this way
        return parse_multipart(headers.get("Content-Type"), body)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MALFORMED from None
    if ctype == "application/json" or (not ctype and text.lstrip().startswith("{")):
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):  # RecursionError: nested too deep to parse
            raise BAD_FORMAT from None
        if data is None:
            return {}
        if not isinstance(data, dict) or _too_deep(data):
            raise BAD_FORMAT
        try:  # a lone surrogate ("\ud800") decodes to a string no database can store
            json.dumps(data, ensure_ascii=False).encode()
        except UnicodeEncodeError:
            raise MALFORMED from None
        return data
    if ctype in ("application/x-www-form-urlencoded", ""):
        return _form(text)
    return {}


def _too_deep(data: Any) -> bool:
    """Nested deeper than Ruby's JSON max_nesting (100), which GitLab's parser keeps."""
    level = [data]
    for _ in range(JSON_DEPTH):
        level = [
            child
            for item in level if isinstance(item, dict | list)
            for child in (item.values() if isinstance(item, dict) else item)
        ]  # fmt: skip
        if not level:
            return False
    return any(isinstance(item, dict | list) for item in level)


def _check_path(path: str) -> None:
    try:
        decoded = unquote_to_bytes(path).decode("utf-8")
    except UnicodeDecodeError:
        raise MALFORMED from None
    if "\0" in decoded:
        raise MALFORMED


def _id_in_range(value: Any) -> Any:
    """An integer beyond bigint (as int or digits) becomes one that matches no row."""
    if isinstance(value, str):
        text = value.strip()
        digits = text.lstrip("+-")
        if digits.isascii() and digits.isdigit() and len(digits) > 18:
            # Past 19 digits it is out of range whatever it is (and int() refuses 4,300+).
            huge = -BIGINT - 1 if text.startswith("-") else BIGINT
            return str(_id_in_range(int(text) if len(digits) <= 19 else huge))
    elif isinstance(value, int) and not isinstance(value, bool) and not -BIGINT <= value < BIGINT:
        return NO_ROW if value > 0 else -NO_ROW
    return value


def _id_like(key: str) -> bool:
    return key in ("id", "iid", "iids", "page") or key.endswith(("_id", "_ids", "_iid"))


def _ids_in_range(params: dict[str, Any]) -> dict[str, Any]:
    """Id-like params (`project_id`, `iids[]`, `not[author_id]`, `page`) kept within bigint."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, dict):
            out[key] = _ids_in_range(value)
        elif not _id_like(str(key)):
            out[key] = value
        elif isinstance(value, list):
            out[key] = [_id_in_range(v) for v in value]
        else:
            out[key] = _id_in_range(value)
    return out


class App:
    """The sandbox: state, clock, settings and the request pipeline."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        scoped_labels: bool = True,
        rate_limit: int | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.settings: dict[str, Any] = {"scoped_labels": scoped_labels, "rate_limit": rate_limit}
        self.faults = Faults()
        self.slack_faults = Faults()  # Slack's own: it can be down while GitLab is up
        with store.lock:
            slack.install(store.conn)
        self.limits = Limits()
        self.stats = Stats()
        self.rate = RateLimiter()
        self.log = sys.stderr

    # ------------------------------------------------------------ entry
    def handle(
        self, method: str, target: str, headers: Any, body: bytes, base: str, client: str
    ) -> Response | object:
        parts = urlsplit(target)
        path, qs = parts.path, parts.query
        try:
            if path == "/__sandbox__" or path.startswith("/__sandbox__/"):
                return self._levers(method, path, qs, headers, body, base)
            if path.startswith(slack.PREFIX):
                answer = slack.handle(self, method, path, qs, headers, body)
                return DROP if answer is None else Response(*answer)
            if path == "/api/v4" or path.startswith("/api/v4/"):
                return self._api(method, path, qs, headers, body, base, client)
            if method in ("GET", "HEAD"):  # the read-only web view
                _check_path(path)
                query, _ = request_params(qs, headers, b"")
                page = web.page(self, path, query, headers, base, client)
                return Response(page.status, page.html, page.headers, "text/html; charset=utf-8")
            return Response(404, {"error": "404 Not Found"})
        except ApiError as exc:
            return Response(exc.status, exc.body, dict(exc.headers))
        except Exception:
            traceback.print_exc(file=self.log)
            return Response(500, {"message": "500 Internal Server Error"})

    # ------------------------------------------------------------ /api/v4
    def _api(
        self, method: str, path: str, qs: str, headers: Any, body: bytes, base: str, client: str
    ) -> Response | object:
        rel = path[len("/api/v4") :] or "/"
        # Grape answers HEAD with the GET route (the handler drops the body).
        found = match("GET" if method == "HEAD" else method, rel)
        self.stats.count(method, found[0].template if found else "(unknown)")
        latency, fault, code = self.faults.decide()
        if latency:
            time.sleep(latency)
        if fault == "drop":
            return DROP
        if fault == "5xx":
            text = {502: "502 Bad Gateway", 503: "503 Service Unavailable"}[code]
            return Response(code, {"message": text})
        if fault == "429":
            retry = self.faults.config["retry_after"]
            return Response(
                429,
                "Retry later\n",
                {
                    "Retry-After": str(retry),
                    "RateLimit-ResetTime": formatdate(time.time() + retry, usegmt=True),
                },
            )
        if found is None:
            return Response(404, {"error": "404 Not Found"})
        route, path_params = found
        _check_path(path)
        query, params = request_params(qs, headers, body)
        rl_headers: dict[str, str] = {}
        drop = False
        try:
            with self.store.tx() as conn:
                ctx = self._authenticate(conn, method, path, route, query, params, headers, base)
                ctx.path_params = {k: _id_in_range(v) for k, v in path_params.items()}
                rl_headers = self._rate_limit(f"user:{ctx.cache['initial_user_id']}")
                drop = self.faults.drop_answer(method)
                result = route.handler(ctx)
        except ApiError as exc:
            if drop:
                return DROP
            if not rl_headers and exc.status == 401:
                rl_headers = self._rate_limit(f"ip:{client}", authenticated=False)
            # Error instances may be shared constants: answer with a copy.
            raise ApiError(exc.status, exc.body, {**rl_headers, **exc.headers}) from None
        if drop:  # the write is committed; its answer is lost on the way
            return DROP
        return Response(ctx.status, result, {**ctx.headers, **rl_headers})

    def _rate_limit(self, key: str, *, authenticated: bool = True) -> dict[str, str]:
        configured = self.settings["rate_limit"]
        limit = configured if configured is not None else DEFAULT_LIMIT
        if not authenticated:
            limit = 500
        observed, left = self.rate.hit(key)
        reset = int(time.time() + left)
        headers = {
            "RateLimit-Limit": str(limit),
            "RateLimit-Name": "throttle_authenticated_api"
            if authenticated
            else "throttle_unauthenticated_api",
            "RateLimit-Observed": str(observed),
            "RateLimit-Remaining": str(max(0, limit - observed)),
            "RateLimit-Reset": str(reset),
        }
        if authenticated and configured is not None and observed > configured:
            headers["Retry-After"] = str(max(1, math.ceil(left)))
            headers["RateLimit-ResetTime"] = formatdate(reset, usegmt=True)
            raise ApiError(429, "Retry later\n", headers)
        return headers

    def _token_from(self, query: dict[str, Any], params: dict[str, Any], headers: Any) -> tuple[
        str | None, str
    ]:  # fmt: skip
        pat = headers.get("PRIVATE-TOKEN") or params.get("private_token")
        if pat:
            return str(pat), "pat"
        auth = headers.get("Authorization") or ""
        if auth.lower().startswith("bearer "):
            return auth[7:].strip(), "pat"
        if params.get("access_token"):
            return str(params["access_token"]), "pat"
        job = headers.get("JOB-TOKEN") or params.get("job_token")
        if job:
            return str(job), "job"
        return None, ""

    def _authenticate(
        self,
        conn: Any,
        method: str,
        path: str,
        route: Any,
        query: dict[str, Any],
        params: dict[str, Any],
        headers: Any,
        base: str,
    ) -> Ctx:
        value, kind = self._token_from(query, params, headers)
        if value is None:
            raise UNAUTHORIZED
        token = conn.execute("SELECT * FROM tokens WHERE token = ?", (value,)).fetchone()
        if token is None or (token["kind"] == "job") != (kind == "job"):
            raise UNAUTHORIZED
        if kind == "job" and not (route.job_token and method == "GET"):
            raise UNAUTHORIZED
        if token["revoked"]:
            raise ApiError(
                401, {"error": "invalid_token", "error_description": "Token has been revoked."}
            )
        today = self.clock.now().date().isoformat()
        if token["expires_at"] and token["expires_at"] <= today:
            raise ApiError(
                401, {"error": "invalid_token", "error_description": "Token has expired."}
            )
        user = conn.execute("SELECT * FROM users WHERE id = ?", (token["user_id"],)).fetchone()
        if user is None or user["state"] != "active":
            raise UNAUTHORIZED
        scopes = tuple(json_scopes(token)) if kind == "pat" else ("read_api",)
        if (kind == "pat" and "api" not in scopes) and (
            method != "GET" or "read_api" not in scopes
        ):
            raise ApiError(403, {**INSUFFICIENT, "scope": "api"})
        ctx = Ctx(
            app=self, conn=conn, method=method, path=path, params=params, query=query,
            base=base, user=user, token_kind=kind, token_scopes=scopes,
        )  # fmt: skip
        ctx.cache["token_row"] = token
        ctx.cache["initial_user_id"] = user["id"]
        sudo = headers.get("Sudo") or params.pop("sudo", None)
        if sudo not in (None, ""):
            if not user["is_admin"]:
                raise ApiError(403, {"message": "403 Forbidden - Must be admin to use sudo"})
            if kind != "pat":
                raise ApiError(
                    403,
                    {"message": "403 Forbidden - Must be authenticated using an OAuth or "
                                "Personal Access Token to use sudo"},
                )  # fmt: skip
            if "sudo" not in scopes:
                raise ApiError(403, {**INSUFFICIENT, "scope": "sudo"})
            target = find_user(conn, str(sudo))
            if target is None:
                raise ApiError(404, {"message": f"404 User with ID or username '{sudo}' Not Found"})
            ctx.user = target
        return ctx

    # ------------------------------------------------------------ levers
    def _levers(
        self, method: str, path: str, qs: str, headers: Any, body: bytes, base: str
    ) -> Response:
        from escbot.sandbox import levers

        query, params = request_params(qs, headers, body)
        with self.store.tx() as conn:
            value, _kind = self._token_from(query, params, headers)
            token = (
                conn.execute(
                    "SELECT * FROM tokens WHERE token = ? AND kind = 'pat'", (value,)
                ).fetchone()
                if value
                else None
            )
            if token is None:
                raise UNAUTHORIZED
            user = conn.execute("SELECT * FROM users WHERE id = ?", (token["user_id"],)).fetchone()
            if not user["is_admin"]:
                raise ApiError(403, {"message": "403 Forbidden"})
            ctx = Ctx(
                app=self, conn=conn, method=method, path=path, params=params, query=query,
                base=base, user=user,
            )  # fmt: skip
            result = levers.dispatch(ctx, method, path[len("/__sandbox__") :])
            return Response(ctx.status, result, ctx.headers)


class _DeadlineReader(io.RawIOBase):
    """The socket as read by a handler: the idle timeout until a request starts, then
    whatever is left of that request's deadline, so a trickle of bytes cannot hold it."""

    def __init__(self, sock: socket.socket, limits: Limits) -> None:
        self.sock = sock
        self.limits = limits
        self.deadline: float | None = None  # None: between requests

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        if self.deadline is None:
            self.sock.settimeout(self.limits.idle_timeout)
        else:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("request not received in time")
            self.sock.settimeout(left)
        n = self.sock.recv_into(buf)
        if n and self.deadline is None:
            self.deadline = time.monotonic() + self.limits.header_timeout
        return n


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "escbot-sandbox"
    # One buffered write per response (flushed by handle_one_request) and no Nagle:
    # split header/body segments would stall keep-alive clients on delayed ACKs.
    wbufsize = 1 << 16
    disable_nagle_algorithm = True
    sys_version = ""
    app: App  # set on the subclass made per server

    def setup(self) -> None:
        super().setup()
        self.rfile.close()  # the plain socket file: reads go through the deadline below
        self.reader = _DeadlineReader(self.connection, self.app.limits)
        self.rfile = io.BufferedReader(self.reader)

    def handle_one_request(self) -> None:
        # BaseHTTPRequestHandler drops the connection on TimeoutError from any read.
        self.reader.deadline = None
        super().handle_one_request()

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests run many requests
        pass

    def _read_body(self, length: int) -> bytes:
        """The body in chunks: memory grows with what arrives, not with what is announced."""
        self.reader.deadline = time.monotonic() + self.app.limits.body_timeout
        chunks, left = [], length
        while left:
            chunk = self.rfile.read(min(left, 1 << 20))
            if not chunk:
                raise ConnectionError("client closed before sending the whole body")
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def _serve(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            result: Response | object = Response(400, {"error": "400 Bad Request"})
        elif length > self.app.limits.max_body:
            # The body stays unread, so the connection cannot carry another request.
            self.close_connection = True
            result = Response(413, "413 Request Entity Too Large\n", {"Connection": "close"})
        else:
            try:
                body = self._read_body(length)
            except ConnectionError:
                self.close_connection = True
                return
            host = self.headers.get("Host") or "{}:{}".format(*self.connection.getsockname()[:2])
            result = self.app.handle(
                self.command, self.path, self.headers, body, f"http://{host}",
                self.client_address[0],
            )  # fmt: skip
        if result is DROP:
            self.close_connection = True
            return
        assert isinstance(result, Response)
        self.connection.settimeout(self.app.limits.write_timeout)
        data, ctype = result.encode()
        self.send_response(result.status)
        if result.status != 204:
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "max-age=0, private, must-revalidate")
        self.send_header("X-Request-Id", f"{id(self):x}")
        for k, v in result.headers.items():
            self.send_header(k, v)
        self.end_headers()
        if result.status != 204 and self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _serve

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The Date header: the sandbox's clock is its server's time, as GitLab's is."""
        if timestamp is not None:
            return super().date_time_string(timestamp)
        return formatdate(self.app.clock.now().timestamp(), usegmt=True)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # A thread per connection and a deep accept queue: bursts of hundreds of clients
    # connect at once (the kernel caps this at net.core.somaxconn).
    request_queue_size = 1024


def make_server(app: App, host: str, port: int) -> Server:
    handler = type("BoundHandler", (Handler,), {"app": app})
    return Server((host, port), handler)
