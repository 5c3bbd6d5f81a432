"""escbot's memory (escbot.memory): a check reads only the rules' window of activity, and the
hidden block in escbot's own newest internal note stands in for everything older. Eight weeks of
a Sev2 whose DRI goes quiet: the ladder climbs once and the promotion is proposed once, weeks
after the comments that said so left the window, and no run reads a whole comment thread."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from escbot.businesstime import parse_gitlab_time
from escbot.memory import recall, remember, requirements_digest, with_memory
from escbot.model import Companion, Context, Escalation
from escbot.policies import load_policy
from escbot.rules import evaluate
from tests.helpers import NY, World, escalation, note, ny

WEEKLY = "Week on track. #path-to-green #portfolio-call #mitigation #resource-needs"
START = date(2026, 11, 2)  # Monday
WEEKS = 8
HOLIDAYS = (date(2026, 11, 11), date(2026, 11, 26), date(2026, 12, 25))
THREAD_READS = "GET /projects/:id/issues/:noteable_id/notes"


class Quarter:
    """Q's DRI posts the weekly update on 2, 9 and 16 Nov and then nothing; H's every Monday.
    escbot runs at 09:30 every working day, with the CI cache (`cache`) or without."""

    LOST = date(2026, 12, 7)  # the cache is lost (a new runner) before this day's run

    def __init__(self, world: World, cache: Path | None) -> None:
        self.w, self.cache = world, cache
        if cache:
            world.extra_env["ESCBOT_CACHE"] = str(cache)
        self.q = world.open("2026-11-02 09:00", "--trigger-detail", "3 weeks", level="sev2",
                            title="Q: goes quiet", category="timeline")  # fmt: skip
        self.h = world.open("2026-11-02 09:10", "--trigger-detail", "3 weeks", level="sev2",
                            title="H: healthy", category="timeline")  # fmt: skip
        for iid in (self.q, self.h):
            world.tick(iid, "## Phase 1 checklist", "2026-11-02 09:20")
        self.thread_reads: dict[date, int] = {}

    def run(self) -> dict[str, list[Any]]:
        for offset in range(WEEKS * 7):
            day = START + timedelta(days=offset)
            if day.weekday() >= 5 or day in HOLIDAYS:
                continue
            if day.weekday() == 0:
                self.w.comment(self.h, WEEKLY, f"{day.isoformat()} 08:50")
                if day <= date(2026, 11, 16):
                    self.w.comment(self.q, WEEKLY, f"{day.isoformat()} 08:55")
            if self.cache and day == self.LOST:
                self.cache.unlink()
            self.w.sb.reset_stats()
            result = self.w.run("check", "--group", "acme", "--apply",
                                when=f"{day.isoformat()} 09:30")  # fmt: skip
            assert result.exit_code in (0, 1), result.output
            self.thread_reads[day] = self.w.sb.stats()["by_route"].get(THREAD_READS, 0)
        return {"q": self.w.notes(self.q, "escbot"), "h": self.w.notes(self.h, "escbot")}


@pytest.fixture(scope="module", params=["CI cache", "no cache"])
def quarter(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from escbot.sandbox import start_sandbox

    sb = start_sandbox(now="2026-11-02T13:00:00Z")
    try:
        cache = (
            tmp_path_factory.mktemp("ci") / "memory.json" if request.param == "CI cache" else None
        )
        q = Quarter(World(sb), cache)
        yield q, q.run()
    finally:
        sb.stop()


def per_day(notes: list[Any]) -> dict[str, str]:
    """Each day's escbot comment, as its mentions: {"11-23": "@pat"}."""
    out: dict[str, str] = {}
    for n in notes:
        day = parse_gitlab_time(n.created_at).astimezone(NY).strftime("%m-%d")
        assert day not in out, f"two comments on {day}"
        out[day] = " ".join("@" + m for m in re.findall(r"(?<![\w`])@([\w.\-]+)", n.body))
    return out


def test_eight_weeks_comment_by_comment(quarter: Any) -> None:
    _, notes = quarter
    # Q's weekly update lapses on Mon 23 Nov: the DRI, then one rung a working day (Thursday
    # is Thanksgiving); missed two weeks running on Mon 30 Nov, it is proposed to the Director
    # PS once. Nothing after, though the lapse goes on for four more weeks and every comment
    # that said so has left the 10-day window the runs read.
    assert per_day(notes["q"]) == {
        "11-23": "@pat",
        "11-24": "@fixed.qa",
        "11-25": "@fixed.manager",
        "11-30": "@director.ps",
    }
    assert per_day(notes["h"]) == {}


