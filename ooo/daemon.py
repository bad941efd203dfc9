"""The daemon loop: the away window, reconnecting with backoff, signals.

Before the window it waits (armed); inside it, it keeps the engine fed (IDLE wake-ups, or
polling) and the outbox flushed; after it, it stops answering and exits with a pointer to
``ooo report``. Connection trouble never ends the loop: it is logged, shown by ``ooo status``
and retried with capped exponential backoff plus jitter.

One daemon runs per state dir (ooo.host.lock). SIGTERM/SIGINT stop it at the next safe point; SIGHUP
and a change of the config file's contents (ooo.host.reload) switch it to the new config, unless
the new file is invalid: then the last good config keeps running, the problem is logged once
and shown by ``ooo status`` (status key ``config_error``) until the file is fixed.

A daemon may also run in a thread of its own, one per account (ooo.accounts): signals then go
to the main thread, which calls :meth:`Daemon.request_stop` and :meth:`Daemon.request_reload`;
those wake the thread's wait (an Event for sleeps, ``Mailbox.interrupt`` for the mailbox's).
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import signal
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from ooo import app, inbox
from ooo.config import Config, check_private, loads
from ooo.core.backoff import backoff as backoff_rule
from ooo.core.wording import human_duration
from ooo.engine import Engine, Outcome
from ooo.errors import UserError
from ooo.handoff.base import HandoffRefused
from ooo.host import notify
from ooo.host.lock import StateLock
from ooo.host.reload import ConfigWatcher, fingerprint, interrupt_main_thread
from ooo.mailbox.base import Mailbox, MailboxAuthError, MailboxError, MailboxUnavailable
from ooo.store import Store
from ooo.templating import Renderer
from ooo.transport.base import Transport

if TYPE_CHECKING:
    from ooo.handoff.sleep import SleepHook
    from ooo.handoff.supervisor import Supervisor
    from ooo.networks.runner import NetworkRunner

log = logging.getLogger("ooo")

#: Reconnect delays: 2 s doubling up to 5 min, +-25 % jitter.
BACKOFF_FIRST = 2.0
BACKOFF_CAP = 300.0
#: Wall time moving this much more (or less) than the monotonic clock during one wait means
#: the machine slept (suspend/resume) or the clock was set: the connection is likely dead.
CLOCK_JUMP = 60.0
#: Seconds without news after which a pass that read mail is followed by one that reads none,
#: the quiet moment for the keywords and Sent copies (Engine.defer_after_send). Dovecot tells
#: an IDLE client of new mail 0.5 s after it lands: during a burst news comes sooner.
QUIET = 1.0


def backoff(attempt: int, rng: Callable[[], float] = random.random) -> float:
    return backoff_rule(attempt, BACKOFF_FIRST, BACKOFF_CAP, rng)


class _Stop(BaseException):
    # BaseException, so that no library's "except Exception" swallows it.
    """Raised by the signal handler to break out of a blocking wait (IDLE, sleep)."""


class _Reload(BaseException):
    """Raised by the SIGHUP handler to cut a blocking wait short: the config is reloaded."""


@dataclass
class Daemon:
    config: Config
    once: bool = False
    dry_run: bool = False
    clock: Callable[[], datetime] = app.utcnow
    monotonic: Callable[[], float] = time.monotonic
    mailbox: Mailbox | None = None
    transport: Transport | None = None
    store: Store | None = None
    networks: NetworkRunner | None = None
    """The network watchers (tests inject one); by default built from the config."""
    prepare: Callable[[Config], Config] | None = None
    """Applied to every config read again from the file (an account's state dir)."""
    opened: Mailbox | None = None
    """The config's mailbox, already open (``ooo run`` opens it while the rest loads); unlike
    ``mailbox``, replaced like any other when a reload changes ``[mailbox]``."""

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        # Set by a stop or reload request: cuts a sleep short in any thread.
        self._wake = threading.Event()
        # Around the mailbox's wait, so that another thread interrupts only a wait (or the
        # moment before it), never a fetch or a send.
        self._waiting = False
        self._waiting_lock = threading.Lock()
        self._engine: Engine | None = None
        self._interruptible = False
        self._finished = False
        self._known: frozenset[str] | None = None
        self._reload = threading.Event()
        path = self.config.path
        # The hash of the config we run on, and of the last contents we acted on (good or bad):
        # an invalid edit is reported once, not at every wake-up.
        self._good_hash = fingerprint(path) if path else None
        self._seen_hash = self._good_hash
        self._config_error = False
        self._main_signals = False
        self._runner: NetworkRunner | None = None
        self._handoff: Supervisor | None = None
        self._sleep_hook: SleepHook | None = None
        self._took_back = False

    @property
    def finished(self) -> bool:
        """Whether the run ended because the away window is over."""
        return self._finished

    def request_stop(self) -> None:
        """Ask the loop to stop at its next safe point (what SIGTERM does, for threads)."""
        self._stop.set()
        self._wake_up()

    def _wake_up(self) -> None:
        """Cut the current wait short when the loop runs in a thread of its own (in the main
        thread the signal handler raises instead)."""
        self._wake.set()
        if self._main_signals:
            return
        with self._waiting_lock:
            if self._waiting and self._engine is not None:
                self._engine.mailbox.interrupt()

    def _interrupted(self) -> bool:
        """Whether a mailbox error is the interruption a stop or reload asked for."""
        return not self._main_signals and (self._stop.is_set() or self._reload.is_set())

    # -- signals ----------------------------------------------------------------------------

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        log.info("received %s: stopping", signal.Signals(signum).name)
        self._stop.set()
        self._wake.set()
        if self._interruptible:
            raise _Stop

    def _on_hup(self, signum: int, frame: FrameType | None) -> None:
        self._reload.set()
        if self._interruptible:
            raise _Reload

    def request_reload(self) -> None:
        """Reload the config at the next safe point (what SIGHUP and a file change do)."""
        self._reload.set()
        in_other_thread = threading.current_thread() is not threading.main_thread()
        if in_other_thread and self._main_signals and hasattr(signal, "SIGHUP"):
            interrupt_main_thread(signal.SIGHUP)
        else:
            self._wake_up()

    @contextmanager
    def _interruptible_section(self) -> Iterator[None]:
        """Only blocking waits may be cut short by a signal; a decision or a send in hand
        always finishes (or rolls back) first."""
        self._interruptible = True
        try:
            if self._stop.is_set():
                raise _Stop
            if self._reload.is_set():
                raise _Reload
            yield
        finally:
            self._interruptible = False

    def _sleep(self, seconds: float) -> None:
        # A reload cuts the sleep short; the loop applies it and decides again what to wait for.
        with suppress(_Reload), self._interruptible_section():
            self._wake.wait(max(0.0, seconds))
        self._wake.clear()  # the flags (stop, reload) say why; the loop looks at them

    # -- main -------------------------------------------------------------------------------

    def run(self) -> int:
        """Run until stopped (0), the window is over (0), or a user error (raised)."""
        if self.store is not None or self.dry_run:
            # A dry run changes nothing, so it may look over a running daemon's shoulder.
            return self._run()
        with StateLock(app.state_dir(self.config)):  # one daemon per state, or AlreadyRunning
            return self._run()

    def _run(self) -> int:
        cfg = self.config
        settings = app.engine_settings(cfg)
        renderer = Renderer(cfg.templates.dir)
        store = self.store or app.open_store(cfg)
        if self.dry_run:
            real, store = store, store.snapshot()
            if self.store is None:
                real.close()
            log.info(
                "dry run: decisions are made against the real history and thrown away; "
                "nothing is sent and nothing is tagged"
            )
        app.check_templates(
            cfg, renderer
        )  # a broken template is an error now, not at the first reply
        mailbox = self.mailbox or self.opened or app.make_mailbox(cfg)
        self.opened = None
        transport = self.transport or app.make_transport(cfg)
        engine = Engine(
            settings,
            mailbox,
            transport,
            store,
            renderer,
            self.clock,
            dry_run=self.dry_run,
            router=app.make_router(cfg, lambda: self._known or frozenset()),
        )
        # Keywords and Sent copies wait for a quiet moment (see _loop and Engine.after_send);
        # --once does them before it returns.
        engine.defer_after_send = not self.once
        self._engine = engine
        handlers = {}
        self._main_signals = threading.current_thread() is threading.main_thread()
        if self._main_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                handlers[sig] = signal.signal(sig, self._on_signal)
            if hasattr(signal, "SIGHUP"):  # not on Windows
                handlers[signal.SIGHUP] = signal.signal(signal.SIGHUP, self._on_hup)
        watcher = None
        if cfg.path is not None and not self.once:
            watcher = ConfigWatcher(cfg.path, lambda: self._seen_hash, self.request_reload)
            watcher.start()
        try:
            engine.recover()
            with store.transaction():
                store.set_status("pid", str(os.getpid()), self.clock())
                store.clear_status("config_error")  # we start on a valid config
            self._start_networks(engine, store)  # after the store exists and is migrated
            self._start_handoff(renderer, store)
            return self._loop(engine, store)
        except _Stop:
            return 0
        finally:
            if watcher is not None:
                watcher.stop()
            self._after_send(engine)
            self._stop_networks()
            self._stop_handoff()
            for sig, old in handlers.items():
                signal.signal(sig, old)
            if not self._finished:
                self._status(store, "state", "stopped")
            engine.mailbox.close()
            engine.transport.close()
            if store is not self.store:
                store.close()

    def _loop(self, engine: Engine, store: Store) -> int:
        attempt = 0
        first = True
        while not self._stop.is_set():
            self._maybe_reload(engine, store)
            # A reload may have changed all of these.
            cfg, mailbox = self.config, engine.mailbox
            start, end = cfg.away.start, cfg.away.end
            now = self.clock()
            if now >= end:
                return self._window_over(engine, store, now, at_start=first)
            first = False
            if now < start:
                if self.once:
                    log.info(
                        "armed: the away window starts %s; nothing to do yet", start.isoformat()
                    )
                    return 0
                self._status(store, "state", f"armed: answering from {start.isoformat()}")
                log.info("armed: the away window starts %s", start.isoformat())
                # Wake at least every minute: a suspended laptop's sleep does not count down.
                self._sleep(min(60.0, (start - now).total_seconds()))
                continue
            try:
                mailbox.open()
                if self._known is None and cfg.audiences.external_replies == "known":
                    self._known = app.known_senders(cfg, mailbox)
                if attempt:
                    log.info("reconnected to the mailbox after %d attempt(s)", attempt)
                attempt = 0
                self._handoff_alive(engine)  # the lease first, then catch up
                self._status(store, "state", "watching")  # after: the server no longer answers
                engine.sync()
                engine.flush()
                if not self.dry_run:  # each delegate's digest, once a day ([delegate] digest)
                    inbox.send_digests(cfg, store, engine.transport, self.clock())
                self._handoff_alive(engine)  # the senders just answered, soon after
                if self.once:
                    if not self.dry_run:
                        app.poll_networks_once(cfg, store)  # after the mail: never delays it
                    return 0
                checkpoint(store)  # idle now: the log's fsync is paid here, not mid-reply
                timeout = self._wait_timeout(store, now)
                if engine.after_send_pending():
                    # The last pass read mail and more may be on its way (a burst): the
                    # keywords and Sent copies are for the next pass that finds none.
                    timeout = min(timeout, QUIET)
                waiting = False
                wall, mono = self.clock(), self.monotonic()
                with self._waiting_lock:
                    self._waiting = True  # before the section looks at the flags: no race
                try:
                    with self._interruptible_section():
                        waiting = True
                        mailbox.wait(timeout)
                except _Reload:
                    if waiting:
                        mailbox.close()  # IDLE was cut short; the next round reconnects
                finally:
                    with self._waiting_lock:
                        self._waiting = False
                jump = (self.clock() - wall).total_seconds() - (self.monotonic() - mono)
                if abs(jump) > CLOCK_JUMP:
                    # CLOCK_MONOTONIC stops while the machine is suspended: after a resume the
                    # TCP connection is usually dead without anyone having said so.
                    log.warning(
                        "the clock jumped %+.0f s (suspend and resume, or the clock was set): "
                        "reconnecting to catch up",
                        jump,
                    )
                    mailbox.close()
            except MailboxAuthError as exc:
                if self._interrupted():
                    mailbox.close()
                    continue
                if self.once:
                    raise UserError(str(exc), advice="check the login with `ooo check`") from exc
                attempt += 1
                self._retry_later(store, mailbox, exc, attempt, minimum=60.0)
            except MailboxUnavailable as exc:
                if self._interrupted():
                    mailbox.close()  # the wait was cut short on purpose: not an outage
                    continue
                if self.once:
                    raise UserError(str(exc), advice="check the server with `ooo check`") from exc
                attempt += 1
                self._retry_later(store, mailbox, exc, attempt)
            except MailboxError as exc:
                if self._interrupted():
                    mailbox.close()
                    continue
                attempt += 1
                self._retry_later(store, mailbox, exc, attempt)
            except UserError as exc:
                # e.g. the keyring is locked: keep trying, the owner may unlock it. But never
                # run beside the owner's own responder (HandoffRefused says what to change).
                if self.once or isinstance(exc, HandoffRefused):
                    raise
                attempt += 1
                self._retry_later(store, mailbox, exc, attempt, minimum=60.0)
        return 0

    # -- reloading the config -----------------------------------------------------------------

    def _maybe_reload(self, engine: Engine, store: Store) -> None:
        """Apply the config file if SIGHUP asked for it or its contents changed. An invalid
        file keeps the running config: one error in the log, and in `ooo status` until fixed."""
        requested = self._reload.is_set()
        self._reload.clear()
        path = self.config.path
        if path is None:
            return
        try:
            raw = path.read_bytes()
        except OSError as exc:
            if requested:
                log.warning("cannot read %s (%s); still running on the last good config", path, exc)
            return
        digest = hashlib.sha256(raw).hexdigest()
        if digest == self._good_hash:
            self._seen_hash = digest
            if self._config_error:
                self._config_error = False
                with store.transaction():
                    store.clear_status("config_error")
                log.info("%s is back to the running config", path)
            elif requested:
                self._reload_templates(engine, store)
            return
        if digest == self._seen_hash:
            return  # an invalid edit already reported
        self._seen_hash = digest
        try:
            check_private(path)  # a config someone else could write is never applied
            new = loads(raw.decode("utf-8"), path)
            if self.prepare is not None:
                new = self.prepare(new)
            self._apply(new, engine)
        except (UnicodeDecodeError, UserError) as exc:
            problem = exc.oneline() if isinstance(exc, UserError) else f"{path}: not UTF-8: {exc}"
            log.error("config not reloaded, still running with the last good one: %s", problem)
            self._config_error = True
            with store.transaction():
                store.set_status("config_error", problem, self.clock())
            return
        self._good_hash = digest
        if self._config_error:
            self._config_error = False
            with store.transaction():
                store.clear_status("config_error")

    # -- the handoff to the mail server ------------------------------------------------------

    def _start_handoff(self, renderer: Renderer, store: Store) -> None:
        """Build the handoff (HandoffRefused, a conflict with the owner's own responder, stops
        the start-up with advice) and, outside --once, the logind hook that hands off before
        the machine sleeps or shuts down."""
        if self.dry_run or self.config.handoff.method == "none":
            return
        self._handoff = app.make_handoff(self.config, renderer, store, self.clock)
        self._took_back = False
        if not self.once:
            from ooo.handoff.sleep import SleepHook

            self._sleep_hook = SleepHook(
                on_sleep=self._handoff.stopping, on_resume=self._handoff.resumed
            )
            self._sleep_hook.start()

    def _handoff_alive(self, engine: Engine) -> None:
        """Inside the window: take the lease back once (before catching up), then keep it."""
        supervisor = self._handoff
        if supervisor is None:
            return
        if not self._took_back:
            supervisor.start()
            self._took_back = True
        else:
            supervisor.alive()
        engine.server_since = supervisor.server_since()

    def _stop_handoff(self) -> None:
        """A clean stop inside the window: the server answers from now on (lease = now)."""
        hook, self._sleep_hook = self._sleep_hook, None
        if hook is not None:
            hook.stop()
        supervisor, self._handoff = self._handoff, None
        if supervisor is None:
            return
        if self._took_back and not self._finished:
            supervisor.stopping("stopped")
        supervisor.flush_records()
        supervisor.close()

    # -- the network watchers ---------------------------------------------------------------

    def _start_networks(self, engine: Engine, store: Store) -> None:
        """Start the watchers in their own threads (never in a dry run or --once, which polls
        them once in the loop); a new inquiry wakes them, so a room notice goes out at once."""
        if self.dry_run or self.once:
            return
        runner = self.networks or app.make_network_runner(self.config, store.path)
        if runner is None:
            return
        self._runner = runner
        runner.start()
        outcome_hook = engine.on_outcome

        def wake_on_inquiry(outcome: Outcome) -> None:
            if outcome.ref:
                runner.wake()
            if outcome_hook:
                outcome_hook(outcome)

        engine.on_outcome = wake_on_inquiry
        log.info(
            "watching %d network(s): %s",
            len(runner.watches),
            ", ".join(w.watcher.name for w in runner.watches),
        )

    def _stop_networks(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            runner.stop()

    def _reload_templates(self, engine: Engine, store: Store) -> None:
        """SIGHUP with an unchanged config: read the templates again, render them all, and
        switch only if every one renders."""
        renderer = Renderer(self.config.templates.dir)
        try:
            app.check_templates(self.config, renderer)
        except UserError as exc:
            log.error("templates not reloaded, still using the last good ones: %s", exc.message)
            with store.transaction():
                store.set_status("config_error", exc.message, self.clock())
            return
        engine.renderer = renderer
        with store.transaction():
            store.clear_status("config_error")
        log.info("reload requested: %s is unchanged; templates read again", self.config.path)

    def _after_send(self, engine: Engine) -> None:
        """The keywords and Sent copies still kept for a quiet moment, now: before the daemon
        stops, or before a reload changes the mailbox or the Sent folder they belong to. On a
        fresh connection: a stop or a reload may have cut an IDLE short (the server then
        ignores every command until DONE) or shut the socket down."""
        if not engine.after_send_pending():
            return
        try:
            engine.mailbox.close()
            engine.mailbox.open()
            engine.after_send()  # says itself what it could not do
        except Exception as exc:  # a courtesy: never what stops a stop or a reload
            log.warning("could not tag the last replies or file their Sent copies: %s", exc)

    def _apply(self, new: Config, engine: Engine) -> None:
        """Switch the engine to ``new``; build everything first so a failure changes nothing."""
        old = self.config
        if new.state != old.state:
            log.warning(
                "[state] changes take effect at the next start; still using %s", app.state_dir(old)
            )
            new = new.model_copy(update={"state": old.state})
        settings = app.engine_settings(new)
        renderer = Renderer(new.templates.dir)
        app.check_templates(new, renderer)  # a broken template keeps the last good ones running
        router = app.make_router(new, lambda: self._known or frozenset())
        changed = [
            name
            for name in type(new).model_fields
            if name != "path" and getattr(new, name) != getattr(old, name)
        ]
        self._after_send(engine)  # to the mailbox and Sent folder they belong to
        self.config = new
        engine.settings, engine.renderer, engine.router = settings, renderer, router
        if new.audiences != old.audiences:
            self._known = None
        if new.mailbox != old.mailbox and self.mailbox is None:
            engine.mailbox.close()
            engine.mailbox = app.make_mailbox(new)
        if new.smtp != old.smtp and self.transport is None:
            engine.transport.close()
            engine.transport = app.make_transport(new)
        if self.networks is None and _watching_changed(old, new):
            self._stop_networks()
            self._start_networks(engine, engine.store)
        log.info(
            "reloaded the config from %s (changed: %s)", new.path, ", ".join(changed) or "nothing"
        )

    def _wait_timeout(self, store: Store, now: datetime) -> float:
        limits = [
            self.config.mailbox.idle_refresh.total_seconds(),
            (self.config.away.end - now).total_seconds(),
        ]
        retry = store.next_retry_at()
        if retry is not None:
            limits.append((retry - now).total_seconds())
        due = self._handoff.due() if self._handoff else None
        if due is not None:
            limits.append((due - now).total_seconds())
        digest = inbox.next_digest(self.config, store, now)
        if digest is not None:
            limits.append((digest - now).total_seconds())
        return max(0.05, min(limits))

    def _retry_later(
        self, store: Store, mailbox: Mailbox, exc: Exception, attempt: int, minimum: float = 0.0
    ) -> None:
        delay = max(minimum, backoff(attempt))
        log.warning("%s; reconnecting (attempt %d, next in %.0f s)", exc, attempt, delay)
        now = self.clock()
        with store.transaction():
            store.set_status("last_error", str(exc), now)
            store.set_status(
                "state", f"reconnecting (attempt {attempt}, next in {delay:.0f} s)", now
            )
        mailbox.close()
        self._sleep(delay)

    def _window_over(
        self, engine: Engine, store: Store, now: datetime, at_start: bool = False
    ) -> int:
        cfg = self.config
        end = cfg.away.end
        told = store.status().get("state", ("",))[0].startswith("finished")
        if at_start and not told:
            ago = now - end
            log.warning(
                "the away window in %s (%s to %s, %s) is already over: it ended %s ago, so "
                "ooo answers nothing. Set new dates in [away] (`ooo config edit`).",
                cfg.path,
                cfg.away.start.astimezone(cfg.owner.tz).strftime("%Y-%m-%d %H:%M"),
                end.astimezone(cfg.owner.tz).strftime("%Y-%m-%d %H:%M"),
                cfg.owner.timezone,
                human_duration(ago, style="rough"),
            )
        # Replies already queued answer mail that came in the window: still send them.
        with suppress(MailboxError):
            engine.flush()
        if self._handoff is not None and not self.dry_run:
            self._handoff.window_over()  # the owner's own setup, exactly as before
        paths: list[Path] = []
        if not self.dry_run:
            paths = app.write_reports(self.config, store)
            log.info("the report is in %s", " and ".join(str(p) for p in paths))
            # Once per window; the daemon (not --once) tries a failed APPEND again for a minute.
            wait = None if self.once else self._sleep
            inbox.deliver_report(self.config, store, engine.mailbox, self.clock, wait)
        log.info(
            "the away window ended %s: no more replies. Run `ooo report` to see what "
            "happened while you were away.",
            end.isoformat(),
        )
        if not told and not self.dry_run and not self.once:
            notify.desktop(
                "ooo: welcome back",
                f"ooo stopped answering at {end.astimezone(cfg.owner.tz):%Y-%m-%d %H:%M}. "
                + (f"The report: {paths[0]}" if paths else "Run `ooo report`."),
            )
        self._status(store, "state", f"finished: the away window ended {end.isoformat()}")
        self._finished = True
        return 0

    def _status(self, store: Store, key: str, value: str) -> None:
        with store.transaction():
            store.set_status(key, value, self.clock())


def checkpoint(store: Store) -> None:
    try:
        store.checkpoint()
    except sqlite3.Error as exc:  # the next idle moment tries again; commits still work
        log.debug("checkpointing the state database failed: %s", exc)


def _watching_changed(old: Config, new: Config) -> bool:
    """Whether the watchers must be rebuilt: the entries, or what they match and say."""
    return (
        new.network != old.network
        or new.away != old.away
        or new.owner != old.owner
        or new.reply.share_subject != old.reply.share_subject
    )
