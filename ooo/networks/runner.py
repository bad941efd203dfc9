"""Runs the network watchers apart from the mail path: one thread per watcher, each with its
own store connection, cursor, backoff and state.

A slow, failing or rate-limiting network never blocks anything else: it only delays its own
next poll (``ooo.core.backoff.backoff``, at least as long as the service asked for), and it
catches up from its stored cursor when it comes back. Posts are recorded once (the store's
``network_post`` table), so a batch read again after an outage counts nothing twice.

One poll of one watcher (:meth:`WatchLoop.poll`):

1. sign in (a no-op when signed in);
2. with ``ask`` (a :class:`~ooo.networks.base.Poster`, Matrix): post a notice for each new
   inquiry of the chosen audiences, committed before posting and idempotent by transaction
   id, and follow its thread;
3. read what arrived after the cursor; read the threads those posts start, and the followed
   threads due for a re-read (at most ``threads_per_poll``; never for a room, whose timeline
   has every message); search one inquiry's tag when the watcher's ``search_interval`` allows
   (the fallback for a question that did not mention the owner);
4. match everything, oldest first (:func:`ooo.core.social.match_posts`) and record each
   matching post with its signal in one transaction; then the cursor;
5. record the watcher's state (``Store.set_watcher_state``) for ``ooo status``.

The daemon builds a :class:`NetworkRunner` from the config's watched ``[[network]]`` entries
(one :class:`Watch` each) and calls :meth:`NetworkRunner.start` after the store is open (it
migrates the schema) and :meth:`NetworkRunner.stop` on shutdown; :meth:`NetworkRunner.wake`
makes every watcher poll now (after a new inquiry, so a room notice goes out at once).
Each thread opens its own :class:`~ooo.store.Store` on the same file: SQLite connections are
per thread, and WAL mode lets it write while the engine does.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ooo.core.backoff import backoff
from ooo.core.social import (
    NETWORK_NAMES,
    Match,
    Post,
    match_posts,
    room_notice,
    tag_for,
    thread_roots,
)
from ooo.core.text import one_line
from ooo.core.wording import ENGLISH, Language
from ooo.host.threads import child_name
from ooo.networks.base import NetworkAuthError, NetworkUnavailable, Poster, Watcher
from ooo.store import Store
from ooo.store.social import WatcherStateRecord

log = logging.getLogger("ooo")


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Ask:
    """Post each inquiry of these audiences to the watched room (``ask`` in the config)."""

    audiences: frozenset[str]
    owner_name: str
    share_subject: bool = False
    """Put the inquiry's subject in the notice."""
    share_sender: bool = False
    """Add a mailto link that answers the asker (their address, nowhere else)."""
    per_poll: int = 5
    """Notices posted in one poll at most (a backlog goes out over several)."""
    lang: Language = ENGLISH
    """The notices' language: the room is the owner's colleagues', so the report's."""


@dataclass(frozen=True)
class Watch:
    """One watched place: the watcher, how often to poll, and what to do there."""

    watcher: Watcher
    interval: float = 120.0
    """Seconds between two polls (``poll_interval``)."""
    ask: Ask | None = None
    """Matrix with ``ask``: the watcher must also be a :class:`Poster`."""
    audiences: frozenset[str] | None = None
    """Whose inquiries the tag search looks for (the audiences that see this entry); None:
    every inquiry."""


@dataclass(frozen=True)
class RunnerSettings:
    window_start: datetime
    """Posts before it are ignored; a first poll reads back to it."""
    delegate_names: tuple[str, ...] = ()
    """The delegates' names, for "my colleague Carol fixed it" in the asker's posts."""
    own: tuple[str, ...] = ()
    """More handles of the owner (besides each watcher's signed-in account)."""
    threads_per_poll: int = 5
    searches_per_poll: int = 1
    backoff_first: float = 30.0
    """First wait after a failure (doubling, with jitter, up to ``backoff_cap``)."""
    backoff_cap: float = 1800.0
    auth_retry: float = 3600.0
    """Wait after the credentials were refused (the owner must act; ooo retries rarely)."""


