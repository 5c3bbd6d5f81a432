"""What an e-mail sent to the escalation address is about, decided like a dispatcher would (pure).

    decision = classify(Email(subject, body, sender, headers, project), policy)

The steps, each its own function so it can be tested alone:

1. `mail_text`: bytes in any (or an unknown) charset and HTML-only mail become plain text; the
   body is bounded (`MAX_BODY`), so a 1 MB mail costs what a 200 KB one does.
2. `split_mail`: the new text apart from quoted replies (`>` lines, "On ... wrote:", Outlook's
   "From: / Sent:" block), forwarded mail and signatures ("--", "Regards,", "Sent from my
   iPhone"). Quoted words barely count (`intake.zones`); a forwarded mail counts more when the
   new text is only "see below".
3. `normalise` and `tokens`: case, accents, "didn't"/"didnt" = "did not"; each word is stemmed
   (snowballstemmer: "delayed" = "delay") and compared with small misspellings allowed
   (rapidfuzz, optimal string alignment: "tecnician", "appointmnet").
4. Who sent it (`intake.staff` -> a role; everyone else is a customer): the role limits the
   categories and, for staff, starts its own category with `intake.staff_prior` (seed 004:
   internal escalations are decided by who sent them).
5. Mail that is not an escalation (bounces, auto-replies, newsletters, thank-you notes).
6. Scores per category: phrase weight x zone weight (x 0.7 for a misspelling), minus the words
   against it; the best wins when it reaches `min_score` and beats the runner-up `margin` times,
   else `needs_triage` with the competing scores. Seed 000's Sev1 triggers raise the level.
7. The account type: the sender's domain in the customer directory, else the project's customer,
   else a customer or account words the mail names, else unknown (never a default).

The decision carries its evidence (phrase, words found, zone, score) for triage notes; the
acknowledgement never shows it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from email.utils import parseaddr
from functools import lru_cache, partial
from html.parser import HTMLParser

import snowballstemmer
from rapidfuzz import process
from rapidfuzz.distance import OSA

from escbot.policies import Customer, Intake, Phrase, Policy

MAX_BODY = 200_000  # characters read from a body; the rest is never looked at
MAX_SUBJECT = 2_000
MAX_TOKENS = 3_000  # words scored per zone
FUZZY = 0.7  # a misspelt word counts this much of an exact one
GAP = 0.9  # a phrase with one extra word inside ("wrong camera model") counts this much
ESCALATION = "escalation"


# --------------------------------------------------------------------------------------------
# Input and output.


@dataclass(frozen=True)
class Email:
    subject: str = ""
    body: str | bytes = ""
    sender: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    project: str | None = None  # the GitLab project the mail arrived in
    html: bool = False  # the body is HTML (also when Content-Type says text/html)


@dataclass(frozen=True)
class Evidence:
    category: str  # a category, or "sev1" for a Sev1 trigger, or "role" for the sender's role
    phrase: str  # as written in policies.yml
    found: str  # the words of the mail that matched
    zone: str  # subject, new, quoted, forwarded, sender
    score: float  # what it added (negative: a word against)

    def describe(self) -> str:
        where = {"new": "new text"}.get(self.zone, self.zone)
        said = self.phrase if self.found == self.phrase else f'{self.found}" ~ "{self.phrase}'
        return f'"{said}" ({where}, {self.score:+.1f})'


@dataclass(frozen=True)
class Decision:
    kind: str  # escalation, or a not_escalations kind (bounce, auto-reply, newsletter, thanks)
    needs_triage: bool
    reason: str  # why this category, why triage, or why not an escalation
    sender_role: str
    account_type: str | None
    account_source: str  # where the account type came from, or why it is unknown
    customer: str | None
    scores: tuple[tuple[str, float], ...]  # the categories the sender may send, best first
    evidence: tuple[Evidence, ...]
    notes: tuple[str, ...] = ()  # what happened to the input (truncated, unknown charset...)
    type: str | None = None  # type, category, level, severity: set once committed
    category: str | None = None
    level: str | None = None
    severity: str | None = None

    @property
    def is_escalation(self) -> bool:
        return self.kind == ESCALATION

    def explain(self) -> list[str]:
        """Evidence per competing category, for people (triage notes, `intake test`)."""
        lines = []
        for category, score in self.scores:
            found = [e.describe() for e in self.evidence if e.category == category]
            if found:
                lines.append(f"{category} {score:.1f}: {', '.join(found)}")
        sev1 = [e.describe() for e in self.evidence if e.category == "sev1"]
        if sev1:
            lines.append(f"Sev1 trigger: {', '.join(sev1)}")
        return lines


# --------------------------------------------------------------------------------------------
# 1. Text out of whatever arrived.


class _HtmlText(HTMLParser):
    """HTML to lines; blockquotes become "> " lines so they count as quoted."""

    BLOCK = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "table", "hr"})
    SKIP = frozenset({"script", "style", "head", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = [""]
        self.quote = 0
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self.skip += 1
        elif tag == "blockquote":
            self.quote += 1
            self.lines.append("")
        elif tag in self.BLOCK:
            self.lines.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag == "blockquote":
            self.quote = max(0, self.quote - 1)
            self.lines.append("")
        elif tag in self.BLOCK:
            self.lines.append("")

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        text = data.replace("\xa0", " ")
        if self.quote and not self.lines[-1]:
            self.lines[-1] = "> "
        self.lines[-1] += text

    def text(self) -> str:
        return "\n".join(line.strip() for line in self.lines)


_HTML_START = re.compile(r"^\s*<(!doctype|html|body|div|p|table|span|br|meta)\b", re.I)
_CHARSET = re.compile(r"charset\s*=\s*\"?([\w.:-]+)", re.I)


def header(headers: Mapping[str, str], name: str) -> str:
    """A header's value, whatever the case of its name ("" when absent)."""
    name = name.lower()
    return next((str(v) for k, v in headers.items() if k.lower() == name), "")


