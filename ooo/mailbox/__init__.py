"""Mailbox backends behind one interface (``base.Mailbox``); ``create`` picks one by name.

A new backend is a module here plus one line in ``_BACKENDS``: the engine does not change.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ooo.config import MailboxConfig
    from ooo.mailbox.base import Mailbox

_BACKENDS = {
    "imap": "ooo.mailbox.imap",
}


def create(cfg: MailboxConfig, password: Callable[[], str]) -> Mailbox:
    module = importlib.import_module(_BACKENDS[cfg.backend])
    factory: Callable[[MailboxConfig, Callable[[], str]], Mailbox] = module.from_config
    return factory(cfg, password)


def mailbox_id(cfg: MailboxConfig) -> str:
    """How the store names the watched folder; a new server or folder starts a new cursor."""
    return f"{cfg.backend}:{cfg.username}@{cfg.host}:{cfg.effective_port}/{cfg.folder}"