@dataclass(frozen=True)
class PollResult:
    """What one poll did."""

    fetched: int = 0
    """Posts read (new ones, thread re-reads and search results, before matching)."""
    matched: int = 0
    """Posts recorded for an inquiry."""
    signals: int = 0
    asked: int = 0
    """Room notices posted."""
    delay: float = 0.0
    """Seconds until the next poll."""
    error: str | None = None


@dataclass
class WatchLoop:
    """One watcher's polls, on the caller's thread (the runner's, or a test's) and store."""

    watch: Watch
    store: Store
    settings: RunnerSettings
    clock: Callable[[], datetime] = _now
    rng: Callable[[], float] = random.random
    state: WatcherStateRecord = field(init=False)
    _next_search: datetime | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        w = self.watch.watcher
        self.state = WatcherStateRecord(
            watcher=w.name,
            kind=w.kind,
            state="starting",
            last_poll=None,
            last_ok=None,
            next_poll=None,
            attempts=0,
            retry_after=None,
            last_error=None,
            updated_at=self.clock(),
        )

    @property
    def name(self) -> str:
        return self.watch.watcher.name

    def poll(self) -> PollResult:
        """One poll. Never raises: a failure becomes a backoff and a state."""
        now = self.clock()
        watcher = self.watch.watcher
        try:
            watcher.open()
            asked = self._ask(now)
            result = replace(self._read(now), asked=asked)
        except NetworkUnavailable as exc:
            return self._failed(now, "backoff", exc, exc.retry_after)
        except NetworkAuthError as exc:
            watcher.close()  # the next sign-in reads the secret again
            return self._failed(now, "auth", exc, None)
        except Exception as exc:  # a bug, or something no mapping foresaw: never stop here
            log.exception("%s: the poll failed", self.name)
            return self._failed(now, "backoff", exc, None)
        delay = max(self.watch.interval, watcher.cooldown() or 0.0)
        self._save(
            replace(
                self.state,
                state="ok",
                last_poll=now,
                last_ok=now,
                next_poll=now + timedelta(seconds=delay),
                attempts=0,
                retry_after=None,
                updated_at=now,
            )
        )
        return replace(result, delay=delay)

    def stopped(self) -> None:
        """Record that this watcher stopped (on shutdown)."""
        now = self.clock()
        self._save(replace(self.state, state="stopped", next_poll=None, updated_at=now))

    # -- a failed poll ----------------------------------------------------------------------

    def _failed(
        self, now: datetime, state: str, exc: Exception, retry_after: float | None
    ) -> PollResult:
        attempts = self.state.attempts + 1
        if state == "auth":
            delay = self.settings.auth_retry
        else:
            delay = backoff(
                attempts, self.settings.backoff_first, self.settings.backoff_cap, self.rng
            )
            delay = max(delay, retry_after or 0.0)
        error = one_line(f"{type(exc).__name__}: {exc}" if state == "backoff" else str(exc), 300)
        log.warning("%s: %s; next try in %.0f s (attempt %d)", self.name, error, delay, attempts)
        self._save(
            replace(
                self.state,
                state=state,
                last_poll=now,
                next_poll=now + timedelta(seconds=delay),
                attempts=attempts,
                retry_after=retry_after,
                last_error=error,
                updated_at=now,
            )
        )
        return PollResult(delay=delay, error=error)

    def _save(self, state: WatcherStateRecord) -> None:
        self.state = state
        try:
            with self.store.transaction():
                self.store.set_watcher_state(state)
        except Exception:  # the state is for `ooo status`; losing one update is harmless
            log.debug("%s: could not record the watcher state", self.name, exc_info=True)

    # -- asking in a room -------------------------------------------------------------------

    def _ask(self, now: datetime) -> int:
        ask = self.watch.ask
        poster = self.watch.watcher
        if ask is None or not isinstance(poster, Poster):
            return 0
        name = self.name
        rows = self.store.inquiries_to_ask(
            name, audiences=ask.audiences, since=self.settings.window_start, limit=ask.per_poll
        )
        posted = 0
        for row in rows:
            assert row.ref is not None  # inquiries_to_ask returns inquiries
            notice = room_notice(
                ref=row.ref,
                asker_name=row.from_name,
                owner_name=ask.owner_name,
                subject=row.subject if ask.share_subject else None,
                sender=row.sender if ask.share_sender else None,
                lang=ask.lang,
            )
            with self.store.transaction():
                self.store.begin_notice(name, row.ref, poster.room, now)
            try:
                event_id = poster.post(notice.text, notice.html, txn_id=f"ooo-{row.ref}")
            except NetworkAuthError as exc:
                with self.store.transaction():
                    self.store.notice_failed(name, row.ref, str(exc), now, final=True)
                raise
            with self.store.transaction():
                self.store.finish_notice(
                    name, row.ref, event_id=event_id, link=poster.link_for(event_id), now=now
                )
            log.info("%s: asked the room about %s (%s)", name, row.ref, event_id)
            posted += 1
        return posted

    # -- reading ----------------------------------------------------------------------------

    def _read(self, now: datetime) -> PollResult:
        watcher, store, name = self.watch.watcher, self.store, self.name
        since = self.settings.window_start
        batch = watcher.fetch_new(store.network_cursor(name), since)
        posts: list[Post] = list(batch.posts)
        roots: list[str] = []
        if watcher.rereads_threads:
            budget = max(self.settings.threads_per_poll, 0)
            found = thread_roots(self._match(posts))
            roots = found[:budget]
            for row in store.threads_to_read(name, budget):
                if len(roots) >= budget:
                    break
                if row.root not in roots:
                    roots.append(row.root)
            for root in roots:
                posts += watcher.thread(root)
        searched: list[str] = []
        if watcher.search_interval is not None and (
            self._next_search is None or now >= self._next_search
        ):
            for ref in store.refs_to_search(
                name,
                since=since,
                limit=self.settings.searches_per_poll,
                audiences=self.watch.audiences,
            ):
                posts += watcher.search(tag_for(ref), since)
                searched.append(ref)
            self._next_search = now + timedelta(seconds=watcher.search_interval)
        matched, signals = self._record(posts, now)
        with store.transaction():
            store.set_network_cursor(name, batch.cursor, now)
            for root in roots:
                store.mark_thread_read(name, root, now)
            for ref in searched:
                store.mark_searched(name, ref, now)
        return PollResult(fetched=len(posts), matched=matched, signals=signals)

    def _match(self, posts: Sequence[Post]) -> list[Match]:
        seen = self.store.posts_seen(self.name, [p.id for p in posts])
        return match_posts(
            [p for p in posts if p.id not in seen],
            self.store.known(self.name),
            own=(*self.watch.watcher.own, *self.settings.own),
            since=self.settings.window_start,
            delegate_names=self.settings.delegate_names,
        )

    def _record(self, posts: Sequence[Post], now: datetime) -> tuple[int, int]:
        store, name = self.store, self.name
        matched = signals = 0
        for m in self._match(posts):
            post = m.post
            with store.transaction():
                if not store.record_post(
                    name,
                    post_id=post.id,
                    ref=m.ref,
                    root=m.root,
                    role=m.role,
                    author=post.author,
                    link=post.link,
                    created_at=post.created_at,
                    now=now,
                ):
                    continue
                if m.new_thread:
                    store.add_thread(
                        name,
                        root=m.root,
                        ref=m.ref,
                        asker=m.asker,
                        link=post.link,
                        started_at=post.created_at,
                    )
                store.event(
                    "network_post",
                    now,
                    watcher=name,
                    ref=m.ref,
                    role=m.role,
                    post_id=post.id,
                    author=post.author,
                    link=post.link,
                    posted_at=post.created_at,
                )
                if m.signal is not None:
                    store.add_network_signal(m.signal)
            matched += 1
            if m.signal is not None:
                signals += 1
                log.info(
                    "%s: %s on %s: %s (%s)",
                    m.ref,
                    post.author,
                    NETWORK_NAMES.get(post.network, post.network),
                    m.signal.rule,
                    post.link or post.id,
                )
        return matched, signals


