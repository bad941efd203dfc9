"""The daemon loop on the in-memory backends: the away window, reconnecting, stopping."""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from ooo import daemon as daemon_module
from ooo.config import Config
from ooo.daemon import Daemon
from ooo.engine import TAG_REPLIED
from ooo.mailbox.memory import MemoryMailbox
from ooo.store import Store
from ooo.transport.memory import MemoryTransport
from tests.support.configs import GOOD_END, GOOD_START, daemon_config
from tests.support.helpers import INSIDE, Clock, make_engine, raw_message, tracked
from tests.support.responder import wait_for


def test_before_the_window_once_does_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Armed: before away.start, --once reads nothing and says when it will start."""
    mailbox = MemoryMailbox()
    mailbox.deliver(raw_message(), GOOD_START - timedelta(hours=2))
    store = tracked(Store(tmp_path / "state.db"))
    d = Daemon(
        daemon_config(tmp_path),
        once=True,
        clock=Clock(GOOD_START - timedelta(hours=1)),
        mailbox=mailbox,
        transport=MemoryTransport(),
        store=store,
    )
    caplog.set_level("INFO", logger="ooo")
    assert d.run() == 0
    assert "armed: the away window starts 2026-12-20T00:00:00+01:00" in caplog.text
    assert store.messages() == []


def test_after_the_window_it_stops_and_points_to_the_report(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """After away.end no new mail is answered; the log points to `ooo report`."""
    mailbox = MemoryMailbox()
    mailbox.deliver(raw_message(), GOOD_END + timedelta(minutes=1))
    transport = MemoryTransport()
    store = tracked(Store(tmp_path / "state.db"))
    d = Daemon(
        daemon_config(tmp_path),
        clock=Clock(GOOD_END + timedelta(hours=1)),
        mailbox=mailbox,
        transport=transport,
        store=store,
    )
    caplog.set_level("INFO", logger="ooo")
    assert d.run() == 0
    assert transport.sent == []
    assert "Run `ooo report`" in caplog.text
    assert store.status()["state"][0].startswith("finished")


def test_reconnects_with_backoff_and_then_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mailbox that is down at start is retried (status says so); once up, mail is answered."""
    monkeypatch.setattr(daemon_module, "BACKOFF_FIRST", 0.05)
    mailbox = MemoryMailbox()
    mailbox.available = False
    transport = MemoryTransport()
    store_path = tmp_path / "state.db"
    clock = Clock(GOOD_START + timedelta(days=1))
    # The daemon opens its own store (in its thread) from [state] dir.
    d = Daemon(daemon_config(tmp_path), clock=clock, mailbox=mailbox, transport=transport)
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(d.run()), daemon=True)
    thread.start()
    wait_for(store_path.exists, 10, "the state database")
    observer = tracked(Store(store_path))
    wait_for(
        lambda: "reconnecting (attempt" in observer.status().get("state", ("",))[0],
        10,
        "the status to show the reconnect",
    )
    assert "memory: server unavailable" in observer.status()["last_error"][0]
    mailbox.available = True
    mailbox.deliver(raw_message(), clock.now)
    wait_for(lambda: transport.sent, 10, "the reply")
    d.request_stop()
    mailbox.close()  # wakes the wait; the loop sees the stop request
    thread.join(10)
    assert result == [0]
    assert len(transport.sent) == 1


class SleepyMailbox(MemoryMailbox):
    """A mailbox whose wait() is where the laptop was suspended: wall time jumps ahead
    while the monotonic clock does not."""

    def __init__(self, clock: Clock, jump: timedelta) -> None:
        super().__init__()
        self.clock, self.jump, self.waits = clock, jump, 0

    def wait(self, timeout: float) -> bool:
        self.waits += 1
        if self.waits == 1:
            self.clock.now += self.jump
            return False
        return super().wait(min(timeout, 0.05))


def test_a_clock_jump_reconnects_and_catches_up(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """After a suspend (wall clock ahead of the monotonic clock) the daemon drops the
    connection, reconnects and answers what arrived while it slept."""
    clock = Clock(GOOD_START + timedelta(days=1))
    mailbox = SleepyMailbox(clock, timedelta(hours=3))
    transport = MemoryTransport()
    d = Daemon(
        daemon_config(tmp_path),
        clock=clock,
        mailbox=mailbox,
        transport=transport,
        monotonic=lambda: 1000.0,
    )
    caplog.set_level("INFO", logger="ooo")
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(d.run()), daemon=True)
    thread.start()
    wait_for(lambda: "the clock jumped +10800 s" in caplog.text, 10, "the jump to be noticed")
    mailbox.deliver(raw_message(), clock.now)
    wait_for(lambda: transport.sent, 10, "the reply after the resume")
    assert mailbox.open_count >= 2  # reconnected
    d.request_stop()
    mailbox.close()
    thread.join(10)
    assert result == [0]


def checkpointed_replies(path: Path) -> int:
    """Replies in the database file itself, ignoring the write-ahead log (immutable=1 reads
    the file as it is): what a checkpoint has copied there."""
    db = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    try:
        if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'reply'").fetchone():
            return 0  # not even the schema is there yet
        return int(db.execute("SELECT count(*) FROM reply").fetchone()[0])
    finally:
        db.close()


