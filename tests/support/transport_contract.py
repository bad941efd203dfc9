"""The contract every transport passes: one test class, subclassed once per backend.

``TransportContract`` has no ``Test`` prefix, so pytest collects it only through a subclass
(tests/unit/transport/test_memory.py, tests/servers/test_smtp_transport.py against the real
Postfix, tests/unit/transport/test_ews_contract.py against the loopback EWS server). What it
holds a transport to, item by item (the keys of `ITEMS`):

``intact``
    A message sent (with the null envelope sender, as every reply is) arrives once for its
    recipient with its header fields and its text as composed; several sends in a row each
    arrive once (in any order: a mail server may deliver them in any order).
``exact_bytes``
    What arrives is the very bytes handed to send(), after any trace fields the server puts
    on top (Return-Path, Received).
``cc``
    Every recipient gets the message, the Cc as well as the To, once each.
``refused_copy``
    A recipient the server refuses while taking the others (a mistyped delegate in Cc) is
    returned by send(), address -> the server's answer; the main recipient still gets it.
``refused_recipient``
    A refused main recipient is TransportRejected: that reply can never go.
``unreachable``
    While the server cannot be reached, send() is TransportUnavailable (keep the reply queued);
    once it is back, the same transport object sends again, and nothing sent in between
    arrives.
``credentials``
    Refused credentials are TransportAuthError, from send() and check(), and the password is
    in no error message.
``refused_login_closed``
    The connection of a refused login is closed, not left to the garbage collector.
``no_recipients``
    send() with no recipient is TransportRejected.
``close``
    close() never raises, twice in a row or before any send; a send after close() connects
    again.
``check``
    check() is one line naming where replies go, and the transport still sends after it;
    while the server cannot be reached check() is TransportUnavailable.

A subclass provides these fixtures:

``transport``
    A :class:`~ooo.transport.base.Transport` for a working server, not yet connected.
``recipient``
    ``recipient(name: str) -> str``: an address no other test uses, which the server takes and
    whose mail `received` can read.
``received``
    ``received(address: str, count: int) -> list[bytes]``: wait (with a deadline, failing with
    what did arrive) until at least ``count`` messages reached ``address``; return all of them
    as raw RFC 5322 bytes.
``outage``
    ``outage() -> ContextManager``: the server cannot be reached in the body of the ``with``
    and is back (same address) after it, whatever happened inside. Before it goes down, it
    has finished delivering what it took (an MTA stopped mid-delivery delivers again after a
    restart: SMTP's own ambiguity, RFC 1047, not the transport's).

and, unless it opts out of the item that needs it:

``refused_address`` (``refused_copy``, ``refused_recipient``)
    An address the server refuses at once.
``transport_with_password`` (``credentials``, ``refused_login_closed``)
    ``transport_with_password(password: str) -> Transport`` for the same server and account.
``where`` (``check``)
    A string check()'s line must contain (the server's host and port, or its URL).

A backend that cannot honour an item says so in `cannot`, item -> why; each test carries its
item as a ``contract`` mark, and tests/conftest.py deselects the tests of the items a backend
opted out of (a skip would be a skipped test on CI's happy path; the reasons stay here, in
code, next to the backend).

No test sleeps to synchronise: `received` waits on a condition with a deadline.
"""

from __future__ import annotations

import gc
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import ClassVar

import pytest

from ooo.transport.base import (
    Transport,
    TransportAuthError,
    TransportRejected,
    TransportUnavailable,
)
from tests.support.helpers import read

Recipient = Callable[[str], str]
Received = Callable[[str, int], list[bytes]]
Outage = Callable[[], AbstractContextManager[None]]
TransportWithPassword = Callable[[str], Transport]

#: The contract's items (see the module docstring), each a key `TransportContract.cannot` may use.
ITEMS = frozenset(
    {
        "intact",
        "exact_bytes",
        "cc",
        "refused_copy",
        "refused_recipient",
        "unreachable",
        "credentials",
        "refused_login_closed",
        "no_recipients",
        "close",
        "check",
    }
)

