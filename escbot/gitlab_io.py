"""The one module that talks to GitLab. It is handed a python-gitlab client.

Everything GitLab says goes through here, so error translation (one clear line, never a token,
never an HTML error page dumped on the terminal) and request counting live in one place.
"""

from __future__ import annotations

import configparser
import email.utils
import html
import itertools
import os
import re
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import gitlab
import gitlab.exceptions as gle
import requests
from urllib3.exceptions import NewConnectionError

from escbot.businesstime import parse_gitlab_time
from escbot.errors import EscbotError, GitLabError, GitLabUnavailable, redact, remember_secret
from escbot.model import Note, ProjectRef

T = TypeVar("T")
A = TypeVar("A")
PER_PAGE = 100


# --------------------------------------------------------------------------------------------
# Connecting.

DEFAULT_BUDGET = 120.0  # seconds escbot may spend waiting on a failing GitLab in one run
MAX_RETRIES = 5  # per request: one issue's persistent 500 must not use up the whole budget
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 60.0
MAX_WAIT = 10.0  # between two attempts, unless GitLab asks for longer (Retry-After)
# python-gitlab's list (RETRYABLE_TRANSIENT_ERROR_CODES), and 429.
RETRY_STATUSES = frozenset([429, 500, 502, 503, 504, *range(520, 531)])
# Pacing (ESCBOT_REQUESTS_PER_MINUTE, ESCBOT_NOTES_PER_MINUTE): GitLab.com allows 2,000
# authenticated API requests a minute per user, and throttles note creation separately.
REQUESTS_PER_MINUTE = 2000
NOTES_PER_MINUTE = 120
READERS = 8  # parallel reads at most; fewer when GitLab says few requests are left


