"""E-mailed escalations (GitLab Service Desk): classify, route and acknowledge.

    result = classify_intake(title, description, sender, policy)   # pure (escbot.classifier)
    ev = escbot.rules.intake.intake_rule(esc, ctx)                  # a plan of actions
    run = escbot.check.run_intake(api, scope, policy, now, apply=True)

An intake issue is an open issue authored by `policy.intake.author` (GitLab's support-bot)
that does not carry the escalation marker label yet. escbot.classifier decides what it is
about from `intake:` in the policy (scored vocabulary, the sender's role from the staff
directory, the account type from the customer directory or the project). Nothing is guessed:
split or missing evidence, or an unknown account type, is a `problem` and the issue is labelled
`needs-triage` with an internal note (internal, so Service Desk does not e-mail it) that shows
the evidence. Auto-replies, bounces, newsletters and thank-you notes are labelled
`not-an-escalation` and never acknowledged.

A classified issue gets, in this order (each step idempotent, so a half-done run is finished by
the next one): the routed owner (the PM; QA for warranty) as assignee and the Phase 1
deadline as due date (action kind "assign"), the acknowledgement (a public note, which Service
Desk e-mails to the sender; hidden marker `escbot:ack`, posted once), then
the escalation labels. Once the labels are on, the issue is an escalation like any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from escbot.classifier import ESCALATION, Email, classify, sender_address
from escbot.model import Escalation
from escbot.opening import escalation_labels
from escbot.policies import Policy

# --------------------------------------------------------------------------------------------
# Classification (pure).


@dataclass(frozen=True)
class IntakeResult:
    type: str | None
    category: str | None
    account_type: str | None  # None: unknown, a person is asked (never a silent default)
    customer: str | None  # the customer's name from the customer directory, if known
    rules: tuple[str, ...]  # the evidence: words of the winning category, or the competitors
    reasons: tuple[str, ...]  # how each part of the result was reached, for people
    problem: str | None = None  # why nothing was classified (split or no evidence, no account)
    kind: str = ESCALATION  # or auto-reply, bounce, newsletter, thanks: never acknowledged
    level: str | None = None
    severity: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None and self.category is not None

    @property
    def is_escalation(self) -> bool:
        return self.kind == ESCALATION


def sender_domain(sender: str | None) -> str:
    address = sender_address(sender)
    return address.rsplit("@", 1)[1].strip() if "@" in address else ""


def classify_intake(
    title: str,
    description: str,
    sender: str | None,
    policy: Policy,
    *,
    project: str | None = None,
    headers: dict[str, str] | None = None,
) -> IntakeResult:
    """What an e-mailed escalation is about, and who owns it (escbot.classifier); never a
    silent guess: split or missing evidence, or an unknown account type, is a `problem`."""
    d = classify(
        Email(title or "", description or "", sender or "", headers or {}, project), policy
    )
    reasons = (
        f"sender: {d.sender_role}",
        *d.explain(),
        f"account type {d.account_type or 'unknown'}: {d.account_source}",
        *d.notes,
    )
    if not d.is_escalation:
        return IntakeResult(
            None, None, d.account_type, d.customer, (), (d.reason, *reasons), kind=d.kind
        )
    if d.needs_triage:
        competing = tuple(f"{c} {score:.1f}" for c, score in d.scores if score > 0)[:3]
        return IntakeResult(None, None, d.account_type, d.customer, competing, reasons, d.reason)
    # The words that decided (weight 2 or more), not every supporting one.
    words = [
        e.phrase if e.zone == "sender" else e.found
        for e in sorted(d.evidence, key=lambda e: -e.score)
        if e.category == d.category and e.score >= 2
    ]
    problem = None
    if d.account_type is None:
        problem = f"account type unknown ({d.account_source})"
    return IntakeResult(
        d.type,
        d.category,
        d.account_type,
        d.customer,
        tuple(dict.fromkeys(words))[:3],
        (d.reason, *reasons),
        problem,
        level=d.level,
        severity=d.severity,
    )


# --------------------------------------------------------------------------------------------
# Which issues are intake issues.


def is_intake(esc: Escalation, policy: Policy) -> bool:
    """Authored by the Service Desk bot and not (yet) an escalation."""
    return (
        policy.intake.enabled
        and esc.author == policy.intake.author
        and policy.labels.marker.name not in esc.labels
    )


def classified_by_person(esc: Escalation, policy: Policy) -> bool:
    """A person has put a label of escbot's scoped groups on it (a level, type, category, or
    even a severity or RAG value): hands off, since adding escbot's own values would replace
    theirs (scoped labels are exclusive)."""
    groups = policy.labels.groups.values()
    return any(g.is_scoped_sibling(lab) for g in groups for lab in esc.labels)


def routed(policy: Policy, account_type: str) -> dict[str, str | None]:
    """PM (the DRI), QA and team manager for an account type."""

    def one(role: str) -> str | None:
        users = policy.role_users(role, account_type)
        return users[0] if users else None

    return {"pm": one("pm"), "qa": one("qa"), "team_manager": one("team_manager")}


def intake_labels(policy: Policy, result: IntakeResult) -> tuple[str, ...]:
    """The escalation labels a classified intake issue gets."""
    assert result.type and result.category and result.account_type
    assert result.level and result.severity  # the category's, from the policy
    return escalation_labels(
        policy,
        level=result.level,
        severity=result.severity,
        type_=result.type,
        category=result.category,
        account_type=result.account_type,
    )


def phase1_due(esc: Escalation, policy: Policy) -> datetime:
    return policy.calendar.add(esc.created_at, policy.initiation.within)
