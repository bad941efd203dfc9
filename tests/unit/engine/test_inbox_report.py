"""The report in the owner's inbox when the away window ends: composed (pure), appended once
per window through the mailbox (memory and the loopback EWS server), retried after a failure,
shown by `ooo status` while pending, and never answered or tracked by any responder."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ooo.config import Config, loads
from ooo.core.digest import REPORT_HEADER, compose_report_message, report_subject
from ooo.core.parse import parse
from ooo.core.policy import AUTOMATED, Owner, Reason, decide
from ooo.core.report import build_report
from ooo.core.status import StatusFacts, status_lines
from ooo.daemon import Daemon
from ooo.engine import Engine
from ooo.inbox import REPORT_STATUS, deliver_report, report_delivered, report_key
from ooo.mailbox.base import Mailbox, MailboxUnavailable
from ooo.mailbox.memory import MemoryMailbox, split_message
from ooo.store import Store
from ooo.transport.memory import MemoryTransport
from tests.support.configs import GOOD, GOOD_END, GOOD_START
from tests.support.ews_server import EwsServer
from tests.support.exchange import ews_mailbox
from tests.support.helpers import INSIDE, Clock, make_engine, raw_message, read, tracked

NOW = datetime(2027, 1, 5, 8, 30, tzinfo=UTC)


def config(tmp_path: Path, extra: str = "") -> Config:
    text = GOOD + extra + f'\n[state]\ndir = "{tmp_path}"\n'
    return loads(text, tmp_path / "c.toml")


def with_inquiries(store: Store) -> Store:
    """A store holding two inquiries (one of them resolved by its sender)."""
    return engine_with_inquiries(store)[0].store


def engine_with_inquiries(store: Store) -> tuple[Engine, MemoryMailbox, MemoryTransport, Clock]:
    """An engine whose store holds two inquiries (one of them resolved by its sender)."""
    engine, mailbox, transport, _, clock = make_engine(store)
    clock.now = GOOD_START + timedelta(days=2)
    mailbox.deliver(raw_message("alice@example.org", "bob@example.com"), clock.now)
    mailbox.deliver(
        raw_message("dan@example.net", "bob@example.com", "Übergabe", message_id="<m2@x.net>"),
        clock.now,
    )
    engine.sync()
    ref = store.inquiries_of("alice@example.org")[0].ref
    assert ref is not None
    store.add_signal(
        ref=ref,
        at=clock.now + timedelta(hours=1),
        kind="resolved",
        by="sender",
        rule="sender_says_resolved",
        evidence="never mind",
    )
    return engine, mailbox, transport, clock


def test_the_report_message_is_from_ooo_to_the_owner_and_marked_automatic() -> None:
    """The composed report: From "ooo" at the owner's address, To the owner, Date and our
    Message-ID, Auto-Submitted: auto-generated, X-Ooo-Report, text with HTML beside it."""
    subject = "Out-of-office report for Bob Exämple: 12 inquiries while you were away"
    msg = compose_report_message(
        subject=subject,
        text="12 inquiries while you were away.\n",
        html="<p>12 inquiries while you were away.</p>",
        owner_name="Bob Exämple",
        owner_address="bob@example.com",
        message_id="<r1@example.com>",
        now=NOW,
    )
    parsed = read(msg.as_bytes())
    assert parsed["From"] == "ooo <bob@example.com>"
    assert parsed["To"] == "Bob Exämple <bob@example.com>"
    assert parsed["Subject"] == subject
    assert parsed["Message-ID"] == "<r1@example.com>"
    assert parsed["Date"] == "Tue, 05 Jan 2027 08:30:00 +0000"
    assert parsed["Auto-Submitted"] == "auto-generated"
    assert parsed[REPORT_HEADER] == "1"
    assert parsed.get_content_type() == "multipart/alternative"
    plain_part = parsed.get_body(("plain",))
    html_part = parsed.get_body(("html",))
    assert plain_part is not None and html_part is not None
    assert "12 inquiries" in plain_part.get_content()
    assert "<p>12 inquiries" in html_part.get_content()


@pytest.mark.parametrize("reader", ["bob@example.com", "carol@example.com"])
def test_the_policy_never_answers_the_report(reader: str) -> None:
    """The report in an inbox is never answered: for its owner it is their own mail, and for
    any other account that gets it (forwarded, a shared mailbox) it is marked automatic."""
    raw = compose_report_message(
        subject="Out-of-office report for Bob Example: 1 inquiry while you were away, 1 still open",
        text="OOO-7K3Q9M still open\n",
        html="<p>OOO-7K3Q9M</p>",
        owner_name="Bob Example",
        owner_address="bob@example.com",
        message_id="<r2@example.com>",
        now=NOW,
    ).as_bytes()
    head, body = split_message(
        raw.replace(b"To: Bob Example <bob@example.com>", f"To: {reader}".encode())
    )
    decision = decide(
        parse("1", head, body, NOW),
        Owner((reader,)),
        window_start=NOW - timedelta(days=9),
        window_end=NOW + timedelta(days=1),
        last_reply_at=None,
        interval=timedelta(days=7),
        now=NOW,
    )
    expected = Reason.FROM_OWNER if reader == "bob@example.com" else Reason.AUTO_SUBMITTED
    assert decision.reason is expected
    assert decision.reason in AUTOMATED


def test_ooo_neither_answers_nor_tracks_the_report_in_its_own_window(tmp_path: Path) -> None:
    """The report read by a responder whose window is open (another account on the same
    mailbox, or the next window): no reply, no new inquiry, no signal, linked to nothing,
    though it cites the inquiries' references."""
    store = tracked(Store(":memory:"))
    engine, mailbox, transport, clock = engine_with_inquiries(store)
    refs = [f.ref for f in store.inquiry_facts()]
    clock.now = INSIDE + timedelta(days=3)
    sent_before = len(transport.sent)
    raw = compose_report_message(
        subject="Out-of-office report for Bob Example",
        text="\n".join(f"{ref} still open" for ref in refs),
        html="<p>" + " ".join(refs) + "</p>",
        owner_name="Bob Example",
        owner_address="bob@example.com",
        message_id="<r3@example.com>",
        now=clock.now,
    ).as_bytes()
    mailbox.deliver(raw, clock.now)  # as it would arrive inside an open window
    engine.sync()
    engine.flush()
    assert len(transport.sent) == sent_before
    row = store.messages()[-1]
    assert row.message_id == "<r3@example.com>"
    assert row.reason == Reason.FROM_OWNER.value
    assert row.ref is None and row.follows is None
    assert [f.ref for f in store.inquiry_facts()] == refs
    assert len(store.signals()) == 1  # only the sender's own "never mind"


