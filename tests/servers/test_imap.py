"""The IMAP backend against the real Dovecot + Postfix of tests/support/mailstack.py.

The contract runs with mail delivered over SMTP (Postfix -> LMTP -> Dovecot); the tests below
it cover what only a network backend has: outages and reconnects, catch-up from a stored
cursor, IDLE renewal and polling, TLS certificate checks, and keeping the password out of
error messages. TLS is tested through a small TLS-terminating proxy in front of Dovecot's
plain port, with a throwaway CA (tests/support/tls.py).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ooo.mailbox.base import MailboxAuthError, MailboxUnavailable
from ooo.mailbox.imap import ImapMailbox
from tests.support.mailbox_contract import (
    LONG_WAIT,
    PROMPT,
    Deliver,
    FolderContents,
    MailboxContract,
    Store,
    delivered_later,
    drain,
    message,
    subjects,
    unique,
)
from tests.support.tls import Certificates, TlsProxy

pytestmark = pytest.mark.servers

SENDER = "alice@example.org"


def imap_mailbox(stack: Any, user: Any, **overrides: Any) -> ImapMailbox:
    """An unopened ImapMailbox for ``user`` on the stack's plain loopback port."""
    options: dict[str, Any] = {
        "host": stack.host,
        "port": stack.imap_port,
        "security": "plain",
        "username": user.login,
        "password_provider": lambda: user.password,
        "timeout": 10.0,
    }
    options.update(overrides)
    return ImapMailbox(**options)


class Inbox:
    """Puts mail into a user's INBOX from outside the mailbox under test, and knows how many
    messages should be there so it can wait until each one is visible."""

    def __init__(self, stack: Any, user: Any) -> None:
        self.stack = stack
        self.user = user
        self.count = 0

    def deliver(self, raw: bytes) -> None:
        self.stack.send(raw, SENDER, [self.user.address])
        self.count += 1
        self.stack.wait_for_mail(self.user, self.count)

    def store(self, raw: bytes, received_at: datetime | None) -> None:
        client = self.stack.imap(self.user)
        try:
            client.append("INBOX", raw, msg_time=received_at)
        finally:
            client.logout()
        self.count += 1

    def contents(self, folder: str) -> list[tuple[bytes, frozenset[str]]]:
        client = self.stack.imap(self.user)
        try:
            client.select_folder(folder, readonly=True)
            uids = sorted(client.search(["ALL"]))
            if not uids:
                return []
            data = client.fetch(uids, ["BODY.PEEK[]", "FLAGS"])
            return [
                (data[uid][b"BODY[]"], frozenset(_text(f) for f in data[uid][b"FLAGS"]))
                for uid in uids
            ]
        finally:
            client.logout()


def _text(flag: bytes | str) -> str:
    return flag.decode() if isinstance(flag, bytes) else flag


def closed_port() -> int:
    """A loopback port nobody listens on (it was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def user(mail_user: Callable[[str], Any]) -> Any:
    return mail_user("bob")


@pytest.fixture
def inbox(mail_stack: Any, user: Any) -> Inbox:
    return Inbox(mail_stack, user)


@pytest.fixture
def mailbox(mail_stack: Any, user: Any) -> Iterator[ImapMailbox]:
    box = imap_mailbox(mail_stack, user)
    box.open()
    yield box
    box.close()


class TestImapMailbox(MailboxContract):
    """ImapMailbox passes the backend contract against the real Dovecot."""

    @pytest.fixture
    def deliver(self, inbox: Inbox) -> Deliver:
        return inbox.deliver

    @pytest.fixture
    def store(self, inbox: Inbox) -> Store:
        return inbox.store

    @pytest.fixture
    def folder_contents(self, inbox: Inbox) -> FolderContents:
        return inbox.contents

    @pytest.fixture
    def make_cursor_stale(self, mail_stack: Any, user: Any) -> Callable[[], None]:
        def renumber() -> None:
            client = mail_stack.imap(user)
            try:
                validity = client.folder_status("INBOX", ["UIDVALIDITY"])[b"UIDVALIDITY"]
            finally:
                client.logout()
            # What a server does after losing its UID index: new UIDVALIDITY, same mail.
            doveadm(
                mail_stack,
                "mailbox",
                "update",
                "-u",
                user.login,
                "--uid-validity",
                str(validity + 1),
                "INBOX",
            )

        return renumber

    @pytest.fixture
    def wrong_password_mailbox(self, mail_stack: Any, user: Any) -> ImapMailbox:
        return imap_mailbox(mail_stack, user, password_provider=lambda: "not-" + user.password)

    @pytest.fixture
    def unreachable_mailbox(self, mail_stack: Any, user: Any) -> ImapMailbox:
        return imap_mailbox(mail_stack, user, port=closed_port())


def doveadm(stack: Any, *args: str) -> str:
    """Run doveadm against the stack's private Dovecot; return its output."""
    # The stack keeps dovecot.conf next to its log; doveadm needs it to find the instance.
    config = Path(stack.dovecot_log).parent / "dovecot.conf"
    done = subprocess.run(
        ["doveadm", "-c", str(config), *args], check=True, capture_output=True, text=True
    )
    return done.stdout


