"""The sandbox's Slack Web API, driven by the real slack_sdk WebClient over HTTP."""

from __future__ import annotations

import json
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from escbot.sandbox import Sandbox


@pytest.fixture
def ws(sandbox: Sandbox) -> dict[str, Any]:
    return sandbox.slack_seed(
        users=[
            {"name": "escbot", "bot": True},
            {"name": "dana", "real_name": "Dana PM", "email": "dana@example.com"},
            {"name": "lee", "email": "lee@example.com"},
        ],
        channels=[
            {"name": "ps-project-leadership", "members": ["escbot", "dana"]},
            {"name": "elsewhere", "members": ["dana"]},
        ],
    )


def client(sandbox: Sandbox, token: str, **kw: Any) -> WebClient:
    return WebClient(token=token, base_url=sandbox.slack_url, **kw)


def error_of(call: Any) -> str:
    with pytest.raises(SlackApiError) as info:
        call()
    return str(info.value.response["error"])


def test_auth_test_and_bad_tokens(sandbox: Sandbox, ws: dict[str, Any]) -> None:
    bot = client(sandbox, ws["tokens"]["escbot"])
    me = bot.auth_test()
    assert me["ok"] and me["user_id"] == ws["users"]["escbot"] and me["bot_id"]
    assert error_of(client(sandbox, "xoxb-nope").auth_test) == "invalid_auth"
    assert error_of(WebClient(base_url=sandbox.slack_url).auth_test) == "not_authed"
    revoked = client(sandbox, ws["tokens"]["lee"])
    assert revoked.api_call("auth.revoke")["revoked"]
    assert error_of(revoked.auth_test) == "invalid_auth"


def test_thread_metadata_and_update(sandbox: Sandbox, ws: dict[str, Any]) -> None:
    channel = ws["channels"]["ps-project-leadership"]
    bot, dana = client(sandbox, ws["tokens"]["escbot"]), client(sandbox, ws["tokens"]["dana"])
    meta = {"event_type": "escbot_thread", "event_payload": {"issue": "acme/collab#1"}}
    parent = bot.chat_postMessage(channel=channel, text="Escalation opened", metadata=meta)
    assert parent["message"]["metadata"] == meta
    reply = dana.chat_postMessage(
        channel=channel, text="#status-update fine", thread_ts=parent["ts"]
    )
    assert reply["ts"] > parent["ts"]
    # A reply to a reply joins the thread.
    nested = bot.chat_postMessage(channel=channel, text="noted", thread_ts=reply["ts"])
    assert nested["message"]["thread_ts"] == parent["ts"]
    thread = dana.conversations_replies(channel=channel, ts=parent["ts"])["messages"]
    assert [m["text"] for m in thread] == ["Escalation opened", "#status-update fine", "noted"]
    assert thread[0]["reply_count"] == 2 and "metadata" not in thread[0]  # not dana's app
    mine = bot.conversations_replies(channel=channel, ts=parent["ts"])["messages"]
    assert mine[0]["metadata"] == meta
    every = dana.conversations_replies(channel=channel, ts=parent["ts"], include_all_metadata=True)
    assert every["messages"][0]["metadata"]["event_payload"] == {"issue": "acme/collab#1"}
    # History holds thread parents only, newest first.
    history = bot.conversations_history(channel=channel)["messages"]
    assert [m["ts"] for m in history] == [parent["ts"]]
    updated = bot.chat_update(channel=channel, ts=parent["ts"], text="Escalation (closed)")
    assert updated["message"]["edited"] and updated["text"] == "Escalation (closed)"
    assert error_of(lambda: dana.chat_update(channel=channel, ts=parent["ts"], text="x")) == (
        "cant_update_message"
    )
    assert error_of(
        lambda: bot.chat_postMessage(channel=channel, text="x", thread_ts="1.000100")
    ) == ("thread_not_found")
    assert error_of(lambda: dana.chat_delete(channel=channel, ts=parent["ts"])) == (
        "cant_delete_message"
    )
    assert bot.chat_delete(channel=channel, ts=parent["ts"])["ok"]
    assert bot.conversations_history(channel=channel)["messages"] == []


def test_channel_errors(sandbox: Sandbox, ws: dict[str, Any]) -> None:
    bot = client(sandbox, ws["tokens"]["escbot"])
    assert error_of(lambda: bot.chat_postMessage(channel="C404", text="x")) == "channel_not_found"
    other = ws["channels"]["elsewhere"]
    assert error_of(lambda: bot.chat_postMessage(channel=other, text="x")) == "not_in_channel"
    assert error_of(lambda: bot.conversations_history(channel=other)) == "not_in_channel"
    # chat.postMessage also takes a channel's name.
    posted = bot.chat_postMessage(channel="#ps-project-leadership", text="hello")
    assert posted["channel"] == ws["channels"]["ps-project-leadership"]
    bad = {"event_type": "x"}
    assert error_of(
        lambda: bot.chat_postMessage(channel=posted["channel"], text="x", metadata=bad)
    ) == ("invalid_metadata_schema")


