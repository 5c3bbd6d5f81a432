"""Benchmark the sandbox's front: concurrent clients, half-sent requests, web pages.

    .venv/bin/python bench/sandbox_load.py [--clients 200] [--per-client 4] [--issues 5000]

Prints: connections refused or failed out of clients x per-client (each a new connection
to GET /api/v4/version, all clients released at once); how long 100 half-sent requests
are held (header timeout) while a normal request is still answered; and the median time
(ms) of web pages: the top page, a project's issue list (with a label filter), the group
issue list and an issue page with 300 notes.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import statistics
import threading
import time

import requests

from escbot.sandbox import Sandbox, start_sandbox


def concurrent(sb: Sandbox, clients: int, per_client: int) -> None:
    host, port = sb.url.removeprefix("http://").split(":")
    request = (b"GET /api/v4/version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
               b"PRIVATE-TOKEN: " + sb.token.encode() + b"\r\n\r\n")  # fmt: skip
    barrier = threading.Barrier(clients)
    failed: list[str] = []
    ok = [0]
    lock = threading.Lock()

    def client() -> None:
        barrier.wait()
        for _ in range(per_client):
            try:
                with socket.create_connection((host, int(port)), timeout=30) as sock:
                    sock.sendall(request)
                    answer = b""
                    while chunk := sock.recv(4096):
                        answer += chunk
                good = answer.startswith(b"HTTP/1.1 200 ")
            except OSError as exc:
                good = False
                with lock:
                    failed.append(type(exc).__name__)
            with lock:
                ok[0] += good

    threads = [threading.Thread(target=client) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.perf_counter() - t0
    total = clients * per_client
    print(f"concurrent: {clients} clients x {per_client} connections: {ok[0]}/{total} answered "
          f"200, {len(failed)} refused or failed {sorted(set(failed))}, {took:.2f} s, "
          f"{total / took:.0f} connections/s")  # fmt: skip


def half_sent(sb: Sandbox, count: int = 100) -> None:
    host, port = sb.url.removeprefix("http://").split(":")
    socks = [socket.create_connection((host, int(port))) for _ in range(count)]
    for s in socks:
        s.sendall(b"GET /api/v4/version HTTP/1.1\r\nHost: x\r\n")  # headers never end
    t0 = time.perf_counter()
    answered = requests.get(f"{sb.url}/api/v4/version", headers={"PRIVATE-TOKEN": sb.token},
                            timeout=30).status_code  # fmt: skip
    closed = 0
    for s in socks:
        s.settimeout(60)
        with contextlib.suppress(OSError):
            closed += s.recv(1) == b""
        s.close()
    held = time.perf_counter() - t0
    print(f"half-sent: {count} requests whose headers never end; a normal request meanwhile: "
          f"{answered}; {closed}/{count} closed by the server after {held:.1f} s "
          f"(header timeout {sb.app.limits.header_timeout:.0f} s)")  # fmt: skip


def pages(sb: Sandbox, issues: int, runs: int = 10) -> None:
    sb.seed(group="bench", projects=1, issues=issues, notes_per_issue=2, days=30)
    gl = sb.gitlab()
    project = gl.projects.get("bench/project-01")
    issue = project.issues.create({"title": "long thread", "labels": "escalation"})
    for n in range(300):
        issue.notes.create({"body": f"note {n}: **status** update with a [link](#x) and #1"})
    session = requests.Session()
    for name, path in (
        ("top page", "/"),
        ("project issue list", "/bench/project-01/-/issues?label_name[]=escalation"),
        ("group issue list", "/groups/bench/-/issues"),
        ("issue page, 300 notes", f"/bench/project-01/-/issues/{issue.iid}"),
    ):
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            r = session.get(sb.url + path)
            times.append((time.perf_counter() - t0) * 1000)
            assert r.status_code == 200, (path, r.status_code)
        print(f"web: {name}: median {statistics.median(times):.0f} ms ({len(r.content)} bytes)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--per-client", type=int, default=4)
    ap.add_argument("--issues", type=int, default=5000)
    args = ap.parse_args()
    with start_sandbox(now="2026-11-23T14:00:00Z") as sb:
        concurrent(sb, args.clients, args.per_client)
        half_sent(sb)
        pages(sb, args.issues)


if __name__ == "__main__":
    main()
