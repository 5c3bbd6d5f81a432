"""The PMO portfolio report (seed 000: Y/R portfolio review, weekly stakeholder summaries, PMO
manager briefing): where every open escalation stands, what changed, and how well the cadence
was kept.

Two halves, so the figures can be tested without GitLab:

    build_report(api, scope, policy, now, since)      reads GitLab in bulk, then calls
    compute_report(escalations, policy, now, since, bot=..., scope_name=...)   pure

and three renderings of the same `Report`: render_markdown (with Mermaid charts, what the weekly
briefing issue holds), render_json, render_html (one self-contained page, inline SVG charts).
`post_briefing` creates or updates the one briefing issue of the ISO week.

Reads: the open escalations (one list), the closed ones updated since the start of the charted
weeks (one list), comments from one events read per project, label events only for escalations
updated since --since, and full notes only where the cadence verdict needs older history.
"""

from __future__ import annotations

import json
import re
import statistics
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from escbot import description as desc
from escbot.check import guarded
from escbot.errors import EscbotError
from escbot.gitlab_io import GitLab, scope_path
from escbot.labels import ensure_labels
from escbot.markers import find_markers, marker
from escbot.model import Classification, Context, Escalation, classify
from escbot.plan import Evaluation
from escbot.policies import REPORTER, Policy
from escbot.requirements import kind_of
from escbot.rules import evaluate, rules_named
from escbot.rules.cadence import anchor
from escbot.snapshot import (
    complete,
    label_events,
    read_context,
    read_portfolio,
    window_start,
)
from escbot.talkback import listen
from escbot.timeline import Span, bot_activity, span, status_requirement

WEEKS = 6  # ISO weeks in the opened-vs-closed chart, the current one included
EXCERPT = 200
CHART_ROWS = 20  # escalations in the compliance chart (the lowest ratios when there are more)
# A report needs these groups to place an escalation; otherwise it is "Unclassified".
REQUIRED_GROUPS = ("level", "severity", "type", "rag")


# --------------------------------------------------------------------------------------------
# The report, as data.


@dataclass
class NextDue:
    rule: str
    title: str
    due: datetime
    overdue: bool


@dataclass
class Compliance:
    """Required updates in the window, and how many came before their due."""

    required: int = 0
    on_time: int = 0
    by_rule: dict[str, tuple[int, int]] = field(default_factory=dict)  # rule -> (on_time, req)

    @property
    def ratio(self) -> float | None:
        return self.on_time / self.required if self.required else None

    @property
    def percent(self) -> str:
        r = self.ratio
        return "n/a" if r is None else f"{round(r * 100)}%"

    def add(self, other: Compliance) -> None:
        self.required += other.required
        self.on_time += other.on_time


@dataclass
class Row:
    """One open escalation in the RAG table."""

    ref: str
    title: str
    web_url: str
    project: str
    customer: str | None
    level: str | None
    severity: str | None
    type: str | None
    rag: str | None
    phase: str | None
    dri: list[str]
    opened: datetime
    days_open: int
    next_due: NextDue | None
    update_excerpt: str | None
    update_at: datetime | None
    compliance: Compliance
    reminders: int = 0
    ladder_mentions: int = 0
    # Business time the clock was paused (`/escbot pause`), and whether it is paused now.
    paused_days: float = 0.0
    paused_now: bool = False


@dataclass
class Unclassified:
    ref: str
    title: str
    web_url: str
    project: str
    reasons: list[str]


@dataclass
class Change:
    kind: str  # opened | promoted | resolved | closed | red | green
    ref: str
    title: str
    web_url: str
    at: datetime


@dataclass
class Milestone:
    ref: str
    web_url: str
    text: str
    due: date
    source: str  # "table" or "task"


@dataclass
class TimeStat:
    """Median and worst of a set of spans, in business days and in business hours."""

    count: int = 0
    median_days: float | None = None
    median_hours: float | None = None
    worst_days: Span | None = None  # the span with the most business days
    worst_hours: Span | None = None  # the span with the most business hours
    spans: list[Span] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)  # refs still waiting (not acknowledged)


