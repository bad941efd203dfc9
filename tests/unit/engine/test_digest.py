"""The delegate's daily digest: when it is due (pure, in the owner's time zone), which
inquiries it lists and its words (pure), and the shell step on the in-memory store and
transport: once per delegate per day across restarts, nothing on a day with nothing open,
retried when the transport is down, never twice after a send cut off midway."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ooo import locale
from ooo.config import Config, loads
from ooo.core.digest import (
    DIGEST_HEADER,
    build_digest,
    compose_digest,
    digest_due,
    next_digest_at,
    open_inquiries,
)
from ooo.core.parse import parse
from ooo.core.policy import Owner, Reason, decide
from ooo.core.report import InquiryView, derive
from ooo.core.tracking import InquiryFacts, SignalEvent
from ooo.core.wording import ENGLISH, Language
from ooo.daemon import Daemon
from ooo.errors import ConfigError
from ooo.inbox import DIGEST_RETRY, DigestState, digest_key, next_digest, send_digests
from ooo.mailbox.memory import MemoryMailbox, split_message
from ooo.store import Store
from ooo.transport.base import TransportRejected
from ooo.transport.memory import MemoryTransport
from tests.support.configs import GOOD
from tests.support.helpers import Clock, make_engine, raw_message, read, tracked

BERLIN = ZoneInfo("Europe/Berlin")
CAROL = "carol@example.com"
DAN = "dan@example.com"
#: 2026-12-22, 08:30 in Berlin.
MORNING = datetime(2026, 12, 22, 7, 30, tzinfo=UTC)

DIGEST = """
[delegate]
name = "Carol Jones"
email = "carol@example.com"
digest = "daily"
digest_hour = 9

