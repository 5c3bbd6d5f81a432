"""`escbot new` and escbot.create.open_escalation against the sandbox, over HTTP."""

from __future__ import annotations

import re
from datetime import datetime

import pytest
from click.testing import CliRunner

from escbot import description as desc
from escbot.cli import cli
from escbot.create import EscalationRequest, open_escalation
from escbot.errors import EscbotError
from escbot.gitlab_io import GitLab
from escbot.markers import find_markers
from tests.helpers import NY, policy

BASE = [
    "new",
    "--project",
    "acme/portal",
    "--level",
    "sev1",
    "--type",
    "customer",
    "--category",
    "install-issue",
    "--severity",
    "high",
    "--title",
    "Install stalled at Dallas yard",
    "--customer",
    "Acme Logistics",
    "--dri",
    "pm.one",
    "--now",
    "2026-11-25T14:00",  # Wednesday before Thanksgiving (Thu 2026-11-26), New York time
]


def args(**over: str) -> list[str]:
    out = list(BASE)
    for key, value in over.items():
        option = "--" + key.replace("_", "-")
        if option in out:
            out[out.index(option) + 1] = value
        else:
            out += [option, value]
    return out


def without(*options: str) -> list[str]:
    out = list(BASE)
    for option in options:
        i = out.index(option)
        del out[i : i + 2]
    return out


@pytest.fixture
def project(sandbox, gl):  # type: ignore[no-untyped-def]
    group = gl.groups.create({"name": "acme", "path": "acme"})
    proj = gl.projects.create({"name": "portal", "namespace_id": group.id})
    user, _token = sandbox.create_user("pm.one")
    proj.members.create({"user_id": user["id"], "access_level": 30})
    sandbox.create_user("outsider")
    return proj


@pytest.fixture
def env(sandbox, project):  # type: ignore[no-untyped-def]
    return {
        "GITLAB_URL": sandbox.url,
        "GITLAB_TOKEN": sandbox.token,
        "ESCBOT_GITLAB": "",
        "ESCBOT_NOW": None,
        "ESCBOT_POLICIES": None,
    }


def run(env: dict, argv: list[str], **kw):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, argv, env=env, **kw)


def issues(gl) -> list:  # type: ignore[no-untyped-def]
    return gl.projects.get("acme/portal").issues.list(get_all=True, state="all")


def writes(sandbox) -> int:  # type: ignore[no-untyped-def]
    by = sandbox.stats()["by_method"]
    return sum(by.get(m, 0) for m in ("POST", "PUT", "DELETE"))


def test_new_opens_escalation_and_raid(sandbox, gl, env) -> None:  # type: ignore[no-untyped-def]
    result = run(env, BASE)
    assert result.exit_code == 0, result.output
    urls = re.findall(r"^(Escalation|RAID register): (http\S+)$", result.stdout, re.MULTILINE)
    assert [k for k, _ in urls] == ["Escalation", "RAID register"]

    proj = gl.projects.get("acme/portal")
    made = sorted(issues(gl), key=lambda i: i.iid)
    assert len(made) == 2
    esc, raid = made
    assert esc.web_url == urls[0][1] and raid.web_url == urls[1][1]
    assert esc.title == "Install stalled at Dallas yard"
    assert set(esc.labels) == {
        "escalation",
        "escalation::sev1",
        "severity::high",
        "type::customer",
        "category::install-issue",
        "account::fixed",
        "rag::red",
        "phase::initiation",
    }
    assert [a["username"] for a in esc.assignees] == ["pm.one"]
    assert esc.due_date == "2026-11-27"  # Thanksgiving is not a business day
    assert find_markers(esc.description)[0].render() == "<!-- escbot:escalation level=sev1 -->"
    assert (
        desc.field(desc.section(esc.description, desc.LINKS), "- RAID register") == f"#{raid.iid}"
    )
    assert esc.task_completion_status["count"] > 20

    # Labels got the policy's colours (not GitLab's auto-created grey).
    colours = {lab.name: lab.color.lower() for lab in proj.labels.list(get_all=True)}
    assert colours["escalation::sev1"] == "#d9534f"
    assert colours["raid-register"] == "#6699cc"

    assert raid.labels == ["raid-register"]
    assert [a["username"] for a in raid.assignees] == ["pm.one"]
    assert find_markers(raid.description)[0].render() == (
        f"<!-- escbot:raid project={proj.id} iid={esc.iid} -->"
    )
    links = proj.issues.get(esc.iid).links.list()
    assert [(lk.iid, lk.link_type) for lk in links] == [(raid.iid, "relates_to")]