def mail_text(email: Email) -> tuple[str, list[str]]:
    """The body as plain text, and notes on what was done to get it."""
    notes: list[str] = []
    body = email.body or ""
    if isinstance(body, bytes):
        body = _decode(body, header(email.headers, "content-type"), notes)
    if len(body) > MAX_BODY:
        notes.append(f"body of {len(body):,} characters: only the first {MAX_BODY:,} were read")
        body = body[:MAX_BODY]
    content_type = header(email.headers, "content-type").lower()
    if email.html or "text/html" in content_type or _HTML_START.match(body):
        parser = _HtmlText()
        parser.feed(body)
        parser.close()
        body = parser.text()
    return body, notes


def _decode(raw: bytes, content_type: str, notes: list[str]) -> str:
    declared = _CHARSET.search(content_type)
    if declared:
        try:
            return raw.decode(declared.group(1), errors="replace")
        except LookupError:
            notes.append(f"unknown charset {declared.group(1)!r}: read as UTF-8")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        notes.append("body is not UTF-8: read as Windows-1252")
        return raw.decode("cp1252", errors="replace")


# --------------------------------------------------------------------------------------------
# 2. New text, quoted text, forwarded text, signature.


@dataclass(frozen=True)
class Parts:
    new: str
    quoted: str
    forwarded: str
    signature: str


