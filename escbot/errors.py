"""The one exception type escbot raises for problems a user can fix.

The CLI edge turns it into a single line on stderr and an exit code; nothing
below the CLI prints tracebacks or calls sys.exit.
"""

from __future__ import annotations


class EscbotError(Exception):
    """A problem worth one clear line: where, what, and (optionally) a hint."""

    def __init__(self, message: str, *, exit_code: int = 2, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class GitLabError(EscbotError):
    """GitLab answered with an error we could not work around."""

    def __init__(self, message: str, *, hint: str | None = None, status: int | None = None) -> None:
        super().__init__(message, exit_code=3, hint=hint)
        self.status = status  # GitLab's HTTP status, when it answered
