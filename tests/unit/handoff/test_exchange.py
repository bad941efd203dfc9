"""The Exchange handoff (ooo.handoff.exchange) through exchangelib's real client stack against
the loopback EWS server (tests/support/ews_server.py): scheduled automatic replies that start
when ooo's lease runs out, are pushed forward while ooo runs, and once the server has taken
over are left alone until the window ends (Exchange forgets whom it answered on every edit)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from ooo.core.sieve import ServerReply
from ooo.handoff.base import HandoffAuthError, HandoffRefused, HandoffState, HandoffUnavailable
from ooo.handoff.exchange import ExchangeHandoff
from ooo.mailbox.ews import EwsMailbox
from tests.support.ews_server import EwsServer
from tests.support.exchange import ews_mailbox
from tests.support.helpers import Clock

LEASE = timedelta(minutes=15)
REPLY = ServerReply(
    internal="Hi colleague, I am away.",
    external="Hello, I am away.",
    internal_domains=("example.test",),
    internal_html="<p>Hi colleague, I am away.</p>",
    external_html="<p>Hello, I am away.</p>",
)


def utc(text: str) -> datetime:
    """A time as the fake server keeps it (UTC, no zone)."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def ews() -> Iterator[EwsServer]:
    server = EwsServer(stream_seconds=1.0).start()
    yield server
    server.stop()


class WindowClock(Clock):
    """Real time, to the second (exchangelib refuses to schedule replies that end in the
    past), with the away window ending five days after the test starts."""

    def __init__(self) -> None:
        super().__init__(datetime.now(UTC).replace(microsecond=0))
        self.end = self.now + timedelta(days=5)


@pytest.fixture
def clock() -> WindowClock:
    return WindowClock()


def handoff(
    ews: EwsServer,
    clock: WindowClock,
    previous: HandoffState | None = None,
    password: str = "secret",  # noqa: S107 - the fake server's test account
) -> ExchangeHandoff:
    return ExchangeHandoff(
        lambda: ews_mailbox(ews, password),
        reply=REPLY,
        window_end=clock.end,
        lease=LEASE,
        clock=clock,
        previous=previous,
    )


def sets(ews: EwsServer) -> int:
    return len(ews.calls("SetUserOofSettings"))


def test_take_back_schedules_the_replies_for_when_the_lease_runs_out(
    ews: EwsServer, clock: WindowClock
) -> None:
    """Disabled replies become scheduled: from the lease's end to the window's end, with the
    owner's texts (HTML) for internal and external senders; ooo answers meanwhile."""
    h = handoff(ews, clock)
    try:
        assert h.take_back(clock.now + LEASE, []) is None
        assert ews.oof["state"] == "Scheduled"
        assert utc(ews.oof["start"]) == clock.now + LEASE
        assert utc(ews.oof["end"]) == h.window_end
        assert ews.oof["internal_reply"] == REPLY.internal_html
        assert ews.oof["external_reply"] == REPLY.external_html
        assert ews.oof["external_audience"] == "All"
        assert h.state.answering == "ooo"
        assert h.state.lease_until == clock.now + LEASE
    finally:
        h.close()


def test_renew_pushes_the_start_only_when_due(ews: EwsServer, clock: WindowClock) -> None:
    """While ooo runs, the start moves forward a third of a lease before it comes; in
    between, renew() costs no request."""
    h = handoff(ews, clock)
    try:
        h.take_back(clock.now + LEASE, [])
        before = len(ews.requests)
        clock.advance(minutes=5)
        assert h.renew(clock.now + LEASE, ["a@example.org"]) is None
        assert len(ews.requests) == before  # not due, and Exchange takes no sender list
        due = h.due()
        assert due == utc(ews.oof["start"]) - LEASE / 3
        clock.now = due
        assert h.renew(clock.now + LEASE, []) is None
        assert utc(ews.oof["start"]) == clock.now + LEASE
        assert h.state.answering == "ooo"
    finally:
        h.close()


def test_hand_off_starts_the_replies_now_and_they_stay_on(
    ews: EwsServer, clock: WindowClock
) -> None:
    """A clean stop hands off at once; a restart finds the server in charge and leaves it so
    (no edit: Exchange would forget whom it answered), reporting the period it covers."""
    h = handoff(ews, clock)
    h.take_back(clock.now + LEASE, [])
    clock.advance(minutes=3)
    stopped = clock.now
    h.hand_off("stopped")
    h.close()
    assert utc(ews.oof["start"]) == stopped
    assert h.state.answering == "server" and h.state.since == stopped
    assert h.due() is None

    clock.advance(hours=2)
    again = handoff(ews, clock, previous=HandoffState.from_json(h.state.to_json()))
    try:
        writes = sets(ews)
        period = again.take_back(clock.now + LEASE, [])
        assert period is not None and period.start == stopped and period.end is None
        assert again.state.answering == "server"
        assert again.renew(clock.now + LEASE, []) is None
        assert sets(ews) == writes  # no flip-flopping
        clock.advance(days=1)
        finished = again.finish()
        assert finished is not None
        assert (finished.start, finished.end) == (stopped, clock.now)
        assert ews.oof["state"] == "Disabled"
        assert again.state.answering == "owner"
        assert again.finish() is None  # idempotent
    finally:
        again.close()


