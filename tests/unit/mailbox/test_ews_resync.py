"""The engine on an Exchange mailbox whose sync state the server rejects: after the resync the
re-read messages are the same messages, not new ones (exchangelib's real client stack against
tests/ews_server.py, the real engine, a SQLite store)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ooo.store import Store as StateStore
from tests.support.ews_server import NS, EwsServer
from tests.support.exchange import exchange_engine
from tests.support.helpers import INSIDE, Clock, raw_message

ANSWERED = {"ooo: replied", "ooo: open", "ooo: resolved"}

#: What is in the inbox when the sync state is rejected: (sender, Message-ID) per message.
INBOXES: dict[str, list[tuple[str, str | None]]] = {
    "distinct message ids": [
        ("asker0@example.org", "<q0@example.org>"),
        ("asker1@example.org", "<q1@example.org>"),
        ("asker2@example.org", "<q2@example.org>"),
    ],
    # A second copy of one message (decided duplicate_message the first time, rightly).
    "a second copy": [
        ("asker0@example.org", "<q0@example.org>"),
        ("asker0@example.org", "<q0@example.org>"),
        ("asker1@example.org", "<q1@example.org>"),
    ],
    # Answered, though it has no Message-ID to be recognised by; its Exchange item id is the
    # same before and after the resync.
    "no Message-ID": [
        ("asker0@example.org", None),
        ("asker1@example.org", "<q1@example.org>"),
    ],
}


@pytest.fixture
def ews() -> Iterator[EwsServer]:
    server = EwsServer(stream_seconds=1.0).start()
    yield server
    server.stop()


def sent(server: EwsServer) -> list[str]:
    return sorted(
        a.text or ""
        for r in server.calls("CreateItem")
        if b'"SendAndSaveCopy"' in r.body
        for a in r.findall(".//t:ToRecipients/t:Mailbox/t:EmailAddress")
    )


@pytest.mark.parametrize(
    "inbox",
    [
        "distinct message ids",
        "a second copy",
        "no Message-ID",
    ],
)
def test_messages_re_read_after_a_rejected_sync_state_are_the_same_messages(
    ews: EwsServer, tmp_path: Path, inbox: str
) -> None:
    """Probe finding: after the server rejects the stored sync state
    (ErrorInvalidSyncStateData) and ooo takes a fresh baseline, every message of the away
    window is read again. They are the messages already decided: no new decision is counted
    (no new duplicate_message in the report), nothing is sent twice, and every message keeps
    its categories; an answered one keeps "ooo: replied" (and open/resolved), never gets
    "ooo: skipped"."""
    clock = Clock()
    store = StateStore(tmp_path / "state.sqlite")
    engine, box = exchange_engine(ews, store, clock)
    try:
        engine.sync()  # first start: the baseline
        for sender, message_id in INBOXES[inbox]:
            ews.deliver(raw_message(sender=sender, message_id=message_id), INSIDE)
        engine.sync()
        replies = sent(ews)
        assert replies == sorted({sender for sender, _ in INBOXES[inbox]})
        reasons = store.counts_by_reason()
        categories = {item.id: sorted(item.categories) for item in ews.contents("inbox")}
        answered = {key for key, cats in categories.items() if ANSWERED & set(cats)}
        assert len(answered) == len(replies)

        ews.invalidate_sync_states()
        clock.advance(minutes=5)
        syncs = len(ews.calls("SyncFolderItems"))
        engine.sync()
        # The stored state was rejected, and a baseline (a sync without state) was taken.
        assert any(
            r.element.findtext("m:SyncFolderItems/m:SyncState", None, NS) is None
            for r in ews.calls("SyncFolderItems")[syncs:]
        )
        assert store.counts_by_reason() == reasons
        assert sent(ews) == replies
        assert store.counts_by_reply_state() == {"sent": len(replies)}
        after = {item.id: sorted(item.categories) for item in ews.contents("inbox")}
        for key in answered:
            assert "ooo: skipped" not in after[key], after[key]
            assert ANSWERED & set(after[key]), after[key]
        assert after == categories
    finally:
        box.close()
        store.db.close()