@dataclass
class ComplianceRow:
    """One escalation's cadence over the window (open, closed in it, or unclassified)."""

    ref: str
    title: str
    web_url: str
    state: str
    compliance: Compliance
    reminders: int = 0
    ladder_mentions: int = 0


@dataclass
class Week:
    week: str  # "2026-W48"
    opened: int
    closed: int


@dataclass
class Report:
    scope: str
    now: datetime
    since: datetime
    week: str  # the ISO week of `now`, in the policy's timezone
    groups: dict[str, list[Row]]  # project path -> rows, red first
    unclassified: list[Unclassified]
    changes: list[Change]
    compliance: Compliance
    compliance_rows: list[ComplianceRow]
    reminders: int
    ladder_mentions: int
    acknowledge: TimeStat
    resolve: TimeStat
    overdue_milestones: list[Milestone]
    weeks: list[Week]
    tz: str = "UTC"
    notes: list[str] = field(default_factory=list)  # caveats and read errors

    @property
    def rows(self) -> list[Row]:
        return [r for rows in self.groups.values() for r in rows]

    rag_order: tuple[str, ...] = ()  # the policy's RAG values, most urgent first

    @property
    def rag_counts(self) -> dict[str, int]:
        counts = {k: 0 for k in self.rag_order}
        for r in self.rows:
            if r.rag:
                counts[r.rag] = counts.get(r.rag, 0) + 1
        return counts

    @property
    def open_count(self) -> int:
        return len(self.rows) + len(self.unclassified)

    def changes_of(self, kind: str) -> list[Change]:
        return [c for c in self.changes if c.kind == kind]

    @property
    def empty(self) -> bool:
        return (
            self.open_count == 0
            and not self.changes
            and not any(w.opened or w.closed for w in self.weeks)
        )


# --------------------------------------------------------------------------------------------
# Small helpers.


def iso_week(moment: datetime | date, policy: Policy | None = None) -> str:
    if isinstance(moment, datetime):
        day = (policy.calendar.local(moment) if policy else moment).date()
    else:
        day = moment
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def excerpt(text: str, limit: int = EXCERPT) -> str:
    """The first ~limit characters of a note on one line, without escbot markers or HTML
    comments, cut at a word."""
    text = re.sub(r"<!--.*?-->", " ", text, flags=re.DOTALL)
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0] if " " in text[:limit] else text[:limit]
    return cut.rstrip(" ,;:.") + "…"


def resolved_at(esc: Escalation, policy: Policy) -> datetime | None:
    """When it reached resolution: the first phase::resolution/closure label, else closing
    (as closeout.timeline counts it)."""
    phases = policy.labels["phase"]
    for e in sorted(esc.label_events or (), key=lambda e: e.created_at):
        if e.action == "add" and phases.value_of(e.label) in policy.process.resolution_phases:
            return e.created_at
    return esc.closed_at


def first_ack(esc: Escalation, ctx: Context) -> datetime | None:
    human = [n for n in esc.notes if ctx.counts(n) and n.created_at >= esc.created_at]
    return min((n.created_at for n in human), default=None)


def _span_of(esc: Escalation, start: datetime, end: datetime, policy: Policy) -> Span:
    return span(policy, start, end, esc.ref)


def time_stat(spans: list[Span], pending: list[str] | None = None) -> TimeStat:
    if not spans:
        return TimeStat(pending=pending or [])
    return TimeStat(
        count=len(spans),
        median_days=round(statistics.median(s.business_days for s in spans), 2),
        median_hours=round(statistics.median(s.business_hours for s in spans), 2),
        worst_days=max(spans, key=lambda s: (s.business_days, s.business_hours)),
        worst_hours=max(spans, key=lambda s: (s.business_hours, s.business_days)),
        spans=spans,
        pending=pending or [],
    )


def cadence(
    esc: Escalation, ctx: Context, since: datetime, end: datetime, start: datetime
) -> Compliance:
    """Required updates with a due point in (since, end], and how many were made on time: each
    requirement kind walks its own periods (a RAID edit keeps no history, so it is left out)."""
    level = classify(esc.labels, ctx.policy).level
    out = Compliance()
    for req in ctx.policy.requirements.get(level or "", {}).values():
        found = kind_of(req).compliance(esc, req, ctx, start, since, end)
        if found and found.required:
            out.by_rule[req.key] = (found.on_time, found.required)
            out.required += found.required
            out.on_time += found.on_time
    return out


