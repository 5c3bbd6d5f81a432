"""`escbot templates export`: GitLab issue templates, and their round trip through GitLab."""

from __future__ import annotations

import re
from datetime import datetime

import pytest
from click.testing import CliRunner

from escbot import description as desc
from escbot.cli import cli
from escbot.create import EscalationRequest, plan_escalation
from escbot.export import issue_templates, quick_action_labels, strip_quick_actions
from escbot.gitlab_io import ProjectRef
from escbot.markers import find_markers
from escbot.model import Escalation, classify
from tests.helpers import NY, policy

STABLE = [
    desc.PHASE1,
    desc.TRACKING,
    desc.RESOLUTION_PLAN,
    desc.BLOCKERS,
    desc.ALTERNATIVES,
    desc.RACI,
    desc.LINKS,
    desc.CLOSE_OUT,
    desc.PATH_TO_GREEN,
    desc.DECISION,
]
EXPECTED = {
    "Escalation-Sev1-Customer.md",
    "Escalation-Sev1-Internal.md",
    "Escalation-Sev1-Warranty.md",
    "Escalation-Sev2.md",
    "RAID-register.md",
}


def headings(text: str) -> list[str]:
    return [re.sub(r"\s*\(due .*\)$", "", line) for line in text.splitlines() if line[:3] == "## "]


def made_by_new(level: str, type_: str, category: str) -> str:
    request = EscalationRequest(
        project="acme/portal",
        level=level,
        type=type_,
        category=category,
        severity="high",
        title="t",
        customer="c",
        dri="pm.one",
        trigger_detail="17 days behind",
        completed=datetime(2026, 11, 10).date() if type_ == "warranty" else None,
        now=datetime(2026, 11, 23, 9, 0, tzinfo=NY),
    )
    return plan_escalation(request, policy(), ProjectRef(1, "acme/portal", "")).description


def test_export_writes_one_file_per_level_and_type(tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(cli, ["templates", "export", str(tmp_path)])
    assert result.exit_code == 0, result.output
    folder = tmp_path / ".gitlab" / "issue_templates"
    assert {p.name for p in folder.iterdir()} == EXPECTED
    sev1 = (folder / "Escalation-Sev1-Customer.md").read_text()
    assert sev1.startswith("<!-- escbot:escalation level=sev1 -->\n")
    lines = sev1.rstrip("\n").splitlines()
    assert lines[-7:] == [
        '/label ~"escalation" ~"escalation::sev1" ~"type::customer" ~"rag::red" '
        '~"phase::initiation"',
        '/label ~"severity::high"',
        '/label ~"category::install-issue"',
        '/label ~"account::fixed"',
        "/assign me",
        "/confidential",
        "/due in 1 day",
    ]
    # Quick actions only at the end: the body above has none.
    body_lines = strip_quick_actions(sev1).splitlines()
    assert len(body_lines) == len(lines) - 7
    assert "| Project completed |" in (folder / "Escalation-Sev1-Warranty.md").read_text()
    sev2 = (folder / "Escalation-Sev2.md").read_text()
    assert '/label ~"type::internal"' in sev2 and '/label ~"category::timeline"' in sev2
    # Rerunning gives the same bytes (no timestamps).
    again = CliRunner().invoke(cli, ["templates", "export", str(tmp_path)])
    assert again.exit_code == 0
    assert (folder / "Escalation-Sev1-Customer.md").read_text() == sev1


@pytest.mark.parametrize(
    ("filename", "level", "type_", "category"),
    [
        ("Escalation-Sev1-Customer.md", "sev1", "customer", "install-issue"),
        ("Escalation-Sev1-Internal.md", "sev1", "internal", "cs-to-pm"),
        ("Escalation-Sev1-Warranty.md", "sev1", "warranty", "warranty-delay"),
        ("Escalation-Sev2.md", "sev2", "internal", "timeline"),
    ],
)
def test_exported_template_round_trips(sandbox, gl, filename, level, type_, category) -> None:  # type: ignore[no-untyped-def]
    pol = policy()
    template = next(t for t in issue_templates(pol) if t.filename == filename)
    group = gl.groups.create({"name": "acme", "path": "acme"})
    proj = gl.projects.create({"name": "portal", "namespace_id": group.id})
    # What GitLab does with the template: runs the quick actions, stores the rest.
    labels = quick_action_labels(template.body)
    assert labels == list(template.labels)
    created = proj.issues.create(
        {
            "title": "From the web UI",
            "description": strip_quick_actions(template.body),
            "labels": ",".join(labels),
            "confidential": "/confidential" in template.body.splitlines(),
        }
    )
    issue = proj.issues.get(created.iid)
    esc = Escalation.from_gitlab(issue.asdict())
    assert esc.confidential  # like `escbot new`: customers with the Guest role never see it

    cls = classify(esc.labels, pol)
    assert cls.level == level and cls.type == type_
    assert cls["category"] == category and cls["severity"] == "high"
    assert cls["account_type"] == "fixed" and cls["rag"] == "red"
    assert cls["phase"] == "initiation"
    assert not cls.conflicts and not cls.unknown
    assert find_markers(esc.description) == find_markers(made_by_new(level, type_, category))

    reference = made_by_new(level, type_, category)
    assert headings(esc.description) == headings(reference)
    for heading in STABLE:
        assert (desc.section(esc.description, heading) is None) == (
            desc.section(reference, heading) is None
        ), heading
    for heading in (desc.PHASE1, desc.CLOSE_OUT, desc.DECISION):
        exported = desc.checklist(esc.description, heading)
        from_new = desc.checklist(reference, heading)
        if from_new is None:
            assert exported is None
            continue
        assert [t.checked for t in exported] == [t.checked for t in from_new], heading
        if heading != desc.PHASE1:
            assert [t.text for t in exported] == [t.text for t in from_new], heading
    assert desc.blockers(esc.description) == []
    assert issue.task_completion_status["count"] == len(desc.tasks(esc.description))


def test_raid_template_round_trips(sandbox, gl) -> None:  # type: ignore[no-untyped-def]
    template = next(t for t in issue_templates(policy()) if t.filename == "RAID-register.md")
    assert template.labels == ("raid-register",)
    body = strip_quick_actions(template.body)
    body = body.replace("PROJECT_ID", "5").replace("ESCALATION_IID", "12")
    group = gl.groups.create({"name": "acme", "path": "acme"})
    proj = gl.projects.create({"name": "portal", "namespace_id": group.id})
    issue = proj.issues.create({"title": "RAID", "description": body, "labels": "raid-register"})
    markers = find_markers(proj.issues.get(issue.iid).description)
    assert markers[0].render() == "<!-- escbot:raid project=5 iid=12 -->"
    for heading in ("Risks", "Assumptions", "Issues", "Dependencies"):
        assert desc.section(body, heading) is not None


def test_quick_action_helpers() -> None:
    text = 'body\n/label ~"a b" ~c\n/assign me\n'
    assert quick_action_labels(text) == ["a b", "c"]
    assert strip_quick_actions(text) == "body\n"


def test_exported_templates_are_confidential_unless_the_policy_says_otherwise() -> None:
    assert all("/confidential" in t.body.splitlines() for t in issue_templates(policy()))
    public = policy(c=("  confidential: true", "  confidential: false"))
    assert not any("/confidential" in t.body for t in issue_templates(public))
