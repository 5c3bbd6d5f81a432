"""Pure rendering: every template for every level and type, every section, and user text that
cannot mention, run quick actions, inject HTML or break a table."""

from __future__ import annotations

import re
from datetime import date, datetime

import pytest

from escbot import description as desc
from escbot.create import EscalationRequest, plan_escalation, validate
from escbot.gitlab_io import ProjectRef
from escbot.markers import find_markers
from escbot.render import md, render
from tests.helpers import NY, policy

PROJECT = ProjectRef(7, "acme/portal", "http://gitlab.example/acme/portal")
CATEGORY_FOR = {"customer": "install-issue", "internal": "budget", "warranty": "warranty-30-day"}
EVIL = 'Evil @all <img src=x onerror=alert(1)> | cell\n/close\n/label ~"escalation::sev2"'

SEV1_SECTIONS = [
    desc.PHASE1,
    desc.TRACKING,
    desc.RESOLUTION_PLAN,
    desc.BLOCKERS,
    desc.ALTERNATIVES,
    desc.RACI,
    desc.LINKS,
    desc.CLOSE_OUT,
]
SEV2_SECTIONS = [
    desc.PHASE1,
    desc.PATH_TO_GREEN,
    desc.DECISION,
    desc.TRACKING,
    desc.BLOCKERS,
    desc.LINKS,
    desc.CLOSE_OUT,
    "Issues, risks and mitigation",
    "Y/R portfolio review",
]


