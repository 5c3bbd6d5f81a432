"""`escbot intake learn`: vocabulary proposals from e-mails people classified on GitLab.

    examples = read_examples(api, scope, policy)      # GitLab, read only
    proposals = propose(examples, policy)             # pure
    print(policy_diff(policy_text, proposals))        # a unified diff, never applied

An example is an e-mailed issue (authored by the Service Desk bot) with a category label a
person chose: either they classified it (escbot had sent it to triage), or they replaced
escbot's category with another one (a correction). Only examples the current vocabulary gets
wrong teach anything. A proposal is a phrase (one to three words of the new text, no stop
words at its edges) found in at least `min_count` of a category's examples and in no example of
another category, added with weight 2 to that category's phrases.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from escbot.classifier import Email, classify, mail_text, normalise, split_mail, stem, words
from escbot.gitlab_io import GitLab
from escbot.policies import Policy

PROPOSED_WEIGHT = 2
MAX_PER_CATEGORY = 5
# Words that never start or end a proposed phrase: they say nothing about the topic.
_STOP_WORDS = (
    "a an the and or but if of to in on at for from by with about as into over after before "
    "is are was were be been being am do does did done have has had having will would can could "
    "should shall may might must i me my we us our you your he him his she her it its they them "
    "their this that these those there here what which who whom when where why how all any both "
    "each few more most other some such no nor not only own same so than too very just also "
    "again still yet now then today yesterday tomorrow please thanks thank hi hello dear regards "
    "get got one two three"
)
STOP = frozenset(_STOP_WORDS.split())


@dataclass(frozen=True)
class Example:
    ref: str
    subject: str
    body: str
    sender: str
    project: str
    category: str  # what the person chose
    corrected: str | None  # escbot's category the person replaced, if any


def read_examples(api: GitLab, scope: tuple[str, Any], policy: Policy) -> list[Example]:
    """E-mailed issues whose category label a person set (read only)."""
    group = policy.labels["category"]
    bot = api.me()["username"]
    out = []
    for issue in api.list_issues(scope, state="all", author_username=policy.intake.author):
        chosen = [v for lab in issue.get("labels", []) if (v := group.value_of(lab))]
        if len(chosen) != 1:
            continue
        events = api.label_events(issue["project_id"], issue["iid"])
        by: dict[str, str] = {}  # category -> who added it last
        escbot_chose = None
        for e in sorted(events, key=lambda e: (e.get("created_at") or "", e.get("id") or 0)):
            value = group.value_of((e.get("label") or {}).get("name") or "")
            if value and e.get("action") == "add":
                who = (e.get("user") or {}).get("username") or ""
                by[value] = who
                if who == bot:
                    escbot_chose = value
        if by.get(chosen[0], bot) == bot:
            continue  # escbot's own category, never changed: nothing to learn
        refs = issue.get("references") or {}
        out.append(
            Example(
                ref=refs.get("full") or f"{issue['project_id']}#{issue['iid']}",
                subject=issue.get("title") or "",
                body=_email_part(issue.get("description") or ""),
                sender=issue.get("service_desk_reply_to") or "",
                project=(refs.get("full") or "").split("#")[0],
                category=chosen[0],
                corrected=escbot_chose if escbot_chose != chosen[0] else None,
            )
        )
    return out


def _email_part(description: str) -> str:
    """The e-mail, without the tracking sections escbot appends after it."""
    cut = description.find("<!-- escbot:")
    text = description[:cut] if cut >= 0 else description
    return re.sub(r"\n-{3,}\s*$", "", text.rstrip())


def propose(
    examples: list[Example], policy: Policy, min_count: int = 2
) -> dict[str, list[tuple[str, int]]]:
    """Category -> [(phrase, number of examples it is in)], best first."""
    known = {
        name: {_stems(p.text) for p in cat.phrases}
        for name, cat in policy.intake.categories.items()
    }
    names = {normalise(n) for c in policy.intake.customers for n in (c.name, *c.aliases)}
    grams_by_example = [(ex, _grams(ex)) for ex in examples]
    seen_in: dict[tuple[str, ...], set[str]] = {}
    for ex, grams in grams_by_example:
        for g in grams:
            seen_in.setdefault(g, set()).add(ex.category)
    counts: dict[str, Counter[tuple[str, ...]]] = {}
    for ex, grams in grams_by_example:
        if ex.category not in known:
            continue
        decision = classify(Email(ex.subject, ex.body, ex.sender, project=ex.project), policy)
        if decision.category == ex.category:
            continue  # the vocabulary already gets it right
        counts.setdefault(ex.category, Counter()).update(grams)
    out: dict[str, list[tuple[str, int]]] = {}
    for category, counter in counts.items():
        picked: list[tuple[str, int]] = []
        ranked = sorted(counter.items(), key=lambda kv: (-kv[1], -len(kv[0]), kv[0]))
        for gram, n in ranked:
            text = " ".join(gram)
            if n < min_count or seen_in[gram] != {category} or text in names:
                continue
            if _stems(text) in known[category]:
                continue
            if any(text in longer or longer in text for longer, _ in picked):
                continue  # "fogged" when "fogged up" is already proposed
            picked.append((text, n))
            if len(picked) == MAX_PER_CATEGORY:
                break
        if picked:
            out[category] = picked
    return out


def _stems(text: str) -> tuple[str, ...]:
    return tuple(stem(w) for w in words(text))


def _grams(ex: Example) -> set[tuple[str, ...]]:
    """One- to three-word phrases of the subject and the new text, without stop words at the
    edges or numbers."""
    text, _ = mail_text(Email(ex.subject, ex.body))
    parts = split_mail(text, ex.subject)
    out: set[tuple[str, ...]] = set()
    for chunk in (ex.subject, parts.new):
        ws = words(chunk)
        for n in (1, 2, 3):
            for i in range(len(ws) - n + 1):
                gram = tuple(ws[i : i + n])
                if gram[0] in STOP or gram[-1] in STOP or any(w.isdigit() for w in gram):
                    continue
                if n == 1 and len(gram[0]) < 4:
                    continue
                out.add(gram)
    return out


def policy_diff(text: str, proposals: dict[str, list[tuple[str, int]]], name: str) -> str:
    """policies.yml with the proposals added to each category's weight-2 phrases, as a diff."""
    lines = text.splitlines(keepends=True)
    for category, phrases in proposals.items():
        lines = _add_phrases(lines, category, [p for p, _ in phrases])
    return "".join(
        difflib.unified_diff(
            text.splitlines(keepends=True), lines, fromfile=name, tofile=f"{name} (proposed)"
        )
    )


