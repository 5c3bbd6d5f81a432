"""Importable test helpers, in one place: policies, snapshots, sandbox scripting."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from escbot.model import Escalation, Note
from escbot.policies import Policy, load_policy, parse_policy

ROOT = Path(__file__).resolve().parent.parent
NY = ZoneInfo("America/New_York")
BOT = "escbot-bot"


def policy(**replacements: str) -> Policy:
    """The shipped policy; `replacements` swap exact text snippets (old=new pairs by name)."""
    if not replacements:
        return load_policy(ROOT / "policies.yml")
    text = (ROOT / "policies.yml").read_text()
    for old, new in replacements.values():  # type: ignore[misc]
        assert old in text, old
        text = text.replace(old, new)
    return parse_policy(text)


def policy_text(*pairs: tuple[str, str]) -> str:
    text = (ROOT / "policies.yml").read_text()
    for old, new in pairs:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


def ny(text: str) -> datetime:
    """A New York wall-clock time as aware UTC: ny("2026-11-16 09:00")."""
    return datetime.fromisoformat(text).replace(tzinfo=NY).astimezone(UTC)


SEV1_LABELS = (
    "escalation",
    "escalation::sev1",
    "severity::high",
    "type::customer",
    "category::install-issue",
    "account::fixed",
    "rag::yellow",
    "phase::active",
)

SEV1_DESCRIPTION = """<!-- escbot:escalation level=sev1 -->
## Phase 1 checklist
- [x] Tracking issue created
- [x] DRI identified

## Blockers
- [ ] none

## Close-out checklist
- [ ] Final resolution documented
- [ ] Customer sign-off obtained
- [ ] Lessons learned captured in the retrospective issue
- [ ] Process improvements implemented and documented
- [ ] Learnings shared with the PMO team
- [ ] Project artifacts updated with final changes
- [ ] Financial impact reconciled
- [ ] Escalation thread unpinned in #ps-project-leadership
"""


def escalation(**over: Any) -> Escalation:
    created = over.pop("created_at", ny("2026-11-16 09:00"))
    base: dict[str, Any] = dict(
        project_id=1,
        project_path="acme/collab",
        iid=12,
        title="Install stalled at Dallas yard",
        description=SEV1_DESCRIPTION,
        state="opened",
        labels=SEV1_LABELS,
        assignees=("pat",),
        author="pat",
        created_at=created,
        updated_at=created,
        closed_at=None,
        due_date=None,
        web_url="http://gitlab.example/acme/collab/-/issues/12",
    )
    base.update(over)
    return Escalation(**base)


def note(
    body: str, at: datetime, author: str = "pat", *, id: int = 0, system: bool = False
) -> Note:
    return Note(
        id=id or int(at.timestamp()), body=body, author=author, created_at=at, system=system
    )


# --------------------------------------------------------------------------------------------
# A scripted GitLab: the sandbox with a customer group, a PM, the bot and the ladder's people.

LADDER_USERS = (
    "pm.lead", "qa.lead", "team.manager", "director.ps", "pmo.manager",
    "fixed.pm", "fixed.qa", "fixed.manager", "mobile.pm", "mobile.qa", "mobile.manager",
)  # fmt: skip


class World:
    """Users, a group `acme` with project `acme/collab`, and helpers to act as each person."""

    def __init__(self, sb: Any, *, group: str = "acme", project: str = "collab") -> None:
        self.sb = sb
        # A month of scheduled runs in seconds is more than GitLab.com's 2,000 requests a
        # minute, which escbot honours (RateLimit-Remaining): this GitLab allows more.
        sb.settings(rate_limit=1_000_000)
        self.gl = sb.gitlab()
        self.tokens: dict[str, str] = {}
        self.users: dict[str, dict[str, Any]] = {}
        for name in ("pat", "escbot", *LADDER_USERS):
            user, token = sb.create_user(name, bot=(name == "escbot"))
            self.users[name], self.tokens[name] = user, token
        self.group = self.gl.groups.create({"name": group, "path": group})
        for name in self.users:
            self.group.members.create({"user_id": self.users[name]["id"], "access_level": 30})
        self.project = self.gl.projects.create(
            {"name": project, "path": project, "namespace_id": self.group.id}
        )
        self.path = f"{group}/{project}"
        self.extra_env: dict[str, str] = {}  # for every command run (e.g. ESCBOT_CACHE)

    def at(self, when: str) -> str:
        """Move the sandbox clock to a New York wall time; returns it as ISO for --now."""
        moment = ny(when)
        self.sb.set_now(moment)
        return moment.isoformat()

    def env(self, who: str = "escbot") -> dict[str, str]:
        return {
            "GITLAB_URL": self.sb.url,
            "GITLAB_TOKEN": self.tokens[who],
            "ESCBOT_NOW": "",
            **self.extra_env,
        }

    def run(self, *args: str, who: str = "escbot", when: str | None = None) -> Any:
        from click.testing import CliRunner

        from escbot.cli import cli

        env = self.env(who)
        if when:
            env["ESCBOT_NOW"] = self.at(when)
        return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)

    def as_user(self, who: str) -> Any:
        return self.sb.gitlab(token=self.tokens[who])

    def open(
        self,
        when: str,
        *extra: str,
        level: str = "sev1",
        title: str = "Install stalled",
        type: str = "customer",
        category: str | None = None,
    ) -> int:
        """Open an escalation with `escbot new` as the PM; returns its iid."""
        category = category or ("install-issue" if level == "sev1" else "timeline")
        args = [
            "new", "--project", self.path, "--level", level, "--type", type,
            "--category", category, "--severity", "high", "--title", title,
            "--customer", "Acme Logistics", "--dri", "pat", *extra,
        ]  # fmt: skip
        result = self.run(*args, who="pat", when=when)
        assert result.exit_code == 0, result.output
        issues = self.gl.projects.get(self.project.id).issues.list(
            labels=["escalation"], search=title, get_all=True
        )
        return max(i.iid for i in issues)

    def comment(self, iid: int, body: str, when: str, who: str = "pat") -> None:
        self.at(when)
        self.as_user(who).projects.get(self.project.id, lazy=True).issues.get(
            iid, lazy=True
        ).notes.create({"body": body})

    def edit(self, iid: int, when: str, who: str = "pat", **attrs: Any) -> None:
        self.at(when)
        self.as_user(who).http_put(f"/projects/{self.project.id}/issues/{iid}", post_data=attrs)

    def tick(self, iid: int, heading: str, when: str, who: str = "pat") -> None:
        """Check every task under a description heading, as a person would in the UI."""
        from escbot.description import tick_section

        self.edit(iid, when, who, description=tick_section(self.issue(iid).description, heading))

    def issue(self, iid: int) -> Any:
        return self.gl.projects.get(self.project.id).issues.get(iid)

    def notes(self, iid: int, author: str | None = None) -> list[Any]:
        notes = self.issue(iid).notes.list(get_all=True, sort="asc")
        return [
            n for n in notes if not n.system and (author is None or n.author["username"] == author)
        ]

    def bot_markers(self, iid: int) -> list[str]:
        from escbot.markers import find_markers

        return [m.render() for n in self.notes(iid, "escbot") for m in find_markers(n.body)]
