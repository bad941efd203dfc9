"""The logind hook (ooo.handoff.sleep) on a real D-Bus with a fake logind.

The bus is a private ``dbus-daemon`` (tests/support/dbus.py); logind is :class:`FakeLogind`
below, a small service on that bus that answers ``Inhibit`` the way systemd-logind does (with
the file descriptor of an inhibitor, held until the client closes it) and emits
``PrepareForSleep`` / ``PrepareForShutdown``. A real D-Bus, a fake logind: the hook's D-Bus
traffic, its file-descriptor passing and its timing are real; logind's policy is not.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from jeepney import (  # type: ignore[import-untyped]
    DBusAddress,
    MessageType,
    new_error,
    new_method_return,
    new_signal,
)
from jeepney.bus_messages import message_bus  # type: ignore[import-untyped]
from jeepney.io.blocking import Proxy, open_dbus_connection  # type: ignore[import-untyped]
from jeepney.low_level import HeaderFields  # type: ignore[import-untyped]

from ooo.handoff.sleep import LOGIND, LOGIND_PATH, MANAGER, SleepHook
from tests.support.dbus import PrivateBus
from tests.support.responder import wait_for

PROMPT = 10.0


class FakeLogind:
    """org.freedesktop.login1 on a private bus: records Inhibit calls, hands out inhibitors
    (the write end of a pipe, as logind hands out a FIFO) and emits the sleep signals."""

    def __init__(self, address: str, *, refuse: bool = False) -> None:
        self.conn = open_dbus_connection(bus=address, enable_fds=True)
        reply = Proxy(message_bus, self.conn, timeout=PROMPT).RequestName(LOGIND)
        assert reply == (1,), f"could not own {LOGIND}: {reply}"
        self.refuse = refuse
        self.calls: list[tuple[str, ...]] = []
        self._held: list[int] = []  # our read ends; EOF once the client closed its end
        self._outbox: queue.Queue[Any] = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            while not self._outbox.empty():
                self.conn.send(self._outbox.get())
            try:
                msg = self.conn.receive(timeout=0.05)
            except TimeoutError:
                continue
            header = msg.header
            if header.message_type is not MessageType.method_call:
                continue
            if header.fields.get(HeaderFields.member) != "Inhibit":
                self.conn.send(new_error(msg, "org.freedesktop.DBus.Error.UnknownMethod"))
                continue
            self.calls.append(tuple(msg.body))
            if self.refuse:
                self.conn.send(
                    new_error(msg, "org.freedesktop.DBus.Error.AccessDenied", "s", ("no",))
                )
                continue
            read_end, write_end = os.pipe()
            os.set_blocking(read_end, False)
            self._held.append(read_end)
            self.conn.send(new_method_return(msg, "h", (write_end,)))
            os.close(write_end)  # the client holds the only write end now

    def emit(self, member: str, value: bool) -> None:
        manager = DBusAddress(LOGIND_PATH, interface=MANAGER)
        self._outbox.put(new_signal(manager, member, "b", (value,)))

    def held(self) -> int:
        """Inhibitors still held by the client (a closed write end reads as EOF)."""
        count = 0
        for fd in self._held:
            try:
                data = os.read(fd, 1)
            except BlockingIOError:
                count += 1
                continue
            assert data == b""
        return count

    def close(self) -> None:
        self._stop.set()
        self._thread.join(PROMPT)
        for fd in self._held:
            with contextlib.suppress(OSError):
                os.close(fd)
        self.conn.close()


@pytest.fixture
def bus() -> Iterator[PrivateBus]:
    with PrivateBus() as private:
        yield private


@pytest.fixture
def logind(bus: PrivateBus) -> Iterator[FakeLogind]:
    fake = FakeLogind(bus.address)
    yield fake
    fake.close()


class Recorder:
    """The daemon's side: what it was told, and whether it was told in time."""

    def __init__(self, logind: FakeLogind | None = None) -> None:
        self.logind = logind
        self.events: list[str] = []
        self.held_when_told: list[int] = []

    def on_sleep(self, what: str) -> None:
        if self.logind is not None:
            self.held_when_told.append(self.logind.held())
        self.events.append(what)

    def on_resume(self) -> None:
        self.events.append("resume")


