"""`escbot check` against the sandbox over HTTP, scenario by scenario (seed 000 and 004)."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import pytest
from freezegun import freeze_time

from tests.helpers import World, ny, policy_text


@pytest.fixture
def world(sandbox) -> World:
    return World(sandbox)


DAILY_BUT_STATUS = "Crew on site. #milestone-progress #blockers #customer-communication"


def bot_notes(world: World, iid: int) -> list[str]:
    return [n.body for n in world.notes(iid, "escbot")]


def test_missed_status_update_reminds_once_then_climbs_the_ladder(world: World) -> None:
    iid = world.open("2026-11-16 09:00")  # Monday
    world.edit(iid, "2026-11-16 09:30", add_labels="rag::green")
    world.tick(iid, "## Phase 1 checklist", "2026-11-16 11:00")
    world.comment(iid, DAILY_BUT_STATUS, "2026-11-16 16:00")

    # Tuesday 10:00: the status update fell due at 09:00 and is missing.
    first = world.run("check", "--group", "acme", "--apply", when="2026-11-17 10:00")
    assert first.exit_code == 1, first.output
    assert re.search(
        r"missed  acme/collab#1 status_update: Status update due since Tue 17 Nov 09:00 EST",
        first.output,
    )
    [reminder] = [b for b in bot_notes(world, iid) if "rule=status_update" in b]
    assert "rung=0" in reminder and reminder.count("@pat") == 1
    assert reminder.startswith("@pat\n")
    assert "| fixed.qa, not before Wed 18 Nov 10:00 EST |" in reminder  # seed 004: QA next
    assert "rag::red" in world.issue(iid).labels and "rag::green" not in world.issue(iid).labels

    # A rerun in the same period posts nothing.
    count = len(bot_notes(world, iid))
    again = world.run("check", "--group", "acme", "--apply", when="2026-11-17 15:00")
    assert again.exit_code == 1 and len(bot_notes(world, iid)) == count
    assert "Already done" not in again.output  # nothing was even planned

    # Wednesday 10:00: one business day after the DRI was told, QA (fixed account), once.
    world.comment(iid, DAILY_BUT_STATUS, "2026-11-18 08:00")
    world.run("check", "--group", "acme", "--apply", when="2026-11-18 10:00")
    world.run("check", "--group", "acme", "--apply", when="2026-11-18 14:00")
    rung2 = [b for b in bot_notes(world, iid) if "rule=status_update" in b and "rung=1" in b]
    assert len(rung2) == 1 and rung2[0].startswith("@fixed.qa\n")
    assert "**Escalation ladder, step 2 of 4:**" in rung2[0]

    # Thursday: the fixed-account team manager; Friday: the Director PS; Saturday: nothing.
    world.comment(iid, DAILY_BUT_STATUS, "2026-11-19 08:00")
    world.run("check", "--group", "acme", "--apply", when="2026-11-19 10:00")
    rung3 = [b for b in bot_notes(world, iid) if "rule=status_update" in b and "rung=2" in b]
    assert len(rung3) == 1 and rung3[0].startswith("@fixed.manager\n")
    world.comment(iid, DAILY_BUT_STATUS, "2026-11-20 08:00")
    world.run("check", "--group", "acme", "--apply", when="2026-11-20 10:00")
    rung4 = [b for b in bot_notes(world, iid) if "rule=status_update" in b and "rung=3" in b]
    assert len(rung4) == 1 and rung4[0].startswith("@director.ps\n")
    count = len(bot_notes(world, iid))
    saturday = world.run("check", "--group", "acme", "--apply", when="2026-11-21 10:00")
    assert len(bot_notes(world, iid)) == count, saturday.output

    # The update arrives: the status goes back to green.
    world.comment(iid, "#status-update all crews back on schedule", "2026-11-23 08:00")
    world.comment(iid, DAILY_BUT_STATUS, "2026-11-23 08:05")
    world.run("check", "--group", "acme", "--apply", when="2026-11-23 08:30")
    assert "rag::green" in world.issue(iid).labels


def test_no_reminder_on_a_holiday(world: World) -> None:
    iid = world.open("2026-11-25 09:00")  # the day before Thanksgiving
    result = world.run("check", "--group", "acme", "--apply", when="2026-11-26 12:00")
    assert result.exit_code == 0, result.output
    assert not [b for b in bot_notes(world, iid) if "remind" in b]
    world.run("check", "--group", "acme", "--apply", when="2026-11-27 09:30")
    assert [b for b in bot_notes(world, iid) if "rule=status_update" in b]


def test_customer_communication_every_other_day(world: World) -> None:
    iid = world.open("2026-11-16 09:00")
    world.comment(iid, "Called the customer. #customer-communication", "2026-11-16 10:00")
    early = world.run(
        "check", "--project", "acme/collab", "--format", "json", when="2026-11-18 09:59"
    )
    findings = {f["rule"]: f for f in json.loads(early.output)["escalations"][0]["findings"]}
    assert findings["customer_communication"]["missed"] is False
    assert findings["customer_communication"]["due"] == ny("2026-11-18 10:00").isoformat()
    late = world.run("check", "--project", "acme/collab", "--apply", when="2026-11-18 10:01")
    assert (
        "customer_communication: Customer communication due since Wed 18 Nov 10:00 EST"
        in late.output
    )
    assert [b for b in bot_notes(world, iid) if "rule=customer_communication" in b]


def test_sev2_fifteen_days_past_its_target_proposes_sev1_once(world: World) -> None:
    iid = world.open(
        "2026-10-26 09:00",
        "--trigger-detail",
        "17 days behind",
        level="sev2",
        title="Dallas rollout slipping",
    )
    text = world.issue(iid).description.replace(
        "Target date for Yellow/Green: (YYYY-MM-DD)", "Target date for Yellow/Green: 2026-11-01"
    )
    world.edit(iid, "2026-10-26 10:00", description=text)
    for when in ("2026-11-16 10:00", "2026-11-16 11:00", "2026-11-17 10:00"):
        world.run("check", "--group", "acme", "--apply", when=when)
    proposals = [b for b in bot_notes(world, iid) if "escbot:promote" in b]
    assert len(proposals) == 1
    assert proposals[0].splitlines()[0].split() == ["@pat", "@director.ps"]
    assert "**Leadership decision needed:**" in proposals[0]
    assert "15 days past its path-to-green target date 2026-11-01" in proposals[0]
    labels = world.issue(iid).labels
    assert "needs-decision" in labels and "escalation::sev2" in labels  # a human decides


def test_dry_run_writes_nothing_and_says_would(world: World) -> None:
    world.open("2026-11-16 09:00")
    world.sb.reset_stats()
    result = world.run("check", "--group", "acme", when="2026-11-17 10:00")
    assert result.exit_code == 1
    assert "Would comment on acme/collab#1: remind @pat:" in result.output
    assert "Would set rag::red" not in result.output  # opened red already
    assert set(world.sb.stats()["by_method"]) == {"GET"}


def test_junit_report_lists_each_missed_requirement(world: World, tmp_path) -> None:
    world.open("2026-11-16 09:00")
    report = tmp_path / "escbot-report.xml"
    world.run("check", "--group", "acme", "--junit", str(report), when="2026-11-17 10:00")
    suite = ET.parse(report).getroot().find("testsuite")
    failed = [c.get("name") for c in suite if c.find("failure") is not None]
    assert (
        "acme/collab#1 status_update" in failed
        and "acme/collab#1 stakeholder_summary" not in failed
    )
    assert int(suite.get("failures")) == len(failed)


def test_policy_errors_name_their_line(world: World, tmp_path) -> None:
    bad = tmp_path / "policies.yml"
    bad.write_text(policy_text(('every: "2 business days"', 'every: "daily-ish"')))
    result = world.run("check", "--group", "acme", "--policies", str(bad))
    assert result.exit_code == 2
    line = next(i for i, x in enumerate(bad.read_text().splitlines(), 1) if "daily-ish" in x)
    assert result.output == (
        f"escbot: error: {bad}:{line}: requirements.sev1.customer_communication.every: expected a "
        'duration such as "1 business day" or "48h", got "daily-ish"\n'
    )


def test_real_clock_follows_freezegun(world: World) -> None:
    world.open("2026-11-16 09:00")
    world.at("2026-11-17 10:00")
    with freeze_time(ny("2026-11-17 10:00")):
        result = world.run("check", "--group", "acme")
    assert "escbot check at Tue 17 Nov 10:00 EST" in result.output


def test_job_token_alone_is_one_clear_line(world: World) -> None:
    from click.testing import CliRunner

    from escbot.cli import cli

    env = {
        "GITLAB_URL": world.sb.url,
        "GITLAB_TOKEN": "",
        "ESCBOT_TOKEN": "",
        "CI_JOB_TOKEN": "job-123",
    }
    result = CliRunner().invoke(cli, ["check", "--project", "acme/collab"], env=env)
    assert result.exit_code == 2
    assert result.output.startswith("escbot: error: only CI_JOB_TOKEN is available")
    assert "job-123" not in result.output


def test_unknown_project_and_bad_token_are_one_line(world: World) -> None:
    missing = world.run("check", "--project", "acme/nope")
    assert missing.exit_code == 2
    assert (
        missing.output
        == "escbot: error: project acme/nope not found (or not visible with this token)\n"
    )
    from click.testing import CliRunner

    from escbot.cli import cli

    env = {"GITLAB_URL": world.sb.url, "GITLAB_TOKEN": "glpat-wrong-secret"}
    result = CliRunner().invoke(cli, ["check", "--group", "acme"], env=env)
    assert result.exit_code == 2  # a rejected token is configuration (issue 14)
    assert "401" in result.output and "glpat-wrong-secret" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_free_tier_scoped_labels_still_swap(sandbox) -> None:
    sandbox.settings(scoped_labels=False)  # GitLab Free: nothing is mutually exclusive
    world = World(sandbox)
    iid = world.open("2026-11-16 09:00")
    world.edit(iid, "2026-11-16 09:30", labels=",".join(
        [lab for lab in world.issue(iid).labels if not lab.startswith("rag::")] + ["rag::green"]
    ))  # fmt: skip
    world.run("check", "--group", "acme", "--apply", when="2026-11-17 10:00")
    rag = [lab for lab in world.issue(iid).labels if lab.startswith("rag::")]
    assert rag == ["rag::red"]


def test_two_overlapping_runs_post_once(world: World) -> None:
    """Both runs plan before either applies (a crash-restart or two schedules at once)."""
    import threading

    from escbot.check import run_check
    from escbot.executor import apply_plan as apply_actions
    from escbot.gitlab_io import GitLab
    from tests.helpers import policy

    iid = world.open("2026-11-16 09:00")
    world.at("2026-11-17 10:00")
    plans = []
    for _ in range(2):
        api = GitLab(world.as_user("escbot"))
        scope = ("group", api.group("acme"))
        result = run_check(api, scope, policy(), ny("2026-11-17 10:00"), apply=False)
        plans.append((api, result.actions))
    assert plans[0][1] and [a.summary for a in plans[0][1]] == [a.summary for a in plans[1][1]]
    threads = [threading.Thread(target=apply_actions, args=plan) for plan in plans]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    markers = world.bot_markers(iid)
    assert len(markers) == len(set(markers)) > 0
    # and a third, late apply of the same stale plan changes nothing
    before = len(world.notes(iid))
    outcomes = apply_actions(*plans[0])
    assert {o.status for o in outcomes} == {"already done"} and len(world.notes(iid)) == before


def test_gitlab_errors_are_listed_and_the_rest_still_runs(world: World) -> None:
    from click.testing import CliRunner

    from escbot.cli import cli

    first = world.open("2026-11-16 09:00", title="Install stalled")
    second = world.open("2026-11-16 09:05", title="Wrong parts shipped")
    read_only = world.sb.create_token("escbot", scopes=("read_api",))
    world.at("2026-11-17 10:00")
    env = {
        "GITLAB_URL": world.sb.url,
        "GITLAB_TOKEN": read_only,
        "ESCBOT_NOW": ny("2026-11-17 10:00").isoformat(),
    }
    result = CliRunner().invoke(cli, ["check", "--group", "acme", "--apply"], env=env)
    assert result.exit_code == 3, result.output
    failed = [line for line in result.output.splitlines() if line.startswith("Failed: ")]
    assert {line.split(":")[1].split()[-1] for line in failed} == {
        f"acme/collab#{first}",
        f"acme/collab#{second}",
    }
    assert all(line.endswith("the token lacks the api scope (read-only token)") for line in failed)
    assert read_only not in result.output


def test_escalation_opened_from_the_web_template_gets_its_raid_register(world: World) -> None:
    from escbot.export import issue_templates, quick_action_labels, strip_quick_actions
    from tests.helpers import policy

    template = next(
        t for t in issue_templates(policy()) if t.filename == "Escalation-Sev1-Customer.md"
    )
    world.at("2026-11-16 09:00")
    created = world.as_user("pat").http_post(
        f"/projects/{world.project.id}/issues",
        post_data={
            "title": "Opened in the web UI",
            "description": strip_quick_actions(template.body),
            "labels": ",".join(quick_action_labels(template.body)),
            "assignee_ids": [world.users["pat"]["id"]],
        },
    )
    iid = created["iid"]
    dry = world.run("check", "--group", "acme", when="2026-11-16 10:00")
    assert (
        f"Would create the RAID register for acme/collab#{iid} (opened without one) and link it"
        in dry.output
    )
    for when in ("2026-11-16 10:00", "2026-11-16 11:00"):
        world.run("check", "--group", "acme", "--apply", when=when)
    raids = world.gl.projects.get(world.project.id).issues.list(
        labels=["raid-register"], get_all=True
    )
    assert len(raids) == 1 and raids[0].title == "RAID register: Opened in the web UI"
    assert f"<!-- escbot:raid project={world.project.id} iid={iid} -->" in raids[0].description
    assert [link.iid for link in world.issue(iid).links.list()] == [raids[0].iid]
    # Tuesday it is held to the same requirements as one opened by `escbot new`.
    tuesday = world.run("check", "--group", "acme", "--format", "json", when="2026-11-17 10:00")
    rules = {
        f["rule"] for f in json.loads(tuesday.output)["escalations"][0]["findings"] if f["missed"]
    }
    assert {"status_update", "milestone_progress", "blockers"} <= rules


def test_emailed_escalation_is_tracked_like_one_opened_by_new(world: World) -> None:
    from escbot import description as desc

    world.at("2026-11-16 09:00")
    issue = world.sb.service_desk(
        world.path, "dispatch@acme.example", "Technician no-show at the Plano yard",
        "Your technician never arrived for the 8am install appointment.",
    )  # fmt: skip
    for when in ("2026-11-16 09:20", "2026-11-16 09:40"):
        world.run("check", "--group", "acme", "--apply", when=when)
    text = world.issue(issue["iid"]).description
    assert text.startswith(
        "Your technician never arrived for the 8am install appointment.\n\n---\n\n"
    )
    assert text.count("<!-- escbot:escalation level=sev1 -->") == 1
    assert desc.checklist(text, desc.PHASE1) and desc.checklist(text, desc.CLOSE_OUT)
    assert [a["username"] for a in world.issue(issue["iid"]).assignees] == ["fixed.pm"]
    raids = world.gl.projects.get(world.project.id).issues.list(
        labels=["raid-register"], get_all=True
    )
    assert [r.title for r in raids] == ["RAID register: Technician no-show at the Plano yard"]


def test_a_marker_older_than_the_bulk_read_is_still_found(world: World) -> None:
    iid = world.open(
        "2026-06-01 09:00", "--trigger-detail", "17 days behind", level="sev2", title="Old rollout"
    )
    world.edit(iid, "2026-06-01 10:00", due_date="2026-06-05")
    world.run("check", "--group", "acme", "--apply", when="2026-06-22 10:00")
    assert "needs-decision" in world.issue(iid).labels
    world.edit(iid, "2026-06-23 10:00", remove_labels="needs-decision")  # leadership decided
    later = world.run("check", "--group", "acme", "--apply", when="2026-11-03 10:00")
    assert "needs-decision" not in world.issue(iid).labels, later.output
    assert "promote" not in later.output
