"""`escbot init`: the files a project that runs escbot on a schedule starts from.

A starter policies.yml (the shipped one, commented), a .gitlab-ci.yml that includes escbot's
CI/CD component, and the issue templates. Files that exist are kept unless `force`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from escbot import __version__
from escbot.errors import EscbotError
from escbot.export import ISSUE_TEMPLATES, issue_templates
from escbot.policies import default_policy_path, parse_policy

# Where the component lives when escbot's project is hosted on the same GitLab at escbot/escbot.
DEFAULT_COMPONENT = "$CI_SERVER_FQDN/escbot/escbot/escbot"

POLICIES_HEADER = """\
# Written by `escbot init` from the policies escbot ships. Edit to match your process, then
# validate with `escbot policies check`; `escbot doctor --group <group>` checks it against GitLab.
"""

CI_TEMPLATE = """\
# Written by `escbot init`. escbot's CI/CD component adds two jobs that run on pipeline schedules
# only: the check (every schedule) and the weekly PMO report (a schedule with ESCBOT_JOB=report).
# Inputs: group, policies, jobs, python_image, escbot_version, stage, pmo_project, timeout.
include:
  - component: {component}@{version}
    inputs:
      group: {group}
      policies: policies.yml
"""


@dataclass(frozen=True)
class Written:
    path: Path
    kept: bool  # it existed and was left alone


def init_project(directory: Path, group: str, component: str, *, force: bool) -> list[Written]:
    """Write the starter files into `directory` (created if needed)."""
    policy_text = POLICIES_HEADER + default_policy_path().read_text(encoding="utf-8")
    files = {
        Path("policies.yml"): policy_text,
        Path(".gitlab-ci.yml"): CI_TEMPLATE.format(
            component=component, version=__version__, group=group
        ),
    }
    for template in issue_templates(parse_policy(policy_text)):
        files[ISSUE_TEMPLATES / template.filename] = template.body
    out = []
    for relative, text in files.items():
        path = directory / relative
        if path.exists() and not force:
            out.append(Written(path, kept=True))
            continue
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise EscbotError(
                f"cannot write {path}: {exc.strerror or type(exc).__name__}"
            ) from None
        out.append(Written(path, kept=False))
    return out