def milestones_overdue(esc: Escalation, today: date) -> list[Milestone]:
    """Rows of the "Resolution plan" table and its task items with a past date, not done."""
    return [
        Milestone(esc.ref, esc.web_url, m.text, m.due, m.source)
        for m in desc.milestones(esc.description)
        if m.due < today and not m.done
    ]


def unclassified_reasons(esc: Escalation, policy: Policy) -> list[str]:
    cls = classify(esc.labels, policy)
    reasons = []
    for key in REQUIRED_GROUPS:
        if key in cls.conflicts:
            group = policy.labels[key]
            found = ", ".join(group.label(v) for v in cls.conflicts[key])
            reasons.append(f"conflicting {key} labels: {found}")
        elif cls[key] is None:
            reasons.append(f"no {policy.labels[key].prefix}:: label ({key})")
    for key, values in cls.conflicts.items():
        if key not in REQUIRED_GROUPS:
            group = policy.labels[key]
            reasons.append(
                f"conflicting {key} labels: " + ", ".join(group.label(v) for v in values)
            )
    reasons += [f"unknown label {lab}" for lab in cls.unknown]
    return reasons


def _changes(esc: Escalation, policy: Policy, since: datetime, now: datetime) -> list[Change]:
    def ch(kind: str, at: datetime) -> Change:
        return Change(kind, esc.ref, esc.title, esc.web_url, at)

    out = []
    if since < esc.created_at <= now:
        out.append(ch("opened", esc.created_at))
    if esc.state == "closed" and esc.closed_at and since < esc.closed_at <= now:
        out.append(ch("closed", esc.closed_at))
    levels, phases, rag = policy.labels["level"], policy.labels["phase"], policy.labels["rag"]
    # A level label added after the escalation was at the level that promotes to it.
    promoted_from = {
        spec.promote_to: key for key, spec in policy.process.levels.items() if spec.promote_to
    }
    rag_change = {policy.rag.on_missed: "red", policy.rag.on_met: "green"}
    been = {esc.opened_as} if esc.opened_as else set()
    resolved_before = False
    for e in sorted(esc.label_events or (), key=lambda e: e.created_at):
        later = e.created_at > esc.created_at + timedelta(minutes=1)
        in_window = since < e.created_at <= now and later
        level = levels.value_of(e.label)
        if level:
            if promoted_from.get(level) in been and e.action == "add" and in_window:
                out.append(ch("promoted", e.created_at))
            been.add(level)
        if e.action != "add":
            continue
        if phases.value_of(e.label) in policy.process.resolution_phases:
            if in_window and not resolved_before:
                out.append(ch("resolved", e.created_at))
            resolved_before = True
        value = rag.value_of(e.label)
        if value in rag_change and in_window:
            out.append(ch(rag_change[value], e.created_at))
    return out


def _next_due(ev: Evaluation, policy: Policy, level: str | None, now: datetime) -> NextDue | None:
    keys = {"initiation", *policy.requirements.get(level or "", {})}
    findings = [f for f in ev.findings if f.rule in keys and f.due is not None]
    missed = [f for f in findings if f.missed]
    if missed:
        f = min(missed, key=lambda f: f.due)  # type: ignore[arg-type,return-value]
        return NextDue(f.rule, f.title, f.due, True)  # type: ignore[arg-type]
    coming = [f for f in findings if f.due > now]  # type: ignore[operator]
    if not coming:
        return None
    f = min(coming, key=lambda f: f.due)  # type: ignore[arg-type,return-value]
    return NextDue(f.rule, f.title, f.due, False)  # type: ignore[arg-type]


