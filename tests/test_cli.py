"""The CLI surface: every command has help and is in the README; the demo runs end to end."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from escbot import __version__
from escbot.cli import COMMANDS, cli
from tests.helpers import ROOT


def _commands() -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    ctx = click.Context(cli)
    for name in COMMANDS:
        command = cli.get_command(ctx, name)
        assert command is not None, f"escbot {name} does not load"
        out.append((name,))
        if isinstance(command, click.Group):
            out += [(name, sub) for sub in command.list_commands(ctx)]
    return out


@pytest.mark.parametrize("words", _commands(), ids=" ".join)
def test_every_command_has_help_and_is_documented(words: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*words, "--help"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Usage: escbot {' '.join(words)}")
    assert f"`escbot {' '.join(words)}" in (ROOT / "README.md").read_text()


def test_version_and_python_dash_m() -> None:
    assert CliRunner().invoke(cli, ["--version"]).output == f"escbot, version {__version__}\n"
    result = subprocess.run(
        [sys.executable, "-m", "escbot", "--help"], capture_output=True, text=True, check=False
    )
    assert (
        result.returncode == 0 and "Keep customer escalations on GitLab on track" in result.stdout
    )


def test_unknown_command_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["chekc"])
    assert result.exit_code == 2 and "No such command 'chekc'" in result.output


def test_readme_opens_with_the_two_setup_commands() -> None:
    text = (ROOT / "README.md").read_text()
    blocks = [b.split("```", 1)[0].strip() for b in text.split("```sh\n")[1:3]]
    assert blocks[0].endswith("escbot demo")
    assert blocks[1].endswith("python -m pytest")
    assert "python -m pytest" in (ROOT / ".ci" / "run").read_text()


def test_demo_runs_every_step(tmp_path) -> None:
    result = CliRunner().invoke(
        cli, ["demo", "--out", str(tmp_path / "demo")], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert (
        "== 1. A GitLab of our own" in out and "labels synced from policies.yml: 45 created" in out
    )
    assert "SEV1: http://127.0.0.1:" in out and "SEV2: http://127.0.0.1:" in out
    assert "description from the template: 25 checklist items under Summary" in out
    assert "  | " not in out and "- [ ]" not in out  # no raw descriptions
    friday = out.split("-- Fri 20 Nov (EST)")[1].split("\n-- ")[0]
    assert "acme-logistics#1: one internal note, mentions @pat, @fixed.qa:" in friday
    assert "remind @pat: status update missed" in friday
    assert "globex-rentals#1: one internal note, mentions @mobile.qa:" in out
    assert "escalate to rung 2 @mobile.qa" in out
    saturday = out.split("-- Sat 21 Nov (EST)")[1].split("\n-- ")[0]
    assert saturday.strip().endswith("open escalations: nothing to post")
    assert "reopen acme-logistics#1: customer sign-off is not checked" in out
    assert "close RAID register acme-logistics#2 with a final note" in out
    assert "retrospective: http://127.0.0.1:" in out
    assert "acknowledge acme-logistics#4 to dispatch@acme.example: Technician no-show" in out
    assert "(fixed), owner @fixed.pm" in out
    assert "label acme-logistics#5 needs-triage" in out
    assert f"report written: {(tmp_path / 'demo' / 'report.html').resolve()}" in out
    assert "<svg" in (tmp_path / "demo" / "report.html").read_text()
    assert "briefing issue created: http://127.0.0.1:" in out
    assert "/demo-pmo/briefings/-/issues/1\n" in out  # the PMO's own project, not a customer's
    assert "dana, Guest in demo-customers/acme-logistics, sees 0 of its 5 issues" in out
    assert "start the Slack thread of demo-customers/globex-rentals#1" in out
    assert "      ↳ pat: Path to green agreed with Globex" in out
