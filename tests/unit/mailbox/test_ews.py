"""The Exchange backend through exchangelib's real client stack, against tests/ews_server.py:
the mailbox contract, plus what only Exchange has (sync states, categories, OOF)."""

from __future__ import annotations

import base64
import contextlib
import email
import email.policy
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ooo.config import loads
from ooo.errors import ConfigError
from ooo.mailbox import create, mailbox_id
from ooo.mailbox.base import CursorInvalid, MailboxAuthError, MailboxUnavailable
from ooo.mailbox.ews import EwsMailbox, category_to_keyword, keyword_to_category
from ooo.store import Store as StateStore
from ooo.transport.base import TransportAuthError
from ooo.transport.ews import EwsTransport, is_calendar_answer
from tests.support.cli import ooo
from tests.support.configs import GOOD, write_config
from tests.support.ews_server import NS, EwsServer
from tests.support.exchange import (
    ews_mailbox,
    ews_transport,
    exchange_engine,
    extended_properties,
)
from tests.support.helpers import INSIDE, Clock, raw_message
from tests.support.mailbox_contract import (
    LONG_WAIT,
    PROMPT,
    Deliver,
    FolderContents,
    MailboxContract,
    Store,
    drain,
    message,
    unique,
)


@pytest.fixture
def ews() -> Iterator[EwsServer]:
    server = EwsServer(stream_seconds=1.0).start()
    yield server
    server.stop()


@pytest.fixture
def mailbox(ews: EwsServer) -> Iterator[EwsMailbox]:
    box = ews_mailbox(ews)
    box.open()
    yield box
    box.close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TestEwsMailbox(MailboxContract):
    """EwsMailbox passes the backend contract against a loopback EWS server."""

    @pytest.fixture
    def deliver(self, ews: EwsServer) -> Deliver:
        def deliver(raw: bytes) -> None:
            ews.deliver(raw)

        return deliver

    @pytest.fixture
    def store(self, ews: EwsServer) -> Store:
        def store(raw: bytes, received_at: datetime | None) -> None:
            ews.deliver(raw, received_at)

        return store

    @pytest.fixture
    def folder_contents(self, ews: EwsServer) -> FolderContents:
        def contents(folder: str) -> list[tuple[bytes, frozenset[str]]]:
            name = "inbox" if folder == "INBOX" else folder
            try:
                items = ews.contents(name)
            except KeyError:
                return []
            # Categories read back as the keywords they stand for; IsRead as \Seen.
            return [
                (
                    i.raw,
                    frozenset(
                        {category_to_keyword(c) for c in i.categories}
                        | ({"\\Seen"} if i.is_read else set())
                    ),
                )
                for i in items
            ]

        return contents

    @pytest.fixture
    def make_cursor_stale(self, ews: EwsServer) -> Callable[[], None]:
        return ews.invalidate_sync_states

    @pytest.fixture
    def wrong_password_mailbox(self, ews: EwsServer) -> EwsMailbox:
        return ews_mailbox(ews, password="wrong")

    @pytest.fixture
    def unreachable_mailbox(self) -> EwsMailbox:
        return EwsMailbox(
            f"http://127.0.0.1:{closed_port()}/EWS/Exchange.asmx",
            "bob",
            lambda: "secret",
            primary_smtp_address="bob@example.test",
            auth="basic",
        )


# -- what the client sends ------------------------------------------------------------------


