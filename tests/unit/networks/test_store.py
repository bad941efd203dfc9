"""The store's part for the watchers (ooo.store.social, schema migration 6): an existing
database migrates with its signals intact, posts are recorded once, threads and askers are
remembered, and the queries the runner and the report use answer as documented."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

from ooo.core.social import NetworkSignal
from ooo.store import Store
from ooo.store.schema import MIGRATIONS, SCHEMA_VERSION
from ooo.store.social import WatcherStateRecord
from tests.support.helpers import tracked
from tests.unit.networks.conftest import ARRIVED, START, AddInquiry

W = "mastodon:@bob@hachyderm.io"
REF = "OOO-7K3Q9M"


def test_a_version_5_database_migrates_and_keeps_its_signals(tmp_path: Path) -> None:
    """A state file written before the watchers (schema 5) opens at schema 6; its email
    signals read as before (no network, no link) and the new tables exist."""
    path = tmp_path / "old.db"
    db = sqlite3.connect(path, isolation_level=None)
    for version in range(1, 6):
        db.executescript(f"BEGIN;{MIGRATIONS[version]}PRAGMA user_version = {version};COMMIT;")
    db.execute(
        "INSERT INTO signal (ref, at, kind, by, rule, evidence) VALUES (?, ?, 'resolved', "
        "'sender', 'sender_says_resolved', 'RESOLVED')",
        (REF, ARRIVED.isoformat()),
    )
    db.close()
    store = tracked(Store(path))
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 6
    [signal] = store.signals(REF)
    assert (signal.rule, signal.evidence) == ("sender_says_resolved", "RESOLVED")
    assert store.network_signals() == []
    assert store.network_cursor(W) is None and store.watcher_states() == []


def test_a_post_is_recorded_once_and_its_thread_found(
    store: Store, add_inquiry: AddInquiry
) -> None:
    """record_post says False the second time; a root and every post recorded in its
    thread lead back to the inquiry; the asker is the first thread's, helpers in order."""
    add_inquiry(REF)
    with store.transaction():
        assert store.add_thread(W, root="1", ref=REF, asker="@alice@x.social", link="https://x/1",
                                started_at=ARRIVED)  # fmt: skip
        assert not store.add_thread(W, root="1", ref=REF, asker=None, link="", started_at=ARRIVED)
        for post_id, author, role in (("2", "@ana@h.io", "helper"), ("3", "@cy@h.io", "helper"),
                                      ("4", "@alice@x.social", "asker")):  # fmt: skip
            assert store.record_post(W, post_id=post_id, ref=REF, root="1", role=role,
                                     author=author, link="", created_at=ARRIVED,
                                     now=ARRIVED)  # fmt: skip
        assert not store.record_post(W, post_id="2", ref=REF, root="1", role="helper",
                                     author="@ana@h.io", link="", created_at=ARRIVED,
                                     now=ARRIVED)  # fmt: skip
    assert store.posts_seen(W, ["2", "3", "9"]) == {"2", "3"}
    assert store.thread_of_post(W, "1") == store.thread_of_post(W, "3")
    assert store.thread_of_post(W, "9") is None
    assert store.thread_of_post("bluesky:@bob.bsky.social", "1") is None
    asking = store.asking(W, REF)
    assert asking is not None and asking.asker == "@alice@x.social"
    assert asking.helpers == ("@ana@h.io", "@cy@h.io")
    assert store.asking(W, "OOO-4F6G7H") is None


def test_threads_are_read_never_read_first_and_resolved_last(
    store: Store, add_inquiry: AddInquiry
) -> None:
    """The thread never read comes first, then those of open inquiries before resolved
    ones, then the longest unread."""
    for n, ref in enumerate(("OOO-AAAAA1", "OOO-AAAAA2", "OOO-AAAAA3")):
        add_inquiry(ref)
        with store.transaction():
            store.add_thread(W, root=str(n), ref=ref, asker=None, link="", started_at=ARRIVED)
    with store.transaction():
        store.mark_thread_read(W, "0", ARRIVED)
        store.mark_thread_read(W, "1", ARRIVED + timedelta(minutes=1))
        store.add_signal(ref="OOO-AAAAA1", at=ARRIVED, kind="resolved", by="sender",
                         rule="sender_says_resolved", evidence="done")  # fmt: skip
    assert [t.root for t in store.threads_to_read(W, 3)] == ["2", "1", "0"]
    assert len(store.threads_to_read(W, 1)) == 1