[[route]]
subject_contains = ["invoice"]
delegate = { name = "Dan Delegate", email = "dan@example.com" }
"""


def config(tmp_path: Path, extra: str = DIGEST) -> Config:
    return loads(GOOD + extra + f'\n[state]\ndir = "{tmp_path}"\n', tmp_path / "c.toml")


def facts(ref: str, delegate: str | None, hours_ago: float, **kw: object) -> InquiryFacts:
    values: dict[str, object] = {
        "ref": ref,
        "sender": f"{ref.lower()}@example.org",
        "from_name": "",
        "subject": f"About {ref}",
        "received_at": MORNING - timedelta(hours=hours_ago),
        "audience": "external",
        "replied": True,
        "delegate": delegate,
        "message_id": None,
    }
    values.update(kw)
    return InquiryFacts(**values)  # type: ignore[arg-type]


# -- when (pure) ----------------------------------------------------------------------------


def test_the_digest_is_due_from_the_hour_once_a_day_in_the_owners_time_zone() -> None:
    """Due at 09:00 Berlin time (08:00 UTC in winter), not before; once that day; a missed
    hour is caught up later the same day; the next one is at 09:00 the day after."""
    before = datetime(2026, 12, 22, 7, 59, tzinfo=UTC)
    at = datetime(2026, 12, 22, 8, 0, tzinfo=UTC)
    evening = datetime(2026, 12, 22, 20, 0, tzinfo=UTC)
    assert digest_due(before, BERLIN, 9, None) is None
    assert digest_due(at, BERLIN, 9, None) == date(2026, 12, 22)
    assert digest_due(evening, BERLIN, 9, None) == date(2026, 12, 22)  # the machine slept
    assert digest_due(evening, BERLIN, 9, date(2026, 12, 22)) is None
    assert digest_due(evening, BERLIN, 9, date(2026, 12, 21)) == date(2026, 12, 22)
    assert next_digest_at(before, BERLIN, 9, None) == at
    assert next_digest_at(evening, BERLIN, 9, date(2026, 12, 22)) == at + timedelta(days=1)
    assert next_digest_at(evening, BERLIN, 9, None) == evening


def test_the_next_digest_across_a_dst_change_is_at_the_local_hour() -> None:
    """After the spring change, 09:00 in Berlin is 07:00 UTC; an hour the change skips
    (02:00) comes at the first real instant after it."""
    saturday = datetime(2027, 3, 27, 12, 0, tzinfo=UTC)
    assert next_digest_at(saturday, BERLIN, 9, date(2027, 3, 27)) == datetime(
        2027, 3, 28, 7, 0, tzinfo=UTC
    )
    skipped = next_digest_at(saturday, BERLIN, 2, date(2027, 3, 27))
    assert skipped > saturday
    assert skipped.astimezone(BERLIN).date() == date(2027, 3, 28)


# -- what (pure) ----------------------------------------------------------------------------


def test_a_delegate_gets_only_their_open_inquiries_urgent_and_vip_first_then_oldest() -> None:
    """Resolved inquiries and other delegates' are left out; a flagged one leads, then VIPs,
    then the oldest first."""
    inquiries = [
        facts("OOO-AAAAAA", CAROL, 50),
        facts("OOO-BBBBBB", CAROL, 70),
        facts("OOO-CCCCCC", DAN, 80),
        facts("OOO-DDDDDD", CAROL, 10),
        facts("OOO-EEEEEE", CAROL, 5, audience="vip"),
        facts("OOO-FFFFFF", "Carol@Example.com", 3),
        facts("OOO-GGGGGG", None, 90),
    ]
    signals = [
        SignalEvent("OOO-BBBBBB", MORNING - timedelta(hours=60), "resolved", "sender", "r", "ok"),
        SignalEvent(
            "OOO-DDDDDD",
            MORNING - timedelta(hours=1),
            "open",
            None,
            "still",
            "urgent",
            flagged=True,
        ),
    ]
    views = derive(inquiries, signals, MORNING, timezone=BERLIN)
    assert [v.ref for v in open_inquiries(views, CAROL)] == [
        "OOO-DDDDDD",
        "OOO-EEEEEE",
        "OOO-AAAAAA",
        "OOO-FFFFFF",
    ]
    assert [v.ref for v in open_inquiries(views, DAN)] == ["OOO-CCCCCC"]
    assert open_inquiries(views, "nobody@example.com") == []


def digest_message(views: list[InquiryView], lang: Language = ENGLISH) -> EmailMessage:
    """Carol's digest on MORNING (Bob is back on 5 January 2027), as she receives it."""
    digest = build_digest(
        views, delegate_name="Carol Jones", delegate_email=CAROL, now=MORNING, tz=BERLIN, lang=lang
    )
    msg = compose_digest(
        digest,
        owner_name="Bob Example",
        owner_address="bob@example.com",
        back=datetime(2027, 1, 5, 8, 0, tzinfo=UTC),
        tz=BERLIN,
        message_id="<d1@example.com>",
        now=MORNING,
        lang=lang,
    )
    return read(msg.as_bytes())


def test_the_digest_lists_reference_sender_subject_age_and_last_event() -> None:
    """Each line of the digest: the reference, the sender (name and address), the subject,
    how long it has waited and the last thing that happened; sender text is made one clean
    line; marked automatic so nobody answers it."""
    inquiries = [
        facts(
            "OOO-AAAAAA",
            CAROL,
            51,
            from_name="Zoë \x1b[31mRed",
            subject="Übergabe\r\nBcc: evil@example.net",
        )
    ]
    views = derive(inquiries, [], MORNING, timezone=BERLIN)
    digest = build_digest(
        views, delegate_name="Carol Jones", delegate_email=CAROL, now=MORNING, tz=BERLIN
    )
    (item,) = digest.items
    assert item.age == "2 d 3 h"
    parsed = digest_message(views)
    assert parsed["To"] == "Carol Jones <carol@example.com>"
    assert parsed["From"] == "ooo for Bob Example <bob@example.com>"
    assert parsed["Subject"] == "[ooo] 1 open inquiry for you (2026-12-22)"
    assert parsed["Auto-Submitted"] == "auto-generated"
    assert parsed["X-Auto-Response-Suppress"] == "All"
    assert parsed[DIGEST_HEADER] == "1"
    assert parsed["Bcc"] is None
    text = parsed.get_content().replace("\r\n", "\n")
    assert "OOO-AAAAAA  Zoë [31mRed <ooo-aaaaaa@example.org>" in text
    assert "Subject:    Übergabe Bcc: evil@example.net" in text
    assert "Waiting:    2 d 3 h (since Sun 20 Dec 05:30)" in text
    assert "Last event: " in text
    assert "Bob Example is away until Tuesday 5 January 2027" in text
    assert "\x1b" not in text