def request(level: str = "sev1", type_: str = "customer", **over: object) -> EscalationRequest:
    base: dict[str, object] = dict(
        project="acme/portal",
        level=level,
        type=type_,
        category=CATEGORY_FOR[type_],
        severity="high",
        title="Install stalled at Dallas yard",
        customer="Acme Logistics",
        dri="pm.one",
        trigger_detail="17 days behind" if level == "sev2" else None,
        completed=date(2026, 11, 10) if type_ == "warranty" else None,
        now=datetime(2026, 11, 23, 9, 0, tzinfo=NY),
    )
    base.update(over)
    return EscalationRequest(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize("level", ["sev1", "sev2"])
@pytest.mark.parametrize("type_", ["customer", "internal", "warranty"])
def test_every_level_and_type_renders_every_section(level: str, type_: str) -> None:
    pol = policy()
    req = request(level, type_)
    validate(req, pol)
    plan = plan_escalation(req, pol, PROJECT)
    text = plan.description
    assert text.splitlines()[0] == f"<!-- escbot:escalation level={level} -->"
    for heading in SEV1_SECTIONS if level == "sev1" else SEV2_SECTIONS:
        assert desc.section(text, heading) is not None, heading
    # Phase 1: a task list, the three things escbot did already checked.
    phase1 = desc.checklist(text, desc.PHASE1)
    assert phase1 and len([t for t in phase1 if t.checked]) == 3
    assert desc.find_task(phase1, "Escalation tracking issue created").checked
    assert f"## Phase 1 checklist (due {'2026-11-24 09:00 EST'})" in text
    # Close-out from the policy, unchecked, in order.
    close = desc.checklist(text, desc.CLOSE_OUT)
    assert [t.text for t in close] == list(pol.close_out.items.values())
    assert not any(t.checked for t in close)
    # Tracking requirements: every requirement of the level, with its tag and cadence.
    tracking = desc.section(text, desc.TRACKING)
    for req in pol.requirements[level].values():
        assert req.title in tracking
        assert f"every {req.every.text}" in tracking
        if req.met_by == "note":
            assert f"`{req.tag}`" in tracking
    assert desc.blockers(text) == []
    assert desc.field(text, "Customer") == "Acme Logistics"
    assert desc.date_field(text, "Phase 1 due") == date(2026, 11, 24)
    assert desc.field(text, "DRI") == "@pm.one"
    # Only the DRI is mentioned.
    assert set(re.findall(r"(?<![\w`])@[\w.\-]+", text)) == {"@pm.one"}
    if type_ == "warranty":
        assert desc.date_field(text, "Project completed") == date(2026, 11, 10)
        assert desc.date_field(text, "Warranty until") == date(2026, 12, 10)
    else:
        assert desc.field(text, "Project completed") is None
    if level == "sev2":
        assert desc.field(text, "Figure") == "17 days behind"
        category = pol.labels["category"].values[CATEGORY_FOR[type_]]
        assert category.description in desc.section(text, "Trigger")
        decision = desc.checklist(text, desc.DECISION)
        assert [t.text.split(":")[0] for t in decision] == [
            "Escalate to Sev 1",
            "Remain in monitoring",
        ]
        assert desc.checklist(text, "Y/R portfolio review")


def test_sev1_resolution_plan_alternatives_raci_links() -> None:
    plan = plan_escalation(request(), policy(), PROJECT)
    text = plan.description
    rp = desc.section(text, desc.RESOLUTION_PLAN)
    assert "| Milestone | Success criteria | Due | % complete |" in rp
    assert all("due 2026-11-24" in t.text for t in desc.tasks(rp))
    assert "| Approach | Pros | Cons | Additional risks |" in desc.section(text, desc.ALTERNATIVES)
    raci = desc.section(text, desc.RACI)
    for role in ("AE", "CSM", "Direct manager", "Director PS"):
        assert role in raci
    links = desc.section(text, desc.LINKS)
    assert "RAID register:" in links and "Slack" in links
    assert "YYYY-MM-DD" in desc.section(text, desc.BLOCKERS)  # the format, in a comment
    stakeholders = desc.section(text, "Stakeholders")
    for role in ("AE", "CSM", "Direct manager", "Director PS"):
        assert f"| {role} | (name) |" in stakeholders


def test_labels_and_due_dates() -> None:
    pol = policy()
    plan = plan_escalation(request(), pol, PROJECT)
    assert plan.labels == (
        "escalation",
        "escalation::sev1",
        "severity::high",
        "type::customer",
        "category::install-issue",
        "account::fixed",
        "rag::red",
        "phase::initiation",
    )
    # Friday evening: due Monday.
    fri = plan_escalation(request(now=datetime(2026, 11, 20, 18, 30, tzinfo=NY)), pol, PROJECT)
    assert fri.due_date == date(2026, 11, 23)
    # Wednesday before Thanksgiving (Thu 2026-11-26): due Friday.
    wed = plan_escalation(request(now=datetime(2026, 11, 25, 14, 0, tzinfo=NY)), pol, PROJECT)
    assert wed.due_date == date(2026, 11, 27)
    mobile = plan_escalation(request(account_type="mobile"), pol, PROJECT)
    assert "account::mobile" in mobile.labels
    assert "mobile.qa" in mobile.description


def test_warranty_window() -> None:
    pol = policy()
    inside = plan_escalation(request(type_="warranty"), pol, PROJECT)
    assert "out-of-warranty" not in inside.labels
    assert "within the 30-day warranty window" in inside.description
    late = plan_escalation(request(type_="warranty", completed=date(2026, 9, 1)), pol, PROJECT)
    assert "out-of-warranty" in late.labels
    assert "outside the 30-day warranty window" in late.description


def test_user_text_is_inert() -> None:
    pol = policy()
    req = request(
        "sev2", "internal", title=EVIL, customer=EVIL, trigger_detail="@all 12% | over\n/close"
    )
    plan = plan_escalation(req, pol, PROJECT)
    for text in (plan.description, plan.raid.description(7, 3, "#3")):
        lines = text.splitlines()
        assert not any(line.startswith("/") for line in lines)  # no quick action
        assert "@all" not in text  # no mention
        assert "<img" not in text  # no HTML
        # No table row gained a cell: every row has as many unescaped pipes as its header.
        for i, line in enumerate(lines):
            if line.startswith("|---"):
                width = len(re.findall(r"(?<!\\)\|", line))
                j = i + 1
                while j < len(lines) and lines[j].startswith("|"):
                    assert len(re.findall(r"(?<!\\)\|", lines[j])) == width, lines[j]
                    j += 1
    assert desc.field(plan.description, "Customer").startswith("Evil @&#8203;all &lt;img")
    assert "\n" not in plan.title and plan.title.startswith("Evil @all")  # titles never mention


def test_md_filter() -> None:
    assert md("/close") == "&#47;close"
    assert md("a\n/close") == "a /close"
    assert md("@all hi") == "@&#8203;all hi"
    assert md("x | y") == "x \\| y"


def test_raid_template() -> None:
    plan = plan_escalation(request(), policy(), PROJECT)
    text = plan.raid.description(7, 12, "#12")
    assert find_markers(text)[0].render() == "<!-- escbot:raid project=7 iid=12 -->"
    for heading, columns in (
        ("Risks", ("ID", "Description", "Impact", "Likelihood", "Mitigation", "Owner", "Raised")),
        ("Assumptions", ("ID", "Assumption", "Owner", "Date")),
        ("Issues", ("ID", "Description", "Impact", "Status", "Next step", "Owner", "Raised")),
        ("Dependencies", ("ID", "Dependency", "Status", "Next step", "Owner", "Needed by")),
    ):
        body = desc.section(text, heading)
        assert body is not None, heading
        header = next(line for line in body.splitlines() if line.startswith("| ID"))
        for column in columns:
            assert column in header, (heading, column)
    assert "#12" in text
    assert plan.raid.labels == ("raid-register",)
    assert plan.raid.title == "RAID register: Install stalled at Dallas yard"


def test_partials_and_missing_context_fail_loudly() -> None:
    from escbot.errors import EscbotError

    with pytest.raises(EscbotError, match=r"templates/sev1\.md"):
        render("sev1.md", marker="x")