def test_due_date_over_weekend(sandbox, gl, env) -> None:  # type: ignore[no-untyped-def]
    result = run(env, args(now="2026-11-20T18:30", title="Friday evening"))
    assert result.exit_code == 0, result.output
    esc = next(i for i in issues(gl) if i.title == "Friday evening")
    assert esc.due_date == "2026-11-23"
    assert desc.date_field(esc.description, "Phase 1 due") is not None


def test_rerun_is_idempotent(sandbox, gl, env) -> None:  # type: ignore[no-untyped-def]
    first = run(env, BASE)
    assert first.exit_code == 0, first.output
    sandbox.reset_stats()
    second = run(env, BASE)
    assert second.exit_code == 0, second.output
    assert first.stdout == second.stdout  # the same two URLs
    assert "already open" in second.stderr
    assert len(issues(gl)) == 2
    assert writes(sandbox) == 0


def test_dry_run_writes_nothing(sandbox, gl, env) -> None:  # type: ignore[no-untyped-def]
    sandbox.reset_stats()
    result = run(env, [*BASE, "--dry-run"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "<!-- escbot:escalation level=sev1 -->" in out
    assert "## Phase 1 checklist (due 2026-11-27 14:00 EST)" in out
    assert "<!-- escbot:raid project=" in out
    assert 'Would create issue "Install stalled at Dallas yard"' in out
    assert 'Would create issue "RAID register: Install stalled at Dallas yard"' in out
    assert "Would create label escalation::sev1 (#d9534f)" in out
    assert "Would link" in out
    assert writes(sandbox) == 0
    assert issues(gl) == []


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("level", "sev9", '--level: unknown level "sev9"; valid: sev1, sev2'),
        ("type", "vip", '--type: unknown type "vip"; valid: customer, internal, warranty'),
        ("category", "foo", '--category: unknown category "foo"; valid: install-issue, '),
        ("severity", "meh", '--severity: unknown severity "meh"; valid: critical, high, medium'),
        ("account_type", "boat", '--account-type: unknown account type "boat"; valid: fixed'),
    ],
)
def test_unknown_values(sandbox, env, option, value, message) -> None:  # type: ignore[no-untyped-def]
    sandbox.reset_stats()
    result = run(env, args(**{option: value}))
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert message in lines[0]
    assert sandbox.stats()["total"] == 0  # rejected before GitLab is asked anything


def test_category_of_another_type(sandbox, env) -> None:  # type: ignore[no-untyped-def]
    result = run(env, args(type="internal"))  # install-issue is a customer category
    assert result.exit_code == 2
    assert '"install-issue" is not a internal category; valid for internal: cs-to-pm' in (
        result.stderr
    )


def test_missing_options_without_terminal(sandbox, env) -> None:  # type: ignore[no-untyped-def]
    result = run(env, without("--category", "--dri"))
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "escbot: error: missing options: --category, --dri (no terminal to ask on; see escbot "
        "new --help)"
    ]
    sev2 = run(env, args(level="sev2"))
    assert sev2.exit_code == 2 and "missing options: --trigger-detail" in sev2.stderr
    warranty = run(env, args(type="warranty", category="warranty-30-day"))
    assert warranty.exit_code == 2 and "missing options: --completed" in warranty.stderr


