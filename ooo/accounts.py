"""Several mailboxes in one ``ooo run``: one daemon thread per account, supervised.

Which files are accounts, their names and state dirs: :mod:`ooo.config.accounts`. Here they
run. Each account is a :class:`~ooo.daemon.Daemon` of its own in a thread of its own (its lock,
store, mailbox, transport, network watchers, handoff and config watcher), so one account never
waits for another and shares nothing with it but the process: an account whose server is down
retries on its own backoff; an account whose file is invalid at start does not start (``ooo
status`` says why) and starts by itself once the file is fixed; an invalid edit of a running
account keeps that account on its last good config (the daemon's own reload). An account whose
daemon ends with a problem (its state locked by another process, the owner's own responder in
the way, a bug) is started again after a backoff, or at once when its file changes.

The main thread keeps the signals: SIGTERM/SIGINT stop every account (each hands off to its
server as a single daemon does), SIGHUP reloads every account. The process ends when every
account's away window is over.

Why threads and not a process per account: a Python process with ooo loaded is about 40 MB; an
extra account in a thread is measured by ``benchmarks/bench_accounts.py`` (docs/scaling.md).
"""

from __future__ import annotations

import logging
import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType

from ooo.config import Config
from ooo.config.accounts import AccountFile, Accounts
from ooo.core.backoff import backoff
from ooo.daemon import Daemon
from ooo.errors import ConfigError, UserError
from ooo.host.lock import AlreadyRunning
from ooo.host.reload import fingerprint

log = logging.getLogger("ooo")

#: How often the supervisor looks at the accounts (a fixed file, a due restart).
TEND_SECONDS = 2.0
#: Restarting an account whose daemon ended with a problem: 30 s doubling up to 10 min.
RESTART_FIRST = 30.0
RESTART_CAP = 600.0
#: How often the accounts folder is looked at again for added or removed files.
RESCAN_SECONDS = 10.0
#: How long a stop waits for each account's thread (a send in hand finishes first).
JOIN_SECONDS = 20.0
#: Account threads are named ``ooo:<account>``; the log names the account from it.
THREAD_PREFIX = "ooo:"

DaemonFactory = Callable[[Config, AccountFile], Daemon]


@dataclass(eq=False)  # one slot is one account's run: compared by identity
class _Slot:
    """One account: its daemon's thread, or why it is not running and when to try again."""

    account: AccountFile
    thread: threading.Thread | None = None
    daemon: Daemon | None = None
    problem: str | None = None
    problem_hash: str | None = None
    """The file's contents when the problem was found: a change means "try again now"."""
    attempts: int = 0
    retry_at: float = 0.0
    finished: bool = False
    finished_hash: str | None = None
    ended: threading.Event = field(default_factory=threading.Event)

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()


