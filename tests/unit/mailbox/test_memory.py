"""The in-memory mailbox: the contract, plus the knobs tests use to simulate a server."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ooo.mailbox.base import CursorInvalid, MailboxAuthError, MailboxUnavailable
from ooo.mailbox.memory import MemoryMailbox, split_message
from tests.support.mailbox_contract import (
    PROMPT,
    Deliver,
    FolderContents,
    MailboxContract,
    Store,
    message,
)


@pytest.fixture
def memory() -> Iterator[MemoryMailbox]:
    box = MemoryMailbox()
    box.open()
    yield box
    box.close()


class TestMemoryMailbox(MailboxContract):
    """MemoryMailbox passes the backend contract."""

    @pytest.fixture
    def mailbox(self, memory: MemoryMailbox) -> MemoryMailbox:
        return memory

    @pytest.fixture
    def deliver(self, memory: MemoryMailbox) -> Deliver:
        def deliver(raw: bytes) -> None:
            memory.deliver(raw)

        return deliver

    @pytest.fixture
    def store(self, memory: MemoryMailbox) -> Store:
        def store(raw: bytes, received_at: datetime | None) -> None:
            memory.deliver(raw, received_at)

        return store

    @pytest.fixture
    def folder_contents(self, memory: MemoryMailbox) -> FolderContents:
        def contents(folder: str) -> list[tuple[bytes, frozenset[str]]]:
            return [(m.raw, frozenset(m.flags)) for m in memory.folder_messages(folder)]

        return contents

    @pytest.fixture
    def make_cursor_stale(self, memory: MemoryMailbox) -> Callable[[], None]:
        return memory.reset_validity

    @pytest.fixture
    def wrong_password_mailbox(self) -> MemoryMailbox:
        return MemoryMailbox(credentials_valid=False)

    @pytest.fixture
    def unreachable_mailbox(self) -> MemoryMailbox:
        box = MemoryMailbox()
        box.available = False
        return box


def test_keys_increase_like_uids(memory: MemoryMailbox) -> None:
    """deliver() returns increasing integer keys, and fetched messages carry them."""
    keys = [memory.deliver(message(f"m{i}")) for i in range(3)]
    assert [int(k) for k in keys] == sorted(int(k) for k in keys)
    assert len(set(keys)) == 3
    batch = memory.fetch_new(memory.baseline(datetime.now(UTC) - timedelta(days=1)))
    assert [m.key for m in batch.messages] == keys


def test_received_at_is_kept(memory: MemoryMailbox) -> None:
    """A delivery's received_at comes back in fetch_new unchanged."""
    when = datetime(2026, 12, 22, 10, 0, tzinfo=UTC)
    memory.deliver(message("dated"), received_at=when)
    (msg,) = memory.fetch_new(memory.baseline(when)).messages
    assert msg.received_at == when


def test_outage_drops_the_connection_until_reopened(memory: MemoryMailbox) -> None:
    """While unavailable, every operation raises MailboxUnavailable; once back up, the
    mailbox must be opened again, and the old cursor still applies."""
    cursor = memory.baseline(datetime.now(UTC))
    memory.available = False
    with pytest.raises(MailboxUnavailable):
        memory.fetch_new(cursor)
    with pytest.raises(MailboxUnavailable):
        memory.open()
    memory.deliver(message("during outage"))
    memory.available = True
    with pytest.raises(MailboxUnavailable):
        memory.wait(0)
    memory.open()
    assert len(memory.fetch_new(cursor).messages) == 1
    assert memory.open_count == 2


def test_outage_interrupts_a_blocked_wait(memory: MemoryMailbox) -> None:
    """A wait() blocked in another thread raises MailboxUnavailable as soon as the server
    goes away, not at its timeout."""
    drained = memory.fetch_new(memory.baseline(datetime.now(UTC)))
    assert drained.messages == []
    outcome: list[BaseException | bool] = []

    def waiter() -> None:
        try:
            outcome.append(memory.wait(60))
        except MailboxUnavailable as exc:
            outcome.append(exc)

    thread = threading.Thread(target=waiter)
    started = time.monotonic()
    thread.start()
    memory.available = False
    thread.join(PROMPT)
    assert not thread.is_alive()
    assert isinstance(outcome[0], MailboxUnavailable)
    assert time.monotonic() - started < PROMPT


