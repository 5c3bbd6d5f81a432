"""`escbot demo`: the whole product against an embedded sandbox, told as a story.

Each step is a plain function of the demo world and prints about one screen: who did what
(people's comments, abbreviated, with their time), what escbot posted and why, and a link to
the full text in the sandbox's web view. The sandbox starts with a fixed clock and token and
time is scripted on it (and passed to escbot as `now`), so every run leaves the same GitLab.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from escbot.check import run_check
from escbot.description import tick_section
from escbot.executor import Outcome
from escbot.gitlab_io import GitLab
from escbot.labels import sync_labels
from escbot.policies import Policy
from escbot.sandbox import Sandbox, start_sandbox

Echo = Callable[[str], None]

GROUP = "demo-customers"
# The PMO's own internal project, where no customer is a member: the briefing goes there.
PMO_GROUP, PMO_PROJECT = "demo-pmo", "demo-pmo/briefings"
PROJECTS = {"acme-logistics": "Acme Logistics", "globex-rentals": "Globex Rentals"}
BOT = "escbot"  # the scheduled job's user: the demo's API calls for escbot run as it
PEOPLE = {
    "pat": "Pat Morgan (PM, DRI)",
    BOT: "escbot (the scheduled job's bot user)",
    "pm.lead": "PM lead",
    "qa.lead": "QA lead",
    "team.manager": "Team manager",
    "director.ps": "Director of Professional Services",
    "pmo.manager": "PMO manager",
    "fixed.pm": "PM, fixed accounts",
    "fixed.qa": "QA, fixed accounts",
    "fixed.manager": "Team manager, fixed accounts",
    "mobile.pm": "PM, mobile accounts",
    "mobile.qa": "QA, mobile accounts",
    "mobile.manager": "Team manager, mobile accounts",
}
CUSTOMER = ("dana", "Dana (Acme Logistics, customer)")
# Monday of the demo week, 09:00 in New York (the shipped policy's timezone).
START = datetime(2026, 11, 16, 14, 0, tzinfo=UTC)
# root's token in the demo's sandbox: fixed, so a run is repeatable; the sandbox is loopback only.
TOKEN = "glpat-escbot-demo-root"
WIDTH = 100  # the story's lines are wrapped to this
QUOTE = 72  # a person's comment is shown up to this many characters
INDENT = " " * 17  # a story line's text starts here, after "  10:00  pat     "


def start_demo_sandbox(port: int = 0) -> Sandbox:
    """The demo's sandbox: clock frozen at the start of the story, root's token fixed."""
    return start_sandbox(token=TOKEN, now=START, port=port)


def abbreviate(text: str, limit: int = QUOTE) -> str:
    """A comment on one line: its lines joined, cut at a word with an ellipsis."""
    flat = " / ".join(line.strip() for line in text.splitlines() if line.strip())
    return flat if len(flat) <= limit else flat[: limit - 1].rsplit(" ", 1)[0] + " …"


def headings(markdown: str) -> list[str]:
    """The `## ` headings of a description, without their parenthesised details."""
    lines = markdown.splitlines()
    return [line[3:].split(" (", 1)[0].strip() for line in lines if line.startswith("## ")]


@dataclass
class Demo:
    sb: Sandbox
    policy: Policy
    out: Path
    echo: Echo
    tokens: dict[str, str] = field(default_factory=dict)
    issues: dict[str, dict[str, Any]] = field(default_factory=dict)
    day: date | None = None  # the day whose heading was printed last

    def api(self, who: str = BOT) -> GitLab:
        return GitLab(self.sb.gitlab(token=self.tokens[who]))

    @property
    def now(self) -> datetime:
        return self.sb.now()

    def at(self, moment: datetime) -> None:
        self.sb.set_now(moment)

    def local(self, moment: datetime) -> str:
        return self.policy.calendar.describe(moment)

    def scope(self) -> tuple[str, Any]:
        api = self.api()
        return "group", api.group(GROUP)

    # ---- telling the story -----------------------------------------------------------------

    def header(self, text: str) -> None:
        self.echo("")
        self.echo(f"== {text}")
        self.day = None  # each step names its first day

    def wrap(self, text: str, indent: str) -> None:
        lines = textwrap.wrap(
            text, WIDTH, initial_indent=indent, subsequent_indent=indent, break_on_hyphens=False
        )
        for line in lines:
            self.echo(line)

    def said(self, who: str, text: str) -> None:
        """One line of the story at the sandbox's current time: `10:00  pat  ...`, under a
        heading for the day when the day changes."""
        local = self.policy.calendar.local(self.now)
        if local.date() != self.day:
            self.day = local.date()
            self.echo(f"-- {local:%a %d %b} ({local:%Z})")
        lines = textwrap.wrap(text, WIDTH - len(INDENT), break_on_hyphens=False) or [""]
        self.echo(f"  {local:%H:%M}  {who:<7} {lines[0]}")
        for line in lines[1:]:
            self.echo(INDENT + line)

    def url(self, key: str) -> str:
        """The issue's page in the web view."""
        return str(self.issues[key]["web_url"])

    def comment(self, key: str, body: str, who: str = "pat") -> None:
        issue = self.issues[key]
        self.api(who).add_note(issue["project_id"], issue["iid"], body)
        self.said(who, f"comments on {short(issue['references']['full'])}: “{abbreviate(body)}”")

    def edit(self, key: str, who: str = "pat", **attrs: Any) -> dict[str, Any]:
        issue = self.issues[key]
        self.issues[key] = self.api(who).edit_issue(issue["project_id"], issue["iid"], **attrs)
        return self.issues[key]

    def check(self) -> None:
        """The scheduled run (`escbot check --apply`), and what it posted on each escalation."""
        result = run_check(self.api(), self.scope(), self.policy, self.now, apply=True)
        marker = self.policy.labels.marker.name
        watched = sum(e.state == "opened" and marker in e.labels for e in result.escalations)
        comments = sum(o.action.kind == "comment" and o.status == "done" for o in result.outcomes)
        run = f"`escbot check --apply` over {plural(watched, 'open escalation')}"
        if not result.outcomes and not result.errors:
            self.said(BOT, f"{run}: nothing to post")
            return
        self.said(BOT, f"{run}: {plural(comments, 'comment')}, at most one per escalation")
        self.tell(result.outcomes)
        for error in result.errors:
            self.wrap(f"error: {error}", INDENT)

    def tell(self, outcomes: Iterable[Outcome]) -> None:
        """What escbot did, escalation by escalation: its comment (to whom, why, where to read
        it in full) and its other writes."""
        for outcome in outcomes:
            action = outcome.action
            what = short(action.summary)
            if outcome.status != "done":
                self.wrap(f"{what}: {outcome.status}", INDENT)
            elif action.kind == "comment":
                url, note = self.posted(action.project_id, action.iid)
                kind = "internal note" if action.internal else "comment (public)"
                who = ", ".join(f"@{m}" for m in mentioned(note)) or "nobody"
                self.echo(f"{INDENT}{short(action.ref)}: one {kind}, mentions {who}:")
                for part in what.removeprefix(f"comment on {short(action.ref)}: ").split("; "):
                    self.wrap(part, INDENT + "    ")
                self.echo(f"{INDENT}    {url}")
            else:
                self.wrap(what, INDENT)

    def posted(self, project_id: int, iid: int) -> tuple[str, str]:
        """escbot's latest note on an issue, the one it just posted: (its anchor in the web
        view, its text)."""
        api = self.api()
        issue = api.issue(project_id, iid)
        mine = [
            n
            for n in api.notes(project_id, iid)
            if not n.get("system") and n["author"]["username"] == BOT
        ]
        if not mine:
            return str(issue["web_url"]), ""
        return f"{issue['web_url']}#note_{mine[-1]['id']}", str(mine[-1]["body"])


