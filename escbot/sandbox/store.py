"""SQLite store: schema, the one shared connection, and per-request transactions.

One connection guarded by one lock keeps the server simple and consistent;
every request runs in a single transaction that is rolled back on any error,
so a failed request changes nothing.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY, username TEXT NOT NULL UNIQUE COLLATE NOCASE, name TEXT NOT NULL,
    email TEXT, is_admin INTEGER NOT NULL DEFAULT 0, bot INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'active', created_at TEXT NOT NULL, namespace_id INTEGER
);
CREATE TABLE IF NOT EXISTS tokens (
    id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, name TEXT NOT NULL,
    token TEXT NOT NULL UNIQUE,
    scopes TEXT NOT NULL, kind TEXT NOT NULL DEFAULT 'pat', revoked INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL, expires_at TEXT, last_used_at TEXT
);
-- Groups and user namespaces share one id space, as in GitLab.
CREATE TABLE IF NOT EXISTS namespaces (
    id INTEGER PRIMARY KEY, kind TEXT NOT NULL, name TEXT NOT NULL, path TEXT NOT NULL,
    full_path TEXT NOT NULL UNIQUE COLLATE NOCASE, parent_id INTEGER,
    description TEXT NOT NULL DEFAULT '',
    visibility TEXT NOT NULL DEFAULT 'private', created_at TEXT NOT NULL, owner_id INTEGER,
    settings TEXT  -- JSON, as for projects
);
CREATE TABLE IF NOT EXISTS members (
    source_type TEXT NOT NULL, source_id INTEGER NOT NULL, user_id INTEGER NOT NULL,
    access_level INTEGER NOT NULL, created_at TEXT NOT NULL, expires_at TEXT,
    PRIMARY KEY (source_type, source_id, user_id)
);
CREATE INDEX IF NOT EXISTS members_user ON members(user_id);
CREATE TABLE IF NOT EXISTS projects (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, path TEXT NOT NULL, namespace_id INTEGER NOT NULL,
    description TEXT, visibility TEXT NOT NULL DEFAULT 'private', creator_id INTEGER NOT NULL,
    created_at TEXT NOT NULL, last_activity_at TEXT NOT NULL, default_branch TEXT,
    settings TEXT,  -- JSON: settings the API echoes but the sandbox has no behaviour for
    UNIQUE (namespace_id, path)
);
CREATE TABLE IF NOT EXISTS labels (
    id INTEGER PRIMARY KEY, title TEXT NOT NULL, color TEXT NOT NULL, description TEXT,
    priority INTEGER, project_id INTEGER, group_id INTEGER, archived INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS labels_project ON labels(project_id, title);
CREATE INDEX IF NOT EXISTS labels_group ON labels(group_id, title);
CREATE TABLE IF NOT EXISTS milestones (
    id INTEGER PRIMARY KEY, project_id INTEGER, group_id INTEGER, iid INTEGER NOT NULL,
    title TEXT NOT NULL, description TEXT, state TEXT NOT NULL DEFAULT 'active',
    due_date TEXT, start_date TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS issues (
    id INTEGER PRIMARY KEY, project_id INTEGER NOT NULL, iid INTEGER NOT NULL,
    title TEXT NOT NULL, description TEXT, state TEXT NOT NULL DEFAULT 'opened',
    author_id INTEGER NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
    closed_at TEXT, closed_by_id INTEGER, due_date TEXT, confidential INTEGER NOT NULL DEFAULT 0,
    discussion_locked INTEGER, milestone_id INTEGER, relative_position INTEGER,
    -- Derived values stored on write so lists never compute them per row.
    task_count INTEGER NOT NULL DEFAULT 0, task_completed INTEGER NOT NULL DEFAULT 0,
    user_notes_count INTEGER NOT NULL DEFAULT 0, upvotes INTEGER NOT NULL DEFAULT 0,
    downvotes INTEGER NOT NULL DEFAULT 0, service_desk_reply_to TEXT,
    issue_type TEXT NOT NULL DEFAULT 'issue', weight INTEGER,
    UNIQUE (project_id, iid)
);
CREATE INDEX IF NOT EXISTS issues_state_updated ON issues(project_id, state, updated_at);
CREATE INDEX IF NOT EXISTS issues_created ON issues(project_id, created_at);
CREATE INDEX IF NOT EXISTS issues_author ON issues(author_id);
-- Walked in order for multi-project (group) pages with many matches.
CREATE INDEX IF NOT EXISTS issues_created_at_all ON issues(created_at);
CREATE INDEX IF NOT EXISTS issues_updated_at_all ON issues(updated_at);
-- project_id/state/created_at/updated_at copy the issue's (kept in sync by a trigger) so
-- a label-filtered count is one narrow index range, without touching issues at all.
CREATE TABLE IF NOT EXISTS issue_labels (
    issue_id INTEGER NOT NULL, label_id INTEGER NOT NULL, label_title TEXT NOT NULL,
    project_id INTEGER, state TEXT, created_at TEXT, updated_at TEXT,
    PRIMARY KEY (issue_id, label_id)
);
CREATE INDEX IF NOT EXISTS issue_labels_title ON issue_labels(label_title, issue_id);
CREATE INDEX IF NOT EXISTS issue_labels_label ON issue_labels(label_id);
CREATE TABLE IF NOT EXISTS issue_assignees (
    issue_id INTEGER NOT NULL, user_id INTEGER NOT NULL, position INTEGER NOT NULL,
    PRIMARY KEY (issue_id, user_id)
);
CREATE INDEX IF NOT EXISTS issue_assignees_user ON issue_assignees(user_id, issue_id);
CREATE TABLE IF NOT EXISTS notes (
    id INTEGER PRIMARY KEY, issue_id INTEGER NOT NULL, project_id INTEGER NOT NULL,
    author_id INTEGER NOT NULL, body TEXT NOT NULL, system INTEGER NOT NULL DEFAULT 0,
    internal INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
    discussion_id TEXT  -- set for threads; NULL is a note's own "individual note" discussion
);
CREATE INDEX IF NOT EXISTS notes_issue ON notes(issue_id, created_at);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY, project_id INTEGER NOT NULL, author_id INTEGER NOT NULL,
    action_name TEXT NOT NULL, target_type TEXT, target_id INTEGER, target_iid INTEGER,
    target_title TEXT, note_id INTEGER, created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_project ON events(project_id, created_at);
CREATE TABLE IF NOT EXISTS label_events (
    id INTEGER PRIMARY KEY, issue_id INTEGER NOT NULL, user_id INTEGER NOT NULL,
    label_id INTEGER NOT NULL, action TEXT NOT NULL, created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS label_events_issue ON label_events(issue_id);
CREATE TABLE IF NOT EXISTS state_events (
    id INTEGER PRIMARY KEY, issue_id INTEGER NOT NULL, user_id INTEGER NOT NULL,
    state TEXT NOT NULL, created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS state_events_issue ON state_events(issue_id);
CREATE TABLE IF NOT EXISTS milestone_events (
    id INTEGER PRIMARY KEY, issue_id INTEGER NOT NULL, user_id INTEGER NOT NULL,
    milestone_id INTEGER, action TEXT NOT NULL, state TEXT NOT NULL, created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS milestone_events_issue ON milestone_events(issue_id);
CREATE TABLE IF NOT EXISTS issue_links (
    id INTEGER PRIMARY KEY, source_id INTEGER NOT NULL, target_id INTEGER NOT NULL,
    link_type TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS issue_links_source ON issue_links(source_id);
CREATE INDEX IF NOT EXISTS issue_links_target ON issue_links(target_id);
CREATE TABLE IF NOT EXISTS weight_events (
    id INTEGER PRIMARY KEY, issue_id INTEGER NOT NULL, user_id INTEGER NOT NULL,
    weight INTEGER, created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS weight_events_issue ON weight_events(issue_id);
-- awardable_type is 'Issue' or 'Note'.
CREATE TABLE IF NOT EXISTS award_emoji (
    id INTEGER PRIMARY KEY, awardable_type TEXT NOT NULL, awardable_id INTEGER NOT NULL,
    user_id INTEGER NOT NULL, name TEXT NOT NULL, created_at TEXT NOT NULL,
    UNIQUE (awardable_type, awardable_id, user_id, name)
);
CREATE TABLE IF NOT EXISTS label_subscriptions (
    label_id INTEGER NOT NULL, user_id INTEGER NOT NULL, PRIMARY KEY (label_id, user_id)
);
CREATE TABLE IF NOT EXISTS project_stars (
    project_id INTEGER NOT NULL, user_id INTEGER NOT NULL, PRIMARY KEY (project_id, user_id)
);
CREATE TABLE IF NOT EXISTS group_shares (
    group_id INTEGER NOT NULL, shared_with_group_id INTEGER NOT NULL,
    access_level INTEGER NOT NULL, expires_at TEXT,
    PRIMARY KEY (group_id, shared_with_group_id)
);
"""

