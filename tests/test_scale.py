"""A portfolio, not a project: 300 escalations in 20 projects cost a few list pages plus one
bulk activity read per project, never one notes request per escalation."""

from __future__ import annotations

from click.testing import CliRunner

from escbot.cli import cli

SEV1 = ["escalation", "escalation::sev1", "severity::high", "type::customer", "phase::active"]
SEV2 = ["escalation", "escalation::sev2", "severity::medium", "type::internal", "phase::active"]


def test_check_of_300_escalations_in_20_projects_reads_in_bulk(sandbox) -> None:
    sandbox.seed(group="bench", projects=20, issues=300, notes_per_issue=2, closed_ratio=0,
                 days=30, label_sets=[SEV1, SEV2], seed=7)  # fmt: skip
    sandbox.reset_stats()
    env = {"GITLAB_URL": sandbox.url, "GITLAB_TOKEN": sandbox.token}
    result = CliRunner().invoke(
        cli, ["check", "--group", "bench", "--stats", "--format", "json"], env=env
    )
    assert result.exit_code == 1, result.output
    stats = sandbox.stats()
    routes = stats["by_route"]
    # 3 pages of open escalations; one list each for closed ones, RAID registers, retros and
    # e-mailed intake issues
    assert routes["GET /groups/:id/issues"] == 7
    assert routes["GET /projects/:id/events"] == 20
    assert not [r for r in routes if "/notes" in r or "resource_label_events" in r]
    # The policy's ladder and routing people, checked once per run: one look-up each (11) and
    # the group's members (1), whatever the number of escalations.
    people = 11 + 1
    assert routes["GET /users"] == 11
    assert stats["total"] == 7 + 20 + 2 + people  # plus GET /user and GET /groups/:id
    assert set(stats["by_method"]) == {"GET"}
    assert f"requests: {29 + people} (" in result.output  # --stats says the same
