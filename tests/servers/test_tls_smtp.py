"""TLS on the SMTP side, as tests/servers/test_imap.py proves it for IMAP: a server with a
certificate from an unknown CA is refused with a message naming smtp.ca_file, and works once
ca_file names the CA. The TLS front and the throwaway CA are the IMAP tests' own
(tests/support/tls.py, the ``certificates`` fixture of tests/servers/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ooo.transport.base import TransportUnavailable
from ooo.transport.smtp import SmtpTransport
from tests.support.mailstack import MailStack, User
from tests.support.responder import inquiry
from tests.support.tls import Certificates, TlsProxy

pytestmark = pytest.mark.servers


@pytest.fixture
def smtps_proxy(mail_stack: MailStack, certificates: Certificates) -> Iterator[TlsProxy]:
    proxy = TlsProxy(mail_stack.submission_port, certificates)
    yield proxy
    proxy.close()


def transport(user: User, port: int, ca_file: str | None = None) -> SmtpTransport:
    return SmtpTransport(
        "127.0.0.1",
        port,
        "ssl",
        user.login,
        lambda: user.password,
        ca_file=Path(ca_file) if ca_file else None,
    )


def test_smtp_refuses_an_unknown_certificate_and_names_ca_file(
    mail_user: Callable[[str], User], smtps_proxy: TlsProxy
) -> None:
    """Certificates are verified by default: an unknown CA is refused with advice."""
    bob = mail_user("bob")
    smtp = transport(bob, smtps_proxy.port)
    try:
        with pytest.raises(TransportUnavailable, match=r"certificate verify failed.*smtp\.ca_file"):
            smtp.send(inquiry(bob, bob), "", [bob.address])
    finally:
        smtp.close()


def test_smtp_with_the_right_ca_file_sends(
    mail_stack: MailStack,
    mail_user: Callable[[str], User],
    smtps_proxy: TlsProxy,
    certificates: Certificates,
) -> None:
    """With smtp.ca_file naming the CA, the same server is trusted and the mail arrives."""
    bob, alice = mail_user("bob"), mail_user("alice")
    smtp = transport(bob, smtps_proxy.port, certificates.ca_file)
    try:
        assert smtp.send(inquiry(bob, alice), "", [alice.address]) == {}
    finally:
        smtp.close()
    mail_stack.wait_for_mail(alice, 1, timeout=30)