def test_with_the_ci_cache_no_run_reads_a_whole_comment_thread(quarter: Any) -> None:
    q, _ = quarter
    assert len(q.thread_reads) == 37  # 40 weekdays, 3 holidays
    reads = {day.strftime("%m-%d"): n for day, n in q.thread_reads.items() if n}
    if q.cache:
        # Only the run after the cache was lost reads a thread: H's, opened Red and never
        # written to by escbot (is its Red escbot's?). Q's memory is in escbot's note of 30 Nov,
        # still inside the window.
        assert reads == {"12-07": 1}
    else:
        # Without it, H's thread is read on every run once it is older than the window (from
        # 12 Nov), and Q's before escbot first wrote to it and again once that note of 30 Nov
        # left the window (from 10 Dec). The comments are the same either way.
        assert sum(reads.values()) == 49
        assert set(reads.values()) == {1, 2}


def test_each_internal_note_carries_the_memory_of_everything_before(quarter: Any) -> None:
    _, notes = quarter
    last = notes["q"][-1].body
    memory = recall(
        [note(last, ny("2026-11-30 09:30"), "escbot")], "escbot", ny("2026-11-30"), REQS
    )
    assert memory is not None
    said = [m.render() for n in memory.notes if n.author == "escbot" for m in n.markers]
    # The lapse's highest rung, from which the next is planned (the proposal is in the note
    # itself, not its memory).
    assert [m for m in said if "rule=path_to_green" in m] == [
        "<!-- escbot:remind rule=path_to_green due=2026-11-23T13:55Z rung=2 -->",
    ]
    met = {i for n in memory.notes for i in n.meets}
    assert "sev2.path_to_green" in met
    assert "<" not in last.split("escbot-state", 1)[1].split("-->", 1)[0]


# --------------------------------------------------------------------------------------------
# The block itself: what it recalls is what the whole thread would have said.

POLICY = load_policy()
CTX = Context(policy=POLICY, now=ny("2026-12-14 10:00"), bot="escbot", staff=None)
REQS = requirements_digest(POLICY)
DAILY = "Update. #status-update #milestone-progress #blockers #customer-communication"


def _history() -> list[Any]:
    """A Sev1 opened 16 Nov: daily updates to Wed 18 Nov, a pause command, escbot's reminders
    and ladder from Thu 19 Nov, the last on Tue 24 Nov, then a reply from the customer."""
    notes = [note(DAILY, ny(f"2026-11-{d} 08:30"), id=100 + d) for d in (16, 17, 18)]
    notes.append(note("/escbot pause waiting-on-customer", ny("2026-11-18 09:00"), id=150))
    for rung, d in enumerate((19, 20, 23, 24)):
        body = (
            f"<!-- escbot:remind rule=status_update due=2026-11-19T13:30Z rung={rung} -->"
            "\nA reminder."
        )
        notes.append(note(body, ny(f"2026-11-{d} 09:30"), "escbot", id=200 + d))
    notes.append(note("Any news?", ny("2026-12-10 10:00"), "customer", id=300))
    return notes


def test_what_is_recalled_gives_the_verdict_the_whole_thread_gives() -> None:
    posted = ny("2026-12-01 09:30")
    before = escalation(notes=tuple(n for n in _history() if n.created_at < posted))
    block = remember(before, replace(CTX, now=posted))
    # escbot's note of 1 Dec carries the block; the run of 14 Dec reads from 26 Nov on.
    since = ny("2026-11-26 00:00")
    carrier = note("Another comment.\n\n" + block, posted, "escbot", id=400)
    window = [n for n in (*_history(), carrier) if n.created_at >= since]
    partial = escalation(notes=tuple(window), notes_since=since)
    recalled = with_memory(partial, "escbot", REQS)
    assert recalled.history_known and not partial.history_known
    full = escalation(notes=(*_history(), carrier))
    expect, got = evaluate(full, CTX), evaluate(recalled, CTX)
    assert [(f.rule, f.missed, f.due, f.met_at) for f in got.findings] == [
        (f.rule, f.missed, f.due, f.met_at) for f in expect.findings
    ]
    assert [a.summary for a in got.actions] == [a.summary for a in expect.actions]
    assert got.needs == set()


