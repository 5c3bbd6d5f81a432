"""escbot.classifier, part by part: text out of any mail, stripping, normalisation, scoring,
roles, account types, non-escalations, bad input. Pure: no GitLab."""

from __future__ import annotations

import pytest

from escbot.classifier import Email, classify, mail_text, normalise, split_mail
from escbot.policies import PolicyError, parse_policy
from tests.helpers import policy, policy_text

POLICY = policy()


def decide(subject: str, body: str | bytes = "", sender: str = "jane@acme.example", **kw):
    return classify(Email(subject, body, sender, **kw), POLICY)


# --------------------------------------------------------------------------------------------
# Stripping replies, forwards and signatures.


def test_reply_below_on_wrote_is_quoted() -> None:
    parts = split_mail(
        "Still nobody here.\n\nOn Fri, Nov 20, 2026 at 4:12 PM Scheduling <s@x.example> wrote:\n"
        "> Your install is booked for Monday.\n> Thanks"
    )
    assert parts.new == "Still nobody here."
    assert parts.quoted.splitlines()[1:] == ["Your install is booked for Monday.", "Thanks"]
    assert parts.forwarded == ""


@pytest.mark.parametrize(
    "marker",
    [
        "-----Original Message-----",
        "________________________________",
        "From: Scheduling <s@x.example>\nSent: Friday, November 20, 2026 4:12 PM",
        "Le ven. 20 nov. 2026 à 16:12, Scheduling <s@x.example> a écrit :",
        "El vie, 20 nov 2026 a las 16:12, Scheduling escribió:",
        "Am 20.11.2026 um 16:12 schrieb Scheduling <s@x.example>:",
    ],
)
def test_reply_markers_in_several_mail_clients_and_languages(marker: str) -> None:
    parts = split_mail(f"The cameras are not here.\n\n{marker}\nInvoice attached.")
    assert parts.new == "The cameras are not here."
    assert "Invoice attached." in parts.quoted


def test_forwarded_mail_is_its_own_zone_and_the_fw_subject_says_so() -> None:
    text = "FYI see below.\n\n---------- Forwarded message ---------\nFrom: a@b\nNobody came."
    assert split_mail(text).forwarded.endswith("Nobody came.")
    outlook = "Please own this.\n\n-----Original Message-----\nFrom: a@b\nNobody came."
    assert split_mail(outlook, "FW: complaint").forwarded.endswith("Nobody came.")
    assert split_mail(outlook, "RE: complaint").forwarded == ""


def test_signatures_closings_and_phone_footers_are_not_new_text() -> None:
    parts = split_mail(
        "The recorder is not recording.\n\nBest regards,\nRobert Hale\nInvoice questions: ap@x\n"
    )
    assert parts.new == "The recorder is not recording."
    assert parts.signature.startswith("Best regards,")
    assert split_mail("Nobody came.\n--\nJane\nShipping dept").new == "Nobody came."
    assert split_mail("Nobody came.\nSent from my iPhone").new == "Nobody came."
    # A thank-you that is the message itself is kept.
    assert split_mail("Thank you, the crew came this morning.").new.startswith("Thank you")


def test_quoted_words_do_not_decide() -> None:
    d = decide(
        "RE: Houston",
        "The shipment was due Friday and there is no tracking info.\n\n"
        "On Thu, Nov 19, 2026 PM Team <pm@x.example> wrote:\n"
        "> The installation is scheduled. If the installer has an installation problem he will "
        "call you. Install is booked, technician assigned.",
    )
    assert d.category == "shipping-delay" and not d.needs_triage
    assert all(e.zone != "quoted" or abs(e.score) < 1 for e in d.evidence)


# --------------------------------------------------------------------------------------------
# Text out of whatever arrived; normalisation.


def test_html_only_mail_becomes_text_and_blockquotes_are_quoted() -> None:
    email = Email(
        "",
        "<html><head><style>p{}</style></head><body><p>Wrong&nbsp;model received.</p>"
        "<blockquote><p>Your install is booked</p></blockquote></body></html>",
    )
    text, notes = mail_text(email)
    parts = split_mail(text)
    assert parts.new == "Wrong model received." and parts.quoted == "Your install is booked"
    assert notes == []


def test_bytes_in_a_declared_unknown_or_wrong_charset_never_fail() -> None:
    latin = "Technicien absent, problème d'installation".encode("latin-1")
    text, notes = mail_text(
        Email(body=latin, headers={"Content-Type": "text/plain; charset=latin-1"})
    )
    assert "problème" in text and notes == []
    text, notes = mail_text(
        Email(body=latin, headers={"content-type": "text/plain; charset=x-klingon"})
    )
    assert notes == [
        "unknown charset 'x-klingon': read as UTF-8",
        "body is not UTF-8: read as Windows-1252",
    ]
    assert "probl" in text
    assert decide("Nobody came", b"\xff\xfe\x00garbage\x81").category == "technician-no-show"


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("Didn't SHOW", "did not show"),
        ("didn\u2019t show", "did not show"),
        ("didnt show, wont pay", "did not show will not pay"),
        ("Instalación técnica", "instalacion tecnica"),
        ("Mit freundlichen Grüßen", "mit freundlichen grussen"),
        ("no-show!!!", "no show"),
    ],
)
def test_normalise(raw: str, expected: str) -> None:
    assert normalise(raw) == expected