OWNER = "bob@example.test"
#: The header fields a reply carries that every transport must deliver as composed.
KEPT_FIELDS = (
    "Subject",
    "Message-ID",
    "In-Reply-To",
    "References",
    "Auto-Submitted",
    "X-Auto-Response-Suppress",
    "X-Loop",
)


def reply(to: str, cc: tuple[str, ...] = (), label: str = "reply") -> bytes:
    """A composed reply as the engine hands it to a transport: CRLF line ends, the RFC 3834
    fields, a unique subject and Message-ID, and a quoted-printable UTF-8 text."""
    token = uuid.uuid4().hex[:12]
    fields = {
        "From": f"Bob Example <{OWNER}>",
        "To": to,
        **({"Cc": ", ".join(cc)} if cc else {}),
        "Subject": f"Auto: {label} {token}",
        "Date": "Tue, 22 Dec 2026 10:00:00 +0000",
        "Message-ID": f"<{token}@example.test>",
        "In-Reply-To": f"<q-{token}@example.org>",
        "References": f"<q0-{token}@example.org> <q-{token}@example.org>",
        "Auto-Submitted": "auto-replied",
        "X-Auto-Response-Suppress": "All",
        "X-Loop": OWNER,
        "MIME-Version": "1.0",
        "Content-Type": 'text/plain; charset="utf-8"',
        "Content-Transfer-Encoding": "quoted-printable",
    }
    head = "".join(f"{name}: {value}\r\n" for name, value in fields.items())
    body = f"I am away until Monday ({token}).\r\nGr=C3=BC=C3=9Fe, Bob\r\n"
    return (head + "\r\n" + body).encode()


def text_of(raw: bytes) -> str:
    """The plain text of a message, decoded."""
    part = read(raw).get_body(("plain",))
    assert part is not None, raw[:500]
    return str(part.get_content())


def subjects(messages: list[bytes]) -> list[str]:
    """The subjects of ``messages``, sorted (a mail server may deliver in any order)."""
    return sorted(subject_of(m) for m in messages)


def lines(text: str) -> list[str]:
    """The lines of a text, whatever their line ends, without trailing blank lines."""
    return text.replace("\r\n", "\n").rstrip("\n").split("\n")


def subject_of(raw: bytes) -> str:
    return str(read(raw)["Subject"])


def assert_same_reply(arrived: bytes, sent: bytes) -> None:
    """``arrived`` carries ``sent``'s header fields and text as composed."""
    got, want = read(arrived), read(sent)
    for name in KEPT_FIELDS:
        assert got[name] == want[name], (name, got[name], want[name])
    assert lines(text_of(arrived)) == lines(text_of(sent))
    assert "Grüße" in text_of(arrived)


def error_chain(exc: BaseException) -> list[str]:
    """The text of an exception, its arguments and everything it was raised from."""
    texts = []
    seen: BaseException | None = exc
    while seen is not None:
        texts += [str(seen), *(str(arg) for arg in seen.args)]
        seen = seen.__cause__ or seen.__context__
    return texts


def refused_login(transport: Transport, address: str) -> list[str]:
    """Send to ``address`` and check() through a transport whose login the server refuses;
    each must raise TransportAuthError. Returns the texts of both errors (`error_chain`)."""
    try:
        with pytest.raises(TransportAuthError) as on_send:
            transport.send(reply(address), "", [address])
        with pytest.raises(TransportAuthError) as on_check:
            transport.check()
        return error_chain(on_send.value) + error_chain(on_check.value)
    finally:
        transport.close()


@contextmanager
def unclosed_sockets() -> Iterator[list[str]]:
    """Collect the garbage the body of the ``with`` left, and list (in the yielded list, filled
    on exit) the sockets found unclosed in it. Without this, such a socket is found whenever the
    garbage collector next runs, and its ResourceWarning (an error in this suite) fails
    whichever test happens to be running then."""
    found: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        try:
            yield found
        finally:
            gc.collect()
    found += [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]