@contextlib.contextmanager
def dovecot_stopped(stack: Any) -> Iterator[None]:
    """Stop Dovecot for the body of the ``with``; it is running again afterwards, always."""
    stack.stop_dovecot()
    try:
        yield
    finally:
        stack.start_dovecot()


# -- outages and catch-up ----------------------------------------------------------------------


def test_reconnect_after_dovecot_restart(mail_stack: Any, user: Any, inbox: Inbox) -> None:
    """While Dovecot is down, operations and open() raise MailboxUnavailable; after it is back,
    open() works and the cursor from before still fetches what arrived meanwhile."""
    box = imap_mailbox(mail_stack, user)
    box.open()
    try:
        cursor = box.baseline(datetime.now(UTC))
        subject = unique("during outage")
        with dovecot_stopped(mail_stack):
            with pytest.raises(MailboxUnavailable):
                box.fetch_new(cursor)
            with pytest.raises(MailboxUnavailable):
                box.open()
            # Postfix queues the mail while LMTP is down; the restart flushes the queue.
            mail_stack.send(message(subject), SENDER, [user.address])
        mail_stack.wait_for_mail(user, 1)
        box.open()
        fetched, _ = drain(box, cursor)
        assert subjects(fetched) == [subject]
    finally:
        box.close()


def test_dovecot_stopping_during_wait_raises(mail_stack: Any, mailbox: ImapMailbox) -> None:
    """A wait() blocked in IDLE raises MailboxUnavailable when the server shuts down (it says
    BYE), as soon as it is gone rather than at the wait's timeout."""
    drain(mailbox, mailbox.baseline(datetime.now(UTC)))
    stopped_at: list[float] = []

    def stop() -> None:
        mail_stack.stop_dovecot()
        stopped_at.append(time.monotonic())

    stopper = threading.Timer(0.3, stop)
    stopper.start()
    try:
        with pytest.raises(MailboxUnavailable, match=r"lost the connection|failed"):
            mailbox.wait(LONG_WAIT)
        raised_at = time.monotonic()
        stopper.join()
        assert raised_at < stopped_at[0] + PROMPT
        assert not mailbox.connected
    finally:
        stopper.join()
        mail_stack.start_dovecot()


def imap_session_pids(stack: Any, user: Any) -> list[int]:
    """Process ids of the user's IMAP sessions, from ``doveadm who``."""
    output = doveadm(stack, "who", "-1", user.login)
    return [
        int(fields[2])
        for line in output.splitlines()[1:]
        if len(fields := line.split()) >= 3 and fields[1] == "imap"
    ]


def test_kicked_connection_during_wait_raises(
    mail_stack: Any, user: Any, mailbox: ImapMailbox
) -> None:
    """An administrator kicking the session (``doveadm kick``) ends a blocked wait() with
    MailboxUnavailable, and the mailbox can be opened again."""
    cursor = mailbox.baseline(datetime.now(UTC))
    kicker = threading.Timer(0.3, doveadm, (mail_stack, "kick", user.login))
    kicker.start()
    started = time.monotonic()
    try:
        with pytest.raises(MailboxUnavailable):
            mailbox.wait(LONG_WAIT)
        assert time.monotonic() - started < PROMPT
    finally:
        kicker.join()
    mailbox.open()
    assert mailbox.fetch_new(cursor).messages == []