def test_fail_next_injects_failures(memory: MemoryMailbox) -> None:
    """fail_next(n) makes the next n operations fail; MailboxUnavailable also disconnects."""
    cursor = memory.baseline(datetime.now(UTC))
    memory.fail_next(2)
    with pytest.raises(MailboxUnavailable):
        memory.fetch_new(cursor)
    with pytest.raises(MailboxUnavailable):
        memory.open()
    memory.open()
    assert memory.fetch_new(cursor).messages == []
    memory.close()
    memory.fail_next(1, MailboxAuthError("password changed"))
    with pytest.raises(MailboxAuthError):
        memory.open()
    memory.open()


def test_reset_validity_invalidates_only_old_cursors(memory: MemoryMailbox) -> None:
    """After reset_validity(), old cursors raise CursorInvalid and new baselines work."""
    old = memory.baseline(datetime.now(UTC))
    memory.reset_validity()
    with pytest.raises(CursorInvalid):
        memory.fetch_new(old)
    memory.deliver(message("new"))
    assert len(memory.fetch_new(memory.baseline(datetime.now(UTC) - timedelta(days=1))).messages)


def test_wait_blocks_without_spinning(memory: MemoryMailbox) -> None:
    """A wait() with nothing to report sleeps on its condition: it uses almost no CPU."""
    memory.fetch_new(memory.baseline(datetime.now(UTC)))
    cpu = time.process_time()
    assert memory.wait(0.5) is False
    assert time.process_time() - cpu < 0.1


def test_operations_need_an_open_mailbox() -> None:
    """Before open() (or after close()), operations raise MailboxUnavailable, like a dropped
    connection, so an engine that forgets to reconnect notices."""
    box = MemoryMailbox()
    with pytest.raises(MailboxUnavailable):
        box.baseline(datetime.now(UTC))
    with pytest.raises(MailboxUnavailable):
        box.wait(0)


@pytest.mark.parametrize(
    ("raw", "headers", "body"),
    [
        (b"A: 1\r\n\r\nbody", b"A: 1\r\n\r\n", b"body"),
        (b"A: 1\n\nbody\n\nmore", b"A: 1\n\n", b"body\n\nmore"),
        (b"A: 1\r\n", b"A: 1\r\n", b""),
        (b"A: 1\n\nx\r\n\r\ny", b"A: 1\n\n", b"x\r\n\r\ny"),
        (b"", b"", b""),
    ],
)
def test_split_message(raw: bytes, headers: bytes, body: bytes) -> None:
    """The header block ends at the first blank line (CRLF or LF) and keeps it, like
    IMAP BODY[HEADER]; a message with no blank line is all header."""
    assert split_message(raw) == (headers, body)


# -- several folders -------------------------------------------------------------------------


@pytest.fixture
def several() -> Iterator[MemoryMailbox]:
    box = MemoryMailbox(folders=["INBOX", "Clients/*"])
    box.create_folder("Clients/acme")
    box.open()
    yield box
    box.close()


class TestMemoryMailboxSeveralFolders(MailboxContract):
    """MemoryMailbox watching INBOX and Clients/* passes the contract, mail in Clients/acme."""

    watched_folder = "Clients/acme"

    @pytest.fixture
    def mailbox(self, several: MemoryMailbox) -> MemoryMailbox:
        return several

    @pytest.fixture
    def deliver(self, several: MemoryMailbox) -> Deliver:
        def deliver(raw: bytes) -> None:
            several.deliver(raw, folder="Clients/acme")

        return deliver

    @pytest.fixture
    def store(self, several: MemoryMailbox) -> Store:
        def store(raw: bytes, received_at: datetime | None) -> None:
            several.deliver(raw, received_at, folder="Clients/acme")

        return store

    @pytest.fixture
    def folder_contents(self, several: MemoryMailbox) -> FolderContents:
        def contents(folder: str) -> list[tuple[bytes, frozenset[str]]]:
            return [(m.raw, frozenset(m.flags)) for m in several.folder_messages(folder)]

        return contents

    @pytest.fixture
    def make_cursor_stale(self, several: MemoryMailbox) -> Callable[[], None]:
        return lambda: several.reset_validity("Clients/acme")

    @pytest.fixture
    def wrong_password_mailbox(self) -> MemoryMailbox:
        return MemoryMailbox(folders=["INBOX", "Clients/*"], credentials_valid=False)

    @pytest.fixture
    def unreachable_mailbox(self) -> MemoryMailbox:
        box = MemoryMailbox(folders=["INBOX", "Clients/*"])
        box.available = False
        return box