def mentioned(body: str) -> list[str]:
    """The demo's people a note mentions (GitLab notifies them), in order; an e-mail address
    is not a mention."""
    known = {*PEOPLE, CUSTOMER[0]}
    found = re.findall(r"(?<![\w.])@([\w.-]*\w)", body)
    return [name for name in dict.fromkeys(found) if name in known]


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def short(text: str) -> str:
    """References without the customer group's prefix: `acme-logistics#1`."""
    return text.replace(f"{GROUP}/", "")


def tick(d: Demo, key: str, heading: str) -> dict[str, Any]:
    """Check every task under a heading, as the PM would in GitLab's UI."""
    issue = d.issues[key]
    text = d.api().issue(issue["project_id"], issue["iid"])["description"]
    return d.edit(key, description=tick_section(text, heading))


# --------------------------------------------------------------------------------------------
# Steps.


def step_foundation(d: Demo) -> None:
    d.header("1. A GitLab of our own: the sandbox, a customer group, people")
    gl = d.sb.gitlab()
    for username, name in PEOPLE.items():
        _, token = d.sb.create_user(username, name=name, bot=(username == BOT))
        d.tokens[username] = token
    group = gl.groups.create({"name": "Demo customers", "path": GROUP})
    for username in PEOPLE:
        user = gl.users.list(username=username)[0]
        group.members.create({"user_id": user.id, "access_level": 30})
    for path, name in PROJECTS.items():
        gl.projects.create(
            {"name": f"{name} collaboration", "path": path, "namespace_id": group.id}
        )
    pmo = gl.groups.create({"name": "Demo PMO", "path": PMO_GROUP})
    for username in PEOPLE:
        user = gl.users.list(username=username)[0]
        pmo.members.create({"user_id": user.id, "access_level": 30})
    gl.projects.create({"name": "PMO briefings", "path": "briefings", "namespace_id": pmo.id})
    changes = sync_labels(d.api("pat"), ("group", d.api("pat").group(GROUP)), d.policy, apply=True)
    d.echo(f"sandbox {d.sb.url}/ (its web view; clock at {d.local(d.now)})")
    d.echo(f"group {GROUP}: projects " + ", ".join(f"{GROUP}/{p}" for p in PROJECTS))
    d.echo(f"internal PMO project (no customers): {PMO_PROJECT}")
    d.wrap("people: " + "; ".join(f"{u} = {n}" for u, n in PEOPLE.items()), "")
    d.echo(f"labels synced from policies.yml: {sum(c.action == 'create' for c in changes)} created")
    d.wrap(
        "escbot's scheduled job (`escbot check --apply`) runs each morning at 10:00, and in the "
        "close-out after each of pat's moves. Every link below opens the full text in the "
        "sandbox's read-only web view, which gives times in UTC (10:00 EST is 15:00 UTC).",
        "",
    )