def test_connection_dying_without_bye_during_wait_raises(
    mail_stack: Any, user: Any, mailbox: ImapMailbox
) -> None:
    """When the server process dies without a word (the socket just closes), a blocked
    wait() notices the dead socket and raises MailboxUnavailable instead of spinning."""
    drain(mailbox, mailbox.baseline(datetime.now(UTC)))
    (pid,) = imap_session_pids(mail_stack, user)
    killer = threading.Timer(0.3, os.kill, (pid, signal.SIGKILL))
    killer.start()
    started = time.monotonic()
    try:
        with pytest.raises(MailboxUnavailable, match="closed"):
            mailbox.wait(LONG_WAIT)
        assert time.monotonic() - started < PROMPT
    finally:
        killer.join()
    assert not mailbox.connected


def test_catch_up_from_a_stored_cursor(mail_stack: Any, user: Any, inbox: Inbox) -> None:
    """A new mailbox object (a restarted daemon) given a stored cursor fetches exactly the mail
    that arrived while nothing was connected, oldest first, without repeats."""
    first = imap_mailbox(mail_stack, user)
    first.open()
    inbox.deliver(message(unique("already handled")))
    _, cursor = drain(first, first.baseline(datetime.now(UTC) - timedelta(hours=1)))
    first.close()
    missed = [unique(f"missed {i}") for i in range(5)]
    for subject in missed:
        inbox.deliver(message(subject))
    second = imap_mailbox(mail_stack, user)
    second.open()
    try:
        seen: list[str] = []
        for _ in range(len(missed) + 1):
            batch = second.fetch_new(cursor, limit=2)
            seen += subjects(batch)
            cursor = batch.cursor
        assert seen == missed
        assert second.fetch_new(cursor).messages == []
    finally:
        second.close()


def test_operations_on_a_closed_mailbox_raise_unavailable(mailbox: ImapMailbox) -> None:
    """After close(), operations raise MailboxUnavailable (so the engine reconnects)."""
    cursor = mailbox.baseline(datetime.now(UTC))
    mailbox.close()
    with pytest.raises(MailboxUnavailable):
        mailbox.fetch_new(cursor)
    with pytest.raises(MailboxUnavailable):
        mailbox.wait(0)


# -- waiting without IDLE, and IDLE renewal -----------------------------------------------------


def test_polling_wait_without_idle(mail_stack: Any, user: Any, inbox: Inbox) -> None:
    """With IDLE off, wait() polls: it times out with False and wakes with True on mail."""
    box = imap_mailbox(mail_stack, user, use_idle=False, poll_interval=0.1)
    box.open()
    try:
        cursor = box.baseline(datetime.now(UTC))
        assert box.wait(0.3) is False
        with delivered_later(inbox.deliver, message(unique("polled"))):
            assert box.wait(LONG_WAIT) is True
        assert len(drain(box, cursor)[0]) == 1
    finally:
        box.close()


def test_idle_is_renewed_and_still_wakes(mail_stack: Any, user: Any, inbox: Inbox) -> None:
    """A wait longer than idle_refresh renews IDLE along the way, still times out on time,
    and still wakes on mail that arrives after a renewal."""
    box = imap_mailbox(mail_stack, user, idle_refresh=0.2)
    box.open()
    try:
        cursor = box.baseline(datetime.now(UTC))
        started = time.monotonic()
        assert box.wait(0.7) is False
        assert 0.65 <= time.monotonic() - started < PROMPT
        with delivered_later(inbox.deliver, message(unique("after renewal")), delay=0.5):
            assert box.wait(LONG_WAIT) is True
        assert len(drain(box, cursor)[0]) == 1
    finally:
        box.close()


# -- the baseline's date search on a big folder ------------------------------------------------