def test_sync_state_is_echoed_back_and_only_small_fields_are_asked_for(
    ews: EwsServer, mailbox: EwsMailbox
) -> None:
    """fetch_new sends the sync state of the cursor it is given, reads new mail with a short
    field list (never MimeContent), and its cursor carries the server's new state."""
    cursor = mailbox.baseline(datetime.now(UTC))
    baseline_state = ews.calls("SyncFolderItems")[-1]
    ews.deliver(message(unique("state")))
    batch = mailbox.fetch_new(cursor)
    assert len(batch.messages) == 1
    sync = ews.calls("SyncFolderItems")[-1]
    sent_state = sync.element.findtext("m:SyncFolderItems/m:SyncState", None, NS)
    assert sent_state and sent_state in cursor
    assert baseline_state is not sync
    (get,) = [r for r in ews.calls("GetItem") if b"item:TextBody" in r.body]
    fields = {
        f.get("FieldURI")
        for f in get.findall("m:GetItem/m:ItemShape/t:AdditionalProperties/t:FieldURI")
    }
    assert "item:MimeContent" not in fields
    assert {"item:InternetMessageHeaders", "message:InternetMessageId", "item:InReplyTo"} <= fields
    assert len(fields) <= 12
    # The next fetch sends the state from the batch's cursor, not the old one.
    mailbox.fetch_new(batch.cursor)
    again = ews.calls("SyncFolderItems")[-1]
    new_state = again.element.findtext("m:SyncFolderItems/m:SyncState", None, NS)
    assert new_state and new_state in batch.cursor and new_state != sent_state


def test_tags_are_categories_set_with_update_item(ews: EwsServer, mailbox: EwsMailbox) -> None:
    """tag() sets the Exchange category "ooo: resolved" for $OooResolved through UpdateItem,
    and untag() removes the field when no category is left."""
    cursor = mailbox.baseline(datetime.now(UTC))
    key = ews.deliver(message(unique("categorise")))
    drain(mailbox, cursor)
    mailbox.tag(key, "$OooResolved")
    (item,) = ews.contents("inbox")
    assert item.categories == ["ooo: resolved"]
    update = ews.calls("UpdateItem")[-1]
    values = [s.text for s in update.findall(".//t:SetItemField/t:Message/t:Categories/t:String")]
    assert values == ["ooo: resolved"]
    mailbox.untag(key, "$OooResolved")
    assert item.categories == []
    assert ews.calls("UpdateItem")[-1].findall(".//t:DeleteItemField")


def test_category_names() -> None:
    """Engine keywords map to readable categories and back; other names pass through."""
    assert keyword_to_category("$OooOpen") == "ooo: open"
    assert keyword_to_category("$OooReplied") == "ooo: replied"
    assert keyword_to_category("$OooNeedsYou") == "ooo: needs you"
    assert keyword_to_category("Red category") == "Red category"
    for keyword in ("$OooOpen", "$OooResolved", "$OooNeedsYou", "Blue"):
        assert category_to_keyword(keyword_to_category(keyword)) == keyword


def test_invalid_sync_state_is_cursor_invalid(ews: EwsServer, mailbox: EwsMailbox) -> None:
    """ErrorInvalidSyncStateData from the server becomes CursorInvalid (the engine
    re-baselines), and the mailbox stays usable."""
    cursor = mailbox.baseline(datetime.now(UTC))
    ews.invalidate_sync_states()
    with pytest.raises(CursorInvalid):
        mailbox.fetch_new(cursor)
    assert mailbox.connected


def test_a_baseline_reads_no_old_message(ews: EwsServer, mailbox: EwsMailbox) -> None:
    """The baseline sync asks only for arrival times; old mail is never fetched with GetItem."""
    now = datetime.now(UTC)
    old = ews.deliver(message(unique("old")), now - timedelta(days=3))
    cursor = mailbox.baseline(now - timedelta(hours=1))
    drain(mailbox, cursor)
    assert not any(old.encode() in r.body for r in ews.calls("GetItem"))


def test_wrong_password_names_server_and_user_but_not_the_password(ews: EwsServer) -> None:
    """A refused login says where and who, never the password."""
    box = ews_mailbox(ews, password="hunter2-wrong")
    with pytest.raises(MailboxAuthError) as caught:
        box.open()
    assert ews.url in str(caught.value)
    assert "'bob'" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_polling_wait_when_streaming_is_refused(ews: EwsServer) -> None:
    """A server that refuses streaming subscriptions is polled, and wait() still wakes."""
    ews.streaming_enabled = False
    box = ews_mailbox(ews, poll_interval=0.1)
    box.open()
    try:
        cursor = box.baseline(datetime.now(UTC))
        _, cursor = drain(box, cursor)
        assert box.wait(0.3) is False
        ews.deliver(message(unique("polled")))
        assert box.wait(PROMPT) is True
        fetched, _ = drain(box, cursor)
        assert len(fetched) == 1
    finally:
        box.close()