def test_an_empty_digest_is_never_composed() -> None:
    """A digest with nothing open is a bug to send: composing it raises."""
    empty = build_digest([], delegate_name="C", delegate_email=CAROL, now=MORNING, tz=BERLIN)
    with pytest.raises(ValueError, match="never sent"):
        compose_digest(
            empty,
            owner_name="Bob",
            owner_address="bob@example.com",
            back=MORNING,
            tz=BERLIN,
            message_id="<d2@example.com>",
            now=MORNING,
        )


def test_the_policy_never_answers_a_digest() -> None:
    """A digest that reaches a responder (the delegate's own, or ooo watching a shared inbox)
    is automatic: not answered."""
    views = derive([facts("OOO-AAAAAA", CAROL, 5)], [], MORNING, timezone=BERLIN)
    digest = build_digest(views, delegate_name="C", delegate_email=CAROL, now=MORNING, tz=BERLIN)
    raw = compose_digest(
        digest,
        owner_name="Bob",
        owner_address="bob@example.com",
        back=MORNING,
        tz=BERLIN,
        message_id="<d3@example.com>",
        now=MORNING,
    ).as_bytes()
    head, body = split_message(raw)
    decision = decide(
        parse("1", head, body, MORNING),
        Owner((CAROL,)),
        window_start=MORNING - timedelta(days=1),
        window_end=MORNING + timedelta(days=1),
        last_reply_at=None,
        interval=timedelta(days=7),
        now=MORNING,
    )
    assert decision.reason is Reason.AUTO_SUBMITTED


# -- config ---------------------------------------------------------------------------------


def test_digest_settings_are_validated(tmp_path: Path) -> None:
    """digest is "off" by default; digest_hour must be 0-23; digest takes "daily" or "off"."""
    assert config(tmp_path, '\n[delegate]\nname = "C"\nemail = "c@example.com"\n').delegate
    plain = config(tmp_path, '\n[delegate]\nname = "C"\nemail = "c@example.com"\n')
    assert plain.delegate is not None and plain.delegate.digest == "off"
    assert plain.delegate.digest_hour == 9
    with pytest.raises(ConfigError) as exc:
        config(tmp_path, DIGEST.replace("digest_hour = 9", "digest_hour = 24"))
    assert "delegate.digest_hour" in exc.value.render()
    assert ":" + str(GOOD.count("\n") + 6) in exc.value.render()  # the line is named
    with pytest.raises(ConfigError, match="problem"):
        config(tmp_path, DIGEST.replace('digest = "daily"', 'digest = "weekly"'))


# -- the shell step -------------------------------------------------------------------------


def store_with_inquiries() -> Store:
    """Two open inquiries for Carol (the [delegate]) and one for Dan (a route's delegate)."""
    engine, mailbox, _, store, clock = make_engine()
    clock.now = MORNING - timedelta(days=1)
    for i, (sender, subject) in enumerate(
        [
            ("alice@example.org", "A question"),
            ("erin@example.org", "Another one"),
            ("frank@example.org", "The invoice"),
        ]
    ):
        mailbox.deliver(raw_message(sender, subject=subject, message_id=f"<q{i}@x.org>"), clock.now)
    engine.sync()
    delegates = {"alice@example.org": CAROL, "erin@example.org": CAROL, "frank@example.org": DAN}
    with store.transaction():
        for sender, delegate in delegates.items():
            store.db.execute("UPDATE message SET delegate = ? WHERE sender = ?", (delegate, sender))
    return store


