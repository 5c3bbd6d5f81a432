"""Run python-gitlab's own functional API tests against the sandbox.

    .venv/bin/python bench/python_gitlab_functional.py [--keep DIR] [-- PYTEST_ARGS...]

Downloads the sdist of the installed python-gitlab version with pip (its tests/ are in
it; nothing of it is committed here), adds one conftest that replaces the Docker GitLab
with a fresh sandbox (the only change: `gitlab_url`, `gitlab_token` and `gl` point at
it), runs the chosen tests and prints `N passed, N failed`. Opt-in: it needs PyPI, so
it is not part of the default test suite.

SELECTED names the tests run; LEFT_OUT names every other test of those files with the
GitLab feature it needs that the sandbox does not have.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tarfile
import tempfile
from importlib.metadata import version
from pathlib import Path

# The tests in scope (issues, notes, labels, milestones, groups, projects' member and
# label parts, users, and the client basics: pagination, rate limits, sudo), by file.
SELECTED = {
    "test_issues.py": (
        "test_create_issue", "test_issue_notes", "test_issue_labels", "test_issue_links",
        "test_issue_label_events", "test_issue_weight_events", "test_issue_milestones",
        "test_issue_discussions",
    ),
    "test_groups.py": (
        "test_groups", "test_group_labels", "test_group_milestones",
        "test_group_subgroups_projects",
    ),
    "test_users.py": (
        "test_block_user", "test_ban_user", "test_delete_user", "test_user_projects_list",
        "test_user_events_list", "test_user_bio", "test_list_multiple_users",
    ),
    "test_gitlab.py": (
        "test_auth_from_config", "test_no_custom_session", "test_custom_session",
        "test_gitlab_settings", "test_namespaces", "test_search", "test_user_activities",
        "test_events", "test_pagination", "test_rate_limits", "test_list_default_warning",
        "test_list_page_nowarning", "test_list_all_false_nowarning",
        "test_list_all_true_nowarning", "test_list_iterator_true_nowarning",
    ),
    "test_projects.py": (
        "test_projects_head", "test_project_head", "test_create_project",
        "test_project_members", "test_project_labels", "test_project_milestones",
        "test_project_events", "test_project_stars", "test_project_groups_list",
    ),
}  # fmt: skip

# Tests of those files left out -> the GitLab feature each needs that the sandbox lacks.
LEFT_OUT = {
    "test_groups.py::test_group_avatar_upload": "avatar uploads",
    "test_groups.py::test_group_avatar_remove": "avatar uploads",
    "test_groups.py::test_ldap_groups": "LDAP",
    "test_groups.py::test_group_ldap_links": "LDAP",
    "test_groups.py::test_group_notification_settings": "notification settings",
    "test_groups.py::test_group_badges": "badges",
    "test_groups.py::test_group_custom_attributes": "custom attributes",
    "test_groups.py::test_group_wiki": "wikis",
    "test_groups.py::test_group_hooks": "webhooks",
    "test_groups.py::test_group_protected_branches": "repositories (protected branches)",
    "test_groups.py::test_group_transfer": "group transfer",
    "test_groups.py::test_group_saml_group_links": "SAML",
    "test_groups.py::test_group_service_account": "service accounts",
    "test_users.py::test_create_user": "avatar uploads served by the instance",
    "test_users.py::test_user_gpg_keys": "GPG keys",
    "test_users.py::test_user_ssh_keys": "SSH keys",
    "test_users.py::test_user_email": "user e-mails",
    "test_users.py::test_user_custom_attributes": "custom attributes",
    "test_users.py::test_user_impersonation_tokens": "impersonation tokens",
    "test_users.py::test_user_identities": "external identities",
    "test_gitlab.py::test_broadcast_messages": "broadcast messages",
    "test_gitlab.py::test_markdown": "Markdown rendering",
    "test_gitlab.py::test_markdown_in_project": "Markdown rendering",
    "test_gitlab.py::test_sidekiq_queue_metrics": "Sidekiq",
    "test_gitlab.py::test_sidekiq_process_metrics": "Sidekiq",
    "test_gitlab.py::test_sidekiq_job_stats": "Sidekiq",
    "test_gitlab.py::test_sidekiq_compound_metrics": "Sidekiq",
    "test_gitlab.py::test_geo_nodes": "Geo",
    "test_gitlab.py::test_gitlab_license": "licenses",
    "test_gitlab.py::test_template_dockerfile": "template contents",
    "test_gitlab.py::test_template_gitignore": "template contents",
    "test_gitlab.py::test_template_gitlabciyml": "template contents",
    "test_gitlab.py::test_template_license": "template contents",
    "test_gitlab.py::test_hooks": "system hooks",
    "test_gitlab.py::test_notification_settings": "notification settings",
    "test_gitlab.py::test_features": "feature flags (skipped upstream too)",
    "test_projects.py::test_project_avatar_upload": "avatar uploads",
    "test_projects.py::test_project_avatar_remove": "avatar uploads",
    "test_projects.py::test_project_badges": "badges",
    "test_projects.py::test_project_boards": "issue boards",
    "test_projects.py::test_project_custom_attributes": "custom attributes",
    "test_projects.py::test_project_environments": "environments",
    "test_projects.py::test_project_file_uploads": "uploads",
    "test_projects.py::test_project_forks": "forks",
    "test_projects.py::test_project_hooks": "webhooks",
    "test_projects.py::test_project_housekeeping": "repositories (housekeeping)",
    "test_projects.py::test_project_label_promotion": "label promotion",
    "test_projects.py::test_project_milestone_promotion": "milestone promotion",
    "test_projects.py::test_project_pages": "Pages",
    "test_projects.py::test_project_pages_domains": "Pages",
    "test_projects.py::test_project_protected_branches": "repositories (protected branches)",
    "test_projects.py::test_project_remote_mirrors": "repositories (mirrors)",
    "test_projects.py::test_project_pull_mirrors": "repositories (mirrors)",
    "test_projects.py::test_project_services": "integrations",
    "test_projects.py::test_project_storage": "repository storage",
    "test_projects.py::test_project_tags": "repositories (tags)",
    "test_projects.py::test_project_triggers": "CI triggers",
    "test_projects.py::test_project_wiki": "wikis",
    "test_projects.py::test_project_transfer": "project transfer",
    "test_projects.py::test_project_external_status_check_create": "external status checks",
    "test_projects.py::test_project_external_status_check_list": "external status checks",
}

CONFTEST = '''
"""Added by escbot's bench/python_gitlab_functional.py: the sandbox instead of Docker."""