@pytest.mark.parametrize("streaming", [True, False])
def test_interrupt_cuts_a_wait_in_another_thread_short(ews: EwsServer, streaming: bool) -> None:
    """interrupt() from another thread (a daemon of several accounts stopping one) ends a long
    wait() at once, streaming or polling; the mailbox stays usable."""
    ews.streaming_enabled = streaming
    box = ews_mailbox(ews, poll_interval=LONG_WAIT)
    box.open()
    try:
        cursor = box.baseline(datetime.now(UTC))
        _, cursor = drain(box, cursor)
        timer = threading.Timer(0.2, box.interrupt)
        timer.start()
        started = time.monotonic()
        box.wait(LONG_WAIT)
        assert time.monotonic() - started < PROMPT
        timer.join()
        assert drain(box, cursor)[0] == []
    finally:
        box.close()


def test_operations_on_a_closed_mailbox_raise_unavailable(mailbox: EwsMailbox) -> None:
    """After close(), every operation raises MailboxUnavailable, not an AttributeError."""
    cursor = mailbox.baseline(datetime.now(UTC))
    mailbox.close()
    with pytest.raises(MailboxUnavailable):
        mailbox.fetch_new(cursor)
    with pytest.raises(MailboxUnavailable):
        mailbox.wait(0.1)


def test_server_autoreply_is_reported(ews: EwsServer, mailbox: EwsMailbox) -> None:
    """server_autoreply() is None while the server's OOF is off, and says so when it is on."""
    assert mailbox.server_autoreply() is None
    ews.oof["state"] = "Enabled"
    assert mailbox.server_autoreply() == "on"
    assert ews.calls("GetUserOofSettings")


def test_append_files_a_read_copy_as_sent(ews: EwsServer, mailbox: EwsMailbox) -> None:
    """append() into "Sent" uses the Sent Items folder and marks the copy as a sent, read
    message (PR_MESSAGE_FLAGS), not as a draft."""
    raw = message(unique("copy"))
    mailbox.append("Sent", raw, seen=True)
    (item,) = ews.contents("sentitems")
    assert item.raw == raw
    assert item.is_read
    assert item.extended == {"0xe07": "1"}
    assert base64.b64encode(raw) in ews.calls("CreateItem")[-1].body


# -- replies through EWS, and the engine on Exchange ----------------------------------------


def test_a_reply_is_a_new_message_with_auto_submitted_headers(ews: EwsServer) -> None:
    """EwsTransport sends a new Message (CreateItem, SendAndSaveCopy) threaded with InReplyTo
    and References and marked Auto-Submitted / X-Auto-Response-Suppress through InternetHeaders
    extended properties; the copy lands in Sent Items."""
    reply = (
        b"From: Bob <bob@example.test>\r\nTo: alice@example.org\r\nCc: carol@example.com\r\n"
        b"Subject: Auto: A question\r\nMessage-ID: <r1@example.test>\r\n"
        b"In-Reply-To: <q1@example.org>\r\nReferences: <q0@example.org> <q1@example.org>\r\n"
        b"Auto-Submitted: auto-replied\r\nX-Auto-Response-Suppress: All\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\nI am away until Monday.\r\n"
    )
    transport = ews_transport(ews)
    try:
        assert transport.send(reply, "", ["alice@example.org", "carol@example.com"]) == {}
    finally:
        transport.close()
    (create,) = ews.calls("CreateItem")
    element = create.find("m:CreateItem")
    assert element is not None and element.get("MessageDisposition") == "SendAndSaveCopy"
    (msg,) = create.findall("m:CreateItem/m:Items/t:Message")
    assert extended_properties(msg) == {
        "Auto-Submitted": "auto-replied",
        "X-Auto-Response-Suppress": "All",
    }
    assert msg.findtext("t:InReplyTo", None, NS) == "<q1@example.org>"
    assert msg.findtext("t:References", None, NS) == "<q0@example.org> <q1@example.org>"
    assert msg.findtext("t:Subject", None, NS) == "Auto: A question"
    to = [a.text for a in msg.findall("t:ToRecipients/t:Mailbox/t:EmailAddress", NS)]
    cc = [a.text for a in msg.findall("t:CcRecipients/t:Mailbox/t:EmailAddress", NS)]
    assert (to, cc) == (["alice@example.org"], ["carol@example.com"])
    (copy,) = ews.contents("sentitems")
    assert copy.extended["Auto-Submitted"] == "auto-replied"


