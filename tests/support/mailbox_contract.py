"""The contract every mailbox backend passes: one test class, subclassed once per backend.

``MailboxContract`` has no ``Test`` prefix, so pytest collects it only through a subclass
(``tests/unit/mailbox/test_memory.py``, ``tests/servers/test_imap.py`` against the real Dovecot,
``tests/unit/mailbox/test_ews.py``). A subclass provides these fixtures:

``mailbox``
    An opened :class:`~ooo.mailbox.base.Mailbox` watching an empty folder.
``deliver``
    ``deliver(raw: bytes) -> None``: put a message into the watched folder through the
    backend's real path (IMAP: SMTP to Postfix, LMTP to Dovecot); returns once an observer
    other than ``mailbox`` can see it.
``store``
    ``store(raw: bytes, received_at: datetime | None) -> None``: put a message into the watched
    folder byte for byte with the given arrival time (IMAP: APPEND from another connection);
    for messages an MTA would rewrite or refuse, and for old mail. Returns once visible.
``folder_contents``
    ``folder_contents(folder: str) -> list[tuple[bytes, frozenset[str]]]``: raw message and
    flags (``"\\Seen"``, keywords) of every message in a folder, read without ``mailbox``.
``make_cursor_stale``
    ``make_cursor_stale() -> None``: invalidate existing cursors, as a UIDVALIDITY change does.
    The test reopens ``mailbox`` afterwards, as the engine does after MailboxUnavailable.
``wrong_password_mailbox`` / ``unreachable_mailbox``
    Unopened mailboxes whose server refuses the credentials / cannot be reached.

No test sleeps to synchronise: deliveries return once visible, and waits have deadlines.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest

from ooo.mailbox.base import (
    BODY_CAP,
    HEADER_CAP,
    Batch,
    CursorInvalid,
    FetchedMessage,
    Mailbox,
    MailboxAuthError,
    MailboxUnavailable,
)

Deliver = Callable[[bytes], None]
Store = Callable[[bytes, datetime | None], None]
FolderContents = Callable[[str], list[tuple[bytes, frozenset[str]]]]

# Generous bounds for "promptly": these are correctness checks, not benchmarks. A backend that
# misses a wake-up fails by waiting out its whole timeout, far beyond these.
PROMPT = 5.0
LONG_WAIT = 30.0


def message(subject: str, body: str = "Is the report ready?\n", **headers: str) -> bytes:
    """A small RFC 5322 message with CRLF line ends and a unique Message-ID."""
    fields = {
        "From": "Alice Asker <alice@example.org>",
        "To": "bob@example.test",
        "Subject": subject,
        "Date": "Tue, 22 Dec 2026 10:00:00 +0000",
        "Message-ID": f"<{uuid.uuid4().hex}@example.org>",
        **headers,
    }
    head = "".join(f"{name}: {value}\r\n" for name, value in fields.items())
    return (head + "\r\n" + body.replace("\n", "\r\n")).encode()


def unique(label: str) -> str:
    """A subject no other test (or earlier run on the same server) uses."""
    return f"{label} {uuid.uuid4().hex[:12]}"


def subjects(batch: Batch | list[FetchedMessage]) -> list[str]:
    """The Subject of each fetched message, in the order fetched."""
    messages = batch.messages if isinstance(batch, Batch) else batch
    out = []
    for msg in messages:
        for line in msg.headers.decode("utf-8", "replace").splitlines():
            if line.lower().startswith("subject:"):
                out.append(line.split(":", 1)[1].strip())
                break
        else:
            out.append("")
    return out


def drain(mailbox: Mailbox, cursor: str) -> tuple[list[FetchedMessage], str]:
    """Fetch until nothing new comes back; return everything fetched and the final cursor.

    Ending on an empty fetch also settles what the server has announced so far, so a
    following wait() blocks until something new happens.
    """
    fetched: list[FetchedMessage] = []
    for _ in range(1000):
        batch = mailbox.fetch_new(cursor)
        cursor = batch.cursor
        if not batch.messages:
            return fetched, cursor
        fetched += batch.messages
    raise AssertionError("fetch_new never ran dry")


@contextmanager
def delivered_later(deliver: Deliver, raw: bytes, delay: float = 0.3) -> Iterator[None]:
    """Deliver ``raw`` from another thread while the body of the ``with`` runs.

    The delay only makes it likely that the caller is already blocked in wait() when the mail
    arrives; every assertion made under it holds whichever comes first. An error in the
    delivery thread is re-raised on exit.
    """
    errors: list[BaseException] = []

    def run() -> None:
        try:
            deliver(raw)
        except BaseException as exc:  # re-raised in the test thread below
            errors.append(exc)

    timer = threading.Timer(delay, run)
    timer.start()
    try:
        yield
    finally:
        timer.join(LONG_WAIT)
    assert not timer.is_alive(), "delivery thread did not finish"
    if errors:
        raise errors[0]


class MailboxContract:
    """What the engine relies on from any mailbox backend."""

    # -- connection ----------------------------------------------------------------------

    def test_open_is_idempotent(self, mailbox: Mailbox) -> None:
        """Opening an open mailbox again is harmless and keeps it usable."""
        mailbox.open()
        cursor = mailbox.baseline(datetime.now(UTC))
        assert mailbox.fetch_new(cursor).messages == []

    def test_close_never_raises(self, mailbox: Mailbox) -> None:
        """close() may be called twice; a closed mailbox can be opened again."""
        mailbox.close()
        mailbox.close()
        mailbox.open()
        mailbox.baseline(datetime.now(UTC))

    def test_wrong_password_is_an_auth_error(self, wrong_password_mailbox: Mailbox) -> None:
        """A refused login raises MailboxAuthError: retrying will not help."""
        with pytest.raises(MailboxAuthError):
            wrong_password_mailbox.open()
        wrong_password_mailbox.close()

    def test_unreachable_server_is_unavailable(self, unreachable_mailbox: Mailbox) -> None:
        """A server that cannot be reached raises MailboxUnavailable: retry later."""
        with pytest.raises(MailboxUnavailable):
            unreachable_mailbox.open()
        unreachable_mailbox.close()

    # -- baseline and fetching -----------------------------------------------------------

    def test_baseline_skips_mail_before_since(
        self, mailbox: Mailbox, store: Store, deliver: Deliver
    ) -> None:
        """A baseline at ``since`` yields mail received from then on, not days-old mail."""
        now = datetime.now(UTC)
        old = unique("old")
        recent = unique("recent")
        store(message(old), now - timedelta(days=3))
        store(message(recent), now)
        cursor = mailbox.baseline(now - timedelta(hours=1))
        fetched, cursor = drain(mailbox, cursor)
        assert subjects(fetched) == [recent]
        later = unique("later")
        deliver(message(later))
        fetched, _ = drain(mailbox, cursor)
        assert subjects(fetched) == [later]

    def test_baseline_on_an_empty_folder(self, mailbox: Mailbox, deliver: Deliver) -> None:
        """A baseline taken on an empty folder yields exactly what arrives afterwards."""
        cursor = mailbox.baseline(datetime.now(UTC) - timedelta(days=1))
        assert mailbox.fetch_new(cursor).messages == []
        first = unique("first")
        deliver(message(first))
        fetched, _ = drain(mailbox, cursor)
        assert subjects(fetched) == [first]

    def test_baseline_in_the_future_skips_all_present_mail(
        self, mailbox: Mailbox, store: Store, deliver: Deliver
    ) -> None:
        """With nothing received at or after ``since``, the cursor sits after the newest mail."""
        now = datetime.now(UTC)
        store(message(unique("present")), now - timedelta(days=3))
        cursor = mailbox.baseline(now + timedelta(days=2))
        assert mailbox.fetch_new(cursor).messages == []
        later = unique("later")
        deliver(message(later))
        fetched, _ = drain(mailbox, cursor)
        assert subjects(fetched) == [later]

    def test_fetch_new_is_oldest_first_limited_and_advances(
        self, mailbox: Mailbox, deliver: Deliver
    ) -> None:
        """fetch_new returns mail oldest first, at most ``limit``, and moves the cursor past it;
        a fetch with nothing new returns no messages and the same cursor."""
        cursor = mailbox.baseline(datetime.now(UTC))
        sent = [unique(f"m{i}") for i in range(3)]
        for subject in sent:
            deliver(message(subject))
        first = mailbox.fetch_new(cursor, limit=2)
        assert subjects(first) == sent[:2]
        assert first.cursor != cursor
        second = mailbox.fetch_new(first.cursor, limit=2)
        assert subjects(second) == sent[2:]
        third = mailbox.fetch_new(second.cursor, limit=2)
        assert third.messages == []
        assert third.cursor == second.cursor
        # The same cursor gives the same answer: fetching is not consuming.
        assert subjects(mailbox.fetch_new(cursor, limit=10)) == sent

    def test_fetched_message_fields(self, mailbox: Mailbox, deliver: Deliver) -> None:
        """A fetched message carries its header block, its body, an aware arrival time close
        to now, its full size and a key unique in the folder."""
        before = datetime.now(UTC) - timedelta(minutes=5)
        cursor = mailbox.baseline(datetime.now(UTC))
        subject = unique("fields")
        raw = message(subject, body="Line one\nLine two\n")
        deliver(raw)
        deliver(message(unique("other")))
        batch = mailbox.fetch_new(cursor)
        msg = batch.messages[0]
        assert subjects([msg]) == [subject]
        assert msg.headers.endswith(b"\r\n\r\n")
        assert b"Message-ID: <" in msg.headers
        assert msg.body == b"Line one\r\nLine two\r\n"
        assert msg.received_at is not None
        assert msg.received_at.tzinfo is not None
        assert before <= msg.received_at <= datetime.now(UTC) + timedelta(minutes=5)
        # An MTA may add trace headers (Return-Path, Received), never remove anything.
        assert msg.size >= len(raw)
        assert msg.key
        assert len({m.key for m in batch.messages}) == len(batch.messages) == 2

    def test_fetched_message_carries_its_keywords(self, mailbox: Mailbox, deliver: Deliver) -> None:
        """fetch_new reports each message's keywords from the same fetch: none on new mail,
        and those set since (by ooo, or by the server's Sieve script at delivery, such as
        $OooServer) when it is fetched again; they belong to that message only."""
        cursor = mailbox.baseline(datetime.now(UTC))
        deliver(message(unique("plain")))
        deliver(message(unique("server answered")))
        first, second = drain(mailbox, cursor)[0]
        assert first.keywords == second.keywords == frozenset()
        mailbox.tag(second.key, "$OooServer")
        mailbox.tag(second.key, "$OooOpen")
        again = mailbox.fetch_new(cursor).messages
        assert [m.key for m in again] == [first.key, second.key]
        assert again[0].keywords == frozenset()
        assert again[1].keywords == {"$OooServer", "$OooOpen"}

    def test_body_is_capped(self, mailbox: Mailbox, deliver: Deliver) -> None:
        """Only the first BODY_CAP bytes of a large body are fetched; size tells the whole."""
        cursor = mailbox.baseline(datetime.now(UTC))
        lines = [f"line {i:06d} " + "x" * 60 for i in range(BODY_CAP // 40)]
        body = "\n".join(lines) + "\n"
        deliver(message(unique("big body"), body=body))
        (msg,) = mailbox.fetch_new(cursor).messages
        assert len(msg.body) == BODY_CAP
        assert msg.body.startswith(b"line 000000 xxx")
        assert msg.size > BODY_CAP

    def test_header_block_is_capped(self, mailbox: Mailbox, store: Store) -> None:
        """A header block larger than HEADER_CAP is cut to HEADER_CAP bytes, and the body is
        still fetched."""
        cursor = mailbox.baseline(datetime.now(UTC))
        filler = {f"X-Filler-{i:04d}": "y" * 990 for i in range(HEADER_CAP // 1000 + 20)}
        store(message(unique("huge header"), body="Still here.\n", **filler), None)
        (msg,) = mailbox.fetch_new(cursor).messages
        assert len(msg.headers) == HEADER_CAP
        assert msg.headers.startswith(b"From: Alice Asker")
        assert msg.body == b"Still here.\r\n"

    def test_a_message_without_body(self, mailbox: Mailbox, store: Store) -> None:
        """A message that is all header comes back with an empty body."""
        cursor = mailbox.baseline(datetime.now(UTC))
        raw = message(unique("no body"), body="")
        store(raw, None)
        (msg,) = mailbox.fetch_new(cursor).messages
        assert msg.body == b""
        assert msg.headers == raw

    def test_fetching_does_not_mark_seen(
        self, mailbox: Mailbox, deliver: Deliver, folder_contents: FolderContents
    ) -> None:
        """Fetching leaves messages unread for the owner: no \\Seen flag appears."""
        cursor = mailbox.baseline(datetime.now(UTC))
        deliver(message(unique("unread")))
        fetched, _ = drain(mailbox, cursor)
        assert len(fetched) == 1
        mailbox.keywords(fetched[0].key)
        inbox = folder_contents(self.watched_folder)
        assert len(inbox) == 1
        assert "\\Seen" not in inbox[0][1]

    # -- waiting -------------------------------------------------------------------------

    def test_wait_wakes_up_on_delivery(self, mailbox: Mailbox, deliver: Deliver) -> None:
        """wait() returns True soon after mail arrives, long before its timeout."""
        cursor = mailbox.baseline(datetime.now(UTC))
        _, cursor = drain(mailbox, cursor)
        subject = unique("wake")
        started = time.monotonic()
        with delivered_later(deliver, message(subject)):
            woke = mailbox.wait(LONG_WAIT)
            waited = time.monotonic() - started
        assert woke is True
        assert waited < PROMPT
        fetched, _ = drain(mailbox, cursor)
        assert subjects(fetched) == [subject]

    def test_wait_times_out_without_mail(self, mailbox: Mailbox) -> None:
        """With nothing arriving, wait() returns False after about its timeout."""
        cursor = mailbox.baseline(datetime.now(UTC))
        drain(mailbox, cursor)
        started = time.monotonic()
        assert mailbox.wait(0.5) is False
        waited = time.monotonic() - started
        assert 0.45 <= waited < PROMPT

    def test_wait_returns_at_once_for_mail_a_full_batch_left_behind(
        self, mailbox: Mailbox, deliver: Deliver
    ) -> None:
        """Mail already in the folder but beyond the last batch wakes wait() immediately:
        a server will not announce it a second time."""
        cursor = mailbox.baseline(datetime.now(UTC))
        deliver(message(unique("a")))
        deliver(message(unique("b")))
        batch = mailbox.fetch_new(cursor, limit=1)
        assert len(batch.messages) == 1
        started = time.monotonic()
        assert mailbox.wait(LONG_WAIT) is True
        assert time.monotonic() - started < PROMPT
        assert len(mailbox.fetch_new(batch.cursor).messages) == 1

    def test_wait_returns_at_once_for_mail_announced_during_another_command(
        self, mailbox: Mailbox, deliver: Deliver
    ) -> None:
        """Mail that arrived while the mailbox was busy with another command (IMAP announces
        it inside that command's response, and IDLE never repeats it) wakes wait() at once."""
        cursor = mailbox.baseline(datetime.now(UTC))
        deliver(message(unique("known")))
        known, cursor = drain(mailbox, cursor)
        late = unique("late")
        deliver(message(late))
        mailbox.keywords(known[0].key)  # any command: the server announces the new mail here
        started = time.monotonic()
        assert mailbox.wait(LONG_WAIT) is True
        assert time.monotonic() - started < PROMPT
        fetched, _ = drain(mailbox, cursor)
        assert subjects(fetched) == [late]

    def test_wait_for_mail_delivered_between_fetch_and_wait(
        self, mailbox: Mailbox, deliver: Deliver
    ) -> None:
        """Mail that lands after the last fetch but before wait() starts still wakes it."""
        cursor = mailbox.baseline(datetime.now(UTC))
        _, cursor = drain(mailbox, cursor)
        deliver(message(unique("between")))
        started = time.monotonic()
        assert mailbox.wait(LONG_WAIT) is True
        assert time.monotonic() - started < PROMPT

    # -- tagging and storing -------------------------------------------------------------

    def test_untag_removes_only_that_keyword(self, mailbox: Mailbox, deliver: Deliver) -> None:
        """untag() drops one keyword and keeps the others; untagging a missing one is harmless."""
        cursor = mailbox.baseline(datetime.now(UTC))
        deliver(message(unique("untag me")))
        (first,) = drain(mailbox, cursor)[0]
        mailbox.tag(first.key, "$OooOpen")
        mailbox.tag(first.key, "$OooReplied")
        mailbox.untag(first.key, "$OooOpen")
        mailbox.untag(first.key, "$OooResolved")
        assert mailbox.keywords(first.key) == {"$OooReplied"}

    def test_tag_many_and_untag_many(self, mailbox: Mailbox, deliver: Deliver) -> None:
        """tag_many/untag_many act on exactly the messages named, in one call."""
        cursor = mailbox.baseline(datetime.now(UTC))
        for i in range(3):
            deliver(message(unique(f"many {i}")))
        first, second, third = drain(mailbox, cursor)[0]
        mailbox.tag_many([first.key, third.key], "$OooOpen")
        assert mailbox.keywords(first.key) == {"$OooOpen"}
        assert mailbox.keywords(second.key) == set()
        assert mailbox.keywords(third.key) == {"$OooOpen"}
        mailbox.untag_many([first.key, third.key], "$OooOpen")
        mailbox.tag_many([], "$OooOpen")
        assert mailbox.keywords(first.key) == mailbox.keywords(third.key) == set()

    def test_tag_and_keywords_round_trip(
        self, mailbox: Mailbox, deliver: Deliver, folder_contents: FolderContents
    ) -> None:
        """A tag shows up in keywords() of that message only; tagging twice is harmless and
        does not mark the message read."""
        cursor = mailbox.baseline(datetime.now(UTC))
        deliver(message(unique("tag me")))
        deliver(message(unique("leave me")))
        first, second = drain(mailbox, cursor)[0]
        assert mailbox.keywords(first.key) == set()
        mailbox.tag(first.key, "$OooReplied")
        mailbox.tag(first.key, "$OooReplied")
        mailbox.tag(first.key, "$OooResolved")
        assert mailbox.keywords(first.key) == {"$OooReplied", "$OooResolved"}
        assert mailbox.keywords(second.key) == set()
        flags = [f for _, f in folder_contents(self.watched_folder)]
        assert "$OooReplied" in flags[0]
        assert all("\\Seen" not in f for f in flags)

    def test_append_stores_into_another_folder(
        self, mailbox: Mailbox, folder_contents: FolderContents
    ) -> None:
        """append() stores the exact bytes in the named folder (created if missing), with
        \\Seen as asked, and the watched folder does not see them."""
        cursor = mailbox.baseline(datetime.now(UTC))
        folder = f"ooo-sent-{uuid.uuid4().hex[:8]}"
        read = message(unique("sent reply"))
        unread = message(unique("unread copy"))
        mailbox.append(folder, read, seen=True)
        mailbox.append(folder, unread, seen=False)
        stored = folder_contents(folder)
        assert [raw for raw, _ in stored] == [read, unread]
        assert "\\Seen" in stored[0][1]
        assert "\\Seen" not in stored[1][1]
        assert mailbox.fetch_new(cursor).messages == []

    def test_append_many_stores_all_in_order(
        self, mailbox: Mailbox, folder_contents: FolderContents
    ) -> None:
        """append_many() stores every message, exactly and in order, in a folder it creates,
        read as asked; nothing shows up in the watched folder."""
        cursor = mailbox.baseline(datetime.now(UTC))
        folder = f"ooo-sent-{uuid.uuid4().hex[:8]}"
        raws = [message(unique(f"batch {i}")) for i in range(60)]  # more than one chunk
        mailbox.append_many(folder, raws, seen=True)
        mailbox.append_many(folder, [], seen=True)
        stored = folder_contents(folder)
        assert [raw for raw, _ in stored] == raws
        assert all("\\Seen" in flags for _, flags in stored)
        assert mailbox.fetch_new(cursor).messages == []

    # -- cursors -------------------------------------------------------------------------

    def test_stale_cursor_raises_cursor_invalid(
        self, mailbox: Mailbox, deliver: Deliver, make_cursor_stale: Callable[[], None]
    ) -> None:
        """After the folder's validity changes, an old cursor raises CursorInvalid, and a new
        baseline works."""
        cursor = mailbox.baseline(datetime.now(UTC))
        deliver(message(unique("before")))
        make_cursor_stale()
        mailbox.close()
        mailbox.open()
        with pytest.raises(CursorInvalid):
            mailbox.fetch_new(cursor)
        fresh = mailbox.baseline(datetime.now(UTC) + timedelta(days=2))
        after = unique("after")
        deliver(message(after))
        fetched, _ = drain(mailbox, fresh)
        assert subjects(fetched) == [after]

    def test_malformed_cursor_raises_cursor_invalid(self, mailbox: Mailbox) -> None:
        """A cursor the backend did not make raises CursorInvalid, not a crash."""
        for junk in ("", "garbage", "1:2:3", ":", "x:y"):
            with pytest.raises(CursorInvalid):
                mailbox.fetch_new(junk)

    #: The folder the ``mailbox`` fixture watches; subclasses may override.
    watched_folder = "INBOX"