def test_the_report_is_appended_unread_to_the_inbox_once(tmp_path: Path) -> None:
    """deliver_report puts the window's report into INBOX without \\Seen, with the report's
    numbers in the subject, and a second call (a second --once) appends nothing."""
    cfg = config(tmp_path)
    store = with_inquiries(tracked(Store(":memory:")))
    box = MemoryMailbox()
    assert deliver_report(cfg, store, box, Clock(NOW)) is True
    assert deliver_report(cfg, store, box, Clock(NOW + timedelta(hours=1))) is True
    (stored,) = box.folder_messages("INBOX")
    assert not stored.seen
    parsed = read(stored.raw)
    assert parsed["Subject"] == (
        "Out-of-office report for Bob Example: 2 inquiries while you were away, 1 still open"
    )
    assert parsed["From"] == "ooo <bob@example.com>"
    text = parsed.get_body(("plain",))
    assert text is not None and "Übergabe" in text.get_content()
    assert report_delivered(cfg, store)
    assert REPORT_STATUS not in store.status()


def test_the_report_in_the_inbox_speaks_the_reports_language(tmp_path: Path) -> None:
    """[report] language = "de": the subject, the text and the HTML of the message are in
    German, as `ooo report --lang de` would write them."""
    cfg = config(tmp_path, '\n[report]\nlanguage = "de"\n')
    store = with_inquiries(tracked(Store(":memory:")))
    box = MemoryMailbox()
    assert deliver_report(cfg, store, box, Clock(NOW))
    (stored,) = box.folder_messages("INBOX")
    parsed = read(stored.raw)
    assert parsed["Subject"] == (
        "Abwesenheitsbericht für Bob Example: 2 Anfragen während Ihrer Abwesenheit, 1 noch offen"
    )
    text, html = parsed.get_body(("plain",)), parsed.get_body(("html",))
    assert text is not None and "Abwesenheit" in text.get_content()
    assert html is not None and 'lang="de"' in html.get_content()


