"""The state store: SQLite (WAL), the single source of truth, plus a JSONL mirror of events.

What it holds: every message seen with the decision and its reason, every reply (the outbox:
queued -> sending -> sent, or uncertain/failed), the mailbox cursor, and an append-only event
list. Status and reports are derived from these tables.

Restart safety rests on two transactions per reply: the decision, the queued reply and its
event are committed together before anything is sent; ``sending`` is committed right before the
SMTP transaction and ``sent`` right after. A reply found in ``sending`` at start-up was cut off
mid-send: it may or may not have left, so it becomes ``uncertain`` and is never sent again.

Files are created with mode 0600: they hold senders, subjects and message ids.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from ooo.core.social import NetworkSignal
from ooo.core.tracking import InquiryFacts, ServerPeriod, SignalEvent
from ooo.errors import UserError
from ooo.host.files import make_private, tighten_private, touch_private
from ooo.store.records import (
    SEPARATORS,
    InterruptedSend,
    MessageRecord,
    OutboxItem,
    ReplyRecord,
    SignalRecord,
    TagTask,
    from_iso,
    from_row,
    iso,
)
from ooo.store.schema import MIGRATIONS, SCHEMA_VERSION
from ooo.store.social import SocialStore

#: Frames (page writes, 4 KB each) the write-ahead log may hold before a commit checkpoints it
#: itself. A reply writes about 15 (its decision, "sending", "sent"), so SQLite's default of
#: 1,000 made every 60th reply or so wait for a checkpoint's fsync (25-30 ms on this project's
#: machines) between its decision and its send. The daemon checkpoints while it waits for
#: mail instead (:meth:`Store.checkpoint`); this is the backstop for a pass that never ends
#: (a log of at most about 40 MB).
WAL_AUTOCHECKPOINT = 10_000
#: After a checkpoint the log file is cut back to this size.
WAL_SIZE_LIMIT = 8 << 20

__all__ = [
    "SCHEMA_VERSION",
    "InterruptedSend",
    "MessageRecord",
    "OutboxItem",
    "ReplyRecord",
    "SignalRecord",
    "Store",
    "TagTask",
    "from_iso",
    "iso",
]


def _statements(script: str) -> list[str]:
    """The SQL statements of a migration script, one by one (executescript would commit the
    transaction the migration must run in)."""
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    if current.strip():
        raise ValueError(f"incomplete SQL statement in a migration: {current.strip()[:80]}")
    return statements


_OPENING = threading.Lock()
"""Held while a Store creates its file and connects: a file this process creates is closed
before any of its connections can have it open."""


class Store(SocialStore):
    """One state database. Not shared between threads."""

    def __init__(self, path: Path | str, *, event_log: Path | None = None) -> None:
        self.path = Path(path)
        self.event_log = event_log
        self._checkpointed: tuple[int, int] | None = None
        memory = str(path) == ":memory:"
        try:
            with _OPENING:
                if not memory:
                    # The daemon's threads each open the database beside its live connection:
                    # make_private never opens an existing file, since closing it would drop
                    # that connection's locks (see make_private). SQLite creates the -wal and
                    # -shm files with the database's mode; older ones are only tightened.
                    self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                    make_private(self.path)
                    for suffix in ("-wal", "-shm"):
                        tighten_private(Path(str(self.path) + suffix))
                # isolation_level=None: we open every transaction ourselves (BEGIN IMMEDIATE).
                self.db = sqlite3.connect(str(path), isolation_level=None, timeout=30)
        except (OSError, sqlite3.Error) as exc:
            raise UserError(
                f"cannot open the state database {self.path}: {exc}",
                advice="check that the state directory ([state] dir) is writable",
            ) from exc
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a power cut may lose the last commits, but never corrupts; a
        # process crash (the case that matters here) loses nothing.
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT}")
        self.db.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
        self.db.execute("PRAGMA foreign_keys=ON")
        self._migrate()
        if event_log is not None:
            event_log.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            touch_private(event_log)

    def _migrate(self) -> None:
        """Bring the schema to SCHEMA_VERSION, one migration per transaction (a crash mid-way
        leaves the previous version intact). The version is read inside the write lock
        (BEGIN IMMEDIATE): two processes opening a new file at once (the daemon and `ooo
        status`) must not both run the same migration."""
        while True:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                version = self.db.execute("PRAGMA user_version").fetchone()[0]
                if version > SCHEMA_VERSION:
                    raise UserError(
                        f"the state database {self.path} was written by a newer ooo "
                        f"(schema {version}, this one knows {SCHEMA_VERSION})",
                        advice="upgrade ooo, or move the state directory aside to start afresh",
                    )
                if version == SCHEMA_VERSION:
                    self.db.execute("COMMIT")
                    return
                for statement in _statements(MIGRATIONS[version + 1]):
                    self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version = {version + 1}")
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        if self.db.in_transaction:
            yield self.db
            return
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        else:
            self.db.execute("COMMIT")

    def checkpoint(self) -> bool:
        """Copy the write-ahead log into the database, if anything was committed since the
        last time: the fsync a commit would otherwise pay at an unlucky moment, for the
        daemon's idle moments. Never waits for readers (PASSIVE). Returns whether it ran."""
        try:
            wal = os.stat(f"{self.path}-wal")
        except OSError:  # no log (an in-memory store): nothing to do
            return False
        mark = (wal.st_size, wal.st_mtime_ns)
        if self.db.in_transaction or mark == self._checkpointed:
            return False
        self.db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        self._checkpointed = mark  # a checkpoint writes the database, not the log
        return True

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        # Closed deterministically: Python 3.13 warns about a connection left to the collector.
        self.close()

    def snapshot(self) -> Store:
        """An in-memory copy, for --dry-run: decisions are made against real history and
        thrown away afterwards."""
        copy = Store(":memory:")
        self.db.backup(copy.db)
        return copy

    # -- events -----------------------------------------------------------------------------

    def event(self, kind: str, at: datetime, /, **data: Any) -> None:
        """Append an event (inside the caller's transaction, if any) and mirror it to JSONL.
        ``data`` may not use the line's own keys, "at" (when it was recorded) and "event"."""
        if "at" in data or "event" in data:
            raise ValueError(f"event {kind!r}: 'at' and 'event' are the event line's own keys")
        payload = json.dumps(data, ensure_ascii=False, default=str, sort_keys=True)
        self.db.execute(
            "INSERT INTO event (at, kind, data) VALUES (?, ?, ?)", (iso(at), kind, payload)
        )
        if self.event_log is not None:
            line = json.dumps(
                {"at": iso(at), "event": kind, **data}, ensure_ascii=False, default=str
            )
            with open(self.event_log, "a", encoding="utf-8") as fh:
                fh.write(line + "\n")

    # -- cursor -----------------------------------------------------------------------------

    def cursor(self, mailbox: str) -> tuple[str | None, int]:
        row = self.db.execute(
            "SELECT value, epoch FROM cursor WHERE mailbox = ?", (mailbox,)
        ).fetchone()
        return (row["value"], row["epoch"]) if row else (None, 0)

    def set_cursor(
        self, mailbox: str, value: str, now: datetime, *, new_epoch: bool = False
    ) -> int:
        _, epoch = self.cursor(mailbox)
        if new_epoch:
            epoch += 1
        self.db.execute(
            "INSERT INTO cursor (mailbox, value, epoch, updated_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (mailbox) DO UPDATE SET value = excluded.value, epoch = excluded.epoch, "
            "updated_at = excluded.updated_at",
            (mailbox, value, epoch, iso(now)),
        )
        return epoch

    # -- messages and decisions -------------------------------------------------------------

    def seen(self, mailbox: str, epoch: int, key: str) -> bool:
        return (
            self.db.execute(
                "SELECT 1 FROM message WHERE mailbox = ? AND epoch = ? AND key = ?",
                (mailbox, epoch, key),
            ).fetchone()
            is not None
        )

    def ref_exists(self, ref: str) -> bool:
        return self.db.execute("SELECT 1 FROM message WHERE ref = ?", (ref,)).fetchone() is not None

    def seen_message_id(self, message_id: str) -> bool:
        return (
            self.db.execute(
                "SELECT 1 FROM message WHERE message_id = ? AND reason != 'duplicate_message'",
                (message_id,),
            ).fetchone()
            is not None
        )

    def record_message(
        self,
        *,
        mailbox: str,
        epoch: int,
        key: str,
        message_id: str | None,
        sender: str | None,
        from_name: str,
        subject: str,
        received_at: datetime | None,
        decided_at: datetime,
        reason: str,
        detail: str,
        ref: str | None = None,
        audience: str | None = None,
        route: str | None = None,
        delegate: str | None = None,
        follows: str | None = None,
        participants: tuple[str, ...] = (),
    ) -> int:
        cur = self.db.execute(
            "INSERT INTO message (mailbox, epoch, key, message_id, sender, from_name, subject, "
            "received_at, decided_at, reason, detail, ref, audience, route, delegate, follows, "
            "participants) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                mailbox,
                epoch,
                key,
                message_id,
                sender,
                from_name,
                subject,
                iso(received_at) if received_at else None,
                iso(decided_at),
                reason,
                detail,
                ref,
                audience,
                route,
                delegate,
                follows,
                SEPARATORS["participants"].join(participants),
            ),
        )
        assert cur.lastrowid is not None
        return cur.lastrowid

    def last_reply_at(self, recipient: str) -> datetime | None:
        """When ``recipient`` was last answered: by ooo, or by the mail server in its place."""
        row = self.db.execute(
            "SELECT max(at) FROM (SELECT max(created_at) AS at FROM reply WHERE recipient = ? "
            "AND kind = 'reply' UNION ALL SELECT max(coalesce(received_at, decided_at)) FROM "
            "message WHERE sender = ? AND reason = 'answered_by_server')",
            (recipient, recipient),
        ).fetchone()
        return from_iso(row[0])

    def answered_senders(self, since: datetime, limit: int = 5000) -> list[str]:
        """Everyone answered since ``since`` (by ooo, or by the server in its place), newest
        first: the mail server must not answer them again while it stands in for ooo."""
        rows = self.db.execute(
            "SELECT who FROM (SELECT recipient AS who, max(created_at) AS at FROM reply "
            "WHERE kind = 'reply' AND state != 'failed' AND created_at >= ? GROUP BY recipient "
            "UNION ALL SELECT sender, max(decided_at) FROM message WHERE reason = "
            "'answered_by_server' AND decided_at >= ? AND sender IS NOT NULL GROUP BY sender) "
            "GROUP BY who ORDER BY max(at) DESC LIMIT ?",
            (iso(since), iso(since), limit),
        )
        return [r[0] for r in rows]

    def server_periods(self) -> list[dict[str, str | None]]:
        """The stretches of the window the mail server answered in ooo's place (the latest
        word on each, by its start), oldest first."""
        latest: dict[str, dict[str, str | None]] = {}
        for (data,) in self.db.execute(
            "SELECT data FROM event WHERE kind = 'server_period' ORDER BY id"
        ):
            period = json.loads(data)
            latest[period["start"]] = period
        return sorted(latest.values(), key=lambda p: p["start"] or "")

    def replies_since(self, since: datetime) -> int:
        """Replies (not forwards) queued at or after ``since``: the flood valve's measure."""
        row = self.db.execute(
            "SELECT count(*) FROM reply WHERE created_at >= ? AND kind = 'reply'", (iso(since),)
        ).fetchone()
        return int(row[0])

    # -- inquiries and signals --------------------------------------------------------------

    def inquiry_by_thread(self, message_ids: list[str]) -> str | None:
        """The inquiry a message belongs to, by In-Reply-To/References: an id of the inquiry
        itself, of one of its follow-ups, or of a reply or forward we sent for it."""
        if not message_ids:
            return None
        marks = ",".join("?" * len(message_ids))
        row = self.db.execute(
            f"SELECT coalesce(ref, follows) FROM message WHERE message_id IN ({marks}) "  # noqa: S608
            "AND coalesce(ref, follows) IS NOT NULL "
            "UNION ALL SELECT message.ref FROM reply JOIN message ON message.id = reply.message "
            f"WHERE reply.message_id IN ({marks}) AND message.ref IS NOT NULL LIMIT 1",
            [*message_ids, *message_ids],
        ).fetchone()
        return row[0] if row else None

    def rekey(
        self, mailbox: str, epoch: int, key: str, *, message_id: str | None, same_key: bool
    ) -> bool:
        """After a re-baseline (the server forgot the cursor): a message decided in an earlier
        epoch of ``mailbox`` is read again. Find its row (by ``key`` when the backend's keys
        survive a re-baseline, else by Message-ID) and move it to the new epoch and key, so the
        decision stands, tags find the message, and nothing is decided or counted twice."""
        if same_key:
            where, args = "key = ?", (key,)
        elif message_id:
            where, args = "message_id = ? AND reason != 'duplicate_message'", (message_id,)
        else:
            return False
        cur = self.db.execute(
            "UPDATE message SET epoch = ?, key = ? WHERE id = (SELECT id FROM message WHERE "  # noqa: S608
            f"mailbox = ? AND epoch < ? AND {where} ORDER BY id LIMIT 1)",
            (epoch, key, mailbox, epoch, *args),
        )
        return cur.rowcount > 0

    def inquiries_of(self, sender: str) -> list[MessageRecord]:
        """The sender's inquiries, newest first (at most 200)."""
        rows = self.db.execute(
            "SELECT * FROM message WHERE sender = ? AND ref IS NOT NULL ORDER BY id DESC LIMIT 200",
            (sender,),
        )
        return [from_row(MessageRecord, r) for r in rows]

    def meeting_handled(self, key: str) -> bool:
        """Whether an invitation with this key (organiser, UID, SEQUENCE: the ``detail`` the
        policy records, ooo.core.itip) was declined, answered tentative or ignored before."""
        row = self.db.execute(
            "SELECT 1 FROM message WHERE reason IN ('meeting_declined', 'meeting_tentative', "
            "'meeting_ignored') AND detail = ? LIMIT 1",
            (key,),
        ).fetchone()
        return row is not None

    def inquiry(self, ref: str) -> MessageRecord | None:
        row = self.db.execute("SELECT * FROM message WHERE ref = ?", (ref.upper(),)).fetchone()
        return from_row(MessageRecord, row) if row else None

    def add_signal(
        self,
        *,
        ref: str,
        at: datetime,
        kind: str,
        by: str | None,
        rule: str,
        evidence: str,
        author: str | None = None,
        helper: str | None = None,
        message_id: str | None = None,
        flagged: bool = False,
        unverified: str | None = None,
        network: str | None = None,
        link: str | None = None,
    ) -> None:
        """Record a signal and its event. ``unverified``: why it does not count (the owner's
        server says the message failed its sender checks); it is kept and shown, never applied.
        ``network`` and ``link``: the post a signal from the owner's network came from (see
        :meth:`add_network_signal`)."""
        self.db.execute(
            "INSERT INTO signal (ref, at, kind, by, rule, evidence, author, helper, message_id, "
            "flagged, unverified, network, link) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                ref,
                iso(at),
                kind,
                by,
                rule,
                evidence,
                author,
                helper,
                message_id,
                int(flagged),
                unverified,
                network,
                link,
            ),
        )
        # The event names where the signal came from: an email's message id, or a post's
        # network and link.
        email = {"message_id": message_id} if network is None else {}
        post = {"network": network, "link": link} if network is not None else {}
        self.event(
            "signal",
            at,
            ref=ref,
            kind=kind,
            by=by,
            rule=rule,
            evidence=evidence,
            author=author,
            helper=helper,
            **email,
            flagged=flagged,
            **post,
            **({"unverified": unverified} if unverified else {}),
        )

    def add_network_signal(self, signal: NetworkSignal) -> None:
        """Record a signal from a post (inside the caller's transaction, with the post's
        :meth:`record_post`), and its event."""
        self.add_signal(**asdict(signal))

    def signals(self, ref: str | None = None) -> list[SignalRecord]:
        """The signals of one inquiry (or of all), in the order they happened: from email
        and from the owner's networks alike (those name their ``network`` and ``link``)."""
        if ref:
            rows = self.db.execute("SELECT * FROM signal WHERE ref = ? ORDER BY at, id", (ref,))
        else:
            rows = self.db.execute("SELECT * FROM signal ORDER BY at, id")
        return [from_row(SignalRecord, r) for r in rows]

    def inquiry_facts(self) -> list[InquiryFacts]:
        rows = self.db.execute(
            "SELECT message.*, EXISTS (SELECT 1 FROM reply WHERE reply.message = message.id "
            "AND reply.kind = 'reply') AS replied FROM message WHERE ref IS NOT NULL "
            "ORDER BY id"
        ).fetchall()
        return [
            InquiryFacts(
                ref=r["ref"],
                sender=r["sender"] or "",
                from_name=r["from_name"] or "",
                subject=r["subject"] or "",
                received_at=datetime.fromisoformat(r["received_at"] or r["decided_at"]),
                audience=r["audience"],
                replied=bool(r["replied"]),
                delegate=r["delegate"],
                message_id=r["message_id"],
                answered_by_server=r["reason"] == "answered_by_server",
                reason=r["reason"],
            )
            for r in rows
        ]

    def server_period_facts(self) -> list[ServerPeriod]:
        """:meth:`server_periods` as records, for the report."""
        return [
            ServerPeriod(start=start, end=from_iso(p["end"]), why=p["why"] or "")
            for p in self.server_periods()
            if (start := from_iso(p["start"])) is not None
        ]

    def signal_events(self) -> list[SignalEvent]:
        return list(self.signals())

    def suppressed_counts(self) -> dict[str, int]:
        """Messages that are not inquiries nor follow-ups, by reason; plus the inquiries the
        flood valve left unanswered (listed as inquiries too), so the report says it tripped."""
        return {
            r[0]: r[1]
            for r in self.db.execute(
                "SELECT reason, count(*) FROM message WHERE (ref IS NULL AND follows IS NULL) "
                "OR reason = 'rate_limited' "
                "GROUP BY reason ORDER BY count(*) DESC"
            )
        }

    def untagged_inquiries(self) -> list[TagTask]:
        """Inquiries whose mailbox keyword may not match their current status: the latest
        signal decides (no signal: open); ``tagged`` is what was last set on the message."""
        rows = self.db.execute(
            "SELECT message.id, message.mailbox, message.epoch, message.key, message.ref, "
            "message.tagged, coalesce((SELECT CASE kind WHEN 'resolved' THEN 'resolved' "
            "ELSE 'open' END FROM signal WHERE signal.ref = message.ref "
            "ORDER BY at DESC, id DESC LIMIT 1), 'open') AS status "
            "FROM message WHERE ref IS NOT NULL AND tagged IS NOT "
            "coalesce((SELECT CASE kind WHEN 'resolved' THEN 'resolved' ELSE 'open' END "
            "FROM signal WHERE signal.ref = message.ref ORDER BY at DESC, id DESC LIMIT 1), "
            "'open')"
        )
        return [from_row(TagTask, r) for r in rows]

    def set_tagged(self, message_row: int, status: str) -> None:
        self.db.execute("UPDATE message SET tagged = ? WHERE id = ?", (status, message_row))

    # -- outbox -----------------------------------------------------------------------------

    def queue_reply(
        self,
        *,
        message_row: int,
        recipient: str,
        message_id: str,
        envelope_from: str,
        raw: bytes,
        now: datetime,
        kind: str = "reply",
        cc: tuple[str, ...] = (),
    ) -> int:
        cur = self.db.execute(
            "INSERT INTO reply (message, recipient, message_id, envelope_from, raw, state, "
            "next_attempt_at, created_at, kind, cc) VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?)",
            (
                message_row,
                recipient,
                message_id,
                envelope_from,
                raw,
                iso(now),
                iso(now),
                kind,
                SEPARATORS["cc"].join(cc),
            ),
        )
        assert cur.lastrowid is not None
        return cur.lastrowid

    def due_replies(self, now: datetime, limit: int = 100) -> list[OutboxItem]:
        rows = self.db.execute(
            "SELECT reply.id, recipient, reply.message_id, envelope_from, raw, attempts, "
            "message.key AS message_key, kind, cc FROM reply "
            "JOIN message ON message.id = reply.message "
            "WHERE state = 'queued' AND next_attempt_at <= ? ORDER BY reply.id LIMIT ?",
            (iso(now), limit),
        ).fetchall()
        return [from_row(OutboxItem, r) for r in rows]

    def next_retry_at(self) -> datetime | None:
        row = self.db.execute(
            "SELECT min(next_attempt_at) FROM reply WHERE state = 'queued'"
        ).fetchone()
        return from_iso(row[0])

    def set_reply_state(
        self,
        reply_id: int,
        state: str,
        now: datetime,
        *,
        error: str | None = None,
        next_attempt_at: datetime | None = None,
    ) -> None:
        sets = ["state = ?"]
        args: list[Any] = [state]
        if state == "sending":
            sets.append("attempts = attempts + 1")
        if state == "sent":
            sets.append("sent_at = ?")
            args.append(iso(now))
        if error is not None:
            sets.append("last_error = ?")
            args.append(error)
        if next_attempt_at is not None:
            sets.append("next_attempt_at = ?")
            args.append(iso(next_attempt_at))
        args.append(reply_id)
        self.db.execute(f"UPDATE reply SET {', '.join(sets)} WHERE id = ?", args)  # noqa: S608

    def defer_queued(self, until: datetime) -> None:
        """Push every queued reply due before ``until`` back to it: the server is down, and
        trying the next reply at once would only hammer it."""
        self.db.execute(
            "UPDATE reply SET next_attempt_at = ? WHERE state = 'queued' AND next_attempt_at < ?",
            (iso(until), iso(until)),
        )

    def interrupted_sends(self) -> list[InterruptedSend]:
        rows = self.db.execute(
            "SELECT reply.id, recipient, reply.message_id FROM reply WHERE state = 'sending'"
        )
        return [from_row(InterruptedSend, r) for r in rows]

    def set_status(self, key: str, value: str, now: datetime) -> None:
        self.db.execute(
            "INSERT INTO status (key, value, at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE "
            "SET value = excluded.value, at = excluded.at",
            (key, value, iso(now)),
        )

    def clear_status(self, key: str) -> None:
        self.db.execute("DELETE FROM status WHERE key = ?", (key,))

    def status(self) -> dict[str, tuple[str, datetime]]:
        return {
            r["key"]: (r["value"], datetime.fromisoformat(r["at"]))
            for r in self.db.execute("SELECT key, value, at FROM status")
        }

    def counts_by_reason(self) -> dict[str, int]:
        return {
            r[0]: r[1]
            for r in self.db.execute(
                "SELECT reason, count(*) FROM message GROUP BY reason ORDER BY count(*) DESC"
            )
        }

    def counts_by_reply_state(self) -> dict[str, int]:
        return {
            r[0]: r[1] for r in self.db.execute("SELECT state, count(*) FROM reply GROUP BY state")
        }

    def replies(self, state: str | None = None) -> list[ReplyRecord]:
        query = (
            "SELECT reply.*, message.subject, message.key AS message_key FROM reply "
            "JOIN message ON message.id = reply.message"
        )
        if state:
            rows = self.db.execute(query + " WHERE state = ? ORDER BY reply.id", (state,))
        else:
            rows = self.db.execute(query + " ORDER BY reply.id")
        return [from_row(ReplyRecord, r) for r in rows]

    def messages(self) -> list[MessageRecord]:
        rows = self.db.execute("SELECT * FROM message ORDER BY id")
        return [from_row(MessageRecord, r) for r in rows]

    # -- ooo's own mail (ooo.inbox): the inbox report and the digests, in the meta table ------

    def meta(self, key: str) -> str | None:
        """A value of the small key/value table (``None``: never set)."""
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        """Set a value of the key/value table (inside the caller's transaction, if any)."""
        self.db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )
