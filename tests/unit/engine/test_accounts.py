"""Several accounts in one process (ooo.accounts) on the in-memory backends: each a daemon
thread of its own; a broken or failing account never stops another; stop and reload reach a
thread blocked in its mailbox's wait."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ooo import accounts as accounts_module
from ooo.accounts import AccountLogFilter, AccountsDaemon
from ooo.config import Config
from ooo.config.accounts import ACCOUNTS_DIR, AccountFile, find
from ooo.daemon import Daemon
from ooo.mailbox.memory import MemoryMailbox
from ooo.store import Store
from ooo.transport.memory import MemoryTransport
from tests.support.configs import GOOD
from tests.support.helpers import INSIDE, Clock, make_engine, raw_message, tracked
from tests.support.responder import wait_for

#: IDLE renewed only every hour: a stop or reload that waited for the wait to end would hang.
SLOW_IDLE = GOOD.replace(
    'password_command = "printf secret"', 'password_command = "printf secret"\nidle_refresh = "1h"'
)


class InterruptibleMailbox(MemoryMailbox):
    """Interrupted as the IMAP mailbox is: the connection drops, wait() raises at once."""

    def __init__(self) -> None:
        super().__init__()
        self.interrupts = 0

    def interrupt(self) -> None:
        self.interrupts += 1
        self.close()


class Harness:
    """Two accounts ("default" and "work") on memory mailboxes, run by one AccountsDaemon in a
    thread (as the main thread would)."""

    def __init__(self, tmp_path: Path, work_text: str = SLOW_IDLE) -> None:
        self.main = tmp_path / "conf" / "config.toml"
        self.main.parent.mkdir()
        self.main.write_text(SLOW_IDLE + f'\n[state]\ndir = "{tmp_path}/state"\n')
        self.work = self.main.parent / ACCOUNTS_DIR / "work.toml"
        self.work.parent.mkdir()
        self.work.write_text(work_text)
        self.state = {
            "default": tmp_path / "state",
            "work": tmp_path / "state" / "accounts" / "work",
        }
        self.mailboxes = {"default": InterruptibleMailbox(), "work": InterruptibleMailbox()}
        self.transports = {"default": MemoryTransport(), "work": MemoryTransport()}
        self.daemons: dict[str, Daemon] = {}
        self.fail_next: set[str] = set()
        self.runner = AccountsDaemon(
            find([str(self.main)]),
            make_daemon=self.make,
            rediscover=lambda: find([str(self.main)]),
        )
        self.result: list[int] = []
        self.thread = threading.Thread(target=lambda: self.result.append(self.runner.run()))

    def make(self, cfg: Config, account: AccountFile) -> Daemon:
        if account.name in self.fail_next:
            self.fail_next.discard(account.name)
            raise RuntimeError("a bug in building the daemon")
        daemon = Daemon(
            cfg,
            clock=Clock(INSIDE),
            mailbox=self.mailboxes[account.name],
            transport=self.transports[account.name],
            prepare=lambda new: self.runner.accounts.prepare(account, new),
        )
        self.daemons[account.name] = daemon
        return daemon

    def state_of(self, name: str) -> str:
        db = self.state[name] / "state.db"
        if not db.exists():
            return ""
        with tracked(Store(db)) as store:
            return store.status().get("state", ("",))[0]

    def wait_watching(self, name: str) -> None:
        wait_for(lambda: self.state_of(name) == "watching", 10, f"{name} to watch")

    def answered(self, name: str) -> None:
        before = len(self.transports[name].sent)
        self.mailboxes[name].deliver(raw_message(message_id=f"<{time.monotonic()}@x>"), INSIDE)
        wait_for(lambda: len(self.transports[name].sent) > before, 10, f"{name}'s reply")

    def stop(self) -> float:
        started = time.monotonic()
        self.runner.request_stop()
        self.thread.join(10)
        assert not self.thread.is_alive()
        return time.monotonic() - started


@pytest.fixture
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(accounts_module, "TEND_SECONDS", 0.05)
    monkeypatch.setattr(accounts_module, "RESTART_FIRST", 0.05)
    monkeypatch.setattr(accounts_module, "RESCAN_SECONDS", 0.05)


@pytest.fixture
def harness(tmp_path: Path, fast: None) -> Iterator[Harness]:
    h = Harness(tmp_path)
    yield h
    if h.thread.is_alive():
        h.stop()


def test_both_accounts_answer_and_a_stop_cuts_their_waits_short(harness: Harness) -> None:
    """Each account answers its own mail, in its own state dir; a stop ends both at once
    though each is in an hour-long wait (its mailbox interrupted), and each says "stopped"."""
    harness.thread.start()
    harness.wait_watching("default")
    harness.wait_watching("work")
    harness.answered("default")
    harness.answered("work")
    assert len(harness.transports["default"].sent) == len(harness.transports["work"].sent) == 1
    took = harness.stop()
    assert took < 5
    assert harness.result == [0]
    assert harness.state_of("default") == "stopped" and harness.state_of("work") == "stopped"
    assert harness.mailboxes["work"].interrupts >= 1


def test_a_reload_reaches_a_thread_blocked_in_its_wait(harness: Harness) -> None:
    """An edit of one account's file reloads that account within seconds although its wait
    lasts an hour; the other account is not reloaded."""
    harness.thread.start()
    harness.wait_watching("work")
    harness.wait_watching("default")
    harness.work.write_text(SLOW_IDLE.replace('name = "Bob Example"', 'name = "Rob Example"'))
    harness.daemons["work"].request_reload()  # what its config watcher does on a change
    wait_for(lambda: harness.daemons["work"].config.owner.name == "Rob Example", 5, "the reload")
    assert harness.daemons["default"].config.owner.name == "Bob Example"
    # The reloaded account keeps its state dir (filled in again from the accounts folder).
    assert harness.daemons["work"].config.state.dir == harness.state["work"]
    harness.answered("work")


def test_an_account_broken_at_start_waits_for_its_fix_and_the_other_runs(
    tmp_path: Path, fast: None, caplog: pytest.LogCaptureFixture
) -> None:
    """An invalid file at start: that account is not started (logged, naming file and key);
    the other answers; once the file is fixed it starts by itself."""
    caplog.set_level(logging.INFO, logger="ooo")
    h = Harness(tmp_path, work_text=SLOW_IDLE.replace("Europe/Berlin", "Europe/Berln"))
    h.thread.start()
    try:
        h.wait_watching("default")
        h.answered("default")
        wait_for(lambda: "account work not started" in caplog.text, 5, "the error")
        assert "work.toml:5: owner.timezone" in caplog.text
        h.work.write_text(SLOW_IDLE)
        h.wait_watching("work")
        h.answered("work")
    finally:
        h.stop()


def test_an_account_that_crashes_is_restarted_and_the_other_keeps_answering(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug that ends one account's daemon is logged with its traceback; that account is
    started again after its backoff; the other never stopped."""
    caplog.set_level(logging.INFO, logger="ooo")
    harness.fail_next.add("work")
    harness.thread.start()
    harness.wait_watching("default")
    wait_for(
        lambda: "account work stopped: internal error: RuntimeError: a bug" in caplog.text,
        5,
        "the crash to be logged",
    )
    harness.wait_watching("work")
    harness.answered("work")
    harness.answered("default")


