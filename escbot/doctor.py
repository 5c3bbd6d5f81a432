"""`escbot doctor`: everything that would make a scheduled run fail or misbehave, in one report.

Each check is a line: ok, warn (the run works but something is off: exit 1) or error (the run
fails or does the wrong thing: exit 2). Checks that need what an earlier one could not get
(a policy, a connection) are skipped, not guessed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from escbot.errors import EscbotError
from escbot.gitlab_io import GitLab, scope_path
from escbot.labels import UNCHANGED, diff_labels
from escbot.policies import Policy
from escbot.render import templates_dir

OK, WARN, ERROR = "ok", "warn", "error"
EXPIRY_WARNING_DAYS = 14  # GitLab tokens expire (at most a year); warn two weeks ahead
REPORTER = 20  # escbot comments, labels, assigns, closes and reopens: Reporter can do all that
ROLE_NAMES = {0: "no access", 5: "Minimal access", 10: "Guest", 15: "Planner", 20: "Reporter"}
# Besides one template per level: the companions every escalation gets.
COMPANION_TEMPLATES = ("raid.md", "retrospective.md")


@dataclass(frozen=True)
class Check:
    status: str  # ok | warn | error
    area: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"status": self.status, "check": self.area, "message": self.message}


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)

    def add(self, status: str, area: str, message: str) -> None:
        self.checks.append(Check(status, area, message))

    @property
    def exit_code(self) -> int:
        statuses = {c.status for c in self.checks}
        return 2 if ERROR in statuses else 1 if WARN in statuses else 0


def check_ci(report: Report, env: Mapping[str, str], scope_given: bool) -> None:
    """In a CI job, the variables the component's jobs need."""
    if env.get("GITLAB_CI") != "true":
        return
    missing = [] if env.get("ESCBOT_TOKEN") or env.get("GITLAB_TOKEN") else ["ESCBOT_TOKEN"]
    if not scope_given and not env.get("ESCBOT_GROUP"):
        missing.append("ESCBOT_GROUP")
    if missing:
        report.add(
            ERROR,
            "ci",
            f"CI/CD variables missing: {', '.join(missing)} (Settings > CI/CD > Variables; "
            "ESCBOT_TOKEN masked and protected)",
        )
    else:
        report.add(OK, "ci", "CI/CD variables present")


def check_templates(report: Report, policy: Policy) -> None:
    root = templates_dir()
    wanted = [f"{level}.md" for level in policy.labels.groups["level"].values]
    missing = [name for name in (*wanted, *COMPANION_TEMPLATES) if not (root / name).is_file()]
    if missing:
        report.add(ERROR, "templates", f"missing in {root}: {', '.join(missing)}")
    else:
        report.add(OK, "templates", f"{', '.join([*wanted, *COMPANION_TEMPLATES])} present")


def check_gitlab(report: Report, api: GitLab, today: date) -> dict[str, Any]:
    """Connection, API version, the token's owner, scopes and expiry; returns the bot user."""
    version = api.version()
    report.add(OK, "gitlab", f"GitLab {version.get('version', '?')} (API v4) at {api.url}")
    me = api.me()
    who = f"@{me['username']}" + (" (administrator)" if me.get("is_admin") else "")
    token = api.token_info()
    if token is None:
        report.add(OK, "token", f"{who}; no token details (not a personal or access token)")
        return me
    scopes = set(token.get("scopes") or ())
    if "api" not in scopes:
        report.add(
            ERROR,
            "token",
            f"{who}: scopes {', '.join(sorted(scopes)) or 'none'}: read-only, escbot cannot "
            "comment or label (create a token with the api scope)",
        )
    else:
        report.add(OK, "token", f"{who}, scopes {', '.join(sorted(scopes))}")
    expires = token.get("expires_at")
    if expires:
        left = (date.fromisoformat(str(expires)[:10]) - today).days
        message = f"expires {expires}, in {left} day(s): rotate it and update ESCBOT_TOKEN"
        report.add(WARN if left <= EXPIRY_WARNING_DAYS else OK, "token", message)
    return me


