"""Date arithmetic in the policy's calendar: working days, holidays, closed dates, DST.

Business days count whole working days (24 wall-clock hours each), so one business day after
Friday 18:00 is Monday 18:00. Business hours count only the working-hours window of working
days. All arithmetic happens on local wall-clock time and is converted back to aware UTC, so a
DST change never shifts a deadline by an hour.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo

from escbot.durations import Duration

_DAY = timedelta(days=1)


class BusinessCalendar:
    def __init__(
        self,
        tz: ZoneInfo,
        working_days: Iterable[int] = (0, 1, 2, 3, 4),
        start: time = time(9),
        end: time = time(17),
        country: str | None = None,
        subdivision: str | None = None,
        closed_dates: Iterable[date] = (),
    ) -> None:
        self.tz = tz
        self.working_days = frozenset(working_days)
        self.start = start
        self.end = end
        self.country = country
        self.subdivision = subdivision
        self.closed_dates = frozenset(closed_dates)
        # The rules ask the same questions of every escalation (a day's kind, a deadline from
        # one instant): each answered once. The calendar never changes once made.
        self._working: dict[date, bool] = {}
        self._added: dict[tuple[datetime, Duration], datetime] = {}

    @cached_property
    def _holidays(self):  # type: ignore[no-untyped-def]
        if not self.country:
            return None
        import holidays  # imported lazily: it is large and only needed with a country

        return holidays.country_holidays(self.country, subdiv=self.subdivision, years=[])

    def holiday_name(self, day: date) -> str | None:
        table = self._holidays
        if table is None:
            return None
        name: str | None = table.get(day)  # the table fills in each year on first look-up
        return name

    @property
    def hours_per_day(self) -> float:
        """Working hours in one working day: the unit a business day is counted in."""
        start = datetime.combine(date.min, self.start)
        return (datetime.combine(date.min, self.end) - start).total_seconds() / 3600

    def is_working_day(self, day: date) -> bool:
        known = self._working.get(day)
        if known is None:
            known = self._working[day] = (
                day.weekday() in self.working_days
                and day not in self.closed_dates
                and self.holiday_name(day) is None
            )
        return known

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.tz)

    def _aware(self, naive: datetime) -> datetime:
        return naive.replace(tzinfo=self.tz).astimezone(UTC)

    def add(self, moment: datetime, duration: Duration) -> datetime:
        """The instant `duration` after `moment`, in this calendar."""
        if duration.unit in ("minutes", "hours"):
            return self._add(moment, duration)  # plain arithmetic, in `moment`'s own zone
        key = (moment, duration)  # an instant: the answer (in UTC) is the same in any zone
        found = self._added.get(key)
        if found is None:
            if len(self._added) >= 4096:  # the reuse is within an escalation's evaluation
                self._added.clear()
            found = self._added[key] = self._add(moment, duration)
        return found

    def _add(self, moment: datetime, duration: Duration) -> datetime:
        n = duration.amount
        if duration.unit == "minutes":
            return moment + timedelta(minutes=n)
        if duration.unit == "hours":
            return moment + timedelta(hours=n)
        naive = self.local(moment).replace(tzinfo=None)
        if duration.unit in ("days", "weeks"):
            days = n * 7 if duration.unit == "weeks" else n
            return self._aware(naive + timedelta(days=days))
        if duration.unit == "business_days":
            return self._aware(self._walk(naive, timedelta(days=n), hours_only=False))
        return self._aware(self._walk(naive, timedelta(hours=n), hours_only=True))

    def extend(self, moment: datetime, working: timedelta, *, hours_only: bool = False) -> datetime:
        """The instant `working` time of this calendar (as `between` measures it) after
        `moment`: a paused clock moves a deadline by the working time it was paused."""
        naive = self.local(moment).replace(tzinfo=None)
        return self._aware(self._walk(naive, working, hours_only=hours_only))

    def _window(self, day: date, hours_only: bool) -> tuple[datetime, datetime] | None:
        if not self.is_working_day(day):
            return None
        if hours_only:
            return datetime.combine(day, self.start), datetime.combine(day, self.end)
        return datetime.combine(day, time()), datetime.combine(day + _DAY, time())

    def _walk(self, cur: datetime, remaining: timedelta, *, hours_only: bool) -> datetime:
        if remaining <= timedelta(0):
            return cur
        for _ in range(3660):  # ten years of days: a calendar with no working day fails loudly
            window = self._window(cur.date(), hours_only)
            if window is not None:
                begin, end = window
                cur = max(cur, begin)
                if cur < end:
                    available = end - cur
                    if remaining <= available:
                        return cur + remaining
                    remaining -= available
            cur = datetime.combine(cur.date() + _DAY, time())
        raise ValueError("the calendar has no working time in ten years")

    def between(self, a: datetime, b: datetime, *, hours_only: bool = False) -> timedelta:
        """Working time from a to b (zero when b <= a): whole working days, or working hours."""
        if b <= a:
            return timedelta(0)
        cur = self.local(a).replace(tzinfo=None)
        stop = self.local(b).replace(tzinfo=None)
        total = timedelta(0)
        while cur < stop:
            window = self._window(cur.date(), hours_only)
            next_day = datetime.combine(cur.date() + _DAY, time())
            if window is not None:
                begin, end = max(window[0], cur), min(window[1], stop)
                if end > begin:
                    total += end - begin
            cur = next_day
        return total

    def is_quiet(self, moment: datetime) -> bool:
        """True on a closed day (weekend, holiday, closed date) in the policy's timezone."""
        return not self.is_working_day(self.local(moment).date())

    def due_day(self, moment: datetime) -> date:
        """The local day a deadline belongs to: one at 00:00 is the end of the day before."""
        local = self.local(moment)
        return local.date() - _DAY if local.time() == time() else local.date()

    def describe(self, moment: datetime) -> str:
        """A short local stamp for messages, e.g. "Tue 24 Nov 09:00 EST"; a deadline at 00:00
        is the end of the day before: "Mon 23 Nov 24:00 EST"."""
        local = self.local(moment)
        if local.time() == time():
            return f"{self.due_day(moment):%a %d %b} 24:00 {local:%Z}"
        return local.strftime("%a %d %b %H:%M %Z")


def parse_instant(text: str, tz: ZoneInfo) -> datetime | None:
    """ISO 8601 date or datetime; naive values are read in the policy's timezone."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=tz)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):  # not a time, or beyond the calendar at year 1 / 9999
        return None


def parse_gitlab_time(text: str) -> datetime:
    """GitLab's "2016-01-04T15:31:51.081Z" (or with an offset) as aware UTC."""
    value = text[:-1] + "+00:00" if text.endswith("Z") else text
    return datetime.fromisoformat(value).astimezone(UTC)
