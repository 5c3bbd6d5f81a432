"""Label taxonomy: the pure difference, and `escbot labels sync` against the sandbox."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from escbot.cli import cli
from escbot.labels import CREATE, UNCHANGED, UPDATE, diff_labels, missing_labels
from escbot.policies import LabelSpec
from tests.helpers import policy


def test_diff_is_pure_and_complete() -> None:
    wanted = [
        LabelSpec("escalation", "#b60205", "Escalation tracked by escbot"),
        LabelSpec("escalation::sev1", "#d9534f", "Sev1"),
        LabelSpec("rag::red", "#d9534f", "Red"),
        LabelSpec("rag::red", "#d9534f", "Red"),  # duplicates count once
    ]
    existing = [
        {
            "id": 1,
            "name": "escalation",
            "color": "#B60205",
            "description": "Escalation tracked by escbot",
        },
        {"id": 2, "name": "escalation::sev1", "color": "#428BCA", "description": None},
        {"id": 3, "name": "not-ours", "color": "#000000", "description": ""},
    ]
    changes = diff_labels(wanted, existing)
    assert [(c.name, c.action) for c in changes] == [
        ("escalation", UNCHANGED),  # colour case does not matter
        ("escalation::sev1", UPDATE),
        ("rag::red", CREATE),
    ]
    update = changes[1]
    assert update.label_id == 2
    assert update.changes == {"color": ("#428BCA", "#d9534f"), "description": ("", "Sev1")}
    assert update.describe(applied=False).startswith("Would update label escalation::sev1: colour")
    assert changes[2].describe(applied=False) == "Would create label rag::red (#d9534f)"
    assert changes[2].describe(applied=True) == "Created label rag::red (#d9534f)"


def test_missing_labels_only_policy_ones() -> None:
    pol = policy()
    todo = missing_labels(pol, ["escalation", "rag::red", "made-up"], [{"name": "escalation"}])
    assert [s.name for s in todo] == ["rag::red"]
    assert todo[0].color == "#d9534f"


@pytest.fixture
def env(sandbox, gl):  # type: ignore[no-untyped-def]
    group = gl.groups.create({"name": "acme", "path": "acme"})
    gl.projects.create({"name": "portal", "namespace_id": group.id})
    return {"GITLAB_URL": sandbox.url, "GITLAB_TOKEN": sandbox.token, "ESCBOT_GITLAB": ""}


@pytest.mark.parametrize("scope", [["--project", "acme/portal"], ["--group", "acme"]])
def test_sync_dry_run_apply_idempotent(sandbox, gl, env, scope) -> None:  # type: ignore[no-untyped-def]
    pol = policy()
    total = len({s.name for s in pol.labels.all_specs()})
    runner = CliRunner()

    sandbox.reset_stats()
    dry = runner.invoke(cli, ["labels", "sync", *scope], env=env)
    assert dry.exit_code == 0, dry.output
    assert "Would create label escalation::sev1 (#d9534f)" in dry.output
    assert dry.output.count("Would create label") == total
    stats = sandbox.stats()
    assert stats["by_method"].get("POST", 0) == 0 and stats["by_method"].get("PUT", 0) == 0

    applied = runner.invoke(cli, ["labels", "sync", *scope, "--apply"], env=env)
    assert applied.exit_code == 0, applied.output
    assert "Created label escalation::sev1 (#d9534f)" in applied.output
    assert applied.output.count("Created label") == total

    owner = gl.groups.get("acme") if scope[0] == "--group" else gl.projects.get("acme/portal")
    labels = {lab.name: lab for lab in owner.labels.list(get_all=True)}
    assert labels["escalation::sev1"].color.lower() == "#d9534f"
    assert (
        labels["category::install-issue"].description == "Installation not progressing as planned"
    )

    sandbox.reset_stats()
    again = runner.invoke(cli, ["labels", "sync", *scope, "--apply"], env=env)
    assert again.exit_code == 0, again.output
    assert "nothing to do" in again.output
    assert "Created" not in again.output and "Updated" not in again.output
    stats = sandbox.stats()
    assert stats["by_method"].get("POST", 0) == 0 and stats["by_method"].get("PUT", 0) == 0


def test_sync_updates_drifted_colour_and_leaves_others(sandbox, gl, env) -> None:  # type: ignore[no-untyped-def]
    project = gl.projects.get("acme/portal")
    project.labels.create({"name": "rag::red", "color": "#123456", "description": "Red: off track"})
    project.labels.create({"name": "team-label", "color": "#000000"})
    runner = CliRunner()
    dry = runner.invoke(cli, ["labels", "sync", "-p", "acme/portal"], env=env)
    assert "Would update label rag::red: colour #123456 -> #d9534f" in dry.output
    assert "team-label" not in dry.output
    runner.invoke(cli, ["labels", "sync", "-p", "acme/portal", "--apply"], env=env)
    labels = {lab.name: lab for lab in project.labels.list(get_all=True)}
    assert labels["rag::red"].color.lower() == "#d9534f"
    assert labels["team-label"].color.lower() == "#000000"


def test_sync_needs_exactly_one_scope(env) -> None:  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(cli, ["labels", "sync"], env=env)
    assert result.exit_code == 2
    assert "exactly one of --project or --group" in result.output


def test_sync_unknown_project(env) -> None:  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(cli, ["labels", "sync", "-p", "nope/nope"], env=env)
    assert result.exit_code == 2
    assert "project nope/nope not found" in result.output
