"""The sandbox clock: real time by default, frozen at an instant once set.

Every timestamp the sandbox writes comes from here, so tests can pin time the
same way freezegun does, but across the HTTP boundary.
"""

from __future__ import annotations

import re
import threading
from datetime import UTC, date, datetime, timedelta

_DURATION = re.compile(
    r"^P(?:(?P<weeks>\d+(?:\.\d+)?)W)?(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?"
    r"(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(text: str) -> timedelta:
    """ISO 8601 duration (PnWnDTnHnMnS, optionally negative with a leading '-')."""
    if not isinstance(text, str):
        raise ValueError("duration must be a string")
    sign = 1
    if text.startswith("-"):
        sign, text = -1, text[1:]
    m = _DURATION.match(text.strip().upper())
    if not m or text.strip().upper() in ("P", "PT") or text.strip().upper().endswith("T"):
        raise ValueError(f"invalid ISO 8601 duration: {text!r}")
    parts = {k: float(v) for k, v in m.groupdict().items() if v}
    return sign * timedelta(**parts)


def parse_datetime(value: str | datetime) -> datetime:
    """ISO 8601 date or datetime -> aware UTC datetime (naive values are UTC)."""
    if isinstance(value, datetime):
        dt = value
    else:
        if not isinstance(value, str) or not value.strip():
            raise ValueError("empty datetime")
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            dt = datetime.combine(date.fromisoformat(text), datetime.min.time())
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def fmt(dt: datetime) -> str:
    """GitLab's timestamp form: 2016-01-04T15:31:51.081Z (UTC, milliseconds)."""
    dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


class Clock:
    """Real time until set; then frozen at that instant until moved again, or (set running)
    running on from it at real speed."""

    def __init__(self, now: str | datetime | None = None) -> None:
        self._lock = threading.Lock()
        self._frozen: datetime | None = parse_datetime(now) if now is not None else None
        self._offset: timedelta | None = None  # running: real time plus this

    def now(self) -> datetime:
        with self._lock:
            if self._frozen is not None:
                return self._frozen
            offset = self._offset
        # Looked up at call time so freezegun's patching of datetime applies.
        return datetime.now(UTC) + (offset or timedelta(0))

    def set(self, value: str | datetime, *, running: bool = False) -> datetime:
        dt = parse_datetime(value)
        with self._lock:
            self._frozen = None if running else dt
            self._offset = dt - datetime.now(UTC) if running else None
        return dt

    def advance(self, duration: str | timedelta) -> datetime:
        delta = duration if isinstance(duration, timedelta) else parse_duration(duration)
        base = self.now()
        with self._lock:
            if self._offset is not None:  # running: it runs on from later
                self._offset += delta
                return base + delta
            self._frozen = base + delta
            return self._frozen

    def real(self) -> datetime:
        with self._lock:
            self._frozen = self._offset = None
        return self.now()

    @property
    def frozen(self) -> bool:
        return self._frozen is not None

    def stamp(self) -> str:
        return fmt(self.now())
