"""The SMTP transport against the real Postfix (submission with AUTH through Dovecot), each
message read back from the recipient's mailbox in Dovecot: the transport contract, plus the
envelope sender a reply carries."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest

from ooo.transport.smtp import SmtpTransport
from tests.support.helpers import read
from tests.support.mailstack import MailStack, User
from tests.support.responder import wait_for
from tests.support.transport_contract import (
    Outage,
    Received,
    Recipient,
    TransportContract,
    TransportWithPassword,
    reply,
)

pytestmark = pytest.mark.servers


def submission(stack: MailStack, user: User, password: str | None = None) -> SmtpTransport:
    """An SmtpTransport logging in as ``user`` on the stack's submission port (plain text on
    loopback); with ``password`` instead of the user's own if given."""
    secret = user.password if password is None else password
    return SmtpTransport(
        stack.host, stack.submission_port, "plain", user.login, lambda: secret, timeout=10
    )


@pytest.fixture
def owner(mail_user: Callable[[str], User]) -> User:
    return mail_user("bob")


@pytest.fixture
def smtp(mail_stack: MailStack, owner: User) -> Iterator[SmtpTransport]:
    transport = submission(mail_stack, owner)
    yield transport
    transport.close()


class TestSmtpTransport(TransportContract):
    """SmtpTransport passes the transport contract against the real Postfix."""

    @pytest.fixture
    def transport(self, smtp: SmtpTransport) -> SmtpTransport:
        return smtp

    @pytest.fixture
    def users(self) -> dict[str, User]:
        """The recipients handed out in this test, by address."""
        return {}

    @pytest.fixture
    def recipient(self, mail_user: Callable[[str], User], users: dict[str, User]) -> Recipient:
        def make(name: str) -> str:
            user = mail_user(name)
            users[user.address] = user
            return user.address

        return make

    @pytest.fixture
    def received(self, mail_stack: MailStack, users: dict[str, User]) -> Received:
        def received(address: str, count: int) -> list[bytes]:
            return mail_stack.wait_for_mail(users[address], count, timeout=30)

        return received

    @pytest.fixture
    def outage(self, mail_stack: MailStack) -> Outage:
        @contextmanager
        def postfix_stopped() -> Iterator[None]:
            # Delivered before the stop, or Postfix delivers it again after the restart.
            wait_for(mail_stack.queue_empty, 30, "Postfix's queue to empty")
            mail_stack.stop_postfix()
            try:
                yield
            finally:
                mail_stack.start_postfix()

        return postfix_stopped

    @pytest.fixture
    def refused_address(self, mail_stack: MailStack) -> str:
        # An unknown local part: Postfix answers 550 at RCPT TO.
        return f"nobody-{uuid.uuid4().hex[:8]}@{mail_stack.domain}"

    @pytest.fixture
    def transport_with_password(self, mail_stack: MailStack, owner: User) -> TransportWithPassword:
        def make(password: str) -> SmtpTransport:
            return submission(mail_stack, owner, password)

        return make

    @pytest.fixture
    def where(self, mail_stack: MailStack) -> str:
        return f"{mail_stack.host}:{mail_stack.submission_port}"


def test_the_envelope_sender_becomes_the_return_path(
    mail_stack: MailStack, mail_user: Callable[[str], User], smtp: SmtpTransport, owner: User
) -> None:
    """The null envelope sender of a reply (RFC 3834 §3.3) arrives as ``Return-Path: <>``; a
    named one (``envelope_sender = "owner"``) as that address."""
    alice = mail_user("alice")
    smtp.send(reply(alice.address, label="null sender"), "", [alice.address])
    smtp.send(reply(alice.address, label="named sender"), owner.address, [alice.address])
    arrived = {
        str(msg["Subject"]).split()[1]: msg["Return-Path"]
        for msg in map(read, mail_stack.wait_for_mail(alice, 2, timeout=30))
    }
    assert arrived == {"null": "<>", "named": f"<{owner.address}>"}


class FakeMonotonic:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_busy_session_is_not_checked_with_noop_but_an_idle_one_is(
    mail_stack: MailStack, mail_user: Callable[[str], User], owner: User
) -> None:
    """Replies sent back to back share one session and pay no NOOP round trip; after the
    session sat idle longer than ``idle_check`` the next send checks it with NOOP first, and
    every reply arrives."""
    alice = mail_user("alice")
    clock = FakeMonotonic()
    smtp = SmtpTransport(
        mail_stack.host,
        mail_stack.submission_port,
        "plain",
        owner.login,
        lambda: owner.password,
        timeout=10,
        idle_check=10.0,
        monotonic=clock,
    )
    try:
        for n in range(3):
            clock.now += 1.0
            smtp.send(reply(alice.address, label=f"busy{n}"), "", [alice.address])
        assert (smtp.opened, smtp.noops) == (1, 0)
        clock.now += 11.0
        smtp.send(reply(alice.address, label="after-idle"), "", [alice.address])
        assert (smtp.opened, smtp.noops) == (1, 1)
    finally:
        smtp.close()
    assert len(mail_stack.wait_for_mail(alice, 4, timeout=30)) == 4


def test_a_session_the_server_hung_up_is_reopened_before_the_next_send(
    mail_stack: MailStack, mail_user: Callable[[str], User], smtp: SmtpTransport
) -> None:
    """Postfix restarts between two replies (its sessions end): the next send notices the
    hang-up without waiting for the idle check, opens a new session, and the reply arrives."""
    alice = mail_user("alice")
    smtp.send(reply(alice.address, label="before"), "", [alice.address])
    wait_for(mail_stack.queue_empty, 30, "Postfix's queue to empty")
    mail_stack.stop_postfix()
    mail_stack.start_postfix()
    smtp.send(reply(alice.address, label="after"), "", [alice.address])
    assert smtp.opened == 2
    subjects = sorted(
        str(read(raw)["Subject"]).split()[1]
        for raw in mail_stack.wait_for_mail(alice, 2, timeout=30)
    )
    assert subjects == ["after", "before"]


def test_several_sessions_send_from_several_threads_each_reply_once(
    mail_stack: MailStack, mail_user: Callable[[str], User], owner: User
) -> None:
    """A transport with three sessions, sending 30 replies from three threads at once: it
    offers three concurrent sends, opens at most three sessions, and each reply arrives
    exactly once."""
    alice = mail_user("alice")
    smtp = SmtpTransport(
        mail_stack.host,
        mail_stack.submission_port,
        "plain",
        owner.login,
        lambda: owner.password,
        timeout=10,
        sessions=3,
    )
    assert smtp.concurrent_sends == 3
    labels = [f"pooled{n}" for n in range(30)]
    try:
        with ThreadPoolExecutor(3) as pool:
            list(
                pool.map(
                    lambda label: smtp.send(reply(alice.address, label=label), "", [alice.address]),
                    labels,
                )
            )
        assert 1 <= smtp.opened <= 3
    finally:
        smtp.close()
    arrived = Counter(
        str(read(raw)["Subject"]).split()[1]
        for raw in mail_stack.wait_for_mail(alice, 30, timeout=60)
    )
    assert arrived == Counter(labels)
