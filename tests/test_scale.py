"""A portfolio, not a project: 300 escalations in 20 projects cost a few list pages plus one
bulk activity read per project, never one notes request per escalation; applying costs one POST
per escalation with something to say, paced and capped per run (bench/scale.py has the
figures at 5,000)."""

from __future__ import annotations

import re

from click.testing import CliRunner

from escbot.cli import cli

SEV1 = ["escalation", "escalation::sev1", "severity::high", "type::customer", "phase::active"]
SEV2 = ["escalation", "escalation::sev2", "severity::medium", "type::internal", "phase::active"]
THREAD = "GET /projects/:id/issues/:noteable_id/notes"


def test_check_of_300_escalations_in_20_projects_reads_in_bulk(sandbox, tmp_path) -> None:
    sandbox.seed(group="bench", projects=20, issues=300, notes_per_issue=2, closed_ratio=0,
                 days=30, label_sets=[SEV1, SEV2], seed=7)  # fmt: skip
    # What is read is counted here, not how fast requests go (the tests below pace them): the
    # first apply's 2,700 requests and 300 comments are not spread over the minutes GitLab's
    # rate limit and escbot's pacing (2,000 requests and 120 notes a minute) would take.
    sandbox.settings(rate_limit=1_000_000)
    env = {"GITLAB_URL": sandbox.url, "GITLAB_TOKEN": sandbox.token,
           "ESCBOT_CACHE": str(tmp_path / "memory.json"),
           "ESCBOT_REQUESTS_PER_MINUTE": "1000000", "ESCBOT_NOTES_PER_MINUTE": "1000000"}  # fmt: skip
    check = ["check", "--group", "bench", "--stats", "--format", "json"]
    sandbox.reset_stats()
    first = CliRunner().invoke(cli, [*check, "--apply"], env=env)
    assert first.exit_code == 1, first.output
    routes = sandbox.stats()["by_route"]
    # 3 pages of open escalations; one list each for closed ones, open and closed RAID
    # registers, retros and e-mailed intake issues; then, escbot having written, the issues
    # changed since the run began (the 300 escalations it commented on and their 300 new
    # registers: 6 pages), so that the next run lists only what changed after. And the recent
    # part of each project's activity.
    assert routes["GET /groups/:id/issues"] == 3 + 5 + 6
    assert routes["GET /projects/:id/events"] == 20
    said = routes["POST /projects/:id/issues/:noteable_id/notes"]
    # Before its first comment, the whole thread of an escalation older than the window (what
    # escbot said there before?); no more, and never twice.
    assert 0 < routes[THREAD] <= said

    sandbox.advance("PT1H")
    sandbox.reset_stats()
    again = CliRunner().invoke(cli, check, env=env)
    assert again.exit_code == 1, again.output
    stats = sandbox.stats()
    routes = stats["by_route"]
    # Nothing was said since but escbot's own comments, which the cache accounts for: no
    # activity read at all, and no thread. The list of changes still holds escbot's writes of
    # the minute before that last list (GitLab may commit a save a little after stamping it):
    # here all 600, as the sandbox's clock stood still through the run. Then the closed
    # escalations, retros and intake issues: one list each.
    assert routes["GET /groups/:id/issues"] == 6 + 3
    assert not [r for r in routes if "/notes" in r or "/events" in r or "label_events" in r]
    # The policy's ladder and routing people, checked once per run: one look-up each (11) and
    # the group's members (1), whatever the number of escalations.
    people = 11 + 1
    assert routes["GET /users"] == 11
    # And one look at the milestones changed since (their dates change on them, not on their
    # issues; a change would have escbot list every escalation again).
    assert routes["GET /groups/:id/milestones"] == 1
    assert stats["total"] == 9 + 1 + 2 + people  # plus GET /user and GET /groups/:id
    assert set(stats["by_method"]) == {"GET"}
    assert f"requests: {12 + people} (" in again.output  # --stats says the same

    # A person comments on one escalation: its project's activity alone is read, from the
    # memory on.
    gl = sandbox.gitlab()
    issue = gl.groups.get("bench").issues.list(labels="escalation", per_page=1, get_all=False)[0]
    project = gl.projects.get(issue.project_id, lazy=True)
    project.issues.get(issue.iid, lazy=True).notes.create({"body": "Any news?"})
    sandbox.reset_stats()
    CliRunner().invoke(cli, check, env=env)
    routes = sandbox.stats()["by_route"]
    assert routes["GET /projects/:id/events"] == 1
    assert THREAD not in routes
    assert routes["GET /groups/:id/issues"] == 1 + 3  # the changes since the last run: one
    sandbox.advance("PT1H")
    sandbox.reset_stats()
    CliRunner().invoke(cli, check, env=env)
    routes = sandbox.stats()["by_route"]
    assert routes["GET /groups/:id/issues"] == 1 + 3
    assert "GET /projects/:id/events" not in routes  # nothing new

    # An escalation's label removed, another closed: the next run's list of changes takes both
    # off, with no full list.
    second = gl.groups.get("bench").issues.list(labels="escalation", per_page=2, get_all=False)
    for i, what in zip(
        second, ({"remove_labels": "escalation"}, {"state_event": "close"}), strict=True
    ):
        gl.projects.get(i.project_id, lazy=True).issues.update(i.iid, what)
    sandbox.reset_stats()
    later = CliRunner().invoke(cli, [*check[:-3]], env=env)  # the text: what it looked at
    assert "298 open escalation(s), 1 closed lately" in later.stdout
    assert sandbox.stats()["by_route"]["GET /groups/:id/issues"] == 1 + 3


