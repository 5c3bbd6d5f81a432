"""The click group. It only wires subcommands; each lives in its own module.

Subcommands are imported lazily so `escbot --help` and the scheduled job stay
quick, and so a command module's import cost is paid only when it runs.
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import os
import sys
from typing import Any

import click

from escbot import __version__
from escbot.errors import EscbotError, redacted_output

INTERNAL_ERROR = 70  # EX_SOFTWARE: a bug in escbot, never bad input
BROKEN_PIPE = 141  # what a shell reports for a program stopped by SIGPIPE

# name -> module; each module exposes `command` (a click.Command or Group).
COMMANDS: dict[str, str] = {
    "new": "escbot.cli.new",
    "check": "escbot.cli.check",
    "closeout": "escbot.cli.closeout",
    "explain": "escbot.cli.explain",
    "triage": "escbot.cli.triage",
    "report": "escbot.cli.report",
    "labels": "escbot.cli.labels",
    "policies": "escbot.cli.policies",
    "intake": "escbot.cli.intake",
    "templates": "escbot.cli.templates",
    "sandbox": "escbot.cli.sandbox",
    "demo": "escbot.cli.demo",
    "doctor": "escbot.cli.doctor",
    "init": "escbot.cli.init",
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

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        for arg in args:
            if not _is_text(arg):  # undecodable bytes in argv arrive as lone surrogates
                raise click.UsageError(f"{arg!a} is not valid UTF-8 text", ctx)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        with redacted_output():
            try:
                try:
                    return super().invoke(ctx)
                finally:
                    sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
            except EscbotError as exc:
                click.echo(f"escbot: error: {exc}", err=True)
                ctx.exit(exc.exit_code)
            except (click.exceptions.Exit, click.ClickException, click.Abort):
                raise
            except OSError as exc:
                if exc.errno == errno.EPIPE:  # the reader went away (`| head`): stop quietly
                    _discard_stdout()
                    ctx.exit(BROKEN_PIPE)
                click.echo(f"escbot: error: {_os_error(exc)}", err=True)
                ctx.exit(2)
            except Exception as exc:
                if os.environ.get("ESCBOT_DEBUG"):
                    raise
                # A bug, not bad input; still one line, and never a token.
                text = " ".join(str(exc).split())[:300]
                click.echo(
                    f"escbot: internal error: {type(exc).__name__}: {text} (please report it; "
                    "ESCBOT_DEBUG=1 shows the traceback)",
                    err=True,
                )
                ctx.exit(INTERNAL_ERROR)


def _is_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _discard_stdout() -> None:
    """Send what is still buffered for the closed pipe nowhere, silently."""
    with contextlib.suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _os_error(exc: OSError) -> str:
    where = f"{exc.filename}: " if exc.filename else ""
    return f"{where}{exc.strerror or type(exc).__name__}"


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