def test_the_hook_holds_a_delay_inhibitor(bus: PrivateBus, logind: FakeLogind) -> None:
    """start() asks logind for a delay inhibitor on sleep and shutdown, naming ooo and why."""
    hook = SleepHook(Recorder().on_sleep, bus=bus.address, why="hand off to the mail server")
    try:
        assert hook.start() is True
        assert logind.calls == [("sleep:shutdown", "ooo", "hand off to the mail server", "delay")]
        assert logind.held() == 1
        assert "holding" in hook.status
    finally:
        hook.stop()
    wait_for(lambda: logind.held() == 0, PROMPT, "the inhibitor released at stop()")


def test_before_sleep_ooo_hands_off_then_releases(bus: PrivateBus, logind: FakeLogind) -> None:
    """PrepareForSleep(true): the callback runs while the inhibitor is still held (logind
    waits for it), then the inhibitor is released; after the resume a new one is taken and
    the daemon is told to take back."""
    seen = Recorder(logind)
    hook = SleepHook(seen.on_sleep, seen.on_resume, bus=bus.address)
    try:
        assert hook.start()
        logind.emit("PrepareForSleep", True)
        wait_for(lambda: seen.events == ["sleep"], PROMPT, "the sleep callback")
        assert seen.held_when_told == [1]
        wait_for(lambda: logind.held() == 0, PROMPT, "the inhibitor released after the handoff")
        logind.emit("PrepareForSleep", False)
        wait_for(lambda: seen.events == ["sleep", "resume"], PROMPT, "the resume callback")
        assert len(logind.calls) == 2
        assert logind.held() == 1
    finally:
        hook.stop()


def test_before_shutdown_ooo_hands_off(bus: PrivateBus, logind: FakeLogind) -> None:
    """PrepareForShutdown(true) is handled like sleep, and says which it was."""
    seen = Recorder(logind)
    hook = SleepHook(seen.on_sleep, seen.on_resume, bus=bus.address)
    try:
        assert hook.start()
        logind.emit("PrepareForShutdown", True)
        wait_for(lambda: seen.events == ["shutdown"], PROMPT, "the shutdown callback")
        assert seen.held_when_told == [1]
        wait_for(lambda: logind.held() == 0, PROMPT, "the inhibitor released")
    finally:
        hook.stop()


def test_a_failing_handoff_still_releases_the_inhibitor(
    bus: PrivateBus, logind: FakeLogind
) -> None:
    """If the handoff raises (server unreachable), sleep is not held up beyond it."""

    def boom(what: str) -> None:
        raise RuntimeError("the mail server is unreachable")

    hook = SleepHook(boom, bus=bus.address)
    try:
        assert hook.start()
        logind.emit("PrepareForSleep", True)
        wait_for(lambda: logind.held() == 0, PROMPT, "the inhibitor released")
        assert "released" in hook.status
    finally:
        hook.stop()


def test_without_logind_the_hook_says_so_and_does_nothing(
    bus: PrivateBus, caplog: pytest.LogCaptureFixture
) -> None:
    """A bus with no logind on it: start() returns False and says once that the lease covers
    sleep; nothing is called."""
    seen = Recorder()
    hook = SleepHook(seen.on_sleep, bus=bus.address)
    with caplog.at_level("INFO", logger="ooo"):
        assert hook.start() is False
    hook.stop()
    assert "the lease covers sleep" in hook.status or "the lease covers" in caplog.text
    assert len([r for r in caplog.records if "sleep hook" in r.getMessage()]) == 1
    assert seen.events == []


def test_logind_refusing_the_inhibitor(bus: PrivateBus) -> None:
    """logind may refuse (policy): the hook reports it unavailable instead of failing."""
    fake = FakeLogind(bus.address, refuse=True)
    try:
        hook = SleepHook(Recorder().on_sleep, bus=bus.address)
        assert hook.start() is False
        assert "AccessDenied" in hook.status
        hook.stop()
    finally:
        fake.close()


def test_without_any_bus_the_hook_does_nothing(tmp_path: Any) -> None:
    """No bus at that address (a container without D-Bus): start() returns False."""
    hook = SleepHook(Recorder().on_sleep, bus=f"unix:path={tmp_path}/no-bus-here")
    assert hook.start() is False
    assert "lease covers" in hook.status
    hook.stop()
