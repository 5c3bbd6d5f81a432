"""Fuzz tests, bounded and seeded: hostile policies, odd CLI arguments and environments.

No input may give a traceback or an "internal error"; every run ends with an exit code from
the README's table. ESCBOT_FUZZ_CASES raises the case counts for a longer hunt (the suite
keeps them at a few seconds each).
"""

from __future__ import annotations

import os
import random
import socket
import threading
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from escbot.cli import cli
from escbot.policies import PolicyError, parse_policy
from tests.helpers import ROOT

CASES = int(os.environ.get("ESCBOT_FUZZ_CASES", "80"))
WATCHDOG = 60  # seconds: far beyond any case's --timeout; only a hang gets near it


def invoke(args: list[str], env: dict[str, str | None], cwd: Path) -> Result:
    """Run escbot in-process; a run still going after WATCHDOG seconds is a hang."""
    box: dict[str, Result] = {}

    def go() -> None:
        box["result"] = CliRunner().invoke(cli, args, env=env)

    old = Path.cwd()
    os.chdir(cwd)
    try:
        thread = threading.Thread(target=go, daemon=True)
        thread.start()
        thread.join(WATCHDOG)
    finally:
        os.chdir(old)
    assert not thread.is_alive(), f"hang: escbot {args} {env}"
    return box["result"]


def assert_clean(result: Result, args: Any) -> None:
    assert result.exit_code in (0, 1, 2, 3), (args, result.exit_code, result.output)
    assert "Traceback" not in result.output and "internal error" not in result.output, (
        args,
        result.output,
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        args,
        repr(result.exception),
    )


# ---- policies -------------------------------------------------------------------------------

HOSTILE_VALUES = [
    "[]", "{}", "null", "~", "-1", "0", "99999999999999999999999", "9999-12-31", "0000-01-01",
    '"10000000 weeks"', '"0 days"', '"-3 days"', "&x [*x]", "*undefined", "!!binary AAAA",
    "!!python/name:os.system", "[[[[[[[[[[]]]]]]]]]]", "'25:99'", "'xx::yy'", '""', "yes",
    "1e999", ".nan", "[a, [b]]", "2026-02-30", "{a: *undefined}", "'\\ud800'", "|\n  text",
]  # fmt: skip
WORDS = ["sev1", "customer", "business day", "fixed", "mon", "09:00", "high", "escalation"]


def mutate(rng: random.Random, text: str) -> str:
    lines = text.split("\n")
    for _ in range(rng.randint(1, 4)):
        i = rng.randrange(len(lines))
        op = rng.randrange(6)
        if op == 0:
            del lines[i]
        elif op == 1:
            lines.insert(i, lines[rng.randrange(len(lines))])
        elif op == 2 and ":" in lines[i]:
            lines[i] = f"{lines[i].split(':')[0]}: {rng.choice(HOSTILE_VALUES)}"
        elif op == 3 and lines[i]:
            j = rng.randrange(len(lines[i]))
            lines[i] = lines[i][:j] + rng.choice(" :-#{[&*!|>\"'\tA\ufffd") + lines[i][j + 1 :]
        elif op == 4:
            lines[i] = "  " + lines[i]
        else:
            lines[i] = lines[i].replace(rng.choice(WORDS), rng.choice(["", "x", "sev3", "[]"]))
    return "\n".join(lines)


def test_mutated_policies_are_valid_or_one_policy_error() -> None:
    rng = random.Random(14)
    text = (ROOT / "policies.yml").read_text()
    for case in range(CASES):
        mutated = mutate(rng, text)
        try:
            parse_policy(mutated)
        except PolicyError as exc:
            assert "\n" not in str(exc), (case, str(exc))
        except Exception as exc:  # pragma: no cover - the failure message shows the input
            raise AssertionError(f"case {case}: {exc!r}\n{mutated}") from exc


LOL = '["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'
HOSTILE_FILES: dict[str, bytes] = {
    # A 780-byte-class alias bomb: 9^9 strings if expanded.
    "alias bomb": (
        f"version: 1\na: &a {LOL}\n"
        + "".join(
            f"{b}: &{b} [{', '.join(['*' + a] * 9)}]\n"
            for a, b in zip("abcdefgh", "bcdefghi", strict=True)
        )
    ).encode(),
    "self-referring alias": b"version: 1\nladder: &l\n  roles: [*l]\n",
    "deep nesting": b"version: 1\nx: " + b"[" * 2_000 + b"]" * 2_000 + b"\n",
    "deep mappings": b"version: 1\n" + b"".join(b"  " * i + b"k:\n" for i in range(200)),
    "not UTF-8": b"version: 1\ncalendar:\n  timezone: Europe/Z\xfcrich\n",
    "UTF-16": "version: 1\n".encode("utf-16"),
    "NUL bytes": b"version: 1\x00\n",
    "python tag": b"version: 1\nx: !!python/object/apply:os.system [ls]\n",
    "bad date": b"version: 1\ncalendar:\n  closed_dates: [2026-02-30]\n",
    "list key": b"version: 1\n? [a, b]\n: c\n",
    "huge number": b"version: 1\nx: " + b"9" * 10_000 + b"\n",
    "too large": b"version: 1\n" + b"# padding\n" * 200_000,
}


