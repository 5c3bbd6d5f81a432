"""The noise budget over a scripted month: five escalations with realistic gaps, escbot run three
times a day (03:00, 09:30, 15:00, weekends too), every bot comment and mention counted per issue
per day."""

from __future__ import annotations

import re
from collections import Counter
from datetime import date, timedelta
from typing import Any

import pytest

from escbot.businesstime import parse_gitlab_time
from tests.helpers import NY, World

DAILY = "Update. #status-update #milestone-progress #blockers #customer-communication"
WEEKLY1 = "#stakeholder-summary #budget-timeline-impact #resource-review #pmo-briefing"
WEEKLY2 = "Week on track. #path-to-green #portfolio-call #mitigation #resource-needs"
RUNS = ("03:00", "09:30", "15:00")
START = date(2026, 11, 2)  # Monday
DAYS = 28


def working(day: date) -> bool:
    return day.weekday() < 5 and day not in (date(2026, 11, 11), date(2026, 11, 26))


class Month:
    """The month as it happened: what people did each day, then escbot's runs."""

    def __init__(self, world: World) -> None:
        self.w = world
        w = world
        self.a = w.open("2026-11-02 09:00", title="A: diligent, one bad week")
        self.b = w.open("2026-11-02 09:10", title="B: DRI on leave")
        self.c = w.open("2026-11-02 09:20", "--trigger-detail", "3 weeks", level="sev2",
                        title="C: healthy Sev2", category="timeline")  # fmt: skip
        self.d = w.open("2026-11-02 09:30", "--trigger-detail", "12% over", level="sev2",
                        title="D: Sev2 slipping", category="budget")  # fmt: skip
        self.e = w.open("2026-11-02 09:40", title="E: resolved mid-month")
        for iid in (self.a, self.b, self.c, self.d, self.e):
            w.tick(iid, "## Phase 1 checklist", "2026-11-02 10:00")
        text = w.issue(self.d).description.replace(
            "Target date for Yellow/Green: (YYYY-MM-DD)", "Target date for Yellow/Green: 2026-11-06"
        )
        w.edit(self.d, "2026-11-02 10:05", description=text)

    def people(self, day: date) -> None:
        w, iso = self.w, day.isoformat()
        if not working(day):
            return
        # A posts its daily update every working day but the week of 9 Nov (Veterans Day on
        # Wednesday), and its weekly one on Mondays.
        if not (date(2026, 11, 9) <= day <= date(2026, 11, 13)):
            w.comment(self.a, DAILY, f"{iso} 08:30")
        if day.weekday() == 0:
            w.comment(self.a, WEEKLY1, f"{iso} 08:35")
            self.raid_edit(self.a, f"{iso} 08:36")
        # B's DRI is on leave from 16 Nov: nothing at all after that.
        if day < date(2026, 11, 16):
            w.comment(self.b, DAILY, f"{iso} 08:40")
            if day.weekday() == 0:
                w.comment(self.b, WEEKLY1, f"{iso} 08:45")
                self.raid_edit(self.b, f"{iso} 08:46")
        # C and D post their weekly update on Mondays; D forgets from 16 Nov.
        if day.weekday() == 0:
            w.comment(self.c, WEEKLY2, f"{iso} 08:50")
            if day < date(2026, 11, 16):
                w.comment(self.d, WEEKLY2, f"{iso} 08:55")
        # E: daily updates until it is resolved on Thu 12 Nov, closed out on Tue 17 Nov.
        if day <= date(2026, 11, 12):
            w.comment(self.e, DAILY, f"{iso} 08:20")
            if day.weekday() == 0:
                w.comment(self.e, WEEKLY1, f"{iso} 08:25")
                self.raid_edit(self.e, f"{iso} 08:26")
        if day == date(2026, 11, 12):
            w.edit(self.e, f"{iso} 11:00", add_labels="phase::resolution")
        if day == date(2026, 11, 17):
            w.tick(self.e, "## Close-out checklist", f"{iso} 11:00")
        # D's leadership decides on Tue 10 Nov: remain in monitoring.
        if day == date(2026, 11, 10):
            text = w.issue(self.d).description.replace(
                "- [ ] Remain in monitoring", "- [x] Remain in monitoring"
            )
            w.edit(self.d, f"{iso} 12:00", description=text)

    def raid_edit(self, iid: int, when: str) -> None:
        """The DRI updates the escalation's RAID register (`escbot new` made it right after)."""
        raid = iid + 1
        text = self.w.issue(raid).description + f"\n- Risk reviewed {when[:10]}"
        self.w.edit(raid, when, description=text)

    def run(self) -> dict[str, Any]:
        for offset in range(DAYS):
            day = START + timedelta(days=offset)
            self.people(day)
            for at in RUNS:
                if day == START and at != "15:00":
                    continue
                result = self.w.run("check", "--group", "acme", "--apply",
                                    when=f"{day.isoformat()} {at}")  # fmt: skip
                assert result.exit_code in (0, 1), result.output
        return {
            key: self.w.notes(iid, "escbot")
            for key, iid in zip("abcde", (self.a, self.b, self.c, self.d, self.e), strict=True)
        }


