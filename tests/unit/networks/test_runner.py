"""The watchers' runner on the in-memory networks: answers become signals once, a network that
fails, rate-limits or refuses the token backs off on its own and catches up from its cursor,
and a slow network never holds up another."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ooo import locale
from ooo.core.social import tag_for
from ooo.networks.base import NetworkAuthError, NetworkUnavailable
from ooo.networks.memory import MemoryNetwork, MemoryWatcher
from ooo.networks.runner import Ask, NetworkRunner, RunnerSettings, Watch, WatchLoop
from ooo.store import Store
from tests.support.helpers import Clock
from tests.support.responder import wait_for
from tests.unit.networks.conftest import ARRIVED, START, AddInquiry

REF = "OOO-7K3Q9M"
OWNER = "@bob@hachyderm.io"
ASKER = "@alice@example.social"
HELPER = "@ana@hachyderm.io"
SETTINGS = RunnerSettings(window_start=START, backoff_first=30.0, backoff_cap=1800.0)


def mastodon() -> tuple[MemoryNetwork, MemoryWatcher]:
    net = MemoryNetwork("mastodon", host="hachyderm.io")
    return net, MemoryWatcher(net, owner=OWNER, name="mastodon:@bob@hachyderm.io")


def ask_question(
    net: MemoryNetwork, ref: str = REF, minutes: float = 10, at: datetime | None = None
) -> str:
    """The asker follows the "ask there" link: a post mentioning the owner with the tag."""
    return net.publish(
        ASKER,
        f"{OWNER} Question for my network while {OWNER} is away (#{tag_for(ref)})",
        at=at or ARRIVED + timedelta(minutes=minutes),
    ).id


def live_settings() -> RunnerSettings:
    """For the tests on threads, which run on the real clock: a window that started
    yesterday."""
    return RunnerSettings(window_start=datetime.now(UTC) - timedelta(days=1))


def live_inquiry(add_inquiry: AddInquiry, ref: str = REF) -> str:
    return add_inquiry(ref, received_at=datetime.now(UTC) - timedelta(hours=1))


def loop(store: Store, watcher: MemoryWatcher, clock: Clock, **watch: object) -> WatchLoop:
    return WatchLoop(Watch(watcher, interval=120.0, **watch), store, SETTINGS, clock, lambda: 0.5)  # type: ignore[arg-type]


def test_an_answer_becomes_a_signal_with_its_evidence(
    store: Store, add_inquiry: AddInquiry
) -> None:
    """The question arrives as a mention, a follower answers in its thread (without
    mentioning the owner: found by re-reading the thread), the asker thanks them: the
    inquiry is resolved by the network, with the helper, the link and the time."""
    add_inquiry(REF)
    net, watcher = mastodon()
    clock = Clock(ARRIVED + timedelta(hours=1))
    q = ask_question(net)
    answer = net.publish(HELPER, "Restart the runner with --clean, that fixes it.",
                         reply_to=q, at=ARRIVED + timedelta(minutes=40))  # fmt: skip
    net.publish(ASKER, "thanks, that solved it", reply_to=answer.id,
                at=ARRIVED + timedelta(minutes=50))  # fmt: skip
    result = loop(store, watcher, clock).poll()
    assert (result.matched, result.signals, result.error) == (3, 2, None)
    first, last = store.network_signals(REF)
    assert (first.rule, first.helper, first.link) == ("network_answered", HELPER, answer.link)
    assert first.evidence == "Restart the runner with --clean, that fixes it."
    assert first.at == ARRIVED + timedelta(minutes=40) and first.network == "mastodon"
    assert (last.rule, last.by, last.helper) == ("sender_says_resolved", "network", HELPER)
    [thread] = store.network_threads(REF)
    assert (thread.root, thread.asker, thread.read_at) == (q, ASKER, clock.now)
    assert store.network_cursor(watcher.name) is not None
    state = store.watcher_states()[0]
    assert (state.state, state.attempts, state.last_ok) == ("ok", 0, clock.now)
    assert state.next_poll == clock.now + timedelta(seconds=120)
    # Email readers see the same signals (the columns are additive).
    assert [s.rule for s in store.signals(REF)] == ["network_answered", "sender_says_resolved"]


def test_reading_again_counts_nothing_twice(store: Store, add_inquiry: AddInquiry) -> None:
    """A poll that reads the same posts again (a lost cursor, a thread re-read) records no
    second signal."""
    add_inquiry(REF)
    net, watcher = mastodon()
    clock = Clock(ARRIVED + timedelta(hours=1))
    q = ask_question(net)
    net.publish(HELPER, "Restart it, that fixes it.", reply_to=q, at=ARRIVED + timedelta(hours=0.5))
    loop_ = loop(store, watcher, clock)
    assert loop_.poll().signals == 1
    with store.transaction():
        store.db.execute("DELETE FROM network_cursor")
        store.db.execute("UPDATE network_thread SET read_at = NULL")
    again = loop_.poll()
    assert again.fetched >= 2 and (again.matched, again.signals) == (0, 0)
    assert len(store.network_signals(REF)) == 1


def test_a_network_that_fails_then_recovers_loses_and_doubles_nothing(
    store: Store, add_inquiry: AddInquiry
) -> None:
    """While the service is down the watcher backs off (doubling) and keeps its cursor; the
    answers published meanwhile are all recorded once it is back, each once."""
    add_inquiry(REF)
    net, watcher = mastodon()
    clock = Clock(ARRIVED + timedelta(hours=1))
    loop_ = loop(store, watcher, clock)
    q = ask_question(net)
    assert loop_.poll().matched == 1
    cursor = store.network_cursor(watcher.name)
    net.available = False
    delays = []
    for minute in (1, 2, 3):
        net.publish(f"@helper{minute}@example.social", f"Answer {minute}: restart the box.",
                    reply_to=q, at=clock.now + timedelta(minutes=minute))  # fmt: skip
        result = loop_.poll()
        assert result.error is not None and "unavailable" in result.error
        delays.append(result.delay)
        clock.advance(seconds=result.delay)
    assert delays == [30.0, 60.0, 120.0]  # backoff_first doubling (jitter fixed at its middle)
    assert store.network_cursor(watcher.name) == cursor
    state = store.watcher_states()[0]
    assert (state.state, state.attempts) == ("backoff", 3)
    assert state.last_error is not None and "unavailable" in state.last_error
    net.available = True
    assert loop_.poll().signals == 3
    assert loop_.poll().signals == 0
    helpers = sorted(s.helper or "" for s in store.network_signals(REF))
    assert helpers == ["@helper1@example.social", "@helper2@example.social",
                       "@helper3@example.social"]  # fmt: skip
    assert store.watcher_states()[0].attempts == 0


def test_a_rate_limit_waits_at_least_as_long_as_the_service_asks(
    store: Store, add_inquiry: AddInquiry
) -> None:
    """A 429 asking for 15 minutes is honoured even though the first backoff is 30 s."""
    add_inquiry(REF)
    net, watcher = mastodon()
    clock = Clock(ARRIVED)
    net.rate_limit(900.0)
    result = loop(store, watcher, clock).poll()
    assert result.delay == 900.0
    state = store.watcher_states()[0]
    assert (state.state, state.retry_after) == ("backoff", 900.0)
    assert state.next_poll == clock.now + timedelta(seconds=900)


def test_a_revoked_token_is_retried_rarely_and_signs_in_again(
    store: Store, add_inquiry: AddInquiry
) -> None:
    """A refused token puts the watcher in the "auth" state for an hour, and the next poll
    signs in again (reading the secret anew) rather than reusing the refused session."""
    net, watcher = mastodon()
    clock = Clock(ARRIVED)
    loop_ = loop(store, watcher, clock)
    assert loop_.poll().error is None and watcher.opened == 1
    net.fail_next(1, NetworkAuthError("memory: 401 The access token was revoked"))
    result = loop_.poll()
    assert result.delay == SETTINGS.auth_retry
    state = store.watcher_states()[0]
    assert state.state == "auth" and state.last_error == "memory: 401 The access token was revoked"
    assert loop_.poll().error is None and watcher.opened == 2


def test_a_bug_in_a_watcher_never_escapes_the_poll(store: Store) -> None:
    """Anything unexpected from a watcher becomes a backoff, not a dead thread."""
    net, watcher = mastodon()
    net.fail_next(1, RuntimeError("boom"))  # type: ignore[arg-type]
    result = loop(store, watcher, Clock(ARRIVED)).poll()
    assert result.error == "RuntimeError: boom"


def test_a_question_that_does_not_mention_the_owner_is_found_by_its_tag(
    store: Store, add_inquiry: AddInquiry
) -> None:
    """The asker removed the mention: the tag search (the fallback) finds the question, and
    its thread is read on the next poll."""
    add_inquiry(REF)
    net, watcher = mastodon()
    clock = Clock(ARRIVED + timedelta(hours=1))
    q = net.publish(ASKER, f"Anyone? #{tag_for(REF)}", at=ARRIVED + timedelta(minutes=5)).id
    net.publish(HELPER, "Restart it, that fixes it.", reply_to=q, at=ARRIVED + timedelta(minutes=9))
    loop_ = loop(store, watcher, clock)
    first = loop_.poll()
    assert first.matched == 1 and net.calls["search"] == 1
    assert [t.root for t in store.network_threads(REF)] == [q]
    clock.advance(minutes=2)
    assert loop_.poll().signals == 1
    assert net.calls["search"] == 1  # the inquiry has its thread now: no more searching


def test_threads_read_per_poll_are_bounded(store: Store, add_inquiry: AddInquiry) -> None:
    """With many followed threads, one poll re-reads at most threads_per_poll of them, the
    least recently read first, so the request budget stays flat."""
    net, watcher = mastodon()
    clock = Clock(ARRIVED + timedelta(hours=1))
    for n in range(8):
        ref = add_inquiry(f"OOO-{n}A{n}B{n}C")
        ask_question(net, ref, minutes=n)
    loop_ = WatchLoop(Watch(watcher), store, SETTINGS, clock, lambda: 0.5)
    loop_.poll()
    assert net.calls["thread"] == SETTINGS.threads_per_poll
    clock.advance(minutes=2)
    loop_.poll()
    assert net.calls["thread"] == 2 * SETTINGS.threads_per_poll
    assert all(t.read_at is not None for t in store.network_threads())


def test_a_backlog_is_caught_up_over_several_polls(store: Store, add_inquiry: AddInquiry) -> None:
    """When more arrived than one poll reads (the services' paging), the next polls go on
    from the cursor: nothing is skipped."""
    refs = [add_inquiry(f"OOO-{n}D{n}E{n}F") for n in range(9)]
    net = MemoryNetwork("mastodon")
    watcher = MemoryWatcher(net, owner=OWNER, page_size=2, max_pages=2)
    clock = Clock(ARRIVED + timedelta(hours=1))
    for n, ref in enumerate(refs):
        ask_question(net, ref, minutes=n)
    loop_ = loop(store, watcher, clock)
    assert [loop_.poll().fetched >= 1 for _ in range(3)] == [True, True, True]
    assert {t.ref for t in store.network_threads()} == set(refs)


def test_asking_in_a_room_posts_once_and_a_teammates_answer_resolves(
    store: Store, add_inquiry: AddInquiry
) -> None:
    """With ask = ["internal"], each internal inquiry gets one notice in the room (no email
    address in it), its thread is followed, and a teammate's answer there resolves it.
    External inquiries are not posted."""
    add_inquiry(REF, audience="internal", sender="dave@corp.example", from_name="Dave")
    add_inquiry("OOO-4F6G7H", audience="external")
    room = MemoryNetwork("matrix", host="matrix.to")
    watcher = MemoryWatcher(room, owner="@bob:corp.example", room="!team:corp.example")
    clock = Clock(ARRIVED + timedelta(hours=1))
    ask = Ask(frozenset({"internal"}), owner_name="Bob Example")
    loop_ = loop(store, watcher, clock, ask=ask)
    assert loop_.poll().asked == 1
    [notice] = room.posts()
    assert notice.author == "@bob:corp.example" and REF in notice.text
    assert "Dave asked Bob Example" in notice.text and "@corp.example" not in notice.text
    [record] = store.notices()
    assert (record.ref, record.state, record.event_id) == (REF, "posted", notice.id)
    room.publish("@carol:corp.example", "Dave, the VPN profile needs a reinstall.",
                 reply_to=notice.id, at=clock.now + timedelta(minutes=5))  # fmt: skip
    clock.advance(minutes=10)
    result = loop_.poll()
    assert (result.asked, result.signals) == (0, 1)
    [signal] = store.network_signals(REF)
    assert (signal.helper, signal.network, signal.rule) == (
        "@carol:corp.example", "matrix", "network_answered",
    )  # fmt: skip
    assert len(room.posts()) == 2  # nothing posted again


def test_a_notice_interrupted_by_an_outage_is_posted_once(
    store: Store, add_inquiry: AddInquiry
) -> None:
    """The notice is retried with the same transaction id after a failure: one notice."""
    add_inquiry(REF, audience="internal")
    room = MemoryNetwork("matrix")
    watcher = MemoryWatcher(room, owner="@bob:corp.example", room="!team:corp.example")
    clock = Clock(ARRIVED + timedelta(hours=1))
    loop_ = loop(store, watcher, clock, ask=Ask(frozenset({"internal"}), owner_name="Bob"))
    watcher.open()
    original = watcher.post
    calls = 0

    def post_then_fail(text: str, html: str, *, txn_id: str) -> str:
        nonlocal calls
        calls += 1
        event = original(text, html, txn_id=txn_id)
        if calls == 1:
            room.available = False  # posted, but the answer never came back
            raise NetworkUnavailable("lost")
        return event

    watcher.post = post_then_fail  # type: ignore[method-assign]
    assert loop_.poll().error is not None
    room.available = True
    assert loop_.poll().asked == 1
    assert len(room.posts()) == 1 and store.notices()[0].state == "posted"


def test_the_room_notice_speaks_the_language_it_is_given(
    store: Store, add_inquiry: AddInquiry
) -> None:
    """Ask.lang (the shell gives the report's language: the room is the colleagues'): the
    notice goes out in German."""
    add_inquiry(REF, audience="internal", from_name="Dave")
    room = MemoryNetwork("matrix", host="matrix.to")
    watcher = MemoryWatcher(room, owner="@bob:corp.example", room="!team:corp.example")
    ask = Ask(frozenset({"internal"}), owner_name="Bob Example", lang=locale.language("de"))
    loop_ = loop(store, watcher, Clock(ARRIVED + timedelta(hours=1)), ask=ask)
    assert loop_.poll().asked == 1
    [notice] = room.posts()
    assert notice.text.startswith(
        "Dave hat Bob Example (zurzeit nicht im Büro) per E-Mail eine Frage gestellt."
    )
    assert f"Referenz {REF} (#{tag_for(REF).lstrip('#')})." in notice.text
    assert "Bitte antworte in diesem Thread." in notice.text


# -- threads ------------------------------------------------------------------------------------


def test_a_slow_network_does_not_hold_up_another(
    state_path: Path, store: Store, add_inquiry: AddInquiry
) -> None:
    """One network stops answering (its calls hang until their timeout); the other watcher
    keeps polling and records its answer meanwhile; both stop promptly."""
    live_inquiry(add_inquiry)
    slow_net = MemoryNetwork("bluesky")
    slow = MemoryWatcher(slow_net, owner="@bob.bsky.social", timeout=30.0)
    fast_net, fast = mastodon()
    slow_net.hold()
    runner = NetworkRunner(
        [Watch(slow, interval=5.0), Watch(fast, interval=0.05)],
        live_settings(),
        store_path=state_path,
    )
    with runner:
        wait_for(lambda: slow_net.calls["open"] >= 1, 10, "the slow watcher to be stuck")
        q = ask_question(fast_net, at=datetime.now(UTC))
        fast_net.publish(HELPER, "Restart it, that fixes it.", reply_to=q)
        wait_for(lambda: store.network_signals(REF), 10, "the fast network's answer")
        assert runner.polls(slow.name) == 0
        slow_net.release()
        wait_for(lambda: runner.polls(slow.name) >= 1, 10, "the slow watcher to recover")
        started = time.monotonic()
    assert not runner.running and time.monotonic() - started < 5
    states = {s.watcher: s.state for s in store.watcher_states()}
    assert states == {slow.name: "stopped", fast.name: "stopped"}


def test_wake_polls_now_and_stop_is_prompt(
    state_path: Path, store: Store, add_inquiry: AddInquiry
) -> None:
    """With an hour between polls, wake() makes the watcher poll at once; stop() ends it
    without waiting for the hour."""
    live_inquiry(add_inquiry)
    net, watcher = mastodon()
    runner = NetworkRunner(
        [Watch(watcher, interval=3600.0)], live_settings(), store_path=state_path
    )
    runner.start()
    try:
        wait_for(lambda: runner.polls(watcher.name) >= 1, 10, "the first poll")
        q = ask_question(net, at=datetime.now(UTC))
        net.publish(HELPER, "Restart it, that fixes it.", reply_to=q)
        runner.wake()
        wait_for(lambda: store.network_signals(REF), 10, "the answer after wake()")
    finally:
        started = time.monotonic()
        assert runner.stop(timeout=10)
    assert time.monotonic() - started < 5
    assert runner.states()[watcher.name].state == "stopped"


def test_watchers_need_distinct_names(state_path: Path) -> None:
    """Two watchers under one name would share a cursor: refused."""
    net = MemoryNetwork()
    a = MemoryWatcher(net, owner=OWNER, name="x")
    b = MemoryWatcher(net, owner=OWNER, name="x")
    with pytest.raises(ValueError, match="share a name"):
        NetworkRunner([Watch(a), Watch(b)], live_settings(), store_path=state_path)


def test_the_runner_writes_while_the_engine_holds_its_own_connection(
    state_path: Path, store: Store, add_inquiry: AddInquiry
) -> None:
    """The runner's threads use their own connections; the test's (the engine's) connection
    keeps reading and writing meanwhile."""
    live_inquiry(add_inquiry)
    net, watcher = mastodon()
    stop = threading.Event()
    writes = 0

    def engine() -> None:
        nonlocal writes
        with Store(state_path) as own:
            while not stop.is_set():
                with own.transaction():
                    own.set_status("probe", str(writes), ARRIVED)
                writes += 1
                stop.wait(0.01)

    thread = threading.Thread(target=engine)
    thread.start()
    try:
        with NetworkRunner([Watch(watcher, interval=0.05)], live_settings(), store_path=state_path):
            q = ask_question(net, at=datetime.now(UTC))
            net.publish(HELPER, "Restart it, that fixes it.", reply_to=q)
            wait_for(lambda: store.network_signals(REF), 10, "the answer")
    finally:
        stop.set()
        thread.join()
    assert writes > 0