@pytest.mark.parametrize("content", HOSTILE_FILES.values(), ids=HOSTILE_FILES.keys())
def test_hostile_policy_files_are_one_line(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "policies.yml"
    path.write_bytes(content)
    for args in (["policies", "check", str(path)], ["check", "-g", "g", "--policies", str(path)]):
        result = invoke(args, {}, tmp_path)
        assert result.exit_code == 2, (args, result.output)
        assert_clean(result, args)
        assert len(result.output.strip().splitlines()) == 1, result.output


# ---- CLI arguments and environment ------------------------------------------------------------

ODD = [
    "", " ", "acme", "acme/collab", "../..", "a/b/c", "acme%2Fcollab", "x" * 300, "ünïcødé",
    "名前", "a\tb", "a\nb", "-", "--", "*", "?", "#1", "1", "0", "-1", "99999999999999999999",
    "\udcff", "glpat-abcdefghijklmnopqrstu", "acme/collab#1", "@root", "root", "<b>&amp;</b>",
]  # fmt: skip
DATES = [
    "", "now", "2026-02-30", "9999-12-31T23:59", "0001-01-01", "2026-11-24T09:00+25:00", "1e10",
    "2026-W48", "-1", "2026-11-24", "2026-11-24T09:00:00Z", "99999-01-01", "\udcff",
]  # fmt: skip
PATHS = ["", "missing/dir/x", ".", "/dev/null", "/dev/zero", "policies.yml", "\udcff.yml"]
TIMEOUTS = ["0", "-1", "abc", "1e9", "nan", "inf", "2", "0.5"]
TOKENS = ["", "x", "tok en", "tok\nen", "tøken", "名前", "glpat-" + "a" * 20]


def plain(values: list[str]) -> list[str]:
    """Values an environment variable can hold (no lone surrogates)."""
    return [v for v in values if "\udcff" not in v]


def random_run(rng: random.Random, url: str, token: str, refused: str) -> tuple[list[str], dict]:
    scope = rng.choice(
        [
            ["-p", rng.choice(ODD)],
            ["-g", rng.choice(ODD)],
            ["-p", "acme/collab"],
            ["-g", "acme"],
            [],
        ]
    )
    new = [
        "new", "--dry-run", "-p", rng.choice(["acme/collab", *ODD]),
        "--level", rng.choice(["sev1", "sev2", *ODD]), "--type", rng.choice(["customer", *ODD]),
        "--category", rng.choice(["install-issue", *ODD]), "--severity", rng.choice(["high", *ODD]),
        "--title", rng.choice(ODD), "--customer", rng.choice(ODD),
        "--dri", rng.choice(["root", *ODD]), "--completed", rng.choice(DATES),
    ]  # fmt: skip
    args = rng.choice(
        [
            ["check", *scope],
            ["check", *scope, "--apply", "--format", "json"],
            ["triage", *scope],
            ["triage", *scope, "--fix", "--yes"],
            ["report", *scope, "--format", rng.choice(["markdown", "json", "html", "pdf"])],
            ["report", *scope, "--since", rng.choice(DATES)],
            ["report", *scope, "--post", rng.choice(ODD)],
            ["labels", "sync", *scope],
            ["closeout", "-p", rng.choice(["acme/collab", *ODD]), rng.choice(ODD)],
            new,
            ["policies", "check", rng.choice(PATHS)],
            ["templates", "export", rng.choice(PATHS)],
            ["init", rng.choice(PATHS), *rng.choice([[], ["--force"]])],
            ["doctor", *scope],
        ]
    )
    for option, values, chance in (
        ("--now", DATES, 0.3),
        ("--timeout", TIMEOUTS, 0.3),
        ("--policies", PATHS, 0.2),
    ):
        if rng.random() < chance:
            args += [option, rng.choice(values)]
    urls = [url, url + "/api/v4", refused, "127.0.0.1:1", "http://", "http://[::1", "ftp://x"]
    urls += ["http://127.0.0.1:99999", "http://127.0.0.1:0", url + "/sub/path", " " + url]
    env = {
        "GITLAB_URL": rng.choice(urls) if rng.random() < 0.5 else url,
        "GITLAB_TOKEN": rng.choice(TOKENS) if rng.random() < 0.4 else token,
        "ESCBOT_NOW": rng.choice(plain(DATES)) if rng.random() < 0.2 else None,
        "ESCBOT_TIMEOUT": rng.choice(plain(TIMEOUTS)) if rng.random() < 0.2 else "3",
        "ESCBOT_POLICIES": rng.choice(plain(PATHS)) if rng.random() < 0.1 else None,
        "ESCBOT_GITLAB": None,
        "ESCBOT_TOKEN": None,
    }
    return args, env


def test_odd_arguments_and_environments_never_give_a_traceback(
    sandbox: Any, tmp_path: Path
) -> None:
    gl = sandbox.gitlab()
    group = gl.groups.create({"name": "acme", "path": "acme"})
    gl.projects.create({"name": "collab", "path": "collab", "namespace_id": group.id})
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        refused = f"http://127.0.0.1:{s.getsockname()[1]}"
    rng = random.Random(18)
    for _ in range(CASES):
        args, env = random_run(rng, sandbox.url, sandbox.token, refused)
        assert_clean(invoke(args, env, tmp_path), (args, env))