def test_several_folders_keys_name_their_folder(several: MemoryMailbox) -> None:
    """With several folders, keys are "FOLDER:KEY" and tags land on the right folder's
    message."""
    cursor = several.baseline(datetime.now(UTC) - timedelta(days=1))
    inbox = several.deliver(message("in inbox"))
    acme = several.deliver(message("filed"), folder="Clients/acme")
    batch = several.fetch_new(cursor)
    assert [m.key for m in batch.messages] == [inbox, acme]
    assert acme.startswith("Clients/acme:") and inbox.startswith("INBOX:")
    several.tag(acme, "$OooReplied")
    assert several.keywords(acme) == {"$OooReplied"}
    assert several.keywords(inbox) == set()


def test_sent_drafts_trash_junk_are_never_watched() -> None:
    """A pattern matching everything leaves the owner's Sent, Drafts, Trash and Junk out."""
    box = MemoryMailbox(folders=["*"])
    for name in ("Sent", "Drafts", "Trash", "Junk", "Clients/acme"):
        box.create_folder(name)
    with box:
        watching = box.watching()
        cursor = box.baseline(datetime.now(UTC) - timedelta(days=1))
        box.deliver(message("copy of a reply"), folder="Sent")
        box.deliver(message("question"), folder="Clients/acme")
        assert [m.key.split(":")[0] for m in box.fetch_new(cursor).messages] == ["Clients/acme"]
    assert set(watching.folders) == {"INBOX", "Clients/acme"}
    assert len(watching.skipped) == 4


def test_a_pattern_matching_nothing_is_logged_and_the_rest_watched(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A pattern that matches no folder is an error in the log naming it; the other folders
    are still read."""
    box = MemoryMailbox(folders=["INBOX", "Projects/*"])
    with caplog.at_level("ERROR", logger="ooo"), box:
        cursor = box.baseline(datetime.now(UTC) - timedelta(days=1))
        box.deliver(message("still read"))
        assert len(box.fetch_new(cursor).messages) == 1
        assert box.watching().problems == (
            "mailbox.folders: 'Projects/*' matches no folder in memory",
        )
    assert "'Projects/*' matches no folder" in caplog.text


def test_one_renumbered_folder_keeps_the_others_place(several: MemoryMailbox) -> None:
    """When one folder's validity changes, the re-baseline keeps the other folders where they
    were: their mail is not read again."""
    since = datetime.now(UTC) - timedelta(days=1)
    several.deliver(message("inbox mail"))
    several.deliver(message("acme mail"), folder="Clients/acme")
    _, cursor = drain_all(several, several.baseline(since))
    several.reset_validity("Clients/acme")
    with pytest.raises(CursorInvalid):
        several.fetch_new(cursor)
    fresh = several.baseline(since)
    again, _ = drain_all(several, fresh)
    assert [m.key.split(":")[0] for m in again] == ["Clients/acme"]


def test_a_folder_appearing_later_is_read_from_the_baseline(several: MemoryMailbox) -> None:
    """A folder created under a watched pattern after the baseline is read from the
    baseline's start, without a reconnect."""
    cursor = several.baseline(datetime.now(UTC) - timedelta(days=1))
    several.create_folder("Clients/beta")
    key = several.deliver(message("new client"), folder="Clients/beta")
    assert [m.key for m in several.fetch_new(cursor).messages] == [key]


def drain_all(box: MemoryMailbox, cursor: str) -> tuple[list[Any], str]:
    found: list[Any] = []
    while True:
        batch = box.fetch_new(cursor)
        found += batch.messages
        if batch.cursor == cursor:
            return found, cursor
        cursor = batch.cursor
