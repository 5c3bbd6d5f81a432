"""Importable test helpers, in one place: policies, snapshots, sandbox scripting."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from escbot.model import Escalation, Note
from escbot.policies import Policy, load_policy, parse_policy

ROOT = Path(__file__).resolve().parent.parent
NY = ZoneInfo("America/New_York")
BOT = "escbot-bot"


def policy(**replacements: str) -> Policy:
    """The shipped policy; `replacements` swap exact text snippets (old=new pairs by name)."""
    if not replacements:
        return load_policy(ROOT / "policies.yml")
    text = (ROOT / "policies.yml").read_text()
    for old, new in replacements.values():  # type: ignore[misc]
        assert old in text, old
        text = text.replace(old, new)
    return parse_policy(text)


def policy_text(*pairs: tuple[str, str]) -> str:
    text = (ROOT / "policies.yml").read_text()
    for old, new in pairs:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


def ny(text: str) -> datetime:
    """A New York wall-clock time as aware UTC: ny("2026-11-16 09:00")."""
    return datetime.fromisoformat(text).replace(tzinfo=NY).astimezone(UTC)


SEV1_LABELS = (
    "escalation",
    "escalation::sev1",
    "severity::high",
    "type::customer",
    "category::install-issue",
    "account::fixed",
    "rag::yellow",
    "phase::active",
)

SEV1_DESCRIPTION = """<!-- escbot:escalation level=sev1 -->
## Phase 1 checklist
- [x] Tracking issue created
- [x] DRI identified

## Blockers
- [ ] none

## Close-out checklist
- [ ] Final resolution documented
- [ ] Customer sign-off obtained
- [ ] Lessons learned captured in the retrospective issue
- [ ] Process improvements implemented and documented
- [ ] Learnings shared with the PMO team
- [ ] Project artifacts updated with final changes
- [ ] Financial impact reconciled
- [ ] Escalation thread unpinned in #ps-project-leadership
"""


def escalation(**over: Any) -> Escalation:
    created = over.pop("created_at", ny("2026-11-16 09:00"))
    base: dict[str, Any] = dict(
        project_id=1,
        project_path="acme/collab",
        iid=12,
        title="Install stalled at Dallas yard",
        description=SEV1_DESCRIPTION,
        state="opened",
        labels=SEV1_LABELS,
        assignees=("pat",),
        author="pat",
        created_at=created,
        updated_at=created,
        closed_at=None,
        due_date=None,
        web_url="http://gitlab.example/acme/collab/-/issues/12",
    )
    base.update(over)
    return Escalation(**base)


def note(
    body: str, at: datetime, author: str = "pat", *, id: int = 0, system: bool = False
) -> Note:
    return Note(
        id=id or int(at.timestamp()), body=body, author=author, created_at=at, system=system
    )