import gitlab
import pytest

from escbot.sandbox import start_sandbox


@pytest.fixture(scope="session")
def _sandbox():
    sb = start_sandbox()
    yield sb
    sb.stop()


@pytest.fixture(scope="session")
def gitlab_url(_sandbox):
    return _sandbox.url


@pytest.fixture(scope="session")
def gitlab_token(_sandbox):
    return _sandbox.token


@pytest.fixture(scope="session")
def gl(gitlab_url, gitlab_token):
    instance = gitlab.Gitlab(gitlab_url, private_token=gitlab_token)
    instance.auth()
    return instance  # a fresh sandbox needs no reset_gitlab()
'''


def fetch_tests(dest: Path) -> Path:
    """The sdist of the installed python-gitlab, unpacked into `dest`."""
    pinned = f"python-gitlab=={version('python-gitlab')}"
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
         "-d", str(dest), pinned],
        check=True,
    )  # fmt: skip
    archive = next(dest.glob("python_gitlab-*.tar.gz"))
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")
    root = next(p for p in dest.iterdir() if p.is_dir())
    (root / "tests" / "functional" / "api" / "conftest.py").write_text(CONFTEST)
    return root


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep", type=Path, help="unpack here and keep it (default: a temp dir)")
    ap.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        dest = args.keep or Path(tmp)
        dest.mkdir(parents=True, exist_ok=True)
        root = fetch_tests(dest)
        api = root / "tests" / "functional" / "api"
        ids = [f"{api / f}::{t}" for f, tests in SELECTED.items() for t in tests]
        cmd = [
            sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "log_cli=false",
            "--tb=line", *ids, *args.pytest_args,
        ]  # fmt: skip
        out = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
        sys.stdout.write(out.stdout[-20000:])
        sys.stderr.write(out.stderr[-5000:])
        counts = {
            k: int(n) for n, k in re.findall(r"(\d+) (passed|failed|error|skipped)", out.stdout)
        }
        print(f"{counts.get('passed', 0)} passed, "
              f"{counts.get('failed', 0) + counts.get('error', 0)} failed, "
              f"{counts.get('skipped', 0)} skipped")  # fmt: skip
        print(f"selected: {len(ids)} test functions; left out: {len(LEFT_OUT)} (see LEFT_OUT)")
        return 0 if out.returncode in (0, 1) else out.returncode


if __name__ == "__main__":
    raise SystemExit(main())