def _seed_small(sandbox) -> dict[str, str]:
    sandbox.seed(group="bench", projects=3, issues=30, notes_per_issue=3, closed_ratio=0,
                 days=30, label_sets=[SEV1, SEV2], seed=7)  # fmt: skip
    sandbox.reset_stats()
    return {"GITLAB_URL": sandbox.url, "GITLAB_TOKEN": sandbox.token}


def _bot_markers(sandbox) -> list[list[str]]:
    """The markers of escbot's comments, per escalation."""
    gl = sandbox.gitlab()
    issues = gl.groups.get("bench").issues.list(labels="escalation", get_all=True)
    return [
        [m for n in gl.projects.get(i.project_id, lazy=True).issues.get(i.iid, lazy=True)
         .notes.list(get_all=True) for m in re.findall(r"<!-- escbot:.*? -->", n.body)]
        for i in issues
    ]  # fmt: skip


def test_apply_under_the_lease_is_one_post_per_escalation_with_something_to_say(sandbox) -> None:
    from escbot.businesstime import parse_gitlab_time
    from escbot.policies import load_policy
    from escbot.snapshot import recent_start
    from tests.helpers import ny

    now = ny("2026-11-24 12:00")
    sandbox.set_now(now)
    env = {**_seed_small(sandbox), "ESCBOT_NOW": now.isoformat()}
    result = CliRunner().invoke(cli, ["check", "--group", "bench", "--apply"], env=env)
    assert result.exit_code == 1, result.output
    routes = sandbox.stats()["by_route"]
    # Each of the 30 escalations has something to say: one comment each.
    assert routes["POST /projects/:id/issues/:noteable_id/notes"] == 30
    # The run's own read is the pre-check; under the lease there is nothing to dedupe: no
    # thread is read around a write. Only the escalations older than the recent read, on
    # which escbot has no memory yet, are read whole first (once).
    issues = sandbox.gitlab().groups.get("bench").issues.list(labels="escalation", get_all=True)
    start = recent_start(load_policy(), now)
    older = [i for i in issues if parse_gitlab_time(i.created_at) < start]
    assert 0 < len(older) < 30
    assert routes["GET /projects/:id/issues/:noteable_id/notes"] == len(older)
    sandbox.reset_stats()
    # The next run climbs the ladder one rung (a new marker each), and repeats nothing; escbot's
    # memory in its own notes spares every thread.
    again = CliRunner().invoke(cli, ["check", "--group", "bench", "--apply"], env=env)
    assert again.exit_code == 1, again.output
    routes = sandbox.stats()["by_route"]
    assert "GET /projects/:id/issues/:noteable_id/notes" not in routes
    markers = _bot_markers(sandbox)
    assert sum(map(len, markers)) > 30
    assert all(len(set(per_issue)) == len(per_issue) for per_issue in markers)