class AccountsDaemon:
    """Runs every account of ``accounts`` until stopped or until every window is over."""

    def __init__(
        self,
        accounts: Accounts,
        *,
        dry_run: bool = False,
        make_daemon: DaemonFactory | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        rediscover: Callable[[], Accounts] | None = None,
    ) -> None:
        self.accounts = accounts
        self.rediscover = rediscover
        """Finds the accounts again (a file added to or removed from accounts/)."""
        self._rescan_due = 0.0
        self._rescan_now = False
        self._scan_problem: str | None = None
        self._leaving: list[_Slot] = []
        self.dry_run = dry_run
        self.make_daemon = make_daemon or self._daemon
        self.monotonic = monotonic
        self.slots = [_Slot(a) for a in accounts.files]
        self._stop = threading.Event()
        self._wake = threading.Event()

    def _daemon(self, cfg: Config, account: AccountFile) -> Daemon:
        return Daemon(
            cfg,
            dry_run=self.dry_run,
            prepare=lambda new: self.accounts.prepare(account, new),
        )

    # -- the main thread --------------------------------------------------------------------

    def request_stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def request_reload(self) -> None:
        """SIGHUP: every running account reloads; every waiting one is tried again now."""
        for slot in self.slots:
            if slot.daemon is not None and slot.running:
                slot.daemon.request_reload()
            elif not slot.finished:
                slot.retry_at = 0.0
        self._rescan_now = True
        self._wake.set()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        log.info("received %s: stopping every account", signal.Signals(signum).name)
        self.request_stop()

    def _on_hup(self, signum: int, frame: FrameType | None) -> None:
        self.request_reload()

    def run(self) -> int:
        """Run until stopped (0) or until every account's away window is over (0)."""
        handlers = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                handlers[sig] = signal.signal(sig, self._on_signal)
            if hasattr(signal, "SIGHUP"):
                handlers[signal.SIGHUP] = signal.signal(signal.SIGHUP, self._on_hup)
        log.info(
            "%d accounts: %s",
            len(self.slots),
            ", ".join(f"{s.account.name} ({s.account.path})" for s in self.slots),
        )
        try:
            while not self._stop.is_set():
                self._rescan()
                for slot in self.slots:
                    self._tend(slot)
                if self.slots and all(s.finished for s in self.slots):
                    log.info("every account's away window is over")
                    return 0
                self._wake.wait(TEND_SECONDS)
                self._wake.clear()
            return 0
        finally:
            self._stop.set()  # also when something here failed: the threads end with us
            self._stop_all()
            for sig, old in handlers.items():
                signal.signal(sig, old)

    def _rescan(self) -> None:
        """Every RESCAN_SECONDS, and at once after SIGHUP: start an account whose file was
        added, stop one whose file is gone. A folder that cannot be read as accounts (a file
        name that is no account name) changes nothing and is logged once."""
        if self.rediscover is None:
            return
        now = self.monotonic()
        if not self._rescan_now and now < self._rescan_due:
            return
        self._rescan_now, self._rescan_due = False, now + RESCAN_SECONDS
        try:
            found = self.rediscover()
        except UserError as exc:
            if exc.oneline() != self._scan_problem:
                log.error("accounts not looked for again: %s", exc.oneline())
            self._scan_problem = exc.oneline()
            return
        self._scan_problem = None
        now_there = {f.name: f for f in found.files}
        for slot in list(self.slots):
            f = now_there.get(slot.account.name)
            if f is not None and f.path == slot.account.path:
                continue
            log.info("account %s: %s is gone; stopping it", slot.account.name, slot.account.path)
            if slot.daemon is not None:
                slot.daemon.request_stop()
            self.slots.remove(slot)
            self._leaving.append(slot)
        known = {slot.account.name for slot in self.slots}
        for f in found.files:
            if f.name not in known:
                log.info("account %s: new (%s); starting it", f.name, f.path)
                self.slots.append(_Slot(f))
        self.accounts = found

    def _stop_all(self) -> None:
        for slot in [*self.slots, *self._leaving]:
            if slot.daemon is not None:
                slot.daemon.request_stop()
        deadline = self.monotonic() + JOIN_SECONDS
        for slot in [*self.slots, *self._leaving]:
            if slot.thread is not None:
                slot.thread.join(max(0.1, deadline - self.monotonic()))
                if slot.thread.is_alive():
                    log.warning("account %s did not stop in time", slot.account.name)

    # -- each account -----------------------------------------------------------------------

    def _tend(self, slot: _Slot) -> None:
        """Start an account that should run and does not: at first, when its file changed
        after a problem or after its window ended, or when its backoff is over."""
        if slot.running:
            return
        current = fingerprint(slot.account.path)
        if slot.finished:
            if current == slot.finished_hash:
                return
            slot.finished = False  # new dates, perhaps: try again
            log.info("account %s: %s changed; starting it", slot.account.name, slot.account.path)
        elif slot.problem is not None:
            changed = current != slot.problem_hash
            if not changed and self.monotonic() < slot.retry_at:
                return
            if changed:
                slot.attempts = 0
        self._start(slot)

    def _start(self, slot: _Slot) -> None:
        account = slot.account
        try:
            cfg = self.accounts.load(account)
        except ConfigError as exc:
            self._problem(slot, exc.oneline(), config=True)
            return
        try:
            daemon = self.make_daemon(cfg, account)
        except Exception as exc:  # a bug: this account waits for its backoff, the others run
            log.exception("account %s: internal error", account.name)
            self._problem(slot, f"internal error: {type(exc).__name__}: {exc}")
            return
        slot.daemon = daemon
        slot.ended.clear()
        slot.thread = threading.Thread(
            target=self._run_account, args=(slot, daemon), name=THREAD_PREFIX + account.name
        )
        slot.thread.daemon = True
        slot.thread.start()

    def _run_account(self, slot: _Slot, daemon: Daemon) -> None:
        name = slot.account.name
        try:
            daemon.run()
        except AlreadyRunning as exc:  # another process runs it: leave its state alone
            self._problem(slot, exc.oneline())
        except UserError as exc:
            self._problem(slot, exc.oneline())
            _record(daemon.config, exc.oneline())
        except Exception as exc:
            log.exception("account %s: internal error", name)
            problem = f"internal error: {type(exc).__name__}: {exc}"
            self._problem(slot, problem)
            _record(daemon.config, problem)
        else:
            if slot not in self.slots:
                pass  # its file is gone: it was asked to stop
            elif daemon.finished:
                slot.finished = True
                slot.finished_hash = fingerprint(slot.account.path)
                slot.problem = None
            elif not self._stop.is_set():
                self._problem(slot, "stopped by itself")
        finally:
            slot.ended.set()
            self._wake.set()

    def _problem(self, slot: _Slot, problem: str, config: bool = False) -> None:
        """Note why ``slot`` does not run and when to try again (a config error: only when
        the file changes, or on SIGHUP)."""
        first = problem != slot.problem
        slot.problem = problem
        slot.problem_hash = fingerprint(slot.account.path)
        slot.attempts += 1
        delay = (
            float("inf")
            if config
            else backoff(slot.attempts, RESTART_FIRST, RESTART_CAP, random.random)
        )
        slot.retry_at = self.monotonic() + delay
        if config:
            log.error(
                "account %s not started: %s (it starts when the file is fixed)",
                slot.account.name,
                problem,
            )
        elif first or slot.attempts % 10 == 0:
            log.error(
                "account %s stopped: %s; trying again in %.0f s", slot.account.name, problem, delay
            )


