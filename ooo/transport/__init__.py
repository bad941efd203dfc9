"""Ways a reply leaves, behind one interface (``base.Transport``); ``create`` picks one.

SMTP (smtplib) when the config has ``[smtp]``; Exchange (EWS) for an Exchange mailbox without
it; an in-memory outbox for the demo and the tests. Like the mailboxes, a backend module is
imported only when chosen, so ``ooo demo`` never loads a mail library.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ooo.config import Config, MailboxConfig, SmtpConfig
    from ooo.transport.base import Transport

#: ``secret(section, section_config)`` -> a callable giving the password or token at each login.
Secret = Callable[[str, "MailboxConfig | SmtpConfig"], Callable[[], str]]


def _smtp(cfg: SmtpConfig, secret: Secret, sessions: int = 1) -> Transport:
    from ooo.transport.smtp import SmtpTransport

    return SmtpTransport(
        cfg.host,
        cfg.effective_port,
        cfg.security,
        cfg.username,
        secret("smtp", cfg) if cfg.username else None,
        ca_file=cfg.ca_file,
        auth=cfg.auth,
        sessions=sessions,
    )


def _exchange(cfg: MailboxConfig, secret: Secret) -> Transport:
    from ooo.transport.ews import EwsTransport

    return EwsTransport(
        cfg.ews_url,
        cfg.username,
        secret("mailbox", cfg),
        primary_smtp_address=cfg.primary_smtp_address,
        auth=cfg.ews_auth,
        ca_file=str(cfg.ca_file) if cfg.ca_file else None,
    )


def create(cfg: Config, secret: Secret) -> Transport:
    """SMTP when ``[smtp]`` is set; else Exchange sends from the mailbox itself (the config
    allows no [smtp] only with backend = "exchange")."""
    if cfg.smtp is not None:
        return _smtp(cfg.smtp, secret, cfg.limits.smtp_sessions)
    return _exchange(cfg.mailbox, secret)
