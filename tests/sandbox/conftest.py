"""Fixtures for the sandbox's own tests: a group with one project."""

from __future__ import annotations

from typing import Any

import gitlab
import pytest


@pytest.fixture
def group(gl: gitlab.Gitlab) -> Any:
    return gl.groups.create({"name": "Support", "path": "support"})


@pytest.fixture
def project(gl: gitlab.Gitlab, group: Any) -> Any:
    return gl.projects.create({"name": "Escalations", "path": "esc", "namespace_id": group.id})
