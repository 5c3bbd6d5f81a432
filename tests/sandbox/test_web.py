"""The read-only web view: pages at the addresses the API hands out, read with an HTML
parser (and, where Debian's chromium is installed, in a real headless browser)."""

from __future__ import annotations

import random
import shutil
import subprocess
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import gitlab
import pytest
import requests

from escbot.sandbox import Sandbox, gfm, web

DESCRIPTION = """<!-- escbot:escalation level=sev1 -->
## Summary

| Field | Value |
|---|---|
| Customer | Acme |

## Phase 1 checklist
- [x] Tracking issue created
- [ ] DRI identified
- [~] Outside PS scope

<details>
<summary>Background</summary>

The customer *escalated* on Friday.

</details>

```mermaid
graph TD; A-->B
```

See #2, ask @pat, labelled ~escalation and ~"rag::red". Not #99 nor @nobody.
<script>alert("x")</script>
"""

VOID = {"input", "br", "hr", "img", "meta", "link", "col", "wbr"}


@dataclass
class Node:
    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[Node | str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join(
            " ".join((c if isinstance(c, str) else c.text).split()) for c in self.children
        ).strip()

    def all(self, tag: str | None = None, cls: str | None = None) -> list[Node]:
        out = []
        for c in self.children:
            if isinstance(c, Node):
                if (tag is None or c.tag == tag) and (
                    cls is None or cls in c.attrs.get("class", "").split()
                ):
                    out.append(c)
                out += c.all(tag, cls)
        return out

    def one(self, tag: str | None = None, cls: str | None = None) -> Node:
        found = self.all(tag, cls)
        assert len(found) == 1, (tag, cls, len(found))
        return found[0]

    def by_id(self, ident: str) -> Node:
        found = [n for n in self.all() if n.attrs.get("id") == ident]
        assert len(found) == 1, ident
        return found[0]


class TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.root = Node("#document")
        self.stack = [self.root]
        self.comments: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        assert tag not in VOID
        assert self.stack[-1].tag == tag, f"</{tag}> closes <{self.stack[-1].tag}>"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)

    def handle_comment(self, data: str) -> None:
        self.comments.append(data)


def parse(html: str) -> tuple[Node, TreeBuilder]:
    builder = TreeBuilder()
    builder.feed(html)
    builder.close()
    assert builder.stack == [builder.root], "unclosed elements"
    return builder.root, builder


def fetch(sandbox: Sandbox, path: str) -> Node:
    r = requests.get(sandbox.url + path)
    assert r.status_code == 200, (path, r.status_code, r.text[:300])
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "default-src 'none'" in r.headers["Content-Security-Policy"]
    doc, builder = parse(r.text)
    assert builder.comments == []
    return doc


@pytest.fixture
def story(sandbox: Sandbox, gl: gitlab.Gitlab, project: Any) -> dict[str, Any]:
    """An escalation as escbot leaves one: labels, assignee, notes, events, a link."""
    pat, pat_token = sandbox.create_user("pat", "Pat Morgan")
    project.members.create({"user_id": pat["id"], "access_level": 30})
    project.labels.create({"name": "rag::red", "color": "#dd2b0e"})
    project.labels.create({"name": "escalation", "color": "#6699cc"})
    milestone = project.milestones.create({"title": "Phase 1", "due_date": "2026-11-30"})
    issue = project.issues.create({
        "title": "Technician no-show", "description": DESCRIPTION, "labels": "escalation",
        "assignee_ids": [pat["id"]], "confidential": True, "milestone_id": milestone.id,
    })  # fmt: skip
    other = project.issues.create({"title": "RAID register"})
    issue.links.create({"target_project_id": project.id, "target_issue_iid": other.iid,
                        "link_type": "blocks"})  # fmt: skip
    as_pat = sandbox.gitlab(token=pat_token).projects.get(project.id, lazy=True)
    sandbox.advance("PT1H")
    as_pat.issues.get(issue.iid, lazy=True).notes.create({"body": "## Status update\nOn it."})
    sandbox.advance("PT1H")
    issue.notes.create({"body": "Only for us.", "internal": True})
    sandbox.advance("PT1H")
    issue.labels = ["escalation", "rag::red"]
    issue.due_date = "2026-11-20"
    issue.save()
    sandbox.advance("PT1H")
    issue.state_event = "close"
    issue.save()
    sandbox.advance("PT1H")
    issue.state_event = "reopen"
    issue.save()
    return {"issue": issue, "other": other, "path": f"/{project.path_with_namespace}/-/issues"}