def env_rate(name: str, default: int | None) -> int | None:
    """A positive whole number from the environment (a rate or a cap), else `default`."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit() or int(text) < 1:
        raise EscbotError(f"{name}={text!r}: expected a whole number of at least 1")
    return int(text)


def _turn(sent: deque[float], per_minute: int, now: float) -> float:
    """When the next request may go out so that at most `per_minute` go out in any minute."""
    while sent and now - sent[0] >= 60:
        sent.popleft()
    return sent[-per_minute] + 60 if len(sent) >= per_minute else now


class Pacer:
    """Requests kept under a ceiling, shared by every thread of a run: at most `per_minute`
    in any 60 seconds, no more than GitLab says are left before its window resets
    (RateLimit-Remaining, RateLimit-Reset), and new notes at most `notes_per_minute`."""

    def __init__(self, per_minute: int, notes_per_minute: int) -> None:
        self.per_minute, self.notes_per_minute = per_minute, notes_per_minute
        self._lock = threading.Lock()
        self._sent: deque[float] = deque()  # when each request of the last minute went out
        self._notes: deque[float] = deque()  # the same, new notes only
        self.remaining: int | None = None  # as GitLab last said, less what was sent since
        self._reset_at = 0.0
        self._window: int | None = None  # GitLab's RateLimit-Reset of the window it counts in
        self._lowest: int | None = None  # the lowest RateLimit-Remaining of that window
        self._in_flight = 0  # sent, not yet answered: GitLab's counts do not include them yet

    def wait(self, note: bool) -> None:
        with self._lock:
            now = time.monotonic()
            at = _turn(self._sent, self.per_minute, now)
            if self.remaining is not None and self.remaining <= READERS and self._reset_at > now:
                at = max(at, self._reset_at)  # leave GitLab's last few for the requests in flight
            if note:
                at = max(at, _turn(self._notes, self.notes_per_minute, now))
                self._notes.append(at)
            self._sent.append(at)
            self._in_flight += 1
            if self.remaining is not None:
                self.remaining -= 1
        if at > now:
            time.sleep(at - now)

    def observe(self, response: requests.Response | None) -> None:
        """One request answered (None: it failed unanswered); note what GitLab says is left.

        Parallel answers arrive in any order: the lowest count of a window is the latest GitLab
        gave, and it may not yet include the requests still in flight. A new window (a later
        RateLimit-Reset) starts afresh."""
        headers = response.headers if response is not None else {}
        remaining, reset = headers.get("RateLimit-Remaining"), headers.get("RateLimit-Reset")
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)
            if remaining is not None and remaining.isdigit():
                window = int(reset) if reset and reset.isdigit() else self._window
                if self._lowest is None or window != self._window:
                    if window is not None and self._window is not None and window < self._window:
                        return  # an answer from a window that has already ended
                    self._lowest, self._window = int(remaining), window
                    if window is not None:  # GitLab sends the Unix time the window resets
                        self._reset_at = time.monotonic() + max(0.0, window - time.time())
                self._lowest = min(self._lowest, int(remaining))
            if self._lowest is not None:
                self.remaining = max(0, self._lowest - self._in_flight)

    def readers(self) -> int:
        """How many reads may run at once: READERS, fewer when few requests are left."""
        if self.remaining is None:
            return READERS
        return max(1, min(READERS, self.remaining // 50))


def connect(
    *,
    url: str | None = None,
    config_section: str | None = None,
    budget: float = DEFAULT_BUDGET,
    on_retry: Callable[[str], None] | None = None,
) -> gitlab.Gitlab:
    """A client from the environment, or from a python-gitlab config file.

    GITLAB_URL (or CI_SERVER_URL in CI) and GITLAB_TOKEN (or ESCBOT_TOKEN); CI_JOB_TOKEN only
    as a last resort, since job tokens cannot write notes. ESCBOT_GITLAB names a section of a
    python-gitlab config file instead (its default section when nothing else is set).
    `budget` bounds the time spent on a failing GitLab (see Transport).
    """
    section = config_section or os.environ.get("ESCBOT_GITLAB")
    base = url or os.environ.get("GITLAB_URL") or os.environ.get("CI_SERVER_URL")
    token = os.environ.get("GITLAB_TOKEN") or os.environ.get("ESCBOT_TOKEN")
    job_token = os.environ.get("CI_JOB_TOKEN")
    for secret in (token, job_token):
        remember_secret(secret)
    options: dict[str, Any]
    if section or (not base and not token):
        base, options = _from_config_file(section)
    elif not base:
        raise EscbotError("GITLAB_URL is not set", hint="e.g. GITLAB_URL=https://gitlab.com")
    elif token:
        options = {"private_token": token}
    elif job_token:
        options = {"job_token": job_token}
    else:
        raise EscbotError(
            "GITLAB_TOKEN is not set",
            hint="a personal, project or group access token with api scope",
        )
    base = check_url(base)
    for key in TOKEN_KEYS:
        options[key] = check_token(options.get(key))
    pacer = Pacer(
        env_rate("ESCBOT_REQUESTS_PER_MINUTE", REQUESTS_PER_MINUTE) or REQUESTS_PER_MINUTE,
        env_rate("ESCBOT_NOTES_PER_MINUTE", NOTES_PER_MINUTE) or NOTES_PER_MINUTE,
    )
    return gitlab.Gitlab(
        base, per_page=PER_PAGE, session=Transport(base, budget, on_retry, pacer), **options
    )


def check_url(base: str) -> str:
    """The GitLab base URL, or one line saying why it is not one."""
    try:
        parts = urlsplit(base.strip())
        usable = parts.scheme in ("http", "https") and bool(parts.hostname)
        usable = usable and parts.port != 0  # .port raises on a bad port
    except ValueError:
        usable = False
    if not usable:
        raise EscbotError(
            f"{base} is not a GitLab API (expected a URL such as https://gitlab.example.com)"
        )
    # python-gitlab appends /api/v4 itself.
    return re.sub(r"/api/v4/?$", "", base.strip().rstrip("/"))


TOKEN_KEYS = ("private_token", "oauth_token", "job_token")


def check_token(token: str | None) -> str | None:
    """The token without surrounding white space (a CI variable's newline), if it can be one."""
    if token is None:
        return None
    token = token.strip()
    if not re.fullmatch(r"[\x21-\x7e]+", token):
        raise EscbotError(
            "the GitLab token is empty or has spaces, control or non-ASCII characters",
            hint="check GITLAB_TOKEN / ESCBOT_TOKEN",
        )
    return token


def _from_config_file(section: str | None) -> tuple[str, dict[str, Any]]:
    """The URL and connection options from python-gitlab's config file (PYTHON_GITLAB_CFG,
    ~/.python-gitlab.cfg, ...), read with python-gitlab's own parser.

    Not Gitlab.from_config: python-gitlab 8 passes per_page itself, so ours clashed. The
    parser's errors may quote a line of the file, token and all: they are named by kind only.
    """
    where = f"section [{section}]" if section else "default section"
    not_configured = EscbotError(
        "no GitLab configured",
        hint="set GITLAB_URL and GITLAB_TOKEN, or ESCBOT_GITLAB to a python-gitlab config section",
    )
    try:
        config = gitlab.config.GitlabConfigParser(gitlab_id=section)
    except gitlab.config.GitlabConfigMissingError:
        raise not_configured from None
    except gitlab.config.ConfigError as exc:
        raise EscbotError(f"python-gitlab config file, {where}: {exc}") from None
    except (configparser.Error, ValueError, OSError) as exc:
        raise EscbotError(
            f"python-gitlab config file, {where}: cannot be read ({type(exc).__name__})",
            hint="fix the file, or set GITLAB_URL and GITLAB_TOKEN instead",
        ) from None
    tokens = {key: getattr(config, key) for key in TOKEN_KEYS}
    for secret in tokens.values():
        remember_secret(secret)
    if not config.url:
        raise not_configured
    if not any(tokens.values()):
        raise EscbotError(f"python-gitlab config file, section [{config.gitlab_id}]: no token")
    return config.url, {**tokens, "ssl_verify": config.ssl_verify, "user_agent": config.user_agent}


_NOT_REPEATABLE = re.compile(r"/issues(?:/\d+/(?:notes|discussions(?:/[^/]+/notes)?))?$")


def _obj(value: Any) -> dict[str, Any]:
    """GitLab's JSON object (python-gitlab types its answers loosely)."""
    if not isinstance(value, dict):
        raise GitLabError(f"GitLab answered {type(value).__name__} where an object was expected")
    return value


def _rows(value: Any) -> list[dict[str, Any]]:
    """A list answer, every page read (python-gitlab types its answers loosely)."""
    return list(value)


class Transport(requests.Session):
    """python-gitlab's HTTP session, with escbot's failure policy in one place.

    A refused connection, an unknown host or a TLS failure stops the run at once (a wrong URL
    does not get better by waiting). 5xx, 429, timeouts and dropped connections are retried
    with backoff: each request at most MAX_RETRIES times (then it is that request's error),
    and all the waiting of the run together within `budget` seconds (then the run stops).
    An answer that is not GitLab's JSON means the URL is not a GitLab API.
    """

    def __init__(
        self,
        base: str,
        budget: float,
        on_retry: Callable[[str], None] | None = None,
        pacer: Pacer | None = None,
    ) -> None:
        super().__init__()
        self.base = base
        self.budget = budget
        self.spent = 0.0
        self.on_retry = on_retry
        self.pacer = pacer or Pacer(REQUESTS_PER_MINUTE, NOTES_PER_MINUTE)
        # One pooled connection per parallel reader.
        adapter = requests.adapters.HTTPAdapter(pool_maxsize=READERS)
        self.mount("http://", adapter)
        self.mount("https://", adapter)

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        verb = method.decode() if isinstance(method, bytes) else method
        path = urlsplit(str(url)).path
        target = f"{verb.upper()} {path}"
        # A new note or issue whose answer was lost may exist: never resent blindly; the
        # gateway looks for it first (GitLab.create_once). 429s were refused unread: retried.
        once = verb.upper() == "POST" and bool(_NOT_REPEATABLE.search(path))
        note = once and path.endswith("/notes")
        failures = MAX_RETRIES if once else 0  # 5xx, timeouts, dropped connections: capped
        for attempt in itertools.count():
            self.pacer.wait(note)  # waiting for our turn is not failing: not on the budget
            left = self.budget - self.spent
            kwargs["timeout"] = (min(CONNECT_TIMEOUT, left), min(READ_TIMEOUT, left))
            started = time.monotonic()
            wait = min(0.1 * 2**attempt, MAX_WAIT)
            try:
                try:
                    response = super().request(method, url, *args, **kwargs)
                except BaseException:
                    self.pacer.observe(None)  # no answer: no longer in flight either
                    raise
            except requests.exceptions.ConnectionError as exc:
                if isinstance(exc, requests.exceptions.ConnectTimeout) or _unreachable(exc):
                    raise EscbotError(
                        f"cannot reach GitLab at {self.base}: {_unreachable(exc) or 'no answer'}",
                        hint="check GITLAB_URL",
                    ) from None
                if failures >= MAX_RETRIES:
                    raise
                failures += 1
                failure: str = "the connection dropped"
            except requests.exceptions.Timeout:
                if failures >= MAX_RETRIES:
                    raise
                failures += 1
                failure = f"no answer within {kwargs['timeout'][1]:.0f}s"
            else:
                self.pacer.observe(response)
                if response.status_code not in RETRY_STATUSES:
                    return self._gitlab_answer(response, target)
                failure = f"{response.status_code} {response.reason or ''}".strip()
                if response.status_code == 429:
                    wait = max(wait, _retry_after(response))
                elif failures >= MAX_RETRIES:
                    return response
                else:
                    failures += 1
            self.spent += time.monotonic() - started
            left = self.budget - self.spent
            if wait > left:
                raise GitLabUnavailable(
                    f"GitLab at {self.base} kept failing ({failure} for {target}); gave up "
                    f"after {self.spent:.0f}s of the {self.budget:g}s budget",
                    hint="--timeout sets the budget",
                )
            if self.on_retry:
                self.on_retry(
                    f"GitLab answered {failure} for {target}; retry {attempt + 1} in {wait:.1f}s "
                    f"({left:.0f}s of --timeout left)"
                )
            time.sleep(wait)
            self.spent += wait
        raise AssertionError("unreachable")  # pragma: no cover

    def _gitlab_answer(self, response: requests.Response, target: str) -> requests.Response:
        """The response, unless it plainly did not come from GitLab's API: a success or a 404
        that is not JSON (other errors may be a proxy's page in front of a real GitLab)."""
        kind = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        decisive = response.ok or response.status_code == 404
        if decisive and response.content and kind != "application/json":
            shown = "an HTML page" if "html" in kind else (kind or "no content type")
            raise EscbotError(
                f"{self.base} is not a GitLab API ({target} answered {response.status_code} "
                f"with {shown})",
                hint="GITLAB_URL is the address of the GitLab instance, e.g. https://gitlab.com",
            )
        return response


def _unreachable(exc: requests.exceptions.ConnectionError) -> str | None:
    """Why a connection could not be made at all, or None when an open one dropped."""
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS error"
    reason = getattr(exc.args[0] if exc.args else None, "reason", None)
    if not isinstance(reason, NewConnectionError):
        return None
    cause = reason.__cause__ or reason.__context__
    if isinstance(cause, socket.gaierror):
        return "unknown host"
    return "connection refused" if isinstance(cause, ConnectionRefusedError) else "cannot connect"


class NotesCapReached(GitLabError):
    """The run posted as many new notes as it may (ESCBOT_NOTES_PER_RUN); the next run,
    finding the markers of what was posted, posts the rest."""


def _retry_after(response: requests.Response) -> float:
    try:
        return float(response.headers.get("Retry-After", 0))
    except ValueError:
        return 0.0


def uses_job_token(gl: gitlab.Gitlab) -> bool:
    return bool(getattr(gl, "job_token", None))


# --------------------------------------------------------------------------------------------
# Errors.


def _clean(text: Any) -> str:
    """GitLab's error text on one line; an HTML error page becomes its title."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    text = str(text or "")
    if "<html" in text.lower() or "<!doctype" in text.lower():
        title = re.search(r"<title>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
        return "an HTML error page" + (
            f" ({html.unescape(title.group(1).strip())})" if title else ""
        )
    text = " ".join(text.split())
    return redact(text[:300])


def describe_error(exc: Exception, what: str) -> EscbotError:
    """One line for a failed request. A rejected token is the run's error (exit 2, since
    it is configuration); anything else is that request's (GitLabError, exit 3)."""
    if isinstance(exc, gle.GitlabAuthenticationError):
        body = _clean(exc.response_body).lower()  # {"error_description": "Token has expired."}
        why = "expired" if "expired" in body else "revoked" if "revoked" in body else ""
        return EscbotError(
            f"{what}: GitLab rejected the token (401 Unauthorized{', ' + why if why else ''})",
            hint="check GITLAB_TOKEN / ESCBOT_TOKEN",
        )
    if isinstance(exc, gle.GitlabError):
        code = exc.response_code
        message = _clean(exc.error_message)
        if code == 403 and "insufficient_scope" in message:
            return GitLabError(
                f"{what}: the token lacks the api scope (read-only token)", status=code
            )
        return GitLabError(f"{what}: GitLab answered {code or 'an error'}: {message}", status=code)
    if isinstance(exc, requests.exceptions.ConnectionError):
        return GitLabError(f"{what}: the connection to GitLab dropped")
    if isinstance(exc, requests.exceptions.Timeout):
        return GitLabError(f"{what}: GitLab did not answer in time")
    if isinstance(exc, requests.exceptions.RequestException):
        return GitLabError(f"{what}: {type(exc).__name__}")
    raise exc


