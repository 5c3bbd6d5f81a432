"""`escbot triage` against the sandbox over HTTP: a mixed project, dry run, --fix."""

from __future__ import annotations

import json

import pytest

from tests.helpers import World, policy_text


@pytest.fixture
def world(sandbox) -> World:
    """acme/collab with: #1 clean, #3 missing severity, #5 two categories (GitLab without
    scoped labels, so both stay), #7 without DRI, #9 an e-mailed escalation not yet classified."""
    w = World(sandbox)
    w.open("2026-11-23 09:00", title="Clean one")
    iid = w.open("2026-11-23 09:05", title="Missing severity")
    w.edit(iid, "2026-11-23 09:06", remove_labels="severity::high")
    iid = w.open("2026-11-23 09:10", title="Two categories")
    w.sb.settings(scoped_labels=False)
    w.edit(iid, "2026-11-23 09:11", add_labels="category::vendor")
    iid = w.open("2026-11-23 09:15", title="No DRI")
    w.edit(iid, "2026-11-23 09:16", assignee_ids=[])
    w.at("2026-11-23 09:20")
    w.sb.service_desk(
        w.project.id,
        "jane@acme.example",
        "Technician never showed up",
        "Our install appointment was today: the technician did not show.",
    )
    return w


TABLE = """\
escbot triage at Mon 23 Nov 10:00 EST: 5 open issue(s), 4 with problems

ISSUE          WHAT                 DETAIL
acme/collab#1  ok
acme/collab#3  missing-severity     no severity label (severity::...)
               fix                  add severity::high (the description's Severity line)
acme/collab#5  conflict-category    conflicting category labels: category::install-issue, category::vendor
               needs a person       keep one of category::install-issue, category::vendor (labels a person added)
acme/collab#7  no-dri               no DRI (nobody is assigned)
               fix                  assign @fixed.pm (routing: PM)
acme/collab#9  unclassified-intake  e-mailed escalation not classified yet (from jane@acme.example)
               fix                  classify as customer/technician-no-show (never showed, did not show), account fixed, assign @fixed.pm, acknowledge the sender
"""


def test_table_lists_problems_and_fixes_and_writes_nothing(world: World) -> None:
    world.sb.reset_stats()
    result = world.run("triage", "--project", world.path, when="2026-11-23 10:00")
    assert result.exit_code == 1
    assert result.output == TABLE
    methods = world.sb.stats()["by_method"]
    assert set(methods) == {"GET"}, methods


def test_json_output(world: World) -> None:
    result = world.run(
        "triage", "--project", world.path, "--format", "json", when="2026-11-23 10:00"
    )
    assert result.exit_code == 1
    data = json.loads(result.output)
    url = f"{world.sb.url}/acme/collab/-/issues/"
    assert data == [
        {"ref": "acme/collab#1", "web_url": url + "1", "problems": [], "fixes": []},
        {
            "ref": "acme/collab#3",
            "web_url": url + "3",
            "problems": [
                {"code": "missing-severity", "message": "no severity label (severity::...)"}
            ],
            "fixes": [
                {
                    "kind": "labels",
                    "summary": "add severity::high (the description's Severity line)",
                    "safe": True,
                }
            ],
        },
        {
            "ref": "acme/collab#5",
            "web_url": url + "5",
            "problems": [
                {
                    "code": "conflict-category",
                    "message": "conflicting category labels: category::install-issue, "
                    "category::vendor",
                }
            ],
            "fixes": [
                {
                    "kind": "person",
                    "summary": "keep one of category::install-issue, category::vendor "
                    "(labels a person added)",
                    "safe": False,
                }
            ],
        },
        {
            "ref": "acme/collab#7",
            "web_url": url + "7",
            "problems": [{"code": "no-dri", "message": "no DRI (nobody is assigned)"}],
            "fixes": [
                {"kind": "assign", "summary": "assign @fixed.pm (routing: PM)", "safe": True}
            ],
        },
        {
            "ref": "acme/collab#9",
            "web_url": url + "9",
            "problems": [
                {
                    "code": "unclassified-intake",
                    "message": "e-mailed escalation not classified yet (from jane@acme.example)",
                }
            ],
            "fixes": [
                {
                    "kind": "classify",
                    "summary": "classify as customer/technician-no-show (never showed, did not "
                    "show), account fixed, assign @fixed.pm, acknowledge the sender",
                    "safe": True,
                }
            ],
        },
    ]


def test_fix_without_a_terminal_needs_yes(world: World) -> None:
    world.sb.reset_stats()
    result = world.run("triage", "--project", world.path, "--fix", when="2026-11-23 10:00")
    assert result.exit_code == 2
    assert "escbot: error: --fix without a terminal to confirm on: use --yes" in result.output
    assert world.sb.stats()["total"] == 0