def step_open(d: Demo) -> None:
    from escbot.create import open_escalation
    from escbot.opening import EscalationRequest

    d.header("2. A customer escalates, a project turns Red: escbot new")
    requests = {
        "sev1": EscalationRequest(
            project=f"{GROUP}/acme-logistics",
            level="sev1",
            type="customer",
            category="technician-no-show",
            severity="critical",
            title="Technician no-show at the Dallas yard, customer threatens to withhold payment",
            customer="Acme Logistics",
            dri="pat",
            account_type="fixed",
            now=d.now,
        ),
        "sev2": EscalationRequest(
            project=f"{GROUP}/globex-rentals",
            level="sev2",
            type="internal",
            category="timeline",
            severity="medium",
            title="Mobile rollout 17 days behind the critical milestone",
            customer="Globex Rentals",
            dri="pat",
            account_type="mobile",
            trigger_detail="17 days behind the camera-install milestone, no approved change",
            now=d.now,
        ),
    }
    for key, request in requests.items():
        result = open_escalation(d.api("pat"), d.policy, request)
        assert result.escalation is not None and result.raid is not None
        issue = d.issues[key] = result.escalation
        d.issues[key + "-raid"] = result.raid
        ref = short(issue["references"]["full"])
        d.said("pat", f"opens a {key.upper()} with `escbot new`: {ref} “{issue['title']}”")
        description = issue.get("description") or ""
        tasks = description.count("- [ ]") + description.count("- [x]")
        d.wrap(
            f"{ref}: confidential, labels {', '.join(issue['labels'])}; DRI @pat; due "
            f"{issue['due_date']} (the end of Phase 1); its RAID register "
            f"{short(result.raid['references']['full'])}, linked",
            INDENT,
        )
        d.wrap(
            f"description from the template: {tasks} checklist items under "
            + ", ".join(headings(description)),
            INDENT,
        )
        d.echo(INDENT + f"{key.upper()}: {d.url(key)}")