def test_each_delegate_gets_one_digest_a_day_across_restarts(tmp_path: Path) -> None:
    """At 09:00 Carol and Dan each get one digest listing their own inquiries; later wake-ups
    that day (a restart too: the state is in the store) send nothing; the next day they get
    the next one. Sent from the null envelope, to the delegate alone."""
    cfg = config(tmp_path)
    store = store_with_inquiries()
    transport = MemoryTransport()
    nine = datetime(2026, 12, 22, 8, 0, tzinfo=UTC)
    assert send_digests(cfg, store, transport, nine - timedelta(minutes=1)) == 0
    assert next_digest(cfg, store, nine - timedelta(hours=2)) == nine
    assert send_digests(cfg, store, transport, nine) == 2
    by_rcpt = {m.recipients[0]: read(m.raw) for m in transport.sent}
    assert set(by_rcpt) == {CAROL, DAN}
    assert all(m.envelope_from == "" for m in transport.sent)
    assert "2 open inquiries" in str(by_rcpt[CAROL]["Subject"])
    assert "The invoice" in by_rcpt[DAN].get_content()
    assert "The invoice" not in by_rcpt[CAROL].get_content()

    assert send_digests(cfg, store, transport, nine + timedelta(hours=5)) == 0
    reopened = tracked(Store(":memory:"))
    store.db.backup(reopened.db)  # what a restarted daemon finds
    assert send_digests(cfg, reopened, transport, nine + timedelta(hours=6)) == 0
    assert next_digest(cfg, reopened, nine + timedelta(hours=6)) == nine + timedelta(days=1)
    assert send_digests(cfg, reopened, transport, nine + timedelta(days=1, hours=3)) == 2
    assert len(transport.sent) == 4


def test_the_digest_is_in_the_configured_report_language(tmp_path: Path) -> None:
    """[report] language = "fr": the delegates read their digest in French, as the owner
    reads the report."""
    cfg = config(tmp_path, DIGEST + '\n[report]\nlanguage = "fr"\n')
    transport = MemoryTransport()
    nine = datetime(2026, 12, 22, 8, 0, tzinfo=UTC)
    assert send_digests(cfg, store_with_inquiries(), transport, nine) == 2
    by_rcpt = {m.recipients[0]: read(m.raw) for m in transport.sent}
    assert by_rcpt[CAROL]["Subject"] == "[ooo] 2 demandes ouvertes pour vous (2026-12-22)"
    assert by_rcpt[DAN].get_content().startswith("Bonjour ")


def test_nothing_is_sent_on_a_day_with_nothing_open(tmp_path: Path) -> None:
    """No open inquiry for anyone: no mail, and the day counts as done (an inquiry arriving
    at noon waits for tomorrow's digest)."""
    cfg = config(tmp_path)
    store = tracked(Store(":memory:"))
    transport = MemoryTransport()
    nine = datetime(2026, 12, 22, 8, 0, tzinfo=UTC)
    assert send_digests(cfg, store, transport, nine) == 0
    assert transport.sent == []
    state = DigestState.from_json(store.meta(digest_key(CAROL)))
    assert state is not None and state.state == "none" and state.day == date(2026, 12, 22)


def test_digest_off_or_outside_the_window_sends_nothing(tmp_path: Path) -> None:
    """digest = "off" (the default), or a moment outside the away window: nothing is sent."""
    store = store_with_inquiries()
    transport = MemoryTransport()
    nine = datetime(2026, 12, 22, 8, 0, tzinfo=UTC)
    off = config(tmp_path, DIGEST.replace('digest = "daily"', 'digest = "off"'))
    assert send_digests(off, store, transport, nine) == 0
    assert next_digest(off, store, nine) is None
    cfg = config(tmp_path)
    assert send_digests(cfg, store, transport, datetime(2027, 1, 6, 8, 0, tzinfo=UTC)) == 0
    assert transport.sent == []


def test_a_transport_that_is_down_is_retried_later_the_same_day(tmp_path: Path) -> None:
    """SMTP down at 09:00: nothing is recorded as sent; the next try waits DIGEST_RETRY, then
    the digest goes out once."""
    cfg = config(tmp_path)
    store = store_with_inquiries()
    transport = MemoryTransport(available=False)
    nine = datetime(2026, 12, 22, 8, 0, tzinfo=UTC)
    assert send_digests(cfg, store, transport, nine) == 0
    state = DigestState.from_json(store.meta(digest_key(CAROL)))
    assert state is not None and state.state == "failed" and state.error
    transport.available = True
    assert send_digests(cfg, store, transport, nine + timedelta(minutes=1)) == 0
    assert next_digest(cfg, store, nine + timedelta(minutes=1)) == nine + DIGEST_RETRY
    assert send_digests(cfg, store, transport, nine + DIGEST_RETRY) == 2
    assert send_digests(cfg, store, transport, nine + 2 * DIGEST_RETRY) == 0