def _latest_update(
    esc: Escalation, level: str | None, ctx: Context
) -> tuple[str | None, datetime | None]:
    req = status_requirement(ctx.policy, level)
    if req is None:
        return None, None
    notes = [n for n in esc.notes if ctx.counts(n) and req.matches(n.body)]
    if not notes:
        return None, None
    last = max(notes, key=lambda n: (n.created_at, n.id))
    return excerpt(last.body), last.created_at


def week_starts(now: datetime, policy: Policy, weeks: int = WEEKS) -> list[date]:
    today = policy.calendar.local(now).date()
    monday = today - timedelta(days=today.weekday())
    return [monday - timedelta(weeks=k) for k in range(weeks - 1, -1, -1)]


def chart_start(now: datetime, policy: Policy) -> datetime:
    first = week_starts(now, policy)[0]
    return datetime.combine(first, datetime.min.time(), tzinfo=policy.tz).astimezone(UTC)


# --------------------------------------------------------------------------------------------
# The pure computation.


@dataclass
class _Tally:
    """What the report gathers, escalation by escalation."""

    weeks: dict[str, Week]
    groups: dict[str, list[Row]] = field(default_factory=lambda: defaultdict(list))
    unclassified: list[Unclassified] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    compliance: Compliance = field(default_factory=Compliance)
    compliance_rows: list[ComplianceRow] = field(default_factory=list)
    reminders: int = 0
    ladder: int = 0
    acks: list[Span] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    resolutions: list[Span] = field(default_factory=list)
    milestones: list[Milestone] = field(default_factory=list)

    def count_week(self, moment: datetime, policy: Policy, kind: str) -> None:
        week = self.weeks.get(iso_week(moment, policy))
        if week:
            setattr(week, kind, getattr(week, kind) + 1)


def _timings(esc: Escalation, ctx: Context, since: datetime, is_open: bool, t: _Tally) -> None:
    """Time to acknowledge (opened in the window) and to resolve (resolved in the window)."""
    policy, now = ctx.policy, ctx.now
    if since < esc.created_at:
        ack = first_ack(esc, ctx)
        if ack is not None and ack <= now:
            t.acks.append(_span_of(esc, esc.created_at, ack, policy))
        elif is_open:
            t.pending.append(esc.ref)
    done = resolved_at(esc, policy)
    if done is not None and since < done <= now:
        t.resolutions.append(_span_of(esc, esc.created_at, done, policy))


def _row(
    esc: Escalation, cls: Classification, ctx: Context, comp: Compliance, mentions: tuple[int, int]
) -> Row:
    excerpt_text, update_at = _latest_update(esc, cls.level, ctx)
    ev = evaluate(esc, ctx, rules_named("tracking"))
    talk = listen(esc, ctx)
    return Row(
        ref=esc.ref,
        title=esc.title,
        web_url=esc.web_url,
        project=esc.project_path,
        customer=desc.field(esc.description, "Customer"),
        level=cls.level,
        severity=cls["severity"],
        type=cls.type,
        rag=cls["rag"],
        phase=cls["phase"],
        dri=list(esc.assignees),
        opened=esc.created_at,
        days_open=max(0, (ctx.now - esc.created_at).days),
        next_due=_next_due(ev, ctx.policy, cls.level, ctx.now),
        update_excerpt=excerpt_text,
        update_at=update_at,
        compliance=comp,
        reminders=mentions[0],
        ladder_mentions=mentions[1],
        paused_days=round(talk.paused_time(ctx.now, ctx.policy.calendar) / timedelta(days=1), 2),
        paused_now=talk.paused_now() is not None,
    )


