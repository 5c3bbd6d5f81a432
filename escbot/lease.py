"""Mutual exclusion between escbot runs, on any GitLab tier and outside CI.

    with Lease(api, scope, "check --apply", wait=120) as lease:   # or LeaseHeld (exit 4)
        ...every write of the run...

The lease is a label, `escbot-lease`, in the scope's top-level group (or the project, when it
is not in a group): GitLab refuses to create a second label of that name (409), atomically, so
of two runs creating it at once exactly one succeeds. Its description says who holds it, since
when and until when:

    escbot lease: owner=escbot run=3f2a... host=ci-runner-7 pid=412 command=check since=...Z
    expires=...Z

A thread renews it (a new expiry) every third of its time to live while the run lasts; the run
deletes it at the end. A run that finds it held waits up to `wait` seconds, then gives up with
one line naming the holder. A lease past its expiry (its run was killed) is broken: deleted by
its id, so two runs breaking it at once never delete the lease one of them has just taken.

While held, the gateway's guard lets writes through; once the lease is lost (it expired
unrenewed and another run broke it), every further write is refused: customer-facing and
mentioning notes are only ever posted under the lease.
"""

from __future__ import annotations

import os
import random
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

import gitlab

from escbot.errors import EscbotError, GitLabError
from escbot.gitlab_io import GitLab

LABEL = "escbot-lease"
COLOR = "#737278"
TTL = 600.0  # seconds; a killed run's lease blocks others at most this long
EXIT_HELD = 4  # the exit code of a run that could not take the lease in time
_FIELD = re.compile(r"(\w+)=(\S+)")


