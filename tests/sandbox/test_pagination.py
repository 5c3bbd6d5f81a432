"""Offset and keyset pagination: headers, Link format, python-gitlab's iteration."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import gitlab
import requests

from escbot.sandbox import Sandbox


def _seed(sandbox: Sandbox, n: int) -> dict[str, Any]:
    return sandbox.seed(group="pg", projects=1, issues=n, notes_per_issue=0)


def test_offset_headers_and_link(sandbox: Sandbox) -> None:
    _seed(sandbox, 45)
    url = f"{sandbox.url}/api/v4/projects/pg%2Fproject-01/issues"
    h = {"PRIVATE-TOKEN": sandbox.token}
    r = requests.get(url, headers=h, params={"page": 2, "per_page": 20})
    assert len(r.json()) == 20
    assert r.headers["X-Page"] == "2" and r.headers["X-Per-Page"] == "20"
    assert r.headers["X-Next-Page"] == "3" and r.headers["X-Prev-Page"] == "1"
    assert r.headers["X-Total"] == "45" and r.headers["X-Total-Pages"] == "3"
    links = r.headers["Link"].split(", ")
    assert [lk.split("; ")[1] for lk in links] == [
        'rel="prev"', 'rel="next"', 'rel="first"', 'rel="last"',
    ]  # fmt: skip
    nxt = links[1].split(";")[0].strip("<>")
    assert nxt == (
        f"{url}?id=pg%2Fproject-01&order_by=created_at&page=3&per_page=20&scope=all"
        "&sort=desc&state=all&with_labels_details=false"
    )
    last = requests.get(url, headers=h, params={"page": 3})
    assert len(last.json()) == 5 and last.headers["X-Next-Page"] == ""
    assert 'rel="next"' not in last.headers["Link"]
    past = requests.get(url, headers=h, params={"page": 9})
    assert past.status_code == 200 and past.json() == []
    big = requests.get(url, headers=h, params={"per_page": 500})
    assert big.headers["X-Per-Page"] == "100" and len(big.json()) == 45
    first = requests.get(url, headers=h)
    assert first.headers["X-Prev-Page"] == "" and 'rel="prev"' not in first.headers["Link"]
    # Empty list: X-Total-Pages is still 1.
    empty = requests.get(url, headers=h, params={"labels": "nothing-has-this"})
    assert empty.headers["X-Total"] == "0" and empty.headers["X-Total-Pages"] == "1"
    # Link uses the host the client connected to, and keeps nested/array params.
    alt = requests.get(
        url.replace("127.0.0.1", "localhost"),
        headers=h,
        params={"not[labels]": "x", "iids[]": ["1", "2"], "per_page": 1},
    )
    nxt = alt.headers["Link"].split(", ")[0]
    assert nxt.startswith("<http://localhost:")
    assert "iids%5B%5D=1&iids%5B%5D=2" in nxt and "not%5Blabels%5D=x" in nxt


def test_python_gitlab_iteration(gl: gitlab.Gitlab, sandbox: Sandbox) -> None:
    _seed(sandbox, 45)
    project = gl.projects.get("pg/project-01")
    everything = project.issues.list(get_all=True, per_page=10)
    assert len(everything) == 45 and len({i.iid for i in everything}) == 45
    it = project.issues.list(iterator=True, per_page=20)
    assert it.total == 45 and it.total_pages == 3
    assert len(list(it)) == 45
    sandbox.reset_stats()
    assert len(list(project.issues.list(iterator=True, per_page=20))) == 45
    assert sandbox.stats()["by_route"]["GET /projects/:id/issues"] == 3


def test_keyset(gl: gitlab.Gitlab, sandbox: Sandbox) -> None:
    _seed(sandbox, 25)
    url = f"{sandbox.url}/api/v4/projects/pg%2Fproject-01/issues"
    h = {"PRIVATE-TOKEN": sandbox.token}
    params = {"pagination": "keyset", "order_by": "created_at", "sort": "asc", "per_page": 10}
    r = requests.get(url, headers=h, params=params)
    assert "X-Total" not in r.headers and "X-Page" not in r.headers
    assert r.headers["Link"].endswith('>; rel="next"') and "cursor=" in r.headers["Link"]
    seen = [i["created_at"] for i in r.json()]
    while "Link" in r.headers:
        nxt = r.headers["Link"].split(";")[0].strip("<>")
        assert "page" not in parse_qs(urlsplit(nxt).query)
        r = requests.get(nxt, headers=h)
        seen += [i["created_at"] for i in r.json()]
    assert len(seen) == 25 and seen == sorted(seen)
    project = gl.projects.get("pg/project-01")
    got = list(
        project.issues.list(iterator=True, pagination="keyset", order_by="updated_at", per_page=7)
    )
    assert len(got) == 25
    bad = requests.get(url, headers=h, params={**params, "order_by": "title"})
    assert bad.status_code == 405


def test_over_ten_thousand_leaves_out_totals(sandbox: Sandbox) -> None:
    _seed(sandbox, 10_001)
    url = f"{sandbox.url}/api/v4/projects/pg%2Fproject-01/issues"
    r = requests.get(url, headers={"PRIVATE-TOKEN": sandbox.token}, params={"per_page": 100})
    assert "X-Total" not in r.headers and "X-Total-Pages" not in r.headers
    assert 'rel="last"' not in r.headers["Link"] and r.headers["X-Next-Page"] == "2"


def test_projects_keyset_and_unsupported_keyset(gl: gitlab.Gitlab, sandbox: Sandbox) -> None:
    for n in range(5):
        gl.projects.create({"name": f"p{n}"})
    got = list(gl.projects.list(iterator=True, pagination="keyset", order_by="id", per_page=2))
    assert [p.name for p in got] == ["p4", "p3", "p2", "p1", "p0"]
    r = requests.get(
        f"{sandbox.url}/api/v4/projects",
        headers={"PRIVATE-TOKEN": sandbox.token},
        params={"pagination": "keyset", "order_by": "id", "sort": "asc", "per_page": 2},
    )
    assert "id_after=" in r.headers["Link"] and "X-Total" not in r.headers
    bad = requests.get(
        f"{sandbox.url}/api/v4/projects/{got[0].id}/labels",
        headers={"PRIVATE-TOKEN": sandbox.token},
        params={"pagination": "keyset"},
    )
    assert bad.status_code == 405


def test_label_counts_follow_issue_changes(gl: gitlab.Gitlab, sandbox: Sandbox) -> None:
    """The label index copies state/updated_at; totals must follow edits (trigger-synced)."""
    _seed(sandbox, 30)
    project = gl.projects.get("pg/project-01")
    url = f"{sandbox.url}/api/v4/projects/{project.id}/issues"
    h = {"PRIVATE-TOKEN": sandbox.token}
    params = {"labels": "escalation,escalation::sev1", "state": "opened"}
    before = int(requests.get(url, headers=h, params=params).headers["X-Total"])
    target = project.issues.list(labels="escalation::sev1", state="opened")[0]
    target.state_event = "close"
    target.save()
    after = requests.get(url, headers=h, params=params)
    assert int(after.headers["X-Total"]) == before - 1 == len(after.json())
    sandbox.advance("P1D")
    target.notes.create({"body": "bump"})
    recent = requests.get(
        url,
        headers=h,
        params={"labels": "escalation::sev1", "updated_after": "2026-11-24T00:00:00Z"},
    )
    assert recent.headers["X-Total"] == "1" and recent.json()[0]["iid"] == target.iid


def test_group_pages_many_matches_in_order(gl: gitlab.Gitlab, sandbox: Sandbox) -> None:
    sandbox.seed(group="wide", projects=3, issues=3100, notes_per_issue=0)
    group = gl.groups.get("wide")
    got = group.issues.list(labels="escalation", per_page=100, page=3, order_by="updated_at")
    everything = sorted(
        (i for i in group.issues.list(labels="escalation", get_all=True, per_page=100)),
        key=lambda i: (i.updated_at, i.id),
        reverse=True,
    )
    assert [i.id for i in got] == [i.id for i in everything[200:300]]