def _tally(esc: Escalation, ctx: Context, since: datetime, t: _Tally) -> None:
    policy, now = ctx.policy, ctx.now
    cls = classify(esc.labels, policy)
    is_open = esc.state == "opened" or (esc.closed_at is not None and esc.closed_at > now)
    t.changes += _changes(esc, policy, since, now)
    t.count_week(esc.created_at, policy, "opened")
    if esc.state == "closed" and esc.closed_at and esc.closed_at <= now:
        t.count_week(esc.closed_at, policy, "closed")
    told = bot_activity(esc, ctx.bot, since, now)
    mentions = (told.reminders, told.ladder_mentions)
    t.reminders += mentions[0]
    t.ladder += mentions[1]
    _timings(esc, ctx, since, is_open, t)

    # Cadence compliance while it was open in the window.
    comp = Compliance()
    if cls.level is not None and (is_open or (esc.closed_at and esc.closed_at > since)):
        start = anchor(esc, cls, Evaluation(esc.ref))
        end = now if is_open or esc.closed_at is None else esc.closed_at
        comp = cadence(esc, ctx, since, end, start)
        t.compliance.add(comp)
        if comp.required:
            state = "opened" if is_open else "closed"
            row = ComplianceRow(esc.ref, esc.title, esc.web_url, state, comp, *mentions)
            t.compliance_rows.append(row)

    if not is_open:
        return
    t.milestones += milestones_overdue(esc, policy.calendar.local(now).date())
    reasons = unclassified_reasons(esc, policy)
    if reasons:
        t.unclassified.append(
            Unclassified(esc.ref, esc.title, esc.web_url, esc.project_path, reasons)
        )
        return
    t.groups[esc.project_path].append(_row(esc, cls, ctx, comp, mentions))


def compute_report(
    escalations: list[Escalation],
    policy: Policy,
    now: datetime,
    since: datetime,
    *,
    bot: str,
    scope_name: str = "",
    notes: list[str] | None = None,
    staff: frozenset[str] | None = None,
) -> Report:
    """The report from snapshots (open escalations, and closed ones with their activity)."""
    ctx = Context(policy=policy, now=now, bot=bot, staff=staff)
    t = _Tally(weeks={iso_week(d): Week(iso_week(d), 0, 0) for d in week_starts(now, policy)})
    notes = list(notes or [])
    for esc in sorted(escalations, key=lambda e: (e.project_path, e.iid)):
        if esc.created_at <= now:
            guarded(esc.ref, notes, _tally, esc, ctx, since, t)
    rag_order = tuple(policy.labels["rag"].values)
    rank = {v: i for i, v in enumerate(rag_order)}
    for rows in t.groups.values():
        rows.sort(key=lambda r: (rank.get(r.rag or "", 9), -r.days_open, r.ref))
    kind_rank = {k: i for i, k in enumerate(CHANGE_KINDS)}
    t.changes.sort(key=lambda c: (kind_rank.get(c.kind, 9), c.at, c.ref))
    t.milestones.sort(key=lambda m: (m.due, m.ref))
    return Report(
        scope=scope_name,
        now=now,
        since=since,
        week=iso_week(now, policy),
        groups=dict(sorted(t.groups.items())),
        unclassified=t.unclassified,
        changes=t.changes,
        compliance=t.compliance,
        compliance_rows=t.compliance_rows,
        reminders=t.reminders,
        ladder_mentions=t.ladder,
        acknowledge=time_stat(t.acks, t.pending),
        resolve=time_stat(t.resolutions),
        overdue_milestones=t.milestones,
        weeks=list(t.weeks.values()),
        tz=policy.calendar_spec.timezone,
        notes=notes,
        rag_order=rag_order,
    )


CHANGE_KINDS = ("opened", "promoted", "red", "green", "resolved", "closed")
CHANGE_TITLES = {
    "opened": "Opened",
    "promoted": "Promoted",  # with the policy's levels: "Promoted Sev2 → Sev1"
    "red": "Gone red",
    "green": "Back to green",
    "resolved": "Resolved",
    "closed": "Closed",
}


def change_titles(policy: Policy) -> dict[str, str]:
    levels = policy.labels["level"].values
    paths = [
        f"{levels[key].title} → {levels[spec.promote_to].title}"
        for key, spec in policy.process.levels.items()
        if spec.promote_to
    ]
    return {**CHANGE_TITLES, "promoted": " ".join(["Promoted", ", ".join(paths)]).strip()}


# --------------------------------------------------------------------------------------------
# Reading GitLab.