def test_commits_leave_the_checkpoint_to_the_idle_moments(tmp_path: Path) -> None:
    """A commit never pays for a checkpoint (its fsync took 25-30 ms here, between a decision
    and its send, every 60 replies or so with SQLite's default): 300 replies stay in the log
    until checkpoint() copies them, once; a second call has nothing to do."""
    engine, mailbox, _, store, _ = make_engine(store=Store(tmp_path / "state.db"))
    engine.settings = replace(engine.settings, max_replies_per_hour=0)
    engine.sync()
    for i in range(300):
        mailbox.deliver(raw_message(f"s{i}@example.org", message_id=f"<m{i}@example.org>"), INSIDE)
    engine.sync()
    assert store.db.execute("SELECT count(*) FROM reply").fetchone()[0] == 300
    assert checkpointed_replies(store.path) == 0
    assert store.checkpoint() is True
    assert checkpointed_replies(store.path) == 300
    assert store.checkpoint() is False


def test_the_daemon_checkpoints_before_it_waits(tmp_path: Path) -> None:
    """After answering, the daemon checkpoints before it waits for more mail: the reply is in
    the database file itself by the time it idles."""
    mailbox, transport = MemoryMailbox(), MemoryTransport()
    clock = Clock(GOOD_START + timedelta(days=1))
    d = Daemon(daemon_config(tmp_path), clock=clock, mailbox=mailbox, transport=transport)
    thread = threading.Thread(target=d.run, daemon=True)
    thread.start()
    path = tmp_path / "state.db"
    wait_for(path.exists, 10, "the state database")
    mailbox.deliver(raw_message(), clock.now)
    wait_for(lambda: transport.sent, 10, "the reply")
    wait_for(lambda: checkpointed_replies(path) == 1, 10, "the checkpoint")
    d.request_stop()
    mailbox.close()
    thread.join(10)


def sent_copy_config(tmp_path: Path) -> Config:
    """daemon_config with a copy of every reply kept in "Sent", and IDLE renewed every 30 s
    (the daemon's usual wait is then much longer than daemon.QUIET)."""
    cfg = daemon_config(tmp_path)
    mailbox = cfg.mailbox.model_copy(
        update={"sent_folder": "Sent", "idle_refresh": timedelta(seconds=30)}
    )
    return cfg.model_copy(update={"mailbox": mailbox})


class TimedMailbox(MemoryMailbox):
    """Notes the timeout of each wait (and waits at most 50 ms of it)."""

    def __init__(self) -> None:
        super().__init__()
        self.timeouts: list[float] = []

    def wait(self, timeout: float) -> bool:
        self.timeouts.append(timeout)
        return super().wait(min(timeout, 0.05))


def test_the_daemon_tags_and_files_its_replies_once_the_mail_stops(tmp_path: Path) -> None:
    """The daemon keeps the keyword and the Sent copy of its replies for the first pass that
    reads no mail (a burst still arriving is never held up by them): it waits at most
    daemon.QUIET for more mail while they are kept, then files them."""
    mailbox, transport = TimedMailbox(), MemoryTransport()
    clock = Clock(GOOD_START + timedelta(days=1))
    d = Daemon(sent_copy_config(tmp_path), clock=clock, mailbox=mailbox, transport=transport)
    thread = threading.Thread(target=d.run, daemon=True)
    thread.start()
    wait_for((tmp_path / "state.db").exists, 10, "the state database")
    key = mailbox.deliver(raw_message(), clock.now)
    wait_for(lambda: mailbox.folder_messages("Sent"), 10, "the Sent copy")
    assert len(transport.sent) == 1
    assert mailbox.folder_messages("Sent")[0].raw == transport.sent[0].raw
    assert TAG_REPLIED in mailbox.message(key).keywords
    d.request_stop()
    mailbox.close()
    thread.join(10)
    assert mailbox.timeouts[0] > daemon_module.QUIET  # nothing kept: the usual wait
    assert daemon_module.QUIET in mailbox.timeouts  # a reply's Sent copy kept: a short one


def test_a_stop_files_the_kept_sent_copies_first(tmp_path: Path) -> None:
    """Replies whose keyword and Sent copy are still kept when the daemon is asked to stop
    get them before it stops, on a fresh connection (a stop may cut an IDLE short)."""
    mailbox, transport = MemoryMailbox(), MemoryTransport()
    clock = Clock(GOOD_START + timedelta(days=1))
    d = Daemon(sent_copy_config(tmp_path), clock=clock, mailbox=mailbox, transport=transport)
    results: list[int] = []
    stop_after_reply = transport.send

    def send_then_stop(raw: bytes, envelope_from: str, recipients: list[str]) -> dict[str, str]:
        outcome = stop_after_reply(raw, envelope_from, recipients)
        d.request_stop()  # before the pass ends: the Sent copy is still kept
        return outcome

    transport.send = send_then_stop  # type: ignore[method-assign]
    thread = threading.Thread(target=lambda: results.append(d.run()), daemon=True)
    thread.start()
    wait_for((tmp_path / "state.db").exists, 10, "the state database")
    opens = mailbox.open_count
    key = mailbox.deliver(raw_message(), clock.now)
    thread.join(10)
    assert results == [0]
    assert len(transport.sent) == 1
    assert len(mailbox.folder_messages("Sent")) == 1
    assert TAG_REPLIED in mailbox.message(key).keywords
    assert mailbox.open_count > opens  # on a connection of its own
