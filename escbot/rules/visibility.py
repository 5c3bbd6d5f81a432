"""What the customer can see: an escalation a person opened public is made confidential (or
flagged, per the policy), and the project's non-staff members who can read confidential issues
and internal notes (Reporter and above) are a finding, because confidentiality hides nothing
from them."""

from __future__ import annotations

from escbot.markers import marker
from escbot.model import Context, Escalation, classify
from escbot.plan import Evaluation, Finding
from escbot.policies import REPORTER
from escbot.rules.common import act, comment, dri

PUBLIC = marker("public")
PUBLIC_RULE, ACCESS_RULE = "confidential", "customer_access"
ROLES = {20: "Reporter", 30: "Developer", 40: "Maintainer", 50: "Owner"}


def role_name(access_level: int) -> str:
    best = max((level for level in ROLES if level <= access_level), default=REPORTER)
    return ROLES[best]


def visibility_rule(esc: Escalation, ctx: Context) -> Evaluation:
    ev = Evaluation(esc.ref)
    vis = ctx.policy.visibility
    if esc.state != "opened" or classify(esc.labels, ctx.policy).level is None:
        return ev
    if not esc.confidential and vis.confidential and vis.public_escalation != "off":
        fix = vis.public_escalation == "fix"
        ev.findings.append(
            Finding(
                esc.ref,
                PUBLIC_RULE,
                "Confidential escalation",
                missed=not fix,
                due=esc.created_at,
                detail="opened public: every member of the project, customers too, can read it",
            )
        )
        if fix:
            ev.actions.append(
                act("confidential", esc, f"make {esc.ref} confidential (opened public)", "public")
            )
        elif not esc.has_posted(PUBLIC):
            body = ctx.policy.render(
                "reminders/public.md", esc=esc, dri=dri(esc, ctx), marker=PUBLIC
            )
            ev.actions.append(comment(esc, "opened public", "public", body, (PUBLIC,)))
    exposed = [m for m in esc.readers or () if not ctx.is_staff(m.username)]
    if exposed:
        who = ", ".join(f"{m.username} ({role_name(m.access_level)})" for m in exposed)
        ev.findings.append(
            Finding(
                esc.ref,
                ACCESS_RULE,
                "Customer access",
                missed=True,
                due=esc.created_at,  # readable by them since it was opened
                detail=f"non-staff members read confidential issues and internal notes: {who}",
            )
        )
    return ev