class TransportContract:
    """What the engine relies on from any transport."""

    #: Items of the contract (keys of `ITEMS`) this backend cannot honour, each with the reason.
    cannot: ClassVar[Mapping[str, str]] = {}

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        unknown = set(cls.cannot) - ITEMS
        if unknown:
            raise TypeError(f"{cls.__name__}.cannot names no contract item: {sorted(unknown)}")
        if not all(cls.cannot.values()):
            raise TypeError(f"{cls.__name__}.cannot: give the reason for every item")

    # -- delivery ------------------------------------------------------------------------

    @pytest.mark.contract("intact")
    def test_a_sent_message_arrives_intact(
        self, transport: Transport, recipient: Recipient, received: Received
    ) -> None:
        """A reply sent with the null envelope sender arrives once for its recipient, with its
        subject, ids, RFC 3834 fields and text as composed; so do the next ones."""
        alice = recipient("alice")
        sent = [reply(alice, label=f"reply {i}") for i in range(3)]
        try:
            for raw in sent:
                assert transport.send(raw, "", [alice]) == {}
        finally:
            transport.close()
        arrived = {subject_of(m): m for m in received(alice, len(sent))}
        assert sorted(arrived) == sorted(subject_of(m) for m in sent)
        for raw in sent:
            assert_same_reply(arrived[subject_of(raw)], raw)

    @pytest.mark.contract("exact_bytes")
    def test_a_sent_message_arrives_byte_for_byte(
        self, transport: Transport, recipient: Recipient, received: Received
    ) -> None:
        """What arrives ends with exactly the bytes handed to send(): a server may only put
        trace fields on top."""
        alice = recipient("alice")
        raw = reply(alice)
        try:
            transport.send(raw, "", [alice])
        finally:
            transport.close()
        (arrived,) = received(alice, 1)
        assert arrived.endswith(raw), arrived[:2000]
        trace = arrived[: len(arrived) - len(raw)]
        assert trace == b"" or trace.endswith(b"\r\n"), trace

    @pytest.mark.contract("cc")
    def test_cc_recipients_get_it_too(
        self, transport: Transport, recipient: Recipient, received: Received
    ) -> None:
        """Every recipient gets the message once: the To and each Cc (the delegate)."""
        alice, carol, dave = recipient("alice"), recipient("carol"), recipient("dave")
        raw = reply(alice, cc=(carol, dave))
        try:
            assert transport.send(raw, "", [alice, carol, dave]) == {}
        finally:
            transport.close()
        for address in (alice, carol, dave):
            (arrived,) = received(address, 1)
            assert_same_reply(arrived, raw)
            assert read(arrived)["Cc"] == read(raw)["Cc"]

    # -- refusals ------------------------------------------------------------------------

    @pytest.mark.contract("refused_copy")
    def test_a_refused_copy_is_reported_and_the_main_recipient_gets_it(
        self,
        transport: Transport,
        recipient: Recipient,
        received: Received,
        request: pytest.FixtureRequest,
    ) -> None:
        """A Cc the server refuses is returned (address -> its answer) while the message goes
        to the main recipient: the reply counts as sent."""
        nobody: str = request.getfixturevalue("refused_address")
        alice = recipient("alice")
        raw = reply(alice, cc=(nobody,))
        try:
            refused = transport.send(raw, "", [alice, nobody])
        finally:
            transport.close()
        assert set(refused) == {nobody}
        assert refused[nobody].strip()
        (arrived,) = received(alice, 1)
        assert_same_reply(arrived, raw)

    @pytest.mark.contract("refused_recipient")
    def test_a_refused_main_recipient_is_rejected(
        self, transport: Transport, request: pytest.FixtureRequest
    ) -> None:
        """If the server refuses the main recipient, send() raises TransportRejected: retrying
        will not help."""
        nobody: str = request.getfixturevalue("refused_address")
        try:
            with pytest.raises(TransportRejected):
                transport.send(reply(nobody), "", [nobody])
        finally:
            transport.close()

    @pytest.mark.contract("no_recipients")
    def test_no_recipients_is_rejected(self, transport: Transport, recipient: Recipient) -> None:
        """A send to nobody is TransportRejected, not a silent success."""
        try:
            with pytest.raises(TransportRejected):
                transport.send(reply(recipient("alice")), "", [])
        finally:
            transport.close()

    # -- outages and credentials ---------------------------------------------------------

    @pytest.mark.contract("unreachable")
    def test_an_unreachable_server_is_unavailable_until_it_is_back(
        self, transport: Transport, recipient: Recipient, received: Received, outage: Outage
    ) -> None:
        """While the server is down, send() raises TransportUnavailable (the reply stays
        queued), every time; once it is back, the same transport sends again, and only what
        was sent while it was up arrives."""
        alice = recipient("alice")
        before, during, after = reply(alice, label="before"), reply(alice), reply(alice)
        try:
            transport.send(before, "", [alice])  # connected when the server goes away
            with outage():
                for _ in range(2):
                    with pytest.raises(TransportUnavailable) as caught:
                        transport.send(during, "", [alice])
                    assert not isinstance(caught.value, TransportAuthError)
            assert transport.send(after, "", [alice]) == {}
        finally:
            transport.close()
        arrived = received(alice, 2)
        assert subjects(arrived) == subjects([before, after])

    @pytest.mark.contract("credentials")
    def test_wrong_credentials_are_an_auth_error(
        self, recipient: Recipient, request: pytest.FixtureRequest
    ) -> None:
        """A refused login is TransportAuthError from send() and from check(), and the password
        appears in no error message nor anything it was raised from."""
        make: TransportWithPassword = request.getfixturevalue("transport_with_password")
        password = f"wrong-{uuid.uuid4().hex}"
        # A connection the refused login left open is the refused_login_closed item's business:
        # collected here, so that it fails neither this test nor whichever test runs next.
        with unclosed_sockets():
            errors = refused_login(make(password), recipient("alice"))
        assert all(password not in text for text in errors)

    @pytest.mark.contract("refused_login_closed")
    def test_a_refused_login_leaves_no_connection_open(
        self, recipient: Recipient, request: pytest.FixtureRequest
    ) -> None:
        """The connection of a refused login is closed: a daemon retrying with a wrong password
        for days does not pile up open sockets."""
        make: TransportWithPassword = request.getfixturevalue("transport_with_password")
        with unclosed_sockets() as leaks:
            refused_login(make(f"wrong-{uuid.uuid4().hex}"), recipient("alice"))
        assert leaks == [], leaks

    # -- the connection ------------------------------------------------------------------

    @pytest.mark.contract("close")
    def test_close_is_idempotent_and_a_send_after_close_reconnects(
        self, transport: Transport, recipient: Recipient, received: Received
    ) -> None:
        """close() never raises (before any send, and twice in a row); a send after close()
        connects again and arrives."""
        alice = recipient("alice")
        first, second = reply(alice, label="first"), reply(alice, label="second")
        transport.close()
        try:
            transport.send(first, "", [alice])
            transport.close()
            transport.close()
            assert transport.send(second, "", [alice]) == {}
        finally:
            transport.close()
            transport.close()
        arrived = received(alice, 2)
        assert subjects(arrived) == subjects([first, second])

    @pytest.mark.contract("check")
    def test_check_says_where_replies_go(
        self,
        transport: Transport,
        recipient: Recipient,
        received: Received,
        outage: Outage,
        request: pytest.FixtureRequest,
    ) -> None:
        """check() connects without sending and returns one line naming the server; the
        transport sends afterwards as usual. An unreachable server fails check() with
        TransportUnavailable."""
        where: str = request.getfixturevalue("where")
        alice = recipient("alice")
        raw = reply(alice)
        try:
            line = transport.check()
            assert where in line, line
            assert "\n" not in line.strip(), line
            assert transport.send(raw, "", [alice]) == {}
            transport.close()
            with outage(), pytest.raises(TransportUnavailable):
                transport.check()
        finally:
            transport.close()
        (arrived,) = received(alice, 1)
        assert subject_of(arrived) == subject_of(raw)