def test_log_lines_of_an_account_thread_carry_its_name_once() -> None:
    """A record logged in thread ``ooo:work`` reads "[work] ..." however many handlers see it;
    other threads' records are untouched."""
    record = logging.LogRecord("ooo", logging.INFO, __file__, 1, "watching %s", ("x",), None)
    record.threadName = "ooo:work"
    f = AccountLogFilter()
    f.filter(record)
    f.filter(record)
    assert record.getMessage() == "[work] watching x"
    plain = logging.LogRecord("ooo", logging.INFO, __file__, 1, "hello", None, None)
    plain.threadName = "MainThread"
    f.filter(plain)
    assert plain.getMessage() == "hello"


def test_threads_an_account_starts_log_under_its_name(caplog: pytest.LogCaptureFixture) -> None:
    """The engine's SMTP sends run on a pool the account's thread starts: their lines carry
    the account's name too (the threads are named ``ooo:work/...``, ooo.host.threads)."""
    from ooo.accounts import THREAD_PREFIX
    from ooo.host.threads import child_name

    names: list[str] = []

    def account_thread() -> None:
        engine, mailbox, transport, store, clock = make_engine()
        try:
            transport.concurrent_sends = 2
            engine.sync()
            mailbox.deliver(raw_message(), clock.now)
            sent = transport.send

            def send(*args: Any) -> dict[str, str]:
                names.append(threading.current_thread().name)
                logging.getLogger("ooo").info("sending from the pool")
                return sent(*args)

            transport.send = send  # type: ignore[method-assign]
            engine.sync()
            names.append(child_name("x"))
        finally:
            store.close()  # in its own thread: SQLite refuses a close from another one

    f = AccountLogFilter()
    caplog.handler.addFilter(f)
    try:
        thread = threading.Thread(target=account_thread, name=THREAD_PREFIX + "work")
        with caplog.at_level(logging.INFO, logger="ooo"):
            thread.start()
            thread.join(10)
    finally:
        caplog.handler.removeFilter(f)
    assert names[0].startswith("ooo:work/send") and names[-1] == "ooo:work/x"
    assert "[work] sending from the pool" in caplog.messages


def test_an_added_file_starts_an_account_and_a_removed_one_stops_it(harness: Harness) -> None:
    """accounts/club.toml saved while running: the account starts, the others untouched;
    its file removed: it stops (state "stopped"), the others keep answering."""
    harness.mailboxes["club"] = InterruptibleMailbox()
    harness.transports["club"] = MemoryTransport()
    harness.state["club"] = harness.state["default"] / "accounts" / "club"
    harness.thread.start()
    harness.wait_watching("work")
    first_work = harness.daemons["work"]
    (harness.work.parent / "club.toml").write_text(SLOW_IDLE)
    harness.wait_watching("club")
    harness.answered("club")
    (harness.work.parent / "club.toml").unlink()
    wait_for(lambda: harness.state_of("club") == "stopped", 10, "club to stop")
    harness.answered("work")
    assert harness.daemons["work"] is first_work  # never restarted