class LeaseHeld(EscbotError):
    """Another run holds the lease (exit code 4)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, exit_code=EXIT_HELD)


@dataclass(frozen=True)
class Holder:
    label_id: int
    run: str
    owner: str
    command: str
    since: str
    expires: datetime | None  # None: unreadable, treated as expired

    @classmethod
    def from_label(cls, label: dict[str, Any]) -> Holder:
        fields = dict(_FIELD.findall(label.get("description") or ""))
        try:
            expires: datetime | None = datetime.fromisoformat(fields.get("expires", ""))
        except ValueError:
            expires = None
        return cls(
            label_id=label["id"],
            run=fields.get("run", ""),
            owner=fields.get("owner", "?"),
            command=fields.get("command", "?").replace("_", " "),
            since=fields.get("since", "?"),
            expires=expires,
        )

    def expired(self, now: datetime) -> bool:
        return self.expires is None or self.expires.tzinfo is None or self.expires <= now

    def describe(self) -> str:
        until = self.expires.isoformat(timespec="seconds") if self.expires else "?"
        return f"{self.owner} ({self.command}, since {self.since}, until {until})"


def lease_scope(api: GitLab, scope: tuple[str, Any]) -> tuple[str, Any]:
    """Where the lease lives: the top-level group of the scope, so a run on a project and a
    run on its group (or a sibling subgroup) exclude each other; the scope itself when it is
    a project outside any group or the top-level group cannot be read."""
    kind, obj = scope
    if kind == "group":
        path = obj.full_path
    else:
        namespace = getattr(obj, "namespace", None) or {}
        if namespace.get("kind") != "group":
            return scope
        path = namespace.get("full_path") or ""
    root = path.split("/", 1)[0]
    if kind == "group" and root == path:
        return scope
    try:
        return "group", api.group(root)
    except EscbotError:
        return scope


class Lease:
    def __init__(
        self,
        api: GitLab,
        scope: tuple[str, Any],
        command: str,
        *,
        wait: float = 0.0,
        ttl: float = TTL,
        say: Callable[[str], None] | None = None,
    ) -> None:
        self.api = api
        self.scope = lease_scope(api, scope)
        self.where = getattr(self.scope[1], "full_path", None) or getattr(
            self.scope[1], "path_with_namespace", str(self.scope[1].id)
        )
        self.command = command
        self.wait = wait
        self.ttl = ttl
        self.say = say  # one line for the person running escbot (waiting, a failed release)
        self.run = secrets.token_hex(8)
        self.since = _now()
        self.label_id: int | None = None
        self.lost: str | None = None  # why, once the lease is lost
        self._valid_until = 0.0  # monotonic: past it, renewals have failed for too long
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- taking and giving back ------------------------------------------------------------

    def acquire(self) -> None:
        """Take the lease, waiting for it up to `wait` seconds, or raise LeaseHeld.

        A token that may not manage labels (403: below Reporter, or read-only) cannot take
        one: the run goes on unprotected, said in one line, with post-then-delete as the only
        defence. Any other failure to take it refuses every write of the run, with the reason.
        """
        try:
            self._take()
        except LeaseHeld:
            raise
        except GitLabError as exc:
            if exc.status == 403:
                if self.say:
                    self.say(f"warning: no lease on {self.where} ({exc}); overlapping runs are "
                             "not excluded")  # fmt: skip
                return
            self.lost = f"it could not be taken: {exc}"
            self.api.guard = self.ensure_held

    def _take(self) -> None:
        deadline = time.monotonic() + self.wait
        told = False
        vanished = 0
        while True:
            valid_until = time.monotonic() + self.ttl
            # 409 when it is held; who holds it is read next either way.
            self.api.create_label(self.scope, LABEL, COLOR, self._description())
            holder = self._holder()
            if holder is None and vanished < 3:
                vanished += 1
                continue  # released in between: try again at once
            if holder is not None and holder.run == self.run:  # ours (even if the answer was lost)
                self.label_id, self._valid_until = holder.label_id, valid_until
                self.api.guard = self.ensure_held
                return
            if (
                holder is not None
                and holder.expired(_now())
                and self.api.delete_label(self.scope, holder.label_id)  # by id: only that one
            ):
                continue  # broken: take it
            left = deadline - time.monotonic()
            if left <= 0:
                who = holder.describe() if holder else "a run whose lease cannot be read"
                raise LeaseHeld(f"another escbot run holds the lease on {self.where}: {who}")
            if holder is not None and not told and self.say:
                self.say(
                    f"waiting up to {self.wait:.0f}s for the lease on {self.where}, held by "
                    f"{holder.describe()}"
                )
                told = True
            time.sleep(min(left, random.uniform(0.2, 1.0)))

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self.api.guard == self.ensure_held:
            self.api.guard = None
        if self.label_id is None or self.lost:
            return
        holder = self._holder()
        if holder is not None and holder.run == self.run:
            self.api.delete_label(self.scope, holder.label_id)
        self.label_id = None

    def __enter__(self) -> Lease:
        self.acquire()
        if self.label_id is not None:
            self._thread = threading.Thread(
                target=self._renew_loop, name="escbot-lease", daemon=True
            )
            self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.release()
        except EscbotError as exc:  # the run's own result matters more; the lease expires
            if self.say:
                self.say(f"the lease on {self.where} could not be released ({exc}); it expires "
                         f"within {self.ttl:.0f}s")  # fmt: skip

    # ---- while running ---------------------------------------------------------------------

    def ensure_held(self) -> None:
        """The gateway's guard before each write."""
        if self.lost is None and time.monotonic() > self._valid_until:
            self.lost = "it could not be renewed before it expired"
        if self.lost is not None:
            raise GitLabError(f"not writing without the lease on {self.where}: {self.lost}")

    def renew(self, api: GitLab | None = None) -> None:
        """Push the expiry out, if the lease is still ours."""
        api = api or self.api
        valid_until = time.monotonic() + self.ttl
        label = api.label(self.scope, LABEL)
        holder = Holder.from_label(label) if label else None
        if holder is None or holder.run != self.run:
            self.lost = "another run broke it" if holder else "it was deleted"
            return
        api.update_label(self.scope, holder.label_id, description=self._description())
        self._valid_until = valid_until

    def _renew_loop(self) -> None:
        # Its own client: a requests session is not shared between threads.
        api = GitLab(_clone(self.api.gl))
        while not self._stop.wait(self.ttl / 3):
            try:
                self.renew(api)
            except EscbotError:
                continue  # tried again; the guard stops writes once the expiry passes
            if self.lost:
                return

    # ---- the label -------------------------------------------------------------------------

    def _holder(self) -> Holder | None:
        label = self.api.label(self.scope, LABEL)
        return Holder.from_label(label) if label else None

    def _description(self) -> str:
        me = self.api.me()["username"]
        expires = _now() + timedelta(seconds=self.ttl)
        return (
            f"escbot lease: owner={me} run={self.run} host={_word(socket.gethostname())} "
            f"pid={os.getpid()} command={_word(self.command)} "
            f"since={self.since.isoformat(timespec='seconds')} "
            f"expires={expires.isoformat(timespec='seconds')}"
        )


def _now() -> datetime:
    # Real time, never --now: a rehearsal must not hold (or break) a lease for days.
    return datetime.now(UTC)


def _word(text: str) -> str:
    return re.sub(r"\s+", "_", text.strip()) or "?"


def _clone(gl: gitlab.Gitlab) -> gitlab.Gitlab:
    return gitlab.Gitlab(
        gl.url,
        private_token=gl.private_token,
        oauth_token=gl.oauth_token,
        job_token=gl.job_token,
        timeout=gl.timeout,
        retry_transient_errors=True,
    )