def test_without_the_lease_each_comment_is_looked_for_before_and_after(sandbox) -> None:
    """A token that cannot take the lease keeps the last line of defence: the thread is read
    before posting and again after (an overlapping run's copy is then removed)."""
    from escbot.check import run_check
    from escbot.gitlab_io import GitLab
    from escbot.policies import load_policy
    from escbot.snapshot import recent_start
    from tests.helpers import ny

    _seed_small(sandbox)
    api = GitLab(sandbox.gitlab())
    scope = ("group", api.group("bench"))
    now = ny("2026-11-23 09:00")
    result = run_check(api, scope, load_policy(), now, apply=True)
    routes = sandbox.stats()["by_route"]
    posted = routes["POST /projects/:id/issues/:noteable_id/notes"]
    assert posted > 20
    # Besides: the reader's whole-thread read of each escalation older than the recent read
    # that it said something to (escbot had no memory of it yet).
    start = recent_start(load_policy(), now)
    said = {(a.project_id, a.iid) for a in result.actions if a.kind == "comment"}
    older = [e for e in result.escalations if e.key in said and e.created_at < start]
    assert routes["GET /projects/:id/issues/:noteable_id/notes"] == 2 * posted + len(older)


def test_a_capped_run_posts_its_share_and_the_next_runs_finish_without_repeating(
    sandbox,
) -> None:
    env = {**_seed_small(sandbox), "ESCBOT_NOTES_PER_RUN": "12"}
    first = CliRunner().invoke(cli, ["check", "--group", "bench", "--apply"], env=env)
    assert "30 comments to post" in first.stderr and "this run posts 12" in first.stderr
    assert first.output.count("Left for the next run: comment on") == 18
    assert sandbox.stats()["by_route"]["POST /projects/:id/issues/:noteable_id/notes"] == 12
    for _ in range(15):  # each run climbs the ladder too: more to say than the cap at first
        later = CliRunner().invoke(cli, ["check", "--group", "bench", "--apply"], env=env)
        if "Left for the next run" not in later.output:
            break
    assert "Left for the next run" not in later.output
    markers = _bot_markers(sandbox)
    assert all(per_issue for per_issue in markers)  # every escalation got its comment
    assert all(len(set(per_issue)) == len(per_issue) for per_issue in markers)


def test_reads_are_sized_from_gitlabs_rate_limit_headers(sandbox, monkeypatch) -> None:
    from escbot.check import run_check
    from escbot.gitlab_io import READERS, GitLab, connect
    from escbot.policies import load_policy
    from tests.helpers import ny

    _seed_small(sandbox)
    sandbox.settings(rate_limit=1000)
    monkeypatch.setenv("GITLAB_TOKEN", sandbox.token)
    api = GitLab(connect(url=sandbox.url))
    pacer = api.pacer
    assert pacer is not None and pacer.remaining is None and pacer.readers() == READERS
    run_check(api, ("group", api.group("bench")), load_policy(), ny("2026-11-23 09:00"),
              apply=False)  # fmt: skip
    # GitLab said how many requests are left this minute, less those sent since.
    assert pacer.remaining == 1000 - api.stats.total
    sandbox.settings(rate_limit=100)
    api.user("nobody-at-all")
    assert pacer.remaining is not None and pacer.remaining < 100
    assert 1 <= pacer.readers() < READERS


