"""The engine on the in-memory backends: once per inquiry, restart safety, outages, dry runs."""

from __future__ import annotations

import email
import email.policy
from datetime import timedelta
from pathlib import Path

from ooo.engine import TAG_REPLIED, TAG_SKIPPED, retry_delay
from ooo.store import Store
from ooo.transport.memory import MemoryTransport
from tests.support.helpers import INSIDE, OWNER, START, Clock, make_engine, raw_message, tracked


def parsed(raw: bytes) -> email.message.EmailMessage:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, email.message.EmailMessage)
    return msg


def test_answers_an_inquiry_once_with_threading_headers() -> None:
    """One inquiry -> one reply to the sender, threaded and marked as automatic."""
    engine, mailbox, transport, store, _ = make_engine()
    mailbox.deliver(raw_message(message_id="<q1@example.org>"), INSIDE)
    engine.sync()
    assert len(transport.sent) == 1
    sent = transport.sent[0]
    assert sent.recipients == ["alice@example.org"]
    assert sent.envelope_from == ""  # RFC 3834 §3.3: null envelope sender
    reply = parsed(sent.raw)
    assert reply["To"] == "alice@example.org"
    assert reply["From"] == f"Bob Example <{OWNER}>"
    assert reply["Subject"] == "Auto: A question"
    assert reply["In-Reply-To"] == "<q1@example.org>"
    assert reply["References"] == "<q1@example.org>"
    assert reply["Auto-Submitted"] == "auto-replied"
    assert reply["X-Auto-Response-Suppress"] == "All"
    assert store.counts_by_reply_state() == {"sent": 1}
    assert TAG_REPLIED in mailbox.messages[0].keywords
    engine.sync()
    assert len(transport.sent) == 1


def test_a_sender_who_writes_twice_gets_one_reply() -> None:
    """The second message within the interval is recorded as already_replied."""
    engine, mailbox, transport, store, clock = make_engine()
    mailbox.deliver(raw_message(message_id="<a@x>"), INSIDE)
    engine.sync()
    clock.advance(hours=5)
    mailbox.deliver(raw_message(message_id="<b@x>", subject="Something else"), clock.now)
    engine.sync()
    assert len(transport.sent) == 1
    assert store.counts_by_reason() == {"reply": 1, "already_replied": 1}
    assert TAG_SKIPPED in mailbox.messages[1].keywords


def test_first_start_baselines_at_the_away_window() -> None:
    """Mail from before away.start is not answered on the first start, and not even read."""
    engine, mailbox, transport, store, _ = make_engine()
    mailbox.deliver(raw_message(message_id="<old@x>"), START - timedelta(days=2))
    mailbox.deliver(raw_message(sender="carol@x.org", message_id="<new@x>"), INSIDE)
    engine.sync()
    assert [m.message_id for m in store.messages()] == ["<new@x>"]
    assert len(transport.sent) == 1


def test_restart_neither_loses_nor_repeats(tmp_path: Path) -> None:
    """A new engine on the same state file catches up from the cursor, answering only new mail."""
    db = tmp_path / "state.db"
    engine, mailbox, transport, store, clock = make_engine(store=tracked(Store(db)))
    mailbox.deliver(raw_message(sender="a@x.org", message_id="<1@x>"), INSIDE)
    engine.sync()
    store.close()
    # "down" while two more arrive
    mailbox.deliver(raw_message(sender="b@x.org", message_id="<2@x>"), INSIDE)
    mailbox.deliver(raw_message(sender="a@x.org", message_id="<3@x>"), INSIDE)
    engine2, *_ = make_engine(
        store=tracked(Store(db)), mailbox=mailbox, transport=transport, clock=clock
    )
    engine2.sync()
    assert [s.recipients[0] for s in transport.sent] == ["a@x.org", "b@x.org"]


def test_a_replayed_batch_is_recognised(tmp_path: Path) -> None:
    """A crash after decisions but before the cursor moved replays the batch: no new replies."""
    db = tmp_path / "state.db"
    engine, mailbox, transport, store, clock = make_engine(store=tracked(Store(db)))
    for i in range(5):
        mailbox.deliver(raw_message(sender=f"s{i}@x.org", message_id=f"<{i}@x>"), INSIDE)
    engine.sync()
    # Roll the cursor back as if the batch's cursor commit had never happened.
    with store.transaction():
        store.set_cursor("memory:test/INBOX", f"{mailbox.validity}:0", clock())
    engine.sync()
    assert len(transport.sent) == 5
    assert len(store.messages()) == 5


def test_a_send_cut_off_by_a_crash_is_uncertain_not_resent(tmp_path: Path) -> None:
    """A reply left in 'sending' by a crash is never sent again and is reported as uncertain."""
    db = tmp_path / "state.db"
    transport = MemoryTransport(available=False)
    engine, mailbox, _, store, clock = make_engine(store=tracked(Store(db)), transport=transport)
    mailbox.deliver(raw_message(), INSIDE)
    engine.sync()  # queued; the send failed and was kept queued
    item = store.due_replies(clock.now + timedelta(hours=1))[0]
    with store.transaction():
        store.set_reply_state(item.id, "sending", clock.now)  # the crash happened right here
    store.close()
    transport.available = True
    engine2, *_ = make_engine(
        store=tracked(Store(db)), mailbox=mailbox, transport=transport, clock=clock
    )
    assert engine2.recover() == 1
    clock.advance(hours=2)
    engine2.flush()
    assert transport.sent == []
    assert engine2.store.counts_by_reply_state() == {"uncertain": 1}


