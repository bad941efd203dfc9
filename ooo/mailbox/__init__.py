"""Mailbox backends behind one interface (``base.Mailbox``); ``create`` picks one by name.

A new backend is a module here plus one factory in ``_FACTORIES``: the engine does not change.
Backend modules are imported only when chosen, so ``ooo demo`` never loads a mail library.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ooo.mailbox.base import several

if TYPE_CHECKING:
    from ooo.config import MailboxConfig
    from ooo.mailbox.base import Mailbox


def _imap(cfg: MailboxConfig, password: Callable[[], str]) -> Mailbox:
    from ooo.mailbox.imap import ImapMailbox

    options: dict[str, Any] = {
        "ca_file": str(cfg.ca_file) if cfg.ca_file else None,
        "idle_refresh": cfg.idle_refresh.total_seconds(),
        "poll_interval": cfg.poll_interval.total_seconds(),
        "auth": cfg.auth,
    }
    if several(cfg.watched_folders):
        from ooo.mailbox.imap_folders import ImapFoldersMailbox

        return ImapFoldersMailbox(
            cfg.host,
            cfg.effective_port,
            cfg.security,
            cfg.username,
            password,
            cfg.watched_folders,
            exclude=[cfg.sent_folder] if cfg.sent_folder else [],
            **options,
        )
    return ImapMailbox(
        cfg.host,
        cfg.effective_port,
        cfg.security,
        cfg.username,
        password,
        folder=cfg.watched_folders[0],
        **options,
    )


def _exchange(cfg: MailboxConfig, password: Callable[[], str]) -> Mailbox:
    from ooo.mailbox.ews import EwsMailbox

    return EwsMailbox(
        cfg.ews_url,
        cfg.username,
        password,
        primary_smtp_address=cfg.primary_smtp_address,
        auth=cfg.ews_auth,
        folder=cfg.watched_folders[0],
        poll_interval=cfg.poll_interval.total_seconds(),
        ca_file=str(cfg.ca_file) if cfg.ca_file else None,
    )


_FACTORIES: dict[str, Callable[[MailboxConfig, Callable[[], str]], Mailbox]] = {
    "imap": _imap,
    "exchange": _exchange,
}


def create(cfg: MailboxConfig, password: Callable[[], str]) -> Mailbox:
    return _FACTORIES[cfg.backend](cfg, password)


def mailbox_id(cfg: MailboxConfig) -> str:
    """How the store names the watched folder; a new server or folder starts a new cursor.
    Several folders share one name ending in ``/*``: their cursor holds each folder's place,
    so adding a folder to the list reads only that one from the window's start."""
    folder = "*" if several(cfg.watched_folders) else cfg.watched_folders[0]
    if cfg.backend == "exchange":
        return f"exchange:{cfg.primary_smtp_address or cfg.username}@{cfg.ews_url}/{folder}"
    return f"{cfg.backend}:{cfg.username}@{cfg.host}:{cfg.effective_port}/{folder}"
