"""The executor: a plan of actions becomes GitLab writes, each idempotent by its marker.

One static table, HANDLERS, maps every action kind to its handler; every write goes through the
gateway (escbot.gitlab_io). Before a write the handler looks at what is there now, so a rerun or
an overlapping run never posts twice; failures become outcomes, never an abort of the run.

Comments cost one POST each under the lease: the run's own read of an escalation's whole thread
(taken under the lease, so no other escbot run has written since) stands in for the pre-check,
and no overlapping run can have posted the same marker, so there is nothing to dedupe. Without
the lease, or for an issue the run did not read whole, the thread is read before and after.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from escbot import description as desc
from escbot.errors import GitLabError
from escbot.gitlab_io import GitLab, NotesCapReached
from escbot.markers import Marker, find_markers, marker
from escbot.opening import raid_line
from escbot.plan import Action, ActionKind
from escbot.slack_io import ChatUnavailable, Gateway, Slack, mrkdwn


@dataclass
class Outcome:
    action: Action
    status: str  # "done", "already done", "skipped" (Slack unavailable), "deferred" (the
    # run's note cap), "error: ..."

    @property
    def error(self) -> str | None:
        return self.status[len("error: ") :] if self.status.startswith("error: ") else None


class _Issue:
    """What the executor knows of one issue during a run: its markers, read once (or taken from
    the run's own read, `known`), then kept current by the executor's own writes."""

    def __init__(
        self,
        api: GitLab,
        project_id: int,
        iid: int,
        chat: Gateway | None = None,
        known: Iterable[Marker] | None = None,
    ) -> None:
        self.api, self.project_id, self.iid = api, project_id, iid
        self._markers: set[Marker] | None = None if known is None else set(known)
        self.chat = chat  # Slack and the webhook, when the policy turns them on

    @property
    def markers(self) -> set[Marker]:
        if self._markers is None:
            self._markers = markers_on(self.api, self.project_id, self.iid)
        return self._markers

    def has(self, action: Action) -> bool:
        return set(action.markers) <= self.markers

    def posted(self, action: Action) -> None:
        self.markers.update(action.markers)


def markers_on(api: GitLab, project_id: int, iid: int) -> set[Marker]:
    """The markers in an issue's comments, read fresh (the check before any write)."""
    return {
        m
        for n in api.notes(project_id, iid)
        if not n.get("system")
        for m in find_markers(n.get("body"))
    }


# --------------------------------------------------------------------------------------------
# Handlers: (api, action, issue) -> status.

Handler = Callable[[GitLab, Action, _Issue], str]


def post_comment(api: GitLab, action: Action, issue: _Issue) -> str:
    """A comment, or an internal note (`action.internal`: members with Reporter and above see
    it; Service Desk never e-mails it)."""
    if issue.has(action):
        return "already done"
    note = api.add_note(action.project_id, action.iid, action.body, internal=action.internal)
    issue.posted(action)
    if api.leased:
        return "done"  # no other escbot run writes while this one holds the lease
    # Without the lease two overlapping runs can both post; the later note removes itself.
    wanted = set(action.markers)
    for other in api.notes(action.project_id, action.iid):
        if other["id"] < note["id"] and wanted & set(find_markers(other.get("body"))):
            api.delete_note(action.project_id, action.iid, note["id"])
            return "already done (by an overlapping run)"
    return "done"


def relabel(api: GitLab, action: Action, issue: _Issue) -> str:
    """GitLab's add_labels/remove_labels are relative, so repeating them changes nothing: no
    read first (one request per relabel, not two)."""
    changes: dict[str, Any] = {}
    if action.add_labels:
        changes["add_labels"] = ",".join(action.add_labels)
    if action.remove_labels:
        changes["remove_labels"] = ",".join(action.remove_labels)
    if not changes:
        return "already done"
    api.edit_issue(action.project_id, action.iid, **changes)
    return "done"


def set_state(api: GitLab, action: Action, issue: _Issue) -> str:
    wanted = "closed" if action.kind == "close" else "opened"
    if api.issue(action.project_id, action.iid)["state"] == wanted:
        return "already done"
    api.edit_issue(action.project_id, action.iid, state_event=action.kind)
    return "done"


def edit_description(api: GitLab, action: Action, issue: _Issue) -> str:
    """Replace lines and append text in the description, once: the action's markers in the
    description say it is done. What people wrote stays as it is."""
    text = api.issue(action.project_id, action.iid).get("description") or ""
    if set(action.markers) <= set(find_markers(text)):
        return "already done"
    new = text
    for old, replacement in action.data.get("replace", ()):
        new = new.replace(old, replacement, 1)
    new += action.data.get("append", "")
    if new == text:
        return "already done"
    api.edit_issue(action.project_id, action.iid, description=new)
    return "done"


def set_due_date(api: GitLab, action: Action, issue: _Issue) -> str:
    """Setting the date it already has changes nothing on GitLab: no read first."""
    api.edit_issue(action.project_id, action.iid, due_date=action.data["due_date"] or "")
    return "done"


def create_companion(api: GitLab, action: Action, issue: _Issue) -> str:
    return ensure_companion(api, action).status


@dataclass(frozen=True)
class Companioned:
    issue: dict[str, Any]
    created: bool  # by this run
    linked: bool  # by this run
    duplicate: bool  # an overlapping run made it first; this run's copy was closed
    named: bool = False  # this run put its reference on the escalation's Links line

    @property
    def status(self) -> str:
        if self.duplicate:
            return "already done (by an overlapping run)"
        return "done" if self.created or self.linked or self.named else "already done"


def ensure_companion(api: GitLab, action: Action) -> Companioned:
    """Create the issue an action describes (a RAID register, a retrospective) once, linked,
    and (with data["links_line"]) named on the escalation's Links line, in that order: each
    step is looked for before it is done, so a run cut short after any of them is finished by
    the next.

    Found again by its marker before creating; after creating, a copy made by an overlapping
    run is looked for, and the newer of the two is closed as a duplicate.
    """
    project = api.project(action.project_id)

    def existing() -> list[dict[str, Any]]:
        found = api.list_issues(("project", project), labels=action.data["labels"], state="all")
        mine = [i for i in found if set(action.markers) & set(find_markers(i.get("description")))]
        return sorted(mine, key=lambda i: i["iid"])

    created = duplicate = False
    found = existing()
    if not found:
        ids = [u["id"] for u in (api.user(name) for name in action.data["assignees"]) if u]
        mine = api.create_issue(
            action.project_id,
            title=action.data["title"],
            description=action.body,
            labels=",".join(action.data["labels"]),
            assignee_ids=ids,
            confidential=action.internal,
        )
        found, created = existing(), True
        for copy in found[1:]:
            if copy["iid"] == mine["iid"]:
                api.add_note(
                    copy["project_id"],
                    copy["iid"],
                    f"Duplicate of #{found[0]['iid']}.",
                    internal=action.internal,
                )
                api.edit_issue(copy["project_id"], copy["iid"], state_event="close")
                duplicate = True
    keep = found[0]
    linked = {(i.get("project_id"), i.get("iid")) for i in api.links(action.project_id, action.iid)}
    link = (keep["project_id"], keep["iid"]) not in linked
    if link:
        api.link(action.project_id, action.iid, keep["project_id"], keep["iid"])
    return Companioned(keep, created and not duplicate, link, duplicate, _name(api, action, keep))


def _name(api: GitLab, action: Action, companion: dict[str, Any]) -> bool:
    """Replace the escalation's waiting Links line with the companion's reference."""
    line = action.data.get("links_line")
    if not line:
        return False
    text = api.issue(action.project_id, action.iid).get("description") or ""
    if line not in text:
        return False
    named = text.replace(line, raid_line(f"#{companion['iid']}"), 1)
    api.edit_issue(action.project_id, action.iid, description=named)
    return True


def close_companion(api: GitLab, action: Action, issue: _Issue) -> str:
    """A final note on a companion issue (once), then close it."""
    post_comment(api, action, issue)  # the final note, once, by its marker
    if api.issue(action.project_id, action.iid)["state"] == "closed":
        return "already done"
    api.edit_issue(action.project_id, action.iid, state_event="close")
    return "done"


def make_confidential(api: GitLab, action: Action, issue: _Issue) -> str:
    """An escalation a person opened public becomes confidential."""
    if api.issue(action.project_id, action.iid).get("confidential"):
        return "already done"
    api.edit_issue(action.project_id, action.iid, confidential=True)
    return "done"


def assign(api: GitLab, action: Action, issue: _Issue) -> str:
    """Create missing policy labels; set assignee, due date and the tracking sections only where
    none is set (an e-mailed escalation becoming a tracked one)."""
    data = action.data
    changes: dict[str, Any] = {}
    specs = data.get("labels") or []
    if specs:
        project = api.project(action.project_id)
        have = {lab["name"] for lab in api.labels(("project", project), include_ancestors=True)}
        for name, color, description in specs:
            if name not in have:
                api.create_label(("project", project), name, color, description)
    current = api.issue(action.project_id, action.iid)
    if data.get("assignee") and not current.get("assignees"):
        user = api.user(data["assignee"])
        if user is None:
            raise GitLabError(f"user {data['assignee']} (routing) not found on GitLab")
        changes["assignee_ids"] = [user["id"]]
    if data.get("due_date") and not current.get("due_date"):
        changes["due_date"] = data["due_date"]
    text = current.get("description") or ""
    if data.get("description") and not any(m.kind == "escalation" for m in find_markers(text)):
        changes["description"] = data["description"]
    if not changes:
        return "already done"
    api.edit_issue(action.project_id, action.iid, **changes)
    return "done"


# --------------------------------------------------------------------------------------------
# The Slack thread: Slack through the gateway, each step found again before it is done.

_MENTION = re.compile(r"(?<![\w`])@([A-Za-z0-9_.][A-Za-z0-9_.\-]*[A-Za-z0-9_])")


def _slack(issue: _Issue) -> Slack:
    if issue.chat is None or issue.chat.slack is None:
        raise ChatUnavailable("Slack is not connected in this run")
    return issue.chat.slack


def _text(api: GitLab, slack: Slack, markdown: str) -> str:
    """Slack's text of a markdown body: GitLab users mentioned become Slack mentions."""
    ids = {}
    for name in dict.fromkeys(_MENTION.findall(markdown)):
        user = api.user(name)
        if user is not None:
            ids[name] = slack.slack_id(name, user.get("email") or user.get("public_email"))
    return mrkdwn(markdown, ids)


def chat_open(api: GitLab, action: Action, issue: _Issue) -> str:
    """Start the thread (or find the one a run cut short posted, by its metadata), pin it,
    record it in the description (marker, Links line, Phase 1 items ticked), say so."""
    slack = _slack(issue)
    text = api.issue(action.project_id, action.iid).get("description") or ""
    if any(m.kind == "chat-thread" and m.get("ts") for m in find_markers(text)):
        return "already done"
    data = action.data
    found = slack.find_thread(data["channel"], action.ref, data["oldest"])
    if found is None:
        body = _text(api, slack, action.body)
        mine = slack.post(data["channel"], body, {"thread": action.ref})
        # An overlapping run may have started one too: the oldest stays, this one goes.
        found = slack.find_thread(data["channel"], action.ref, data["oldest"]) or mine
        if found != mine:
            slack.delete(*mine)
    channel, ts = found
    slack.pin(channel, ts)
    link = slack.permalink(channel, ts)
    where = marker("chat-thread", channel=channel, ts=ts)
    new, _ticked = desc.tick_tasks(text, data["phase1_items"])
    new = desc.fill_link(new, data["links_line"], f"{link} {where}")
    api.edit_issue(action.project_id, action.iid, description=new)
    post_comment(api, replace(action, kind="comment", body=data["comment"]), issue)
    return "done"


def chat_reply(api: GitLab, action: Action, issue: _Issue) -> str:
    """A reply in the thread, once per set of markers (found again by message metadata)."""
    slack = _slack(issue)
    channel, ts = action.data["thread"]
    if set(action.markers) <= slack.thread(channel, ts).mirrored:
        return "already done"
    payload = {"thread": action.ref, "markers": [m.render() for m in action.markers]}
    slack.post(channel, _text(api, slack, action.body), payload, thread_ts=ts)
    return "done"


def chat_close(api: GitLab, action: Action, issue: _Issue) -> str:
    """The outcome posted once, the close-out item ticked, and the thread unpinned last (the
    rule plans this while the thread is pinned, so a run cut short is finished by the next)."""
    chat_reply(api, action, issue)
    item = action.data.get("closeout_item")
    if item:
        text = api.issue(action.project_id, action.iid).get("description") or ""
        new, ticked = desc.tick_tasks(text, [item])
        if ticked:
            api.edit_issue(action.project_id, action.iid, description=new)
    channel, ts = action.data["thread"]
    return "done" if _slack(issue).unpin(channel, ts) else "already done"


HANDLERS: dict[ActionKind, Handler] = {
    "comment": post_comment,
    "edit_description": edit_description,
    "due_date": set_due_date,
    "labels": relabel,
    "close": set_state,
    "reopen": set_state,
    "create_raid": create_companion,
    "create_retro": create_companion,
    "close_companion": close_companion,
    "assign": assign,
    "confidential": make_confidential,
    "chat_open": chat_open,
    "chat_reply": chat_reply,
    "chat_close": chat_close,
}


def apply_plan(
    api: GitLab,
    actions: list[Action],
    errors: list[str] | None = None,
    chat: Gateway | None = None,
    read: Mapping[tuple[int, int], Iterable[Marker]] | None = None,
) -> list[Outcome]:
    """Perform a plan, issue by issue in order; a failure stops that issue's later actions
    (they may depend on it) and is an outcome (and a line in `errors`), never an abort. Slack
    failing is no error: that action is skipped (the gateway's one warning line says why) and
    the issue's GitLab work goes on.

    `read`: the markers in the comments of issues whose whole thread this run read under the
    lease; while the lease is held they are the pre-check (no second read of the thread)."""
    known = read if read is not None and api.leased else {}
    api.announce_notes(sum(1 for a in actions if a.kind == "comment"))
    outcomes: list[Outcome] = []
    by_issue: dict[tuple[int, int], list[Action]] = defaultdict(list)
    for action in actions:
        by_issue[(action.project_id, action.iid)].append(action)
    for (project_id, iid), group in by_issue.items():
        issue = _Issue(api, project_id, iid, chat, known.get((project_id, iid)))
        for action in group:
            try:
                outcomes.append(Outcome(action, HANDLERS[action.kind](api, action, issue)))
                if chat and action.kind == "comment" and outcomes[-1].status == "done":
                    chat.echo(action.body, action.markers)  # the webhook's one-way mirror
            except ChatUnavailable:  # the gateway's one warning line says why
                outcomes.append(Outcome(action, "skipped"))
            except NotesCapReached:
                # The next run finds what this one posted by its markers and does the rest.
                outcomes += [Outcome(a, "deferred") for a in group[group.index(action) :]]
                break
            except GitLabError as exc:
                outcomes.append(Outcome(action, f"error: {exc}"))
                break
    if errors is not None:
        errors += [f"{o.action.ref}: {o.error}" for o in outcomes if o.error]
    return outcomes
