"""policies.yml: the shipped file loads; every kind of mistake gets one line with file:line."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from escbot.cli import cli
from escbot.policies import PolicyError, parse_policy
from tests.helpers import policy, policy_text


def test_shipped_policy_encodes_the_seeds() -> None:
    p = policy()
    assert p.warnings == []
    assert list(p.requirements["sev1"]) == [
        "status_update", "milestone_progress", "blockers", "customer_communication",
        "stakeholder_summary", "budget_timeline_impact", "resource_review", "raid_update",
        "pmo_briefing",
    ]  # fmt: skip
    assert list(p.requirements["sev2"]) == [
        "path_to_green", "portfolio_call", "mitigation", "resource_needs",
    ]  # fmt: skip
    assert str(p.requirements["sev1"]["customer_communication"].every) == "2 business days"
    assert p.requirements["sev1"]["raid_update"].met_by == "raid_edit"
    assert p.labels["category"].label("technician-no-show") == "category::technician-no-show"
    assert p.role_users("qa", "mobile") == ("mobile.qa",)
    assert p.role_users("director_ps", "mobile") == ("director.ps",)
    assert next(r.notify for r in p.rungs_for("sev1", "warranty")) == ("qa",)


def test_default_tag_and_heading_both_meet_a_requirement() -> None:
    req = policy().requirements["sev1"]["status_update"]
    assert req.tag == "#status-update"
    assert req.pattern.search("Morning update #status-update: yard crew on site")
    assert req.pattern.search("## Status update\nall good")
    assert not req.pattern.search("#status-updates are boring")
    assert not req.pattern.search("no tag here")


def _error(text: str) -> str:
    with pytest.raises(PolicyError) as info:
        parse_policy(text, "policies.yml")
    return str(info.value)


def test_bad_duration_names_line_path_and_expectation() -> None:
    text = policy_text(
        (
            'every: "1 business day", description: "Escalation status',
            'every: "daily-ish", description: "Escalation status',
        )
    )
    line = text.splitlines().index(next(x for x in text.splitlines() if "daily-ish" in x)) + 1
    assert _error(text) == (
        f"policies.yml:{line}: requirements.sev1.status_update.every: expected a duration such as "
        '"1 business day" or "48h", got "daily-ish"'
    )


def test_unknown_key_is_a_warning_with_the_nearest_key() -> None:
    text = policy_text(("close_when_done:", "close_wen_done:"))
    p = parse_policy(text, "policies.yml")
    line = next(i for i, x in enumerate(text.splitlines(), 1) if "close_wen_done" in x)
    assert p.warnings == [
        f'policies.yml:{line}: close_out.close_wen_done: unknown key, ignored (did you mean "close_when_done"?)'
    ]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("version: 1", "version: 2", "version: expected version 1, got 2"),
        (
            "timezone: America/New_York",
            "timezone: Mars/Olympus",
            'calendar.timezone: expected an IANA time zone such as "America/New_York", got "Mars/Olympus"',
        ),
        (
            "on_missed: red",
            "on_missed: crimson",
            'rag.on_missed: expected a rag value (red, yellow, green), got "crimson"',
        ),
        (
            "customer-success: {default: cs-to-pm,",
            "customer-success: {default: cs-to-p,",
            'intake.roles.customer-success.default: expected a category of intake.categories, got "cs-to-p" (did you mean "cs-to-pm"?)',
        ),
        (
            '- {notify: [director_ps], after: "3 business days"}',
            '- {notify: [director_sp], after: "3 business days"}',
            'ladder.rungs.sev1[3].notify[0]: expected a role from ladder.roles or dri/pm/qa/team_manager, got "director_sp" (did you mean "director_ps"?)',
        ),
        (
            'status_update: {title: "Status update", every: "1 business day"',
            'status_update: {title: "Status update", every: "0h"',
            'requirements.sev1.status_update.every: expected a duration longer than zero, such as "1 business day", got "0h"',
        ),
        (
            'sev2_overdue: "14 days"',
            'sev2_overdue: "10000000 weeks"',
            'promotion.sev2_overdue: expected a duration of at most ten years, got "10000000 weeks"',
        ),
        (
            'closed_dates: ["2026-12-24"',
            'closed_dates: ["2026-13-24"',
            'calendar.closed_dates[0]: expected a date such as "2026-12-24", got "2026-13-24"',
        ),
        (
            "gate: gate",
            "gate: maybe",
            'close_out.gate: expected one of gate, warn, off, got "maybe"',
        ),
        (
            "holidays: {country: US",
            "holidays: {country: XX",
            'calendar.holidays.country: expected a country code known to the holidays library, such as "US", got "XX"',
        ),
    ],
)
def test_each_mistake_is_one_line_naming_where(old: str, new: str, expected: str) -> None:
    text = policy_text((old, new))
    message = _error(text)
    line = next(i for i, x in enumerate(text.splitlines(), 1) if new.split("\n")[0] in x)
    assert message == f"policies.yml:{line}: {expected}"


def test_yaml_syntax_error_names_the_line() -> None:
    assert _error("version: 1\nlabels: [unclosed\n").startswith("policies.yml:3: not valid YAML")


def test_policies_check_cli(tmp_path) -> None:
    runner = CliRunner()
    ok = runner.invoke(cli, ["policies", "check"])
    assert ok.exit_code == 0, ok.output
    assert (
        "ok (version 1)" in ok.output
        and "ladder sev1: dri after 0h -> qa after 1 business day" in ok.output
    )
    bad = tmp_path / "policies.yml"
    bad.write_text(policy_text(("on_met: green", "on_met: teal")))
    result = runner.invoke(cli, ["policies", "check", str(bad)])
    assert result.exit_code == 2
    assert result.output.startswith(f"escbot: error: {bad}:")
    assert "rag.on_met: expected a rag value" in result.output
    assert "Traceback" not in result.output


def test_every_account_type_needs_a_pm() -> None:
    text = policy_text(
        ("    mobile: {pm: mobile.pm, qa: mobile.qa, team_manager: mobile.manager}\n", "")
    )
    line = next(
        i for i, x in enumerate(text.splitlines(), 1) if x.strip().startswith("account_types:")
    )
    assert _error(text) == (
        f"policies.yml:{line}: routing.account_types.mobile.pm: expected the GitLab username of "
        "the PM for mobile accounts (or ladder.roles.pm), got nothing"
    )


def test_now_beyond_the_calendar_is_one_line(tmp_path) -> None:
    result = CliRunner().invoke(cli, ["check", "--project", "x", "--now", "9999-12-31T23:00-05:00"])
    assert result.exit_code == 2
    assert (
        result.output
        == 'escbot: error: --now: expected an ISO 8601 time such as "2026-11-24T09:00", got "9999-12-31T23:00-05:00"\n'
    )
