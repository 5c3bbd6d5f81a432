"""policies.yml `chat`: off by default, validated, the token from the environment only."""

from __future__ import annotations

import pytest

from escbot.description import fill_link, tick_tasks
from escbot.errors import redact
from escbot.policies import PolicyError, parse_policy
from escbot.slack_io import connect, mrkdwn
from tests.helpers import policy, policy_text


def test_off_by_default_so_nothing_is_connected() -> None:
    shipped = policy()
    assert shipped.chat is not None and not shipped.chat.slack
    assert connect(shipped, {"SLACK_BOT_TOKEN": "xoxb-1234567890"}) is None


def test_enabled_with_channels_and_people() -> None:
    text = policy_text(
        ("  slack: false", "  slack: true"),
        ("  # customer_channels: {Acme Logistics: acme-escalation}",
         "  customer_channels: {Acme Logistics: acme-escalation}"),
        ("  # users: {pat: U0123ABCD}", "  users: {'@pat': U0123ABCD}"),
    )  # fmt: skip
    chat = parse_policy(text).chat
    assert chat is not None and chat.slack
    assert chat.channel_for("Acme Logistics") == "acme-escalation"
    assert chat.channel_for("Globex") == chat.channel_for(None) == "ps-project-leadership"
    assert chat.users == {"pat": "U0123ABCD"}


def test_a_bad_mirror_kind_names_the_key() -> None:
    text = policy_text(("  mirror: [remind,", "  mirror: [remindd,"))
    with pytest.raises(PolicyError, match=r"chat\.mirror\[0\]"):
        parse_policy(text)


def test_the_token_is_redacted_wherever_printed() -> None:
    on = policy(chat=("  slack: false", "  slack: true"))
    token = "xoxb-55555-secret-token"
    assert connect(on, {"SLACK_BOT_TOKEN": token}) is not None
    assert token not in redact(f"Slack said no to {token}")


def test_mrkdwn_mentions_links_and_markers() -> None:
    text = "<!-- escbot:remind rule=x -->\n@pat @qa.lead **Missed**: see [#12](http://g/12) & more"
    assert mrkdwn(text, {"pat": "U1", "qa.lead": None}) == (
        "<@U1> @qa.lead *Missed*: see <http://g/12|#12> &amp; more"
    )


def test_the_links_line_and_the_checklist() -> None:
    text = "## Links\n\n- RAID register: #2\n- Slack thread in `#lead`: (link)\n"
    assert fill_link(text, "Slack thread", "URL") == text.replace("(link)", "URL")
    bare = "## Links\n\n- RAID register: #2\n"
    assert fill_link(bare, "Slack thread", "URL") == (
        "## Links\n\n- Slack thread: URL\n- RAID register: #2\n"
    )
    assert fill_link("No links.", "Slack thread", "URL") == "No links.\n\n- Slack thread: URL\n"
    ticked = tick_tasks("- [ ] Escalation thread started\n- [ ] Other\n", ["escalation thread"])
    assert ticked == (
        "- [x] Escalation thread started\n- [ ] Other\n",
        ["Escalation thread started"],
    )