def test_issue_page(sandbox: Sandbox, story: dict[str, Any]) -> None:
    doc = fetch(sandbox, f"{story['path']}/1")
    assert doc.one("h1").text == "Technician no-show"
    assert doc.by_id("state").text == "Open"
    assert doc.by_id("confidential").text == "Confidential"
    desc = doc.by_id("description")
    assert [h.text for h in desc.all("h2")] == ["Summary", "Phase 1 checklist"]
    assert [c.text for c in desc.one("table").all("td")] == ["Customer", "Acme"]
    boxes = desc.all("input")
    assert [("checked" in b.attrs, "disabled" in b.attrs) for b in boxes] == [
        (True, True), (False, True), (False, True)]  # fmt: skip
    # GitLab's inapplicable item: struck out, and not counted as a task.
    assert desc.one("li", "inapplicable").one("s").text == "Outside PS scope"
    assert desc.one("details").one("summary").text == "Background"
    assert desc.one("details").one("em").text == "escalated"
    mermaid = desc.one("figure", "mermaid")
    assert mermaid.one("code").text == "graph TD; A-->B"
    assert desc.all("script") == [] and "alert" not in desc.text
    assert "escbot:escalation" not in desc.text
    # References link to what exists and leave the rest as text.
    assert desc.one("a", "gfm-issue").attrs["href"] == f"{story['path']}/2"
    assert desc.one("a", "gfm-user").attrs["href"] == "/pat"
    assert [lb.text for lb in desc.all(cls="gl-label")] == ["escalation", "rag red"]
    assert "Not #99 nor @nobody." in desc.text
    assert doc.by_id("tasks").text == "1 of 2 checklist items completed"


def test_issue_sidebar(sandbox: Sandbox, story: dict[str, Any]) -> None:
    doc = fetch(sandbox, f"{story['path']}/1")
    assert doc.by_id("assignees").one("a").text == "PM Pat Morgan"
    pills = doc.by_id("labels").all("a", "gl-label")
    assert [p.text for p in pills] == ["escalation", "rag red"]
    scoped = pills[1]
    assert "gl-label-scoped" in scoped.attrs["class"]
    assert [s.attrs["class"] for s in scoped.all("span")] == ["name", "value"]
    assert "--label-bg: #dd2b0e" in scoped.attrs["style"]
    assert scoped.attrs["href"] == f"{story['path']}?label_name%5B%5D=rag%3A%3Ared"
    assert doc.by_id("due-date").text == "Due date Nov 20, 2026 (past due)"
    assert doc.by_id("milestone").text == "Milestone Phase 1 (due Nov 30, 2026)"
    assert doc.by_id("confidentiality").text == "Confidentiality Confidential"
    linked = doc.by_id("linked")
    assert linked.one("h3").text == "Blocks"
    assert linked.one("a").attrs["href"] == f"{story['path']}/2"


def test_issue_activity_in_order(sandbox: Sandbox, story: dict[str, Any]) -> None:
    doc = fetch(sandbox, f"{story['path']}/1")
    items = doc.by_id("activity").one("ol").all("li")
    kinds = [li.attrs["class"] for li in items]
    texts = [li.text for li in items]
    assert kinds == [
        "event labels", "event milestone", "event system", "note", "note internal",
        "event labels", "event system", "event state", "event state",
    ]  # fmt: skip
    assert texts[0].startswith("Administrator added escalation label")
    assert texts[1].startswith("Administrator changed milestone to Phase 1")
    assert "marked this issue as blocking #2" in texts[2]
    assert items[3].one("h2").text == "Status update"
    assert "Pat Morgan" in texts[3]
    assert items[4].one(cls="badge").text == "Internal note"
    assert texts[5].startswith("Administrator added rag red label")
    assert "changed due date to November 20, 2026" in texts[6]
    assert texts[7].startswith("Administrator closed this issue")
    assert texts[8].startswith("Administrator reopened this issue")


