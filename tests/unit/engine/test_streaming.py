"""Streamed sending on the in-memory backends: a reply leaves as soon as its decision is
committed (not after the batch), in the engine's thread or on a bounded pool of sends, each
reply exactly once, and an outage stops the stream without losing anything."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from unittest.mock import patch

from ooo.engine import AFTER_SEND_WITHIN, TAG_REPLIED, Engine
from ooo.mailbox.base import Batch
from ooo.store import Store
from ooo.transport.memory import MemoryTransport
from tests.support.helpers import INSIDE, make_engine, raw_message

DEADLINE = 10.0  # s: a send waiting for the engine gives up after this (the test then fails)


def deliver(engine: Engine, count: int) -> list[str]:
    senders = [f"asker{i}@example.org" for i in range(count)]
    for i, sender in enumerate(senders):
        engine.mailbox.deliver(  # type: ignore[attr-defined]
            raw_message(sender=sender, subject=f"Question {i}", message_id=f"<q{i}@x>"), INSIDE
        )
    return senders


@dataclass
class WatchingTransport(MemoryTransport):
    """Notes, at each send, how many messages the engine had decided by then."""

    store: Store | None = None
    decided_at_send: list[int] = field(default_factory=list)

    def send(self, raw: bytes, envelope_from: str, recipients: list[str]) -> dict[str, str]:
        assert self.store is not None
        self.decided_at_send.append(len(self.store.messages()))
        return super().send(raw, envelope_from, recipients)


@dataclass
class ThreadedTransport(MemoryTransport):
    """Sends on the engine's worker threads; counts how many run at once."""

    concurrent_sends: int = 3
    lock: threading.Lock = field(default_factory=threading.Lock)
    running: int = 0
    most_at_once: int = 0
    threads: set[str] = field(default_factory=set)
    hold_first: threading.Event | None = None
    """If set, the first send waits for it (proof that deciding goes on meanwhile)."""
    held: bool = False

    def send(self, raw: bytes, envelope_from: str, recipients: list[str]) -> dict[str, str]:
        with self.lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
            self.threads.add(threading.current_thread().name)
            first, self.held = not self.held, True
        try:
            if first and self.hold_first is not None:
                assert self.hold_first.wait(DEADLINE), "the engine stopped deciding meanwhile"
            with self.lock:
                return super().send(raw, envelope_from, recipients)
        finally:
            with self.lock:
                self.running -= 1


def test_the_first_reply_leaves_before_the_rest_of_the_batch_is_decided() -> None:
    """Ten inquiries read in one batch: the first reply is sent right after the first decision
    is committed, not after all ten are decided."""
    transport = WatchingTransport()
    engine, _, _, store, _ = make_engine(transport=transport)
    transport.store = store
    deliver(engine, 10)
    engine.sync()
    assert transport.decided_at_send == list(range(1, 11))
    assert store.counts_by_reply_state() == {"sent": 10}


def test_replies_are_sent_on_worker_threads_while_the_next_messages_are_decided() -> None:
    """With a transport that takes several sends at once, the first send is still under way
    while the engine decides the following messages (it holds until the fifth is decided)."""
    hold = threading.Event()
    transport = ThreadedTransport(hold_first=hold)
    engine, _, _, store, _ = make_engine(transport=transport)
    decided = Counter[str]()

    def on_outcome(outcome: object) -> None:
        decided["n"] += 1
        if decided["n"] == 5:
            hold.set()

    engine.on_outcome = on_outcome
    senders = deliver(engine, 8)
    engine.sync()
    assert sorted(s.recipients[0] for s in transport.sent) == sorted(senders)
    assert store.counts_by_reply_state() == {"sent": 8}
    assert threading.current_thread().name not in transport.threads
    assert engine._pool is None  # no thread outlives the pass


