"""`escbot init`, the CI/CD component in templates/, and the project's own pipeline using it."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import click
import yaml
from click.testing import CliRunner

from escbot.cli import cli
from escbot.policies import load_policy
from tests.helpers import ROOT

COMPONENT = ROOT / "templates" / "escbot.yml"


def component() -> tuple[dict[str, Any], dict[str, Any]]:
    spec, jobs = yaml.safe_load_all(COMPONENT.read_text())
    return spec["spec"], jobs


def test_init_writes_the_starter_files_and_keeps_existing_ones(tmp_path: Path) -> None:
    target = tmp_path / "escalations"
    result = CliRunner().invoke(cli, ["init", str(target), "--group", "customers"])
    assert result.exit_code == 0, result.output
    written = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
    assert written == [
        ".gitlab-ci.yml",
        ".gitlab/issue_templates/Escalation-Sev1-Customer.md",
        ".gitlab/issue_templates/Escalation-Sev1-Internal.md",
        ".gitlab/issue_templates/Escalation-Sev1-Warranty.md",
        ".gitlab/issue_templates/Escalation-Sev2.md",
        ".gitlab/issue_templates/RAID-register.md",
        "policies.yml",
    ]
    # The starter policy is the shipped one, comments and all, and valid.
    policies = (target / "policies.yml").read_text()
    assert policies.startswith("# Written by `escbot init`") and "# Durations read like" in policies
    assert load_policy(target / "policies.yml").labels.marker.name == "escalation"
    ci = yaml.safe_load((target / ".gitlab-ci.yml").read_text())
    assert ci == {
        "include": [
            {
                "component": "$CI_SERVER_FQDN/escbot/escbot/escbot@0.1.0",
                "inputs": {"group": "customers", "policies": "policies.yml"},
            }
        ]
    }
    steps = result.output.split("Three steps left:\n")[1]
    assert [line.split(":")[0].strip() for line in steps.splitlines() if line[:4] == "  1." or line[:4] in ("  2.", "  3.")] == ["1. Token", "2. Variables", "3. Schedule"]  # fmt: skip
    assert steps.rstrip().endswith("escbot doctor --group customers")

    (target / "policies.yml").write_text("version: 1\n")
    again = CliRunner().invoke(cli, ["init", str(target)])
    assert f"Kept {target / 'policies.yml'} (it exists; --force overwrites)" in again.output
    assert (target / "policies.yml").read_text() == "version: 1\n"
    CliRunner().invoke(cli, ["init", str(target), "--force"])
    assert (target / "policies.yml").read_text() == policies


def test_init_into_a_file_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    result = CliRunner().invoke(cli, ["init", str(tmp_path / "f")])
    assert result.exit_code == 2 and "is a file" in result.output


def test_component_declares_its_inputs_and_uses_only_those() -> None:
    spec, jobs = component()
    inputs = spec["inputs"]
    assert {"group", "policies", "jobs", "python_image", "escbot_version"} <= set(inputs)
    assert "default" not in inputs["group"]  # required: nothing sensible to guess
    used = set(re.findall(r"\$\[\[ inputs\.(\w+) \]\]", COMPONENT.read_text()))
    assert used == set(inputs)
    for name in ("escbot-check", "escbot-report"):
        job = jobs[name]
        assert job["extends"] == ".escbot" and job["rules"][0]["if"].startswith(
            '$CI_PIPELINE_SOURCE == "schedule"'
        )
    assert jobs[".escbot"]["resource_group"] == "escbot"
    assert jobs["escbot-check"]["artifacts"]["reports"]["junit"] == "escbot-check.xml"
    # The audit trail is kept as an artifact of every scheduled check.
    assert jobs["escbot-check"]["artifacts"]["paths"] == ["escbot-audit.jsonl"]
    assert "--audit escbot-audit.jsonl" in jobs["escbot-check"]["script"][0]
    assert jobs["escbot-check"]["allow_failure"] == {"exit_codes": [1]}
    assert jobs["escbot-report"]["artifacts"]["paths"] == ["escbot-report.html"]


def test_component_commands_parse_with_this_escbot() -> None:
    _spec, jobs = component()
    lines = [line for job in jobs.values() for line in job.get("script", [])]
    assert len(lines) == 3
    for line in lines:
        words = shlex.split(line)
        assert words[0] == "escbot"
        ctx = click.Context(cli)
        command = cli.get_command(ctx, words[1])
        assert command is not None, line
        command.make_context(words[1], words[2:])  # raises on an unknown option


def test_project_pipeline_uses_the_component_at_this_commit() -> None:
    ci = yaml.safe_load((ROOT / ".gitlab-ci.yml").read_text())
    (include,) = ci["include"]
    assert include["component"] == "$CI_SERVER_FQDN/$CI_PROJECT_PATH/escbot@$CI_COMMIT_SHA"
    assert include["inputs"]["stage"] in ci["stages"]
    assert include["inputs"]["escbot_version"] == "."
    readme = (ROOT / "README.md").read_text()
    assert "include:\n  - component: $CI_SERVER_FQDN/" in readme