# What pat writes on the Sev1 each morning (day 0 is Monday): not always every tag it needs.
SCRIPT: dict[int, list[tuple[str, str]]] = {
    0: [("sev1", "Acknowledged; rebooking the crew. #status-update #customer-communication")],
    1: [("sev1", "Crew on site 08:00. #milestone-progress #blockers")],
    2: [("sev1", "## Status update\nCameras 1-6 mounted. #milestone-progress #blockers")],
    3: [("sev1", "Called the customer's ops lead. #customer-communication #status-update")],
}


def days(d: Demo, first: int, last: int) -> None:
    """The week's mornings: people write at 09:30, escbot's scheduled run comes at 10:00."""
    for day in range(first, last + 1):
        morning = START + timedelta(days=day, minutes=30)  # 09:30 local
        d.at(morning)
        for key, body in SCRIPT.get(day, []):
            d.comment(key, body)
        if day == 0:  # the Sev1's DRI works through Phase 1; the Sev2's does not
            tick(d, "sev1", "## Phase 1 checklist")
            d.said("pat", "ticks every item of the Sev1's Phase 1 checklist")
        d.at(morning + timedelta(minutes=30))
        d.check()


def step_week(d: Demo) -> None:
    d.header("3. The first days: Phase 1, the daily updates, reminders to the DRI")
    d.wrap(
        "A requirement is met by a staff comment carrying its tag (#status-update) or heading "
        "(## Status update); read pat's comments against escbot's reminders. Nobody works the "
        "Sev2's Phase 1.",
        "",
    )
    days(d, 0, 2)


def step_ladder(d: Demo) -> None:
    d.header("4. The rest of the week: the ladder climbs one rung a day, the weekend is quiet")
    d.wrap(
        "A lapse is told to the DRI first, then, one step of the ladder later, to the next rung "
        "(QA, then the team manager). Several things due on one escalation go into one comment.",
        "",
    )
    days(d, 3, 6)


def step_closeout(d: Demo) -> None:
    d.header("5. Close-out: resolution, the sign-off gate, the retrospective")
    monday = START + timedelta(days=7, hours=2)
    d.at(monday)
    phase = d.policy.labels["phase"]
    d.edit("sev1", add_labels=phase.label("resolution"))
    d.said("pat", f"moves the Sev1 to {phase.label('resolution')}")
    d.check()
    d.at(monday + timedelta(hours=1))
    d.edit("sev1", state_event="close")
    d.said("pat", "closes the Sev1 without the customer's sign-off")
    d.check()
    state = d.api().issue(d.issues["sev1"]["project_id"], d.issues["sev1"]["iid"])["state"]
    d.echo(INDENT + f"the escalation is {state} again")
    d.at(monday + timedelta(hours=3))
    issue = tick(d, "sev1", "## Close-out checklist")
    d.said("pat", "gets the customer's sign-off and ticks every close-out item")
    d.check()
    api = d.api()
    for link in api.links(issue["project_id"], issue["iid"]):
        if "retrospective" in link.get("labels", []):
            d.wrap(
                f"the retrospective {short(link['references']['full'])}, its timeline drawn "
                "from the tracker: " + ", ".join(headings(link.get("description") or "")),
                INDENT,
            )
            d.echo(INDENT + f"retrospective: {link['web_url']}")


