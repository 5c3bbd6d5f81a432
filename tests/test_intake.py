"""Intake of e-mailed escalations: classification (pure) and the scheduled check over HTTP."""

from __future__ import annotations

import pytest

from escbot.intake import classify_intake
from tests.helpers import World, policy

POLICY = policy()

# (title, body, sender, (type, category, account type, a word of the evidence)); account type
# None: unknown, never the default.
CASES = [
    (
        "no-show",
        "Technician never showed up",
        "We waited all morning at the Dallas yard; the technician did not show.",
        "jane@acme.example",
        ("customer", "technician-no-show", "fixed", "never showed"),
    ),
    (
        "tracking",
        "Where is our equipment?",
        "Can you send the tracking number? The cameras were due last week.",
        "ops@globex.example",
        ("customer", "shipping-delay", "mobile", "tracking number"),
    ),
    (
        "wrong part",
        "Wrong part delivered",
        "The box contained the WRONG PART: we ordered 4 PTZ mounts and got wall brackets.",
        "site.lead@acme.example",
        ("customer", "incorrect-shipment", "fixed", "wrong part"),
    ),
    (
        "invoice",
        "Invoice INV-2231 is double",
        "We were overcharged for the November service period.",
        "ap@acme.example",
        ("internal", "accounting-to-pm", "fixed", "invoice"),
    ),
    (
        "invoice from accounting: the role decides, the named customer gives the account",
        "Credit memo for Globex",
        "Please confirm the credit memo before month end.",
        "kim@accounting.provigil.example",
        ("internal", "accounting-to-pm", "mobile", "credit memo"),
    ),
    (
        "warranty",
        "Warranty claim for the Houston site",
        "One of the poles installed three weeks ago is leaning; this should be under warranty.",
        "facilities@globex.example",
        ("warranty", "warranty-30-day", "mobile", "warranty claim"),
    ),
    (
        "outage reported by a customer is a 30-day warranty issue",
        "Cameras down at lot 4",
        "All four cameras at lot 4 went offline at 02:00 and are still down.",
        "noc@acme.example",
        ("warranty", "warranty-30-day", "fixed", "offline"),
    ),
    (
        "outage detected by device monitoring",
        "[Pro-Fit] Device offline: ACM-LOT-4",
        "Camera 4 at Acme lot 4 stopped reporting at 02:00.",
        "alerts@monitoring.provigil.example",
        ("warranty", "monitoring-outage", "fixed", "device offline"),
    ),
    (
        "didn't show, curly apostrophe; unknown sender: account type unknown",
        "Appointment missed",
        "The installer didn\u2019t show and nobody called us.",
        "someone@unknown.example",
        ("customer", "technician-no-show", None, "did not show"),
    ),
]


