"""The Slack part of the sandbox: the Web API methods escbot uses, under /slack/api/.

Point `slack_sdk.WebClient(token, base_url=sandbox.url + "/slack/api/")` at it. Every answer
has Slack's envelope: HTTP 200 with `{"ok": true, ...}` or `{"ok": false, "error": CODE}`
(channel_not_found, not_in_channel, invalid_auth, not_authed, already_pinned, no_pin,
message_not_found, thread_not_found, users_not_found, ...); a rate limit is HTTP 429 with
`Retry-After` and `{"ok": false, "error": "ratelimited"}`; lists page by cursor
(`response_metadata.next_cursor`). The token comes as `Authorization: Bearer` or a `token`
param; params as query, form or JSON, as Slack accepts them.

Methods: auth.test, auth.revoke, chat.postMessage (threads by thread_ts, `metadata`),
chat.update, chat.delete, pins.add/remove/list, conversations.history/replies
(include_all_metadata), conversations.list, users.lookupByEmail. Timestamps (`ts`) come from
the sandbox clock. The workspace is made with the lever `POST /__sandbox__/slack` (channels,
people, their tokens); its faults (`/__sandbox__/slack/faults`, the same knobs as GitLab's)
are separate from GitLab's, so Slack can be down while GitLab is up. Requests are counted in
the sandbox's stats.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import sqlite3
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from escbot.sandbox.core import ApiError

if TYPE_CHECKING:
    from escbot.sandbox.server import App

# (HTTP status, body, headers), or None: the connection is dropped without an answer.
Answer = tuple[int, Any, dict[str, str]] | None

PREFIX = "/slack/api/"
TEAM_ID, TEAM_NAME = "T0SANDBOX", "escbot-sandbox"
MAX_TEXT = 40_000  # chat.postMessage: msg_too_long beyond

SCHEMA = """
CREATE TABLE IF NOT EXISTS slack_users (
    id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, real_name TEXT NOT NULL, email TEXT,
    is_bot INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS slack_tokens (
    token TEXT PRIMARY KEY, user_id TEXT NOT NULL, revoked INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS slack_channels (
    id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, is_private INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS slack_members (
    channel_id TEXT NOT NULL, user_id TEXT NOT NULL, PRIMARY KEY (channel_id, user_id)
);
CREATE TABLE IF NOT EXISTS slack_messages (
    channel_id TEXT NOT NULL, ts TEXT NOT NULL, thread_ts TEXT, user_id TEXT NOT NULL,
    text TEXT NOT NULL, metadata TEXT, edited_ts TEXT, PRIMARY KEY (channel_id, ts)
);
CREATE INDEX IF NOT EXISTS slack_thread ON slack_messages(channel_id, thread_ts, ts);
CREATE TABLE IF NOT EXISTS slack_pins (
    channel_id TEXT NOT NULL, ts TEXT NOT NULL, created INTEGER NOT NULL, created_by TEXT NOT NULL,
    PRIMARY KEY (channel_id, ts)
);
"""
TABLES = (
    "slack_users", "slack_tokens", "slack_channels", "slack_members", "slack_messages",
    "slack_pins",
)  # fmt: skip


class SlackError(Exception):
    """A Slack error answer: HTTP 200, `{"ok": false, "error": code}`."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class Call:
    """One Web API call: its params, the caller, the connection."""

    def __init__(self, app: App, conn: sqlite3.Connection, params: dict[str, Any]) -> None:
        self.app, self.conn, self.params = app, conn, params
        self.user: sqlite3.Row | None = None
        self.token = ""

    def arg(self, name: str, required: bool = False) -> str:
        value = self.params.get(name)
        text = "" if value is None else str(value)
        if required and not text:
            raise SlackError("channel_not_found" if name == "channel" else "invalid_arguments")
        return text

    def flag(self, name: str) -> bool:
        return str(self.params.get(name, "")).lower() in ("1", "true")

    def limit(self, default: int, most: int) -> int:
        try:
            n = int(self.params.get("limit") or default)
        except ValueError:
            raise SlackError("invalid_limit") from None
        return max(1, min(n, most))

    def channel(self, *, by_name: bool = False, member: bool = True) -> sqlite3.Row:
        """The channel argument (an ID; chat.postMessage also takes a name), which the caller
        must be a member of."""
        ident = self.arg("channel", required=True)
        row = self.conn.execute("SELECT * FROM slack_channels WHERE id = ?", (ident,)).fetchone()
        if row is None and by_name:
            name = ident.removeprefix("#")
            row = self.conn.execute(
                "SELECT * FROM slack_channels WHERE name = ?", (name,)
            ).fetchone()
        if row is None:
            raise SlackError("channel_not_found")
        assert self.user is not None
        if (
            member
            and not self.conn.execute(
                "SELECT 1 FROM slack_members WHERE channel_id = ? AND user_id = ?",
                (row["id"], self.user["id"]),
            ).fetchone()
        ):
            raise SlackError("not_in_channel")
        return row

    def message(self, channel: str, ts: str) -> sqlite3.Row:
        row = self.conn.execute(
            "SELECT * FROM slack_messages WHERE channel_id = ? AND ts = ?", (channel, ts)
        ).fetchone()
        if row is None:
            raise SlackError("message_not_found")
        return row

    def new_ts(self, channel: str) -> str:
        """Unique within the channel and never earlier than its last, as Slack's are."""
        seconds = int(self.app.clock.now().timestamp())
        last = self.conn.execute(
            "SELECT ts FROM slack_messages WHERE channel_id = ? ORDER BY ts DESC LIMIT 1",
            (channel,),
        ).fetchone()
        ts = f"{seconds:010d}.000100"
        if last is not None and last["ts"] >= ts:
            whole, frac = last["ts"].split(".")
            ts = f"{whole}.{int(frac) + 100:06d}"
        return ts


# --------------------------------------------------------------------------------------------
# Rendering.


def user_json(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"], "team_id": TEAM_ID, "name": row["name"], "deleted": False,
        "real_name": row["real_name"], "is_bot": bool(row["is_bot"]),
        "profile": {"real_name": row["real_name"], "display_name": row["name"],
                    "email": row["email"]},
    }  # fmt: skip


def message_json(call: Call, row: sqlite3.Row, *, all_metadata: bool = False) -> dict[str, Any]:
    author = call.conn.execute("SELECT * FROM slack_users WHERE id = ?", (row["user_id"],))
    who = author.fetchone()
    msg: dict[str, Any] = {"type": "message", "user": row["user_id"], "text": row["text"],
                           "ts": row["ts"], "team": TEAM_ID}  # fmt: skip
    if who is not None and who["is_bot"]:
        msg["bot_id"] = "B" + row["user_id"][1:]
        msg["app_id"] = "A" + row["user_id"][1:]
    if row["edited_ts"]:
        msg["edited"] = {"user": row["user_id"], "ts": row["edited_ts"]}
    # Metadata shows to the app that posted it, and to any app asking for all of it.
    mine = call.user is not None and row["user_id"] == call.user["id"]
    if row["metadata"] and (all_metadata or mine):
        msg["metadata"] = json.loads(row["metadata"])
    if row["thread_ts"]:
        msg["thread_ts"] = row["thread_ts"]
        if row["thread_ts"] != row["ts"]:
            parent = call.message(row["channel_id"], row["thread_ts"])
            msg["parent_user_id"] = parent["user_id"]
        else:
            replies = call.conn.execute(
                "SELECT user_id, ts FROM slack_messages WHERE channel_id = ? AND thread_ts = ? "
                "AND ts != thread_ts ORDER BY ts",
                (row["channel_id"], row["ts"]),
            ).fetchall()
            users = list(dict.fromkeys(r["user_id"] for r in replies))
            latest = replies[-1]["ts"] if replies else row["ts"]
            msg.update(reply_count=len(replies), reply_users_count=len(users),
                       reply_users=users, latest_reply=latest)  # fmt: skip
    pinned = call.conn.execute(
        "SELECT 1 FROM slack_pins WHERE channel_id = ? AND ts = ?", (row["channel_id"], row["ts"])
    ).fetchone()
    if pinned:
        msg["pinned_to"] = [row["channel_id"]]
    return msg


def _page(call: Call, rows: list[sqlite3.Row], limit: int, render: Callable[..., Any]) -> Any:
    """Cursor pagination: the cursor is the offset, opaque to the client as Slack's are."""
    cursor = call.arg("cursor")
    try:
        start = int(base64.b64decode(cursor).decode().removeprefix("next:")) if cursor else 0
    except ValueError:
        raise SlackError("invalid_cursor") from None
    chunk = rows[start : start + limit]
    more = start + limit < len(rows)
    nxt = base64.b64encode(f"next:{start + limit}".encode()).decode() if more else ""
    return [render(r) for r in chunk], more, {"next_cursor": nxt}


# --------------------------------------------------------------------------------------------
# Methods.


def auth_test(call: Call) -> dict[str, Any]:
    assert call.user is not None
    out = {"url": f"https://{TEAM_NAME}.slack.com/", "team": TEAM_NAME, "team_id": TEAM_ID,
           "user": call.user["name"], "user_id": call.user["id"]}  # fmt: skip
    if call.user["is_bot"]:
        out["bot_id"] = "B" + call.user["id"][1:]
    return out


def auth_revoke(call: Call) -> dict[str, Any]:
    call.conn.execute("UPDATE slack_tokens SET revoked = 1 WHERE token = ?", (call.token,))
    return {"revoked": True}


def chat_post_message(call: Call) -> dict[str, Any]:
    assert call.user is not None
    channel = call.channel(by_name=True)
    text = call.arg("text")
    if not text and not call.params.get("blocks"):
        raise SlackError("no_text")
    if len(text) > MAX_TEXT:
        raise SlackError("msg_too_long")
    thread_ts = call.arg("thread_ts") or None
    if thread_ts:
        try:
            parent = call.message(channel["id"], thread_ts)
        except SlackError:
            raise SlackError("thread_not_found") from None
        thread_ts = parent["thread_ts"] or parent["ts"]  # a reply to a reply joins the thread
        if not parent["thread_ts"]:
            call.conn.execute(
                "UPDATE slack_messages SET thread_ts = ts WHERE channel_id = ? AND ts = ?",
                (channel["id"], thread_ts),
            )
    metadata = _metadata(call.params.get("metadata"))
    ts = call.new_ts(channel["id"])
    call.conn.execute(
        "INSERT INTO slack_messages (channel_id, ts, thread_ts, user_id, text, metadata) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (channel["id"], ts, thread_ts, call.user["id"], text, metadata),
    )
    row = call.message(channel["id"], ts)
    return {"channel": channel["id"], "ts": ts, "message": message_json(call, row)}


def _metadata(raw: Any) -> str | None:
    if raw in (None, ""):
        return None
    try:
        data = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        raise SlackError("invalid_metadata_format") from None
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("event_type"), str)
        or not isinstance(data.get("event_payload"), dict)
    ):
        raise SlackError("invalid_metadata_schema")
    return json.dumps({"event_type": data["event_type"], "event_payload": data["event_payload"]})


def _own_message(call: Call, refusal: str) -> tuple[sqlite3.Row, str, sqlite3.Row]:
    """The channel, ts and row of the message `ts` names, the caller's own (else `refusal`)."""
    assert call.user is not None
    channel = call.channel()
    ts = call.arg("ts")
    row = call.message(channel["id"], ts)
    if row["user_id"] != call.user["id"]:
        raise SlackError(refusal)
    return channel, ts, row


def chat_update(call: Call) -> dict[str, Any]:
    channel, ts, row = _own_message(call, "cant_update_message")
    text = call.arg("text") or row["text"]
    if len(text) > MAX_TEXT:
        raise SlackError("msg_too_long")
    metadata = _metadata(call.params.get("metadata")) or row["metadata"]
    edited = call.new_ts(channel["id"])
    call.conn.execute(
        "UPDATE slack_messages SET text = ?, metadata = ?, edited_ts = ? "
        "WHERE channel_id = ? AND ts = ?",
        (text, metadata, edited, channel["id"], ts),
    )
    msg = message_json(call, call.message(channel["id"], ts))
    return {"channel": channel["id"], "ts": ts, "text": text, "message": msg}


def chat_delete(call: Call) -> dict[str, Any]:
    """Delete one's own message (its pin and, for a thread's parent, the thread with it)."""
    channel, ts, _row = _own_message(call, "cant_delete_message")
    call.conn.execute(
        "DELETE FROM slack_messages WHERE channel_id = ? AND (ts = ? OR thread_ts = ?)",
        (channel["id"], ts, ts),
    )
    call.conn.execute("DELETE FROM slack_pins WHERE channel_id = ? AND ts = ?", (channel["id"], ts))
    return {"channel": channel["id"], "ts": ts}


def pins_add(call: Call) -> dict[str, Any]:
    assert call.user is not None
    channel = call.channel()
    ts = call.arg("timestamp")
    if not ts:
        raise SlackError("no_item_specified")
    call.message(channel["id"], ts)
    try:
        call.conn.execute(
            "INSERT INTO slack_pins (channel_id, ts, created, created_by) VALUES (?, ?, ?, ?)",
            (channel["id"], ts, int(call.app.clock.now().timestamp()), call.user["id"]),
        )
    except sqlite3.IntegrityError:
        raise SlackError("already_pinned") from None
    return {}


def pins_remove(call: Call) -> dict[str, Any]:
    channel = call.channel()
    ts = call.arg("timestamp")
    if not ts:
        raise SlackError("no_item_specified")
    gone = call.conn.execute(
        "DELETE FROM slack_pins WHERE channel_id = ? AND ts = ?", (channel["id"], ts)
    ).rowcount
    if not gone:
        raise SlackError("no_pin")
    return {}


def pins_list(call: Call) -> dict[str, Any]:
    channel = call.channel()
    rows = call.conn.execute(
        "SELECT * FROM slack_pins WHERE channel_id = ? ORDER BY created DESC, ts DESC",
        (channel["id"],),
    ).fetchall()
    items = [
        {"type": "message", "created": r["created"], "created_by": r["created_by"],
         "channel": channel["id"],
         "message": message_json(call, call.message(channel["id"], r["ts"]))}
        for r in rows
    ]  # fmt: skip
    return {"items": items}


def _window(call: Call) -> tuple[str, str, bool]:
    return (
        call.arg("oldest") or "0",
        call.arg("latest") or "9999999999.999999",
        call.flag("inclusive"),
    )


def _in_window(ts: str, oldest: str, latest: str, inclusive: bool) -> bool:
    if inclusive:
        return oldest <= ts <= latest
    return oldest < ts < latest


def conversations_history(call: Call) -> dict[str, Any]:
    """The channel's messages, newest first; thread replies only in their thread."""
    channel = call.channel()
    oldest, latest, inclusive = _window(call)
    rows = call.conn.execute(
        "SELECT * FROM slack_messages WHERE channel_id = ? AND (thread_ts IS NULL OR "
        "thread_ts = ts) ORDER BY ts DESC",
        (channel["id"],),
    ).fetchall()
    rows = [r for r in rows if _in_window(r["ts"], oldest, latest, inclusive)]
    every = call.flag("include_all_metadata")
    msgs, more, meta = _page(
        call, rows, call.limit(100, 999), lambda r: message_json(call, r, all_metadata=every)
    )
    return {"messages": msgs, "has_more": more, "pin_count": _pins(call, channel["id"]),
            "response_metadata": meta}  # fmt: skip


def _pins(call: Call, channel: str) -> int:
    row = call.conn.execute("SELECT COUNT(*) FROM slack_pins WHERE channel_id = ?", (channel,))
    return int(row.fetchone()[0])


def conversations_replies(call: Call) -> dict[str, Any]:
    """A thread, parent first then replies oldest first (a message without replies alone)."""
    channel = call.channel()
    ts = call.arg("ts")
    if not ts:
        raise SlackError("invalid_arguments")
    try:
        row = call.message(channel["id"], ts)
    except SlackError:
        raise SlackError("thread_not_found") from None
    root = row["thread_ts"] or row["ts"]
    rows = call.conn.execute(
        "SELECT * FROM slack_messages WHERE channel_id = ? AND (ts = ? OR thread_ts = ?) "
        "ORDER BY ts",
        (channel["id"], root, root),
    ).fetchall()
    oldest, latest, inclusive = _window(call)
    rows = [r for r in rows if r["ts"] == root or _in_window(r["ts"], oldest, latest, inclusive)]
    every = call.flag("include_all_metadata")
    msgs, more, meta = _page(
        call, rows, call.limit(1000, 1000), lambda r: message_json(call, r, all_metadata=every)
    )
    return {"messages": msgs, "has_more": more, "response_metadata": meta}


def conversations_list(call: Call) -> dict[str, Any]:
    """The workspace's channels: public ones, and private ones the caller is a member of."""
    assert call.user is not None
    types = set((call.arg("types") or "public_channel").split(","))
    rows = call.conn.execute(
        "SELECT c.*, EXISTS(SELECT 1 FROM slack_members m WHERE m.channel_id = c.id "
        "AND m.user_id = ?) AS member FROM slack_channels c ORDER BY c.name",
        (call.user["id"],),
    ).fetchall()
    rows = [
        r for r in rows
        if ("private_channel" if r["is_private"] else "public_channel") in types
        and (r["member"] or not r["is_private"])
    ]  # fmt: skip

    def render(r: sqlite3.Row) -> dict[str, Any]:
        return {"id": r["id"], "name": r["name"], "is_channel": not r["is_private"],
                "is_private": bool(r["is_private"]), "is_archived": False,
                "is_member": bool(r["member"])}  # fmt: skip

    channels, _more, meta = _page(call, rows, call.limit(100, 1000), render)
    return {"channels": channels, "response_metadata": meta}


def users_lookup_by_email(call: Call) -> dict[str, Any]:
    email = call.arg("email")
    if not email:
        raise SlackError("invalid_arguments")
    row = call.conn.execute(
        "SELECT * FROM slack_users WHERE email = ? COLLATE NOCASE", (email,)
    ).fetchone()
    if row is None:
        raise SlackError("users_not_found")
    return {"user": user_json(row)}


METHODS: dict[str, Callable[[Call], dict[str, Any]]] = {
    "auth.test": auth_test,
    "auth.revoke": auth_revoke,
    "chat.postMessage": chat_post_message,
    "chat.update": chat_update,
    "chat.delete": chat_delete,
    "pins.add": pins_add,
    "pins.remove": pins_remove,
    "pins.list": pins_list,
    "conversations.history": conversations_history,
    "conversations.replies": conversations_replies,
    "conversations.list": conversations_list,
    "users.lookupByEmail": users_lookup_by_email,
}


# --------------------------------------------------------------------------------------------
# The entry point and the levers.


def install(conn: sqlite3.Connection) -> None:
    conn.executescript(SCHEMA)


def _params(qs: str, headers: Any, body: bytes) -> dict[str, Any]:
    params: dict[str, Any] = dict(parse_qsl(qs, keep_blank_values=True))
    ctype = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
    text = body.decode("utf-8", errors="replace") if body else ""
    if ctype == "application/json" and text:
        try:
            data = json.loads(text)
        except ValueError:
            raise SlackError("invalid_json") from None
        if not isinstance(data, dict):
            raise SlackError("invalid_json")
        params.update(data)
    elif text:
        params.update(parse_qsl(text, keep_blank_values=True))
    return params


def handle(app: App, method: str, path: str, qs: str, headers: Any, body: bytes) -> Answer:
    """One Web API call: faults first (a faulted call changes nothing), then the method."""
    name = path[len(PREFIX) :]
    app.stats.count(method, f"{PREFIX}{name}")
    latency, fault, code = app.slack_faults.decide()
    if latency:
        time.sleep(latency)
    if fault == "drop":
        return None
    if fault == "5xx":
        return code, "Slack is temporarily unavailable\n", {}
    if fault == "429":
        retry = str(app.slack_faults.config["retry_after"])
        return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": retry}
    fn = METHODS.get(name)
    if fn is None:
        return 404, {"ok": False, "error": "unknown_method"}, {}
    try:
        params = _params(qs, headers, body)
        with app.store.tx() as conn:
            call = Call(app, conn, params)
            token = (headers.get("Authorization") or "").removeprefix("Bearer ").strip()
            token = token or str(params.get("token") or "")
            if not token:
                raise SlackError("not_authed")
            found = conn.execute(
                "SELECT u.* FROM slack_tokens t JOIN slack_users u ON u.id = t.user_id "
                "WHERE t.token = ? AND t.revoked = 0",
                (token,),
            ).fetchone()
            if found is None:
                raise SlackError("invalid_auth")
            call.user, call.token = found, token
            result = fn(call)
    except SlackError as exc:
        return 200, {"ok": False, "error": exc.code}, {}
    return 200, {"ok": True, **result}, {}


def seed(conn: sqlite3.Connection, data: dict[str, Any]) -> dict[str, Any]:
    """The lever `POST /__sandbox__/slack`: people (`users`: name, real_name, email, bot) and
    `channels` (name, private, members by name), added to what is there; returns their IDs and
    each person's token (a bot's `xoxb-`, a person's `xoxp-`)."""
    out: dict[str, Any] = {"team_id": TEAM_ID, "users": {}, "channels": {}, "tokens": {}}
    for user in data.get("users") or []:
        if not isinstance(user, dict) or not isinstance(user.get("name"), str):
            raise ApiError(400, {"error": "users: each needs a name"})
        name = user["name"]
        row = conn.execute("SELECT * FROM slack_users WHERE name = ?", (name,)).fetchone()
        uid = row["id"] if row else _stable_id("U", name)
        if row is None:
            conn.execute(
                "INSERT INTO slack_users (id, name, real_name, email, is_bot) "
                "VALUES (?, ?, ?, ?, ?)",
                (uid, name, user.get("real_name") or name, user.get("email"),
                 int(bool(user.get("bot")))),
            )  # fmt: skip
        token = ("xoxb-" if user.get("bot") else "xoxp-") + secrets.token_hex(12)
        conn.execute("INSERT INTO slack_tokens (token, user_id) VALUES (?, ?)", (token, uid))
        out["users"][name], out["tokens"][name] = uid, token
    for channel in data.get("channels") or []:
        if not isinstance(channel, dict) or not isinstance(channel.get("name"), str):
            raise ApiError(400, {"error": "channels: each needs a name"})
        row = conn.execute(
            "SELECT * FROM slack_channels WHERE name = ?", (channel["name"],)
        ).fetchone()
        cid = row["id"] if row else _stable_id("C", channel["name"])
        if row is None:
            conn.execute(
                "INSERT INTO slack_channels (id, name, is_private) VALUES (?, ?, ?)",
                (cid, channel["name"], int(bool(channel.get("private")))),
            )
        for member in channel.get("members") or []:
            user = conn.execute(
                "SELECT id FROM slack_users WHERE name = ?", (str(member),)
            ).fetchone()
            if user is None:
                raise ApiError(400, {"error": f"channels: no user {member}"})
            conn.execute("INSERT OR IGNORE INTO slack_members VALUES (?, ?)", (cid, user["id"]))
        out["channels"][channel["name"]] = cid
    return out


def _stable_id(prefix: str, name: str) -> str:
    """A Slack-shaped ID derived from the name (names are unique here), so the same seed gives
    the same IDs every run: a demo's issues then read the same."""
    return prefix + hashlib.sha1(name.encode()).hexdigest()[:10].upper()
