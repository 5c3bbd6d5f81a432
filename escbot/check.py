"""The scheduled check: read the portfolio in bulk, evaluate every escalation, plan, apply.

Reads are built for a portfolio: escalations come from one label-filtered issue list (100 per
page), comments from one events read per project since the longest cadence window. Only an
escalation whose verdict needs older history costs a request of its own.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from escbot.durations import Duration
from escbot.engine import Context, evaluate
from escbot.errors import GitLabError
from escbot.gitlab_io import GitLab
from escbot.markers import find_markers
from escbot.model import Companion, Escalation, LabelEvent, Note
from escbot.plan import Action, Evaluation
from escbot.policies import Policy

Rule = Callable[[Escalation, Context], Evaluation]


def _days(d: Duration) -> float:
    """An upper bound in calendar days (business days stretched over weekends and holidays)."""
    return {
        "minutes": d.amount / 1440,
        "hours": d.amount / 24,
        "days": d.amount,
        "weeks": d.amount * 7,
        "business_days": d.amount * 7 / 5 + 4,
        "business_hours": d.amount / 8 * 7 / 5 + 4,
    }[d.unit]


MAX_LOOKBACK = timedelta(days=120)


def window_start(policy: Policy, now: datetime) -> datetime:
    """The least history the rules need: the longest cadence plus the longest ladder."""
    every = [r.every for reqs in policy.requirements.values() for r in reqs.values()]
    after = [r.after for rungs in policy.ladder.rungs.values() for r in rungs]
    days = max(map(_days, every), default=7) + max(map(_days, after), default=0) + 2
    return _midnight(now - timedelta(days=days))


def _midnight(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def activity_start(policy: Policy, now: datetime, escalations: list[Escalation]) -> datetime:
    """Where the bulk comment read starts: far enough back to hold the whole history of every
    open escalation (so no escalation needs a read of its own), within MAX_LOOKBACK."""
    oldest = min((e.created_at for e in escalations if e.state == "opened"), default=now)
    return max(min(window_start(policy, now), _midnight(oldest)), _midnight(now - MAX_LOOKBACK))


@dataclass
class Outcome:
    action: Action
    status: str  # "done", "already done", "error: ..."

    @property
    def error(self) -> str | None:
        return self.status[len("error: ") :] if self.status.startswith("error: ") else None


@dataclass
class CheckResult:
    now: datetime
    escalations: list[Escalation] = field(default_factory=list)
    evaluations: list[Evaluation] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    applied: bool = False

    @property
    def actions(self) -> list[Action]:
        return [a for ev in self.evaluations for a in ev.actions]

    @property
    def exit_code(self) -> int:
        if self.errors:
            return 3
        return 1 if any(ev.missed for ev in self.evaluations) else 0


# --------------------------------------------------------------------------------------------
# Reading.


def notes_from_events(events: Iterable[dict[str, Any]]) -> dict[int, list[Note]]:
    by_iid: dict[int, list[Note]] = defaultdict(list)
    for event in events:
        note = event.get("note") or {}
        if note.get("noteable_type") != "Issue" or note.get("noteable_iid") is None:
            continue
        if "author" not in note and event.get("author"):
            note = {**note, "author": event["author"]}
        by_iid[note["noteable_iid"]].append(Note.from_gitlab(note))
    for notes in by_iid.values():
        notes.sort(key=lambda n: (n.created_at, n.id))
    return by_iid


def companions(
    api: GitLab, scope: tuple[str, Any], label: str, kind: str, **filters: Any
) -> dict[tuple[int, int], Companion]:
    """Companion issues (RAID registers, retrospectives) by the escalation their marker names."""
    found: dict[tuple[int, int], Companion] = {}
    for issue in api.list_issues(scope, labels=[label], **filters):
        for m in find_markers(issue.get("description")):
            if (
                m.kind == kind
                and (m.get("project") or "").isdigit()
                and (m.get("iid") or "").isdigit()
            ):
                found[(int(m.get("project")), int(m.get("iid")))] = Companion.from_gitlab(issue)  # type: ignore[arg-type]
    return found


def collect(
    api: GitLab, scope: tuple[str, Any], policy: Policy, now: datetime, errors: list[str]
) -> list[Escalation]:
    marker_label = policy.labels.marker.name
    issues = list(api.list_issues(scope, labels=[marker_label], state="opened"))
    # Closed lately: the close-out rules (sign-off gate, RAID wrap-up) still apply to them.
    closed_since = window_start(policy, now)
    issues += api.list_issues(
        scope, labels=[marker_label], state="closed", updated_after=closed_since
    )
    if policy.intake.enabled:  # e-mailed escalations not classified yet (escbot.intake)
        issues += api.list_issues(
            scope,
            state="opened",
            author_username=policy.intake.author,
            **{"not[labels]": marker_label},
        )
    escalations = [Escalation.from_gitlab(i) for i in issues]
    since = activity_start(policy, now, escalations)
    # Registers of open escalations were touched no earlier than those escalations were opened.
    raids = companions(api, scope, "raid-register", "raid", state="all", updated_after=since)
    retros = companions(api, scope, "retrospective", "retro", state="all")
    notes_by_project: dict[int, dict[int, list[Note]]] = {}
    for project_id in sorted({e.project_id for e in escalations}):
        try:
            events = api.note_events(project_id, after=(since - timedelta(days=1)).date())
        except GitLabError as exc:
            errors.append(str(exc))
            continue
        notes_by_project[project_id] = notes_from_events(events)
    out = []
    for esc in escalations:
        if esc.project_id not in notes_by_project:
            esc = esc.with_activity(extra={"error": True})
            out.append(esc)
            continue
        out.append(
            esc.with_activity(
                notes=tuple(notes_by_project[esc.project_id].get(esc.iid, ())),
                notes_since=since if esc.created_at < since else None,
                raid=raids.get(esc.key),
                retro=retros.get(esc.key),
            )
        )
    return out


def complete(api: GitLab, esc: Escalation, needs: set[str]) -> Escalation:
    """Fetch the history an evaluation said it lacked."""
    changes: dict[str, Any] = {}
    if "notes" in needs and esc.notes_since is not None:
        notes = [Note.from_gitlab(n) for n in api.notes(esc.project_id, esc.iid)]
        changes.update(notes=tuple(notes), notes_since=None)
    if "label_events" in needs and esc.label_events is None:
        events = api.label_events(esc.project_id, esc.iid)
        changes["label_events"] = tuple(LabelEvent.from_gitlab(e) for e in events)
    return esc.with_activity(**changes) if changes else esc


# --------------------------------------------------------------------------------------------
# Evaluating.


def evaluate_all(
    api: GitLab, escalations: list[Escalation], ctx: Context, errors: list[str], rules: list[Rule]
) -> tuple[list[Escalation], list[Evaluation]]:
    done_escs, evaluations = [], []
    for esc in escalations:
        if esc.extra.get("error"):
            errors.append(f"{esc.ref}: skipped, its activity could not be read")
            continue
        try:
            ev = _evaluate(esc, ctx, rules)
            for _ in range(2):  # notes may reveal a need for label events, once
                needs = set(ev.needs)
                if ev.actions and esc.notes_since is not None:
                    # A marker older than the bulk read would look like "not done yet".
                    needs.add("notes")
                if not needs:
                    break
                before = esc
                esc = complete(api, esc, needs)
                if esc is before:
                    break
                ev = _evaluate(esc, ctx, rules)
        except GitLabError as exc:
            errors.append(f"{esc.ref}: {exc}")
            continue
        done_escs.append(esc)
        evaluations.append(ev)
    return done_escs, evaluations


def _evaluate(esc: Escalation, ctx: Context, rules: list[Rule], *, core: bool = True) -> Evaluation:
    """The engine's cadence rules (unless `core` is False), then each extra rule, merged."""
    ev = evaluate(esc, ctx) if core else Evaluation(esc.ref)
    for rule in rules:
        extra = rule(esc, ctx)
        ev.findings += extra.findings
        ev.actions += extra.actions
        ev.notes += extra.notes
        ev.needs |= extra.needs
    return ev


