"""The leadership decision (seed 000, Sev2 step 2): escalate to Sev1, or remain in monitoring.

Escalate: ticking "Escalate to Sev 1" under "Leadership decision", or a person setting the Sev1
level label, completes the promotion: the level label swapped, the Sev1 sections the issue lacks
appended below what people wrote (never changing it), the decision label removed, and one
comment saying what changed. The Sev1 clocks start from the new level label (rules.cadence
anchor), so Phase 1 is not reported missed an hour later.

Remain in monitoring: the decision label is removed and the decision is recorded with its date
in the description (the box is unticked again, so a later proposal on new evidence gets a fresh
decision); the evidence already proposed is never proposed again (its markers stay).
"""

from __future__ import annotations

from escbot import description as desc
from escbot.markers import Marker, marker
from escbot.model import Classification, Context, Escalation, ProjectRef, classify
from escbot.opening import EscalationRequest, plan_escalation
from escbot.plan import Action, Evaluation
from escbot.rules.common import act, comment, dri

# Sections whose content differs by level: a promotion adds the new level's own.
PER_LEVEL = (desc.PHASE1, desc.TRACKING)


def decision_rule(esc: Escalation, ctx: Context) -> Evaluation:
    ev = Evaluation(esc.ref)
    policy = ctx.policy
    if esc.state != "opened":
        return ev
    cls = classify(esc.labels, policy)
    spec = policy.process.level(cls.level)
    if spec is None or cls.level is None:
        return ev
    opened = policy.process.level(esc.opened_as)
    if opened and opened.promote_to == cls.level and esc.opened_as:
        ev.actions += promote(esc, cls, esc.opened_as, cls.level, "the level label", ctx)
        return ev
    if spec.promote_to is None:
        return ev
    tasks = desc.checklist(esc.description, desc.DECISION) or []
    escalate = desc.find_task(tasks, desc.DECIDE_PROMOTE)
    monitor = desc.find_task(tasks, desc.DECIDE_MONITOR)
    if escalate and escalate.checked:
        reason = "the leadership decision in the description"
        ev.actions += promote(esc, cls, cls.level, spec.promote_to, reason, ctx)
    elif monitor and monitor.checked:
        ev.actions += remain(esc, monitor, ctx)
    return ev


def promoted_marker(source: str, target: str) -> Marker:
    return marker("promoted", frm=source, to=target)


def promote(
    esc: Escalation, cls: Classification, source: str, target: str, why: str, ctx: Context
) -> list[Action]:
    """What is still missing of a promotion, each part planned only while it is missing."""
    policy = ctx.policy
    levels = policy.labels["level"]
    decision = policy.process.labels.decision
    once = promoted_marker(source, target)
    actions: list[Action] = []
    add = () if cls.level == target else (levels.label(target),)
    remove = tuple(lab for lab in esc.labels if levels.is_scoped_sibling(lab) and lab not in add)
    remove = tuple(lab for lab in remove if levels.value_of(lab) != target)
    remove += (decision,) if decision in esc.labels else ()
    if add or remove:
        summary = f"promote {esc.ref} to {levels.values[target].title}" + (
            f" (remove {decision})" if decision in remove else ""
        )
        actions.append(
            act("labels", esc, summary, "decision", add_labels=add, remove_labels=remove)
        )
    added = _sections(esc, cls, target, ctx)
    if once not in esc.description_markers:
        text = f"\n\n{once}\n" + "".join(f"\n{head}\n{body}" for head, body in added)
        actions.append(
            Action(
                "edit_description",
                esc.project_id,
                esc.iid,
                esc.ref,
                f"append the {levels.values[target].title} sections to {esc.ref}: "
                + (", ".join(_title(h) for h, _ in added) or "none missing"),
                "decision",
                markers=(once,),
                data={"append": text.rstrip("\n") + "\n"},
            )
        )
    if not esc.has_posted(once):
        body = policy.render(
            "reminders/promoted.md",
            marker=once,
            source=levels.values[source].title,
            target=levels.values[target].title,
            target_label=levels.label(target),
            why=why,
            sections=[_title(h) for h, _ in added],
            decision_label=decision if decision in esc.labels else None,
            phase1_due=policy.calendar.describe(
                policy.calendar.add(ctx.now, policy.initiation.within)
            ),
        )
        summary = f"promoted to {levels.values[target].title} ({why})"
        actions.append(comment(esc, summary, "decision", body, (once,), dri(esc, ctx)))
    return actions


def _title(heading_line: str) -> str:
    return heading_line.lstrip("#").strip()


def _sections(
    esc: Escalation, cls: Classification, target: str, ctx: Context
) -> list[tuple[str, str]]:
    """The target level's template sections the description lacks (rendered for this issue);
    the per-level ones (Phase 1, requirements) always, headed with the level's name."""
    policy = ctx.policy
    if not (cls.type and cls["category"] and cls["severity"]):
        return []  # nothing to render the template with; the comment says what to add
    request = EscalationRequest(
        project=esc.project_path,
        level=target,
        type=cls.type,
        category=cls["category"] or "",
        severity=cls["severity"] or "",
        title=esc.title,
        customer=desc.field(esc.description, "Customer") or "the customer",
        dri=(dri(esc, ctx) or ["the DRI"])[0],
        account_type=cls["account_type"],
        trigger_detail=None,
        now=ctx.now,
    )
    rendered = plan_escalation(request, policy, ProjectRef(esc.project_id, esc.project_path, ""))
    have = set(desc.headings(esc.description))
    title = policy.labels["level"].values[target].title
    out = []
    for head, body in desc.sections(rendered.description):
        key = desc.headings(head)[0]
        if any(key.startswith(desc.headings(f"## {p}")[0]) for p in PER_LEVEL):
            name = _title(head)
            base, _, rest = name.partition("(")
            head = f"## {base.strip()} ({title}{', ' + rest.rstrip(')') if rest else ''})"
        elif key in have:
            continue
        out.append((head, body))
    return out


def remain(esc: Escalation, task: desc.Task, ctx: Context) -> list[Action]:
    """Record "remain in monitoring" once: decision label off, the box unticked with a dated
    line under it, one comment."""
    policy = ctx.policy
    decision = policy.process.labels.decision
    day = policy.calendar.local(ctx.now).date().isoformat()
    once = marker("decision", outcome="monitor", on=day)
    actions: list[Action] = []
    if decision in esc.labels:
        actions.append(
            act(
                "labels",
                esc,
                f"remove {decision} from {esc.ref}",
                "decision",
                remove_labels=(decision,),
            )
        )
    line = next(
        (
            raw
            for raw in esc.description.splitlines()
            if desc.tasks(raw) and desc.tasks(raw)[0] == task
        ),
        None,
    )
    if line is not None and once not in esc.description_markers:
        unticked = line.replace("[x]", "[ ]", 1).replace("[X]", "[ ]", 1)
        indent = line[: len(line) - len(line.lstrip())]
        record = f"{indent}  - Decided {day}: remain in monitoring (recorded by escbot) {once}"
        actions.append(
            Action(
                "edit_description",
                esc.project_id,
                esc.iid,
                esc.ref,
                f"record the decision on {esc.ref}: remain in monitoring ({day})",
                "decision",
                markers=(once,),
                data={"replace": [[line, f"{unticked}\n{record}"]]},
            )
        )
    if not esc.has_posted(once):
        body = policy.render("reminders/decision.md", marker=once, day=day, decision_label=decision)
        actions.append(
            comment(
                esc, f"decision recorded: remain in monitoring ({day})", "decision", body, (once,)
            )
        )
    return actions