def step_intake(d: Demo) -> None:
    from escbot.check import run_intake

    d.header("6. Escalations by e-mail (GitLab Service Desk): classify, route, acknowledge")
    d.at(START + timedelta(days=7, hours=6))
    project = f"{GROUP}/acme-logistics"
    mails = [
        (
            "dispatch@acme.example",
            "Technician no-show at the Plano yard",
            "Your technician never arrived for the 8am camera install appointment today. "
            "Our gate crew waited two hours. Please tell us when someone will come.",
        ),
        (
            "j.doe@example.org",
            "Please call me back",
            "I have a question about our project, call me when you can.",
        ),
    ]
    for sender, subject, body in mails:
        issue = d.sb.service_desk(project, sender, subject, body)
        d.said("e-mail", f"from {sender}: “{subject}: {abbreviate(body, 60)}”")
        d.echo(INDENT + f"Service Desk files it as {issue['web_url']}")
    api = d.api()
    run = run_intake(api, ("group", api.group(GROUP)), d.policy, d.now, apply=True)
    d.said(BOT, "the scheduled run reads the new e-mails:")
    d.tell(run.outcomes)
    for error in run.errors:
        d.wrap(f"error: {error}", INDENT)


def step_report(d: Demo) -> None:
    from escbot.report import build_report, post_briefing, render_html, render_markdown

    d.header("7. The weekly PMO briefing and Y/R portfolio review")
    d.at(START + timedelta(days=7, hours=7))
    api = d.api()
    report = build_report(api, ("group", api.group(GROUP)), d.policy, d.now, None)
    d.out.mkdir(parents=True, exist_ok=True)
    html = d.out / "report.html"
    markdown = d.out / "report.md"
    html.write_text(render_html(report, d.policy), encoding="utf-8")
    markdown.write_text(render_markdown(report, d.policy), encoding="utf-8")
    url, outcome = post_briefing(api, PMO_PROJECT, report, d.policy)
    d.said(BOT, "`escbot report --post demo-pmo/briefings`")
    d.echo(INDENT + f"open escalations: {report.open_count}; RAG: " + ", ".join(
        f"{k} {v}" for k, v in report.rag_counts.items()
    ))  # fmt: skip
    d.echo(INDENT + f"briefing issue {outcome}: {url}")
    d.wrap(f"report written: {html.resolve()} (open it in a browser) and {markdown.resolve()}", "")


def step_customer_view(d: Demo) -> None:
    d.header("8. What the customer sees: a customer account with the Guest role")
    project = f"{GROUP}/acme-logistics"
    username, name = CUSTOMER
    user, token = d.sb.create_user(username, name=name)
    d.sb.gitlab().projects.get(project).members.create({"user_id": user["id"], "access_level": 10})
    staff_view = d.api().list_issues(("project", d.api().project(project)), state="all")
    seen = d.sb.gitlab(token=token).projects.get(project).issues.list(state="all", get_all=True)
    d.wrap(
        f"{username}, Guest in {project}, sees {len(seen)} of its {len(list(staff_view))} issues: "
        "escalations, RAID registers, retrospectives and e-mails are confidential, and "
        "escbot's comments are internal notes (its acknowledgement reached the sender by e-mail)",
        "",
    )
    d.echo(f"as {username} sees it: {d.sb.url}/{project}/-/issues?as={username}")
    d.echo(f"(the web view then shows what {username} sees on every page, until ?as=root)")