def test_the_pool_sends_each_reply_once_and_never_more_at_once_than_allowed() -> None:
    """300 inquiries through a pool of three sends: every sender gets exactly one reply, at
    most three sends run at once, and every reply ends ``sent``."""
    transport = ThreadedTransport(concurrent_sends=3)
    engine, _, _, store, _ = make_engine(transport=transport)
    engine.settings = replace(engine.settings, max_replies_per_hour=0)  # a flood by design
    senders = deliver(engine, 300)
    engine.sync()
    engine.flush()
    assert Counter(s.recipients[0] for s in transport.sent) == Counter(senders)
    assert 1 <= transport.most_at_once <= 3
    assert store.counts_by_reply_state() == {"sent": 300}
    assert store.counts_by_reason() == {"reply": 300}


def test_an_outage_stops_the_stream_and_keeps_every_reply_queued() -> None:
    """The transport is down: the pool tries no more than it has sessions, every reply stays
    queued with the error shown, and once it is back each goes out exactly once."""
    transport = ThreadedTransport(concurrent_sends=2, available=False)
    engine, _, _, store, clock = make_engine(transport=transport)
    senders = deliver(engine, 20)
    engine.sync()
    assert store.counts_by_reply_state() == {"queued": 20}
    assert "switched off" in store.status()["last_error"][0]
    transport.available = True
    clock.advance(minutes=5)
    engine.flush()
    assert Counter(s.recipients[0] for s in transport.sent) == Counter(senders)
    assert store.counts_by_reply_state() == {"sent": 20}


def test_the_flood_valve_holds_while_streaming() -> None:
    """Streaming changes nothing to the valve: with a limit of 5 an hour, 5 of 30 inquiries
    are answered and the rest are tracked as rate_limited."""
    transport = ThreadedTransport(concurrent_sends=2)
    engine, _, _, store, _ = make_engine(transport=transport)
    engine.settings = replace(engine.settings, max_replies_per_hour=5)
    deliver(engine, 30)
    engine.sync()
    assert len(transport.sent) == 5
    assert store.counts_by_reason() == {"reply": 5, "rate_limited": 25}


def test_the_first_fetch_of_a_pass_is_small_then_batch_size() -> None:
    """A pass reads 10 messages first (the first reply does not wait for a whole batch to be
    fetched and parsed), then ``batch_size`` at a time until a read finds nothing new; all
    250 are answered once."""
    engine, mailbox, transport, store, _ = make_engine()
    engine.settings = replace(engine.settings, max_replies_per_hour=0)
    limits: list[int] = []
    fetch = mailbox.fetch_new

    def recording(cursor: str, limit: int = 100) -> Batch:
        limits.append(limit)
        return fetch(cursor, limit)

    mailbox.fetch_new = recording  # type: ignore[method-assign]
    senders = deliver(engine, 250)
    engine.sync()
    assert limits == [10, 100, 100, 100, 100]
    assert Counter(s.recipients[0] for s in transport.sent) == Counter(senders)
    assert store.counts_by_reason() == {"reply": 250}


def test_mail_arriving_during_a_pass_is_answered_in_the_same_pass() -> None:
    """A burst still arriving while the engine works: each read brings a few more messages,
    and one sync answers them all (it reads again until nothing is new, rather than waiting
    for the mailbox's next notice)."""
    engine, mailbox, transport, store, _ = make_engine()
    engine.settings = replace(engine.settings, max_replies_per_hour=0)
    fetch = mailbox.fetch_new
    arriving = iter(range(3, 12))

    def fetch_while_mail_arrives(cursor: str, limit: int = 100) -> Batch:
        batch = fetch(cursor, limit)
        for i in (next(arriving, None), next(arriving, None)):
            if i is not None:
                mailbox.deliver(
                    raw_message(sender=f"late{i}@example.org", message_id=f"<late{i}@x>"),
                    INSIDE,
                )
        return batch

    mailbox.fetch_new = fetch_while_mail_arrives  # type: ignore[method-assign]
    deliver(engine, 3)
    engine.sync()
    assert len(transport.sent) == 12
    assert store.counts_by_reason() == {"reply": 12}