def test_a_report_with_no_inquiries_says_so_in_its_subject() -> None:
    """Nothing came in: the subject says there were no inquiries."""
    empty = build_report(
        [],
        [],
        {},
        owner_name="Bob Example",
        timezone=ZoneInfo("Europe/Berlin"),
        window_start=GOOD_START,
        window_end=GOOD_END,
        at=GOOD_END,
        generated_at=NOW,
    )
    assert report_subject(empty) == (
        "Out-of-office report for Bob Example: No inquiries while you were away"
    )


def test_to_inbox_false_appends_nothing(tmp_path: Path) -> None:
    """[report] to_inbox = false: no message in the inbox."""
    cfg = config(tmp_path, "\n[report]\nto_inbox = false\n")
    box = MemoryMailbox()
    assert deliver_report(cfg, tracked(Store(":memory:")), box, Clock(NOW)) is False
    assert box.folder_messages("INBOX") == []


def test_a_failed_append_is_shown_and_retried_with_the_same_message_id(tmp_path: Path) -> None:
    """The server is down at the end: nothing is recorded as delivered, `ooo status` says the
    report is not in the inbox yet and why; the next run appends it, once, with the
    Message-ID chosen the first time, and the status line goes away."""
    cfg = config(tmp_path)
    store = tracked(Store(":memory:"))
    box = MemoryMailbox()
    box.available = False
    assert deliver_report(cfg, store, box, Clock(NOW)) is False
    pending = store.meta(
        "inbox_report:" + f"{cfg.away.start.isoformat()}/{cfg.away.end.isoformat()}"
    )
    assert pending is not None and pending.startswith("pending <")
    facts = StatusFacts(
        now=NOW,
        window_start=cfg.away.start,
        window_end=cfg.away.end,
        timezone=ZoneInfo("Europe/Berlin"),
        status=store.status(),
        pid=None,
        cursor=None,
        epoch=0,
        counts={},
        reply_states={},
    )
    (line,) = [x for x in status_lines(facts) if x.startswith("report:")]
    assert "not in your inbox yet: memory: server unavailable" in line
    assert "ooo run --once" in line

    box.available = True
    assert deliver_report(cfg, store, box, Clock(NOW + timedelta(hours=2))) is True
    (stored,) = box.folder_messages("INBOX")
    assert read(stored.raw)["Message-ID"] == pending.split()[1]
    assert REPORT_STATUS not in store.status()


class StopsAfterAppend(MemoryMailbox):
    """A run that stops right after the APPEND, before the store records it (a crash, a
    shutdown): the report is in the inbox, the store still says "pending"."""

    stops = 1

    def append_to_inbox(self, raw: bytes) -> None:
        super().append_to_inbox(raw)
        if self.stops:
            self.stops -= 1
            raise SystemExit("stopped after the APPEND")


def test_a_run_stopped_after_its_append_does_not_put_the_report_there_twice(
    tmp_path: Path,
) -> None:
    """The next run finds the key pending, finds the pending Message-ID in the inbox, records
    the report as delivered and appends nothing; a pending report that is not there is
    appended (the APPEND itself failed)."""
    cfg = config(tmp_path)
    store = with_inquiries(tracked(Store(":memory:")))
    box = StopsAfterAppend()
    with pytest.raises(SystemExit):
        deliver_report(cfg, store, box, Clock(NOW))
    assert not report_delivered(cfg, store)
    assert deliver_report(cfg, store, box, Clock(NOW + timedelta(minutes=5))) is True
    assert len(box.folder_messages("INBOX")) == 1
    assert report_delivered(cfg, store)

    lost = with_inquiries(tracked(Store(":memory:")))
    with pytest.raises(SystemExit):
        deliver_report(cfg, lost, StopsAfterAppend(), Clock(NOW))
    empty = MemoryMailbox()
    assert deliver_report(cfg, lost, empty, Clock(NOW + timedelta(minutes=5))) is True
    assert len(empty.folder_messages("INBOX")) == 1