def test_refs_to_search_skip_threaded_resolved_and_old_inquiries(
    store: Store, add_inquiry: AddInquiry
) -> None:
    """Only inquiries since the window's start, without a thread here, not resolved, of
    the audiences asked for; the one never searched first."""
    add_inquiry("OOO-BBBBB1")
    add_inquiry("OOO-BBBBB2", audience="internal")
    add_inquiry("OOO-BBBBB3")
    add_inquiry("OOO-BBBBB4", received_at=START - timedelta(days=1))
    add_inquiry("OOO-BBBBB5")
    with store.transaction():
        store.add_thread(W, root="1", ref="OOO-BBBBB3", asker=None, link="", started_at=ARRIVED)
        store.add_signal(ref="OOO-BBBBB5", at=ARRIVED, kind="resolved", by="network",
                         rule="network_answered", evidence="x")  # fmt: skip
        store.mark_searched(W, "OOO-BBBBB2", ARRIVED)
    assert store.refs_to_search(W, since=START, limit=5) == ["OOO-BBBBB1", "OOO-BBBBB2"]
    assert store.refs_to_search(W, since=START, limit=5, audiences={"internal"}) == ["OOO-BBBBB2"]
    assert store.refs_to_search(W, since=START, limit=5, audiences=set()) == []


def test_network_signals_carry_network_and_link(store: Store, add_inquiry: AddInquiry) -> None:
    """A signal from a post is a signal like the email ones, with its network and link; its
    event in the log says so too."""
    add_inquiry(REF)
    signal = NetworkSignal(ref=REF, at=ARRIVED, kind="resolved", by="network",
                           rule="network_answered", evidence="Restart it.", network="mastodon",
                           author="@ana@h.io", helper="@ana@h.io",
                           link="https://h.io/@ana/1")  # fmt: skip
    with store.transaction():
        store.add_network_signal(signal)
        store.add_signal(ref=REF, at=ARRIVED + timedelta(hours=1), kind="resolved",
                         by="sender", rule="sender_says_resolved", evidence="RESOLVED")  # fmt: skip
    [stored] = store.network_signals(REF)
    assert (stored.network, stored.link, stored.helper) == (
        "mastodon", "https://h.io/@ana/1", "@ana@h.io",
    )  # fmt: skip
    assert [s.rule for s in store.signals(REF)] == ["network_answered", "sender_says_resolved"]
    [event] = store.db.execute("SELECT data FROM event WHERE kind = 'signal' LIMIT 1")
    assert '"network": "mastodon"' in event[0] and '"link": "https://h.io/@ana/1"' in event[0]


def test_the_notice_lifecycle(store: Store, add_inquiry: AddInquiry) -> None:
    """An internal inquiry is to be asked until its notice is posted; a notice cut off
    mid-post is retried (a few times); posting follows its thread with no asker."""
    add_inquiry(REF, audience="internal")
    add_inquiry("OOO-CCCCC1", audience="external")
    room = "matrix:!team:corp.example"
    [row] = store.inquiries_to_ask(room, audiences={"internal"}, since=START, limit=5)
    assert row.ref == REF
    with store.transaction():
        assert store.begin_notice(room, REF, "!team:corp.example", ARRIVED).attempts == 1
    assert store.inquiries_to_ask(room, audiences={"internal"}, since=START, limit=5) != []
    with store.transaction():
        store.finish_notice(room, REF, event_id="$e1", link="https://matrix.to/x", now=ARRIVED)
    assert store.inquiries_to_ask(room, audiences={"internal"}, since=START, limit=5) == []
    notice = store.notice(room, REF)
    assert notice is not None and (notice.state, notice.event_id) == ("posted", "$e1")
    [thread] = store.network_threads(REF)
    assert (thread.root, thread.asker) == ("$e1", None)
    asking = store.asking(room, REF)
    assert asking is not None and asking.asker is None


def test_watcher_states_round_trip(store: Store) -> None:
    """What the runner records is what `ooo status` reads back."""
    state = WatcherStateRecord(watcher=W, kind="mastodon", state="backoff", last_poll=ARRIVED,
                               last_ok=None, next_poll=ARRIVED + timedelta(seconds=30),
                               attempts=1, retry_after=30.0, last_error="HTTP 503",
                               updated_at=ARRIVED)  # fmt: skip
    with store.transaction():
        store.set_watcher_state(state)
        store.set_network_cursor(W, "42", ARRIVED)
    assert store.watcher_states() == [state]
    assert store.network_cursor(W) == "42"