def test_fix_applies_the_proposals_and_leaves_what_needs_a_person(world: World) -> None:
    result = world.run("triage", "--project", world.path, "--fix", "--yes", when="2026-11-23 10:00")
    assert result.exit_code == 1, result.output
    assert result.output.startswith(TABLE)
    assert result.output[len(TABLE) :] == (
        "Did add severity::high to acme/collab#3\n"
        "Did assign @fixed.pm on acme/collab#7\n"
        "Did assign @fixed.pm and set due date 2026-11-24 and add the tracking sections on acme/collab#9\n"
        "Did acknowledge acme/collab#9 to jane@acme.example: Technician no-show (fixed), "
        "owner @fixed.pm\n"
        "Did label acme/collab#9 as an escalation: escalation, escalation::sev1, severity::high, "
        "type::customer, category::technician-no-show, account::fixed, rag::red, "
        "phase::initiation\n"
        "\n"
        "After the fixes:\n"
        "escbot triage at Mon 23 Nov 10:00 EST: 5 open issue(s), 1 with problems\n"
        "\n"
        "ISSUE          WHAT               DETAIL\n"
        "acme/collab#1  ok\n"
        "acme/collab#3  ok\n"
        "acme/collab#5  conflict-category  conflicting category labels: category::install-issue, "
        "category::vendor\n"
        "               needs a person     keep one of category::install-issue, category::vendor "
        "(labels a person added)\n"
        "acme/collab#7  ok\n"
        "acme/collab#9  ok\n"
    )
    # The human's labels are untouched; a re-run proposes nothing more.
    assert {"category::install-issue", "category::vendor"} <= set(world.issue(5).labels)
    assert [a["username"] for a in world.issue(7).assignees] == ["fixed.pm"]
    again = world.run(
        "triage", "--project", world.path, "--format", "json", when="2026-11-23 10:05"
    )
    assert again.exit_code == 1
    assert [r["ref"] for r in json.loads(again.output) if r["problems"]] == ["acme/collab#5"]
    # The check agrees: nothing missed, nothing to post (the acknowledgement is there once).
    check = world.run("check", "--project", world.path, "--apply", when="2026-11-23 10:10")
    assert check.exit_code == 0, check.output
    assert len([n for n in world.notes(9, "escbot") if "escbot:ack" in n.body]) == 1


def test_unknown_labels_overdue_phase1_and_no_due_date(sandbox) -> None:
    world = World(sandbox)
    iid = world.open("2026-11-16 09:00", title="Old one")
    world.edit(
        iid,
        "2026-11-16 09:30",
        add_labels="category::foo",
        remove_labels="category::install-issue",
        due_date="",
    )
    world.edit(iid, "2026-11-16 09:31", title="Stalled", description="Something is wrong.")
    result = world.run("triage", "--project", world.path, "--fix", "--yes", when="2026-11-18 10:00")
    assert result.exit_code == 1, result.output
    before, after = result.output.split("\nAfter the fixes:\n")
    assert "  fix                            set due date 2026-11-17 (end of Phase 1)\n" in before
    assert before.endswith("\nDid set due date 2026-11-17 on acme/collab#1\n")
    assert after.splitlines()[2:] == [
        "ISSUE          WHAT                           DETAIL",
        "acme/collab#1  missing-category               no category label (category::...)",
        "               unknown-label                  category::foo is not a category in "
        "policies.yml",
        "               phase1-overdue                 Phase 1 overdue since Tue 17 Nov 09:00 EST: "
        'the "Phase 1 checklist" section is missing from the description',
        "               missed-status_update           Status update missed since Tue 17 Nov 09:00 "
        'EST: a comment with #status-update or a heading "Status update"',
        "               missed-milestone_progress      Milestone progress missed since Tue 17 Nov "
        '09:00 EST: a comment with #milestone-progress or a heading "Milestone progress"',
        "               missed-blockers                Blockers missed since Tue 17 Nov 09:00 EST: "
        'a comment with #blockers or a heading "Blockers"',
        "               missed-customer_communication  Customer communication missed since Wed 18 "
        "Nov 09:00 EST: a comment with #customer-communication or a heading "
        '"Customer communication"',
        "               needs a person                 replace category::foo (a label a person "
        "added) with one of the 19 category::... values in policies.yml",
        "               needs a person                 the DRI completes Phase 1 (the check "
        "reminds them)",
        "               needs a person                 the DRI posts the missed update(s): status "
        "update, milestone progress, blockers, customer communication (the check reminds)",
    ]
    assert "category::foo" in world.issue(iid).labels


def test_a_gitlab_error_on_one_issue_is_listed_and_the_rest_continue(
    world: World, tmp_path
) -> None:
    # The routing names a user GitLab does not have: assigning #7 fails, the others go through.
    policies = tmp_path / "policies.yml"
    policies.write_text(policy_text(("fixed: {pm: fixed.pm,", "fixed: {pm: ghost.pm,")))
    result = world.run(
        "triage", "--project", world.path, "--fix", "--yes", "--policies", str(policies),
        when="2026-11-23 10:00",
    )  # fmt: skip
    assert result.exit_code == 3, result.output
    assert (
        "Did add severity::high to acme/collab#3\n"
        "Failed: assign @ghost.pm on acme/collab#7: error: user ghost.pm (routing) not found on "
        "GitLab\n"
        "Failed: assign @ghost.pm and set due date 2026-11-24 and add the tracking sections on acme/collab#9: error: user "
        "ghost.pm (routing) not found on GitLab\n"
    ) in result.output
    assert result.output.endswith(
        "               error                acme/collab#7: user ghost.pm (routing) not found on "
        "GitLab\n"
        "               error                acme/collab#9: user ghost.pm (routing) not found on "
        "GitLab\n"
    )
    # Nothing after the failed step on an issue: no acknowledgement naming the wrong owner.
    assert world.issue(7).assignees == [] and world.notes(9, "escbot") == []
    assert world.issue(9).labels == [] and "severity::high" in world.issue(3).labels


def test_an_empty_project_says_so(sandbox) -> None:
    from tests.helpers import World

    world = World(sandbox)
    result = world.run("triage", "--project", world.path, when="2026-11-23 10:00")
    assert result.exit_code == 0
    assert result.output == (
        "escbot triage at Mon 23 Nov 10:00 EST: 0 open issue(s), 0 with problems\nNothing to triage.\n"
    )
