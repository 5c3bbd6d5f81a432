"""Shared fixtures: a fresh GitLab sandbox per test, and a python-gitlab client for it."""

from __future__ import annotations

from collections.abc import Iterator

import gitlab
import pytest

from escbot.sandbox import Sandbox, start_sandbox

SANDBOX_NOW = "2026-11-23T14:00:00Z"


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """A fresh in-memory sandbox with its clock frozen at SANDBOX_NOW."""
    sb = start_sandbox(now=SANDBOX_NOW)
    try:
        yield sb
    finally:
        sb.stop()


@pytest.fixture
def gl(sandbox: Sandbox) -> gitlab.Gitlab:
    """python-gitlab client for the sandbox, authenticated as the admin `root`."""
    return sandbox.gitlab()