class NetworkRunner:
    """The watchers' threads. ``store_path`` names the state database (each thread opens its
    own connection to it); ``store_factory`` may replace it (a test's or the demo's store)."""

    def __init__(
        self,
        watches: Sequence[Watch],
        settings: RunnerSettings,
        *,
        store_path: Path | str | None = None,
        event_log: Path | None = None,
        store_factory: Callable[[], Store] | None = None,
        clock: Callable[[], datetime] = _now,
        rng: Callable[[], float] = random.random,
    ) -> None:
        if store_factory is None:
            if store_path is None:
                raise ValueError("NetworkRunner needs store_path or store_factory")
            path = store_path

            def store_factory() -> Store:
                return Store(path, event_log=event_log)

        names = [w.watcher.name for w in watches]
        if len(set(names)) != len(names):
            raise ValueError(f"two watchers share a name: {sorted(names)}")
        self.watches = list(watches)
        self.settings = settings
        self._store_factory = store_factory
        self._clock = clock
        self._rng = rng
        self._stop = threading.Event()
        self._wakes = {w.watcher.name: threading.Event() for w in self.watches}
        self._threads: list[threading.Thread] = []
        self._states: dict[str, WatcherStateRecord] = {}
        self._polls: dict[str, int] = dict.fromkeys(names, 0)
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start one thread per watcher (a no-op when running)."""
        if self._threads:
            return
        self._stop.clear()
        for watch in self.watches:
            thread = threading.Thread(
                target=self._run, args=(watch,), name=child_name(f"watch-{watch.watcher.name}")
            )
            # Daemon threads: a network call stuck past its timeout never holds up the exit.
            thread.daemon = True
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 10.0) -> bool:
        """Ask every watcher to stop and wait up to ``timeout`` seconds in all; True when all
        have stopped (a thread stuck in a network call is left behind, and says so)."""
        self._stop.set()
        for wake in self._wakes.values():
            wake.set()
        end = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, end - time.monotonic()))
        stuck = [t.name for t in self._threads if t.is_alive()]
        for name in stuck:
            log.warning("%s did not stop within %.0f s (a network call is hanging)", name, timeout)
        self._threads = [t for t in self._threads if t.is_alive()]
        return not stuck

    def wake(self, name: str | None = None) -> None:
        """Poll now: every watcher, or the one called ``name``."""
        for key, wake in self._wakes.items():
            if name is None or key == name:
                wake.set()

    def states(self) -> dict[str, WatcherStateRecord]:
        """Each watcher's state as its thread last left it (also in the store)."""
        with self._lock:
            return dict(self._states)

    def polls(self, name: str) -> int:
        """How many polls the watcher ``name`` has finished (tests wait on it)."""
        with self._lock:
            return self._polls.get(name, 0)

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def __enter__(self) -> NetworkRunner:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self, watch: Watch) -> None:
        name = watch.watcher.name
        wake = self._wakes[name]
        try:
            store = self._store_factory()
        except Exception:
            log.exception("%s: cannot open the state database; not watching", name)
            return
        loop = WatchLoop(watch, store, self.settings, self._clock, self._rng)
        try:
            while not self._stop.is_set():
                result = loop.poll()
                with self._lock:
                    self._states[name] = loop.state
                    self._polls[name] += 1
                if self._stop.is_set():
                    break
                wake.wait(result.delay)
                wake.clear()
        finally:
            loop.stopped()
            with self._lock:
                self._states[name] = loop.state
            watch.watcher.close()
            store.close()
