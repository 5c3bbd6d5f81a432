"""`escbot demo`: the whole product against an embedded sandbox, one step per capability.

Each step is a plain function of the demo world; the command prints what each one does.
Time is scripted on the sandbox clock (and passed to escbot as `now`), so a run is repeatable.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from escbot.check import run_check
from escbot.description import tick_section
from escbot.gitlab_io import GitLab
from escbot.labels import sync_labels
from escbot.policies import Policy
from escbot.sandbox import Sandbox

Echo = Callable[[str], None]

GROUP = "demo-customers"
# The PMO's own internal project, where no customer is a member: the briefing goes there.
PMO_GROUP, PMO_PROJECT = "demo-pmo", "demo-pmo/briefings"
PROJECTS = {"acme-logistics": "Acme Logistics", "globex-rentals": "Globex Rentals"}
PEOPLE = {
    "pat": "Pat Morgan (PM, DRI)",
    "escbot": "escbot (the scheduled job's bot user)",
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
# Monday of the demo week, 09:00 in New York (the shipped policy's timezone).
START = datetime(2026, 11, 16, 14, 0, tzinfo=UTC)


@dataclass
class Demo:
    sb: Sandbox
    policy: Policy
    out: Path
    echo: Echo
    tokens: dict[str, str] = field(default_factory=dict)
    issues: dict[str, dict[str, Any]] = field(default_factory=dict)

    def api(self, who: str = "escbot") -> GitLab:
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

    def comment(self, key: str, body: str, who: str = "pat") -> None:
        issue = self.issues[key]
        self.api(who).add_note(issue["project_id"], issue["iid"], body)

    def edit(self, key: str, who: str = "pat", **attrs: Any) -> dict[str, Any]:
        issue = self.issues[key]
        self.issues[key] = self.api(who).edit_issue(issue["project_id"], issue["iid"], **attrs)
        return self.issues[key]

    def check(self, *, apply: bool, quiet_if_nothing: bool = False) -> None:
        from escbot.cli.check import to_text

        result = run_check(self.api(), self.scope(), self.policy, self.now, apply=apply)
        text = to_text(result, self.policy)
        lines = [line for line in text.splitlines() if not line.startswith("  missed")]
        if quiet_if_nothing and len(lines) <= 2 and "Nothing to do." in text:
            self.echo("    nothing to post")
            return
        for line in lines[1:]:
            self.echo("    " + line)


def header(echo: Echo, text: str) -> None:
    echo("")
    echo(f"== {text}")


def tick(d: Demo, key: str, heading: str) -> dict[str, Any]:
    """Check every task under a heading, as the PM would in GitLab's UI."""
    issue = d.issues[key]
    text = d.api().issue(issue["project_id"], issue["iid"])["description"]
    return d.edit(key, description=tick_section(text, heading))


# --------------------------------------------------------------------------------------------
# Steps.


def step_foundation(d: Demo) -> None:
    header(d.echo, "1. A GitLab of our own: the sandbox, a customer group, people")
    gl = d.sb.gitlab()
    for username, name in PEOPLE.items():
        _, token = d.sb.create_user(username, name=name, bot=(username == "escbot"))
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
    d.echo(f"sandbox {d.sb.url} (clock at {d.local(d.now)})")
    d.echo(f"group {GROUP}: projects " + ", ".join(f"{GROUP}/{p}" for p in PROJECTS))
    d.echo(f"internal PMO project (no customers): {PMO_PROJECT}")
    d.echo(f"people: {', '.join(PEOPLE)}")
    d.echo(f"labels synced from policies.yml: {sum(c.action == 'create' for c in changes)} created")


def step_open(d: Demo) -> None:
    from escbot.create import open_escalation
    from escbot.opening import EscalationRequest

    header(d.echo, "2. A customer escalates, a project turns Red: escbot new")
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
        d.issues[key] = result.escalation
        d.issues[key + "-raid"] = result.raid
        d.echo(f"{key.upper()}: {result.escalation_url}")
        d.echo(f"  RAID register: {result.raid_url}")
        d.echo(f"  due (end of Phase 1): {result.escalation['due_date']}")
        d.echo("  description:")
        for line in (result.escalation.get("description") or "").splitlines():
            d.echo("  | " + line)


def step_week(d: Demo) -> None:
    header(d.echo, "3. A week of scheduled checks (the sandbox clock moves a day at a time)")
    script: dict[int, list[tuple[str, str]]] = {
        0: [("sev1", "Acknowledged; rebooking the crew. #status-update #customer-communication")],
        1: [("sev1", "Crew on site 08:00. #milestone-progress #blockers")],
        2: [("sev1", "## Status update\nCameras 1-6 mounted. #milestone-progress #blockers")],
        3: [("sev1", "Called the customer's ops lead. #customer-communication #status-update")],
    }
    for day in range(7):
        moment = START + timedelta(days=day, hours=1)  # 10:00 local
        d.at(moment)
        for key, body in script.get(day, []):
            d.comment(key, body)
        if day == 0:  # the Sev1's DRI works through Phase 1; the Sev2's does not
            tick(d, "sev1", "## Phase 1 checklist")
            d.echo(f"-- {d.local(moment)}: pat completes the Sev1's Phase 1 checklist")
        d.echo(f"-- {d.local(moment)}")
        d.check(apply=True, quiet_if_nothing=True)