def _not_found(exc: Exception) -> bool:
    return isinstance(exc, gle.GitlabError) and exc.response_code == 404


# A write answered with one of these may still have been saved: the answer was lost on the way
# (a dropped connection, a client timeout, a proxy giving up), or GitLab failed after saving.
TRANSIENT_CODES = frozenset({500, 502, 503, 504})
_LOST = (
    requests.exceptions.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.Timeout,
)
WRITE_ATTEMPTS = 4


def answer_lost(exc: Exception) -> bool:
    """True when a write may or may not have happened: look before writing again."""
    if isinstance(exc, _LOST):
        return True
    return isinstance(exc, gle.GitlabHttpError) and exc.response_code in TRANSIENT_CODES


# --------------------------------------------------------------------------------------------
# Plain records, so the rule engine never sees python-gitlab objects.


@dataclass
class RequestStats:
    by_kind: Counter[str] = field(default_factory=Counter)
    started: float = field(default_factory=time.monotonic)

    @property
    def total(self) -> int:
        return sum(self.by_kind.values())

    @property
    def writes(self) -> int:
        return sum(n for kind, n in self.by_kind.items() if not kind.startswith(("GET", "HEAD")))

    def elapsed(self) -> float:
        return time.monotonic() - self.started


_ID_SEGMENT = re.compile(r"/(?:\d+|[^/]*%2F[^/]*)(?=/|$)")


