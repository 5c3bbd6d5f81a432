"""`escbot doctor` against the sandbox: each problem a scheduled run would hit, seeded and found."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from tests.helpers import World, policy_text

TODAY = "2026-11-23"  # the sandbox's clock (conftest.SANDBOX_NOW)


@pytest.fixture
def world(sandbox: Any) -> World:
    w = World(sandbox)
    assert w.run("labels", "sync", "--group", "acme", "--apply").exit_code == 0
    return w


def doctor(world: World, *args: str, token: str | None = None, **env: str) -> Result:
    from click.testing import CliRunner

    from escbot.cli import cli

    full = {**world.env(), **({"GITLAB_TOKEN": token} if token else {}), **env}
    return CliRunner().invoke(cli, ["doctor", "--now", TODAY, *args], env=full)


def lines(result: Result, status: str) -> list[str]:
    return [
        line.split(None, 2)[1] + ": " + line.split(None, 2)[2]
        for line in result.output.splitlines()
        if line.startswith(status + " ")
    ]


def test_a_healthy_setup_is_ready(world: World) -> None:
    result = doctor(world, "--group", "acme")
    assert result.exit_code == 0, result.output
    assert lines(result, "warn") == lines(result, "error") == []
    assert "ok     token      @escbot, scopes api" in result.output
    assert result.output.endswith("0 error(s), 0 warning(s). Ready for a scheduled run.\n")


def test_a_missing_label_is_a_warning(world: World) -> None:
    label = next(lab for lab in world.group.labels.list(get_all=True) if lab.name == "rag::red")
    world.group.labels.delete(label.id)
    result = doctor(world, "--group", "acme")
    assert result.exit_code == 1, result.output
    assert lines(result, "warn") == [
        "labels: 1 of 45 labels missing or different in acme (rag::red): "
        "run escbot labels sync --group acme --apply"
    ]


def test_an_unknown_ladder_user_is_an_error(world: World, tmp_path: Path) -> None:
    policies = tmp_path / "policies.yml"
    policies.write_text(policy_text(("pm_lead: [pm.lead]", "pm_lead: [pm.leed]")))
    result = doctor(world, "--group", "acme", "--policies", str(policies))
    assert result.exit_code == 2, result.output
    assert lines(result, "error") == [
        "people: @pm.leed (ladder role pm_lead) does not exist on GitLab"
    ]


def test_a_user_who_cannot_see_the_projects_is_a_warning(world: World, tmp_path: Path) -> None:
    world.sb.create_user("outsider")  # exists, but no member of acme
    policies = tmp_path / "policies.yml"
    policies.write_text(policy_text(("qa: [qa.lead]", "qa: [outsider]")))
    result = doctor(world, "--group", "acme", "--policies", str(policies))
    assert result.exit_code == 1
    assert lines(result, "warn") == [
        "people: @outsider (ladder role qa) cannot see acme/collab: mentions will not reach them"
    ]


def test_a_read_only_token_is_an_error(world: World) -> None:
    read_only = world.sb.create_token("escbot", scopes=("read_api",))
    result = doctor(world, "--group", "acme", token=read_only)
    assert result.exit_code == 2
    assert lines(result, "error") == [
        "token: @escbot: scopes read_api: read-only, escbot cannot comment or label "
        "(create a token with the api scope)"
    ]


def token_expiring(world: World, day: str) -> str:
    """A new api-scope token of the bot that expires on `day`."""
    return world.sb.request(
        "POST",
        f"/api/v4/users/{world.users['escbot']['id']}/personal_access_tokens",
        {"name": f"until {day}", "scopes": ["api"], "expires_at": day},
    )["token"]


def test_a_token_expiring_in_3_days_is_a_warning(world: World) -> None:
    token = token_expiring(world, "2026-11-26")
    result = doctor(world, "--group", "acme", token=token)
    assert result.exit_code == 1
    assert lines(result, "warn") == [
        "token: expires 2026-11-26, in 3 day(s): rotate it and update ESCBOT_TOKEN"
    ]


def test_an_expired_token_is_an_error(world: World) -> None:
    token = token_expiring(world, "2026-11-24")
    world.sb.set_now("2026-11-25T10:00:00Z")
    result = doctor(world, "--group", "acme", token=token)
    assert result.exit_code == 2
    assert lines(result, "error") == [
        "gitlab: GET /version: GitLab rejected the token (401 Unauthorized, expired) "
        "(check GITLAB_TOKEN / ESCBOT_TOKEN)"
    ]


def test_a_bot_that_is_only_guest_is_an_error(world: World) -> None:
    user, token = world.sb.create_user("guest.bot", bot=True)
    world.group.members.create({"user_id": user["id"], "access_level": 10})
    result = doctor(world, "--group", "acme", token=token)
    assert result.exit_code == 2
    assert lines(result, "error") == [
        "role: @guest.bot is only Guest in acme/collab: escbot needs at least Reporter"
    ]


def test_ci_variables_and_json(world: World) -> None:
    result = doctor(world, "--format", "json", GITLAB_CI="true", ESCBOT_GROUP="")
    report = json.loads(result.output)
    assert result.exit_code == report["exit_code"] == 2
    failed = [c for c in report["checks"] if c["status"] != "ok"]
    assert failed == [
        {
            "status": "error",
            "check": "ci",
            "message": "CI/CD variables missing: ESCBOT_GROUP (Settings > CI/CD > Variables; "
            "ESCBOT_TOKEN masked and protected)",
        },
        {
            "status": "warn",
            "check": "scope",
            "message": "no --group or --project (or ESCBOT_GROUP): projects, roles, labels "
            "and people not checked",
        },
    ]
    with_group = doctor(world, GITLAB_CI="true", ESCBOT_GROUP="acme")
    assert with_group.exit_code == 0, with_group.output


def test_unreachable_gitlab_and_bad_policy_are_both_reported(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from escbot.cli import cli

    bad = tmp_path / "policies.yml"
    bad.write_text("version: 2\n")
    env = {"GITLAB_URL": "http://127.0.0.1:9", "GITLAB_TOKEN": "x", "ESCBOT_GROUP": None}
    result = CliRunner().invoke(cli, ["doctor", "--policies", str(bad)], env=env)
    assert result.exit_code == 2
    assert [line.split()[1] for line in result.output.splitlines()[:-1]] == ["policy", "gitlab"]
    assert "cannot reach GitLab at http://127.0.0.1:9: connection refused" in result.output
