"""The store's part for watching the owner's networks: a mixin :class:`ooo.store.Store`
inherits (the tables come with schema migration 6).

What it keeps, per watcher (named by ``NetworkEntry.watch_name``, like
``mastodon:@bob@hachyderm.io``):

- ``network_cursor``: where the watcher's last poll ended (an opaque string the watcher owns);
- ``network_post``: every post that belonged to an inquiry, once (the primary key is the
  watcher and the post's id, so a post read again, after an outage or from a thread re-read,
  never counts twice);
- ``network_thread``: the followed threads (root post -> inquiry, the asker on that network,
  the question's link and time, when the thread was last read);
- ``network_search``: when each inquiry's tag was last searched for (the fallback);
- ``network_notice``: the notices posted to an internal room (room, event id, state);
- ``network_watcher``: each watcher's state for ``ooo status`` (last poll, next poll, backoff,
  last error).

A signal from a post goes into the ``signal`` table like an email one, with two more columns,
``network`` and ``link`` (NULL for email signals: the existing readers are unaffected).

Conventions as in the rest of the store: the caller opens the transaction
(``with store.transaction():``) around writes that belong together, times are stored as ISO
8601 in UTC and handed out timezone-aware, and every method returns typed records.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ooo.core.social import Asking, Thread
from ooo.store.records import MessageRecord, from_row, iso

# Whether an inquiry's latest signal resolves it (its derived status; ooo.core.report has the
# full rule): resolved inquiries' threads are read last, their tags not searched, no notice.
_RESOLVED = (
    "coalesce((SELECT kind FROM signal WHERE signal.ref = {ref} "
    "ORDER BY at DESC, id DESC LIMIT 1), 'open') = 'resolved'"
)
_THREADS_TO_READ = (
    "SELECT * FROM network_thread WHERE watcher = ? ORDER BY read_at IS NOT NULL, "
    "coalesce((SELECT kind FROM signal WHERE signal.ref = network_thread.ref "
    "ORDER BY at DESC, id DESC LIMIT 1), 'open') = 'resolved', read_at, started_at LIMIT ?"
)


@dataclass(frozen=True)
class NetworkSignalRecord:
    """A stored signal that came from a post (``signal`` rows with ``network`` set)."""

    id: int
    ref: str
    at: datetime
    kind: str
    by: str | None
    rule: str
    evidence: str
    author: str | None
    helper: str | None
    network: str
    link: str
    flagged: bool


@dataclass(frozen=True)
class NetworkThreadRecord:
    """A followed thread: where an inquiry was asked (or ooo asked for it) on one network."""

    watcher: str
    root: str
    ref: str
    asker: str | None
    """The asker's handle there; None for a room notice ooo posted."""
    link: str
    """The root post's web link ("" if none)."""
    started_at: datetime
    """When the root post was written: the question's time on that network."""
    read_at: datetime | None
    """When the thread was last read in full (None: never)."""


@dataclass(frozen=True)
class NoticeRecord:
    """A notice ooo posts (or posted) to an internal room for one inquiry."""

    watcher: str
    ref: str
    room: str
    event_id: str | None
    state: str
    """posting (started; retried with the same transaction id), posted, or failed (given up)."""
    attempts: int
    last_error: str | None
    created_at: datetime
    posted_at: datetime | None


@dataclass(frozen=True)
class WatcherStateRecord:
    """One watcher's state, for ``ooo status``."""

    watcher: str
    kind: str
    state: str
    """starting, ok, backoff (the service is down, slow or rate-limiting: retried), auth (the
    credentials were refused: retried rarely, until the owner fixes them), stopped."""
    last_poll: datetime | None
    """The last attempt."""
    last_ok: datetime | None
    """The last successful poll."""
    next_poll: datetime | None
    attempts: int
    """Failed attempts in a row (0 when the last poll worked)."""
    retry_after: float | None
    """The wait the service asked for (rate limit), in seconds, if any."""
    last_error: str | None
    updated_at: datetime


class KnownInStore:
    """:class:`ooo.core.social.Known` for one watcher, answered from the store."""

    def __init__(self, store: SocialStore, watcher: str) -> None:
        self.store = store
        self.watcher = watcher

    def thread_of(self, post_id: str) -> Thread | None:
        return self.store.thread_of_post(self.watcher, post_id)

    def asking(self, ref: str) -> Asking | None:
        return self.store.asking(self.watcher, ref)

    def is_inquiry(self, ref: str) -> bool:
        return self.store.is_inquiry(ref)