_FORWARD = re.compile(
    r"^(-{2,}\s*forwarded message\s*-{2,}|begin forwarded message:?"
    r"|-{2,}\s*weitergeleitete nachricht|-{2,}\s*message transf[ée]r[ée]\s*-{2,}"
    r"|-{2,}\s*mensaje reenviado\s*-{2,})",
    re.I,
)
_ORIGINAL = re.compile(
    r"^(-{2,}\s*original message\s*-{2,}|_{10,}|-{2,}\s*urspr.ngliche nachricht)", re.I
)
_WROTE = re.compile(
    r"^(on|le|el|am|il|op)\b.{0,300}"
    r"\b(wrote|a [ée]crit|escribi[óo]|schrieb|ha scritto|schreef)\s*:?\s*$",
    re.I,
)
# German clients put the name after the verb: "Am 20.11.2026 um 16:12 schrieb Name <a@b>:".
_SCHRIEB = re.compile(r"^am\b.{0,200}\bschrieb\b.{0,200}:\s*$", re.I)
_HEADER_FROM = re.compile(r"^\*?(from|von|de|da)\s*:\*?\s*\S", re.I)
_HEADER_NEXT = re.compile(
    r"^\*?(sent|date|to|subject|cc|gesendet|datum|an|betreff|envoy[ée]|[àa]|objet|enviado|para|asunto)\s*:",
    re.I,
)
_SIGNATURE = re.compile(r"^--\s*$")
_SENT_FROM = re.compile(
    r"^(sent from my|get outlook for|sent from mail for|enviado desde mi)\b", re.I
)
_CLOSING = re.compile(
    r"^(thanks|thank you|many thanks|thx|regards|best regards|kind regards|warm regards|best|"
    r"cheers|sincerely|respectfully|saludos|un saludo|atentamente|gracias|merci|cordialement|"
    r"bien [àa] vous|"
    r"mit freundlichen gr(ü|u)(ß|ss)en|viele gr(ü|u)(ß|ss)e|gru(ß|ss))\b[\s,.!-]*\w{0,12}[,.!]*$",
    re.I,
)


def split_mail(text: str, subject: str = "") -> Parts:
    """The new text apart from quotes, forwards and the signature (line-based, multilingual)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    forward_subject = bool(re.match(r"^\s*(fwd?|tr|wg|rv)\s*:", subject or "", re.I))
    new: list[str] = []
    quoted: list[str] = []
    signature: list[str] = []
    tail: list[str] = []  # everything after the first quote or forward marker
    tail_kind = "quoted"
    in_signature = False
    for i, line in enumerate(lines):
        stripped = line.strip()
        marker = _quote_marker(lines, i)
        if marker:
            tail = lines[i:]
            tail_kind = "forwarded" if marker == "forward" or forward_subject else "quoted"
            break
        if stripped.startswith(">"):
            quoted.append(stripped.lstrip("> "))
        elif in_signature or _SENT_FROM.match(stripped):
            signature.append(line)
        elif _SIGNATURE.match(stripped) or (_CLOSING.match(stripped) and _has_words(new)):
            in_signature = True
            signature.append(line)
        else:
            new.append(line)
    tail_text = "\n".join(t.strip().lstrip("> ") for t in tail)
    return Parts(
        new="\n".join(new).strip(),
        quoted="\n".join([*quoted, tail_text] if tail_kind == "quoted" else quoted).strip(),
        forwarded=tail_text.strip() if tail_kind == "forwarded" else "",
        signature="\n".join(signature).strip(),
    )


def _quote_marker(lines: list[str], i: int) -> str | None:
    line = lines[i].strip()
    if _FORWARD.match(line):
        return "forward"
    if _ORIGINAL.match(line) or _WROTE.match(line) or _SCHRIEB.match(line):
        return "reply"
    if i + 1 < len(lines) and _WROTE.match(f"{line} {lines[i + 1].strip()}") and line[:3]:
        return "reply" if re.match(r"^(on|le|el|am|il|op)\b", line, re.I) else None
    if _HEADER_FROM.match(line):
        following = [x.strip() for x in lines[i + 1 : i + 5]]
        if sum(1 for x in following if _HEADER_NEXT.match(x)) >= 1:
            return "reply"
    return None


def _has_words(lines: list[str]) -> bool:
    return sum(len(x.split()) for x in lines) >= 3


# --------------------------------------------------------------------------------------------
# 3. Words.

_CONTRACTIONS = {
    "won't": "will not",
    "wont": "will not",
    "can't": "can not",
    "cant": "can not",
    "cannot": "can not",
    "dont": "do not",
    "didnt": "did not",
    "doesnt": "does not",
    "isnt": "is not",
    "wasnt": "was not",
    "arent": "are not",
    "werent": "were not",
    "havent": "have not",
    "hasnt": "has not",
    "hadnt": "had not",
    "couldnt": "could not",
    "wouldnt": "would not",
    "shouldnt": "should not",
    "aint": "is not",
}
_CONTRACTION = re.compile(r"\b(" + "|".join(map(re.escape, _CONTRACTIONS)) + r")\b")
_NT = re.compile(r"\b(\w+)n't\b")
_POSSESSIVE = re.compile(r"(?<=\w)'s\b")
_NON_WORD = re.compile(r"[^a-z0-9]+")
_STEMMER = snowballstemmer.stemmer("english")


def normalise(text: str) -> str:
    """Lower case, no accents, contractions spelt out, words separated by single spaces."""
    text = unicodedata.normalize("NFKD", text.casefold())
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("`", "'")
    text = _CONTRACTION.sub(lambda m: _CONTRACTIONS[m.group(1)], text)
    text = _NT.sub(r"\1 not", text)
    text = _POSSESSIVE.sub("", text).replace("'", "")  # "Acme's" names Acme
    return _NON_WORD.sub(" ", text).strip()


@lru_cache(maxsize=50_000)
def stem(word: str) -> str:
    stemmed: str = _STEMMER.stemWord(word)
    return stemmed


def words(text: str) -> list[str]:
    return normalise(text).split()


# --------------------------------------------------------------------------------------------
# Phrase matching: stems, one gap word, small misspellings.


@dataclass(frozen=True)
class _Compiled:
    """The policy's phrases as stem sequences, and their vocabulary for fuzzy lookups."""

    phrases: dict[str, tuple[tuple[Phrase, tuple[int, ...]], ...]]  # owner -> (phrase, word ids)
    vocab: tuple[tuple[str, str], ...]  # word id -> (word, stem)
    by_stem: dict[str, tuple[int, ...]]  # stem -> the words that share it


_CACHE: dict[int, tuple[Intake, _Compiled]] = {}


def _compiled(intake: Intake) -> _Compiled:
    cached = _CACHE.get(id(intake))
    if cached and cached[0] is intake:
        return cached[1]
    vocab: dict[str, tuple[int, str]] = {}

    def ids(phrase: Phrase) -> tuple[int, ...]:
        out = []
        for word in words(phrase.text):
            if word not in vocab:
                vocab[word] = (len(vocab), stem(word))
            out.append(vocab[word][0])
        return tuple(out)

    owners: dict[str, Iterable[Phrase]] = {c.name: c.phrases for c in intake.categories.values()}
    owners |= {f"-{c.name}": c.against for c in intake.categories.values()}
    owners["sev1"] = intake.sev1.phrases
    phrases = {o: tuple((p, ids(p)) for p in ps if words(p.text)) for o, ps in owners.items()}
    ordered = sorted(vocab.items(), key=lambda kv: kv[1][0])
    by_stem: dict[str, tuple[int, ...]] = {}
    for _, (i, s) in ordered:
        by_stem[s] = (*by_stem.get(s, ()), i)
    compiled = _Compiled(phrases, tuple((w, s) for w, (_, s) in ordered), by_stem)
    if len(_CACHE) > 16:  # tests and long runs load many policies
        _CACHE.clear()
    _CACHE[id(intake)] = (intake, compiled)
    return compiled


def _fuzzy_limit(word: str) -> int:
    if len(word) < 5 or any(c.isdigit() for c in word):
        return 0
    return 1 if len(word) < 8 else 2


