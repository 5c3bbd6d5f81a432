"""What the customer can see (issue 13): confidential issues, internal notes, staff-only
updates, the access audit, and the briefing kept out of customer projects."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace

import gitlab
import pytest

from escbot.markers import find_markers
from escbot.model import Context, Member
from escbot.policies import PolicyError, parse_policy
from escbot.rules import evaluate
from escbot.sandbox import start_sandbox
from tests.conftest import SANDBOX_NOW
from tests.helpers import (
    BOT,
    SEV1_DESCRIPTION,
    SEV1_LABELS,
    World,
    escalation,
    note,
    ny,
    policy,
    policy_text,
)

P = policy()


def ctx(when: str, pol=P, staff: frozenset[str] | None = None) -> Context:
    return Context(policy=pol, now=ny(when), bot=BOT, staff=staff)


# --------------------------------------------------------------------------------------------
# The policy section.


def test_visibility_defaults_are_safe_when_the_section_is_left_out() -> None:
    start = policy_text().index("# What the customer can see")
    end = policy_text().index("# The process vocabulary")
    text = policy_text()
    vis = parse_policy(text[:start] + text[end:]).visibility
    assert vis.confidential and vis.public_comments == ("ack",)
    assert vis.public_escalation == "fix" and vis.pmo_project is None
    assert not vis.staff.declared


def test_a_bad_visibility_value_names_line_and_key() -> None:
    text = policy_text(("public_escalation: fix", "public_escalation: hide"))
    with pytest.raises(PolicyError) as err:
        parse_policy(text)
    assert "visibility.public_escalation: expected one of fix, warn, off" in str(err.value)
    unknown = policy_text(("public_comments: [ack]", "public_comments: [ack, chitchat]"))
    with pytest.raises(PolicyError, match=r"visibility.public_comments\[1\]: expected one of ack"):
        parse_policy(unknown)


# --------------------------------------------------------------------------------------------
# Who reads what escbot writes: decided once, in rules.evaluate.


def test_every_comment_is_an_internal_note_except_the_acknowledgement() -> None:
    late = evaluate(escalation(), ctx("2026-11-18 10:00"))  # reminders, ladder, RAG
    notes = [a for a in late.actions if a.kind == "comment"]
    assert notes and all(a.internal for a in notes)
    labels = tuple(lab for lab in SEV1_LABELS if lab != "phase::active")
    closing = escalation(labels=(*labels, "phase::resolution"))
    closing = replace(closing, notes_since=None, label_events=())
    closeout = evaluate(closing, ctx("2026-11-18 10:00"))
    kinds = {a.kind for a in closeout.actions}
    assert {"comment", "create_retro"} <= kinds
    assert all(a.internal for a in closeout.actions if a.kind in ("comment", "create_retro"))
    mail = escalation(
        labels=(),
        author="support-bot",
        title="Technician never showed up",
        description="The technician did not show.",
        service_desk_reply_to="jane@acme.example",
        assignees=(),
    )
    intake = evaluate(mail, ctx("2026-11-16 09:30"))
    [ack] = [a for a in intake.actions if a.kind == "comment"]
    assert ack.markers[0].kind == "ack" and not ack.internal


def test_the_policy_can_make_escbots_comments_public() -> None:
    pol = policy(
        a=("  confidential: true", "  confidential: false"),
        b=("public_comments: [ack]", "public_comments: [ack, remind, rag]"),
    )
    ev = evaluate(escalation(), ctx("2026-11-18 10:00", pol))
    comments = [a for a in ev.actions if a.kind == "comment"]
    assert comments and not any(a.internal for a in comments)


# --------------------------------------------------------------------------------------------
# Only staff meet requirements.


def test_a_customers_comment_never_counts_as_the_teams_update() -> None:
    staff = frozenset({"pat", BOT})
    by_customer = [note("#status-update where is the crew?", ny("2026-11-16 12:00"), "rory")]
    by_mail = [note("#status-update", ny("2026-11-16 12:00"), "support-bot")]
    by_pm = [note("#status-update crew rebooked", ny("2026-11-16 12:00"), "pat")]

    def met(notes, staff_set) -> bool:
        ev = evaluate(escalation(notes=tuple(notes)), ctx("2026-11-17 10:00", staff=staff_set))
        [f] = [f for f in ev.findings if f.rule == "status_update"]
        return not f.missed

    assert not met(by_customer, staff) and met(by_pm, staff)
    assert met(by_customer, None)  # no staff declared: every person counts...
    assert not met(by_mail, None)  # ...except an e-mailed reply (the Service Desk author)


# --------------------------------------------------------------------------------------------
# The visibility rule: a public escalation, and non-staff readers.


def test_a_public_escalation_is_made_confidential_or_flagged() -> None:
    public = escalation(confidential=False)
    fixed = evaluate(public, ctx("2026-11-16 10:00"))
    assert [a.kind for a in fixed.actions][:1] == ["confidential"]  # before anything is posted
    warn = policy(w=("public_escalation: fix", "public_escalation: warn"))
    warned = evaluate(public, ctx("2026-11-16 10:00", warn))
    [flag] = [a for a in warned.actions if a.markers and a.markers[0].kind == "public"]
    assert flag.internal and "@pat this escalation is **public**" in flag.body
    assert [f.rule for f in warned.missed] == ["confidential"]
    hidden = evaluate(escalation(confidential=True), ctx("2026-11-16 10:00"))
    assert not [a for a in hidden.actions if a.kind == "confidential"]


def test_non_staff_readers_are_a_finding() -> None:
    readers = (Member("pat", 30), Member("rory", 20), Member(BOT, 20))
    esc = escalation(confidential=True, readers=readers)
    ev = evaluate(esc, ctx("2026-11-16 10:00", staff=frozenset({"pat"})))
    [access] = [f for f in ev.missed if f.rule == "customer_access"]
    assert access.detail.endswith(": rory (Reporter)")
    assert not [
        f for f in evaluate(esc, ctx("2026-11-16 10:00")).missed if f.rule == "customer_access"
    ]


# --------------------------------------------------------------------------------------------
# Over HTTP: a scripted week, then what two customer accounts can read.

GUEST, REPORTER = 10, 20


class Customers:
    """The World (staff: pat, escbot and the ladder, all in group `ps` too), a customer with the
    Guest role and one with Reporter in acme/collab, and a PMO project in the staff group."""

    def __init__(self, sb, tmp_path) -> None:
        self.w = World(sb)
        gl = self.w.gl
        ps = gl.groups.create({"name": "ps", "path": "ps"})
        for user in self.w.users.values():
            ps.members.create({"user_id": user["id"], "access_level": 30})
        self.pmo = gl.projects.create({"name": "pmo", "path": "pmo", "namespace_id": ps.id})
        for name, level in (("dana", GUEST), ("rory", REPORTER)):
            user, token = sb.create_user(name)
            self.w.users[name], self.w.tokens[name] = user, token
            self.w.project.members.create({"user_id": user["id"], "access_level": level})
        self.policies = tmp_path / "policies.yml"
        self.policies.write_text(policy_text(("    groups: []", "    groups: [ps]")))

    def run(self, *args: str, when: str, who: str = "escbot"):
        return self.w.run(*args, "--policies", str(self.policies), who=who, when=when)

    def check(self, when: str):
        result = self.run("check", "--group", "acme", "--apply", "--format", "json", when=when)
        assert result.exit_code in (0, 1), result.output
        return json.loads(result.output)


def findings(report: dict, iid: int) -> dict[str, dict]:
    [esc] = [e for e in report["escalations"] if e["ref"] == f"acme/collab#{iid}"]
    return {f["rule"]: f for f in esc["findings"]}


@pytest.fixture(scope="module")
def week(tmp_path_factory) -> Iterator[dict]:
    """The scripted week, once for the tests that read what it left (none writes)."""
    sandbox = start_sandbox(now=SANDBOX_NOW)
    try:
        yield scripted_week(Customers(sandbox, tmp_path_factory.mktemp("week")))
    finally:
        sandbox.stop()


def scripted_week(c: Customers) -> dict:
    w, pol = c.w, ("--policies", str(c.policies))
    sev1 = w.open("2026-11-16 09:00", *pol, title="Install stalled, customer withholds payment")
    sev2 = w.open(
        "2026-11-16 09:05", *pol, "--trigger-detail", "17 days late", level="sev2", title="Late"
    )
    mail = w.sb.service_desk(
        w.project.id, "dana@acme.example", "Technician never showed up", "He did not show."
    )["iid"]
    w.at("2026-11-16 09:40")  # opened from the web UI without /confidential
    public = (
        w.as_user("pat")
        .projects.get(w.project.id)
        .issues.create(
            {
                "title": "Wrong parts",
                "description": SEV1_DESCRIPTION,
                "labels": ",".join(SEV1_LABELS),
            }
        )
        .iid
    )
    monday = c.check("2026-11-16 10:00")
    # The path to green was due Fri 30 Oct: more than two weeks late, leadership decides.
    late = w.issue(sev2).description.replace(
        "Target date for Yellow/Green: (YYYY-MM-DD)", "Target date for Yellow/Green: 2026-10-30"
    )
    w.edit(sev2, "2026-11-17 09:00", description=late)
    w.comment(sev1, "#status-update any news on the crew?", "2026-11-17 09:30", who="rory")
    w.at("2026-11-17 09:45")
    w.as_user("pat").http_post(
        f"/projects/{w.project.id}/issues/{sev1}/notes",
        post_data={"body": "## Milestone progress\nCrew booked. #blockers none", "internal": True},
    )
    tuesday = c.check("2026-11-17 10:00")
    for day in ("2026-11-18 10:00", "2026-11-19 10:00"):
        c.check(day)
    w.edit(sev1, "2026-11-20 09:00", add_labels="phase::resolution")
    c.check("2026-11-20 09:30")
    w.tick(sev1, "## Close-out checklist", "2026-11-20 10:00")
    c.check("2026-11-20 10:30")
    refused = c.run("report", "--group", "acme", "--post", w.path, when="2026-11-20 16:00")
    posted = c.run("report", "--group", "acme", "--post", "ps/pmo", when="2026-11-20 16:00")
    triage = c.run("triage", "--group", "acme", when="2026-11-20 16:30")
    return dict(
        c=c, sev1=sev1, sev2=sev2, mail=mail, public=public, monday=monday, tuesday=tuesday,
        refused=refused, posted=posted, triage=triage,
    )  # fmt: skip


def test_the_week_keeps_everything_internal_but_the_acknowledgement(week: dict) -> None:
    c, w = week["c"], week["c"].w
    project = w.gl.projects.get(w.project.id)
    issues = project.issues.list(state="all", get_all=True)
    assert len(issues) == 9  # 4 escalations (one e-mailed, one opened public), 4 RAID, 1 retro
    assert all(i.confidential for i in issues)  # the public one too, since Monday's run
    labels = {lab for i in issues for lab in i.labels}
    assert {"raid-register", "retrospective"} <= labels
    bot_notes = [
        (i.iid, n)
        for i in issues
        for n in i.notes.list(get_all=True)
        if n.author["username"] == "escbot" and not n.system
    ]
    kinds = {m.kind for _, n in bot_notes for m in find_markers(n.body)}
    assert {"ack", "remind", "promote", "rag", "closeout", "complete", "raid-final"} <= kinds
    rungs = {
        m.get("rung") for _, n in bot_notes for m in find_markers(n.body) if m.kind == "remind"
    }
    assert {"0", "1", "2"} <= rungs  # reminders and ladder mentions, all internal
    public = [(iid, n.body) for iid, n in bot_notes if not n.internal]
    assert [(iid, "<!-- escbot:ack -->" in body) for iid, body in public] == [(week["mail"], True)]
    # The briefing: refused in the customer project, confidential in the PMO's.
    assert week["refused"].exit_code == 2
    assert (
        "not posting the PMO briefing in acme/collab: it holds escalations"
        in week["refused"].output
    )
    assert week["posted"].exit_code == 0, week["posted"].output
    [briefing] = c.pmo.issues.list(labels=["pmo-briefing"], get_all=True)
    assert briefing.confidential


def test_only_staff_updates_count_and_internal_notes_do(week: dict) -> None:
    posted = [a for a in week["tuesday"]["actions"] if a["kind"] == "comment"]
    assert posted and all(a["internal"] for a in posted)  # the plan says so too
    tuesday = findings(week["tuesday"], week["sev1"])
    assert tuesday["status_update"]["missed"]  # rory's "#status-update" is a customer's
    assert tuesday["milestone_progress"]["met_at"].startswith("2026-11-17T14:45")  # internal


def test_the_guest_customer_sees_none_of_it(week: dict) -> None:
    w = week["c"].w
    dana = w.as_user("dana")
    project = dana.projects.get(w.project.id)
    assert project.issues.list(state="all", get_all=True) == []
    assert project.issues.list(search="Install", state="all", get_all=True) == []
    # GitLab's GroupPolicy lets a member of a project read its group (`has_projects`); what
    # matters is that no confidential issue shows through it.
    assert dana.groups.get("acme").issues.list(state="all", get_all=True) == []
    assert dana.issues.list(scope="all", state="all", get_all=True) == []
    for iid in range(1, 9):
        with pytest.raises(gitlab.GitlabGetError):
            project.issues.get(iid)
        with pytest.raises(gitlab.GitlabListError):
            project.issues.get(iid, lazy=True).notes.list(get_all=True)
        with pytest.raises(gitlab.GitlabListError):
            project.issues.get(iid, lazy=True).links.list(get_all=True)
    with pytest.raises(gitlab.GitlabGetError):
        dana.projects.get("ps/pmo")  # the briefing's project is not theirs


def test_the_guest_customer_sees_no_event_of_the_week(week: dict) -> None:
    w = week["c"].w
    events = w.as_user("dana").http_list(f"/projects/{w.project.id}/events", get_all=True)
    assert not [e for e in events if (e.get("author") or {}).get("username") == "escbot"]


def test_the_reporter_customer_is_reported_by_the_access_audit(week: dict) -> None:
    triage = week["triage"].output
    [line] = [line for line in triage.splitlines() if "customer-access" in line]
    assert line.startswith("acme/collab ")
    assert line.endswith(
        "rory (Reporter) is not staff and reads confidential issues and internal notes"
    )
    assert "dana" not in triage  # a Guest reads neither
    assert "give customers the Guest role in acme/collab" in triage
    monday = findings(week["monday"], week["sev1"])
    assert monday["customer_access"]["detail"].endswith(": rory (Reporter)")


def test_a_public_escalation_in_warn_mode_gets_an_internal_note_the_guest_cannot_read(
    sandbox, tmp_path
) -> None:
    c = Customers(sandbox, tmp_path)
    c.policies.write_text(
        policy_text(
            ("    groups: []", "    groups: [ps]"),
            ("public_escalation: fix", "public_escalation: warn"),
        )
    )
    w = c.w
    w.at("2026-11-16 09:00")
    iid = (
        w.as_user("pat")
        .projects.get(w.project.id)
        .issues.create(
            {
                "title": "Wrong parts",
                "description": SEV1_DESCRIPTION,
                "labels": ",".join(SEV1_LABELS),
            }
        )
        .iid
    )
    report = c.check("2026-11-17 10:00")
    assert findings(report, iid)["confidential"]["missed"]
    staff_view = w.notes(iid, "escbot")
    assert staff_view and all(n.internal for n in staff_view)
    assert any("escbot:public" in n.body for n in staff_view)
    dana = w.as_user("dana").projects.get(w.project.id)
    issue = dana.issues.get(iid)  # public: the Guest reads the issue itself...
    notes = issue.notes.list(get_all=True)
    # ...not escbot's notes (its system note linking the confidential RAID register aside)
    assert not [n for n in notes if n.author["username"] == "escbot" and not n.system]
    for n in staff_view:
        with pytest.raises(gitlab.GitlabGetError):
            issue.notes.get(n.id)
    triage = c.run("triage", "--group", "acme", when="2026-11-17 11:00").output
    assert "public" in triage and "not confidential: customers in the project read it" in triage
    assert "make it confidential (policy: visibility.public_escalation warn)" in triage


def test_internal_notes_leave_no_trace_for_a_guest(sandbox, tmp_path) -> None:
    c = Customers(sandbox, tmp_path)
    w = c.w
    w.at("2026-11-16 09:00")
    iid = w.as_user("pat").projects.get(w.project.id).issues.create({"title": "Public"}).iid
    w.at("2026-11-16 10:00")
    w.as_user("pat").http_post(
        f"/projects/{w.project.id}/issues/{iid}/notes",
        post_data={"body": "internal only", "internal": True},
    )
    dana = w.as_user("dana")
    assert dana.projects.get(w.project.id).issues.get(iid).user_notes_count == 0
    events = dana.http_list(f"/projects/{w.project.id}/events", get_all=True)
    assert not [e for e in events if (e.get("note") or {}).get("body") == "internal only"]


def test_a_link_to_a_confidential_issue_leaves_no_system_note_for_a_guest(sandbox) -> None:
    w = World(sandbox)
    user, token = sandbox.create_user("dana")
    w.tokens["dana"] = token
    w.project.members.create({"user_id": user["id"], "access_level": GUEST})
    w.at("2026-11-16 09:00")
    issues = w.as_user("pat").projects.get(w.project.id).issues
    public = issues.create({"title": "Public"})
    hidden = issues.create({"title": "Hidden", "confidential": True})
    w.as_user("pat").http_post(
        f"/projects/{w.project.id}/issues/{public.iid}/links",
        post_data={"target_project_id": w.project.id, "target_issue_iid": hidden.iid},
    )
    seen = w.as_user("dana").projects.get(w.project.id).issues.get(public.iid).notes.list()
    assert [n.body for n in seen] == []


def test_the_briefing_goes_only_where_no_customer_reads_it(sandbox, tmp_path) -> None:
    c = Customers(sandbox, tmp_path)
    w = c.w
    shared = w.gl.projects.create({"name": "shared", "namespace_id": w.group.id})
    shared.members.create({"user_id": w.users["rory"]["id"], "access_level": REPORTER})
    w.gl.projects.create({"name": "open", "namespace_id": w.group.id, "visibility": "internal"})
    for target, why in (
        ("acme/shared", "non-staff members can read it: rory"),
        ("acme/open", "it is internal: accounts outside the organisation can read it"),
    ):
        refused = c.run("report", "--group", "acme", "--post", target, when="2026-11-20 16:00")
        assert refused.exit_code == 2
        assert f"not posting the PMO briefing in {target}: {why}" in refused.output
    c.policies.write_text(
        policy_text(
            ("    groups: []", "    groups: [ps]"),
            ("pmo_project: null", "pmo_project: acme/shared"),
        )
    )
    named = c.run("report", "--group", "acme", "--post", "acme/shared", when="2026-11-20 16:00")
    assert named.exit_code == 0, named.output  # the policy's PMO project is trusted as it is
    [briefing] = shared.issues.list(labels=["pmo-briefing"])
    assert briefing.confidential


def test_triage_fix_makes_a_public_escalation_confidential(sandbox, tmp_path) -> None:
    c = Customers(sandbox, tmp_path)
    w = c.w
    w.at("2026-11-16 09:00")
    iid = (
        w.as_user("pat")
        .projects.get(w.project.id)
        .issues.create(
            {
                "title": "Wrong parts",
                "description": SEV1_DESCRIPTION,
                "labels": ",".join(SEV1_LABELS),
            }
        )
        .iid
    )
    listed = c.run("triage", "--group", "acme", when="2026-11-16 10:00").output
    assert [line.split() for line in listed.splitlines() if line.endswith("confidential")] == [
        ["fix", "make", "it", "confidential"]
    ]
    fixed = c.run("triage", "--group", "acme", "--fix", "--yes", when="2026-11-16 10:00")
    assert "Did make acme/collab#1 confidential (opened public)" in fixed.output
    assert w.issue(iid).confidential
