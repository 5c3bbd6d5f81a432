"""The one reader: GitLab -> Escalation snapshots, for check, closeout, triage, intake and report.

Reads are built for a portfolio: escalations come from one label-filtered issue list (100 per
page), comments from one events read per project since a window start, companions (RAID
registers, retrospectives) from one list each. Only an escalation whose verdict needs older
history costs requests of its own (`complete`). What could not be read is an `Unreadable`,
reported and never evaluated.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from escbot.cache import Listing, MemoryCache
from escbot.commands import command_lines
from escbot.errors import GitLabError
from escbot.gitlab_io import GitLab, scope_path
from escbot.markers import Marker
from escbot.memory import requirements_digest, with_memory
from escbot.model import Companion, Context, Escalation, LabelEvent, Member, Note, Unreadable
from escbot.policies import REPORTER, Policy, Staff

MAX_LOOKBACK = timedelta(days=120)


@dataclass
class Portfolio:
    escalations: list[Escalation] = field(default_factory=list)
    unreadable: list[Unreadable] = field(default_factory=list)


def _midnight(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def _longest_cadence(policy: Policy) -> float:
    """Days, at most, of the longest cadence among the tracking requirements."""
    every = [r.every for reqs in policy.requirements.values() for r in reqs.values()]
    return max((d.days_at_most for d in every), default=7)


def window_start(policy: Policy, now: datetime) -> datetime:
    """The least history the rules need: the longest cadence plus the longest ladder."""
    after = [r.after for rungs in policy.ladder.rungs.values() for r in rungs]
    days = _longest_cadence(policy) + max((d.days_at_most for d in after), default=0) + 2
    return _midnight(now - timedelta(days=days))


def recent_start(policy: Policy, now: datetime) -> datetime:
    """Where a check's read of each project's activity starts: the longest cadence back, and
    two days more. Anything older the rules need comes from escbot's memory (escbot.memory),
    which escbot writes into every note it posts (and a reminder comes within a cadence of the
    last update), or, failing that, from the escalation's whole thread, read when a verdict
    needs it."""
    return _midnight(now - timedelta(days=_longest_cadence(policy) + 2))


def activity_start(policy: Policy, now: datetime, escalations: list[Escalation]) -> datetime:
    """Where the bulk comment read starts: far enough back to hold the whole history of every
    open escalation (so no escalation needs a read of its own), within MAX_LOOKBACK."""
    oldest = min((e.created_at for e in escalations if e.state == "opened"), default=now)
    return max(min(window_start(policy, now), _midnight(oldest)), _midnight(now - MAX_LOOKBACK))


def notes_from_events(
    events: Iterable[dict[str, Any]], wanted: set[int] | None = None
) -> dict[int, list[Note]]:
    """Comments by issue iid (only the `wanted` issues' when given), oldest first."""
    by_iid: dict[int, list[Note]] = defaultdict(list)
    for event in events:
        note = event.get("note") or {}
        if note.get("noteable_type") != "Issue" or note.get("noteable_iid") is None:
            continue
        if wanted is not None and note["noteable_iid"] not in wanted:
            continue
        if "author" not in note and event.get("author"):
            note = {**note, "author": event["author"]}
        by_iid[note["noteable_iid"]].append(Note.from_gitlab(note))
    for notes in by_iid.values():
        notes.sort(key=lambda n: (n.created_at, n.id))
    return by_iid


def companions(
    api: GitLab, scope: tuple[str, Any], label: str, kind: str, **filters: Any
) -> dict[tuple[int, int], tuple[tuple[int, int], Companion]]:
    """Companion issues (RAID registers, retrospectives) by their own issue, each with the
    escalation its marker names."""
    found = {}
    for issue in map(Escalation.from_gitlab, api.list_issues(scope, labels=[label], **filters)):
        belongs = issue.companion_of(kind)
        if belongs:
            found[issue.key] = (belongs, Companion.of(issue))
    return found


def registers(
    api: GitLab, scope: tuple[str, Any], label: str, since: datetime
) -> dict[tuple[int, int], tuple[tuple[int, int], Companion]]:
    """The RAID registers: every open one (one nobody edited for months is still its
    escalation's), and those closed since `since` (close-out closes the register)."""
    found = companions(api, scope, label, "raid", state="opened")
    return found | companions(api, scope, label, "raid", state="closed", updated_after=since)


def by_escalation(
    found: dict[tuple[int, int], tuple[tuple[int, int], Companion]], since: datetime
) -> dict[tuple[int, int], Companion]:
    """Each escalation's register: an open one, else one closed since `since`; of two, the
    one opened first."""
    kept = [(of, c) for of, c in found.values() if c.state == "opened" or c.updated_at >= since]
    kept.sort(key=lambda r: r[1].created_at, reverse=True)
    kept.sort(key=lambda r: r[1].state == "opened")  # stable: closed ones, then open ones
    return dict(kept)  # an escalation's last one wins: open, and opened first


def usernames(api: GitLab, people: Staff) -> frozenset[str]:
    """The users a Staff-shaped list names, its groups' members resolved once."""
    names = set(people.users)
    for path in people.groups:
        names |= {m["username"] for m in api.group_members(path)}
    return frozenset(names)


def read_staff(api: GitLab, policy: Policy) -> frozenset[str] | None:
    """The usernames visibility.staff names; None when the policy names no staff."""
    staff = policy.visibility.staff
    return usernames(api, staff) if staff.declared else None


def read_context(api: GitLab, policy: Policy, now: datetime) -> Context:
    """What the rules are evaluated against besides the snapshots: the bot, the staff, the PMO."""
    return Context(
        policy=policy,
        now=now,
        bot=api.me()["username"],
        staff=read_staff(api, policy),
        pmo=usernames(api, policy.talkback.pmo) if policy.talkback.enabled else frozenset(),
    )


def check_people(
    api: GitLab, scope: tuple[str, Any], policy: Policy
) -> tuple[frozenset[str], list[str]]:
    """The policy's ladder and routing users GitLab does not know or who are no members of the
    scope (one request per user, cached, and one members list): never mentioned, each named in
    one warning line."""
    kind, obj = scope
    members = {
        m["username"]
        for m in (
            api.group_members(obj.full_path) if kind == "group" else api.project_members(obj.id)
        )
    }
    where = scope_path(scope)
    muted: set[str] = set()
    warnings: list[str] = []
    for name in policy.people():
        user = api.user(name)
        if user is None:
            why = "no such GitLab user"
        elif name not in members and not user.get("is_admin"):
            why = f"not a member of {where}, so cannot see its escalations"
        else:
            continue
        muted.add(name)
        warnings.append(f"{policy.source}: ladder/routing user {name}: {why}; never mentioned")
    return frozenset(muted), warnings


def readers(api: GitLab, project_id: int) -> tuple[Member, ...]:
    """The project's members who read confidential issues and internal notes."""
    return tuple(
        Member(m["username"], m["access_level"])
        for m in api.project_members(project_id)
        if m.get("access_level", 0) >= REPORTER
    )


def has_commands(policy: Policy, escalations: Iterable[Escalation]) -> bool:
    """Whether a comment gives escbot a command (escbot's own answers only quote them)."""
    return policy.talkback.enabled and any(
        "/escbot" in n.body.lower() and command_lines(n.body) for e in escalations for n in e.notes
    )


def read_portfolio(
    api: GitLab, scope: tuple[str, Any], policy: Policy, now: datetime, **options: Any
) -> Portfolio:
    """The whole portfolio at once (see stream_portfolio for what it holds)."""
    portfolio = Portfolio()
    for part in stream_portfolio(api, scope, policy, now, **options):
        portfolio.escalations += part.escalations
        portfolio.unreadable += part.unreadable
    return portfolio


def stream_portfolio(
    api: GitLab,
    scope: tuple[str, Any],
    policy: Policy,
    now: datetime,
    *,
    closed_since: datetime | None = None,
    notes_from: datetime | None = None,
    intake: bool = True,
    with_companions: bool = True,
    with_readers: bool = True,
    bot: str | None = None,
    cache: MemoryCache | None = None,
) -> Iterator[Portfolio]:
    """Open escalations, those closed since `closed_since` (default: the rules' window; the
    close-out rules still apply to them), and, with `intake`, e-mailed issues not classified
    yet, each with its comments since `notes_from` (default: enough for every open one's whole
    history) and its companions; with `with_readers` and staff named in the policy, each
    project's members who read confidential issues (the access audit). With `bot`, escbot's
    memory in its own recent notes (and in `cache`) stands in for the older history
    (escbot.memory, escbot.cache). One project
    at a time, so a caller that evaluates each part as it comes holds one project's activity at
    most."""
    marker_label = policy.labels.marker.name
    names = policy.process.labels
    listing = cache.listed(now) if cache else None
    if listing is not None and listing.since and _milestones_changed(api, scope, listing.since):
        listing = None  # a milestone's dates change on it, not on its issues: list all again
    # GitLab's time before anything is listed: the next run's list of changes starts there.
    start = api.server_time
    if listing is not None:  # the last run's, brought up to date by one list of the changes
        listing = changes(api, scope, policy, listing)
        opened = listing.ordered()
    else:
        issues = api.list_issues(scope, labels=[marker_label], state="opened")
        opened = [Escalation.from_gitlab(i) for i in issues]
    lists = [
        api.list_issues(
            scope,
            labels=[marker_label],
            state="closed",
            updated_after=closed_since or window_start(policy, now),
        ),
    ]
    if intake and policy.intake.enabled:
        lists.append(
            api.list_issues(
                scope,
                state="opened",
                author_username=policy.intake.author,
                **{"not[labels]": marker_label},
            )
        )
    # Page by page: GitLab's whole issue objects are never all held at once.
    escalations = opened + [Escalation.from_gitlab(i) for issues in lists for i in issues]
    since = notes_from or activity_start(policy, now, escalations)
    found = {}
    if listing is not None:
        found = listing.registers
    elif with_companions:
        found = registers(api, scope, names.raid_register, since)
    raids = by_escalation(found, since)
    retros: dict[tuple[int, int], Companion] = {}
    if cache is not None:
        listing = listing or Listing({e.key: e for e in opened}, found, None, now)
        cache.listing = listing.after(start)
    if with_companions:
        # As GitLab lists them (newest first), an escalation's last one wins.
        retros = dict(companions(api, scope, names.retrospective, "retro", state="all").values())
    yield from _by_project(api, policy, escalations, since, with_readers, raids, retros, bot, cache)


def _milestones_changed(api: GitLab, scope: tuple[str, Any], since: datetime) -> bool:
    """Whether a milestone changed since; a GitLab that cannot say gets the whole list."""
    try:
        return api.milestones_changed(scope, since)
    except GitLabError:
        return True


def changes(api: GitLab, scope: tuple[str, Any], policy: Policy, listing: Listing) -> Listing:
    """`listing` brought up to date by one list of the scope's issues changed since, labelled or
    not: a label removed, an issue closed or moved takes an escalation off."""
    changed = api.list_issues(scope, state="all", updated_after=listing.since)
    marker, register = policy.labels.marker.name, policy.process.labels.raid_register
    return listing.changed(map(Escalation.from_gitlab, changed), marker, register)


def relist(api: GitLab, scope: tuple[str, Any], policy: Policy, cache: MemoryCache) -> str | None:
    """After escbot wrote: the issues changed since the run's list, so that the next run's list
    starts after escbot's own writes (a page per 100 issues written, here rather than there);
    a warning line when GitLab failed (the next run lists them instead)."""
    if cache.listing is None or cache.listing.since is None:
        return None
    start = api.server_time
    try:
        cache.listing = changes(api, scope, policy, cache.listing).after(start)
    except GitLabError as exc:
        return f"cache: the issues escbot changed could not be listed again ({exc})"
    return None


def _by_project(
    api: GitLab,
    policy: Policy,
    escalations: list[Escalation],
    since: datetime,
    with_readers: bool,
    raids: dict[tuple[int, int], Companion],
    retros: dict[tuple[int, int], Companion],
    bot: str | None,
    cache: MemoryCache | None,
) -> Iterator[Portfolio]:
    """Each project's escalations with their activity, one project at a time: the projects are
    read a few at once (GitLab's rate limit permitting), and only the escalations' comments are
    kept of each project's events, so no more than a few projects' raw events are ever held.
    With escbot's memory in the cache (escbot.cache), a project where nothing was said since is
    not read at all, and a changed one only since that memory."""
    projects: dict[int, list[Escalation]] = defaultdict(list)
    for esc in escalations:
        projects[esc.project_id].append(
            esc.with_activity(raid=raids.get(esc.key), retro=retros.get(esc.key))
        )
    # The access audit: read only when the policy can tell staff from customers.
    audit = with_readers and policy.visibility.staff.declared
    reqs = requirements_digest(policy)

    def read(project_id: int) -> tuple[list[Escalation], tuple[Member, ...] | GitLabError | None]:
        cached = {e.key: cache.recalled(e) for e in projects[project_id]} if cache else {}
        # Unchanged since escbot's memory of it: its comments and GitLab's updated_at (cache).
        quiet = {e.key for e in projects[project_id] if (hit := cached.get(e.key)) and hit[1]}
        # The rest are read from their memory (the oldest of them), or the rules' window.
        starts = [
            max(since, hit[0].as_of) if (hit := cached.get(e.key)) else since
            for e in projects[project_id]
            if e.key not in quiet
        ]
        notes: dict[int, list[Note]] = {}
        read_from = min(starts, default=since)
        if starts:
            # GitLab's `after` is a whole day, exclusive, in the instance's time zone: two days
            # before `read_from`'s UTC day is before it in any zone.
            after = (read_from.astimezone(UTC) - timedelta(days=2)).date()
            wanted = {e.iid for e in projects[project_id] if e.key not in quiet}
            notes = notes_from_events(api.note_events(project_id, after), wanted)
        out = []
        for esc in projects[project_id]:
            hit = cached.get(esc.key)
            if esc.key in quiet and hit:
                memory = hit[0]
                esc = esc.with_activity(
                    notes=memory.notes, notes_since=memory.as_of, memory_as_of=memory.as_of
                )
            else:
                esc = esc.with_activity(
                    notes=tuple(notes.get(esc.iid, ())),
                    notes_since=read_from if esc.created_at < read_from else None,
                )
                if bot:
                    esc = with_memory(esc, bot, reqs, hit[0] if hit else None)
            out.append(esc)
        # The members: for the access audit, and to know who may give escbot commands
        # (escbot.talkback: Reporter and above) where a comment holds one.
        if not (audit or has_commands(policy, out)):
            return out, None
        try:
            return out, readers(api, project_id)
        except GitLabError as exc:  # only the audit is lost: the escalations are evaluated
            return out, exc

    for project_id, answer in api.parallel(read, sorted(projects)):
        part = Portfolio()
        try:
            built, members = answer.result()
        except GitLabError as exc:
            reason = f"its activity could not be read ({exc})"
            part.unreadable = [Unreadable(e.ref, reason) for e in projects[project_id]]
            yield part
            continue
        if isinstance(members, GitLabError):
            reason = f"the access audit (its members could not be read: {members})"
            part.unreadable.append(Unreadable(projects[project_id][0].project_path, reason))
        part.escalations = [
            e.with_activity(readers=members if isinstance(members, tuple) else None) for e in built
        ]
        yield part


def threads_read(escalations: Iterable[Escalation]) -> dict[tuple[int, int], list[Marker]]:
    """escbot's markers on each escalation whose history this run knows (read whole, or since
    escbot's memory): the executor's pre-check under the lease."""
    return {e.key: e.posted_markers for e in escalations if e.history_known}


def complete(api: GitLab, esc: Escalation, needs: set[str]) -> Escalation:
    """Fetch the history an evaluation said it lacked."""
    changes: dict[str, Any] = {}
    if "notes" in needs and esc.notes_since is not None:
        notes = [Note.from_gitlab(n) for n in api.notes(esc.project_id, esc.iid)]
        changes.update(notes=tuple(notes), notes_since=None, memory_as_of=None)
    if "label_events" in needs and esc.label_events is None:
        changes["label_events"] = label_events(api, esc)
    if "links" in needs and esc.links is None:
        changes["links"] = linked(api.links(esc.project_id, esc.iid))
    return esc.with_activity(**changes) if changes else esc


def linked(links: list[dict[str, Any]]) -> frozenset[tuple[int, int]]:
    return frozenset((i["project_id"], i["iid"]) for i in links)


def label_events(api: GitLab, esc: Escalation) -> tuple[LabelEvent, ...]:
    return tuple(LabelEvent.from_gitlab(e) for e in api.label_events(esc.project_id, esc.iid))


def read_one(api: GitLab, project_id: int, iid: int) -> Escalation:
    """One escalation with its whole history and companions (for on-demand commands)."""
    esc = Escalation.from_gitlab(api.issue(project_id, iid))
    found: dict[str, Companion] = {}
    links = api.links(project_id, iid)
    for linked_issue in map(Escalation.from_gitlab, links):
        for kind in ("raid", "retro"):
            if linked_issue.companion_of(kind) == (project_id, iid):
                found[kind] = Companion.of(linked_issue)
    esc = esc.with_activity(
        raid=found.get("raid"),
        retro=found.get("retro"),
        notes_since=esc.created_at,
        links=linked(links),
        readers=readers(api, project_id),
    )
    return complete(api, esc, {"notes", "label_events"})
