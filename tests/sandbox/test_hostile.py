"""Hostile requests get GitLab's answers (404, 400, 413), never a 500; half-sent
requests are dropped; a burst of clients is never refused."""

from __future__ import annotations

import random
import re
import socket
import threading
import time
from typing import Any

import gitlab
import pytest
import requests

from escbot.sandbox import Sandbox

HUGE = 2**63  # one past PostgreSQL's bigint


def get(sandbox: Sandbox, path: str, **kw: Any) -> requests.Response:
    return requests.get(
        f"{sandbox.url}/api/v4{path}", headers={"PRIVATE-TOKEN": sandbox.token}, **kw
    )


def connect(sandbox: Sandbox) -> socket.socket:
    host, port = sandbox.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    return sock


def closed_by_server(sock: socket.socket) -> bool:
    """True once the server closes the connection (bounded by the socket's timeout)."""
    try:
        return sock.recv(1024) == b""
    except (ConnectionResetError, TimeoutError):
        return False


@pytest.mark.parametrize(
    "big",
    [HUGE, 10**30, -HUGE - 1, int("9" * 4000)],
    ids=["2^63", "10^30", "-2^63-1", "4000 digits"],
)
def test_ids_beyond_bigint_match_nothing(sandbox: Sandbox, project: Any, big: int) -> None:
    issue = project.issues.create({"title": "t"})
    for path in (
        f"/projects/{big}",
        f"/groups/{big}",
        f"/users/{big}",
        f"/projects/{project.id}/issues/{big}",
        f"/projects/{project.id}/issues/{issue.iid}/notes/{big}",
        f"/projects/{project.id}/milestones/{big}",
    ):
        assert get(sandbox, path).status_code == 404, path
    assert get(sandbox, f"/projects/{big}").json() == {"message": "404 Project Not Found"}
    # As filters they match no row, as Rails matches none for an out-of-range id.
    for query in (f"iids[]={big}", f"author_id={big}", f"assignee_id={big}"):
        r = get(sandbox, f"/projects/{project.id}/issues?{query}")
        assert (r.status_code, r.json()) == (200, []), query
    page = get(sandbox, f"/projects/{project.id}/issues?page={big}").json()
    assert [i["iid"] for i in page] == ([] if big > 0 else [issue.iid])
    assert get(sandbox, f"/projects/{project.id}/issues?not[author_id]={big}").json() != []


def test_malformed_strings_are_a_400(sandbox: Sandbox, project: Any) -> None:
    url = f"{sandbox.url}/api/v4/projects/{project.id}/issues"
    headers = {"PRIVATE-TOKEN": sandbox.token}
    as_json = {**headers, "Content-Type": "application/json"}
    answers = [
        requests.post(url, headers=as_json, data=b'{"title": "a\\ud800b"}'),
        requests.post(url, headers=headers, data={"title": b"a\xed\xa0\x80b"}),
        requests.post(url + "?title=a%ED%A0%80b", headers=headers),
        requests.post(url + "?title=a%00b", headers=headers),
        requests.get(url + "/1%00", headers=headers),
        requests.post(url, headers=as_json, data='{"title": "é"}'.encode("latin-1")),
    ]
    for r in answers:
        assert (r.status_code, r.text) == (400, "Bad Request")
    assert project.issues.list() == []
    # Surrogate pairs are fine: that is how JSON spells characters beyond the BMP.
    ok = requests.post(url, headers=as_json, data=b'{"title": "a\\ud83d\\ude00b"}')
    assert ok.status_code == 201 and ok.json()["title"] == "a\U0001f600b"