# --------------------------------------------------------------------------------------------
# Scoring.


@pytest.mark.parametrize(
    "subject,body,category",
    [
        ("tecnician didnt show", "waited all morning", "technician-no-show"),  # misspelt, no '
        ("instalation problems", "the instalation is a mess", "install-issue"),
        ("Shipmnet delayed", "still havent recieved anything", "shipping-delay"),
        ("Got the wrong camera model", "", "incorrect-shipment"),  # one word inside a phrase
        ("Warrenty claim", "camera stopped working after completion", "warranty-30-day"),
    ],
)
def test_misspellings_stems_and_gaps(subject: str, body: str, category: str) -> None:
    d = decide(subject, body)
    assert (d.category, d.needs_triage) == (category, False), d.explain()


def test_the_commonest_mail_commits_instead_of_going_to_triage() -> None:
    d = decide("Technician did not show up for the scheduled installation", "")
    assert d.category == "technician-no-show" and d.type == "customer" and not d.needs_triage
    assert d.scores[0][0] == "technician-no-show" and d.scores[0][1] >= 1.5 * d.scores[1][1]
    assert d.reason.startswith("technician-no-show scored")


def test_split_evidence_goes_to_triage_naming_both() -> None:
    d = decide("Late and the wrong model", "The order arrived two weeks late with the wrong model.")
    assert d.needs_triage and d.category is None
    assert d.reason.startswith("the evidence is split: ")
    assert {"shipping-delay", "incorrect-shipment"} <= {c for c, _ in d.scores[:2]}


def test_words_against_lower_a_category() -> None:
    d = decide("Camera down after install", "Under warranty: it stopped working last week.")
    assert d.category == "warranty-30-day"
    assert any(e.category == "install-issue" and e.score < 0 for e in d.evidence)


def test_level_and_severity_follow_the_category_and_sev1_triggers_raise_them() -> None:
    billing = decide("Invoice question", "We were billed twice this month.")
    assert (billing.category, billing.level, billing.severity) == (
        "accounting-to-pm",
        "sev2",
        "medium",
    )
    angry = decide("Nobody came again", "Third no-show. We will cancel the contract.")
    assert (angry.category, angry.level, angry.severity) == (
        "technician-no-show",
        "sev1",
        "critical",
    )
    assert "Sev1 trigger" in angry.explain()[-1]
    exec_ = decide("Shipment 6 weeks late", "I want your CEO on a call.")
    assert exec_.severity == "critical"
    # An appointment being cancelled is not a customer cancelling the contract.
    calm = decide(
        "Appointment cancelled", "Our installation appointment was cancelled, nobody came."
    )
    assert calm.severity == "high"


# --------------------------------------------------------------------------------------------
# Who sent it, and the account type.


def test_staff_directory_roles_decide_internal_types() -> None:
    cs = decide("Acme unhappy", "Please call them.", "maria@cs.provigil.example")
    assert (cs.sender_role, cs.type, cs.category) == ("customer-success", "internal", "cs-to-pm")
    tm = decide("Nobody came at Globex", "Any update?", "dana.reyes@provigil.example")
    assert (tm.sender_role, tm.category) == ("territory-manager", "territory-to-pm")
    assert tm.account_type == "mobile" and tm.account_source == "the mail names Globex Rentals"
    # Customer Success chasing a warranty repair: the topic beats the role.
    late = decide(
        "Warranty repair overdue",
        "Ticket open for three weeks, still not fixed.",
        "m@cs.provigil.example",
    )
    assert (late.type, late.category) == ("warranty", "warranty-delay")


def test_monitoring_alerts_are_automated_but_still_escalations() -> None:
    d = decide(
        "[Pro-Fit] Device offline: ACM-01",
        "Heartbeat lost.",
        "alerts@monitoring.provigil.example",
        headers={"Auto-Submitted": "auto-generated"},
    )
    assert (d.kind, d.type, d.category) == ("escalation", "warranty", "monitoring-outage")


@pytest.mark.parametrize(
    "sender,project,body,account,source",
    [
        (
            "a@globex.example",
            "customers/acme",
            "",
            "mobile",
            "customer directory: globex.example is Globex Rentals",
        ),
        (
            "a@sub.acme.example",
            None,
            "",
            "fixed",
            "customer directory: sub.acme.example is Acme Logistics",
        ),
        (
            "a@gmail.example",
            "customers/hooli",
            "",
            "mobile",
            "project customers/hooli belongs to Hooli Equipment Yards",
        ),
        (
            "a@gmail.example",
            None,
            "Our Umbrella north lot.",
            "fixed",
            "the mail names Umbrella Auto Group",
        ),
        ("a@gmail.example", None, "Our solar trailer.", "mobile", 'the mail says "solar trailer"'),
        (
            "a@gmail.example",
            None,
            "Acme and Globex sites.",
            None,
            "the mail names several customers (Acme Logistics, Globex Rentals)",
        ),
        (
            "a@gmail.example",
            "other/project",
            "",
            None,
            "sender gmail.example, project other/project not in the customer directory, and the mail names no customer",
        ),
    ],
)
def test_account_type_sources_and_never_a_default(
    sender: str, project: str | None, body: str, account: str | None, source: str
) -> None:
    d = decide("Nobody came", body, sender, project=project)
    assert (d.account_type, d.account_source) == (account, source)