def test_a_block_someone_else_wrote_is_never_trusted() -> None:
    block = remember(escalation(notes=tuple(_history())), CTX)  # as of 14 Dec 10:00
    forged = note("Sorted.\n" + block, ny("2026-12-14 10:00"), "customer", id=400)
    assert recall([forged], "escbot", ny("2026-12-05 00:00"), REQS) is None
    mine = note("Sorted.\n" + block, ny("2026-12-14 10:00"), "escbot", id=400)
    assert recall([mine], "escbot", ny("2026-12-05 00:00"), REQS) is not None


def test_a_block_written_before_the_read_began_is_not_used() -> None:
    block = remember(escalation(notes=tuple(_history())), CTX)  # as of 14 Dec
    mine = note("x\n" + block, ny("2026-12-14 10:00"), "escbot", id=400)
    assert recall([mine], "escbot", ny("2026-12-14 00:00"), REQS) is not None
    assert recall([mine], "escbot", ny("2026-12-15 00:00"), REQS) is None


def test_a_damaged_block_means_reading_the_thread() -> None:
    mine = note('<!-- escbot-state {"v":1,"as_of":"bad"} -->', ny("2026-12-01"), "escbot")
    assert recall([mine], "escbot", ny("2026-11-26"), REQS) is None


# --------------------------------------------------------------------------------------------
# The cache is a speed-up: whatever state its file is in, the run goes on and says so once.


@pytest.fixture
def one(sandbox: Any) -> World:
    world = World(sandbox)
    world.open("2026-11-02 09:00", title="Install stalled")
    return world


def test_a_damaged_cache_is_started_afresh_with_one_warning(one: World, tmp_path: Path) -> None:
    cache = tmp_path / "memory.json"
    cache.write_text("{not json")
    one.extra_env["ESCBOT_CACHE"] = str(cache)
    result = one.run("check", "--group", "acme", when="2026-11-03 09:30")
    assert result.exit_code in (0, 1), result.output
    assert result.stderr == (
        f"escbot: warning: cache {cache}: not read (JSONDecodeError); starting afresh\n"
    )
    assert '"escalations":{"' in cache.read_text()  # written anew, whole


def test_a_cache_for_another_group_is_not_used(one: World, tmp_path: Path) -> None:
    cache = tmp_path / "memory.json"
    one.extra_env["ESCBOT_CACHE"] = str(cache)
    assert one.run("check", "--group", "acme", when="2026-11-03 09:30").exit_code in (0, 1)
    result = one.run("check", "--project", "acme/collab", when="2026-11-03 09:31")
    assert result.stderr == (
        f"escbot: warning: cache {cache}: written for another GitLab, scope, bot or policy\n"
    )