class _Zone:
    """One zone's words and, per word, which policy words it stands for (and how well)."""

    def __init__(self, name: str, text: str, compiled: _Compiled, weight: float) -> None:
        self.name = name
        self.weight = weight
        self.words = words(text)[:MAX_TOKENS]
        self.positions: dict[int, list[tuple[int, float]]] = {}  # word id -> (position, quality)
        raws = [w for w, _ in compiled.vocab]
        matches: dict[str, list[tuple[int, float]]] = {}
        for word in set(self.words):
            found: dict[int, float] = {}
            limit = _fuzzy_limit(word)
            if limit:
                for _, dist, i in process.extract(
                    word, raws, scorer=OSA.distance, score_cutoff=limit, limit=None
                ):
                    voc = raws[i]
                    if voc[0] == word[0] and dist <= _fuzzy_limit(voc):
                        found[i] = 1.0 if dist == 0 else FUZZY
            for i in compiled.by_stem.get(stem(word), ()):
                found[i] = 1.0
            matches[word] = list(found.items())
        for pos, word in enumerate(self.words):
            for vid, quality in matches[word]:
                self.positions.setdefault(vid, []).append((pos, quality))
        self._at = {
            (pos, vid): q for vid, hits in self.positions.items() for pos, q in hits
        }  # (position, word id) -> quality

    def find(self, ids: tuple[int, ...]) -> tuple[int, int, float] | None:
        """The best place of a phrase: (start, end, quality), allowing one extra word between."""
        best = None
        for start, quality in self.positions.get(ids[0], []):
            pos, q = start, quality
            for vid in ids[1:]:
                nxt = next(
                    (
                        (p, self._at[(p, vid)] * (GAP if p > pos + 1 else 1.0))
                        for p in (pos + 1, pos + 2)
                        if (p, vid) in self._at
                    ),
                    None,
                )
                if nxt is None:
                    break
                pos, q = nxt[0], q * nxt[1]
            else:
                if best is None or q > best[2]:
                    best = (start, pos + 1, q)
        return best


def _score(
    owner: str,
    compiled: _Compiled,
    zones: list[_Zone],
    sign: float = 1.0,
    skip: dict[str, set[int]] | None = None,
) -> tuple[float, list[Evidence], dict[str, set[int]]]:
    """A category's score over the zones: each phrase once per zone, longest first; a word that
    is part of a longer matched phrase (or of a `skip` match) is not counted again. Also the
    positions it used, per zone."""
    total = 0.0
    evidence: list[Evidence] = []
    used: dict[str, set[int]] = {}
    label = owner.lstrip("-")
    for zone in zones:
        if zone.weight <= 0 or not zone.words:
            continue
        hits = []
        for phrase, ids in compiled.phrases.get(owner, ()):
            found = zone.find(ids)
            if found:
                hits.append((found[1] - found[0], phrase, found))
        taken: set[int] = set((skip or {}).get(zone.name, ()))
        used[zone.name] = mine = set()
        for _, phrase, (start, end, quality) in sorted(hits, key=lambda h: (-h[0], -h[1].weight)):
            span = set(range(start, end))
            if taken & span:
                continue
            taken |= span
            mine |= span
            score = sign * phrase.weight * quality * zone.weight
            total += score
            said = " ".join(zone.words[start:end])
            shown = phrase.text if said == normalise(phrase.text) else said
            evidence.append(Evidence(label, phrase.text, shown, zone.name, score))
    return total, evidence, used


# --------------------------------------------------------------------------------------------
# 4-7. The decision.


def sender_address(sender: str | None) -> str:
    return parseaddr(sender or "")[1].strip().lower() or (sender or "").strip().lower()


def sender_role(address: str, intake: Intake) -> tuple[str, str | None]:
    """The sender's role from the staff directory (the longest match), else customer."""
    if address in intake.staff:
        return intake.staff[address], address
    domain = address.rsplit("@", 1)[-1] if "@" in address else ""
    parts = domain.split(".")
    for i in range(len(parts) - 1):
        candidate = ".".join(parts[i:])
        if candidate in intake.staff:
            return intake.staff[candidate], candidate
    return "customer", None


