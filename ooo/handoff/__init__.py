"""The handoff: the mail server answers in ooo's place while ooo is not running.

``create`` builds the :class:`~ooo.handoff.base.Handoff` a config asks for (``[handoff]
method``): :class:`~ooo.handoff.sieve.SieveHandoff` (ManageSieve), :class:`~ooo.handoff.exchange.
ExchangeHandoff` (Exchange's automatic replies) or :class:`~ooo.handoff.base.NoHandoff`. The
interface, the order in which the daemon calls it and the errors are in ooo.handoff.base; the
script itself is ooo.core.sieve (pure); the logind hook is ooo.handoff.sleep. Library modules
(sievelib, exchangelib) are imported only when their method is chosen.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from ooo.handoff.base import Handoff, HandoffState, NoHandoff

if TYPE_CHECKING:
    from ooo.config import Config
    from ooo.core.compose import Render


def create(
    cfg: Config,
    renderer: Render,
    clock: Callable[[], datetime],
    previous: HandoffState | None = None,
) -> Handoff:
    """The handoff for ``cfg``. ``renderer`` renders the server's reply text now (a broken
    template raises UserError here, not at the first handoff); ``previous`` is the state the
    store kept from the last run (``HandoffState.from_json``), which tells Exchange's automatic
    replies ooo set from the owner's own."""
    method = cfg.handoff.method
    if method == "none":
        return NoHandoff()
    from ooo.core.sieve import days_for
    from ooo.handoff.reply import server_reply
    from ooo.host.secrets import password_provider

    reply = server_reply(cfg, renderer)
    secret = password_provider("mailbox", cfg.mailbox)
    if method == "exchange":
        from ooo import mailbox as mailboxes
        from ooo.handoff.exchange import ExchangeHandoff
        from ooo.mailbox.ews import EwsMailbox

        def make_mailbox() -> EwsMailbox:
            box = mailboxes.create(cfg.mailbox, secret)
            assert isinstance(box, EwsMailbox)
            box.use_streaming = False  # only settings are read and written
            return box

        return ExchangeHandoff(
            make_mailbox,
            reply=reply,
            window_end=cfg.away.end,
            lease=cfg.handoff.lease,
            clock=clock,
            previous=previous,
        )
    from ooo.handoff.managesieve import Session
    from ooo.handoff.sieve import SieveHandoff

    host, port, security, ca_file = cfg.handoff.sieve_server(cfg.mailbox)
    m = cfg.mailbox

    def connect() -> Session:
        return Session(
            host,
            port,
            security,
            m.username,
            secret,
            auth=m.auth,
            ca_file=str(ca_file) if ca_file else None,
        )

    return SieveHandoff(
        connect,
        reply=reply,
        addresses=cfg.owner.addresses,
        window_start=cfg.away.start,
        window_end=cfg.away.end,
        lease=cfg.handoff.lease,
        days=days_for(cfg.away.reply_interval),
        clock=clock,
    )