#: Messages received days to months ago in the archive every test below starts from: more than
#: a first search (256) and a widened one (2,048) read, so a search that reads them all shows.
OLD_MESSAGES = 3000
#: The date searches of one baseline: what the first reads (the folder's last 256 messages),
#: and the first two together (256, then 2,048).
ONE_ROUND = 256
TWO_ROUNDS = 256 + 2048


def store_messages(
    stack: Any, user: Any, folder: str, count: int, received_at: Callable[[int], datetime] | None
) -> None:
    """Store ``count`` messages in ``folder`` (created if missing), 500 to a MULTIAPPEND;
    message ``i`` gets the received date ``received_at(i)``, or now when that is None."""
    client = stack.imap(user)
    try:
        if not client.folder_exists(folder):
            client.create_folder(folder)
        for start in range(0, count, 500):
            chunk = []
            for i in range(start, min(start + 500, count)):
                item: dict[str, Any] = {"msg": message(f"message {i}")}
                if received_at is not None:
                    item["date"] = received_at(i)
                chunk.append(item)
            typ, data = client.multiappend(folder, chunk)
            assert typ == "OK", data
    finally:
        client.logout()


def folder_uids(stack: Any, user: Any, folder: str) -> tuple[int, list[int]]:
    """The UIDVALIDITY of ``folder`` and the UIDs in it, in order."""
    client = stack.imap(user)
    try:
        selected = client.select_folder(folder, readonly=True)
        return int(selected[b"UIDVALIDITY"]), sorted(client.search(["ALL"]))
    finally:
        client.logout()


class Archive:
    """A user with a folder of OLD_MESSAGES old messages, stored once per module: each test
    copies as many as it needs into a folder of its own (COPY keeps the received dates, and
    Dovecot hard-links the files: a fifth of a second, where APPENDing them takes seconds)."""

    def __init__(self, stack: Any) -> None:
        self.stack = stack
        self.user = stack.add_user(f"archive-{uuid.uuid4().hex[:8]}")
        now = datetime.now(UTC)
        store_messages(
            stack, self.user, "Archive", OLD_MESSAGES, lambda i: now - timedelta(days=3 + i / 10)
        )

    def folder(self, old: int) -> str:
        """A new folder holding the first ``old`` archived messages."""
        name = f"Test-{uuid.uuid4().hex[:8]}"
        client = self.stack.imap(self.user)
        try:
            client.create_folder(name)
            if old:
                client.select_folder("Archive", readonly=True)
                client.use_uid = False
                client.copy(f"1:{old}", name)
        finally:
            client.logout()
        return name

    def receive(self, folder: str, count: int) -> None:
        """``count`` messages received now, after everything already in ``folder``."""
        store_messages(self.stack, self.user, folder, count, None)


@pytest.fixture(scope="module")
def archive(mail_stack: Any) -> Archive:
    mail_stack.start()  # an outage test may have left a daemon stopped
    return Archive(mail_stack)


class SearchLog:
    """Records each SEARCH a mailbox sends: the folder selected, whether it was a UID SEARCH,
    and the criteria."""

    def __init__(self, box: ImapMailbox) -> None:
        self.searches: list[tuple[str, bool, list[Any]]] = []
        client = box._client
        original = client.search

        def search(criteria: Any = "ALL", charset: str | None = None) -> Any:
            folder = getattr(box, "_selected", None) or box.folder
            self.searches.append((folder, bool(client.use_uid), list(criteria)))
            return original(criteria, charset)

        client.search = search

    def date_searches(self) -> list[tuple[str, bool, list[Any]]]:
        return [s for s in self.searches if {"YOUNGER", "SINCE"} & {str(c) for c in s[2]}]

    def messages_read(self, sizes: dict[str, int]) -> int:
        """How many messages the date searches covered, given each folder's size: a range
        of sequence numbers ``n:*`` (in a plain SEARCH) limits a search to the last ones."""
        read = 0
        for folder, by_uid, criteria in self.date_searches():
            size = sizes[folder]
            first = str(criteria[0])
            if not by_uid and first.endswith(":*") and first[:-2].isdigit():
                read += max(0, size - int(first[:-2]) + 1)
            else:
                read += size  # the whole folder
        return read


