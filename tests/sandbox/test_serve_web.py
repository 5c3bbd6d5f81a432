"""`escbot sandbox serve` says where to start reading, after its first line."""

from __future__ import annotations

import re
import subprocess
import sys

import requests

FIRST = re.compile(r"^sandbox: (http://127\.0\.0\.1:\d+) token=(\S+)$")
SECOND = re.compile(r"^web: (http://127\.0\.0\.1:\d+/) \(start reading here: read-only, what "
                    r"root sees; from this machine, no token needed\)$")  # fmt: skip


def test_serve_prints_the_web_url_second() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "escbot", "sandbox", "serve", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        first = FIRST.match(proc.stdout.readline().rstrip("\n"))
        second = SECOND.match(proc.stdout.readline().rstrip("\n"))
        assert first and second
        assert second.group(1) == first.group(1) + "/"
        page = requests.get(second.group(1), timeout=10)
        assert page.status_code == 200 and "<h1" in page.text
    finally:
        proc.terminate()
        proc.wait(timeout=10)