class SocialStore:
    """Store methods for the network watchers (mixed into :class:`ooo.store.Store`)."""

    db: sqlite3.Connection

    if TYPE_CHECKING:

        def transaction(self) -> contextlib.AbstractContextManager[sqlite3.Connection]: ...

        def event(self, kind: str, at: datetime, /, **data: Any) -> None: ...

    # -- cursors ----------------------------------------------------------------------------

    def network_cursor(self, watcher: str) -> str | None:
        row = self.db.execute(
            "SELECT value FROM network_cursor WHERE watcher = ?", (watcher,)
        ).fetchone()
        return str(row[0]) if row else None

    def set_network_cursor(self, watcher: str, value: str, now: datetime) -> None:
        self.db.execute(
            "INSERT INTO network_cursor (watcher, value, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (watcher) DO UPDATE SET value = excluded.value, "
            "updated_at = excluded.updated_at",
            (watcher, value, iso(now)),
        )

    # -- posts and threads ------------------------------------------------------------------

    def is_inquiry(self, ref: str) -> bool:
        return (
            self.db.execute("SELECT 1 FROM message WHERE ref = ?", (ref.upper(),)).fetchone()
            is not None
        )

    def posts_seen(self, watcher: str, post_ids: Sequence[str]) -> set[str]:
        """Which of these posts were recorded already (read once, never counted twice)."""
        seen: set[str] = set()
        ids = list(dict.fromkeys(post_ids))
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(
                f"SELECT post_id FROM network_post WHERE watcher = ? AND post_id IN ({marks})",  # noqa: S608
                (watcher, *chunk),
            )
            seen.update(r[0] for r in rows)
        return seen

    def record_post(
        self,
        watcher: str,
        *,
        post_id: str,
        ref: str,
        root: str,
        role: str,
        author: str,
        link: str,
        created_at: datetime,
        now: datetime,
    ) -> bool:
        """Remember a post that belonged to an inquiry. False when it was recorded already
        (then nothing about it may be recorded again)."""
        cur = self.db.execute(
            "INSERT OR IGNORE INTO network_post (watcher, post_id, ref, root, role, author, link, "
            "created_at, seen_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (watcher, post_id, ref, root, role, author, link, iso(created_at), iso(now)),
        )
        return cur.rowcount > 0

    def add_thread(
        self,
        watcher: str,
        *,
        root: str,
        ref: str,
        asker: str | None,
        link: str,
        started_at: datetime,
    ) -> bool:
        """Follow a thread (its root post belongs to ``ref``). False if it was followed."""
        cur = self.db.execute(
            "INSERT OR IGNORE INTO network_thread (watcher, root, ref, asker, link, started_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (watcher, root, ref, asker, link, iso(started_at)),
        )
        return cur.rowcount > 0

    def thread_of_post(self, watcher: str, post_id: str) -> Thread | None:
        """The thread a post id belongs to: a followed root, or a post recorded in one."""
        row = self.db.execute(
            "SELECT root, ref FROM network_thread WHERE watcher = ? AND root = ? "
            "UNION ALL SELECT root, ref FROM network_post WHERE watcher = ? AND post_id = ? "
            "LIMIT 1",
            (watcher, post_id, watcher, post_id),
        ).fetchone()
        return Thread(row[0], row[1]) if row else None

    def asking(self, watcher: str, ref: str) -> Asking | None:
        """The inquiry's state on this watcher's network: the asker (from its first thread)
        and the helpers who answered, oldest first; None when nothing was seen there."""
        row = self.db.execute(
            "SELECT asker FROM network_thread WHERE watcher = ? AND ref = ? "
            "ORDER BY started_at, rowid LIMIT 1",
            (watcher, ref),
        ).fetchone()
        if row is None:
            return None
        helpers = [
            r[0]
            for r in self.db.execute(
                "SELECT author FROM network_post WHERE watcher = ? AND ref = ? AND role = 'helper' "
                "ORDER BY created_at, rowid",
                (watcher, ref),
            )
        ]
        return Asking(row[0], tuple(dict.fromkeys(helpers)))

    def known(self, watcher: str) -> KnownInStore:
        """What the store knows, for :func:`ooo.core.social.match_posts`."""
        return KnownInStore(self, watcher)

    def threads_to_read(self, watcher: str, limit: int) -> list[NetworkThreadRecord]:
        """The threads to read again next, at most ``limit``: never read first, then those of
        inquiries not resolved, then the longest unread."""
        rows = self.db.execute(_THREADS_TO_READ, (watcher, max(limit, 0)))
        return [from_row(NetworkThreadRecord, r) for r in rows]

    def mark_thread_read(self, watcher: str, root: str, now: datetime) -> None:
        self.db.execute(
            "UPDATE network_thread SET read_at = ? WHERE watcher = ? AND root = ?",
            (iso(now), watcher, root),
        )

    def network_threads(
        self, ref: str | None = None, watcher: str | None = None
    ) -> list[NetworkThreadRecord]:
        """Followed threads (of one inquiry, or one watcher, or all), oldest first: where and
        when each inquiry was asked on a network."""
        where, args = [], []
        if ref is not None:
            where.append("ref = ?")
            args.append(ref)
        if watcher is not None:
            where.append("watcher = ?")
            args.append(watcher)
        clause = f"WHERE {' AND '.join(where)} " if where else ""
        rows = self.db.execute(
            f"SELECT * FROM network_thread {clause}ORDER BY started_at, rowid",  # noqa: S608
            args,
        )
        return [from_row(NetworkThreadRecord, r) for r in rows]

    # -- the tag search (fallback) ----------------------------------------------------------

    def refs_to_search(
        self,
        watcher: str,
        *,
        since: datetime,
        limit: int,
        audiences: Collection[str] | None = None,
    ) -> list[str]:
        """Inquiries received since ``since`` (of these audiences, if given) that have no
        thread on this watcher yet and are not resolved: never searched first, then the
        longest unsearched, newest inquiry first."""
        args: list[Any] = [watcher, iso(since)]
        audience = ""
        if audiences is not None:
            marks = ",".join("?" * len(audiences)) or "NULL"
            audience = f"AND message.audience IN ({marks}) "
            args += list(audiences)
        # Only "?" placeholders and constant text are spliced into these queries.
        rows = self.db.execute(
            "SELECT message.ref FROM message LEFT JOIN network_search s "  # noqa: S608
            "ON s.watcher = ?1 AND s.ref = message.ref WHERE message.ref IS NOT NULL "
            "AND coalesce(message.received_at, message.decided_at) >= ?2 "
            + audience
            + "AND NOT EXISTS (SELECT 1 FROM network_thread t WHERE t.watcher = ?1 "
            "AND t.ref = message.ref) AND NOT "
            + _RESOLVED.format(ref="message.ref")
            + " ORDER BY s.searched_at IS NOT NULL, s.searched_at, message.id DESC "
            f"LIMIT {max(int(limit), 0)}",
            args,
        )
        return [r[0] for r in rows]

    def mark_searched(self, watcher: str, ref: str, now: datetime) -> None:
        self.db.execute(
            "INSERT INTO network_search (watcher, ref, searched_at) VALUES (?, ?, ?) "
            "ON CONFLICT (watcher, ref) DO UPDATE SET searched_at = excluded.searched_at",
            (watcher, ref, iso(now)),
        )

    # -- signals ----------------------------------------------------------------------------

    def network_signals(self, ref: str | None = None) -> list[NetworkSignalRecord]:
        """The signals that came from posts (of one inquiry, or all), in the order they
        happened."""
        query = "SELECT * FROM signal WHERE network IS NOT NULL"
        args: tuple[str, ...] = ()
        if ref is not None:
            query += " AND ref = ?"
            args = (ref,)
        rows = self.db.execute(query + " ORDER BY at, id", args)
        return [from_row(NetworkSignalRecord, r) for r in rows]

    # -- room notices -----------------------------------------------------------------------

    def inquiries_to_ask(
        self,
        watcher: str,
        *,
        audiences: Collection[str],
        since: datetime,
        limit: int,
        max_attempts: int = 5,
    ) -> list[MessageRecord]:
        """Inquiries of these audiences received since ``since`` that have no notice in the
        room yet (or one still to finish, tried fewer than ``max_attempts`` times) and are not
        resolved, oldest first."""
        if not audiences:
            return []
        marks = ",".join("?" * len(audiences))
        # Only "?" placeholders and constant text are spliced into this query.
        rows = self.db.execute(
            "SELECT message.* FROM message LEFT JOIN network_notice n ON n.watcher = ? "  # noqa: S608
            "AND n.ref = message.ref WHERE message.ref IS NOT NULL "
            f"AND message.audience IN ({marks}) "
            "AND coalesce(message.received_at, message.decided_at) >= ? "
            "AND (n.ref IS NULL OR (n.state = 'posting' AND n.attempts < ?)) AND NOT "
            + _RESOLVED.format(ref="message.ref")
            + " ORDER BY message.id LIMIT ?",
            (watcher, *audiences, iso(since), max_attempts, max(limit, 0)),
        )
        return [from_row(MessageRecord, r) for r in rows]

    def begin_notice(self, watcher: str, ref: str, room: str, now: datetime) -> NoticeRecord:
        """Note that a notice is about to be posted (committed before posting, so a crash in
        between retries with the same transaction id instead of posting twice)."""
        self.db.execute(
            "INSERT INTO network_notice (watcher, ref, room, state, attempts, created_at) "
            "VALUES (?, ?, ?, 'posting', 1, ?) ON CONFLICT (watcher, ref) DO UPDATE "
            "SET attempts = attempts + 1",
            (watcher, ref, room, iso(now)),
        )
        notice = self.notice(watcher, ref)
        assert notice is not None
        return notice

    def finish_notice(
        self,
        watcher: str,
        ref: str,
        *,
        event_id: str,
        link: str,
        now: datetime,
    ) -> None:
        """The notice is posted: remember its id and follow its thread (ooo asked: no
        asker on that network)."""
        self.db.execute(
            "UPDATE network_notice SET state = 'posted', event_id = ?, posted_at = ?, "
            "last_error = NULL WHERE watcher = ? AND ref = ?",
            (event_id, iso(now), watcher, ref),
        )
        self.add_thread(watcher, root=event_id, ref=ref, asker=None, link=link, started_at=now)
        self.event("network_asked", now, watcher=watcher, ref=ref, event_id=event_id, link=link)

    def notice_failed(
        self, watcher: str, ref: str, error: str, now: datetime, *, final: bool = False
    ) -> None:
        """Posting failed: kept for a retry, or given up (``final``: the room refused)."""
        self.db.execute(
            "UPDATE network_notice SET last_error = ?, state = CASE WHEN ? THEN 'failed' "
            "ELSE state END WHERE watcher = ? AND ref = ?",
            (error[:300], int(final), watcher, ref),
        )
        if final:
            self.event("network_ask_failed", now, watcher=watcher, ref=ref, error=error[:300])

    def notice(self, watcher: str, ref: str) -> NoticeRecord | None:
        row = self.db.execute(
            "SELECT * FROM network_notice WHERE watcher = ? AND ref = ?", (watcher, ref)
        ).fetchone()
        return from_row(NoticeRecord, row) if row else None

    def notices(self, ref: str | None = None) -> list[NoticeRecord]:
        if ref is None:
            rows = self.db.execute("SELECT * FROM network_notice ORDER BY created_at, rowid")
        else:
            rows = self.db.execute(
                "SELECT * FROM network_notice WHERE ref = ? ORDER BY created_at, rowid", (ref,)
            )
        return [from_row(NoticeRecord, r) for r in rows]

    # -- watcher state ----------------------------------------------------------------------

    def set_watcher_state(self, state: WatcherStateRecord) -> None:
        self.db.execute(
            "INSERT INTO network_watcher (watcher, kind, state, last_poll, last_ok, next_poll, "
            "attempts, retry_after, last_error, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (watcher) DO UPDATE SET kind = excluded.kind, state = excluded.state, "
            "last_poll = excluded.last_poll, last_ok = excluded.last_ok, "
            "next_poll = excluded.next_poll, attempts = excluded.attempts, "
            "retry_after = excluded.retry_after, last_error = excluded.last_error, "
            "updated_at = excluded.updated_at",
            (
                state.watcher,
                state.kind,
                state.state,
                iso(state.last_poll) if state.last_poll else None,
                iso(state.last_ok) if state.last_ok else None,
                iso(state.next_poll) if state.next_poll else None,
                state.attempts,
                state.retry_after,
                state.last_error,
                iso(state.updated_at),
            ),
        )

    def watcher_states(self) -> list[WatcherStateRecord]:
        """Every watcher's last known state, by name."""
        rows = self.db.execute("SELECT * FROM network_watcher ORDER BY watcher")
        return [from_row(WatcherStateRecord, r) for r in rows]