def project_refs(api: GitLab, scope: tuple[str, Any]) -> list[tuple[int, str]]:
    kind, obj = scope
    if kind == "project":
        return [(obj.id, obj.path_with_namespace)]
    return [(p["id"], p["path_with_namespace"]) for p in api.group_projects(obj)]


def check_scope(
    report: Report, api: GitLab, policy: Policy, scope: tuple[str, Any], me: dict[str, Any]
) -> None:
    """The bot's role in each project, the labels, and the people the policy mentions."""
    kind = scope[0]
    where = scope_path(scope)
    projects = project_refs(api, scope)
    members = {pid: api.project_members(pid) for pid, _path in projects}
    report.add(OK, "scope", f"{kind} {where}: {len(projects)} project(s)")

    # The bot's role, project by project.
    if me.get("is_admin"):
        report.add(OK, "role", f"@{me['username']} is an administrator")
    else:
        weak = []
        for pid, path in projects:
            level = next((m["access_level"] for m in members[pid] if m["id"] == me["id"]), 0)
            if level < REPORTER:
                weak.append(f"{ROLE_NAMES.get(level, level)} in {path}")
        if weak:
            report.add(
                ERROR,
                "role",
                f"@{me['username']} is only {_listed(weak)}: escbot needs at least Reporter",
            )
        elif projects:
            report.add(OK, "role", f"@{me['username']} is Reporter or more in every project")

    # Labels, as the scope sees them (a project inherits its groups' labels).
    changes = diff_labels(policy.labels.all_specs(), api.labels(scope, include_ancestors=True))
    todo = [c for c in changes if c.action != UNCHANGED]
    if todo:
        flag = "--group" if kind == "group" else "--project"
        report.add(
            WARN,
            "labels",
            f"{len(todo)} of {len(changes)} labels missing or different in {where} "
            f"({_listed([c.name for c in todo])}): run escbot labels sync {flag} {where} --apply",
        )
    else:
        report.add(OK, "labels", f"all {len(changes)} labels in sync")

    # Everyone the ladder and routing mention: they exist and can see the projects.
    people = policy_people(policy)
    fine = 0
    for username, role in people.items():
        user = api.user(username)
        if user is None:
            report.add(ERROR, "people", f"@{username} ({role}) does not exist on GitLab")
            continue
        blind = [path for pid, path in projects if all(m["id"] != user["id"] for m in members[pid])]
        if blind:
            report.add(
                WARN,
                "people",
                f"@{username} ({role}) cannot see {_listed(blind)}: mentions will not reach them",
            )
        else:
            fine += 1
    if fine == len(people):
        report.add(OK, "people", f"all {fine} ladder and routing users exist and see the projects")


def policy_people(policy: Policy) -> dict[str, str]:
    """username -> the role that names it (ladder roles, then routing)."""
    people: dict[str, str] = {}
    for role, usernames in policy.ladder.roles.items():
        for name in usernames:
            people.setdefault(name.lstrip("@"), f"ladder role {role}")
    for account_type, roles in policy.routing.account_types.items():
        for role, name in roles.items():
            people.setdefault(name.lstrip("@"), f"routing {account_type} {role}")
    return people


def _listed(items: list[str], limit: int = 3) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def run_doctor(
    policy: Policy | EscbotError,
    connect: Callable[[], GitLab],
    scope: Callable[[GitLab], tuple[str, Any] | None],
    today: date,
    env: Mapping[str, str],
    *,
    scope_given: bool,
) -> Report:
    """Every check, in order; a failed stage is one error line and skips what needs it."""
    report = Report()
    if isinstance(policy, EscbotError):
        report.add(ERROR, "policy", str(policy))
    else:
        report.add(OK, "policy", f"{policy.source} valid")
        for warning in policy.warnings:
            report.add(WARN, "policy", warning)
        check_templates(report, policy)
    check_ci(report, env, scope_given)
    try:
        api = connect()
        me = check_gitlab(report, api, today)
        target = scope(api)
        if target is None:
            report.add(WARN, "scope", "no --group or --project (or ESCBOT_GROUP): projects, "
                       "roles, labels and people not checked")  # fmt: skip
        elif isinstance(policy, Policy):
            check_scope(report, api, policy, target, me)
    except EscbotError as exc:
        report.add(ERROR, "gitlab", str(exc))
    return report
