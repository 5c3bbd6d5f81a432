"""Hidden markers: how escbot finds its own comments and issues again.

A marker is an HTML comment GitLab does not render: `<!-- escbot:remind req=status_update
due=2026-11-24T14:00Z rung=1 -->`. Its kind names the rule, its attributes the period, so a
rerun can tell "already said this" from "new".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_MARKER = re.compile(r"<!--\s*escbot:([a-z0-9_\-]+)((?:\s+[a-z0-9_\-]+=[^\s>]*)*)\s*-->")
_ATTR = re.compile(r"([a-z0-9_\-]+)=([^\s>]*)")


@dataclass(frozen=True, slots=True)
class Marker:
    kind: str
    attrs: tuple[tuple[str, str], ...] = ()

    def get(self, key: str, default: str | None = None) -> str | None:
        return dict(self.attrs).get(key, default)

    def render(self) -> str:
        parts = " ".join(f"{k}={v}" for k, v in self.attrs)
        return f"<!-- escbot:{self.kind}{' ' + parts if parts else ''} -->"

    def __str__(self) -> str:
        return self.render()


def marker(kind: str, **attrs: object) -> Marker:
    """Build a marker; attribute values must not contain spaces or '>'."""
    clean = []
    for key, value in attrs.items():
        text = str(value)
        if not text or any(ch.isspace() or ch == ">" for ch in text):
            raise ValueError(f"marker attribute {key}={text!r} must be one word")
        clean.append((key, text))
    return Marker(kind, tuple(clean))


def find_markers(text: str | None) -> list[Marker]:
    if not text:
        return []
    return [
        Marker(m.group(1), tuple(_ATTR.findall(m.group(2) or ""))) for m in _MARKER.finditer(text)
    ]


def has_marker(text: str | None, wanted: Marker) -> bool:
    return wanted in find_markers(text)