def without_within(box: ImapMailbox) -> None:
    """Make the connection look like a server without WITHIN (RFC 5032): SINCE is used."""
    client = box._client
    has = client.has_capability
    client.has_capability = lambda name: name.upper() != "WITHIN" and has(name)


@dataclass
class Baselined:
    """A folder's baseline as the tests below look at it."""

    box: ImapMailbox
    validity: int
    uids: list[int]
    searches: SearchLog
    cursor: str

    def read(self) -> int:
        return self.searches.messages_read({self.folder: len(self.uids)})

    @property
    def folder(self) -> str:
        return self.box.folder


@contextmanager
def baselined(
    mail_stack: Any, archive: Archive, folder: str, *, within: bool = True
) -> Iterator[Baselined]:
    """``folder`` opened, its baseline taken for a window that began an hour ago, closed
    afterwards."""
    validity, uids = folder_uids(mail_stack, archive.user, folder)
    box = imap_mailbox(mail_stack, archive.user, folder=folder)
    box.open()
    try:
        if not within:
            without_within(box)
        searches = SearchLog(box)
        cursor = box.baseline(datetime.now(UTC) - timedelta(hours=1))
        yield Baselined(box, validity, uids, searches, cursor)
    finally:
        box.close()


@pytest.mark.parametrize("within", [True, False], ids=["YOUNGER", "SINCE"])
@pytest.mark.parametrize("new", [5, 300])
def test_baseline_reads_only_the_end_of_a_big_folder(
    mail_stack: Any, archive: Archive, new: int, within: bool
) -> None:
    """In a folder of 3,000 old messages and a few received since the window's start, the
    baseline's cursor is just before the first of those, and its date searches read only the
    end of the folder: the last 256 messages, and 2,048 more when the first 256 all match
    (searching the whole folder took 0.8-1.1 s in a 100,000-message Maildir)."""
    folder = archive.folder(OLD_MESSAGES)
    archive.receive(folder, new)
    with baselined(mail_stack, archive, folder, within=within) as b:
        assert b.cursor == f"{b.validity}:{b.uids[OLD_MESSAGES] - 1}"
        assert b.searches.date_searches()[0][2][-2] == ("YOUNGER" if within else "SINCE")
        assert b.read() <= (ONE_ROUND if new < ONE_ROUND else TWO_ROUNDS)
        fetched, _ = drain(b.box, b.cursor)
        assert subjects(fetched) == [f"message {i}" for i in range(new)]


def test_baseline_with_every_message_in_the_window(mail_stack: Any, archive: Archive) -> None:
    """When all of the folder was received since the window's start, the searches widen until
    they reach its first message, and the cursor is before UID 1: everything is read."""
    folder = archive.folder(0)
    archive.receive(folder, 600)
    with baselined(mail_stack, archive, folder) as b:
        assert b.uids[0] == 1
        assert b.cursor == f"{b.validity}:0"
        assert b.read() <= ONE_ROUND + len(b.uids)
        assert len(drain(b.box, b.cursor)[0]) == 600


def test_baseline_with_no_message_in_the_window(mail_stack: Any, archive: Archive) -> None:
    """When nothing in a big folder was received since the window's start, the cursor is its
    highest UID, and one search of its last 256 messages tells."""
    with baselined(mail_stack, archive, archive.folder(OLD_MESSAGES)) as b:
        assert b.cursor == f"{b.validity}:{b.uids[-1]}"
        assert b.read() <= ONE_ROUND
        assert b.box.fetch_new(b.cursor).messages == []


def test_baseline_of_an_empty_folder(mail_stack: Any, archive: Archive) -> None:
    """An empty folder's cursor is before UID 1, and mail arriving after is read."""
    folder = archive.folder(0)
    box = imap_mailbox(mail_stack, archive.user, folder=folder)
    box.open()
    try:
        cursor = box.baseline(datetime.now(UTC) - timedelta(hours=1))
        assert cursor.endswith(":0")
        archive.receive(folder, 2)
        assert subjects(drain(box, cursor)[0]) == ["message 0", "message 1"]
    finally:
        box.close()


# -- credentials --------------------------------------------------------------------------------