def classify(email: Email, policy: Policy) -> Decision:
    email = replace(  # whatever arrived: None fields, a megabyte subject
        email,
        subject=str(email.subject or "")[:MAX_SUBJECT],
        sender=str(email.sender or ""),
        headers=email.headers or {},
    )
    intake = policy.intake
    compiled = _compiled(intake)
    text, notes = mail_text(email)
    parts = split_mail(text, email.subject)
    address = sender_address(email.sender)
    role_name, staff_key = sender_role(address, intake)
    role = intake.roles.get(role_name) or intake.roles["customer"]
    z = intake.zones
    said_little = len(words(parts.new)) < 15
    zones = [
        _Zone("subject", email.subject, compiled, z["subject"]),
        _Zone("new", parts.new, compiled, z["new"]),
        _Zone("quoted", parts.quoted, compiled, z["quoted"]),
        _Zone("forwarded", parts.forwarded, compiled, z["forwarded" if said_little else "quoted"]),
    ]
    direct = zones[:2]  # what the sender wrote now

    # A Sev1 trigger ("withholding payment") raises the level; it says nothing of the topic.
    sev1_score, evidence, sev1_words = _score("sev1", compiled, direct)
    scores: dict[str, float] = {}
    new_scores: dict[str, float] = {}  # the new text alone: replies keep the old subject
    for name in role.categories:
        score, found, _ = _score(name, compiled, zones, skip=sev1_words)
        against, found_against, _ = _score(f"-{name}", compiled, direct, -1.0, sev1_words)
        new_score = _score(name, compiled, direct[1:], skip=sev1_words)[0]
        scores[name] = max(0.0, score + against)
        new_scores[name] = max(0.0, new_score + against)
        evidence += found + found_against
    if role.default:
        scores[role.default] += intake.staff_prior
        who = staff_key or address
        evidence.append(
            Evidence(role.default, f"sent by {role.name}", who, "sender", intake.staff_prior)
        )
    ranked = tuple(sorted(scores.items(), key=lambda kv: -kv[1]))
    account_type, account_source, customer = account_of(email, parts, address, role_name, intake)
    decide = partial(
        Decision,
        sender_role=role_name,
        account_type=account_type,
        account_source=account_source,
        customer=customer,
        scores=ranked,
        evidence=tuple(evidence),
        notes=tuple(notes),
    )

    if not role.automated:
        complaint = max(new_scores.values(), default=0.0) >= intake.min_score
        kind, why = not_escalation(email, parts, address, complaint, intake)
        if kind:
            return decide(kind, False, why)
    problem = _triage_reason(email, text, ranked, intake)
    if problem or not ranked:
        return decide(ESCALATION, True, problem or "")
    (best, best_score), runner = ranked[0], ranked[1:2]
    category = intake.categories[best]
    level, severity = category.level, category.severity
    reason = f"{best} scored {best_score:.1f}" + "".join(
        f", next {name} {score:.1f}" for name, score in runner
    )
    if sev1_score >= intake.sev1.min_score:
        level, severity = intake.sev1.level, intake.sev1.severity
        reason += f"; a Sev1 trigger ({sev1_score:.1f}) raised it to {level}/{severity}"
    return decide(
        ESCALATION, False, reason, type=category.type, category=best, level=level, severity=severity
    )