def step_slack(d: Demo) -> None:
    """The Slack thread against the sandbox's Slack, printed as the channel reads."""
    from dataclasses import replace

    from slack_sdk import WebClient

    from escbot.slack_io import connect

    d.header("9. The Slack escalation thread (policies.yml chat, on for this step)")
    ws = d.sb.slack_seed(
        users=[{"name": "escbot", "bot": True}, {"name": "pat", "real_name": "Pat Morgan"}],
        channels=[{"name": "ps-project-leadership", "members": ["escbot", "pat"]}],
    )
    assert d.policy.chat is not None
    chat = replace(d.policy.chat, slack=True, base_url=d.sb.slack_url, users=ws["users"])
    policy = replace(d.policy, chat=chat)
    channel = ws["channels"]["ps-project-leadership"]
    bot = WebClient(ws["tokens"]["escbot"], base_url=d.sb.slack_url)
    pat = WebClient(ws["tokens"]["pat"], base_url=d.sb.slack_url)
    for day in (8, 9):
        d.at(START + timedelta(days=day, hours=1))
        if day == 9:  # the DRI answers in Slack: that is the week's path-to-green update
            threads = bot.conversations_history(channel=channel)["messages"]
            globex = next(t for t in threads if "Globex" in t["text"])
            text = "Path to green agreed with Globex: crew added. #path-to-green"
            pat.chat_postMessage(channel=channel, thread_ts=globex["ts"], text=text)
        gateway = connect(policy, {chat.token_env: ws["tokens"]["escbot"]})
        result = run_check(d.api(), d.scope(), policy, d.now, apply=True, chat=gateway)
        done = [o.action.summary for o in result.outcomes if o.action.kind.startswith("chat_")]
        d.echo(f"-- {d.local(d.now)}: " + ("; ".join(done) or "nothing for Slack"))
    names = {uid: name for name, uid in ws["users"].items()}
    d.echo("#ps-project-leadership, oldest first (📌 pinned):")
    for parent in reversed(bot.conversations_history(channel=channel)["messages"]):
        thread = bot.conversations_replies(channel=channel, ts=parent["ts"])["messages"]
        for i, msg in enumerate(thread):
            lead = ("  📌 " if parent.get("pinned_to") else "  ") if i == 0 else "      ↳ "
            # The gist of each message: tables and hidden markers are for GitLab.
            lines = [
                line
                for line in msg["text"].splitlines()
                if line.strip() and not line.lstrip().startswith(("|", "<!--"))
            ][:3]
            d.echo(f"{lead}{names.get(msg['user'], '?')}: {lines[0][:100]}")
            for line in lines[1:]:
                d.echo(" " * (len(lead) + 2) + line[:100])


STEPS: list[Callable[[Demo], None]] = [
    step_foundation,
    step_open,
    step_week,
    step_ladder,
    step_closeout,
    step_intake,
    step_report,
    step_customer_view,
    step_slack,
]


def run_demo(sb: Sandbox, policy: Policy, out: Path, echo: Echo) -> Demo:
    d = Demo(sb=sb, policy=policy, out=out, echo=echo)
    sb.set_now(START)
    for step in STEPS:
        step(d)
    return d


def reading_list(d: Demo) -> list[tuple[str, str]]:
    """Where a person starts reading in the web view: (what, URL)."""
    marker = d.policy.labels.marker.name
    found = d.api().list_issues(("project", d.api().project(PMO_PROJECT)), state="all")
    briefings = [issue["web_url"] for issue in found]
    return [
        ("the top page (projects, groups, people)", f"{d.sb.url}/"),
        ("the Sev1 escalation, closed out", d.url("sev1")),
        ("the Sev2 escalation, its ladder", d.url("sev2")),
        ("every escalation", f"{d.sb.url}/groups/{GROUP}/-/issues?label_name[]={marker}&state=all"),
        *(("the PMO briefing", url) for url in briefings),
    ]
