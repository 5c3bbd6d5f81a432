"""`escbot report`: the PMO portfolio report, against a scripted month on the sandbox over HTTP.

The month (New York time; the report runs Mon 23 Nov 2026 09:00, so the window is the week from
Mon 16 Nov 09:00):

    cust/acme#2    S1  Sev1, opened Mon 16 Nov 10:00, acknowledged 11:30, daily updates Tue, Wed,
                       Fri (late), Mon; escbot reminded Thu (3) and climbed the ladder Fri (3);
                       went red Thu 09:00
    cust/acme#1    S3  Sev2 opened Mon 19 Oct, promoted to Sev1 Wed 18 Nov 14:00, red -> green
                       Fri 20 Nov 15:00; overdue milestones in its resolution plan
    cust/acme#3    S5  Sev1 opened Wed 18 Nov 09:30 with conflicting severity and no RAG label
    cust/globex#2  S2  Sev2 opened Wed 4 Nov, weekly updates Wed 11 (all) and Tue 17 (two of four)
    cust/globex#3  S4  Sev1 opened Tue 10 Nov, resolution Tue 17 Nov 09:00, closed Wed 18 09:00
    cust/globex#1  S7  Sev2 opened Mon 26 Oct, closed Fri 6 Nov (before the window)
    cust/globex#4  S6  Sev2 opened Fri 20 Nov 16:00, acknowledged Mon 23 Nov 08:00
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest

from escbot import charts
from escbot.gitlab_io import GitLab
from escbot.report import (
    Report,
    build_report,
    cadence,
    compute_report,
    excerpt,
    milestones_overdue,
    post_briefing,
    render_html,
    render_json,
    render_markdown,
)
from escbot.sandbox import start_sandbox
from tests.helpers import World, escalation, note, ny, policy

P = policy()
NOW = ny("2026-11-23 09:00")
SINCE = ny("2026-11-16 09:00")
SEV1_TAGS = "#status-update #milestone-progress #blockers"
ALL_SEV1 = (
    SEV1_TAGS + " #customer-communication #stakeholder-summary #budget-timeline-impact "
    "#resource-review #pmo-briefing"
)
LONG_UPDATE = (
    "#status-update Crew back on site; @director.ps asked for <b>daily</b> calls. "
    + "Controller swap done, cabling 80% complete, waiting for the lift permit from the city "
    + "office which should land tomorrow; customer informed and calmer. " * 2
)


def description(level: str, customer: str, plan: str = "") -> str:
    return f"""<!-- escbot:escalation level={level} -->

## Summary

| Field | Value |
|---|---|
| Customer | {customer} |

## Phase 1 checklist (due soon)

- [x] Escalation tracking issue created
- [x] DRI identified

## Resolution plan

{plan}

## Blockers

## Close-out checklist

- [ ] Final resolution documented
- [ ] Customer sign-off obtained
"""


PLAN = """| Milestone | Success criteria | Due | % complete |
|---|---|---|---|
| M0: Site survey | survey signed | 2026-11-10 | 100% |
| M1: Replace controller | controller online | 2026-11-20 | 40% |
| M2: Train staff | staff certified | 2026-11-30 | 0% |

