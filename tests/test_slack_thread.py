"""The Slack escalation thread end to end: escbot and the real slack_sdk against the sandbox's
GitLab and Slack."""

from __future__ import annotations

import http.server
import json
import threading
from pathlib import Path
from typing import Any, ClassVar

import pytest
from slack_sdk import WebClient

from escbot.check import run_check
from escbot.gitlab_io import GitLab, resolve_scope
from escbot.markers import find_markers
from escbot.policies import load_policy
from escbot.sandbox import Sandbox
from tests.helpers import SEV1_DESCRIPTION, SEV1_LABELS, World, policy_text

CHANNEL = "ps-project-leadership"


class Slacky:
    """The workspace: escbot's bot, Pat the DRI, the leadership channel."""

    def __init__(self, sb: Sandbox, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sb = sb
        ws = sb.slack_seed(
            users=[{"name": "escbot", "bot": True}, {"name": "pat", "email": "pat@example.com"}],
            channels=[{"name": CHANNEL, "members": ["escbot", "pat"]}],
        )
        self.ids, self.tokens, self.channel = ws["users"], ws["tokens"], ws["channels"][CHANNEL]
        text = policy_text(
            ("  slack: false", f"  slack: true\n  base_url: {sb.slack_url}"),
            ("  # users: {pat: U0123ABCD}", f"  users: {{pat: {self.ids['pat']}}}"),
        )
        self.policy_path = tmp / "policies.yml"
        self.policy_path.write_text(text)
        monkeypatch.setenv("ESCBOT_POLICIES", str(self.policy_path))
        monkeypatch.setenv("SLACK_BOT_TOKEN", self.tokens["escbot"])
        self.bot = WebClient(self.tokens["escbot"], base_url=sb.slack_url)

    def threads(self) -> list[dict[str, Any]]:
        return self.bot.conversations_history(channel=self.channel, include_all_metadata=True)[
            "messages"
        ]

    def replies(self, ts: str) -> list[dict[str, Any]]:
        found = self.bot.conversations_replies(
            channel=self.channel, ts=ts, include_all_metadata=True
        )
        return found["messages"][1:]

    def escbot_replies(self, ts: str) -> list[list[str]]:
        """The markers of each escbot reply, from its metadata."""
        return [
            m["metadata"]["event_payload"]["markers"]
            for m in self.replies(ts)
            if (m.get("metadata") or {}).get("event_type") == "escbot"
        ]

    def pinned(self) -> list[str]:
        return [i["message"]["ts"] for i in self.bot.pins_list(channel=self.channel)["items"]]

    def reply_as_pat(self, ts: str, text: str) -> None:
        pat = WebClient(self.tokens["pat"], base_url=self.sb.slack_url)
        pat.chat_postMessage(channel=self.channel, thread_ts=ts, text=text)


@pytest.fixture
def world(sandbox: Sandbox) -> World:
    return World(sandbox)


@pytest.fixture
def slack(sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Slacky:
    return Slacky(sandbox, tmp_path, monkeypatch)


def check(world: World, when: str) -> Any:
    result = world.run("check", "--project", world.path, "--apply", when=when)
    assert result.exit_code in (0, 1), result.output
    return result


def test_new_starts_and_pins_the_thread_once_and_records_it(world: World, slack: Slacky) -> None:
    iid = world.open("2026-11-23 09:00")
    threads = slack.threads()
    assert len(threads) == 1
    parent = threads[0]
    assert parent["metadata"]["event_payload"] == {"thread": f"{world.path}#{iid}"}
    assert "Install stalled" in parent["text"] and f"<@{slack.ids['pat']}>" in parent["text"]
    assert slack.pinned() == [parent["ts"]]
    text = world.issue(iid).description
    (where,) = [m for m in find_markers(text) if m.kind == "chat-thread"]
    assert (where.get("channel"), where.get("ts")) == (slack.channel, parent["ts"])
    link = next(line for line in text.splitlines() if line.startswith("- Slack thread"))
    assert "/archives/" in link and "(link)" not in link
    assert "- [x] Escalation thread started" in text
    assert "- [x] This issue attached to the Slack thread" in text
    assert world.bot_markers(iid) == [] and len(world.notes(iid)) == 1  # by pat, who ran new
    # Reruns find it again: no second thread, pin or comment.
    check(world, "2026-11-23 10:00")
    check(world, "2026-11-23 11:00")
    assert len(slack.threads()) == 1 and slack.pinned() == [parent["ts"]]
    said = [n for n in world.notes(iid) if "escbot:chat-thread" in n.body]
    assert len(said) == 1 and said[0].internal  # an internal note, as every escbot comment
    assert "Escalation thread started" in said[0].body


def test_overlapping_runs_open_one_thread(world: World, slack: Slacky, sandbox: Sandbox) -> None:
    """Two runs at once, neither holding the lease (the worst case): one thread stays."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SLACK_BOT_TOKEN", "")  # `new` opens the issue; the thread waits for the runs
        mp.setenv("ESCBOT_POLICIES", str(slack.policy_path))
        iid = world.open("2026-11-23 09:00")
    assert slack.threads() == []
    policy = load_policy(slack.policy_path)
    now = world.sb.now()
    done: list[Any] = []

    def run() -> None:
        api = GitLab(sandbox.gitlab(token=world.tokens["escbot"]))
        scope = resolve_scope(api, world.path, None)
        done.append(run_check(api, scope, policy, now, apply=True))

    runs = [threading.Thread(target=run) for _ in range(2)]
    for t in runs:
        t.start()
    for t in runs:
        t.join()
    assert [r.errors for r in done] == [[], []]
    threads = slack.threads()
    assert len(threads) == 1 and slack.pinned() == [threads[0]["ts"]]
    text = world.issue(iid).description
    assert len([m for m in find_markers(text) if m.kind == "chat-thread"]) == 1
    assert len([n for n in world.notes(iid) if "escbot:chat-thread" in n.body]) == 1


def test_a_thread_reply_meets_the_status_update_and_each_comment_is_mirrored_once(
    world: World, slack: Slacky
) -> None:
    iid = world.open("2026-11-23 09:00")
    ts = slack.threads()[0]["ts"]
    world.at("2026-11-24 08:00")
    slack.reply_as_pat(ts, "#status-update crew rebooked for Thursday")
    check(world, "2026-11-24 10:00")
    posted = world.bot_markers(iid)
    assert posted, "the other daily requirements are reminded"
    assert not [m for m in posted if "status_update" in m], "met in Slack: no GitLab reminder"
    mirrored = slack.escbot_replies(ts)
    assert len(mirrored) == 1 and set(mirrored[0]) == set(posted)
    reply = slack.replies(ts)[-1]["text"]
    assert f"<@{slack.ids['pat']}>" in reply and "escbot:" not in reply  # a Slack mention
    check(world, "2026-11-24 11:00")
    assert slack.escbot_replies(ts) == mirrored  # once per marker


def test_slack_down_for_a_day_loses_nothing(world: World, slack: Slacky) -> None:
    iid = world.open("2026-11-23 09:00")
    ts = slack.threads()[0]["ts"]
    slack.sb.set_slack_faults(rate_5xx=1.0)
    first = check(world, "2026-11-24 10:00")
    second = check(world, "2026-11-25 10:00")
    for result in (first, second):
        lines = [line for line in result.stderr.splitlines() if "Slack" in line]
        assert len(lines) == 1 and "next run" in lines[0], result.stderr
        assert "Failed" not in result.stdout and "error" not in result.stdout
    on_gitlab = {m for n in world.notes(iid, "escbot") for m in find_markers(n.body)}
    assert on_gitlab, "GitLab's reminders were posted while Slack was down"
    slack.sb.set_slack_faults(rate_5xx=0)
    check(world, "2026-11-25 11:00")
    in_thread = [set(markers) for markers in slack.escbot_replies(ts)]
    assert set().union(*in_thread) >= {m.render() for m in on_gitlab if m.kind == "remind"}
    check(world, "2026-11-25 12:00")
    assert [set(markers) for markers in slack.escbot_replies(ts)] == in_thread


def test_a_bad_token_is_one_line_and_gitlab_work_still_happens(
    world: World, slack: Slacky, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-revoked-0123456789")
    result = world.run("new", "--project", world.path, "--level", "sev1", "--type", "customer",
                       "--category", "install-issue", "--severity", "high", "--title", "Stalled",
                       "--customer", "Acme", "--dri", "pat", who="pat", when="2026-11-23 09:00")  # fmt: skip
    assert result.exit_code == 0, result.output
    result = check(world, "2026-11-24 10:00")
    lines = [line for line in result.stderr.splitlines() if "Slack" in line]
    assert lines == [
        "escbot: warning: Slack refused the token in SLACK_BOT_TOKEN (invalid_auth); "
        "the Slack thread work waits for the next run"
    ]
    assert "Skipped: start the Slack thread" in result.stdout
    assert "xoxb-revoked" not in result.output + result.stderr
    assert slack.threads() == []
    iids = [i.iid for i in world.gl.projects.get(world.project.id).issues.list(get_all=True)]
    assert any(world.bot_markers(i) for i in iids), "the reminders were posted on GitLab"


def test_close_out_unpins_with_the_outcome_and_ticks_the_item(world: World, slack: Slacky) -> None:
    iid = world.open("2026-11-23 09:00")
    ts = slack.threads()[0]["ts"]
    issue = world.issue(iid)
    labels = [lab for lab in issue.labels if not lab.startswith("phase::")] + ["phase::resolution"]
    world.edit(iid, "2026-11-24 09:00", labels=",".join(labels))
    check(world, "2026-11-24 10:00")  # close-out checklist and retrospective
    check(world, "2026-11-24 11:00")  # the retrospective exists: unpin
    assert slack.pinned() == []
    last = slack.replies(ts)[-1]
    assert "Retrospective" in last["text"] and "unpinned" in last["text"]
    assert "- [x] Escalation thread unpinned" in world.issue(iid).description
    check(world, "2026-11-24 12:00")
    assert sum("chat-close" in " ".join(m) for m in slack.escbot_replies(ts)) == 1


class Hook(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        Hook.received.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: Any) -> None:
        pass


def test_a_webhook_mirrors_each_comment_once_without_slack(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mattermost or Teams: each mirrored comment posted to the webhook as it is made."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Hook.received = []
    path = tmp_path / "policies.yml"
    path.write_text(policy_text(("  # webhook_env:", "  webhook_env:")))
    monkeypatch.setenv("ESCBOT_POLICIES", str(path))
    monkeypatch.setenv("ESCBOT_CHAT_WEBHOOK", f"http://127.0.0.1:{server.server_port}/hooks/x")
    try:
        iid = world.open("2026-11-23 09:00")
        check(world, "2026-11-24 10:00")
        check(world, "2026-11-24 11:00")
        posted = world.notes(iid, "escbot")
        assert len(Hook.received) == len(posted) == 1
        assert "escbot:" not in Hook.received[0]["text"] and "@pat" in Hook.received[0]["text"]
    finally:
        server.shutdown()
        server.server_close()
    check_after = world.run("check", "--project", world.path, "--apply", when="2026-11-25 10:00")
    lines = [line for line in check_after.stderr.splitlines() if "webhook" in line]
    assert lines == [
        "escbot: warning: the chat webhook in ESCBOT_CHAT_WEBHOOK failed "
        "([Errno 111] Connection refused); not resent"
    ]
    assert "/hooks/x" not in check_after.stderr  # the URL is a secret


def test_a_rate_limit_past_the_retries_is_one_line_then_caught_up(
    world: World, slack: Slacky
) -> None:
    iid = world.open("2026-11-23 09:00")
    ts = slack.threads()[0]["ts"]
    slack.sb.set_slack_faults(rate_429=1.0, retry_after=0)
    limited = check(world, "2026-11-24 10:00")
    lines = [line for line in limited.stderr.splitlines() if "Slack" in line]
    assert len(lines) == 1 and "ratelimited" in lines[0], limited.stderr
    assert "Failed" not in limited.stdout and "error" not in limited.stdout
    slack.sb.set_slack_faults(rate_429=0)
    assert world.bot_markers(iid) and slack.escbot_replies(ts) == []
    check(world, "2026-11-24 11:00")
    assert len(slack.escbot_replies(ts)) == 1


def test_an_escalation_opened_from_a_template_gets_its_thread_at_the_next_run(
    world: World, slack: Slacky
) -> None:
    world.at("2026-11-23 09:00")
    issue = world.as_user("pat").projects.get(world.project.id).issues.create(
        {"title": "Opened in GitLab", "description": SEV1_DESCRIPTION,
         "labels": ",".join(SEV1_LABELS), "assignee_ids": [world.users["pat"]["id"]]}
    )  # fmt: skip
    assert slack.threads() == []
    check(world, "2026-11-23 10:00")
    (thread,) = slack.threads()
    assert thread["metadata"]["event_payload"] == {"thread": f"{world.path}#{issue.iid}"}
    assert "- Slack thread: " in world.issue(issue.iid).description  # no Links line: added


def test_a_customer_with_its_own_channel_gets_its_threads_there(
    world: World, slack: Slacky, sandbox: Sandbox
) -> None:
    own = sandbox.slack_seed(channels=[{"name": "acme-escalation", "members": ["escbot"]}])
    text = slack.policy_path.read_text().replace(
        "  # customer_channels: {Acme Logistics: acme-escalation}",
        "  customer_channels: {Acme Logistics: acme-escalation}",
    )
    slack.policy_path.write_text(text)
    iid = world.open("2026-11-23 09:00")
    assert slack.threads() == []
    channel = own["channels"]["acme-escalation"]
    (thread,) = slack.bot.conversations_history(channel=channel)["messages"]
    assert f"channel={channel}" in world.issue(iid).description
    assert thread["pinned_to"] == [channel]