def test_the_daemon_tries_a_failed_append_again_for_a_minute(tmp_path: Path) -> None:
    """With the daemon's sleep (a laptop that woke up after the end, its network not up yet),
    a failed APPEND is tried again after 5, 15 and 40 s before it is left to the next run."""
    cfg = config(tmp_path)
    store = tracked(Store(":memory:"))
    box = MemoryMailbox()
    box.fail_next(2)
    waits: list[float] = []
    assert deliver_report(cfg, store, box, Clock(NOW), waits.append) is True
    assert waits == [5.0, 15.0]
    assert len(box.folder_messages("INBOX")) == 1

    other = tracked(Store(":memory:"))
    box.fail_next(10)
    waits.clear()
    assert deliver_report(cfg, other, box, Clock(NOW), waits.append) is False
    assert waits == [5.0, 15.0, 40.0]
    assert REPORT_STATUS in other.status()


class _FailingAfterAppend(MemoryMailbox):
    """A mailbox whose first append raises after storing nothing (a dropped connection)."""

    def __init__(self) -> None:
        super().__init__()
        self.failures = 1

    def append_to_inbox(self, raw: bytes) -> None:
        if self.failures:
            self.failures -= 1
            raise MailboxUnavailable("memory: connection dropped during APPEND")
        super().append_to_inbox(raw)


def run_after(cfg: Config, store: Store, box: Mailbox, at: datetime, *, once: bool = True) -> int:
    """The daemon run at ``at`` on this store and mailbox (after the window: it ends it)."""
    return Daemon(
        cfg, once=once, clock=Clock(at), mailbox=box, transport=MemoryTransport(), store=store
    ).run()


def test_the_daemon_puts_the_report_into_the_inbox_once_per_window(tmp_path: Path) -> None:
    """Two runs after the end (the daemon's end, then a --once): one report in the inbox, and
    the files are written as before; a new window gets its own report."""
    store = with_inquiries(tracked(Store(tmp_path / "state.db")))
    box = MemoryMailbox()
    cfg = config(tmp_path)
    for hours, once in ((1, False), (3, True)):
        run_after(cfg, store, box, GOOD_END + timedelta(hours=hours), once=once)
    assert len(box.folder_messages("INBOX")) == 1
    assert (tmp_path / "report.html").exists() and (tmp_path / "report.json").exists()

    later = cfg.model_copy(
        update={
            "away": cfg.away.model_copy(
                update={
                    "start": GOOD_END + timedelta(days=30),
                    "end": GOOD_END + timedelta(days=31),
                }
            )
        }
    )
    run_after(later, store, box, GOOD_END + timedelta(days=32))
    assert len(box.folder_messages("INBOX")) == 2


def test_the_daemon_retries_an_append_that_failed_at_the_next_run(tmp_path: Path) -> None:
    """The APPEND fails at the window's end: the daemon still ends normally; the next run
    puts the report into the inbox."""
    store = tracked(Store(tmp_path / "state.db"))
    box = _FailingAfterAppend()
    cfg = config(tmp_path)
    for hours in (1, 2):
        assert run_after(cfg, store, box, GOOD_END + timedelta(hours=hours)) == 0
    assert len(box.folder_messages("INBOX")) == 1
    assert report_delivered(cfg, store)


@pytest.fixture
def ews() -> Iterator[EwsServer]:
    server = EwsServer(stream_seconds=1.0).start()
    yield server
    server.stop()


def test_exchange_creates_the_report_unread_in_the_inbox(tmp_path: Path, ews: EwsServer) -> None:
    """On Exchange the report is an item created in the Inbox (unread), its MIME whole."""
    box: Mailbox = ews_mailbox(ews)
    store = tracked(Store(":memory:"))
    cfg = config(tmp_path)
    try:
        assert deliver_report(cfg, store, box, Clock(NOW))
        # What a run that finds the report pending looks for first (see the memory test).
        message_id = (store.meta(report_key(cfg)) or "").split()[-1]
        assert box.inbox_holds(message_id) is True
        assert box.inbox_holds(message_id.replace("@", ".2@")) is False
    finally:
        box.close()
    (item,) = ews.contents("inbox")
    assert not item.is_read
    assert item.header(REPORT_HEADER) == "1"
    assert item.header("Auto-Submitted") == "auto-generated"