# Created after the migration below, as they use issue_labels' newer columns.
POST_SCHEMA = """
DROP INDEX IF EXISTS issue_labels_scope;
CREATE INDEX IF NOT EXISTS issue_labels_scope_v2
    ON issue_labels(label_title, project_id, state, updated_at, issue_id);
CREATE TRIGGER IF NOT EXISTS issues_sync_labels
    AFTER UPDATE OF project_id, state, created_at, updated_at ON issues
BEGIN
    UPDATE issue_labels SET project_id = NEW.project_id, state = NEW.state,
        created_at = NEW.created_at, updated_at = NEW.updated_at
    WHERE issue_id = NEW.id;
END;
"""

# Tables emptied by the reset lever (users/tokens are trimmed to root separately).
DATA_TABLES = (
    "namespaces", "members", "projects", "labels", "milestones", "issues", "issue_labels",
    "issue_assignees", "notes", "events", "label_events", "state_events", "issue_links",
    "milestone_events", "weight_events", "award_emoji", "label_subscriptions", "group_shares",
    "project_stars",
)  # fmt: skip


class Store:
    """The shared connection; use `tx()` for every unit of work."""

    def __init__(self, path: str | None = None) -> None:
        self.path = path or ":memory:"
        self.conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self.conn.row_factory = sqlite3.Row
        self.lock = threading.RLock()
        self.version = 0
        self._cache: dict[Any, tuple[int, Any]] = {}
        if self.path != ":memory:":
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.executescript(SCHEMA)
        self._migrate()
        self.conn.executescript(POST_SCHEMA)

    def _migrate(self) -> None:
        """Bring a --db file written by an older sandbox up to this schema."""
        cols = {r[1] for r in self.conn.execute("PRAGMA table_info(issue_labels)")}
        if "project_id" not in cols:
            for col in ("project_id INTEGER", "state TEXT", "created_at TEXT", "updated_at TEXT"):
                self.conn.execute(f"ALTER TABLE issue_labels ADD COLUMN {col}")
            self.conn.execute(
                "UPDATE issue_labels SET (project_id, state, created_at, updated_at) = "
                "(SELECT project_id, state, created_at, updated_at FROM issues "
                "WHERE issues.id = issue_labels.issue_id)"
            )
        for table, col in (
            ("notes", "discussion_id TEXT"),
            ("issues", "weight INTEGER"),
            ("projects", "settings TEXT"),
            ("namespaces", "settings TEXT"),
        ):
            have = {r[1] for r in self.conn.execute(f"PRAGMA table_info({table})")}
            if col.split()[0] not in have:
                self.conn.execute(f"ALTER TABLE {table} ADD COLUMN {col}")

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One transaction under the lock; rolled back if the block raises."""
        with self.lock:
            before = self.conn.total_changes
            self.conn.execute("BEGIN")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            else:
                self.conn.execute("COMMIT")
                if self.conn.total_changes != before:
                    self.version += 1  # lets read caches know the data moved

    def cached(self, key: Any, compute: Callable[[], Any]) -> Any:
        """A value memoised until the next committed write (call inside tx())."""
        hit = self._cache.get(key)
        if hit is not None and hit[0] == self.version:
            return hit[1]
        value = compute()
        self._cache[key] = (self.version, value)
        return value

    def get_meta(self, key: str) -> str | None:
        with self.lock:
            row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def close(self) -> None:
        with self.lock:
            self.conn.close()