def test_smtp_outage_keeps_replies_queued_and_sends_each_once() -> None:
    """While the transport is down replies wait with backoff; afterwards each goes out once."""
    transport = MemoryTransport(available=False)
    engine, mailbox, _, store, clock = make_engine(transport=transport)
    for i in range(3):
        mailbox.deliver(raw_message(sender=f"s{i}@x.org", message_id=f"<{i}@x>"), INSIDE)
    engine.sync()
    assert store.counts_by_reply_state() == {"queued": 3}
    assert "memory transport is switched off" in store.status()["last_error"][0]
    transport.available = True
    engine.flush()  # not due yet: backoff
    assert transport.sent == []
    clock.advance(minutes=1)
    engine.flush()
    engine.flush()
    assert sorted(s.recipients[0] for s in transport.sent) == ["s0@x.org", "s1@x.org", "s2@x.org"]


def test_retry_delay_is_capped_exponential_with_jitter() -> None:
    """Retry delays double from 15 s up to 15 min, within ±25 %."""
    assert retry_delay(1, lambda: 0.5) == timedelta(seconds=15)
    assert retry_delay(3, lambda: 0.5) == timedelta(seconds=60)
    assert retry_delay(30, lambda: 0.5) == timedelta(seconds=900)
    assert retry_delay(1, lambda: 0.0) == timedelta(seconds=15 * 0.75)


def test_dry_run_sends_nothing_and_changes_nothing(tmp_path: Path) -> None:
    """--dry-run decides against the real history but leaves the state and mailbox untouched."""
    db = tmp_path / "state.db"
    real = tracked(Store(db))
    engine, mailbox, transport, _, _ = make_engine(store=real.snapshot(), dry_run=True)
    mailbox.deliver(raw_message(), INSIDE)
    engine.sync()
    assert transport.sent == []
    assert mailbox.messages[0].keywords == set()
    assert engine.store.counts_by_reason() == {"reply": 1}
    assert real.counts_by_reason() == {}


def test_uidvalidity_change_rebaselines_without_answering_twice() -> None:
    """A stale cursor starts again from the window; mail already handled is recognised."""
    engine, mailbox, transport, store, _ = make_engine()
    mailbox.deliver(raw_message(message_id="<same@x>"), INSIDE)
    engine.sync()
    mailbox.reset_validity()
    mailbox.deliver(raw_message(sender="z@x.org", message_id="<new@x>"), INSIDE)
    engine.sync()
    assert [s.recipients[0] for s in transport.sent] == ["alice@example.org", "z@x.org"]
    # Re-read under its new key, the first message keeps its decision: it is not decided again
    # and not counted as a duplicate (the probe found the report counting such messages).
    assert store.counts_by_reason() == {"reply": 2}
    first = next(r for r in store.messages() if r.message_id == "<same@x>")
    assert first.epoch == 1
    assert TAG_REPLIED in mailbox.keywords(first.key)


def test_a_message_that_breaks_the_engine_is_recorded_and_skipped(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """An unexpected error on one message is logged and recorded; the next one is answered."""
    engine, mailbox, transport, store, _ = make_engine()
    original = engine.renderer.render

    def explode(name: str, context: dict[str, object]) -> str:
        if "boom" in str(context["subject"]):
            raise RuntimeError("template exploded")
        return original(name, context)

    monkeypatch.setattr(engine.renderer, "render", explode)
    mailbox.deliver(raw_message(subject="boom", message_id="<1@x>"), INSIDE)
    mailbox.deliver(raw_message(sender="c@x.org", message_id="<2@x>"), INSIDE)
    engine.sync()
    assert store.counts_by_reason() == {"internal_error": 1, "reply": 1}
    assert [s.recipients[0] for s in transport.sent] == ["c@x.org"]


def test_state_files_are_private(tmp_path: Path) -> None:
    """The state database and event log are created with mode 0600."""
    store = tracked(Store(tmp_path / "s" / "state.db", event_log=tmp_path / "s" / "events.jsonl"))
    with store.transaction():
        store.event("hello", INSIDE, x=1)
    for name in ("state.db", "events.jsonl"):
        assert (tmp_path / "s" / name).stat().st_mode & 0o777 == 0o600
    assert '"event": "hello"' in (tmp_path / "s" / "events.jsonl").read_text()


def test_clock_is_injected() -> None:
    """Decisions use the engine's clock, not the wall clock."""
    clock = Clock(INSIDE + timedelta(days=3))
    engine, mailbox, _, store, _ = make_engine(clock=clock)
    mailbox.deliver(raw_message(), INSIDE)
    engine.sync()
    assert store.messages()[0].decided_at.isoformat().startswith("2026-12-25T10:00")
