"""`escbot sandbox serve` as a real subprocess, and --db persistence."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import gitlab
from click.testing import CliRunner

from escbot.cli.sandbox import command

LINE = re.compile(r"^sandbox: (http://127\.0\.0\.1:\d+) token=(\S+)$")


@contextmanager
def serve(*args: str) -> Iterator[tuple[str, str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "escbot", "sandbox", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().rstrip("\n")
        m = LINE.match(first)
        assert m, (
            f"unexpected first line {first!r}; stderr: {proc.stderr.read() if proc.poll() is not None else ''}"
        )
        yield m.group(1), m.group(2)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_serve_prints_first_line_and_serves() -> None:
    with serve("--now", "2026-11-23T14:00:00Z", "--free") as (url, token):
        gl = gitlab.Gitlab(url, private_token=token)
        gl.auth()
        assert gl.user.username == "root"
        p = gl.projects.create({"name": "p"})
        issue = p.issues.create({"title": "t", "labels": "a::1"})
        assert issue.created_at == "2026-11-23T14:00:00.000Z"
        # --free: scoped labels are not exclusive.
        assert p.issues.update(issue.iid, {"add_labels": "a::2"})["labels"] == ["a::1", "a::2"]


def test_db_persists_across_restarts(tmp_path: Path) -> None:
    db = str(tmp_path / "sandbox.db")
    with serve("--db", db) as (url, token):
        gl = gitlab.Gitlab(url, private_token=token)
        gl.projects.create({"name": "kept"}).issues.create({"title": "still here"})
    with serve("--db", db) as (url2, token2):
        assert token2 == token  # stored root token reused
        gl = gitlab.Gitlab(url2, private_token=token2)
        assert [i.title for i in gl.projects.get("root/kept").issues.list()] == ["still here"]
    with serve("--db", db, "--token", "glpat-chosen") as (url3, token3):
        assert token3 == "glpat-chosen"
        assert gitlab.Gitlab(url3, private_token=token3).projects.list()[0].path == "kept"


def test_bad_options_exit_2() -> None:
    runner = CliRunner()
    for args in (["serve", "--now", "not-a-date"], ["serve", "--port", "70000"],
                 ["serve", "--rate-limit", "0"], ["serve", "--token", " "]):  # fmt: skip
        result = runner.invoke(command, args)
        assert result.exit_code == 2, (args, result.output)


def test_old_db_file_is_migrated(tmp_path: Path) -> None:
    import sqlite3

    from escbot.sandbox.store import Store

    path = str(tmp_path / "old.db")
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE issues (id INTEGER PRIMARY KEY, project_id INTEGER NOT NULL, "
        "iid INTEGER NOT NULL, title TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'opened', "
        "author_id INTEGER NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);"
        "CREATE TABLE issue_labels (issue_id INTEGER NOT NULL, label_id INTEGER NOT NULL, "
        "label_title TEXT NOT NULL, PRIMARY KEY (issue_id, label_id));"
        "INSERT INTO issues VALUES (1, 7, 1, 't', 'closed', 1, '2026-01-01', '2026-01-02');"
        "INSERT INTO issue_labels VALUES (1, 3, 'bug');"
    )
    old.commit()
    old.close()
    store = Store(path)
    row = store.conn.execute("SELECT * FROM issue_labels").fetchone()
    assert (row["project_id"], row["state"], row["updated_at"]) == (7, "closed", "2026-01-02")
    store.close()