def _route_kind(method: str, url: str) -> str:
    path = urlsplit(url).path
    path = path.split("/api/v4", 1)[-1]
    path = _ID_SEGMENT.sub("/:id", path)
    return f"{method} {path}"


class GitLab:
    """escbot's view of GitLab: plain functions over a python-gitlab client."""

    def __init__(self, gl: gitlab.Gitlab, *, notes_per_run: int | None = None) -> None:
        self.gl = gl
        self.stats = RequestStats()
        self._count_lock = threading.Lock()  # parallel reads answer on several threads
        # New notes this run may still post (None: no cap); the next run posts the rest.
        self.notes_left = notes_per_run
        self.notify: Callable[[str], None] | None = None  # a line for the operator, at once
        self._projects: dict[int | str, Any] = {}
        self._groups: dict[int | str, Any] = {}
        self._users: dict[str, dict[str, Any] | None] = {}
        self._me: dict[str, Any] | None = None
        # Called before every write to an issue; a lease (escbot.lease) refuses once it is lost.
        self.guard: Callable[[], None] | None = None
        # What this run wrote, by issue: GitLab's time of its last write (`updated_at` after an
        # edit, a comment's creation) and the comments it posted (still there), so escbot's own
        # changes are told apart from others' (escbot.cache).
        self.wrote: dict[tuple[int, int], datetime] = {}
        self.posted: dict[tuple[int, int], list[Note]] = {}  # as later steps read them
        # GitLab's clock, from the Date of its latest answer: where a list of the changes since
        # a read may start (escbot.cache.Listing), whatever the runner's clock says.
        self.server_time: datetime | None = None
        gl.session.hooks.setdefault("response", []).append(self._count)

    def _count(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        kind = _route_kind(response.request.method or "GET", response.url)
        try:
            date = email.utils.parsedate_to_datetime(response.headers.get("Date", ""))
        except (TypeError, ValueError):
            date = None
        with self._count_lock:
            self.stats.by_kind[kind] += 1
            if date is not None and date.tzinfo is not None:
                self.server_time = date  # the latest answer's: any earlier time is safe too

    @property
    def pacer(self) -> Pacer | None:
        """The Transport's pacing (None for a client built without escbot's Transport)."""
        session = self.gl.session
        return session.pacer if isinstance(session, Transport) else None

    def announce_notes(self, count: int) -> None:
        """Say up front how long posting `count` notes takes at the notes pace, and how many
        of them this run posts (its cap); nothing when all are posted within a minute."""
        pacer = self.pacer
        now = count if self.notes_left is None else min(count, self.notes_left)
        if self.notify is None or pacer is None or (now == count <= pacer.notes_per_minute):
            return
        text = (
            f"{count} comments to post, at most {pacer.notes_per_minute} a minute "
            f"(ESCBOT_NOTES_PER_MINUTE): about {now / pacer.notes_per_minute:.0f} minutes"
        )
        if now < count:
            text += f"; this run posts {now} (ESCBOT_NOTES_PER_RUN), the next runs the rest"
        self.notify(text)

    def parallel(self, fn: Callable[[A], T], items: Iterable[A]) -> Iterator[tuple[A, Future[T]]]:
        """fn over items, a few at once (as many as GitLab's rate limit allows, READERS at
        most), yielded in the items' order; no more than that many answers wait unread."""
        pacer = self.pacer
        readers = pacer.readers() if pacer else READERS
        pending: deque[tuple[A, Future[T]]] = deque()
        with ThreadPoolExecutor(max_workers=readers, thread_name_prefix="escbot-read") as pool:
            for item in items:
                pending.append((item, pool.submit(fn, item)))
                if len(pending) >= readers:
                    yield pending.popleft()
            while pending:
                yield pending.popleft()

    @property
    def url(self) -> str:
        return self.gl.url

    def call(self, what: str | Callable[[], str], fn: Callable[[], T]) -> T:
        """fn's answer, or one line naming `what` failed (a callable: worked out only then)."""
        try:
            return fn()
        except (gle.GitlabError, requests.exceptions.RequestException) as exc:
            raise describe_error(exc, what() if callable(what) else what) from None

    @property
    def leased(self) -> bool:
        """A lease guards this run's writes: no other escbot run writes meanwhile."""
        return self.guard is not None

    def _guarded(self) -> None:
        if self.guard is not None:
            self.guard()

    def create_once(
        self, what: Callable[[], str], post: Callable[[], T], find: Callable[[], T | None]
    ) -> T:
        """A write GitLab does not make idempotent (a note, an issue), never resent blindly.

        The Transport never repeats such a POST (429s, which GitLab answers before doing
        anything, excepted). When the answer is lost, `find` looks for what the write made
        before it is tried again.
        """
        self._guarded()
        for attempt in range(WRITE_ATTEMPTS):
            try:
                return post()
            except (gle.GitlabError, requests.exceptions.RequestException) as exc:
                if not answer_lost(exc) or attempt == WRITE_ATTEMPTS - 1:
                    raise describe_error(exc, what()) from None
            time.sleep(0.1 * 2**attempt)
            found = self.call(lambda: f"{what()} (looking whether it was saved)", find)
            if found is not None:
                return found
        raise AssertionError("unreachable")  # pragma: no cover

    # ---- identity --------------------------------------------------------------------------

    def require_notes_access(self) -> None:
        """Fail early, in one line, when all we have is a CI job token."""
        if uses_job_token(self.gl):
            raise EscbotError(
                "only CI_JOB_TOKEN is available, and job tokens cannot read or write issue notes",
                hint="add a masked CI/CD variable ESCBOT_TOKEN with an api-scope token",
            )

    def me(self) -> dict[str, Any]:
        if self._me is None:
            self.require_notes_access()
            self._me = self.call("GET /user", lambda: _obj(self.gl.http_get("/user")))
        return self._me

    def version(self) -> dict[str, Any]:
        return self.call("GET /version", lambda: _obj(self.gl.http_get("/version")))

    def token_info(self) -> dict[str, Any] | None:
        """The token's own record (scopes, expiry); None for tokens that have none (OAuth,
        older GitLab)."""
        try:
            return _obj(self.gl.http_get("/personal_access_tokens/self"))
        except gle.GitlabHttpError as exc:
            if exc.response_code in (403, 404):
                return None
            raise describe_error(exc, "GET /personal_access_tokens/self") from None
        except (gle.GitlabError, requests.exceptions.RequestException) as exc:
            raise describe_error(exc, "GET /personal_access_tokens/self") from None

    def user(self, username: str) -> dict[str, Any] | None:
        name = username.lstrip("@")
        if name not in self._users:
            found = self.call(
                f"look up user {name}", lambda: _rows(self.gl.http_list("/users", username=name))
            )
            self._users[name] = found[0] if found else None
        return self._users[name]

    # ---- projects and groups ---------------------------------------------------------------

    def project(self, ref: str | int) -> Any:
        if ref not in self._projects:
            try:
                self._projects[ref] = self.gl.projects.get(ref)
            except gle.GitlabGetError as exc:
                if exc.response_code == 404:
                    raise EscbotError(
                        f"project {ref} not found (or not visible with this token)"
                    ) from None
                raise describe_error(exc, f"project {ref}") from None
            except (gle.GitlabError, requests.exceptions.RequestException) as exc:
                raise describe_error(exc, f"project {ref}") from None
            project = self._projects[ref]
            self._projects[project.id] = project
        return self._projects[ref]

    def _every(
        self, what: str | Callable[[], str], path: str, **params: Any
    ) -> list[dict[str, Any]]:
        """Every row of a list, all its pages read (PER_PAGE at a time); `what` names it in the
        one line a failure becomes."""
        return self.call(
            what, lambda: _rows(self.gl.http_list(path, get_all=True, per_page=PER_PAGE, **params))
        )

    def project_members(self, project_id: int) -> list[dict[str, Any]]:
        """Everyone with access to the project, direct or inherited, with their access level."""
        return self._every(
            lambda: f"members of project {self.where(project_id)}",
            f"/projects/{project_id}/members/all",
        )

    def project_member(self, project_id: int, username: str) -> dict[str, Any] | None:
        """The user's membership of the project (direct or inherited), or None."""
        name = username.lstrip("@")
        found = self.call(
            lambda: f"members of project {self.where(project_id)}",
            lambda: _rows(
                self.gl.http_list(f"/projects/{project_id}/members/all", query=name, get_all=True)
            ),
        )
        return next((m for m in found if m.get("username") == name), None)

    def group_members(self, path: str) -> list[dict[str, Any]]:
        """Every member of the group, direct or inherited from its parents."""
        group = self.group(path)
        return self._every(f"members of group {path}", f"/groups/{group.id}/members/all")

    def where(self, project_id: int) -> str:
        """A project's path for messages (read once per run), its id only if unreadable."""
        try:
            return str(self.project(project_id).path_with_namespace)
        except EscbotError:
            return str(project_id)

    def project_ref(self, ref: str | int) -> ProjectRef:
        p = self.project(ref)
        return ProjectRef(p.id, p.path_with_namespace, p.web_url)

    def group(self, ref: str | int) -> Any:
        """A group by path or id, read once per run."""
        if ref not in self._groups:
            group = self._groups[ref] = self._get_group(ref)
            self._groups[group.id] = self._groups[group.full_path] = group
        return self._groups[ref]

    def _get_group(self, ref: str | int) -> Any:
        try:
            return self.gl.groups.get(ref)
        except gle.GitlabGetError as exc:
            if exc.response_code == 404:
                raise EscbotError(
                    f"group {ref} not found (or not visible with this token)"
                ) from None
            raise describe_error(exc, f"group {ref}") from None
        except (gle.GitlabError, requests.exceptions.RequestException) as exc:
            raise describe_error(exc, f"group {ref}") from None

    def group_projects(self, group: Any) -> list[dict[str, Any]]:
        return self.call(
            f"list projects of {group.full_path}",
            lambda: list(
                self.gl.http_list(
                    f"/groups/{group.id}/projects",
                    iterator=True,
                    include_subgroups=True,
                    simple=True,
                    per_page=PER_PAGE,
                )
            ),
        )

    # ---- issues ----------------------------------------------------------------------------

    def list_issues(self, scope: tuple[str, Any], **filters: Any) -> Iterator[dict[str, Any]]:
        """Issues of a project or a group (descendants included) as plain dicts, lazily."""
        path = _scope_url(scope, "issues")
        params = {k: v for k, v in filters.items() if v is not None}
        for key, value in list(params.items()):
            if isinstance(value, list | tuple):
                params[key] = ",".join(value)
            elif isinstance(value, datetime):
                params[key] = value.isoformat()
        where = f"list issues of {scope_path(scope)}"
        try:
            yield from self.gl.http_list(path, iterator=True, per_page=PER_PAGE, **params)
        except (gle.GitlabError, requests.exceptions.RequestException) as exc:
            raise describe_error(exc, where) from None

    def milestones_changed(self, scope: tuple[str, Any], since: datetime) -> bool:
        """Whether a milestone the scope's issues may carry changed since (one request)."""
        path = _scope_url(scope, "milestones")
        wider = "include_descendants" if scope[0] == "group" else "include_ancestors"
        params: dict[str, Any] = {wider: True, "updated_after": since.isoformat(), "per_page": 1}
        return bool(
            self.call(
                lambda: f"list milestones of {scope_path(scope)}",
                lambda: list(self.gl.http_list(path, get_all=False, **params)),
            )
        )

    def issue(self, project_id: int, iid: int) -> dict[str, Any]:
        return self.call(
            lambda: f"issue {self.where(project_id)}#{iid}",
            lambda: _obj(self.gl.http_get(f"/projects/{project_id}/issues/{iid}")),
        )

    def create_issue(self, project_id: int, **attrs: Any) -> dict[str, Any]:
        def saved() -> dict[str, Any] | None:
            # The newest issues this user opened in the project; ours has our title and text.
            recent = self.gl.http_list(
                f"/projects/{project_id}/issues",
                author_id=self.me()["id"],
                order_by="created_at",
                sort="desc",
                per_page=20,
                get_all=False,
            )
            return next((i for i in recent if _same_issue(i, attrs)), None)

        return self.create_once(
            lambda: f"create issue in project {self.where(project_id)}",
            lambda: _obj(
                self.gl.http_post(f"/projects/{project_id}/issues", post_data=_redacted(attrs))
            ),
            saved,
        )

    def edit_issue(self, project_id: int, iid: int, **attrs: Any) -> dict[str, Any]:
        self._guarded()  # a PUT sets values: resending it is harmless
        issue = self.call(
            lambda: f"edit issue {self.where(project_id)}#{iid}",
            lambda: _obj(
                self.gl.http_put(f"/projects/{project_id}/issues/{iid}", post_data=_redacted(attrs))
            ),
        )
        self._wrote(project_id, iid, issue.get("updated_at"))
        return issue

    def _wrote(self, project_id: int, iid: int, at: Any) -> None:
        try:
            moment = parse_gitlab_time(at)
        except (TypeError, ValueError):
            return
        key = (project_id, iid)
        self.wrote[key] = max(moment, self.wrote.get(key, moment))

    def links(self, project_id: int, iid: int) -> list[dict[str, Any]]:
        return self._every(
            lambda: f"links of {self.where(project_id)}#{iid}",
            f"/projects/{project_id}/issues/{iid}/links",
        )

    def link(self, project_id: int, iid: int, target_project_id: int, target_iid: int) -> bool:
        """Relate two issues; False when they already were (GitLab's 409, also the answer to a
        resent link whose first answer was lost)."""
        self._guarded()
        try:
            self.gl.http_post(
                f"/projects/{project_id}/issues/{iid}/links",
                post_data={"target_project_id": target_project_id, "target_issue_iid": target_iid},
            )
        except gle.GitlabHttpError as exc:
            if exc.response_code == 409:
                return False
            raise describe_error(
                exc, f"link {self.where(project_id)}#{iid} to #{target_iid}"
            ) from None
        except (gle.GitlabError, requests.exceptions.RequestException) as exc:
            raise describe_error(
                exc, f"link {self.where(project_id)}#{iid} to #{target_iid}"
            ) from None
        return True

    # ---- notes and activity ----------------------------------------------------------------

    def notes(self, project_id: int, iid: int) -> list[dict[str, Any]]:
        return self._every(
            lambda: f"notes of {self.where(project_id)}#{iid}",
            f"/projects/{project_id}/issues/{iid}/notes",
            sort="asc",
            order_by="created_at",
        )

    def add_note(
        self, project_id: int, iid: int, body: str, *, internal: bool = False
    ) -> dict[str, Any]:
        """A comment; `internal` makes it an internal note (Reporter and above see it)."""
        data: dict[str, Any] = {"body": body}
        if internal:
            data["internal"] = True
        path = f"/projects/{project_id}/issues/{iid}/notes"
        if self.notes_left is not None:
            if self.notes_left <= 0:
                raise NotesCapReached(f"comment on {project_id}#{iid}: this run's cap reached")
            self.notes_left -= 1

        def saved() -> dict[str, Any] | None:
            me = self.me()["username"]
            mine = [
                n
                for n in self.notes(project_id, iid)
                if n.get("body") == body and (n.get("author") or {}).get("username") == me
            ]
            return mine[-1] if mine else None

        note = self.create_once(
            lambda: f"comment on {self.where(project_id)}#{iid}",
            lambda: _obj(self.gl.http_post(path, post_data=_redacted(data))),
            saved,
        )
        self._wrote(project_id, iid, note.get("created_at"))
        self.posted.setdefault((project_id, iid), []).append(Note.from_gitlab(note).markers_only())
        return note

    def delete_note(self, project_id: int, iid: int, note_id: int) -> bool:
        """Delete a note; False when it was gone already (a resent delete gets GitLab's 404)."""
        path = f"/projects/{project_id}/issues/{iid}/notes/{note_id}"
        try:
            self.gl.http_delete(path)
        except (gle.GitlabError, requests.exceptions.RequestException) as exc:
            if _not_found(exc):
                return False
            raise describe_error(
                exc, f"delete note {note_id} on {self.where(project_id)}#{iid}"
            ) from None
        mine = self.posted.get((project_id, iid), [])
        mine[:] = [n for n in mine if n.id != note_id]
        return True

    def note_events(self, project_id: int, after: date) -> list[dict[str, Any]]:
        """Every comment in a project since `after` (exclusive), in one paginated read."""
        return self._every(
            lambda: f"events of project {self.where(project_id)}",
            f"/projects/{project_id}/events",
            target_type="note",
            after=after.isoformat(),
            sort="asc",
        )

    def label_events(self, project_id: int, iid: int) -> list[dict[str, Any]]:
        return self._every(
            lambda: f"label events of {self.where(project_id)}#{iid}",
            f"/projects/{project_id}/issues/{iid}/resource_label_events",
        )

    def state_events(self, project_id: int, iid: int) -> list[dict[str, Any]]:
        return self._every(
            lambda: f"state events of {self.where(project_id)}#{iid}",
            f"/projects/{project_id}/issues/{iid}/resource_state_events",
        )

    # ---- labels ----------------------------------------------------------------------------

    def labels(
        self, scope: tuple[str, Any], *, include_ancestors: bool = False
    ) -> list[dict[str, Any]]:
        """The scope's own labels; with include_ancestors, also those it inherits."""
        kind, obj = scope
        base = _scope_url(scope, "labels")
        key = "only_group_labels" if kind == "group" else "include_ancestor_groups"
        value = not include_ancestors if kind == "group" else include_ancestors
        return self._every(f"labels of {kind} {obj.id}", base, query_data={key: value})

    def create_label(self, scope: tuple[str, Any], name: str, color: str, description: str) -> bool:
        """Create a label; False when it exists (GitLab's 409: an overlapping run made it, or a
        resent request whose first answer was lost)."""
        try:
            self.gl.http_post(
                _scope_url(scope, "labels"),
                post_data={"name": name, "color": color, "description": description},
            )
        except (gle.GitlabError, requests.exceptions.RequestException) as exc:
            if isinstance(exc, gle.GitlabError) and exc.response_code == 409:
                return False
            raise describe_error(exc, f"create label {name}") from None
        return True

    def label(self, scope: tuple[str, Any], name: str) -> dict[str, Any] | None:
        """The scope's own label of that name, or None."""
        path = _scope_url(scope, f"labels/{quote(name, safe='')}")
        try:
            found = self.gl.http_get(path)
        except (gle.GitlabError, requests.exceptions.RequestException) as exc:
            if _not_found(exc):
                return None
            raise describe_error(exc, f"label {name}") from None
        return found if isinstance(found, dict) else None

    def update_label(self, scope: tuple[str, Any], label_id: int, **attrs: Any) -> None:
        path = _scope_url(scope, f"labels/{label_id}")
        self.call(f"update label {label_id}", lambda: _obj(self.gl.http_put(path, post_data=attrs)))

    def delete_label(self, scope: tuple[str, Any], label_id: int) -> bool:
        """Delete a label by id; False when it was gone already."""
        try:
            self.gl.http_delete(_scope_url(scope, f"labels/{label_id}"))
        except (gle.GitlabError, requests.exceptions.RequestException) as exc:
            if _not_found(exc):
                return False
            raise describe_error(exc, f"delete label {label_id}") from None
        return True


def _scope_url(scope: tuple[str, Any], what: str) -> str:
    """The API path of a group's or a project's `what` (issues, labels, milestones)."""
    kind, obj = scope
    return f"/{'groups' if kind == 'group' else 'projects'}/{obj.id}/{what}"


def _same_issue(found: dict[str, Any], attrs: dict[str, Any]) -> bool:
    """The issue a lost create made: same title, same description (GitLab trims both)."""
    return (found.get("title") or "").strip() == str(attrs.get("title") or "").strip() and (
        found.get("description") or ""
    ).strip() == str(attrs.get("description") or "").strip()


def _redacted(attrs: dict[str, Any]) -> dict[str, Any]:
    """What escbot writes never carries a token either, not even one a customer pasted into
    an e-mail that escbot quotes back."""
    text_fields = ("title", "description", "body")
    return {
        k: redact(v) if k in text_fields and isinstance(v, str) else v for k, v in attrs.items()
    }


def scope_path(scope: tuple[str, Any]) -> str:
    """A project's or group's path, for messages and names."""
    _kind, obj = scope
    return getattr(obj, "full_path", None) or getattr(obj, "path_with_namespace", "") or str(obj)


def resolve_scope(api: GitLab, project: str | None, group: str | None) -> tuple[str, Any]:
    """("project", obj) or ("group", obj) from --project / --group (exactly one)."""
    if bool(project) == bool(group):
        raise EscbotError("give exactly one of --project or --group")
    if project:
        return "project", api.project(project)
    return "group", api.group(group)  # type: ignore[arg-type]
