"""Operator-grade failures: one clear line, the right exit code, quickly, and never a token.

Everything runs against the sandbox over HTTP, ports on 127.0.0.1 that refuse, or a tiny
HTTP server that is not GitLab; retries are driven by the sandbox's fault levers.
"""

from __future__ import annotations

import http.server
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from escbot.cli import cli
from escbot.errors import redact, remember_secret
from tests.helpers import ROOT

NO_GITLAB = {
    "GITLAB_URL": None,
    "GITLAB_TOKEN": None,
    "ESCBOT_TOKEN": None,
    "CI_SERVER_URL": None,
    "CI_JOB_TOKEN": None,
    "ESCBOT_GITLAB": None,
    "ESCBOT_NOW": None,
}


def run(*args: str, **env: str | None) -> Result:
    return CliRunner().invoke(cli, list(args), env={**NO_GITLAB, **env})


def one_line(result: Result) -> str:
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert "Traceback" not in result.output
    return lines[0]


def refused_port() -> int:
    """A loopback port nobody listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def project(sandbox: Any) -> dict[str, str]:
    """A project the root token can see; the env that reaches it."""
    sandbox.gitlab().projects.create({"name": "collab"})
    return {"GITLAB_URL": sandbox.url, "GITLAB_TOKEN": sandbox.token}


# ---- the python-gitlab config file path (defect 1) -------------------------------------------


def write_config(tmp_path: Path, body: str) -> str:
    path = tmp_path / "python-gitlab.cfg"
    path.write_text(body)
    return str(path)


def test_config_file_default_section_works(sandbox: Any, tmp_path: Path) -> None:
    sandbox.gitlab().projects.create({"name": "collab"})
    cfg = write_config(
        tmp_path,
        f"[global]\ndefault = local\nper_page = 50\ntimeout = 5\n\n"
        f"[local]\nurl = {sandbox.url}\nprivate_token = {sandbox.token}\n",
    )
    result = run("labels", "sync", "--project", "root/collab", PYTHON_GITLAB_CFG=cfg)
    assert result.exit_code == 0, result.output
    assert "root/collab: 45 labels to change" in result.output


def test_config_file_section_named_by_escbot_gitlab(sandbox: Any, tmp_path: Path) -> None:
    sandbox.gitlab().projects.create({"name": "collab"})
    cfg = write_config(
        tmp_path,
        f"[global]\ndefault = other\n\n[other]\nurl = http://127.0.0.1:{refused_port()}\n"
        f"private_token = glpat-other-aaaaaaaaaaaaaaaa\n\n"
        f"[sandbox]\nurl = {sandbox.url}/api/v4\nprivate_token = {sandbox.token}\n",
    )
    result = run(
        "labels", "sync", "-p", "root/collab", PYTHON_GITLAB_CFG=cfg, ESCBOT_GITLAB="sandbox"
    )
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    "body, message",
    [
        ("private_token = glpat-secret-value-1234567890\n", "cannot be read"),
        ("[global]\ndefault = x\n[x]\nurl = http://127.0.0.1:1\n"
         "private_token = glpat-secret-value-1234567890\ntimeout = soon\n", "cannot be read"),
        ("[global]\ndefault = x\n[x]\nurl = http://127.0.0.1:1\n"
         "private_token = glpat-secret-%(value-1234567890\n", "cannot be read"),
        ("[global]\ndefault = x\n[x]\nprivate_token = glpat-secret-value-1234567890\n",
         "Impossible to get gitlab details"),
        ("[global]\ndefault = x\n[x]\nurl = http://127.0.0.1:1\n", "no token"),
    ],
)  # fmt: skip
def test_malformed_config_file_is_one_line_without_the_token(
    tmp_path: Path, body: str, message: str
) -> None:
    result = run("check", "--group", "g", PYTHON_GITLAB_CFG=write_config(tmp_path, body))
    line = one_line(result)
    assert result.exit_code == 2 and message in line, line
    assert "secret" not in result.output


def test_nothing_configured_is_one_line(tmp_path: Path) -> None:
    result = run("new", "--dry-run", HOME=str(tmp_path), PYTHON_GITLAB_CFG=None)
    assert result.exit_code == 2
    result = run("check", "--group", "g", HOME=str(tmp_path), PYTHON_GITLAB_CFG=None)
    assert result.exit_code == 2 and one_line(result).startswith(
        "escbot: error: no GitLab configured"
    )


# ---- failing fast, retrying within the budget (defect 3) ------------------------------------


def test_refused_connection_fails_at_once_naming_the_url() -> None:
    url = f"http://127.0.0.1:{refused_port()}"
    result = run("check", "--group", "g", "--timeout", "1", GITLAB_URL=url, GITLAB_TOKEN="x")
    assert result.exit_code == 2
    # Not "kept failing ... gave up": nothing was retried.
    assert one_line(result) == (
        f"escbot: error: cannot reach GitLab at {url}: connection refused (check GITLAB_URL)"
    )


def test_5xx_on_every_request_ends_within_the_budget(sandbox: Any, project: dict) -> None:
    sandbox.set_faults(rate_5xx=1.0, seed=1)
    result = run("check", "--project", "root/collab", "--timeout", "1.5", **project)
    assert result.exit_code == 3
    line = one_line(result)
    assert line.startswith(f"escbot: error: GitLab at {sandbox.url} kept failing (50")
    assert "for GET /api/v4/projects/root%2Fcollab); gave up after" in line
    assert line.endswith("of the 1.5s budget (--timeout sets the budget)")


def test_a_hanging_gitlab_is_an_error_within_the_budget(sandbox: Any, project: dict) -> None:
    sandbox.set_faults(latency_ms=5000)
    result = run("labels", "sync", "-p", "root/collab", "--timeout", "1", **project)
    assert result.exit_code == 3
    assert "no answer within 1s" in one_line(result)


def test_transient_5xx_and_429_are_retried_quietly(sandbox: Any, project: dict) -> None:
    sandbox.set_faults(rate_5xx=0.1, rate_429=0.1, retry_after=0, seed=7)
    result = run("labels", "sync", "-p", "root/collab", "--apply", "--timeout", "30", **project)
    assert result.exit_code == 0, result.output
    assert "45 labels changed" in result.output
    assert "retry" not in result.output  # notices are for terminals only
    sandbox.set_faults(rate_5xx=0, rate_429=0)
    again = run("labels", "sync", "-p", "root/collab", **project)
    assert "all 45 labels up to date" in again.output


def test_timeout_option_is_validated() -> None:
    result = run("check", "--group", "g", "--timeout", "soon")
    assert result.exit_code == 2 and "'--timeout': 'soon' is not a valid float" in result.output


# ---- not a GitLab API (defect 4) ------------------------------------------------------------


@pytest.fixture
def html_server(request: pytest.FixtureRequest) -> Iterator[str]:
    """A web server answering every request with an HTML page and the given status."""
    status = request.param

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<!doctype html><html><title>Welcome</title><body>hi</body></html>"
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("html_server", [404, 200], indirect=True)
def test_an_html_site_is_not_a_gitlab_api(html_server: str) -> None:
    result = run("check", "--group", "g", GITLAB_URL=html_server, GITLAB_TOKEN="x")
    assert result.exit_code == 2
    assert one_line(result).startswith(
        f"escbot: error: {html_server} is not a GitLab API (GET /api/v4/groups/g answered "
    )
    assert "with an HTML page" in result.output


@pytest.mark.parametrize("url", ["127.0.0.1:9", "gitlab.example.com", "ftp://gitlab.example"])
def test_a_url_without_http_is_not_a_gitlab_api(url: str) -> None:
    result = run("triage", "--group", "g", GITLAB_URL=url, GITLAB_TOKEN="x")
    assert result.exit_code == 2
    assert one_line(result).startswith(f"escbot: error: {url} is not a GitLab API (expected")


# ---- exit codes (defect 5) ------------------------------------------------------------------


def test_rejected_token_is_a_configuration_error(project: dict) -> None:
    result = run("labels", "sync", "-p", "root/collab", **{**project, "GITLAB_TOKEN": "nope"})
    assert result.exit_code == 2
    assert "GitLab rejected the token (401 Unauthorized)" in one_line(result)


def test_exit_code_table_is_documented() -> None:
    text = (ROOT / "README.md").read_text()
    table = text.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    for code in ("0", "1", "2", "3", "70", "141"):
        assert f"\n| {code} |" in table, code


def test_usage_errors_exit_2_and_success_exits_0(project: dict) -> None:
    assert run("check", **project).exit_code == 2  # neither --project nor --group
    assert run("check", "--project", "root/collab", "--now", "soon", **project).exit_code == 2
    assert run("check", "--project", "root/collab", **project).exit_code == 0


# ---- output files and pipes (defect 2) ------------------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (["report", "--output", "/nonexistent/dir/r.html"], "directory /nonexistent/dir does not exist"),
        (["report", "--output", "."], ". is a directory"),
        (["check", "--junit", "/nonexistent/x.xml"], "directory /nonexistent does not exist"),
    ],
)  # fmt: skip
def test_unwritable_outputs_are_refused_before_the_run(
    project: dict, args: list[str], message: str
) -> None:
    result = run(*args, "--project", "root/collab", **project)
    assert result.exit_code == 2 and message in result.output
    assert "Traceback" not in result.output


def test_a_closed_pipe_stops_quietly(sandbox: Any, project: dict) -> None:
    script = (
        f"{sys.executable} -m escbot new --dry-run -p root/collab --level sev1 --type customer "
        "--category install-issue --severity high --title T --customer C --dri root | true"
    )
    env = {"PATH": "/usr/bin:/bin", **project}
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", script],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=False,
    )
    assert (done.stdout, done.stderr, done.returncode) == ("", "", 141)


# ---- secrets (issue 18, item 5) -------------------------------------------------------------


def test_token_shapes_are_redacted() -> None:
    remember_secret("s3cr3t-of-any-shape")
    text = (
        "a glpat-abcdefghij0123456789 b gldt-ZZZZZZZZZZZZZZZZZZZZ c https://bot:hunter22@gl.example/x "
        "PRIVATE-TOKEN: abc123def456 and s3cr3t-of-any-shape"
    )
    assert redact(text) == (
        "a [REDACTED] b [REDACTED] c https://[REDACTED]@gl.example/x "
        "PRIVATE-TOKEN: [REDACTED] and [REDACTED]"
    )
    assert redact("escbot:remind rule=status_update due=2026-11-17T14:00Z") == (
        "escbot:remind rule=status_update due=2026-11-17T14:00Z"
    )


def test_a_token_in_an_error_never_reaches_the_terminal(project: dict) -> None:
    token = project["GITLAB_TOKEN"]
    result = run("check", "--project", token, **project)
    assert result.exit_code == 2 and token not in result.output
    assert "project [REDACTED] not found" in result.output
    result = run("policies", "check", "/nonexistent/glpat-abcdefghijklmnopqrstuv.yml")
    assert "glpat-" not in result.output and "[REDACTED]" in result.output


# ---- progress on a terminal (defect 8) ------------------------------------------------------


def test_progress_bar_on_a_terminal_only(sandbox: Any, project: dict, monkeypatch: Any) -> None:
    for title in ("One", "Two"):
        sandbox.gitlab().projects.get("root/collab").issues.create({"title": title})
    piped = CliRunner().invoke(cli, ["report", "-p", "root/collab"], env=project)
    assert piped.exit_code == 0 and "request(s)" not in piped.stderr
    monkeypatch.setattr("escbot.cli.common.stderr_is_terminal", lambda: True)
    shown = CliRunner().invoke(cli, ["report", "-p", "root/collab"], env=project)
    assert shown.exit_code == 0, shown.output
    assert "escbot report" in shown.stderr and "request(s)" in shown.stderr
    assert shown.stdout == piped.stdout  # the report itself is untouched


# ---- shell completion (deliver 4) -----------------------------------------------------------


@pytest.mark.parametrize(
    "words, expected",
    [
        ("escbot new --level ", ["sev1", "sev2"]),
        ("escbot new --type warranty --category ", ["warranty-delay", "warranty-30-day", "monitoring-outage"]),
        ("escbot new --severity c", ["critical"]),
        ("escbot new --account-type ", ["fixed", "mobile"]),
        ("escbot report --format ", ["markdown", "json", "html"]),
        ("escbot do", ["doctor"]),
    ],
)  # fmt: skip
def test_shell_completion_offers_policy_values(words: str, expected: list[str]) -> None:
    env = {
        "_ESCBOT_COMPLETE": "bash_complete",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split(" ")) - 1),
        "ESCBOT_POLICIES": str(ROOT / "policies.yml"),
    }
    result = CliRunner().invoke(cli, [], env=env, prog_name="escbot")
    assert [line.split(",", 1)[1] for line in result.output.splitlines()] == expected


def test_a_bug_is_one_line_with_exit_70_and_no_token(monkeypatch: Any) -> None:
    def broken(*args: Any) -> str:
        raise RuntimeError("boom with glpat-abcdefghijklmnopqrstu\nand a second line")

    monkeypatch.setattr("escbot.cli.policies.summary", broken)
    result = run("policies", "check", str(ROOT / "policies.yml"))
    assert result.exit_code == 70
    assert one_line(result) == (
        "escbot: internal error: RuntimeError: boom with [REDACTED] and a second line "
        "(please report it; ESCBOT_DEBUG=1 shows the traceback)"
    )
    debug = run("policies", "check", str(ROOT / "policies.yml"), ESCBOT_DEBUG="1")
    assert isinstance(debug.exception, RuntimeError)


def test_demo_refuses_an_unusable_out_dir_before_starting() -> None:
    result = run("demo", "--out", "/dev/null/x")
    assert result.exit_code == 2
    assert one_line(result) == "escbot: error: --out /dev/null/x: Not a directory"


def test_what_escbot_writes_to_gitlab_carries_no_token(sandbox: Any) -> None:
    from escbot.gitlab_io import GitLab

    api = GitLab(sandbox.gitlab())
    project = sandbox.gitlab().projects.create({"name": "collab"})
    leaked = "glpat-customerPasted0123456789"
    issue = api.create_issue(project.id, title=f"Token {leaked}", description=f"key: {leaked}")
    api.add_note(project.id, issue["iid"], f"> quoted from the e-mail: {leaked}")
    api.edit_issue(project.id, issue["iid"], description=f"still {leaked}", labels="a")
    stored = sandbox.gitlab().projects.get(project.id).issues.get(issue["iid"])
    texts = [stored.title, stored.description, *(n.body for n in stored.notes.list(get_all=True))]
    assert not any(leaked in text for text in texts)
    assert stored.description == "still [REDACTED]" and stored.labels == ["a"]