- [ ] M1: order the replacement part, due 2026-11-18
- [x] M1: call the vendor, due 2026-11-17
- [ ] M2: book the trainer, due 2026-11-27
"""


def labels(level: str, rag: str | None, *extra: str) -> str:
    out = ["escalation", f"escalation::{level}", "severity::high", "type::customer"]
    out += ["category::install-issue", "account::fixed", "phase::active"]
    if rag:
        out.append(f"rag::{rag}")
    return ",".join(out + list(extra))


class Month:
    """The scripted month: acting at New York wall times through the sandbox clock."""

    def __init__(self, sb: Any) -> None:
        self.sb = sb
        self.w = World(sb, group="cust", project="acme")
        self.acme = self.w.project
        self.globex = self.w.gl.projects.create(
            {"name": "globex", "path": "globex", "namespace_id": self.w.group.id}
        )
        self.pmo = self.w.gl.projects.create(
            {"name": "pmo", "path": "pmo", "namespace_id": self.w.group.id}
        )

    def open(
        self, project: Any, when: str, title: str, level: str, rag: str | None, *extra: str, **kw
    ) -> int:
        self.w.at(when)
        customer = "Acme Logistics" if project is self.acme else "Globex Rentals"
        dri = kw.pop("dri", "pat")
        issue = self.w.as_user("escbot").http_post(
            f"/projects/{project.id}/issues",
            post_data={
                "title": title,
                "description": description(
                    kw.pop("opened_as", level), customer, kw.pop("plan", "")
                ),
                "labels": labels(level, rag, *extra),
                "assignee_ids": [self.w.users[dri]["id"]] if dri else [],
            },
        )
        return issue["iid"]

    def say(self, project: Any, iid: int, when: str, body: str, who: str = "pat") -> None:
        self.w.at(when)
        self.w.as_user(who).http_post(
            f"/projects/{project.id}/issues/{iid}/notes", post_data={"body": body}
        )

    def edit(self, project: Any, iid: int, when: str, who: str = "escbot", **attrs: Any) -> None:
        self.w.at(when)
        self.w.as_user(who).http_put(f"/projects/{project.id}/issues/{iid}", post_data=attrs)

    def api(self) -> GitLab:
        return GitLab(self.sb.gitlab(token=self.w.tokens["escbot"]))

    def report(self, **kw: Any) -> Report:
        self.w.at("2026-11-23 09:00")
        api = self.api()
        return build_report(api, ("group", api.group("cust")), P, NOW, kw.get("since"))


def remind(rule: str, due: str, rung: int) -> str:
    return f"<!-- escbot:remind rule={rule} due={due} rung={rung} -->"


@pytest.fixture(scope="module")
def month() -> Any:
    sb = start_sandbox(now="2026-10-01T12:00:00Z")
    try:
        m = Month(sb)
        a, g = m.acme, m.globex
        # S3: a Sev2 since October, promoted to Sev1 in the window, red -> green.
        s3 = m.open(a, "2026-10-19 09:00", "Controller failures", "sev2", "red", plan=PLAN)
        # S7: opened and closed before the window.
        s7 = m.open(g, "2026-10-26 09:00", "Shipping delay", "sev2", "yellow")
        m.edit(g, s7, "2026-11-06 15:00", state_event="close")
        # S2: a Sev2 with weekly updates, two of four kept in the window.
        s2 = m.open(g, "2026-11-04 09:00", "Budget overrun", "sev2", "yellow", dri="qa.lead")
        m.say(
            g, s2, "2026-11-11 08:00", "#path-to-green #portfolio-call #mitigation #resource-needs"
        )
        m.say(g, s2, "2026-11-12 09:00", remind("mitigation", "x", 0), who="escbot")
        m.say(g, s2, "2026-11-17 10:00", "#path-to-green back to yellow by Dec #portfolio-call")
        # S4: a Sev1 resolved and closed in the window.
        s4 = m.open(g, "2026-11-10 09:00", "Technician no-show", "sev1", "red")
        m.say(g, s4, "2026-11-10 13:00", "Acknowledged. " + ALL_SEV1)
        m.say(g, s4, "2026-11-16 10:00", "Nearly there. " + ALL_SEV1)
        m.edit(g, s4, "2026-11-17 09:00", add_labels="phase::resolution")
        m.edit(g, s4, "2026-11-18 09:00", state_event="close")
        # S1: a Sev1 opened in the window.
        s1 = m.open(a, "2026-11-16 10:00", "Install stalled at Dallas yard", "sev1", "yellow")
        m.say(a, s1, "2026-11-16 11:30", "Acknowledged, calling the customer now.")
        m.say(a, s1, "2026-11-17 08:00", "Day 1. " + SEV1_TAGS)
        m.say(a, s1, "2026-11-17 12:00", "Spoke to the customer. #customer-communication")
        m.say(a, s1, "2026-11-18 08:00", "Day 2. " + SEV1_TAGS)
        due = "2026-11-19T13:00Z"
        rules = ("status_update", "milestone_progress", "blockers")
        m.say(a, s1, "2026-11-19 09:00", " ".join(remind(r, due, 0) for r in rules), who="escbot")
        m.edit(a, s1, "2026-11-19 09:00", add_labels="rag::red")
        m.say(a, s1, "2026-11-19 11:00", "Customer call done. #customer-communication")
        m.say(a, s1, "2026-11-20 09:30", " ".join(remind(r, due, 1) for r in rules), who="escbot")
        m.say(a, s1, "2026-11-20 11:00", "Day 4 (late). " + SEV1_TAGS)
        # S3's promotion and its Sev1 updates; back to green.
        m.edit(a, s3, "2026-11-18 14:00", add_labels="escalation::sev1", who="pat")
        m.say(a, s3, "2026-11-19 13:00", "Sev1 day 1. " + ALL_SEV1)
        m.say(a, s3, "2026-11-20 12:00", "#status-update Controller replaced. " + ALL_SEV1)
        m.edit(a, s3, "2026-11-20 15:00", add_labels="rag::green", who="pat")
        # S5: conflicting severity, no RAG label, never acknowledged.
        sb.settings(scoped_labels=False)  # GitLab Free: scoped labels are not exclusive
        s5 = m.open(a, "2026-11-18 09:30", "Wrong parts shipped", "sev1", None, "severity::medium")
        sb.settings(scoped_labels=True)
        # S6: opened Friday afternoon, acknowledged Monday morning; nobody assigned.
        s6 = m.open(g, "2026-11-20 16:00", "Scope creep", "sev2", "yellow", dri=None)
        m.say(g, s6, "2026-11-23 08:00", "Seen, on it. #path-to-green not yet")
        m.say(a, s1, "2026-11-23 08:30", LONG_UPDATE + " " + SEV1_TAGS)
        m.iids = SimpleNamespace(s1=s1, s2=s2, s3=s3, s4=s4, s5=s5, s6=s6, s7=s7)
        m.r = m.report()
        yield m
    finally:
        sb.stop()


# --------------------------------------------------------------------------------------------
# Every figure against the script.


def test_rag_table_groups_open_escalations_by_project(month: Any) -> None:
    r = month.r
    assert r.scope == "cust" and r.week == "2026-W48"
    assert r.rag_counts == {"red": 1, "yellow": 2, "green": 1}
    assert r.open_count == 5
    assert {p: [x.ref for x in rows] for p, rows in r.groups.items()} == {
        "cust/acme": ["cust/acme#2", "cust/acme#1"],  # red first
        "cust/globex": ["cust/globex#2", "cust/globex#4"],  # yellow: longest open first
    }
    s1, s3 = r.groups["cust/acme"]
    assert (s1.rag, s1.level, s1.severity, s1.type, s1.phase) == (
        "red",
        "sev1",
        "high",
        "customer",
        "active",
    )
    assert s1.dri == ["pat"] and s1.days_open == 6 and s1.customer == "Acme Logistics"
    assert s3.rag == "green" and s3.level == "sev1" and s3.days_open == 35
    s2, s6 = r.groups["cust/globex"]
    assert s2.dri == ["qa.lead"] and s6.dri == [] and s6.days_open == 2
    # Next due: the overdue one, else the earliest coming one.
    assert s2.next_due.overdue and s2.next_due.title == "Mitigation progress"
    assert s2.next_due.due == ny("2026-11-18 08:00")
    assert not s1.next_due.overdue and s1.next_due.title == "Stakeholder summary"
    assert s1.next_due.due == ny("2026-11-23 10:00")
    # Latest status update (sev1: status update; sev2: path to green), cut near 200 chars.
    assert s1.update_at == ny("2026-11-23 08:30") and s1.update_excerpt.endswith("…")
    assert len(s1.update_excerpt) <= 201 and s1.update_excerpt.startswith("#status-update Crew")
    assert s3.update_at == ny("2026-11-20 12:00")
    assert s2.update_excerpt == "#path-to-green back to yellow by Dec #portfolio-call"
    assert s6.update_at == ny("2026-11-23 08:00")


def test_unclassified_with_reasons(month: Any) -> None:
    [u] = month.r.unclassified
    assert u.ref == "cust/acme#3"
    assert u.reasons == [
        "conflicting severity labels: severity::high, severity::medium",
        "no rag:: label (rag)",
    ]


def test_changes_since_the_last_report(month: Any) -> None:
    got = {(c.kind, c.ref, c.at) for c in month.r.changes}
    assert got == {
        ("opened", "cust/acme#2", ny("2026-11-16 10:00")),
        ("opened", "cust/acme#3", ny("2026-11-18 09:30")),
        ("opened", "cust/globex#4", ny("2026-11-20 16:00")),
        ("promoted", "cust/acme#1", ny("2026-11-18 14:00")),
        ("red", "cust/acme#2", ny("2026-11-19 09:00")),
        ("green", "cust/acme#1", ny("2026-11-20 15:00")),
        ("resolved", "cust/globex#3", ny("2026-11-17 09:00")),
        ("closed", "cust/globex#3", ny("2026-11-18 09:00")),
    }


def test_opened_and_closed_per_iso_week(month: Any) -> None:
    assert [(w.week, w.opened, w.closed) for w in month.r.weeks] == [
        ("2026-W43", 1, 0),
        ("2026-W44", 1, 0),
        ("2026-W45", 1, 1),
        ("2026-W46", 1, 0),
        ("2026-W47", 3, 1),
        ("2026-W48", 0, 0),
    ]


def test_cadence_compliance_per_escalation_and_overall(month: Any) -> None:
    r = month.r
    by_ref = {c.ref: c for c in r.compliance_rows}
    # S1: daily x3 due Tue 10:00, Wed 08:00 (met), Thu 08:00, Fri 08:00 (missed): 2/4 each;
    # customer communication due Wed 10:00 (met Tue 12:00), Thu 12:00 (met Thu 11:00): 2/2.
    s1 = by_ref["cust/acme#2"].compliance
    assert s1.by_rule == {
        "status_update": (2, 4),
        "milestone_progress": (2, 4),
        "blockers": (2, 4),
        "customer_communication": (2, 2),
    }
    # S2: weekly, due Wed 18 08:00: two kept, two missed.
    assert by_ref["cust/globex#2"].compliance.by_rule == {
        "path_to_green": (1, 1),
        "portfolio_call": (1, 1),
        "mitigation": (0, 1),
        "resource_needs": (0, 1),
    }
    # S3: Sev1 from its promotion Wed 14:00: daily Thu 14:00 and Fri 13:00, customer Fri 14:00.
    assert by_ref["cust/acme#1"].compliance.by_rule == {
        "status_update": (2, 2),
        "milestone_progress": (2, 2),
        "blockers": (2, 2),
        "customer_communication": (1, 1),
    }
    # S4 (closed Wed 09:00): daily missed Tue 10:00; weekly met Tue 13:00 (Mon's note).
    s4 = by_ref["cust/globex#3"]
    assert s4.state == "closed" and (s4.compliance.on_time, s4.compliance.required) == (4, 7)
    # S5 (unclassified, still Sev1): daily Thu and Fri 09:30 and customer Fri 09:30 all missed.
    assert (
        by_ref["cust/acme#3"].compliance.on_time,
        by_ref["cust/acme#3"].compliance.required,
    ) == (0, 7)
    assert "cust/globex#4" not in by_ref and "cust/globex#1" not in by_ref  # nothing due yet
    assert (r.compliance.on_time, r.compliance.required) == (8 + 2 + 7 + 4 + 0, 14 + 4 + 7 + 7 + 7)
    # Reminders and ladder mentions escbot posted in the window (S2's is older).
    assert (r.reminders, r.ladder_mentions) == (3, 3)
    assert by_ref["cust/acme#2"].reminders == 3 and by_ref["cust/acme#2"].ladder_mentions == 3


def test_time_to_acknowledge_and_to_resolve(month: Any) -> None:
    ack, res = month.r.acknowledge, month.r.resolve
    # S1: 1.5 h on a Monday; S6: Fri 16:00 -> Mon 08:00 = 1 working hour. A business day is
    # the 8 working hours of a day, so days and hours always agree.
    assert ack.count == 2 and ack.pending == ["cust/acme#3"]
    assert {s.ref: (s.business_days, s.business_hours) for s in ack.spans} == {
        "cust/acme#2": (0.19, 1.5),
        "cust/globex#4": (0.12, 1.0),
    }
    assert ack.median_hours == 1.25 and ack.median_days == pytest.approx(0.156, abs=0.01)
    assert ack.worst_days.ref == ack.worst_hours.ref == "cust/acme#2"
    # S4: Tue 10 -> Tue 17 Nov 09:00 with Veterans Day (Wed 11) off: 4 business days, 32 h.
    assert res.count == 1 and res.worst_days.ref == "cust/globex#3"
    assert (res.median_days, res.median_hours) == (4.0, 32.0)
    assert res.worst_days.text == "4.0 business days (32.0 business hours; 7 d 0 h elapsed)"


def test_overdue_milestones(month: Any) -> None:
    got = [(m.ref, m.due.isoformat(), m.source) for m in month.r.overdue_milestones]
    assert got == [
        ("cust/acme#1", "2026-11-18", "task"),
        ("cust/acme#1", "2026-11-20", "table"),
    ]


# --------------------------------------------------------------------------------------------
# Renderings.

MERMAID_TYPES = ("pie", "xychart-beta")


def mermaid_blocks(text: str) -> list[str]:
    return re.findall(r"^```mermaid\n(.*?)^```$", text, flags=re.M | re.S)


def check_mermaid(block: str) -> dict[str, Any]:
    """A small structural check: a known diagram type and consistent data lines."""
    lines = [ln.rstrip() for ln in block.strip().splitlines()]
    kind = lines[0].split()[0]
    assert kind in MERMAID_TYPES, lines[0]
    if kind == "pie":
        data = {}
        for ln in lines[1:]:
            m = re.fullmatch(r'\s+"([^"]+)" : (\d+(?:\.\d+)?)', ln)
            assert m, ln
            data[m.group(1)] = float(m.group(2))
        assert data and all(v > 0 for v in data.values())
        return data
    axis = bars = line = None
    for ln in lines[1:]:
        s = ln.strip()
        if s.startswith("x-axis"):
            axis = re.findall(r'"([^"]*)"', s)
            assert s.count('"') == 2 * len(axis)
        elif s.startswith("y-axis"):
            assert re.fullmatch(r'y-axis "[^"]*" 0 --> \d+(\.\d+)?', s), s
        elif s.startswith(("bar", "line")):
            m = re.fullmatch(r"(bar|line) \[([\d., ]*)\]", s)
            assert m, s
            values = [float(v) for v in m.group(2).split(",")]
            if m.group(1) == "bar":
                bars = values
            else:
                line = values
        else:
            assert re.fullmatch(r'title "[^"]*"', s), s
    assert axis and bars is not None and len(bars) == len(axis)
    assert line is None or len(line) == len(axis)
    return {"x": axis, "bar": bars, "line": line}


def test_markdown_report_and_mermaid_charts(month: Any) -> None:
    text = render_markdown(month.r, P)
    assert text.startswith("<!-- escbot:briefing week=2026-W48 -->\n# PMO briefing 2026-W48: cust")
    pie, weeks, comp = (check_mermaid(b) for b in mermaid_blocks(text))
    assert pie == {"Red": 1, "Yellow": 2, "Green": 1, "Unclassified": 1}
    assert weeks["bar"] == [1, 1, 1, 1, 3, 0] and weeks["line"] == [0, 0, 1, 0, 1, 0]
    assert dict(zip(comp["x"], comp["bar"], strict=True)) == {
        "cust/acme#1": 100,
        "cust/acme#3": 0,
        "cust/acme#2": 57,
        "cust/globex#2": 50,
        "cust/globex#3": 57,
    }
    assert "| 5 | 1 | 2 | 1 | 1 | 21/39 (54%) | 3 | 3 |" in text
    # User text is made inert: no mention, no HTML.
    assert "@director" not in text.replace("@&#8203;director", "")
    assert "<b>" not in text and "&lt;b&gt;" in text
    assert "**Mitigation progress: overdue since Wed 18 Nov 08:00 EST**" in text
    assert "conflicting severity labels: severity::high, severity::medium" in text
    assert "**Promoted Sev2 → Sev1** (1)" in text
    # Table rows keep their column count (no user text breaks a table).
    for table in re.findall(r"((?:^\|.*\|\n)+)", text, flags=re.M):
        widths = {len(re.findall(r"(?<!\\)\|", row)) for row in table.splitlines()}
        assert len(widths) == 1, table


class _Tags(HTMLParser):
    VOID: ClassVar[set[str]] = {
        "meta",
        "br",
        "rect",
        "circle",
        "line",
        "path",
        "link",
        "img",
        "input",
        "hr",
    }

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.attrs: list[tuple[str, dict[str, str | None]]] = []
        self.errors: list[str] = []
        self.style = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.attrs.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.attrs.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if tag in self.VOID and (not self.stack or self.stack[-1] != tag):
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        if self.stack and self.stack[-1] == "style":
            self.style += data


def check_html(page: str) -> _Tags:
    parser = _Tags()
    parser.feed(page)
    parser.close()
    assert parser.errors == [] and parser.stack == []
    tags = {t for t, _ in parser.attrs}
    assert "script" not in tags and "link" not in tags and "img" not in tags
    assert "iframe" not in tags and "object" not in tags
    for tag, attrs in parser.attrs:
        assert "src" not in attrs, (tag, attrs)
        assert not any(k.startswith("on") for k in attrs), (tag, attrs)
        if "href" in attrs:
            assert tag == "a"
    assert "@import" not in parser.style and "url(" not in parser.style
    # Every SVG is well-formed XML on its own.
    for svg in re.findall(r"<svg\b.*?</svg>", page, flags=re.S):
        ET.fromstring(svg)
    return parser


def test_html_is_self_contained_and_well_formed(month: Any, tmp_path: Path) -> None:
    page = render_html(month.r, P)
    parser = check_html(page)
    hrefs = [a["href"] for t, a in parser.attrs if t == "a"]
    base = month.sb.url + "/cust/"
    assert hrefs and all(h.startswith(base) for h in hrefs)
    outside = [u for u in re.findall(r"https?://[^\s\"'<>]+", page) if not u.startswith(base)]
    assert outside == ["http://www.w3.org/2000/svg"] * len(outside)  # SVG namespace only
    assert page.count("<svg") == 3
    assert "&lt;b&gt;daily&lt;/b&gt;" in page and "<b>daily" not in page
    assert "Unclassified" in page and "cust/acme#3" in page


def test_html_screenshot_with_headless_chromium(month: Any, tmp_path: Path) -> None:
    """Look at /tmp/escbot-report.png after this runs (skipped without chromium)."""
    chromium = shutil.which("chromium") or (
        "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
    )
    if not chromium:
        pytest.skip("chromium is not installed")
    page = render_html(month.r, P)
    html_file = tmp_path / "report.html"
    html_file.write_text(page, encoding="utf-8")
    shot = Path("/tmp/escbot-report.png")
    done = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1300,2400",
         f"--screenshot={shot}", html_file.as_uri()],
        check=False, capture_output=True, timeout=60,
    )  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"chromium could not take the screenshot: {done.stderr[-300:]!r}")
    assert shot.exists() and shot.stat().st_size > 10_000


def test_json_report(month: Any) -> None:
    data = json.loads(render_json(month.r))
    assert data["rag_counts"] == {"red": 1, "yellow": 2, "green": 1}
    assert data["compliance"]["on_time"] == 21 and data["compliance"]["required"] == 39
    assert data["groups"]["cust/acme"][0]["next_due"]["due"] == "2026-11-23T15:00:00+00:00"
    assert data["unclassified"][0]["ref"] == "cust/acme#3"


def test_cli_report_and_posting_twice_updates_one_issue(month: Any, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    res = month.w.run(
        "report", "--group", "cust", "--format", "html", "--output", str(out),
        when="2026-11-23 09:00",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    check_html(out.read_text())
    first = month.w.run(
        "report", "--project", "cust/acme", "--post", "cust/pmo", when="2026-11-23 09:00"
    )
    assert first.exit_code == 0, first.output
    # Only the outcome is printed (issue 14): the report is in the issue.
    assert first.output.startswith("Created the briefing issue for 2026-W48: http")
    assert len(first.output.splitlines()) == 1
    second = month.w.run("report", "--group", "cust", "--post", "cust/pmo", when="2026-11-24 10:00")
    assert second.exit_code == 0, second.output
    assert "Updated the briefing issue for 2026-W48" in second.output
    third = month.w.run("report", "--group", "cust", "--post", "cust/pmo", when="2026-11-24 10:00")
    assert "The briefing issue for 2026-W48 was up to date" in third.output
    missing = month.w.run("report", "--group", "cust", "--post", "cust/nope")
    assert missing.exit_code == 2 and "project cust/nope not found" in missing.output
    issues = month.w.gl.projects.get(month.pmo.id).issues.list(
        labels=["pmo-briefing"], get_all=True
    )
    assert [i.title for i in issues] == ["PMO briefing 2026-W48"]
    assert "# PMO briefing 2026-W48: cust\n" in issues[0].description  # the second run's scope
    # The function form, for the demo: same issue, not created again.
    url, outcome = post_briefing(month.api(), "cust/pmo", month.r, P)
    assert outcome == "updated" and url == issues[0].web_url  # the group-wide report replaced
    # A new week: a new issue.
    month.w.at("2026-11-30 09:00")
    later = build_report(
        month.api(), ("group", month.api().group("cust")), P, ny("2026-11-30 09:00"), None
    )
    url2, outcome2 = post_briefing(month.api(), "cust/pmo", later, P)
    assert outcome2 == "created" and url2 != url
    assert (
        len(
            month.w.gl.projects.get(month.pmo.id).issues.list(labels=["pmo-briefing"], get_all=True)
        )
        == 2
    )


def test_since_option_and_errors(month: Any) -> None:
    res = month.w.run(
        "report",
        "--group",
        "cust",
        "--format",
        "json",
        "--since",
        "2026-11-20",
        when="2026-11-23 09:00",
    )
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert {(c["kind"], c["ref"]) for c in data["changes"]} == {
        ("opened", "cust/globex#4"),
        ("green", "cust/acme#1"),
    }
    bad = month.w.run("report", "--group", "cust", "--since", "last week")
    assert bad.exit_code == 2 and "--since" in bad.output


def test_empty_portfolio_is_a_clear_report(month: Any) -> None:
    api = month.api()
    month.w.at("2026-11-23 09:00")
    r = build_report(api, ("project", api.project("cust/pmo")), P, NOW, None)
    assert r.open_count == 0 and r.changes == [] and r.compliance.required == 0
    text = render_markdown(r, P)
    assert "**No open escalations in cust/pmo.**" in text
    for block in mermaid_blocks(text):
        check_mermaid(block)
    check_html(render_html(r, P))
    assert json.loads(render_json(r))["open_count"] == 0


# --------------------------------------------------------------------------------------------
# Pure pieces.


def test_compute_report_without_gitlab() -> None:
    esc = escalation(
        notes=(
            note("#status-update on track", ny("2026-11-17 08:00")),
            note(
                "reminder <!-- escbot:remind rule=blockers due=x rung=2 -->",
                ny("2026-11-17 10:00"),
                "bot",
            ),
        ),
        label_events=(),
    )
    r = compute_report([esc], P, NOW, SINCE, bot="bot", scope_name="acme")
    assert r.rag_counts == {"red": 0, "yellow": 1, "green": 0}
    assert (r.reminders, r.ladder_mentions) == (0, 1)
    assert r.compliance.by_rule == {} and r.compliance_rows[0].compliance.by_rule[
        "status_update"
    ] == (1, 5)


def test_cadence_counts_each_missed_period_once() -> None:
    from escbot.model import Context

    ctx = Context(P, NOW, "bot")
    esc = escalation(notes=(note("#customer-communication", ny("2026-11-20 10:00")),))
    comp = cadence(esc, ctx, SINCE, NOW, ny("2026-11-16 09:00"))
    # Customer communication every 2 business days: due Wed 09:00 missed, Fri 09:00 missed
    # (the Fri 10:00 note came after both), then due Tue: 0 of 2.
    assert comp.by_rule["customer_communication"] == (0, 2)
    assert comp.by_rule["status_update"] == (0, 5)


def test_excerpt_and_milestones() -> None:
    assert excerpt("a  <!-- escbot:x -->\n b") == "a b"
    long = "word " * 100
    assert len(excerpt(long)) <= 201 and excerpt(long).endswith("…")
    esc = escalation(description=description("sev1", "Acme", PLAN))
    got = milestones_overdue(esc, ny("2026-11-23 09:00").date())
    assert [(m.text, m.source) for m in got] == [
        ("M1: Replace controller", "table"),
        ("M1: order the replacement part, due 2026-11-18", "task"),
    ]


def test_mermaid_and_svg_helpers_escape_labels() -> None:
    block = charts.mermaid_bars('say "hi"', ['a"b', "c"], [1, 2], [0, 1])
    assert check_mermaid(block)["x"] == ["a'b", "c"]
    svg = charts.svg_pie("<x>", [("R&D", 1, "#fff"), ("B", 0, "#000")])
    ET.fromstring(str(svg))
    ET.fromstring(str(charts.svg_week_bars("w", [("2026-W48", 3, 1)])))
    ET.fromstring(str(charts.svg_hbars("h", [("<ref>", 0.5)])))


def test_label_events_only_for_recently_updated(month: Any) -> None:
    api = month.api()
    month.w.at("2026-11-23 09:00")
    build_report(api, ("group", api.group("cust")), P, NOW, None)
    kinds = api.stats.by_kind
    label_reads = sum(n for k, n in kinds.items() if k.endswith("resource_label_events"))
    # Updated since Mon 16: S1, S2, S3, S4, S5, S6 (not S7, closed 6 Nov).
    assert label_reads == 6
    assert sum(n for k, n in kinds.items() if k.endswith("/notes")) == 0


def test_compliance_chart_keeps_the_twenty_lowest() -> None:
    escs = [
        escalation(
            iid=i,
            notes=tuple(
                note("#status-update", ny(f"2026-11-{d} 08:00"), id=i * 100 + d)
                for d in range(17, 17 + i % 5)
            ),
        )
        for i in range(1, 26)
    ]
    r = compute_report(escs, P, NOW, SINCE, bot="bot")
    assert len(r.compliance_rows) == 25
    text = render_markdown(r, P)
    comp = check_mermaid(mermaid_blocks(text)[2])
    assert len(comp["x"]) == 20 and comp["bar"] == sorted(comp["bar"])
    assert "the 20 lowest" in text and text.count("| [acme/collab#") == 25 + 25
    check_html(render_html(r, P))