def fetch(
    api: GitLab, scope: tuple[str, Any], policy: Policy, now: datetime, since: datetime
) -> tuple[list[Escalation], Context, list[str]]:
    """Snapshots for the report: open escalations, closed ones updated since the charted weeks
    began, comments since before the window, label events where something changed."""
    ctx = read_context(api, policy, now)
    portfolio = read_portfolio(
        api,
        scope,
        policy,
        now,
        closed_since=min(since, chart_start(now, policy)),
        notes_from=window_start(policy, since),
        intake=False,
        with_companions=False,
        with_readers=False,
    )
    errors = [str(u) for u in portfolio.unreadable]
    out = []
    for esc in portfolio.escalations:
        out.append(guarded(esc.ref, errors, _with_history, api, esc, ctx, since) or esc)
    return out, ctx, errors


def _with_history(api: GitLab, esc: Escalation, ctx: Context, since: datetime) -> Escalation:
    if esc.updated_at >= since:
        esc = esc.with_activity(label_events=label_events(api, esc))
    if esc.state == "opened":
        needs = evaluate(esc, ctx, rules_named("tracking")).needs
        if needs:
            esc = complete(api, esc, needs)
    return esc


def build_report(
    api: GitLab, scope: tuple[str, Any], policy: Policy, now: datetime, since: datetime | None
) -> Report:
    """Read the scope's escalations and compute the report (since defaults to now - 7 days)."""
    since = since or now - timedelta(days=7)
    escalations, ctx, errors = fetch(api, scope, policy, now, since)
    return compute_report(
        escalations,
        policy,
        now,
        since,
        bot=ctx.bot,
        scope_name=scope_path(scope),
        notes=errors,
        staff=ctx.staff,
    )


# --------------------------------------------------------------------------------------------
# Rendering.


def _ctx(report: Report, policy: Policy) -> dict[str, Any]:
    from escbot import charts

    cal = policy.calendar

    def when(moment: datetime | None) -> str:
        return cal.describe(moment) if moment else ""

    def fmt_stat(stat: TimeStat) -> dict[str, str]:
        if not stat.count:
            return {"median": "n/a", "worst": "n/a"}
        wd, wh = stat.worst_days, stat.worst_hours
        assert wd is not None and wh is not None
        return {
            "median": f"{stat.median_days:.1f} business days / {stat.median_hours:.1f} "
            "business hours",
            "worst": f"{wd.business_days:.1f} business days ({wd.ref}) / "
            f"{wh.business_hours:.1f} business hours ({wh.ref})",
        }

    comp_rows = report.compliance_rows
    chart_rows, chart_title = comp_rows, "Updates on time (%)"
    if len(comp_rows) > CHART_ROWS:  # a readable chart: the lowest ones (the table has all)
        chart_rows = sorted(comp_rows, key=lambda r: (r.compliance.ratio or 0, r.ref))
        chart_rows = chart_rows[:CHART_ROWS]
        chart_title = f"Updates on time (%), the {CHART_ROWS} lowest"
    return {
        "r": report,
        "policy": policy,
        "when": when,
        "day": lambda m: cal.local(m).strftime("%a %d %b") if m else "",
        "rag_counts": report.rag_counts,
        "rag_order": report.rag_order,
        "change_kinds": CHANGE_KINDS,
        "change_titles": change_titles(policy),
        "ack": fmt_stat(report.acknowledge),
        "res": fmt_stat(report.resolve),
        "comp_rows": comp_rows,
        "week_rows": [(w.week, w.opened, w.closed) for w in report.weeks],
        "comp_chart_title": chart_title,
        "comp_chart_refs": [r.ref for r in chart_rows],
        "comp_bars": [(r.ref, r.compliance.ratio or 0.0) for r in chart_rows],
        "comp_pct": [round((r.compliance.ratio or 0) * 100) for r in chart_rows],
        "charts": charts,
        "marker": briefing_marker(report.week),
        "since_text": when(report.since),
        "now_text": when(report.now),
    }


def render_markdown(report: Report, policy: Policy) -> str:
    from escbot.render import render

    return render("report/briefing.md", **_ctx(report, policy))