def test_tags_and_sent_copies_wait_for_the_end_of_a_short_pass() -> None:
    """Replies are tagged together: 30 replies in one pass cost one STORE, not one per
    batch or per reply."""
    engine, mailbox, _, _, _ = make_engine()
    stores: list[int] = []
    tag_many = mailbox.tag_many

    def counting(keys: Sequence[str], keyword: str) -> None:
        if keyword == TAG_REPLIED:
            stores.append(len(keys))
        tag_many(keys, keyword)

    mailbox.tag_many = counting  # type: ignore[method-assign]
    deliver(engine, 30)
    engine.sync()
    assert stores == [30]


def deferring_engine() -> tuple[Engine, list[int], list[int]]:
    """An engine that keeps its after-send work for a quiet moment (as the daemon's does),
    with a Sent folder; the sizes of its STOREs of TAG_REPLIED and of its APPENDs to Sent."""
    engine, mailbox, _, _, _ = make_engine()
    engine.settings = replace(engine.settings, sent_folder="Sent")
    engine.defer_after_send = True
    stores: list[int] = []
    appends: list[int] = []
    tag_many, append_many = mailbox.tag_many, mailbox.append_many

    def counting_tags(keys: Sequence[str], keyword: str) -> None:
        if keyword == TAG_REPLIED:
            stores.append(len(keys))
        tag_many(keys, keyword)

    def counting_appends(folder: str, raws: Sequence[bytes], seen: bool = True) -> None:
        appends.append(len(raws))
        append_many(folder, raws, seen)

    mailbox.tag_many = counting_tags  # type: ignore[method-assign]
    mailbox.append_many = counting_appends  # type: ignore[method-assign]
    return engine, stores, appends


def test_a_pass_that_read_mail_keeps_tags_and_sent_copies_for_a_quiet_pass() -> None:
    """With defer_after_send (the daemon), a burst's passes tag nothing and append nothing
    until a pass reads no mail: then one STORE and one APPEND cover every reply so far."""
    engine, stores, appends = deferring_engine()
    deliver(engine, 20)
    engine.sync()
    assert len(engine.transport.sent) == 20  # type: ignore[attr-defined]
    assert stores == [] and appends == [] and engine.after_send_pending()
    for i in range(20, 25):  # the burst goes on
        engine.mailbox.deliver(  # type: ignore[attr-defined]
            raw_message(sender=f"late{i}@example.org", message_id=f"<l{i}@x>"), INSIDE
        )
    engine.sync()
    assert stores == [] and appends == []
    engine.sync()  # nothing new: the quiet moment
    assert stores == [25] and appends == [25] and not engine.after_send_pending()
    assert len(engine.mailbox.folder_messages("Sent")) == 25  # type: ignore[attr-defined]


def test_kept_after_send_work_is_done_after_at_most_a_while_or_many_replies() -> None:
    """Mail that never stops does not hold the tags and Sent copies back for longer than
    AFTER_SEND_WITHIN, nor for more than AFTER_SEND_EVERY replies."""
    engine, stores, appends = deferring_engine()
    clock = engine.clock
    deliver(engine, 3)
    engine.sync()
    assert stores == []
    clock.advance(seconds=AFTER_SEND_WITHIN.total_seconds())  # type: ignore[attr-defined]
    engine.mailbox.deliver(raw_message(sender="next@example.org", message_id="<n@x>"), INSIDE)  # type: ignore[attr-defined]
    engine.sync()
    assert stores == [4] and appends == [4]
    with patch("ooo.engine.AFTER_SEND_EVERY", 5):
        for i in range(12):
            engine.mailbox.deliver(  # type: ignore[attr-defined]
                raw_message(sender=f"more{i}@example.org", message_id=f"<m{i}@x>"), INSIDE
            )
        engine.sync()
    # Checked after each fetch: the first (10 messages) reached the bound; its 10 went at
    # once, the last 2 wait for a quiet pass.
    assert stores[1:] == [10] and appends[1:] == [10] and engine.after_send_pending()


def test_after_send_does_the_kept_work_now() -> None:
    """after_send() (the daemon's stop, or a reload) does whatever is kept, at once."""
    engine, stores, appends = deferring_engine()
    deliver(engine, 4)
    engine.sync()
    engine.after_send()
    assert stores == [4] and appends == [4] and not engine.after_send_pending()
    engine.after_send()  # nothing left: nothing done
    assert stores == [4]