CALENDAR = Path(__file__).parents[2] / "support" / "corpus" / "calendar"


def meeting_reasons(ews: EwsServer, tmp_path: Path, name: str) -> list[str]:
    """The engine on Exchange with [calendar] invitations = "decline" after the calendar
    corpus's ``name`` arrived: the reasons it recorded."""
    store = StateStore(tmp_path / "state.sqlite")
    try:
        engine, box = exchange_engine(ews, store, Clock())
        engine.settings = replace(engine.settings, invitations="decline")
        try:
            engine.sync()  # first start: the baseline
            ews.deliver((CALENDAR / name).read_bytes(), INSIDE)
            engine.sync()
        finally:
            box.close()
        return [m.reason for m in store.messages()]
    finally:
        store.close()


def test_an_invitation_on_exchange_is_declined_with_an_itip_answer(
    ews: EwsServer, tmp_path: Path
) -> None:
    """An Outlook invitation arrives in an Exchange mailbox: EWS hands it over as a
    MeetingRequest, which ooo reads again as MIME for its calendar part, declines like a
    calendar would, and sends as MIME, so that Exchange sends a meeting response rather than
    a message with an .ics attachment."""
    assert meeting_reasons(ews, tmp_path, "outlook-request.eml") == ["meeting_declined"]
    mime_reads = [c for c in ews.calls("GetItem") if b"item:MimeContent" in c.body]
    assert len(mime_reads) == 1  # the invitation alone, once
    (create,) = ews.calls("CreateItem")
    (sent_xml,) = create.findall("m:CreateItem/m:Items/t:Message")
    assert sent_xml.find("t:ToRecipients", NS) is None  # the recipients are the MIME's
    sent = base64.b64decode(sent_xml.findtext("t:MimeContent", "", NS))
    answer = email.message_from_bytes(sent, policy=email.policy.default)
    assert answer["To"].addresses[0].addr_spec == "alice@example.org"
    assert answer["Subject"] == "Declined: Quarterly planning"
    assert answer["Auto-Submitted"] == "auto-replied"
    (part,) = [p for p in answer.walk() if p.get_content_type() == "text/calendar"]
    assert part.get_param("method") == "REPLY"
    assert "PARTSTAT=DECLINED" in part.get_content()
    (copy,) = ews.contents("sentitems")
    assert copy.element == "MeetingResponse"  # what Exchange made of it


def test_a_cancellation_on_exchange_is_left_alone(ews: EwsServer, tmp_path: Path) -> None:
    """A cancellation is a MeetingCancellation on Exchange; read as MIME, it is what the IMAP
    path sees too: calendar mail that is not an invitation, and nothing is sent."""
    reasons = meeting_reasons(ews, tmp_path, "outlook-cancel.eml")
    assert reasons == ["calendar_not_an_invitation"]
    assert ews.calls("CreateItem") == []