def render_html(report: Report, policy: Policy) -> str:
    from escbot.charts import html_environment

    env = html_environment()
    return env.get_template("report/briefing.html").render(**_ctx(report, policy))


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def to_dict(report: Report) -> dict[str, Any]:
    data = asdict(report)
    data["rag_counts"] = report.rag_counts
    data["open_count"] = report.open_count
    data["compliance"]["ratio"] = report.compliance.ratio
    for project, rows in report.groups.items():
        for d, row in zip(data["groups"][project], rows, strict=True):
            d["compliance"]["ratio"] = row.compliance.ratio
    for d, comp_row in zip(data["compliance_rows"], report.compliance_rows, strict=True):
        d["compliance"]["ratio"] = comp_row.compliance.ratio
    out: dict[str, Any] = _jsonable(data)
    return out


def render_json(report: Report, policy: Policy | None = None) -> str:
    return json.dumps(to_dict(report), indent=2, ensure_ascii=False) + "\n"


# --------------------------------------------------------------------------------------------
# The weekly briefing issue.


def briefing_marker(week: str) -> Any:
    return marker("briefing", week=week)


def briefing_title(week: str) -> str:
    return f"PMO briefing {week}"


def find_briefing(api: GitLab, project: Any, week: str, label: str) -> dict[str, Any] | None:
    wanted = briefing_marker(week)
    found = [
        issue
        for issue in api.list_issues(("project", project), labels=[label], state="all")
        if wanted in find_markers(issue.get("description"))
    ]
    return min(found, key=lambda i: i["iid"]) if found else None


def briefing_exposure(api: GitLab, project: Any, policy: Policy, now: datetime) -> str | None:
    """Why customers could read a briefing posted in `project`, or None (the PMO project the
    policy names is trusted as it is)."""
    vis = policy.visibility
    if vis.pmo_project and vis.pmo_project in (project.path_with_namespace, str(project.id)):
        return None
    if next(api.list_issues(("project", project), labels=[policy.labels.marker.name]), None):
        return "it holds escalations, so customers are members of it"
    if project.visibility != "private":
        return f"it is {project.visibility}: accounts outside the organisation can read it"
    ctx = read_context(api, policy, now)
    least = REPORTER if vis.confidential else 0  # a confidential briefing needs Reporter
    others = sorted(
        m["username"]
        for m in api.project_members(project.id)
        if m.get("access_level", 0) >= least and not ctx.is_staff(m["username"])
    )
    if others:
        return "non-staff members can read it: " + ", ".join(others)
    return None


def post_briefing(api: GitLab, project: Any, report: Report, policy: Policy) -> tuple[str, str]:
    """Create, or update, the one briefing issue of the report's ISO week (confidential);
    (web_url, "created" | "updated" | "up to date"). Refused where customers could read it."""
    if not hasattr(project, "id"):
        project = api.project(project)
    problem = briefing_exposure(api, project, policy, report.now)
    if problem:
        raise EscbotError(
            f"not posting the PMO briefing in {project.path_with_namespace}: {problem}",
            hint="post it to an internal PMO project, or name that project in "
            "visibility.pmo_project of policies.yml",
        )
    label = policy.report.label
    body = render_markdown(report, policy)
    title = briefing_title(report.week)
    existing = find_briefing(api, project, report.week, label)
    if existing is not None:
        changes: dict[str, Any] = {}
        if existing.get("description") != body:
            changes["description"] = body
        if existing.get("title") != title:
            changes["title"] = title
        if policy.visibility.confidential and not existing.get("confidential"):
            changes["confidential"] = True
        if changes:
            api.edit_issue(project.id, existing["iid"], **changes)
        return existing.get("web_url") or "", "updated" if changes else "up to date"
    ensure_labels(api, ("project", project), policy, [label])
    issue = api.create_issue(
        project.id,
        title=title,
        description=body,
        labels=label,
        confidential=policy.visibility.confidential,
    )
    # Looked for again: a run not under the lease may have posted the week's briefing meanwhile.
    first = find_briefing(api, project, report.week, label)
    if first is not None and first["iid"] != issue["iid"]:
        api.add_note(project.id, issue["iid"], f"Duplicate of #{first['iid']}.")
        api.edit_issue(project.id, issue["iid"], state_event="close")
        return first.get("web_url") or "", "up to date"
    return issue.get("web_url") or "", "created"