# --------------------------------------------------------------------------------------------
# Not escalations.


@pytest.mark.parametrize(
    "subject,body,sender,headers,kind",
    [
        (
            "Re: Nobody came",
            "Back Monday.",
            "jane@acme.example",
            {"Auto-Submitted": "auto-replied"},
            "auto-reply",
        ),
        ("Out of Office: Nobody came", "", "jane@acme.example", {}, "auto-reply"),
        (
            "Nobody came",
            "I am out of the office until Monday.",
            "jane@acme.example",
            {},
            "auto-reply",
        ),
        ("Undeliverable: Shipment late", "", "postmaster@acme.example", {}, "bounce"),
        ("Returned", "", "MAILER-DAEMON@mx.example", {}, "bounce"),
        (
            "Failure",
            "",
            "x@y.example",
            {"Content-Type": "multipart/report; report-type=delivery-status"},
            "bounce",
        ),
        (
            "Shipping delays? Never again",
            "Our news.",
            "deals@vendor.example",
            {"List-Unsubscribe": "<mailto:u@v>"},
            "newsletter",
        ),
        (
            "Weekly digest",
            "This week: five tips. Unsubscribe.",
            "digest@vendor.example",
            {},
            "newsletter",
        ),
        (
            "RE: Nobody came",
            "Thanks, the technician came this morning.",
            "jane@acme.example",
            {},
            "thanks",
        ),
    ],
)
def test_non_escalations_are_recognised(
    subject: str, body: str, sender: str, headers: dict, kind: str
) -> None:
    d = decide(subject, body, sender, headers=headers)
    assert d.kind == kind and not d.is_escalation and d.category is None


def test_thanks_with_a_complaint_is_an_escalation_and_auto_submitted_no_is_a_person() -> None:
    d = decide("RE: Plano", "Thanks for the reply. But the technician still hasn't shown up.")
    assert d.is_escalation and d.category == "technician-no-show"
    d = decide("Nobody came", "We waited all day.", headers={"Auto-Submitted": "no"})
    assert d.is_escalation and d.category == "technician-no-show"


# --------------------------------------------------------------------------------------------
# Bad input: classified or triaged with a reason, never a crash.


@pytest.mark.parametrize(
    "email,reason",
    [
        (Email(), "the e-mail has no subject and no text"),
        (
            Email("", "", "x@acme.example", {"Content-Type": "multipart/mixed"}),
            "the e-mail has no subject and no text (attachments only?)",
        ),
        (Email("Scan_0001.pdf", "", "x@acme.example"), "no category has enough evidence"),
        (Email("\x00\x01", "<html></html>", "not an address"), "no category has enough evidence"),
    ],
)
def test_empty_and_attachment_only_mail_goes_to_triage(email: Email, reason: str) -> None:
    d = classify(email, POLICY)
    assert d.needs_triage and d.reason == reason and d.category is None


def test_a_1mb_body_is_read_up_to_a_bound() -> None:
    body = "The technician did not show up. " + "Lorem ipsum dolor sit amet, invoice. " * 30_000
    d = decide("Nobody came", body)
    assert len(body) > 1_000_000
    assert d.notes == (f"body of {len(body):,} characters: only the first 200,000 were read",)
    assert d.category == "technician-no-show" or d.needs_triage


# --------------------------------------------------------------------------------------------
# The vocabulary is validated like the rest of policies.yml.


@pytest.mark.parametrize(
    "old,new,error",
    [
        (
            "monitoring: {default: monitoring-outage, automated: true}",
            "monitoring: {default: monitoring-outage, categories: [outage], automated: true}",
            'intake.roles.monitoring.categories[0]: expected a category of intake.categories, got "outage"',
        ),
        (
            "      phrases:\n        3: [no show,",
            "      phrases:\n        -1: [no show,",
            "intake.categories.technician-no-show.phrases.-1: expected a positive number (a weight), got -1",
        ),
        (
            "provigil.example: staff",
            "provigil.example: staffer",
            'intake.staff.provigil.example: expected a role of intake.roles, got "staffer"',
        ),
        (
            "Globex Rentals: {account_type: mobile,",
            "Globex Rentals: {account_type: moble,",
            'intake.customers.Globex Rentals.account_type: expected a account_type value, got "moble" (did you mean "mobile"?)',
        ),
    ],
)
def test_vocabulary_mistakes_name_the_key(old: str, new: str, error: str) -> None:
    with pytest.raises(PolicyError) as exc:
        parse_policy(policy_text((old, new)))
    assert error in str(exc.value)