def test_issue_lists_and_filters(sandbox: Sandbox, story: dict[str, Any], project: Any) -> None:
    def iids(path: str) -> list[str]:
        return [li.attrs["data-iid"] for li in fetch(sandbox, path).all("li", "issue")]

    assert iids(story["path"]) == ["2", "1"]
    assert iids(story["path"] + "?label_name[]=rag::red") == ["1"]
    assert iids(story["path"] + "?label_name[]=rag::red&label_name[]=nope") == []
    assert iids(story["path"] + "?not[label_name][]=escalation") == ["2"]
    assert iids(story["path"] + "?state=closed") == []
    assert iids(story["path"] + "?assignee_username=pat") == ["1"]
    doc = fetch(sandbox, story["path"] + "?label_name[]=rag::red")
    assert [a.text for a in doc.one("nav", "tabs").all("a")] == ["Open 1", "Closed 0", "All 1"]
    assert "label is rag::red" in doc.one(cls="filters").text
    group = fetch(sandbox, "/groups/support/-/issues?label_name[]=escalation")
    row = group.one("li", "issue")
    assert "support/esc#1" in row.one(cls="meta").text
    assert row.one(cls="title").one("a").attrs["href"] == f"{story['path']}/1"
    assert row.one(cls="badge").text == "Confidential"


def test_top_page_user_page_and_redirects(sandbox: Sandbox, story: dict[str, Any]) -> None:
    doc = fetch(sandbox, "/")
    hrefs = {a.attrs["href"] for a in doc.all("a")}
    assert {story["path"], "/groups/support/-/issues", "/pat", "/root"} <= hrefs
    user = fetch(sandbox, "/pat")
    assert [li.attrs["data-iid"] for li in user.all("li", "issue")] == ["1"]
    for path, location in (("/support/esc", story["path"]),
                           ("/groups/support", "/groups/support/-/issues"),
                           ("/support", "/groups/support/-/issues")):  # fmt: skip
        r = requests.get(sandbox.url + path, allow_redirects=False)
        assert (r.status_code, r.headers["Location"]) == (302, location)


def test_errors_and_read_only(sandbox: Sandbox, story: dict[str, Any]) -> None:
    sandbox.reset_stats()
    for path in ("/nobody/none/-/issues/1", f"{story['path']}/99", "/no-such-user", "/a/-/b",
                 "/groups/support/-/milestones", "/support/esc/-/milestones/1",
                 f"{story['path']}/{2**64}", f"/groups/{2**64}/-/issues", f"/{2**64}"):  # fmt: skip
        r = requests.get(sandbox.url + path, allow_redirects=False)
        assert r.status_code == 404 and r.headers["Content-Type"].startswith("text/html"), path
        parse(r.text)
    for query, status in (("?page=99999999999999999999999", 200), ("?state=x", 200),
                          ("?label_name[]=%ED%A0%80", 400), ("?not" + "[a]" * 101, 400)):  # fmt: skip
        assert requests.get(sandbox.url + story["path"] + query).status_code == status, query
    r = requests.post(sandbox.url + f"{story['path']}/1", data={"title": "x"})
    assert r.status_code == 404 and r.json() == {"error": "404 Not Found"}
    # Pages are not API requests: never counted, faulted or rate limited.
    sandbox.set_faults(rate_5xx=1.0)
    fetch(sandbox, f"{story['path']}/1")
    assert sandbox.stats()["total"] == 0


def test_only_loopback_or_root_token(sandbox: Sandbox) -> None:
    app = sandbox.app
    _, token = sandbox.create_user("mallory")

    def status(client: str, headers: dict[str, str]) -> int:
        return web.page(app, "/", {}, headers, sandbox.url, client).status

    assert status("192.0.2.7", {}) == 403
    assert status("2001:db8::1", {"PRIVATE-TOKEN": token}) == 403
    assert status("192.0.2.7", {"PRIVATE-TOKEN": sandbox.token}) == 200
    assert status("::ffff:127.0.0.1", {}) == status("::1", {}) == 200