# --------------------------------------------------------------------------------------------
# Applying: re-read before each write, so reruns and overlapping runs never post twice.


def apply_actions(
    api: GitLab, actions: list[Action], errors: list[str] | None = None
) -> list[Outcome]:
    """Perform a plan; failures are outcomes (and lines in `errors`), never an abort."""
    outcomes: list[Outcome] = []
    by_issue: dict[tuple[int, int], list[Action]] = defaultdict(list)
    for action in actions:
        by_issue[(action.project_id, action.iid)].append(action)
    for (project_id, iid), group in by_issue.items():
        fresh_markers: set[Any] | None = None
        for action in group:
            try:
                if action.kind == "comment":
                    if fresh_markers is None:
                        fresh_markers = markers_on(api, project_id, iid)
                    if set(action.markers) <= fresh_markers:
                        outcomes.append(Outcome(action, "already done"))
                        continue
                    status = _post_once(api, action)
                    fresh_markers |= set(action.markers)
                    outcomes.append(Outcome(action, status))
                elif action.kind == "labels":
                    outcomes.append(Outcome(action, _relabel(api, action)))
                elif action.kind in ("close", "reopen"):
                    outcomes.append(Outcome(action, _set_state(api, action)))
                else:
                    handler = EXTRA_HANDLERS[action.kind]
                    outcomes.append(Outcome(action, handler(api, action)))
            except GitLabError as exc:
                outcomes.append(Outcome(action, f"error: {exc}"))
                break  # later actions on this issue may depend on this one
    if errors is not None:
        errors += [f"{o.action.ref}: {o.error}" for o in outcomes if o.error]
    return outcomes


