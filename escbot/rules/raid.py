"""An escalation opened without `escbot new` (from GitLab's web template) gets its RAID
register from the scheduled run: created once, linked, named on the escalation's Links line.
So does one whose register was left half-made (`escbot new` or a run cut short): a register
created but not linked, or a Links line still waiting for it, is finished the same way."""

from __future__ import annotations

from datetime import timedelta

from escbot.description import field as description_field
from escbot.model import Context, Escalation, classify
from escbot.opening import Choice, choice, clean_title, pending_raid_line, raid_marker
from escbot.plan import Action, Evaluation

# `escbot new` creates the register seconds after the escalation; give it time to finish.
RAID_GRACE = timedelta(minutes=10)


def raid_rule(esc: Escalation, ctx: Context) -> Evaluation:
    """Plan the RAID register for an open escalation that has none (opened from a template),
    or whose Links line still waits for it."""
    ev = Evaluation(esc.ref)
    policy = ctx.policy
    cls = classify(esc.labels, policy)
    pending = pending_raid_line(esc.description)
    if (
        esc.state != "opened"
        or cls.level is None
        or (esc.raid is not None and pending is None)
        or ctx.now - esc.created_at < RAID_GRACE
    ):
        return ev
    category = cls["category"]
    dri = next((u for u in esc.assignees if u != ctx.bot), None)
    mark = raid_marker(esc.project_id, esc.iid)
    body = policy.render(
        "raid.md",
        marker=mark.render(),
        escalation_ref=f"#{esc.iid}",
        title=esc.title,
        customer=description_field(esc.description, "Customer") or "customer not named",
        dri=dri,
        opened=policy.calendar.local(ctx.now).date().isoformat(),
        category=choice(policy.labels["category"], category)
        if category
        else Choice("", "", "Escalation issue", ""),
        trigger_detail=None,
    )
    ev.actions.append(
        Action(
            "create_raid",
            esc.project_id,
            esc.iid,
            esc.ref,
            f"create the RAID register for {esc.ref} (opened without one) and link it"
            if esc.raid is None
            else f"link RAID register {esc.raid.reference} to {esc.ref} and name it in Links",
            "raid",
            body=body,
            markers=(mark,),
            data={
                "title": clean_title(f"RAID register: {esc.title}"),
                "labels": [policy.process.labels.raid_register],
                "assignees": [dri] if dri else [],
                "links_line": pending,
            },
        )
    )
    return ev