def test_auth_error_names_server_and_user_but_not_the_password(mail_stack: Any, user: Any) -> None:
    """A refused login says which server and user, and the password appears nowhere in the
    error or its causes."""
    secret = f"hunter2-{uuid.uuid4().hex}"
    box = imap_mailbox(mail_stack, user, password_provider=lambda: secret)
    with pytest.raises(MailboxAuthError) as caught:
        box.open()
    text = str(caught.value)
    assert f"{mail_stack.host}:{mail_stack.imap_port}" in text
    assert user.login in text
    chain: BaseException | None = caught.value
    while chain is not None:
        assert secret not in str(chain)
        assert all(secret not in str(arg) for arg in chain.args)
        chain = chain.__cause__ or chain.__context__
    assert not box.connected


def test_password_is_asked_for_at_each_login(mail_stack: Any, user: Any) -> None:
    """The password provider is called on every open(), so a changed secret is used on the
    next reconnect and nothing keeps it in between."""
    calls: list[int] = []

    def provider() -> str:
        calls.append(1)
        return str(user.password)

    box = imap_mailbox(mail_stack, user, password_provider=provider)
    box.open()
    box.open()  # already open: no new login
    box.close()
    box.open()
    box.close()
    assert len(calls) == 2


def test_missing_folder_is_unavailable_with_its_name(mail_stack: Any, user: Any) -> None:
    """Watching a folder that does not exist fails with a message naming the folder."""
    box = imap_mailbox(mail_stack, user, folder="No Such Folder")
    with pytest.raises(MailboxUnavailable, match="No Such Folder"):
        box.open()
    assert not box.connected


# -- TLS ----------------------------------------------------------------------------------------


@pytest.fixture
def tls_proxy(mail_stack: Any, certificates: Certificates) -> Iterator[TlsProxy]:
    proxy = TlsProxy(mail_stack.imap_port, certificates)
    yield proxy
    proxy.close()


def test_tls_with_the_right_ca_works(
    mail_stack: Any, user: Any, inbox: Inbox, tls_proxy: TlsProxy, certificates: Certificates
) -> None:
    """Over implicit TLS, with mailbox.ca_file naming the CA, the mailbox works end to end."""
    box = imap_mailbox(
        mail_stack, user, port=tls_proxy.port, security="ssl", ca_file=certificates.ca_file
    )
    box.open()
    try:
        cursor = box.baseline(datetime.now(UTC))
        subject = unique("over tls")
        with delivered_later(inbox.deliver, message(subject)):
            assert box.wait(LONG_WAIT) is True
        assert subjects(drain(box, cursor)[0]) == [subject]
    finally:
        box.close()


def test_tls_verifies_certificates_by_default(
    mail_stack: Any, user: Any, tls_proxy: TlsProxy
) -> None:
    """A certificate from an unknown CA is refused, with advice to set mailbox.ca_file."""
    box = imap_mailbox(mail_stack, user, port=tls_proxy.port, security="ssl")
    with pytest.raises(MailboxUnavailable, match=r"certificate verify failed.*mailbox\.ca_file"):
        box.open()


def test_tls_checks_the_host_name(
    mail_stack: Any, user: Any, tls_proxy: TlsProxy, certificates: Certificates
) -> None:
    """A valid certificate for another name is refused too (it was issued for 127.0.0.1)."""
    box = imap_mailbox(
        mail_stack,
        user,
        host="localhost",
        port=tls_proxy.port,
        security="ssl",
        ca_file=certificates.ca_file,
    )
    with pytest.raises(MailboxUnavailable, match="certificate verify failed"):
        box.open()


def test_starttls_is_required_when_asked_for(mail_stack: Any, user: Any) -> None:
    """security = "starttls" against a server without STARTTLS refuses to log in in clear."""
    box = imap_mailbox(mail_stack, user, security="starttls")
    with pytest.raises(MailboxUnavailable, match="STARTTLS"):
        box.open()
    assert not box.connected


def test_unknown_security_mode_is_rejected(mail_stack: Any, user: Any) -> None:
    """A security mode other than ssl, starttls or plain is a programming error."""
    with pytest.raises(ValueError, match="security"):
        imap_mailbox(mail_stack, user, security="tls")