# Handlers for actions other modules add (close-out creates retrospectives, closes RAIDs...).
EXTRA_HANDLERS: dict[str, Callable[[GitLab, Action], str]] = {}


def ensure_companion(api: GitLab, action: Action) -> str:
    """Create the issue an action describes (a RAID register, a retrospective) once, linked.

    Found again by its marker before creating; after creating, a copy made by an overlapping
    run is looked for, and the newer of the two is closed as a duplicate.
    """
    project = api.project(action.project_id)

    def existing() -> list[dict[str, Any]]:
        found = api.list_issues(("project", project), labels=action.data["labels"], state="all")
        mine = [i for i in found if set(action.markers) & set(find_markers(i.get("description")))]
        return sorted(mine, key=lambda i: i["iid"])

    status = "already done"
    found = existing()
    if not found:
        ids = [u["id"] for u in (api.user(name) for name in action.data["assignees"]) if u]
        created = api.create_issue(
            action.project_id,
            title=action.data["title"],
            description=action.body,
            labels=",".join(action.data["labels"]),
            assignee_ids=ids,
        )
        found, status = existing(), "done"
        for copy in found[1:]:
            if copy["iid"] == created["iid"]:
                api.add_note(copy["project_id"], copy["iid"], f"Duplicate of #{found[0]['iid']}.")
                api.edit_issue(copy["project_id"], copy["iid"], state_event="close")
                status = "already done (by an overlapping run)"
    keep = found[0]
    linked = {(i.get("project_id"), i.get("iid")) for i in api.links(action.project_id, action.iid)}
    if (keep["project_id"], keep["iid"]) not in linked:
        api.link(action.project_id, action.iid, keep["project_id"], keep["iid"])
        status = "done" if status == "already done" else status
    return status