@pytest.fixture(scope="module")
def month(tmp_path_factory) -> dict[str, Any]:
    from escbot.sandbox import start_sandbox

    sb = start_sandbox(now="2026-11-02T13:00:00Z")
    try:
        yield Month(World(sb)).run()
    finally:
        sb.stop()


def local(note: Any) -> Any:
    return parse_gitlab_time(note.created_at).astimezone(NY)


def mentions(body: str) -> list[str]:
    return re.findall(r"(?<![\w`])@([\w.\-]+)", body)


def test_at_most_one_comment_per_escalation_per_run(month: dict[str, Any]) -> None:
    for key, notes in month.items():
        per_run = Counter(local(n).strftime("%Y-%m-%d %H:%M") for n in notes)
        assert max(per_run.values(), default=0) <= 1, (key, per_run.most_common(3))


def test_each_person_is_mentioned_once_per_comment_and_only_in_working_hours(
    month: dict[str, Any],
) -> None:
    for notes in month.values():
        for n in notes:
            people = mentions(n.body)
            assert len(people) == len(set(people)), n.body[:200]
            when = local(n)
            if people:
                assert working(when.date()) and 9 <= when.hour < 17, (when, n.body[:200])


def test_nothing_after_close_out(month: dict[str, Any]) -> None:
    assert [local(n).date() for n in month["e"] if local(n).date() > date(2026, 11, 17)] == []


def per_day(notes: list[Any]) -> dict[str, tuple[int, str]]:
    """Comments and their mentions by day: {"11-10": (1, "@pat")}."""
    out: dict[str, tuple[int, str]] = {}
    for n in notes:
        day = local(n).strftime("%m-%d")
        count, who = out.get(day, (0, ""))
        out[day] = (count + 1, " ".join(filter(None, [who, *("@" + m for m in mentions(n.body))])))
    return out


EXPECTED: dict[str, dict[str, tuple[int, str]]] = {
    # A misses its daily updates Mon 9 - Fri 13 Nov: the DRI on Monday, then one rung a working
    # day (Wednesday is Veterans Day); customer communication (every 2 days) lapses Tuesday and
    # climbs a day behind. Each day one comment, each person once.
    "a": {
        "11-09": (1, "@pat"),
        "11-10": (1, "@pat @fixed.qa"),
        "11-12": (1, "@fixed.qa @fixed.manager"),
        "11-13": (1, "@fixed.manager @director.ps"),
    },
    # B's DRI goes on leave on Mon 16 Nov: the same climb, to the top of the ladder, then quiet.
    "b": {
        "11-16": (1, "@pat"),
        "11-17": (1, "@pat @fixed.qa"),
        "11-18": (1, "@fixed.qa @fixed.manager"),
        "11-19": (1, "@fixed.manager @director.ps"),
        "11-20": (1, "@director.ps"),
    },
    # C keeps its weekly update: never a word.
    "c": {},
    # D: leadership's "remain in monitoring" recorded (no mention); its weekly update stops on
    # 16 Nov and climbs the Sev2 ladder; on Mon 23 Nov, missed two weeks running and past its
    # target date, it is proposed to the Director PS (the Saturday it crossed, nobody is pinged).
    "d": {
        "11-10": (1, ""),
        "11-16": (1, "@pat"),
        "11-17": (1, "@fixed.qa"),
        "11-18": (1, "@fixed.manager"),
        "11-23": (1, "@director.ps"),
    },
    # E reaches resolution on Thu 12 Nov (the close-out checklist to the DRI) and is closed out
    # on Tue 17 Nov (close-out complete, no mention); nothing after.
    "e": {"11-12": (1, "@pat"), "11-17": (1, "")},
}


def test_the_month_comment_by_comment(month: dict[str, Any]) -> None:
    assert {key: per_day(notes) for key, notes in month.items()} == EXPECTED