def _record(cfg: Config, problem: str) -> None:
    """Write why an account stopped into its own status (``ooo status`` shows it), unless
    another process holds its state meanwhile. Never raises."""
    from ooo import app
    from ooo.host.lock import StateLock

    try:
        with StateLock(app.state_dir(cfg)), app.open_store(cfg) as store:
            now = app.utcnow()
            with store.transaction():
                store.set_status("last_error", problem, now)
                store.set_status("state", "stopped: " + problem, now)
    except Exception:  # the state may be unusable too: the log has said it already
        log.debug("could not record the problem in %s", app.state_dir(cfg), exc_info=True)


class AccountLogFilter(logging.Filter):
    """Put ``[account]`` before every line logged by an account's thread or a thread it
    started (several accounts only: one account's log stays exactly as it was)."""

    def filter(self, record: logging.LogRecord) -> bool:
        thread = record.threadName or ""
        if thread.startswith(THREAD_PREFIX) and not getattr(record, "ooo_account", None):
            # "ooo:work", or a thread it started: "ooo:work/send_0" (ooo.host.threads)
            name = thread[len(THREAD_PREFIX) :].split("/", 1)[0]
            record.ooo_account = name
            record.msg = f"[{name}] {record.msg}"
        return True


def tag_log_lines() -> None:
    """Install :class:`AccountLogFilter` on every handler of the root logger."""
    root = logging.getLogger()
    for handler in root.handlers:
        if not any(isinstance(f, AccountLogFilter) for f in handler.filters):
            handler.addFilter(AccountLogFilter())
