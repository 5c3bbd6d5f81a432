"""The click group. It only wires subcommands; each lives in its own module.

Subcommands are imported lazily so `escbot --help` and the scheduled job stay
quick, and so a command module's import cost is paid only when it runs.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from escbot import __version__
from escbot.errors import EscbotError

# name -> module; each module exposes `command` (a click.Command or Group).
COMMANDS: dict[str, str] = {
    "new": "escbot.cli.new",
    "check": "escbot.cli.check",
    "closeout": "escbot.cli.closeout",
    "triage": "escbot.cli.triage",
    "report": "escbot.cli.report",
    "labels": "escbot.cli.labels",
    "policies": "escbot.cli.policies",
    "intake": "escbot.cli.intake",
    "templates": "escbot.cli.templates",
    "sandbox": "escbot.cli.sandbox",
    "demo": "escbot.cli.demo",
}


class EscbotGroup(click.Group):
    """Lazy subcommands, and EscbotError turned into one line plus an exit code."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in COMMANDS if self._load(name) is not None]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self._load(cmd_name)

    @staticmethod
    def _load(name: str) -> click.Command | None:
        module_name = COMMANDS.get(name)
        if module_name is None:
            return None
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:  # not written yet: not offered
                return None
            raise
        command: click.Command = module.command
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EscbotError as exc:
            click.echo(f"escbot: error: {exc}", err=True)
            ctx.exit(exc.exit_code)


@click.group("escbot", cls=EscbotGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="escbot")
def cli() -> None:
    """Keep customer escalations on GitLab on track.

    GitLab is reached through GITLAB_URL and GITLAB_TOKEN (in CI: CI_SERVER_URL
    and ESCBOT_TOKEN), or a python-gitlab config file section named with
    ESCBOT_GITLAB. Tokens are never printed.
    """


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="escbot")
    except KeyboardInterrupt:  # pragma: no cover - interactive only
        click.echo("escbot: interrupted", err=True)
        sys.exit(130)
