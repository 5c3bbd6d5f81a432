"""The exception types escbot raises for problems a user can fix, and secret redaction.

The CLI edge turns an EscbotError into a single line on stderr and an exit code; nothing
below the CLI prints tracebacks or calls sys.exit. Every line escbot prints or writes passes
through `redact`, so a token never reaches a terminal, a CI log or a file.
"""

from __future__ import annotations

import io
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

# GitLab's token prefixes (personal, OAuth, deploy, runner, CI build, pipeline trigger, feed,
# incoming mail, agent, SCIM, feature flags, workspace) and credentials in URLs and headers.
_TOKEN_SHAPES = re.compile(
    r"\bgl(?:pat|oas|dt|rt|rtr|cbt|ptt|ft|imt|agent|soat|ffct|wt|cit)-[0-9A-Za-z_.-]{8,}"
    r"|(?<=://)[^/\s:@]+:[^/\s@]+(?=@)"
    r"|(?i:(?<=private-token: )|(?<=private_token=)|(?<=job-token: )|(?<=bearer ))[^\s,;\"']+"
)
_known_secrets: set[str] = set()
REDACTED = "[REDACTED]"


def remember_secret(value: str | None) -> None:
    """A credential escbot was given, to be redacted whatever its shape."""
    if value and len(value.strip()) >= 6:
        _known_secrets.add(value.strip())


def redact(text: str) -> str:
    """`text` with every known secret and anything token-shaped replaced by [REDACTED]."""
    for secret in sorted(_known_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    return _TOKEN_SHAPES.sub(REDACTED, text)


class RedactingStream(io.TextIOBase):
    """A text stream that redacts secrets from everything written through it.

    `before_write`, if set, is called once before the first write (a progress bar ends
    there, so output never lands on top of it).
    """

    def __init__(self, inner: TextIO) -> None:
        self.inner = inner
        self.before_write: Callable[[], None] | None = None

    def write(self, text: str) -> int:
        hook, self.before_write = self.before_write, None
        if hook is not None:
            hook()
        shown = redact(text)
        try:
            shown.encode(self.encoding)
        except UnicodeEncodeError:  # a lone surrogate from a file name, say: shown escaped
            shown = shown.encode(self.encoding, "backslashreplace").decode(self.encoding)
        self.inner.write(shown)
        return len(text)

    def writable(self) -> bool:
        return True

    def flush(self) -> None:
        self.inner.flush()

    def isatty(self) -> bool:
        return self.inner.isatty()

    def fileno(self) -> int:
        return self.inner.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.inner, "encoding", None) or "utf-8"

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return getattr(self.inner, "errors", None)


@contextmanager
def redacted_output() -> Iterator[None]:
    """Every line printed inside goes through `redact`, whatever printed it."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = RedactingStream(sys.stdout), RedactingStream(sys.stderr)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


def echo_unredacted(line: str) -> None:
    """Print a line that is meant to show a secret (the sandbox's own root token)."""
    out = sys.stdout
    out = out.inner if isinstance(out, RedactingStream) else out
    out.write(line + "\n")
    out.flush()


class EscbotError(Exception):
    """A problem worth one clear line: where, what, and (optionally) a hint."""

    def __init__(self, message: str, *, exit_code: int = 2, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.hint = hint

    def __str__(self) -> str:
        text = f"{self.message} ({self.hint})" if self.hint else self.message
        # One line whatever a quoted value holds, and never a token.
        return redact(text.replace("\r", "\\r").replace("\n", "\\n"))


class GitLabError(EscbotError):
    """GitLab answered one request with an error we could not work around (that issue's error)."""

    def __init__(self, message: str, *, hint: str | None = None, status: int | None = None) -> None:
        super().__init__(message, exit_code=3, hint=hint)
        self.status = status  # GitLab's HTTP status, when it answered


class GitLabUnavailable(EscbotError):
    """GitLab kept failing past the run's --timeout budget: the whole run stops (exit 3)."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, exit_code=3, hint=hint)