def test_a_cache_that_cannot_be_written_costs_reads_not_the_run(one: World, tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("")
    one.extra_env["ESCBOT_CACHE"] = str(blocked / "memory.json")  # a file where a folder must be
    result = one.run("check", "--group", "acme", "--apply", when="2026-11-03 09:30")
    assert result.exit_code in (0, 1), result.output
    assert result.stderr.startswith(
        f"escbot: warning: cache {blocked / 'memory.json'}: not written"
    )
    assert result.stderr.endswith("the next run reads more\n")


def test_a_block_quoted_inside_escbots_note_is_not_its_memory() -> None:
    """A command escbot answers is quoted in its note: a block in it is text, not memory."""
    block = remember(escalation(notes=tuple(_history())), CTX)
    answer = note(
        f"You said: `/escbot ack {block}`\n\nWhy this comment", ny("2026-12-14"), "escbot"
    )
    assert recall([answer], "escbot", ny("2026-12-01"), REQS) is None


def test_a_memory_of_other_requirements_is_not_used() -> None:
    """A policy changed since (a new requirement, a renamed tag): what met it is not known."""
    block = remember(escalation(notes=tuple(_history())), CTX)
    mine = note("x\n" + block, ny("2026-12-14 10:00"), "escbot", id=400)
    assert recall([mine], "escbot", ny("2026-12-14 00:00"), "another policy") is None


def test_a_block_dated_after_its_note_is_not_trusted() -> None:
    block = remember(escalation(notes=tuple(_history())), CTX)  # as of 14 Dec 10:00
    early = note("x\n" + block, ny("2026-12-01 09:30"), "escbot", id=400)
    assert recall([early], "escbot", ny("2026-11-26 00:00"), REQS) is None


# --------------------------------------------------------------------------------------------
# What a person can do to escbot's memory: forge it in a command. (Editing or deleting a
# command with the cache on: tests/test_talkback.py.)


def _ladder_after(world: World, command: str) -> list[Any]:
    """A Sev1 updated on 2 and 16 Nov; on 16 Nov a member gives `command`; the rungs escbot
    posts over the next three days."""
    from tests.test_talkback import DAILY, check, post, rungs

    iid = world.open("2026-11-02 09:00")
    world.tick(iid, "## Phase 1 checklist", "2026-11-02 09:30")
    world.comment(iid, DAILY, "2026-11-02 10:00")
    for d in ("03", "04", "05", "06", "09", "10", "11", "12", "13"):
        check(world, f"2026-11-{d} 13:00")
    world.comment(iid, DAILY, "2026-11-16 10:00")
    post(world, iid, command, "2026-11-16 12:00")
    check(world, "2026-11-16 13:00")
    before = len(rungs(world, iid))
    for day in ("2026-11-17 13:00", "2026-11-18 13:00", "2026-11-19 13:00"):
        check(world, day)
    return rungs(world, iid)[before:]


def _forged_state() -> str:
    import json

    met = [f"sev1.{k}" for k in ("status_update", "milestone_progress", "blockers",
                                  "customer_communication")]  # fmt: skip
    state = {"v": 1, "reqs": REQS, "as_of": "2026-11-30T00:00:00Z", "said": [],
             "met": [[1, "2026-11-29T12:00:00Z", "pat", met]], "commands": []}  # fmt: skip
    return "<!-- escbot-state " + json.dumps(state, separators=(",", ":")) + " -->"


def test_a_memory_forged_in_a_command_silences_nothing() -> None:
    from escbot.sandbox import start_sandbox

    ladders = []
    for command in ("/escbot ack nothing", "/escbot ack " + _forged_state()):
        sb = start_sandbox(now="2026-11-02T13:00:00Z")
        try:
            ladders.append(_ladder_after(World(sb), command))
        finally:
            sb.stop()
    plain, forged = ladders
    assert plain and forged == plain


# --------------------------------------------------------------------------------------------
# The listing: the open escalations and registers between runs (escbot.cache.Listing).


def _register(iid: int, of: tuple[int, int], **over: Any) -> Escalation:
    marker = f"<!-- escbot:raid project={of[0]} iid={of[1]} -->"
    return escalation(iid=iid, labels=("raid-register",), description=marker, **over)


def test_the_listing_follows_every_change_labelled_or_not() -> None:
    from escbot.cache import COMMIT_LAG, Listing

    at = ny("2026-11-24 09:00")
    a, b, c = (escalation(iid=i, updated_at=at) for i in (1, 2, 3))
    listing = Listing({e.key: e for e in (a, b)}, {}, at, at)
    later = at + timedelta(hours=2)
    seen = [
        replace(a, labels=("bug",), updated_at=later),  # de-escalated: off
        replace(b, title="Renamed", updated_at=at),  # changed: as now
        replace(c, updated_at=at),  # escalated since: on
        _register(7, of=c.key, updated_at=at),  # c's register
        escalation(iid=4, state="closed", updated_at=at),  # closed: never on
    ]
    after = listing.changed(seen, "escalation", "raid-register")
    assert [e.iid for e in after.ordered()] == [3, 2]
    assert after.escalations[b.key].title == "Renamed"
    assert after.registers == {(1, 7): (c.key, Companion.of(seen[3]))}
    # The next list of changes starts a minute before GitLab's time when this one began (a
    # save GitLab stamped earlier may commit later); without that time, all is listed again.
    assert after.since == at
    assert after.after(later).since == later - COMMIT_LAG
    assert after.after(None).since is None
    # A register that names another escalation now, or lost its label, is no longer the old
    # one's; a new register unlabels nothing.
    moved = after.changed([_register(7, of=b.key)], "escalation", "raid-register")
    assert moved.registers == {(1, 7): (b.key, Companion.of(_register(7, of=b.key)))}
    gone = moved.changed(
        [replace(_register(7, of=b.key), labels=())], "escalation", "raid-register"
    )
    assert gone.registers == {}
    assert listing.escalations == {a.key: a, b.key: b}  # the old listing stays as it was


def test_the_listing_is_kept_whole_and_listed_again_weekly(tmp_path: Path) -> None:
    from escbot.cache import Listing, MemoryCache

    at = ny("2026-11-24 09:00")
    esc = escalation(
        iid=5, due_date=date(2026, 12, 1), closed_at=None, milestone_title="M1",
        milestone_due=date(2026, 12, 24), confidential=True, user_notes_count=3,
        service_desk_reply_to="ops@example.com", assignees=("pat", "lee"),
    )  # fmt: skip
    register = _register(9, of=esc.key, updated_at=at)
    ctx = Context(policy=load_policy(), now=at, bot="escbot")
    path = tmp_path / "memory.json"
    cache = MemoryCache.open(path, url="http://gitlab", scope="group:acme", ctx=ctx)
    cache.listing = Listing({esc.key: esc}, {(1, 9): (esc.key, Companion.of(register))}, at, at)
    assert cache.save() is None
    again = MemoryCache.open(path, url="http://gitlab", scope="group:acme", ctx=ctx)
    listing = again.listed(at + timedelta(days=6))
    assert listing is not None
    assert listing.escalations == {esc.key: esc}  # every field the rules read, as listed
    assert listing.registers == {(1, 9): (esc.key, Companion.of(register))}
    assert (listing.since, listing.listed) == (at, at)
    # A week on, every issue is listed whole again: a deleted one leaves no trace in a list
    # of changes.
    assert again.listed(at + timedelta(days=7)) is None
    assert again.listed(at - timedelta(minutes=1)) is None  # a clock set back: the same


def test_a_replaced_register_is_the_escalations_once_the_old_one_is_unlabelled() -> None:
    """A new register for an escalation (its marker copied), the old one's label removed: the
    new one is the escalation's, in whichever order the list of changes gives them."""
    from escbot.cache import Listing
    from escbot.snapshot import by_escalation

    at = ny("2026-11-24 09:00")
    esc = escalation(iid=1, updated_at=at)
    old = _register(7, of=esc.key, created_at=at - timedelta(days=3), updated_at=at)
    listing = Listing({esc.key: esc}, {old.key: (esc.key, Companion.of(old))}, at, at)
    new = _register(8, of=esc.key, created_at=at + timedelta(hours=1), updated_at=at)
    unlabelled = replace(old, labels=("bug",))
    for seen in ([new, unlabelled], [unlabelled, new]):
        after = listing.changed(seen, "escalation", "raid-register")
        assert by_escalation(after.registers, at) == {esc.key: Companion.of(new)}
    # Two registers for one escalation: the open one, and of open ones the first opened, as
    # a whole list gives them.
    both = listing.changed([new], "escalation", "raid-register")
    assert by_escalation(both.registers, at) == {esc.key: Companion.of(old)}
    closed = replace(old, state="closed", updated_at=at - timedelta(days=1))
    one_open = listing.changed([new, closed], "escalation", "raid-register")
    assert by_escalation(one_open.registers, at - timedelta(days=2)) == {esc.key: Companion.of(new)}
    # A register closed before `since` is no escalation's.
    alone = listing.changed([closed], "escalation", "raid-register")
    assert by_escalation(alone.registers, at) == {}


def test_a_cache_of_other_escalation_labels_is_not_used(tmp_path: Path) -> None:
    from escbot.cache import Listing, MemoryCache
    from tests.helpers import policy

    at = ny("2026-11-24 09:00")
    path = tmp_path / "memory.json"
    ctx = Context(policy=policy(), now=at, bot="escbot")
    cache = MemoryCache.open(path, url="http://gitlab", scope="group:acme", ctx=ctx)
    cache.listing = Listing({}, {}, at, at)
    assert cache.save() is None
    renamed = policy(marker=("marker: {name: escalation,", "marker: {name: customer-escalation,"))
    ctx = Context(policy=renamed, now=at, bot="escbot")
    again = MemoryCache.open(path, url="http://gitlab", scope="group:acme", ctx=ctx)
    assert again.listed(at) is None
    assert again.note == f"cache {path}: written for another GitLab, scope, bot or policy"


def test_an_evaluated_escalation_keeps_only_what_its_memory_holds() -> None:
    """After evaluation a run keeps of each escalation only the comments escbot remembers
    (escbot's own as their markers): what escbot told and what it remembers stay the same."""
    from escbot.memory import settled, state_of
    from escbot.timeline import bot_activity

    command = note("/escbot snooze status-update 2d", ny("2026-12-11 10:00"), "pm.lead", id=500)
    full = escalation(notes=(*_history(), command))
    kept = settled(full, CTX)
    assert len(kept.notes) < len(full.notes)
    assert state_of(kept, CTX) == state_of(full, CTX)
    assert bot_activity(kept, "escbot") == bot_activity(full, "escbot")
    assert kept.posted_markers == [m for n in full.notes if n.author == "escbot" for m in n.markers]
    assert command in kept.notes
    mine = [n for n in kept.notes if n.author == "escbot"]
    assert mine and all(n.body == "\n".join(m.render() for m in n.markers) for n in mine)
