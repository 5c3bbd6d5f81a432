"""The Slack gateway: every call escbot makes to Slack, through Slack's own SDK.

Handed to the reader (the thread of each escalation, people's replies as notes) and to the
executor (open, pin, reply, unpin). Slack never blocks GitLab work: the first failure (a
revoked token, a missing channel, an outage, a rate limit past the SDK's retries) becomes the
run's one warning line (`failure`), every later call is skipped at once, and the next run tries
again. Nothing is remembered outside GitLab and Slack: a thread is found again by the marker in
the issue's description or, failing that, by its message metadata; each reply by its metadata.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
)

from escbot.errors import remember_secret
from escbot.markers import Marker, find_markers
from escbot.model import ChatThread, Escalation, Note
from escbot.policies import Chat, Policy

EVENT = "escbot"  # the metadata event_type of every message escbot posts
TOKEN_REFUSED = ("invalid_auth", "not_authed", "token_revoked", "account_inactive")


class ChatUnavailable(Exception):
    """Slack could not be used this run; the message is the run's one warning line."""


class Slack:
    def __init__(self, client: WebClient, chat: Chat) -> None:
        self.client, self.chat = client, chat
        self.failure: str | None = None
        self._ids: dict[str, str | None] = dict(chat.users)
        self._names = {uid: name for name, uid in chat.users.items()}
        self._channels: dict[str, str] = {}

    # ---- the one place calls are made ------------------------------------------------------

    def _call(
        self, what: str, fn: Callable[..., Any], tolerate: tuple[str, ...] = (), **kw: Any
    ) -> Any:
        """fn(**kw); None for an error code in `tolerate` (already done)."""
        if self.failure:
            raise ChatUnavailable(self.failure)
        try:
            return fn(**kw)
        except SlackApiError as exc:
            code = exc.response.get("error") if isinstance(exc.response.data, dict) else None
            if code in tolerate:
                return None
            if code in TOKEN_REFUSED:
                why = f"Slack refused the token in {self.chat.token_env} ({code})"
            elif code in ("channel_not_found", "not_in_channel", "is_archived"):
                why = f"Slack channel {kw.get('channel')}: {code} (invite the bot to it)"
            elif code:
                why = f"Slack answered {code} to {what}"
            else:
                why = f"Slack is unavailable (HTTP {exc.response.status_code} to {what})"
        except (SlackClientError, OSError) as exc:
            why = f"Slack is unreachable ({type(exc).__name__}: {exc})"
        self.failure = f"{why}; the Slack thread work waits for the next run"
        raise ChatUnavailable(self.failure)

    def _items(self, what: str, fn: Callable[..., Any], key: str, **kw: Any) -> list[Any]:
        """Every page's `key` items: the SDK follows response_metadata.next_cursor, each page
        a call of its own (so a failure on any of them is the run's one warning line)."""

        def every(**args: Any) -> list[Any]:
            return [item for page in fn(**args) for item in page.get(key) or []]

        return list(self._call(what, every, **kw))

    def channel_id(self, name: str) -> str:
        """A channel's ID: the policy may name it (`ps-project-leadership`) or give its ID."""
        if re.fullmatch(r"[CG][A-Z0-9]{6,}", name):
            return name
        if not self._channels:
            channels = self._items(
                "conversations.list",
                self.client.conversations_list,
                "channels",
                types="public_channel,private_channel",
                exclude_archived=True,
                limit=1000,
            )
            self._channels = {c["name"]: c["id"] for c in channels}
        bare = name.removeprefix("#")
        if bare not in self._channels:
            self.failure = f"Slack channel #{bare} not found; the Slack thread work waits"
            raise ChatUnavailable(self.failure)
        return self._channels[bare]

    # ---- reading ---------------------------------------------------------------------------

    def thread(self, channel: str, ts: str) -> ChatThread:
        msgs = self._items(
            "conversations.replies",
            self.client.conversations_replies,
            "messages",
            channel=channel,
            ts=ts,
            include_all_metadata=True,
            limit=200,
        )
        parent = msgs[0] if msgs else {}
        mirrored: set[Marker] = set()
        replies: list[Note] = []
        for msg in msgs[1:]:
            meta = msg.get("metadata") or {}
            if meta.get("event_type") == EVENT:
                mirrored.update(find_markers(" ".join(meta["event_payload"].get("markers", []))))
            elif not msg.get("bot_id"):
                replies.append(self.as_note(msg))
        return ChatThread(
            channel=channel,
            ts=ts,
            pinned=bool(parent.get("pinned_to")),
            replies=tuple(replies),
            mirrored=frozenset(mirrored),
        )

    def as_note(self, msg: dict[str, Any]) -> Note:
        """A person's reply as a comment: by the GitLab user the policy maps them to."""
        uid = msg.get("user") or ""
        return Note(
            id=int(msg["ts"].replace(".", "")),
            body=msg.get("text") or "",
            author=self._names.get(uid, f"slack:{uid}"),
            created_at=ts_time(msg["ts"]),
        )

    def find_thread(self, channel: str, key: str, oldest: str) -> tuple[str, str] | None:
        """The thread escbot started for an escalation since `oldest`, by its metadata (the
        first, should an overlapping run have started another)."""
        found: list[str] = []
        messages = self._items(
            "conversations.history",
            self.client.conversations_history,
            "messages",
            channel=self.channel_id(channel),
            include_all_metadata=True,
            oldest=oldest,
            limit=200,
        )
        for msg in messages:
            meta = msg.get("metadata") or {}
            payload = meta.get("event_payload") or {}
            if meta.get("event_type") == EVENT and payload.get("thread") == key:
                found.append(msg["ts"])
        return (self.channel_id(channel), min(found)) if found else None

    # ---- writing ---------------------------------------------------------------------------

    def post(
        self, channel: str, text: str, payload: dict[str, Any], thread_ts: str | None = None
    ) -> tuple[str, str]:
        answer = self._call(
            "chat.postMessage",
            self.client.chat_postMessage,
            channel=self.channel_id(channel),
            text=text,
            thread_ts=thread_ts,
            metadata={"event_type": EVENT, "event_payload": payload},
            unfurl_links=False,
        )
        return answer["channel"], answer["ts"]

    def delete(self, channel: str, ts: str) -> None:
        self._call(
            "chat.delete", self.client.chat_delete, ("message_not_found",), channel=channel, ts=ts
        )

    def pin(self, channel: str, ts: str) -> bool:
        """Pin; False when it already was."""
        done = self._call(
            "pins.add", self.client.pins_add, ("already_pinned",), channel=channel, timestamp=ts
        )
        return done is not None

    def unpin(self, channel: str, ts: str) -> bool:
        """Unpin; False when it was not pinned."""
        done = self._call(
            "pins.remove", self.client.pins_remove, ("no_pin",), channel=channel, timestamp=ts
        )
        return done is not None

    def permalink(self, channel: str, ts: str) -> str:
        team = self._call("auth.test", self.client.auth_test)
        return f"{team['url']}archives/{channel}/p{ts.replace('.', '')}"

    def slack_id(self, username: str, email: str | None) -> str | None:
        """The Slack user a GitLab user is: the policy's map, else by e-mail (cached)."""
        if username not in self._ids:
            uid = None
            if self.chat.lookup_by_email and email:
                found = self._call(
                    "users.lookupByEmail",
                    self.client.users_lookupByEmail,
                    ("users_not_found",),  # not in the workspace: named, never mentioned
                    email=email,
                )
                uid = found["user"]["id"] if found else None
            self._ids[username] = uid
            if uid:
                self._names[uid] = username
        return self._ids[username]


