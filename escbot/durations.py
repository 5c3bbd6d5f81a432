"""Durations as policies.yml writes them: "1 business day", "8 business hours", "48h", "1 week"."""

from __future__ import annotations

import re
from dataclasses import dataclass

UNITS: dict[str, str] = {
    "m": "minutes",
    "min": "minutes",
    "mins": "minutes",
    "minute": "minutes",
    "minutes": "minutes",
    "h": "hours",
    "hour": "hours",
    "hours": "hours",
    "d": "days",
    "day": "days",
    "days": "days",
    "w": "weeks",
    "week": "weeks",
    "weeks": "weeks",
    "bd": "business_days",
    "business day": "business_days",
    "business days": "business_days",
    "bh": "business_hours",
    "business hour": "business_hours",
    "business hours": "business_hours",
}

_PATTERN = re.compile(r"^\s*(\d+)\s*([a-z]+(?:\s+[a-z]+)?)\s*$")


@dataclass(frozen=True)
class Duration:
    amount: int
    unit: str  # one of UNITS' values
    text: str

    @property
    def is_business(self) -> bool:
        return self.unit.startswith("business_")

    @property
    def days_at_most(self) -> float:
        """An upper bound in calendar days (business time stretched over weekends, holidays)."""
        return {
            "minutes": self.amount / 1440,
            "hours": self.amount / 24,
            "days": self.amount,
            "weeks": self.amount * 7,
            "business_days": self.amount * 7 / 5 + 4,
            "business_hours": self.amount / 8 * 7 / 5 + 4,
        }[self.unit]

    def __str__(self) -> str:
        return self.text


def parse_duration(text: object) -> Duration | None:
    """Parse a duration; None when the text is not one (the caller reports where)."""
    if isinstance(text, bool):
        return None
    if isinstance(text, int):
        return Duration(text, "hours", f"{text}h") if text == 0 else None
    if not isinstance(text, str):
        return None
    match = _PATTERN.match(text.lower())
    if not match:
        return None
    unit = UNITS.get(re.sub(r"\s+", " ", match.group(2)))
    if unit is None:
        return None
    return Duration(int(match.group(1)), unit, text.strip())
