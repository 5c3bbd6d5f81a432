"""A local stand-in for GitLab's REST API v4, for tests and demos.

    from escbot.sandbox import start_sandbox
    with start_sandbox(now="2026-11-23T14:00:00Z") as sb:
        gl = sb.gitlab()
        ...

The server is stdlib only (http.server + sqlite3). Helpers below go through
HTTP wherever GitLab has an endpoint, so they exercise the same code as clients.

Test levers (admin token; never under /api/v4, never counted in stats):
  GET/PUT /__sandbox__/clock      {"now": ISO} | {"advance": "P1DT2H"} | {"real": true};
                                  {"now": ISO, "running": true}: set, then on at real speed
  GET/DELETE /__sandbox__/stats   request counts by method and route template
  GET/PUT /__sandbox__/faults     latency_ms, rate_5xx, rate_429, rate_drop, seed, retry_after,
                                  drop_after_writes: N or [N, ...] (write kept, answer lost),
                                  rate_drop_after_write (each write's answer lost, seeded)
  GET/PUT /__sandbox__/settings   scoped_labels (false = GitLab Free), rate_limit (per minute)
  POST /__sandbox__/seed          bulk group/projects/labels/issues/notes (executemany)
  POST /__sandbox__/service_desk  an issue as Service Desk files it (support-bot, confidential)
  POST /__sandbox__/job_token     {"user": name} -> a CI job token (reads project issues only)
  POST /__sandbox__/reset         everything but root and its token
  POST /__sandbox__/slack         Slack people and channels (escbot/sandbox/slack.py)
  GET/PUT /__sandbox__/slack/faults  Slack's own faults, the same knobs as GitLab's
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from escbot.sandbox.clock import Clock, parse_datetime
from escbot.sandbox.server import App, Server, make_server
from escbot.sandbox.store import Store

if TYPE_CHECKING:
    import gitlab

__all__ = ["Sandbox", "SandboxError", "start_sandbox"]

ROOT_SCOPES = ("api", "read_api", "read_user", "sudo", "admin_mode")


class SandboxError(RuntimeError):
    """A helper call got an error answer from the sandbox."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"sandbox answered {status}: {body}")
        self.status = status
        self.body = body


def bootstrap(store: Store, clock: Clock, token: str | None) -> str:
    """Make sure `root` (admin) exists and owns `token`; returns root's token."""
    from escbot.sandbox.clock import fmt
    from escbot.sandbox.domain import insert_token, insert_user, new_token

    with store.tx() as conn:
        now = fmt(clock.now())
        root = conn.execute("SELECT * FROM users WHERE username = 'root'").fetchone()
        if root is None:
            root = insert_user(conn, now, "root", "Administrator", "admin@example.com", admin=True)
        if token is None:
            row = conn.execute(
                "SELECT token FROM tokens WHERE user_id = ? AND kind = 'pat' AND revoked = 0 "
                "AND name = 'sandbox-root' ORDER BY id LIMIT 1",
                (root["id"],),
            ).fetchone()
            if row is not None:
                return row[0]
            token = new_token()
        existing = conn.execute("SELECT * FROM tokens WHERE token = ?", (token,)).fetchone()
        if existing is None:
            insert_token(conn, now, root["id"], "sandbox-root", ROOT_SCOPES, token=token)
        elif existing["user_id"] != root["id"]:
            raise ValueError("that token already belongs to another user")
        return token