def test_prompts_on_a_terminal(sandbox, gl, env, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr("escbot.cli.new.interactive", lambda: True)
    argv = without("--type", "--category", "--dri")
    result = run(  # the empty answer takes the default account type
        env, argv, input="warranty\nshipping-delay\nmonitoring-outage\n\npm.one\n2026-11-10\n"
    )
    assert result.exit_code == 0, result.output
    # The category prompt offered only the warranty categories, and re-asked on a wrong one.
    assert "warranty-delay, warranty-30-day, monitoring-outage" in result.stderr
    esc = next(i for i in issues(gl) if "escalation" in i.labels)
    assert "category::monitoring-outage" in esc.labels
    assert desc.date_field(esc.description, "Project completed").isoformat() == "2026-11-10"


def test_each_answer_is_checked_as_it_is_given(sandbox, gl, env, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr("escbot.cli.new.interactive", lambda: True)
    argv = without("--project", "--title", "--dri")
    answers = [
        "acme/nope", "acme/portal",  # a project that does not exist is asked again at once
        " ", "Install stalled",  # so is an empty title
        "mobile",  # the account type is asked, with the routing's default
        "no.body", "outsider", "pm.one",  # and the DRI, before anything is created
    ]  # fmt: skip
    result = run(env, argv, input="\n".join(answers) + "\n")
    assert result.exit_code == 0, result.output
    asked = r"Customer project \(path\)|Issue title|Account type \([^)]*\)|DRI \(GitLab username\)|Error"
    prompts = re.findall(rf"^({asked})(?: \[[^\]]*\])?: ", result.stderr, re.MULTILINE)
    assert prompts == [
        "Customer project (path)", "Error", "Customer project (path)",
        "Issue title", "Error", "Issue title",
        "Account type (fixed, mobile)",
        "DRI (GitLab username)", "Error", "DRI (GitLab username)", "Error",
        "DRI (GitLab username)",
    ]  # fmt: skip
    assert "Error: project acme/nope not found" in result.stderr
    assert "DRI (GitLab username) [mobile.pm]: " in result.stderr  # the routed PM is offered
    assert 'Error: no GitLab user "no.body"' in result.stderr
    assert (
        "Error: outsider cannot be assigned in acme/portal (not a member of the project or its "
        "groups)" in result.stderr
    )
    esc = next(i for i in issues(gl) if "escalation" in i.labels)
    assert "account::mobile" in esc.labels and esc.assignees[0]["username"] == "pm.one"


def test_unknown_dri_or_project_writes_nothing(sandbox, gl, env) -> None:  # type: ignore[no-untyped-def]
    sandbox.reset_stats()
    nobody = run(env, args(dri="no.body"))
    assert nobody.exit_code == 2
    assert 'no GitLab user "no.body"; nothing was created' in nobody.stderr
    outsider = run(env, args(dri="outsider"))
    assert outsider.exit_code == 2
    assert "outsider cannot be assigned in acme/portal" in outsider.stderr
    missing = run(env, args(project="acme/nope"))
    assert missing.exit_code == 2
    assert "project acme/nope not found" in missing.stderr
    assert writes(sandbox) == 0
    assert issues(gl) == []


def test_raid_failure_says_what_exists_and_rerun_finishes(sandbox, gl, project) -> None:  # type: ignore[no-untyped-def]
    api = GitLab(sandbox.gitlab())  # no transient-error retries: a 5xx fails at once
    request = EscalationRequest(
        project="acme/portal",
        level="sev1",
        type="customer",
        category="install-issue",
        severity="critical",
        title="Camera down at gate 3",
        customer="Acme Logistics",
        dri="pm.one",
        now=datetime(2026, 11, 23, 10, 0, tzinfo=NY),
    )

    def break_after_escalation(action: str) -> None:
        if action.startswith("Created escalation"):
            sandbox.set_faults(rate_5xx=1.0)  # every GitLab request fails from here on

    with pytest.raises(EscbotError) as caught:
        open_escalation(api, policy(), request, progress=break_after_escalation)
    message = str(caught.value)
    sandbox.set_faults(rate_5xx=0.0)
    made = issues(gl)
    assert len(made) == 1
    assert f"the escalation exists ({made[0].web_url})" in message
    assert "escbot new --project acme/portal --level sev1" in message
    assert "--title 'Camera down at gate 3'" in message

    result = open_escalation(api, policy(), request)
    assert result.existed
    assert result.escalation_url == made[0].web_url
    assert result.raid_url
    assert len(issues(gl)) == 2
    esc = gl.projects.get("acme/portal").issues.get(made[0].iid)
    assert len(esc.links.list()) == 1
    assert "RAID register: #2" in esc.description


def test_user_text_cannot_mention_or_run_quick_actions(sandbox, gl, env) -> None:  # type: ignore[no-untyped-def]
    evil = "@all hi\n/close\n<script>x</script> | boom"
    result = run(env, args(title=evil, customer=evil))
    assert result.exit_code == 0, result.output
    esc = next(i for i in issues(gl) if "escalation" in i.labels)
    raid = next(i for i in issues(gl) if "raid-register" in i.labels)
    for text in (esc.description, raid.description):
        assert "@all" not in text
        assert "<script>" not in text
        assert not any(line.startswith("/") for line in text.splitlines())
    assert "\n" not in esc.title
    assert esc.state == "opened"
    assert desc.field(esc.description, "Customer").endswith("\\| boom")