class _Refusing(MemoryTransport):
    def send(self, raw: bytes, envelope_from: str, recipients: list[str]) -> dict[str, str]:
        raise TransportRejected("550 no such user")


def test_a_refused_digest_is_not_retried_that_day(tmp_path: Path) -> None:
    """The server refuses the delegate's address for good: logged, not retried today."""
    cfg = config(tmp_path)
    store = store_with_inquiries()
    nine = datetime(2026, 12, 22, 8, 0, tzinfo=UTC)
    assert send_digests(cfg, store, _Refusing(), nine) == 0
    transport = MemoryTransport()
    assert send_digests(cfg, store, transport, nine + timedelta(hours=1)) == 0
    assert transport.sent == []


def test_a_digest_cut_off_mid_send_is_never_sent_again_that_day(tmp_path: Path) -> None:
    """A crash between "sending" and "sent": it may have left, so it is not sent twice."""
    cfg = config(tmp_path)
    store = store_with_inquiries()
    nine = datetime(2026, 12, 22, 8, 0, tzinfo=UTC)
    with store.transaction():
        store.set_meta(
            digest_key(CAROL), DigestState(date(2026, 12, 22), "sending", nine).to_json()
        )
    transport = MemoryTransport()
    assert send_digests(cfg, store, transport, nine + timedelta(minutes=1)) == 1
    assert [m.recipients for m in transport.sent] == [[DAN]]


def test_an_unreadable_digest_state_counts_as_nothing_sent(tmp_path: Path) -> None:
    """A damaged entry in the store is not a crash: the digest is simply due."""
    cfg = config(tmp_path)
    store = store_with_inquiries()
    with store.transaction():
        store.set_meta(digest_key(CAROL), "{not json")
    transport = MemoryTransport()
    assert send_digests(cfg, store, transport, datetime(2026, 12, 22, 8, 0, tzinfo=UTC)) == 2


def test_the_daemon_sends_the_digest_when_it_runs_and_once_a_day(tmp_path: Path) -> None:
    """`ooo run --once` at 10:00 (the 09:00 digest missed while the machine slept) sends each
    delegate their digest; another run that day sends nothing more."""
    cfg = config(tmp_path)
    store = store_with_inquiries()
    transport = MemoryTransport()
    for hour in (9, 11):
        Daemon(
            cfg,
            once=True,
            clock=Clock(datetime(2026, 12, 22, hour, 0, tzinfo=UTC)),
            mailbox=MemoryMailbox(),
            transport=transport,
            store=store,
        ).run()
    assert sorted(m.recipients[0] for m in transport.sent) == [CAROL, DAN]


def test_the_digest_speaks_the_report_s_language() -> None:
    """In German (the owner's [report] language): the subject, the greeting, the sentence
    with both days in German words, the labels lined up, the age and the footer."""
    inquiries = [facts("OOO-AAAAAA", CAROL, 51, subject="Rechnung")]
    views = derive(inquiries, [], MORNING, timezone=BERLIN)
    parsed = digest_message(views, locale.language("de"))
    assert parsed["Subject"] == "[ooo] 1 offene Anfrage für Sie (2026-12-22)"
    assert parsed["From"] == "ooo für Bob Example <bob@example.com>"
    text = parsed.get_content().replace("\r\n", "\n")
    assert text.startswith("Hallo Carol Jones,\n")
    flat = " ".join(text.split())
    assert "Bob Example ist bis Dienstag, 5. Januar 2027 nicht im Büro." in flat
    assert "1 an Sie weitergeleitete Anfrage ist am Dienstag, 22. Dezember 2026 noch offen:" in flat
    assert "  Betreff:     Rechnung\n" in text  # padded to the longest label, "Wartet seit:"
    waiting = next(line for line in text.splitlines() if "Wartet seit:" in line)
    assert waiting.startswith("  Wartet seit: ") and "(seit " in waiting, waiting
    assert "Diese Liste schickt ooo einmal täglich" in flat
    assert all(len(line) <= 78 for line in text.splitlines() if " " in line.strip())