def test_deep_nesting_is_a_400(sandbox: Sandbox, project: Any) -> None:
    url = f"{sandbox.url}/api/v4/projects/{project.id}/issues"
    headers = {"PRIVATE-TOKEN": sandbox.token, "Content-Type": "application/json"}
    # Ruby's JSON max_nesting is 100: deeper is a 400, however deep (and never a 500).
    for depth in (101, 900, 100_000):
        deep = b'{"title": ' + b'{"a": ' * depth + b"1" + b"}" * depth + b"}"
        r = requests.post(url, headers=headers, data=deep)
        assert r.status_code == 400, depth
        assert r.json() == {"error": "message body does not match declared format"}
    deep = b'{"title": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert requests.post(url, headers=headers, data=deep).status_code == 400
    shallow = b'{"title": "t", "x": ' + b"[" * 98 + b"]" * 98 + b"}"
    assert requests.post(url, headers=headers, data=shallow).status_code == 201
    # Rack's limit is 100 levels; past 64 KiB the request line itself is refused (414).
    for depth, status in ((101, 400), (100_000, 414)):
        key = "labels" + "[a]" * depth
        r = requests.get(url, headers={"PRIVATE-TOKEN": sandbox.token}, params={key: "x"})
        assert r.status_code == status
    assert get(sandbox, f"/projects/{project.id}/issues", params={"not" + "[a]" * 99: "x"}).ok


def test_two_thousand_label_filter(sandbox: Sandbox, project: Any) -> None:
    many = [f"l{i}" for i in range(25)]
    both = project.issues.create({"title": "all", "labels": ",".join(many)})
    project.issues.create({"title": "some", "labels": ",".join(many[:24])})
    # Every label the issue has (past the first few, one count stands in for the rest).
    assert [i.iid for i in project.issues.list(labels=many)] == [both.iid]
    assert [i.iid for i in project.issues.list(labels=[*many, *many])] == [both.iid]
    filt = ",".join(f"x{i}" for i in range(2000))
    for path in (f"/projects/{project.id}/issues", "/issues"):
        r = get(sandbox, path, params={"labels": filt})
        assert (r.status_code, r.json()) == (200, []), path
        r = get(sandbox, path, params={"not[labels]": filt})
        assert r.status_code == 200 and len(r.json()) == 2, path


def test_huge_clock_advance_is_a_400(sandbox: Sandbox) -> None:
    url = f"{sandbox.url}/__sandbox__/clock"
    headers = {"PRIVATE-TOKEN": sandbox.token}
    before = sandbox.now()
    for advance in ("P99999999999D", "P1000000000W", "P" + "9" * 400 + "D", "-P99999999D"):
        r = requests.put(url, headers=headers, json={"advance": advance})
        assert (r.status_code, r.json()) == (400, {"error": "date value out of range"})
    sandbox.set_now("9999-12-31T00:00:00Z")
    assert requests.put(url, headers=headers, json={"advance": "P2D"}).status_code == 400
    sandbox.set_now(before)
    assert sandbox.now() == before


def test_content_length_beyond_the_limit_is_a_413(sandbox: Sandbox) -> None:
    with connect(sandbox) as sock:
        sock.sendall(
            b"POST /api/v4/projects HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000000000"
            b"\r\nPRIVATE-TOKEN: " + sandbox.token.encode() + b"\r\n\r\n{}"
        )
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"Connection: close" in answer
    assert get(sandbox, "/version").status_code == 200


def test_half_sent_requests_are_dropped(sandbox: Sandbox) -> None:
    limits = sandbox.app.limits
    limits.idle_timeout = limits.header_timeout = limits.body_timeout = 0.3
    # A request line that never ends.
    with connect(sandbox) as sock:
        sock.sendall(b"GET /api/v4/version HT")
        assert closed_by_server(sock)
    # Headers trickled a byte at a time: each byte is in time, the whole is not.
    with connect(sandbox) as sock:
        sock.settimeout(0.05)
        closed, deadline = False, time.monotonic() + 10
        for byte in b"GET /api/v4/version HTTP/1.1\r\nX-Slow: " + b"a" * 10_000:
            try:
                sock.sendall(bytes([byte]))
                closed = sock.recv(1) == b""
            except TimeoutError:
                pass
            except (BrokenPipeError, ConnectionResetError):
                closed = True
            if closed or time.monotonic() > deadline:
                break
        assert closed
    # A body shorter than announced.
    with connect(sandbox) as sock:
        sock.sendall(b"POST /api/v4/projects HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n{}")
        assert closed_by_server(sock)
    # An idle keep-alive connection.
    with connect(sandbox) as sock:
        sock.sendall(
            b"GET /api/v4/version HTTP/1.1\r\nHost: x\r\nPRIVATE-TOKEN: "
            + sandbox.token.encode()
            + b"\r\n\r\n"
        )
        assert sock.recv(4096).startswith(b"HTTP/1.1 200 ")
        assert closed_by_server(sock)