def _triage_reason(
    email: Email, text: str, ranked: tuple[tuple[str, float], ...], intake: Intake
) -> str | None:
    """Why a person must decide: no text, too little evidence, or evidence split."""
    best, best_score = ranked[0] if ranked else ("", 0.0)
    runner, runner_score = ranked[1] if len(ranked) > 1 else ("", 0.0)
    if not text.strip() and not email.subject.strip():
        attachments = "multipart" in header(email.headers, "content-type")
        return "the e-mail has no subject and no text" + (
            " (attachments only?)" if attachments else ""
        )
    if best_score < intake.min_score:
        return "no category has enough evidence" + (
            f" (best: {best} {best_score:.1f}, needs {intake.min_score:.1f})" if best_score else ""
        )
    if runner_score > 0 and best_score < intake.margin * runner_score:
        return (
            f"the evidence is split: {best} {best_score:.1f} vs {runner} {runner_score:.1f} "
            f"(the best must score {intake.margin:g} times the next)"
        )
    return None


def not_escalation(
    email: Email, parts: Parts, address: str, escalation_words: bool, intake: Intake
) -> tuple[str | None, str]:
    """Bounces, auto-replies, newsletters, thanks: headers, senders and subjects decide alone;
    body words only in a short mail without a clear escalation in it (or one that says the
    problem is over)."""
    local = address.split("@", 1)[0]
    subject = f" {normalise(email.subject)} "
    for rule in intake.not_escalations:
        for name, values in rule.headers.items():
            value = header(email.headers, name).lower().strip()
            if value and value != "no" and ("*" in values or any(v in value for v in values)):
                return rule.kind, f"{rule.kind}: header {name}: {value}"
        if local in rule.senders:
            return rule.kind, f"{rule.kind}: sent by {address}"
        hit = _first_phrase(rule.subject, subject)
        if hit:
            return rule.kind, f'{rule.kind}: the subject says "{hit}"'
    new = f" {normalise(parts.new)} "
    for rule in intake.not_escalations:
        hit = _first_phrase(rule.body, new)
        if not hit or len(new.split()) > rule.max_words or _first_phrase(rule.unless, new):
            continue
        if not escalation_words or _first_phrase(rule.resolved, new):
            return rule.kind, f'{rule.kind}: a short mail saying "{hit}"'
    return None, ""


def _first_phrase(phrases: Iterable[str], normalised: str) -> str | None:
    return next((p for p in phrases if f" {normalise(p)} " in normalised), None)


def account_of(
    email: Email, parts: Parts, address: str, role: str, intake: Intake
) -> tuple[str | None, str, str | None]:
    """Account type, where it came from, and the customer; unknown rather than a default."""
    domain = address.rsplit("@", 1)[-1] if "@" in address else ""
    if role == "customer" and domain:
        for c in intake.customers:
            if any(domain == d or domain.endswith("." + d) for d in c.domains):
                return c.account_type, f"customer directory: {domain} is {c.name}", c.name
    project = (email.project or "").strip("/").lower()
    if project:
        for c in intake.customers:
            if project in c.projects:
                return c.account_type, f"project {project} belongs to {c.name}", c.name
    for zone, text in (
        ("the mail", f"{email.subject}\n{parts.new}"),
        ("the quoted mail", f"{parts.quoted}\n{parts.forwarded}"),
    ):
        said = f" {normalise(text)} "
        named = {c.name: c for c in intake.customers if _names(c, said)}
        if len(named) == 1:
            c = next(iter(named.values()))
            return c.account_type, f"{zone} names {c.name}", c.name
        if len(named) > 1:
            return None, f"{zone} names several customers ({', '.join(named)})", None
    said = f" {normalise(email.subject + ' ' + parts.new)} "
    kinds = {a: hit for a, ws in intake.account_words.items() if (hit := _first_phrase(ws, said))}
    if len(kinds) == 1:
        account, hit = next(iter(kinds.items()))
        return account, f'the mail says "{hit}"', None
    where = f"sender {domain or 'unknown'}" + (f", project {project}" if project else "")
    return (
        None,
        f"{where} not in the customer directory, and the mail names no customer",
        None,
    )


def _names(customer: Customer, said: str) -> bool:
    names = [customer.name, *customer.aliases, *customer.domains]
    return any(f" {normalise(n)} " in said for n in names)