def test_answers_arriving_out_of_order_never_raise_the_count_left() -> None:
    import requests

    from escbot.gitlab_io import Pacer

    def answer(remaining: int, reset: int) -> requests.Response:
        response = requests.Response()
        response.headers["RateLimit-Remaining"] = str(remaining)
        response.headers["RateLimit-Reset"] = str(reset)
        return response

    pacer = Pacer(per_minute=2000, notes_per_minute=120)
    for _ in range(3):
        pacer.wait(note=False)
    pacer.observe(answer(978, 4_000_000_000))  # the second request's answer came first
    assert pacer.remaining == 978 - 2  # the first and third may not be counted in it yet
    pacer.observe(answer(979, 4_000_000_000))  # the first one's, older: says nothing new
    assert pacer.remaining == 978 - 1
    pacer.observe(None)  # the third failed unanswered
    assert pacer.remaining == 978
    pacer.wait(note=False)
    pacer.observe(answer(1999, 4_000_000_060))  # a new window
    assert pacer.remaining == 1999


def test_a_milestone_moved_is_seen_by_the_next_run_with_the_cache(sandbox, tmp_path) -> None:
    """A milestone's due date changes on the milestone, not on its issues (no `updated_at`
    moves): with the cache, the next run sees the milestone changed and lists every escalation
    again, so the due-date rule follows the new date at once. (A reviewer's test.)"""
    from datetime import date, timedelta

    from escbot.check import run_check
    from escbot.gitlab_io import GitLab
    from escbot.policies import load_policy
    from tests.helpers import ny

    _seed_small(sandbox)
    gl = sandbox.gitlab()
    issue = gl.groups.get("bench").issues.list(labels="escalation", per_page=1, get_all=False)[0]
    project = gl.projects.get(issue.project_id)
    milestone = project.milestones.create({"title": "M1", "due_date": "2026-12-01"})
    project.issues.update(issue.iid, {"milestone_id": milestone.id})
    cache = tmp_path / "memory.json"
    sandbox.advance("PT1H")
    now = ny("2026-11-23 10:00")

    def run() -> tuple[date | None, dict[str, int]]:
        api = GitLab(gl)
        result = run_check(api, ("group", api.group("bench")), load_policy(), now,
                           apply=False, cache_path=cache)  # fmt: skip
        esc = {e.key: e for e in result.escalations}[(issue.project_id, issue.iid)]
        return esc.milestone_due, dict(api.stats.by_kind)

    assert run()[0] == date(2026, 12, 1)
    sandbox.advance("PT1H")
    now += timedelta(hours=1)
    quiet = run()[1]
    assert quiet["GET /groups/:id/milestones"] == 1
    assert quiet["GET /groups/:id/issues"] == 1 + 3  # the changes, closed, retros, intake
    milestone.due_date = "2026-11-25"  # moved earlier
    milestone.save()
    sandbox.advance("PT1H")
    now += timedelta(hours=1)
    due, requests = run()
    assert due == date(2026, 11, 25)
    # Listed whole: the open escalations (one page), the registers (open, closed lately).
    assert requests["GET /groups/:id/issues"] == 1 + 2 + 3


def test_a_gitlab_that_cannot_say_whether_milestones_changed_gets_the_whole_list(sandbox) -> None:
    from types import SimpleNamespace

    from escbot.gitlab_io import GitLab
    from escbot.snapshot import _milestones_changed
    from tests.helpers import ny

    api = GitLab(sandbox.gitlab())
    gone = ("group", SimpleNamespace(id=999_999, full_path="gone", path="gone"))
    assert _milestones_changed(api, gone, ny("2026-11-23 09:00")) is True  # a 404: list all
    _seed_small(sandbox)
    bench = ("group", api.group("bench"))
    assert _milestones_changed(api, bench, ny("2026-11-23 09:00")) is False
