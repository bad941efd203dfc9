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