def test_a_lease_that_ran_out_while_running_hands_over_for_good(
    ews: EwsServer, clock: WindowClock
) -> None:
    """If ooo could not renew in time (a long suspend), Exchange has started answering: renew()
    reports it and changes nothing."""
    h = handoff(ews, clock)
    try:
        h.take_back(clock.now + LEASE, [])
        start = utc(ews.oof["start"])
        clock.advance(minutes=40)
        writes = sets(ews)
        period = h.renew(clock.now + LEASE, [])
        assert period is not None and period.start == start
        assert h.state.answering == "server"
        assert sets(ews) == writes
    finally:
        h.close()


def test_the_owners_own_replies_are_not_replaced(ews: EwsServer, clock: WindowClock) -> None:
    """Replies the owner switched on in Outlook are theirs: take_back refuses with advice,
    check() fails, and nothing is written."""
    ews.oof.update(state="Enabled", internal_reply="Gone fishing", external_reply="Gone fishing")
    h = handoff(ews, clock)
    try:
        with pytest.raises(HandoffRefused) as refused:
            h.take_back(clock.now + LEASE, [])
        assert "Automatic Replies" in (refused.value.advice or "")
        assert sets(ews) == 0
        check = h.check()
        assert not check.ok and "enabled" in check.detail
    finally:
        h.close()


def test_replies_with_ooos_text_are_recognised_without_a_stored_state(
    ews: EwsServer, clock: WindowClock
) -> None:
    """With the state dir gone, replies carrying exactly ooo's text are still ooo's."""
    h = handoff(ews, clock)
    h.take_back(clock.now + LEASE, [])
    h.close()
    fresh = handoff(ews, clock)
    try:
        assert fresh.check().ok
        assert fresh.take_back(clock.now + LEASE, []) is None
        assert fresh.state.answering == "ooo"
    finally:
        fresh.close()


def test_a_moved_window_end_moves_the_replies_end(ews: EwsServer, clock: WindowClock) -> None:
    """Coming back early (away.end edited) is the one edit made while the server is in charge."""
    h = handoff(ews, clock)
    h.take_back(clock.now + LEASE, [])
    h.hand_off("stopped")
    h.close()
    earlier = ExchangeHandoff(
        lambda: ews_mailbox(ews),
        reply=REPLY,
        window_end=clock.now + timedelta(days=2),
        lease=LEASE,
        clock=clock,
        previous=h.state,
    )
    try:
        earlier.take_back(clock.now + LEASE, [])
        assert utc(ews.oof["end"]) == clock.now + timedelta(days=2)
        assert earlier.state.answering == "server"
    finally:
        earlier.close()


def test_errors_are_the_handoffs_own(ews: EwsServer, clock: WindowClock) -> None:
    """A refused login and an unreachable server map to HandoffAuthError/HandoffUnavailable;
    check() reports them instead of raising."""
    wrong = handoff(ews, clock, password="wrong")
    with pytest.raises(HandoffAuthError):
        wrong.take_back(clock.now + LEASE, [])
    assert not wrong.check().ok
    wrong.close()
    url = ews.url
    ews.stop()
    gone = ExchangeHandoff(
        lambda: EwsMailbox(
            url,
            "bob",
            lambda: "secret",
            auth="basic",
            use_streaming=False,
            primary_smtp_address="bob@example.test",
        ),
        reply=REPLY,
        window_end=clock.end,
        lease=LEASE,
        clock=clock,
    )
    with pytest.raises(HandoffUnavailable):
        gone.take_back(clock.now + LEASE, [])
    assert gone.due() is not None  # and it will try again
    gone.close()


def test_describe_shows_the_schedule_and_texts(ews: EwsServer, clock: WindowClock) -> None:
    """``ooo preview --handoff`` shows when the replies would start and end, and both texts."""
    text = handoff(ews, clock).describe(clock.now + LEASE, [])
    assert "scheduled from" in text and "External audience: All" in text
    assert REPLY.internal_html and REPLY.internal_html in text
    assert REPLY.external_html and REPLY.external_html in text