def ts_time(ts: str) -> datetime:
    return datetime.fromtimestamp(float(ts), UTC)


def mrkdwn(markdown: str, mentions: Mapping[str, str | None]) -> str:
    """GitLab markdown as Slack mrkdwn: markers dropped, Slack's three characters escaped,
    bold, links, mapped @mentions."""
    text = re.sub(r"<!--.*?-->\n?", "", markdown, flags=re.S).strip()
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = re.sub(r"(?m)^&gt; ", "> ", text)  # a quote stays a quote
    text = re.sub(r"\*\*(.+?)\*\*", r"*\1*", text)
    text = re.sub(r"\[([^\]]+)\]\((\S+?)\)", r"<\2|\1>", text)
    for name, uid in mentions.items():
        if uid:
            text = re.sub(rf"(?<![\w.])@{re.escape(name)}(?![\w.-])", f"<@{uid}>", text)
    return text


class Webhook:
    """An incoming webhook (Mattermost, Microsoft Teams workflows): a one-way mirror. Each
    message is sent as its GitLab comment is made; one that fails is not resent (nothing can
    be read back to find it again), and the failure is one warning line."""

    def __init__(self, url: str, env_name: str) -> None:
        self.url, self.env_name = url, env_name
        self.failure: str | None = None

    def send(self, text: str) -> None:
        if self.failure:
            return
        req = urllib.request.Request(
            self.url, json.dumps({"text": text}).encode(), {"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=15):
                pass
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", None) or exc
            self.failure = f"the chat webhook in {self.env_name} failed ({reason}); not resent"


class Gateway:
    """What the run talks to besides GitLab: the Slack thread and the webhook mirror."""

    def __init__(self, chat: Chat, slack: Slack | None, webhook: Webhook | None) -> None:
        self.chat, self.slack, self.webhook = chat, slack, webhook

    @property
    def failures(self) -> list[str]:
        return [
            f
            for f in (self.slack and self.slack.failure, self.webhook and self.webhook.failure)
            if f
        ]

    def echo(self, markdown: str, markers: list[Marker] | tuple[Marker, ...]) -> None:
        """A comment escbot just made, to the webhook when its kind is mirrored."""
        if self.webhook and any(m.kind in self.chat.mirror for m in markers):
            self.webhook.send(re.sub(r"<!--.*?-->\n?", "", markdown, flags=re.S).strip())


def connect(policy: Policy, env: Mapping[str, str] = os.environ) -> Gateway | None:
    """The gateway when the policy turns Slack or a webhook on; the secrets they are given are
    registered for redaction."""
    chat = policy.chat
    if chat is None:
        return None
    slack = webhook = None
    if chat.slack:
        token = env.get(chat.token_env, "")
        remember_secret(token)
        client = WebClient(
            token=token or None,
            base_url=chat.base_url or "https://slack.com/api/",
            timeout=15,
            retry_handlers=[
                ConnectionErrorRetryHandler(),
                RateLimitErrorRetryHandler(max_retry_count=2),
            ],
        )
        slack = Slack(client, chat)
    url = env.get(chat.webhook_env or "", "")
    if url:
        remember_secret(url)
        webhook = Webhook(url, chat.webhook_env or "")
    return Gateway(chat, slack, webhook) if slack or webhook else None


def read_threads(slack: Slack, escalations: list[Escalation]) -> list[Escalation]:
    """Each escalation with a recorded thread gets it (people's replies, what was mirrored);
    when Slack cannot be read they stay as they are (the rules then leave the thread alone)."""
    out = []
    for esc in escalations:
        where = esc.thread_ref
        if where is not None and not slack.failure:
            with contextlib.suppress(ChatUnavailable):  # the failure is the run's warning
                esc = esc.with_activity(thread=slack.thread(*where))
        out.append(esc)
    return out