def test_two_hundred_concurrent_clients(sandbox: Sandbox) -> None:
    """800 connections from 200 threads at once: none refused, every one answered."""
    clients, per_client = 200, 4
    start = threading.Barrier(clients)
    codes: list[int] = []
    refused: list[BaseException] = []
    lock = threading.Lock()
    host, port = sandbox.url.removeprefix("http://").split(":")
    request = (
        b"GET /api/v4/version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"PRIVATE-TOKEN: " + sandbox.token.encode() + b"\r\n\r\n"
    )

    def client() -> None:
        start.wait()
        for _ in range(per_client):
            try:
                with socket.create_connection((host, int(port)), timeout=30) as sock:
                    sock.sendall(request)
                    answer = b""
                    while chunk := sock.recv(4096):
                        answer += chunk
                status = int(answer.split(b" ", 2)[1])
            except OSError as exc:
                with lock:
                    refused.append(exc)
                continue
            with lock:
                codes.append(status)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert refused == []
    assert codes == [200] * (clients * per_client)


def test_python_gitlab_unaffected(gl: gitlab.Gitlab, project: Any) -> None:
    """Ordinary titles that look like ids, and ids within range, are left alone."""
    issue = project.issues.create({"title": "9" * 30, "description": str(2**70)})
    again = project.issues.get(issue.iid)
    assert (again.title, again.description) == ("9" * 30, str(2**70))
    assert gl.projects.get(project.path_with_namespace).id == project.id


def test_seeded_hostile_requests_never_fail(sandbox: Sandbox, project: Any) -> None:
    """800 seeded requests to every route with odd ids, params and bodies: never a 500."""
    from escbot.sandbox.core import ROUTES

    issue = project.issues.create({"title": "t", "labels": "a"})
    issue.notes.create({"body": "n"})
    rng = random.Random(7)
    values = ["1", "0", "-1", str(HUGE), "9" * 30, "support", "support%2Fesc", "%00",
              "%ED%A0%80", "a" * 500, "true", "", "1.5", "1e400", "null", "%FF"]  # fmt: skip
    keys = ["page", "per_page", "labels", "not[labels]", "iids[]", "state", "order_by", "sort",
            "search", "created_after", "due_date", "milestone", "assignee_id", "author_id",
            "scope", "confidential", "milestone_id", "id_after", "pagination", "cursor",
            "skip_groups[]", "user_ids[]", "min_access_level"]  # fmt: skip
    bodies: list[Any] = [*values, HUGE, -HUGE * 2, None, [1], {"a": 1}, 1.5, True]
    session = requests.Session()
    session.headers["PRIVATE-TOKEN"] = sandbox.token
    seen: set[int] = set()
    for _ in range(800):
        route = rng.choice(ROUTES)
        path = re.sub(r":\w+", lambda _: rng.choice(values), route.template)
        query = "&".join(
            f"{rng.choice(keys)}={rng.choice(values)}" for _ in range(rng.randint(0, 4))
        )
        body = {rng.choice([*keys, "title", "name", "body", "color"]): rng.choice(bodies)
                for _ in range(rng.randint(0, 4))}  # fmt: skip
        r = session.request(route.method, f"{sandbox.url}/api/v4{path}?{query}",
                            json=body if route.method != "GET" else None)  # fmt: skip
        assert r.status_code < 500, (route.method, path, query, body, r.text[:200])
        seen.add(r.status_code)
    assert {200, 400, 404} <= seen