def test_an_invitation_whose_mime_cannot_be_read_is_answered_as_mail(
    ews: EwsServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """When the second read brings no MIME content, the invitation keeps its text and is
    ordinary mail (the sender still gets the reply), and the log says why."""
    plain = ews._field_xml

    def no_mime(item: Any, uri: str) -> str:
        return "" if uri == "item:MimeContent" else plain(item, uri)

    monkeypatch.setattr(ews, "_field_xml", no_mime)
    assert meeting_reasons(ews, tmp_path, "outlook-request.eml") == ["reply"]
    assert "could not read the calendar part" in caplog.text


def test_only_an_answer_to_an_invitation_goes_out_as_mime() -> None:
    """The transport's test: a calendar part with method=REPLY, and To the one recipient."""
    answer = (
        b"To: Alice <alice@example.org>\r\nSubject: Declined: x\r\n"
        b'Content-Type: multipart/alternative; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nDeclined.\r\n"
        b'--b\r\nContent-Type: text/calendar; charset="utf-8"; method="REPLY"\r\n\r\n'
        b"BEGIN:VCALENDAR\r\nMETHOD:REPLY\r\nEND:VCALENDAR\r\n--b--\r\n"
    )
    assert is_calendar_answer(answer, ["alice@example.org"])
    assert is_calendar_answer(answer, ["Alice@Example.org"])
    assert not is_calendar_answer(answer, ["mallory@example.org"])
    assert not is_calendar_answer(answer, ["alice@example.org", "carol@example.com"])
    assert not is_calendar_answer(
        answer.replace(b"Subject:", b"Cc: carol@example.com\r\nSubject:"), ["alice@example.org"]
    )
    assert not is_calendar_answer(
        answer.replace(b'method="REPLY"', b'method="REQUEST"'), ["alice@example.org"]
    )
    assert not is_calendar_answer(message("an ordinary reply"), ["alice@example.org"])


def test_transport_with_a_wrong_password_is_an_auth_error(ews: EwsServer) -> None:
    """A refused login while sending is TransportAuthError: the reply stays queued."""
    transport = EwsTransport(
        ews.url, "bob", lambda: "wrong", primary_smtp_address=ews.address, auth="basic"
    )
    with pytest.raises(TransportAuthError):
        transport.send(message("x"), "", ["alice@example.org"])
    transport.close()


def test_a_crash_between_a_sync_batch_and_its_state_answers_nothing_twice(
    ews: EwsServer, tmp_path: Path
) -> None:
    """The engine answers a SyncFolderItems batch, then "crashes" before the new sync state is
    stored; after a restart on the same store the batch is read again (the same SyncState is
    sent back) and no inquiry gets a second reply."""
    clock = Clock()
    store = StateStore(tmp_path / "state.sqlite")
    engine, box = exchange_engine(ews, store, clock)
    engine.sync()  # first start: baseline at the away window, stored
    cursor, _epoch = store.cursor(engine.settings.mailbox_id)
    assert cursor is not None
    senders = [f"asker{i}@example.org" for i in range(3)]
    for i, sender in enumerate(senders):
        ews.deliver(raw_message(sender=sender, message_id=f"<q{i}@example.org>"), INSIDE)
    # What sync() does, minus the cursor being stored: the crash point.
    batch = box.fetch_new(cursor, engine.settings.batch_size)
    assert len(batch.messages) == 3
    for fetched in batch.messages:
        engine.handle(fetched)
    assert engine.flush() == 3
    box.close()
    store.db.close()

    store = StateStore(tmp_path / "state.sqlite")
    assert store.cursor(engine.settings.mailbox_id)[0] == cursor
    calls_before = len(ews.calls("SyncFolderItems"))
    engine, box = exchange_engine(ews, store, clock)
    try:
        engine.recover()
        engine.sync()
        replay = ews.calls("SyncFolderItems")[calls_before]
        # The replay asked the server with the very state of the lost batch.
        assert replay.element.findtext("m:SyncFolderItems/m:SyncState", None, NS) == _state_of(
            cursor
        )
        sends = [r for r in ews.calls("CreateItem") if b'"SendAndSaveCopy"' in r.body]
        recipients = [
            a.text for r in sends for a in r.findall(".//t:ToRecipients/t:Mailbox/t:EmailAddress")
        ]
        assert sorted(recipients) == senders
        assert all(
            extended_properties(m)["Auto-Submitted"] == "auto-replied"
            for r in sends
            for m in r.findall("m:CreateItem/m:Items/t:Message")
        )
        assert store.counts_by_reply_state() == {"sent": 3}
        # The answered messages carry the category the owner sees in Outlook.
        assert all("ooo: replied" in i.categories for i in ews.contents("inbox"))
    finally:
        box.close()
        store.db.close()


def _state_of(cursor: str) -> str:
    state = json.loads(cursor.removeprefix("ews1:"))["state"]
    assert isinstance(state, str)
    return state


def test_check_warns_when_the_servers_own_automatic_replies_are_on(
    ews: EwsServer, tmp_path: Path
) -> None:
    """`ooo check` on an Exchange mailbox whose OOF is on prints a warning that two responders
    would answer every sender twice; with OOF off there is no such line."""
    exchange = GOOD.replace(
        '[mailbox]\nhost = "127.0.0.1"\nport = 1143\nsecurity = "plain"\n',
        f'[mailbox]\nbackend = "exchange"\nservice_endpoint = "{ews.url}"\nauth = "basic"\n'
        f'primary_smtp_address = "{ews.address}"\n',
    )
    assert 'backend = "exchange"' in exchange
    path = write_config(tmp_path, exchange)
    quiet = ooo("check", "-c", str(path))
    assert "ok    mailbox" in quiet.stdout, quiet.stdout + quiet.stderr
    assert "automatic replies" not in quiet.stdout
    ews.oof["state"] = "Enabled"
    loud = ooo("check", "-c", str(path))
    assert "warn  oof" in loud.stdout
    assert "two responders would answer every sender twice" in loud.stdout


def test_exchange_config_and_factory(ews: EwsServer) -> None:
    """[mailbox] backend = "exchange" needs only service_endpoint (or server), username and
    primary_smtp_address; the factory builds an EwsMailbox for it, and the store names it by
    address and endpoint."""
    text = GOOD.replace(
        '[mailbox]\nhost = "127.0.0.1"\nport = 1143\nsecurity = "plain"\nusername = "bob"\n',
        '[mailbox]\nbackend = "exchange"\nserver = "mail.example.com"\nusername = "CORP\\\\bob"\n'
        'primary_smtp_address = "Bob@Example.com"\n',
    )
    cfg = loads(text, Path("c.toml"))
    assert cfg.mailbox.host == "mail.example.com"
    assert cfg.mailbox.ews_url == "https://mail.example.com/EWS/Exchange.asmx"
    assert mailbox_id(cfg.mailbox) == (
        "exchange:bob@example.com@https://mail.example.com/EWS/Exchange.asmx/INBOX"
    )
    box = create(cfg.mailbox, lambda: "secret")
    assert isinstance(box, EwsMailbox)
    assert (box.auth, box.username) == ("ntlm", "CORP\\bob")
    with pytest.raises(ConfigError) as err:
        loads(text.replace('primary_smtp_address = "Bob@Example.com"\n', ""), Path("c.toml"))
    assert any("primary_smtp_address" in p for p in err.value.problems)


def test_server_going_away_during_wait_is_noticed(ews: EwsServer, mailbox: EwsMailbox) -> None:
    """When the server goes away while wait() blocks, wait() returns (or raises) promptly and
    the next operation raises MailboxUnavailable, so the daemon reconnects with backoff."""
    cursor = mailbox.baseline(datetime.now(UTC))
    _, cursor = drain(mailbox, cursor)
    ews.stop()
    started = time.monotonic()
    with contextlib.suppress(MailboxUnavailable):
        mailbox.wait(LONG_WAIT)
    assert time.monotonic() - started < PROMPT
    with pytest.raises(MailboxUnavailable):
        mailbox.fetch_new(cursor)