def _add_phrases(lines: list[str], category: str, phrases: list[str]) -> list[str]:
    """Insert into `<category>: ... phrases: ... 2: [...]` (or add that line)."""
    start = _find(lines, re.compile(r"^intake:\s*$"), 0)
    start = _find(lines, re.compile(r"^  categories:\s*$"), start)
    start = _find(lines, re.compile(rf"^    {re.escape(category)}:\s*$"), start)
    at = _find(lines, re.compile(r"^      phrases:\s*$"), start)
    if min(start, at) < 0:
        return lines
    indent = " " * 8
    bucket = _find(lines, re.compile(rf"^{indent}{PROPOSED_WEIGHT}:\s*\["), at)
    block_end = next(
        (i for i in range(at + 1, len(lines)) if not lines[i].startswith(indent)), len(lines)
    )
    added = ", ".join(phrases)
    if 0 <= bucket < block_end:
        close = next(i for i in range(bucket, block_end) if lines[i].rstrip().endswith("]"))
        body = lines[close].rstrip()
        lines = [*lines[:close], f"{body[:-1]}, {added}]\n", *lines[close + 1 :]]
        return lines
    return [*lines[: at + 1], f"{indent}{PROPOSED_WEIGHT}: [{added}]\n", *lines[at + 1 :]]


def _find(lines: list[str], pattern: re.Pattern[str], start: int) -> int:
    if start < 0:
        return -1
    return next((i for i in range(start, len(lines)) if pattern.match(lines[i])), -1)