@pytest.mark.parametrize(
    "title,body,sender,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_classify_intake(title: str, body: str, sender: str, expected: tuple) -> None:
    result = classify_intake(title, body, sender, POLICY)
    type_, category, account, word = expected
    assert (result.type, result.category, result.account_type) == (type_, category, account)
    assert word in result.rules and result.is_escalation
    assert result.ok == (account is not None)
    if account is None:
        assert result.problem == (
            "account type unknown (sender unknown.example not in the customer directory, "
            "and the mail names no customer)"
        )


def test_words_inside_other_words_are_not_evidence() -> None:
    result = classify_intake(
        "Reinstall is needed?", "Our uninstall isn't done.", "x@acme.example", POLICY
    )
    assert result.problem == "no category has enough evidence" and not result.ok
    assert result.category is None and result.type is None


def test_split_evidence_names_the_competing_categories() -> None:
    result = classify_intake(
        "Technician no-show and still no tracking number",
        "Nobody came and the parts are backordered.",
        "jane@acme.example",
        POLICY,
    )
    assert not result.ok and result.category is None
    assert result.problem == (
        "the evidence is split: technician-no-show 7.0 vs shipping-delay 7.0 "
        "(the best must score 1.5 times the next)"
    )
    assert result.rules[:2] == ("technician-no-show 7.0", "shipping-delay 7.0")
    assert any(
        r.startswith('technician-no-show 7.0: "no show" (subject, +3.0)') for r in result.reasons
    )


def test_nothing_matching_says_so_and_the_account_type_is_not_defaulted() -> None:
    result = classify_intake("Hello", "Please call me back.", "bob@elsewhere.example", POLICY)
    assert result.problem == "no category has enough evidence"
    assert result.account_type is None
    assert result.reasons == (
        "sender: customer",
        "account type unknown: sender elsewhere.example not in the customer directory, and "
        "the mail names no customer",
    )


def test_known_customer_and_reasons() -> None:
    result = classify_intake(
        "Install stalled", "The install has stopped.", "a@globex.example", POLICY
    )
    assert result.customer == "Globex Rentals" and result.account_type == "mobile"
    assert result.reasons[0] == "install-issue scored 4.0, next technician-no-show 2.0"
    assert result.reasons[-1] == (
        "account type mobile: customer directory: globex.example is Globex Rentals"
    )
    assert (result.level, result.severity) == ("sev1", "high")


def test_non_escalations_are_recognised_and_never_classified() -> None:
    result = classify_intake(
        "Automatic reply: Technician never showed up",
        "I am out of the office until Monday.",
        "jane@acme.example",
        POLICY,
    )
    assert result.kind == "auto-reply" and not result.is_escalation and not result.ok
    assert result.reasons[0] == 'auto-reply: the subject says "automatic reply"'


# --------------------------------------------------------------------------------------------
# Over HTTP: the scheduled check acknowledges once; what it cannot classify waits for a person.


@pytest.fixture
def world(sandbox) -> World:
    return World(sandbox)


def test_check_acknowledges_once_across_two_apply_runs(world: World) -> None:
    world.at("2026-11-23 09:20")
    iid = world.sb.service_desk(
        world.project.id,
        "jane@globex.example",
        "Technician never showed up",
        "We waited all morning; the technician did not show.",
    )["iid"]
    first = world.run("check", "--project", world.path, "--apply", when="2026-11-23 09:45")
    assert first.exit_code == 0, first.output
    assert (
        "Did acknowledge acme/collab#1 to jane@globex.example: Technician no-show (mobile), "
        "owner @mobile.pm" in first.output
    )
    second = world.run("check", "--project", world.path, "--apply", when="2026-11-23 10:30")
    assert second.exit_code == 0, second.output
    acks = [n for n in world.notes(iid, "escbot") if "<!-- escbot:ack -->" in n.body]
    assert len(acks) == 1
    ack = acks[0]
    assert not ack.internal  # public: Service Desk e-mails it to the sender
    assert (
        "**Who is dealing with it:** @mobile.pm, the project manager for Globex Rentals" in ack.body
    )
    assert (
        "**What we understood:** Customer escalation — Technician no-show (Technician missed "
        "the scheduled appointment)." in ack.body
    )
    assert "**When you will hear from us:** by Tue 24 Nov 09:45 EST at the latest." in ack.body
    # Nothing internal reaches the customer: not the rest of the ladder, not the severity.
    for internal in ("mobile.qa", "mobile.manager", "severity", "high", "matched", "rule"):
        assert internal not in ack.body.lower(), internal
    issue = world.issue(iid)
    assert sorted(issue.labels) == [
        "account::mobile", "category::technician-no-show", "escalation", "escalation::sev1",
        "phase::initiation", "rag::red", "severity::high", "type::customer",
    ]  # fmt: skip
    assert [a["username"] for a in issue.assignees] == ["mobile.pm"]
    assert issue.due_date == "2026-11-24"
    labels = {lab.name: lab.color for lab in world.project.labels.list(get_all=True)}
    assert labels["category::technician-no-show"] == "#7f8c8d"  # created with the policy colour


def test_unclassified_intake_is_labelled_needs_triage_with_the_reason(world: World) -> None:
    world.at("2026-11-23 09:20")
    iid = world.sb.service_desk(
        world.project.id,
        "jane@acme.example",
        "Technician no-show, and no tracking number either",
        "Nobody came and the parts are backordered.",
    )["iid"]
    late = world.run("check", "--project", world.path, "--apply", when="2026-11-23 10:45")
    assert late.exit_code == 1, late.output
    assert (
        "missed  acme/collab#1 intake: Intake classification due since Mon 23 Nov 09:20 EST "
        "(the evidence is split: technician-no-show 7.0 vs shipping-delay 7.0 (the best must "
        "score 1.5 times the next))"
    ) in late.output
    world.run("check", "--project", world.path, "--apply", when="2026-11-23 11:45")
    [note] = world.notes(iid, "escbot")
    assert note.internal  # never e-mailed to the sender
    assert (
        "escbot could not classify this e-mailed escalation, so it has not been acknowledged: "
        "**the evidence is split: technician-no-show 7.0 vs shipping-delay 7.0 (the best must "
        "score 1.5 times the next)**"
    ) in note.body
    issue = world.issue(iid)
    assert issue.labels == ["needs-triage"] and issue.assignees == []


def test_an_issue_a_person_classified_is_left_alone(world: World) -> None:
    world.at("2026-11-23 09:20")
    iid = world.sb.service_desk(
        world.project.id, "jane@acme.example", "Technician no-show", "Nobody came."
    )["iid"]
    world.edit(iid, "2026-11-23 09:25", who="pat", add_labels="type::internal")
    world.run("check", "--project", world.path, "--apply", when="2026-11-23 10:45")
    assert world.notes(iid, "escbot") == []
    assert world.issue(iid).labels == ["type::internal"]


def test_run_intake_plans_then_applies(world: World) -> None:
    from datetime import datetime

    from escbot.check import run_intake
    from escbot.gitlab_io import GitLab

    world.at("2026-11-23 09:20")
    world.sb.service_desk(world.project.id, "a@acme.example", "Invoice is wrong", "Overcharged.")
    world.sb.service_desk(world.project.id, "b@acme.example", "Hello", "Call me.")
    api = GitLab(world.sb.gitlab(token=world.tokens["escbot"]))
    scope = ("project", api.project(world.path))
    now = datetime.fromisoformat(world.at("2026-11-23 10:00"))
    plan = run_intake(api, scope, POLICY, now, apply=False)
    assert [a.describe() for a in plan.actions] == [
        "Would assign @fixed.pm and set due date 2026-11-24 and add the tracking sections on acme/collab#1",
        "Would acknowledge acme/collab#1 to a@acme.example: Accounting to PM (fixed), "
        "owner @fixed.pm",
        # Level and severity follow the category: a billing question is Sev2/medium.
        "Would label acme/collab#1 as an escalation: escalation, escalation::sev2, "
        "severity::medium, type::internal, category::accounting-to-pm, account::fixed, "
        "rag::red, phase::initiation",
        "Would post an internal note on acme/collab#2: needs triage (no category has enough "
        "evidence)",
        "Would label acme/collab#2 needs-triage",
    ]
    done = run_intake(api, scope, POLICY, now, apply=True)
    assert [o.status for o in done.outcomes] == ["done"] * 5 and done.errors == []
    assert run_intake(api, scope, POLICY, now, apply=True).actions == []


def test_auto_replies_and_bounces_are_labelled_and_never_acknowledged(world: World) -> None:
    world.at("2026-11-23 09:20")
    ooo = world.sb.service_desk(
        world.project.id,
        "jane@acme.example",
        "Automatic reply: Technician never showed up",
        "I am out of the office until Monday. Nobody came? Call Tom.",
    )["iid"]
    bounce = world.sb.service_desk(
        world.project.id,
        "MAILER-DAEMON@mx.acme.example",
        "Undelivered Mail Returned to Sender",
        "Your message could not be delivered. > Nobody came and we will cancel the contract.",
    )["iid"]
    for when in ("2026-11-23 10:45", "2026-11-23 11:45"):
        result = world.run("check", "--project", world.path, "--apply", when=when)
        assert result.exit_code == 0, result.output
    for iid in (ooo, bounce):
        assert world.notes(iid, "escbot") == []
        issue = world.issue(iid)
        assert issue.labels == ["not-an-escalation"] and issue.assignees == []


def test_triage_note_shows_the_evidence_and_an_unknown_account_is_asked_for(world: World) -> None:
    world.at("2026-11-23 09:20")
    iid = world.sb.service_desk(
        world.project.id,
        "pat.quinn@bluebird.example",
        "Crew never came",
        "We were scheduled for an install today and the crew never came.",
    )["iid"]
    world.run("check", "--project", world.path, "--apply", when="2026-11-23 10:45")
    [note] = world.notes(iid, "escbot")
    assert note.internal
    assert (
        "**account type unknown (sender bluebird.example, project acme/collab not in the "
        "customer directory, and the mail names no customer)**" in note.body
    )
    assert "- technician-no-show scored 10.0, next install-issue 3.0" in note.body
    assert '- technician-no-show 10.0: "never came" (subject, +3.0), "crew"' in note.body
    assert world.issue(iid).labels == ["needs-triage"]
