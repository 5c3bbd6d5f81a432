"""E-mailed escalations (GitLab Service Desk): what they are about and who owns them (pure).

    result = classify_intake(title, description, sender, policy)
    ev = escbot.rules.intake.intake_rule(esc, ctx)                  # a plan of actions
    run = escbot.check.run_intake(api, scope, policy, now, apply=True)

An intake issue is an open issue authored by `policy.intake.author` (GitLab's support-bot)
that does not carry the escalation marker label yet. Classification uses `intake.rules`
(keywords in the subject and body, case-insensitive, whole words) and `intake.senders`
(substrings of the sender's address); the account type comes from the sender's domain
(`intake.customers`), else the routing default, and the result says which. Nothing is guessed:
no match, or matches naming different categories, is a `problem` and the issue is labelled
`needs-triage` with an internal note (internal, so Service Desk does not e-mail it).

A classified issue gets, in this order (each step idempotent, so a half-done run is finished by
the next one): the routed PM as assignee and the Phase 1 deadline as due date (action kind
"assign", handled here and registered with the check's applier), the acknowledgement (a public
note, which Service Desk e-mails to the sender; hidden marker `escbot:ack`, posted once), then
the escalation labels. Once the labels are on, the issue is an escalation like any other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from escbot.model import Escalation
from escbot.opening import escalation_labels
from escbot.policies import IntakeRule, Policy

# --------------------------------------------------------------------------------------------
# Classification (pure).


@dataclass(frozen=True)
class IntakeResult:
    type: str | None
    category: str | None
    account_type: str
    customer: str | None  # the customer's name from intake.customers, if the domain is known
    rules: tuple[str, ...]  # names of the rules (and sender rules) that matched
    reasons: tuple[str, ...]  # how each part of the result was reached, for people
    problem: str | None = None  # why nothing was classified (no match, overlap)

    @property
    def ok(self) -> bool:
        return self.problem is None and self.category is not None


def _normalise(text: str) -> str:
    return text.replace("\u2019", "'").replace("\u2018", "'").lower()


def _keyword(word: str) -> re.Pattern[str]:
    """A keyword as a whole-word pattern; spaces and hyphens inside it are interchangeable."""
    parts = [re.escape(p) for p in re.split(r"[\s\-]+", _normalise(word).strip()) if p]
    body = r"[\s\-]+".join(parts)
    return re.compile(r"(?<![\w])" + body + r"(?![\w])")


def _rule_hits(rule: IntakeRule, text: str) -> list[str]:
    return [word for word in rule.match if _keyword(word).search(text)]


def sender_domain(sender: str | None) -> str:
    address = (sender or "").strip().lower()
    if "<" in address and ">" in address:
        address = address[address.index("<") + 1 : address.index(">")]
    return address.rsplit("@", 1)[1].strip() if "@" in address else ""


def classify_intake(
    title: str, description: str, sender: str | None, policy: Policy
) -> IntakeResult:
    """What an e-mailed escalation is about, and who owns it; never a silent guess."""
    intake = policy.intake
    text = _normalise(f"{title}\n{description or ''}")
    address = (sender or "").strip().lower()
    matched: list[IntakeRule] = []
    reasons: list[str] = []
    for rule in intake.senders:
        hits = [m for m in rule.match if m in address]
        if hits:
            matched.append(rule)
            reasons.append(f'sender rule "{rule.name}" matched "{hits[0]}" in {address}')
    for rule in intake.rules:
        hits = _rule_hits(rule, text)
        if hits:
            matched.append(rule)
            words = ", ".join(f'"{h}"' for h in hits)
            reasons.append(f'rule "{rule.name}" matched {words}')

    domain = sender_domain(address)
    customer = None
    known = next(
        (c for d, c in intake.customers.items() if domain == d or domain.endswith("." + d)), None
    )
    if known is not None:
        account_type, customer = known.account_type, known.name
        reasons.append(f"account type {account_type}: {known.name} ({known.domain})")
    else:
        account_type = policy.routing.default_account_type
        reasons.append(
            f"account type {account_type}: the default (sender domain "
            f"{domain or 'unknown'} is not in intake.customers)"
        )

    names = tuple(r.name for r in matched)
    categories = list(dict.fromkeys(r.category for r in matched))
    problem = None
    type_ = category = None
    if not matched:
        problem = "no intake rule matched the subject, the body or the sender"
    elif len(categories) > 1:
        problem = "rules overlap: " + ", ".join(f"{r.name} ({r.category})" for r in matched)
    else:
        types = list(dict.fromkeys(r.type for r in matched))
        if len(types) > 1:
            problem = "rules overlap: " + ", ".join(f"{r.name} (type {r.type})" for r in matched)
        else:
            type_, category = types[0], categories[0]
    return IntakeResult(type_, category, account_type, customer, names, tuple(reasons), problem)


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
    assert result.type and result.category
    return escalation_labels(
        policy,
        level=policy.intake.level,
        severity=policy.intake.severity,
        type_=result.type,
        category=result.category,
        account_type=result.account_type,
    )


def phase1_due(esc: Escalation, policy: Policy) -> datetime:
    return policy.calendar.add(esc.created_at, policy.initiation.within)
