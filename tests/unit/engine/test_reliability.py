"""The flood valve (``[limits] max_replies_per_hour``) on the in-memory backends: a flood is
tracked message by message, but answering stops at the limit, and status and report say so."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from ooo.config import LimitsConfig
from ooo.core.policy import INQUIRY, Reason
from ooo.engine import Engine
from ooo.report import build_report, render
from ooo.store import Store
from tests.support.cli import ooo
from tests.support.configs import write_config
from tests.support.helpers import END, INSIDE, START, Clock, make_engine, raw_message, tracked


def limited(engine: Engine, limit: int) -> Engine:
    engine.settings = replace(engine.settings, max_replies_per_hour=limit)
    return engine


def flood(engine: Engine, clock: Clock, senders: list[str], spacing: float) -> None:
    """Deliver one inquiry per sender, ``spacing`` seconds apart, syncing in batches."""
    mailbox = engine.mailbox
    for i, sender in enumerate(senders):
        clock.advance(seconds=spacing)
        mailbox.deliver(  # type: ignore[attr-defined]
            raw_message(sender=sender, subject=f"Question {i}", message_id=f"<f{i}@flood>"),
            clock.now,
        )
        if i % 500 == 499:
            engine.sync()
    engine.sync()


def test_default_valve_is_on_and_zero_turns_it_off() -> None:
    """A sane default limit ships, and 0 means no limit."""
    assert LimitsConfig().max_replies_per_hour == 120
    assert LimitsConfig(max_replies_per_hour=0).max_replies_per_hour == 0
    assert Reason.RATE_LIMITED in INQUIRY


def test_ten_thousand_senders_in_minutes_get_at_most_the_limit() -> None:
    """10,000 distinct senders within ten minutes: exactly ``limit`` replies go out, every
    other message is recorded as an inquiry (with a reference) marked rate_limited, and
    status and report say the valve tripped."""
    engine, _, transport, store, clock = make_engine()
    limited(engine, 120)
    senders = [f"person{i}@sender{i % 97}.example.net" for i in range(10_000)]
    flood(engine, clock, senders, spacing=0.06)

    assert len(transport.sent) == 120
    assert {s.recipients[0] for s in transport.sent} == set(senders[:120])
    counts = store.counts_by_reason()
    assert counts == {"reply": 120, "rate_limited": 9_880}
    facts = store.inquiry_facts()
    assert len(facts) == 10_000
    assert len({f.ref for f in facts}) == 10_000
    assert sum(f.replied for f in facts) == 120
    valve, _ = store.status()["valve"]
    assert valve.startswith("tripped: 120 replies in the last hour")

    report = build_report(
        facts,
        store.signal_events(),
        store.suppressed_counts(),
        owner_name="Bob",
        timezone=engine.settings.reply.timezone,
        window_start=START,
        window_end=END,
        at=END,
    )
    assert report.summary.total == 10_000
    assert report.suppressed == {"rate_limited": 9_880}
    assert "safety valve" in render(report, "text")


@pytest.mark.parametrize(
    "addresses",
    [
        pytest.param([f"mallory+{i}@example.org" for i in range(600)], id="plus-addresses"),
        pytest.param([f"m{i}@rotating.example.org" for i in range(600)], id="one-domain"),
    ],
)
def test_one_sender_rotating_addresses_is_stopped(addresses: list[str]) -> None:
    """One sender rotating addresses (plus-addresses, or many addresses of one domain) dodges
    the per-sender interval, but not the valve: replies stop at the limit, all tracked."""
    engine, _, transport, store, clock = make_engine()
    limited(engine, 50)
    flood(engine, clock, addresses, spacing=1.0)
    assert len(transport.sent) == 50
    assert store.counts_by_reason() == {"reply": 50, "rate_limited": 550}
    assert len(store.inquiry_facts()) == 600


def test_valve_reopens_after_an_hour_and_survives_a_restart() -> None:
    """The count is taken from the store over a sliding hour: a restarted engine keeps the
    valve shut, and an hour later it answers again and status says the valve is open."""
    engine, mailbox, transport, store, clock = make_engine()
    limited(engine, 5)
    flood(engine, clock, [f"a{i}@example.org" for i in range(8)], spacing=1.0)
    assert len(transport.sent) == 5

    again, _, _, _, _ = make_engine(store=store, mailbox=mailbox, transport=transport, clock=clock)
    limited(again, 5)
    clock.advance(seconds=1)
    mailbox.deliver(raw_message(sender="late@example.org", message_id="<late@x>"), clock.now)
    again.sync()
    assert len(transport.sent) == 5
    assert store.status()["valve"][0].startswith("tripped")

    clock.advance(hours=1)
    mailbox.deliver(raw_message(sender="later@example.org", message_id="<later@x>"), clock.now)
    again.sync()
    assert len(transport.sent) == 6
    assert store.status()["valve"][0].startswith("open again")
    assert store.counts_by_reason() == {"reply": 6, "rate_limited": 4}


def test_zero_means_no_limit() -> None:
    """max_replies_per_hour = 0 answers every distinct sender."""
    engine, _, transport, store, clock = make_engine()
    limited(engine, 0)
    flood(engine, clock, [f"b{i}@example.org" for i in range(300)], spacing=0.1)
    assert len(transport.sent) == 300
    assert "valve" not in store.status()


def test_replies_since_uses_an_index() -> None:
    """The valve's count is an index range scan, not a table scan (it runs per message)."""
    _, _, _, store, _ = make_engine()
    plan = store.db.execute(
        "EXPLAIN QUERY PLAN SELECT count(*) FROM reply WHERE created_at >= ? AND kind = 'reply'",
        (INSIDE.isoformat(),),
    ).fetchall()
    assert any("reply_created" in row[3] for row in plan), plan


def test_a_non_ascii_sender_is_tracked_not_answered() -> None:
    """A sender with a non-ASCII local part (RFC 6532) cannot be answered without SMTPUTF8:
    no reply is queued (it would stall the outbox), and the reason says why."""
    engine, mailbox, transport, store, clock = make_engine()
    mailbox.deliver(raw_message(sender="jürgen@example.org", message_id="<u@x>"), clock.now)
    mailbox.deliver(raw_message(sender="plain@example.org", message_id="<p@x>"), clock.now)
    engine.sync()
    assert [s.recipients for s in transport.sent] == [["plain@example.org"]]
    rows = {r.sender: (r.reason, r.detail) for r in store.messages()}
    assert rows["jürgen@example.org"][0] == "no_sender"
    assert "non-ASCII" in rows["jürgen@example.org"][1]


def test_status_and_report_commands_say_the_valve_tripped(tmp_path: Path) -> None:
    """`ooo status` prints the valve line and the rate_limited count; `ooo report` counts the
    inquiries the valve left unanswered."""
    config = write_config(tmp_path)
    store = tracked(Store(tmp_path / "state" / "state.db"))
    engine, _, _, _, clock = make_engine(store=store)
    limited(engine, 2)
    flood(engine, clock, [f"c{i}@example.org" for i in range(5)], spacing=1.0)
    store.close()

    status = ooo("status", "-c", str(config))
    assert status.returncode == 0, status.stderr
    assert "valve:    tripped: 2 replies in the last hour" in status.stdout, status.stdout
    assert "rate_limited" in status.stdout
    report = ooo("report", "-c", str(config))
    assert report.returncode == 0, report.stderr
    assert "safety valve" in report.stdout, report.stdout
