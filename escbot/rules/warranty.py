"""The warranty window (seed 004): 30 days from the completion date, counted in the policy's
calendar days; an escalation of the warranty type opened outside it is flagged for a person."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from escbot import description as desc
from escbot.markers import marker
from escbot.model import Context, Escalation, classify
from escbot.plan import Evaluation, Finding
from escbot.policies import Policy
from escbot.rules.common import act, comment, dri

COMPLETED_FIELD = "Project completed"


def warranty_window(completed: date, policy: Policy) -> datetime:
    """The end of the window: the end of day N after completion, local time."""
    last_day = completed + timedelta(days=policy.warranty.days)
    return datetime.combine(last_day + timedelta(days=1), time(0), tzinfo=policy.tz).astimezone(UTC)


def warranty_rule(esc: Escalation, ctx: Context) -> Evaluation:
    ev = Evaluation(esc.ref)
    policy = ctx.policy
    cls = classify(esc.labels, policy)
    if cls.type is None or cls.type != policy.process.warranty_type or esc.state != "opened":
        return ev
    label = policy.process.labels.out_of_warranty
    who = dri(esc, ctx)
    completed = desc.date_field(esc.description, COMPLETED_FIELD)
    if completed is None:
        m = marker("warranty", state="no-date")
        ev.findings.append(
            Finding(
                esc.ref,
                "warranty_window",
                "Warranty window",
                True,
                detail=f'no "{COMPLETED_FIELD}: YYYY-MM-DD" line in the description',
            )
        )
        if not esc.has_posted(m):
            body = policy.render(
                "reminders/warranty.md",
                esc=esc,
                state="no-date",
                completed=None,
                end=None,
                days=policy.warranty.days,
                field=COMPLETED_FIELD,
                marker=m,
                label=label,
            )
            ev.actions.append(
                comment(esc, "warranty completion date missing", "warranty", body, (m,), who)
            )
        return ev
    end = warranty_window(completed, policy)
    inside = esc.created_at < end
    day = (policy.calendar.local(esc.created_at).date() - completed).days
    ev.findings.append(
        Finding(
            esc.ref,
            "warranty_window",
            "Warranty window",
            not inside,
            due=end,
            detail=f"opened on day {day} after completion {completed.isoformat()}",
        )
    )
    if inside:
        return ev
    m = marker("warranty", state="out", completed=completed.isoformat())
    if not esc.has_posted(m):
        body = policy.render(
            "reminders/warranty.md",
            esc=esc,
            state="out",
            completed=completed.isoformat(),
            end=policy.calendar.describe(end),
            days=policy.warranty.days,
            field=COMPLETED_FIELD,
            marker=m,
            label=label,
            day=day,
        )
        ev.actions.append(
            comment(
                esc,
                f"opened on day {day}, outside the {policy.warranty.days}-day warranty",
                "warranty",
                body,
                (m,),
                who,
            )
        )
        if label not in esc.labels:
            summary = f"label {esc.ref} {label} (a person confirms)"
            ev.actions.append(act("labels", esc, summary, "warranty", add_labels=(label,)))
    return ev