def test_markdown_is_sanitized() -> None:
    html = str(gfm.render('<a href="javascript:alert(1)" onclick="x()">x</a> <img src=x '
                          'onerror=y()>\n\n<style>p{}</style><iframe src="//evil"></iframe>'))  # fmt: skip
    assert "javascript:" not in html and "onclick" not in html and "onerror" not in html
    assert "<style" not in html and "<iframe" not in html


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")
def test_in_headless_chromium(sandbox: Sandbox, story: dict[str, Any], tmp_path: Path) -> None:
    """The page as a browser builds it (no network but loopback), and a screenshot."""
    shot = tmp_path / "issue.png"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--no-first-run", f"--user-data-dir={tmp_path / 'p'}",
             "--window-size=1280,2000"]  # fmt: skip
    url = f"{sandbox.url}{story['path']}/1"
    dom = subprocess.run(["chromium", *flags, "--dump-dom", url], capture_output=True,
                         text=True, timeout=60, check=True).stdout  # fmt: skip
    doc, _ = parse(dom)
    desc = doc.by_id("description")
    assert [("checked" in b.attrs) for b in desc.all("input")] == [True, False, False]
    assert desc.one("details").one("summary").text == "Background"
    assert doc.by_id("labels").all("a", "gl-label")[1].text == "rag red"
    subprocess.run(["chromium", *flags, f"--screenshot={shot}", url], capture_output=True,
                   timeout=60, check=True)  # fmt: skip
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_odd_addresses_never_fail(sandbox: Sandbox, story: dict[str, Any], project: Any) -> None:
    """400 seeded random addresses and queries, seen by four kinds of user: a page, a
    redirect or a clear error."""
    guest, _ = sandbox.create_user("customer")
    project.members.create({"user_id": guest["id"], "access_level": 10})
    sandbox.create_user("outsider")
    rng = random.Random(18)
    parts = ["groups", "support", "esc", "-", "issues", "1", "2", "99", str(2**64), "%ED%A0",
             "%00", "a" * 300, "..", "~", "@pat", "pat", "root", "%2F", "-1", ""]  # fmt: skip
    keys = ["state", "label_name[]", "not[label_name][]", "page", "assignee_username", "search",
            "label_name", "not", "not[label_name]"]  # fmt: skip
    values = ["", "x", "-1", "0", str(2**70), "%ff", "rag::red", "a,b", "%00", "closed"]
    session = requests.Session()
    seen: dict[int, int] = {}
    for n in range(400):
        if n % 100 == 0:  # as root, then as Pat (a Developer), a Guest, nobody's member
            viewer = ("root", "pat", "customer", "outsider")[n // 100]
            session.get(f"{sandbox.url}/?as={viewer}")
        path = "/" + "/".join(rng.choice(parts) for _ in range(rng.randint(0, 6)))
        query = "&".join(f"{rng.choice(keys)}={rng.choice(values)}"
                         for _ in range(rng.randint(0, 3)))  # fmt: skip
        r = session.get(f"{sandbox.url}{path}?{query}", allow_redirects=False)
        assert r.status_code in (200, 302, 400, 404), (path, query, r.status_code)
        seen[r.status_code] = seen.get(r.status_code, 0) + 1
        if r.status_code != 302 and r.headers["Content-Type"].startswith("text/html"):
            parse(r.text)
    assert set(seen) == {200, 302, 400, 404}  # every kind of answer was exercised


def test_view_as_another_user(sandbox: Sandbox, story: dict[str, Any], project: Any) -> None:
    """`?as=USERNAME` shows what that user sees (a cookie keeps it); `?as=root` everything."""
    guest, _ = sandbox.create_user("customer", "Customer Contact")
    project.members.create({"user_id": guest["id"], "access_level": 10})
    browser = requests.Session()

    def get(path: str) -> requests.Response:
        r = browser.get(sandbox.url + path, allow_redirects=False)
        if r.headers.get("Content-Type", "").startswith("text/html"):
            parse(r.text)
        return r

    top = get("/?as=customer")
    assert top.status_code == 200 and "SameSite=Strict" in top.headers["Set-Cookie"]
    doc, _ = parse(top.text)
    assert doc.by_id("viewer").text.startswith(
        "read-only web view · showing what Customer Contact (@customer) sees"
    )
    listed = parse(get(story["path"]).text)[0]
    assert [li.attrs["data-iid"] for li in listed.all("li", "issue")] == ["2"]
    assert get(f"{story['path']}/1").status_code == 404  # confidential: not for a Guest
    # Pat (Developer, assignee) sees the issue but a Guest's reference to it stays text.
    get("/?as=pat")
    page = parse(get(f"{story['path']}/1").text)[0]
    assert [li.attrs["class"] for li in page.by_id("activity").all("li", "note")] == [
        "note", "note internal"]  # fmt: skip
    # Somebody who is no member sees no project at all.
    get("/?as=mallory-nobody")  # unknown: root
    assert "(everything)" in parse(get("/").text)[0].by_id("viewer").text
    sandbox.create_user("outsider")
    get("/?as=outsider")
    assert get(story["path"]).status_code == 404
    assert get("/").status_code == 200
    get("/?as=root")
    assert len(parse(get(story["path"]).text)[0].all("li", "issue")) == 2