class Sandbox:
    """A running sandbox server (in a daemon thread)."""

    def __init__(self, app: App, server: Server, thread: threading.Thread, token: str) -> None:
        self.app = app
        self._server = server
        self._thread = thread
        self.token = token
        host, port = server.socket.getsockname()[:2]
        self.url = f"http://{host}:{port}"

    # ------------------------------------------------------------ HTTP helper
    def request(self, method: str, path: str, data: Any = None, *, token: str | None = None) -> Any:
        """JSON request to the sandbox (path below the base URL); raises SandboxError."""
        body = json.dumps(data).encode() if data is not None else None
        req = urllib.request.Request(self.url + path, data=body, method=method)
        req.add_header("PRIVATE-TOKEN", token or self.token)
        if body is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                payload = json.loads(raw)
            except ValueError:
                payload = raw.decode(errors="replace")
            raise SandboxError(exc.code, payload) from None
        return json.loads(raw) if raw else None

    def gitlab(self, token: str | None = None, **kwargs: Any) -> gitlab.Gitlab:
        import gitlab

        return gitlab.Gitlab(self.url, private_token=token or self.token, **kwargs)

    # ------------------------------------------------------------ clock
    def set_now(self, value: datetime | str) -> datetime:
        text = value.isoformat() if isinstance(value, datetime) else str(value)
        return parse_datetime(self.request("PUT", "/__sandbox__/clock", {"now": text})["now"])

    def advance(self, iso_duration: str) -> datetime:
        return parse_datetime(
            self.request("PUT", "/__sandbox__/clock", {"advance": iso_duration})["now"]
        )

    def now(self) -> datetime:
        return self.app.clock.now()

    # ------------------------------------------------------------ levers
    def stats(self) -> dict[str, Any]:
        return self.request("GET", "/__sandbox__/stats")

    def reset_stats(self) -> None:
        self.request("DELETE", "/__sandbox__/stats")

    def set_faults(self, **kw: Any) -> dict[str, Any]:
        return self.request("PUT", "/__sandbox__/faults", kw)

    def settings(self, **kw: Any) -> dict[str, Any]:
        if kw:
            return self.request("PUT", "/__sandbox__/settings", kw)
        return self.request("GET", "/__sandbox__/settings")

    def seed(self, **kw: Any) -> dict[str, Any]:
        return self.request("POST", "/__sandbox__/seed", kw)

    def service_desk(
        self, project: int | str, sender: str, subject: str, body: str = ""
    ) -> dict[str, Any]:
        return self.request(
            "POST",
            "/__sandbox__/service_desk",
            {"project": project, "from": sender, "subject": subject, "body": body},
        )

    def job_token(self, username: str) -> str:
        return self.request("POST", "/__sandbox__/job_token", {"user": username})["token"]

    def reset(self) -> None:
        self.request("POST", "/__sandbox__/reset")

    # ------------------------------------------------------------ Slack
    @property
    def slack_url(self) -> str:
        """The Slack Web API's base URL, for `slack_sdk.WebClient(base_url=...)`."""
        return f"{self.url}/slack/api/"

    def slack_seed(self, **kw: Any) -> dict[str, Any]:
        """Slack people (users: name, real_name, email, bot) and channels (name, members);
        returns their IDs and a token for each person."""
        return self.request("POST", "/__sandbox__/slack", kw)

    def set_slack_faults(self, **kw: Any) -> dict[str, Any]:
        return self.request("PUT", "/__sandbox__/slack/faults", kw)

    # ------------------------------------------------------------ users
    def create_user(
        self,
        username: str,
        name: str | None = None,
        *,
        admin: bool = False,
        bot: bool = False,
        email: str | None = None,
    ) -> tuple[dict[str, Any], str]:
        """POST /users then POST /users/:id/personal_access_tokens (scope api)."""
        user = self.request(
            "POST",
            "/api/v4/users",
            {
                "username": username,
                "name": name or username,
                "email": email or f"{username}@example.com",
                "force_random_password": True,
                "skip_confirmation": True,
                "admin": admin,
                "bot": bot,
            },
        )
        return user, self.create_token(user["id"])

    def create_token(self, user_id_or_username: int | str, scopes: Any = ("api",)) -> str:
        ident = user_id_or_username
        if not str(ident).isdigit():
            found = self.request("GET", f"/api/v4/users?username={quote(str(ident))}")
            if not found:
                raise SandboxError(404, {"message": "404 User Not Found"})
            ident = found[0]["id"]
        tok = self.request(
            "POST",
            f"/api/v4/users/{ident}/personal_access_tokens",
            {"name": "sandbox", "scopes": list(scopes)},
        )
        return tok["token"]

    # ------------------------------------------------------------ lifecycle
    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        self.app.store.close()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<Sandbox {self.url}>"


def start_sandbox(
    token: str | None = None,
    now: datetime | str | None = None,
    db: str | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    scoped_labels: bool = True,
    rate_limit: int | None = None,
) -> Sandbox:
    """Start a sandbox in a daemon thread; returns once it is listening."""
    store = Store(db)
    clock = Clock(now)
    root_token = bootstrap(store, clock, token)
    app = App(store, clock, scoped_labels=scoped_labels, rate_limit=rate_limit)
    server = make_server(app, host, port)
    # A short poll interval keeps stop() (server.shutdown) fast.
    thread = threading.Thread(
        target=server.serve_forever, args=(0.02,), name="escbot-sandbox", daemon=True
    )
    thread.start()
    return Sandbox(app, server, thread, root_token)