def step_closeout(d: Demo) -> None:
    header(d.echo, "4. Close-out: resolution, the sign-off gate, the retrospective")
    monday = START + timedelta(days=7, hours=2)
    d.at(monday)
    phase = d.policy.labels["phase"]
    d.edit("sev1", add_labels=phase.label("resolution"))
    d.echo(f"-- {d.local(d.now)}: pat moves the Sev1 to {phase.label('resolution')}")
    d.check(apply=True)
    d.at(monday + timedelta(hours=1))
    d.edit("sev1", state_event="close")
    d.echo(f"-- {d.local(d.now)}: pat closes it without the customer's sign-off")
    d.check(apply=True)
    state = d.api().issue(d.issues["sev1"]["project_id"], d.issues["sev1"]["iid"])["state"]
    d.echo(f"    the escalation is {state} again")
    d.at(monday + timedelta(hours=3))
    issue = tick(d, "sev1", "## Close-out checklist")
    d.echo(f"-- {d.local(d.now)}: sign-off obtained; pat ticks every close-out item")
    d.check(apply=True)
    api = d.api()
    for link in api.links(issue["project_id"], issue["iid"]):
        if "retrospective" in link.get("labels", []):
            d.echo(f"retrospective: {link['web_url']}")
            for line in (link.get("description") or "").splitlines()[:40]:
                d.echo("  | " + line)


def step_intake(d: Demo) -> None:
    from escbot.check import run_intake

    header(d.echo, "5. Escalations by e-mail (GitLab Service Desk): classify, route, acknowledge")
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
        d.echo(f"e-mail from {sender}: {subject!r} -> {issue['web_url']}")
    api = d.api()
    run = run_intake(api, ("group", api.group(GROUP)), d.policy, d.now, apply=True)
    for outcome in run.outcomes:
        verb = "Did" if outcome.status == "done" else outcome.status
        d.echo(f"    {verb} {outcome.action.summary}")
    for error in run.errors:
        d.echo(f"    error: {error}")


def step_report(d: Demo) -> None:
    from escbot.report import build_report, post_briefing, render_html, render_markdown

    header(d.echo, "6. The weekly PMO briefing and Y/R portfolio review")
    d.at(START + timedelta(days=7, hours=7))
    api = d.api()
    report = build_report(api, ("group", api.group(GROUP)), d.policy, d.now, None)
    d.out.mkdir(parents=True, exist_ok=True)
    html = d.out / "report.html"
    markdown = d.out / "report.md"
    html.write_text(render_html(report, d.policy), encoding="utf-8")
    markdown.write_text(render_markdown(report, d.policy), encoding="utf-8")
    url, outcome = post_briefing(api, PMO_PROJECT, report, d.policy)
    d.echo(f"open escalations: {report.open_count}; RAG: " + ", ".join(
        f"{k} {v}" for k, v in report.rag_counts.items()
    ))  # fmt: skip
    d.echo(f"report written: {html.resolve()} (open it in a browser) and {markdown.resolve()}")
    d.echo(f"briefing issue {outcome}: {url}")


def step_customer_view(d: Demo) -> None:
    header(d.echo, "7. What the customer sees: a customer account with the Guest role")
    project = f"{GROUP}/acme-logistics"
    user, token = d.sb.create_user("dana", name="Dana (Acme Logistics, customer)")
    d.sb.gitlab().projects.get(project).members.create({"user_id": user["id"], "access_level": 10})
    staff_view = d.api().list_issues(("project", d.api().project(project)), state="all")
    seen = d.sb.gitlab(token=token).projects.get(project).issues.list(state="all", get_all=True)
    d.echo(
        f"dana, Guest in {project}, sees {len(seen)} of its {len(list(staff_view))} issues: "
        "escalations, RAID registers, retrospectives and e-mails are confidential, and "
        "escbot's comments are internal notes (its acknowledgement reached the sender by e-mail)"
    )


def step_slack(d: Demo) -> None:
    """The Slack thread against the sandbox's Slack, printed as the channel reads."""
    from dataclasses import replace

    from slack_sdk import WebClient

    from escbot.slack_io import connect

    header(d.echo, "8. The Slack escalation thread (policies.yml chat, on for this step)")
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
            lines = [line for line in msg["text"].splitlines() if line.strip()][:3]
            d.echo(f"{lead}{names.get(msg['user'], '?')}: {lines[0][:100]}")
            for line in lines[1:]:
                d.echo(" " * (len(lead) + 2) + line[:100])


STEPS: list[Callable[[Demo], None]] = [
    step_foundation,
    step_open,
    step_week,
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


def demo_date() -> date:
    return START.date()