def markers_on(api: GitLab, project_id: int, iid: int) -> set[Any]:
    """The markers in an issue's comments, read fresh (the check before any write)."""
    return {
        m
        for n in api.notes(project_id, iid)
        if not n.get("system")
        for m in find_markers(n.get("body"))
    }


def _post_once(api: GitLab, action: Action) -> str:
    note = api.add_note(action.project_id, action.iid, action.body)
    # Two overlapping runs can both post; the later note removes itself, so one remains.
    wanted = set(action.markers)
    for other in api.notes(action.project_id, action.iid):
        if other["id"] < note["id"] and wanted & set(find_markers(other.get("body"))):
            api.delete_note(action.project_id, action.iid, note["id"])
            return "already done (by an overlapping run)"
    return "done"


def _relabel(api: GitLab, action: Action) -> str:
    issue = api.issue(action.project_id, action.iid)
    have = set(issue.get("labels") or ())
    add = [lab for lab in action.add_labels if lab not in have]
    remove = [lab for lab in action.remove_labels if lab in have]
    if not add and not remove:
        return "already done"
    changes: dict[str, Any] = {}
    if add:
        changes["add_labels"] = ",".join(add)
    if remove:
        changes["remove_labels"] = ",".join(remove)
    api.edit_issue(action.project_id, action.iid, **changes)
    return "done"


def _set_state(api: GitLab, action: Action) -> str:
    issue = api.issue(action.project_id, action.iid)
    wanted = "closed" if action.kind == "close" else "opened"
    if issue["state"] == wanted:
        return "already done"
    api.edit_issue(action.project_id, action.iid, state_event=action.kind)
    return "done"


def default_rules() -> list[Rule]:
    """Rules beyond cadence and ladder that the scheduled run applies."""
    from escbot.closeout import closeout_rule, warranty_rule
    from escbot.create import raid_rule
    from escbot.intake import intake_rule

    return [closeout_rule, warranty_rule, intake_rule, raid_rule]


# --------------------------------------------------------------------------------------------


def run_check(
    api: GitLab,
    scope: tuple[str, Any],
    policy: Policy,
    now: datetime,
    *,
    apply: bool,
    rules: list[Rule] | None = None,
) -> CheckResult:
    result = CheckResult(now=now, applied=apply)
    ctx = Context(policy=policy, now=now, bot=api.me()["username"])
    escalations = collect(api, scope, policy, now, result.errors)
    result.escalations, result.evaluations = evaluate_all(
        api, escalations, ctx, result.errors, rules or []
    )
    if apply:
        result.outcomes = apply_actions(api, result.actions, result.errors)
    return result


def snapshot(api: GitLab, project: Any, iid: int) -> Escalation:
    """One escalation with its whole history and companions (for on-demand commands)."""
    esc = Escalation.from_gitlab(api.issue(project.id, iid))
    found: dict[str, Companion] = {}
    for linked in api.links(project.id, iid):
        for m in find_markers(linked.get("description")):
            if (
                m.kind in ("raid", "retro")
                and m.get("iid") == str(iid)
                and m.get("project") == str(project.id)
            ):
                found[m.kind] = Companion.from_gitlab(linked)
    esc = esc.with_activity(
        raid=found.get("raid"), retro=found.get("retro"), notes_since=esc.created_at
    )
    return complete(api, esc, {"notes", "label_events"})


def run_one(
    api: GitLab,
    project: Any,
    iid: int,
    policy: Policy,
    now: datetime,
    *,
    apply: bool,
    rules: list[Rule],
) -> CheckResult:
    """Evaluate the given rules (only) on one escalation; apply the plan if asked."""
    result = CheckResult(now=now, applied=apply)
    ctx = Context(policy=policy, now=now, bot=api.me()["username"])
    esc = snapshot(api, project, iid)
    result.escalations, result.evaluations = [esc], [_evaluate(esc, ctx, rules, core=False)]
    if apply:
        result.outcomes = apply_actions(api, result.actions, result.errors)
    return result