def test_pins(sandbox: Sandbox, ws: dict[str, Any]) -> None:
    channel = ws["channels"]["ps-project-leadership"]
    bot = client(sandbox, ws["tokens"]["escbot"])
    ts = bot.chat_postMessage(channel=channel, text="pin me")["ts"]
    assert bot.pins_add(channel=channel, timestamp=ts)["ok"]
    assert error_of(lambda: bot.pins_add(channel=channel, timestamp=ts)) == "already_pinned"
    items = bot.pins_list(channel=channel)["items"]
    assert [i["message"]["ts"] for i in items] == [ts]
    assert items[0]["message"]["pinned_to"] == [channel]
    assert bot.pins_remove(channel=channel, timestamp=ts)["ok"]
    assert error_of(lambda: bot.pins_remove(channel=channel, timestamp=ts)) == "no_pin"
    assert bot.pins_list(channel=channel)["items"] == []
    assert error_of(lambda: bot.pins_add(channel=channel, timestamp="9.000100")) == (
        "message_not_found"
    )


def test_cursor_pagination(sandbox: Sandbox, ws: dict[str, Any]) -> None:
    channel = ws["channels"]["ps-project-leadership"]
    bot = client(sandbox, ws["tokens"]["escbot"])
    parent = bot.chat_postMessage(channel=channel, text="parent")["ts"]
    for i in range(4):
        bot.chat_postMessage(channel=channel, text=f"reply {i}", thread_ts=parent)
        bot.chat_postMessage(channel=channel, text=f"top {i}")
    texts = [
        m["text"]
        for page in bot.conversations_replies(channel=channel, ts=parent, limit=2)
        for m in page["messages"]
    ]  # slack_sdk follows response_metadata.next_cursor itself
    assert texts == ["parent", "reply 0", "reply 1", "reply 2", "reply 3"]
    first = bot.conversations_history(channel=channel, limit=3)
    assert first["has_more"] and first["response_metadata"]["next_cursor"]
    history = [m["text"] for page in bot.conversations_history(channel=channel, limit=3)
               for m in page["messages"]]  # fmt: skip
    assert history == ["top 3", "top 2", "top 1", "top 0", "parent"]


def test_conversations_list(sandbox: Sandbox, ws: dict[str, Any]) -> None:
    sandbox.slack_seed(channels=[{"name": "secret", "private": True, "members": ["dana"]}])
    bot = client(sandbox, ws["tokens"]["escbot"])
    names = [c["name"] for page in bot.conversations_list(limit=1) for c in page["channels"]]
    assert names == ["elsewhere", "ps-project-leadership"]
    dana = client(sandbox, ws["tokens"]["dana"])
    private = dana.conversations_list(types="private_channel")["channels"]
    assert [(c["name"], c["is_member"]) for c in private] == [("secret", True)]


def test_lookup_by_email(sandbox: Sandbox, ws: dict[str, Any]) -> None:
    bot = client(sandbox, ws["tokens"]["escbot"])
    user = bot.users_lookupByEmail(email="DANA@example.com")["user"]
    assert user["id"] == ws["users"]["dana"] and user["profile"]["real_name"] == "Dana PM"
    assert error_of(lambda: bot.users_lookupByEmail(email="x@example.com")) == "users_not_found"


def test_levers_rate_limit_faults_stats_and_clock(sandbox: Sandbox, ws: dict[str, Any]) -> None:
    channel = ws["channels"]["ps-project-leadership"]
    bot = client(sandbox, ws["tokens"]["escbot"])
    sandbox.set_slack_faults(rate_429=1.0, retry_after=7)
    with pytest.raises(SlackApiError) as info:
        bot.auth_test()
    assert info.value.response.status_code == 429
    assert info.value.response.headers["Retry-After"] == "7"
    assert info.value.response["error"] == "ratelimited"
    # GitLab is unaffected by Slack's faults.
    assert sandbox.gitlab().users.list(username="root")
    # slack_sdk's own retry handler waits Retry-After and tries again.
    sandbox.set_slack_faults(rate_429=0.5, retry_after=0, seed=3)
    patient = client(sandbox, ws["tokens"]["escbot"], retry_handlers=[
        RateLimitErrorRetryHandler(max_retry_count=10)])  # fmt: skip
    sandbox.reset_stats()
    for _ in range(2):
        assert patient.auth_test()["ok"]
    assert sandbox.stats()["by_route"]["POST /slack/api/auth.test"] > 2  # a 429 was retried
    sandbox.set_slack_faults(rate_429=0, rate_5xx=1.0)
    with pytest.raises(SlackApiError) as info:
        bot.auth_test()
    assert info.value.response.status_code in (502, 503)
    sandbox.set_slack_faults(rate_5xx=0)
    sandbox.reset_stats()
    sandbox.set_now("2026-11-24T09:30:00Z")
    ts = bot.chat_postMessage(channel=channel, text="at half nine")["ts"]
    assert ts.startswith("1795512600.")  # the sandbox clock's instant
    assert sandbox.stats()["by_route"] == {"POST /slack/api/chat.postMessage": 1}


def test_params_as_form_and_query(sandbox: Sandbox, ws: dict[str, Any]) -> None:
    """Slack accepts form bodies and GET queries with a token param, as older clients send."""
    import urllib.parse
    import urllib.request

    channel = ws["channels"]["ps-project-leadership"]
    form = urllib.parse.urlencode(
        {"token": ws["tokens"]["escbot"], "channel": channel, "text": "form-posted"}
    ).encode()
    with urllib.request.urlopen(sandbox.slack_url + "chat.postMessage", data=form) as resp:
        assert json.loads(resp.read())["ok"]
    query = urllib.parse.urlencode({"token": ws["tokens"]["escbot"], "channel": channel})
    with urllib.request.urlopen(f"{sandbox.slack_url}conversations.history?{query}") as resp:
        assert json.loads(resp.read())["messages"][0]["text"] == "form-posted"
