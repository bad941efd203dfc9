"""The text the mail server sends in ooo's place: the owner's own templates, rendered once for
an unknown sender.

The server cannot run ooo's router or templates per message, so it gets one text per audience:
what ooo itself would send a stranger writing to the owner's first address, with no subject,
no name and no per-inquiry reference (the server cannot issue references; the "ask there"
links carry none). Internal senders get the internal audience's wording, everyone else the
external one. An audience the config does not answer (``reply.<audience>.reply = false``)
gets nothing from the server either; ``external_replies = "known"`` becomes Exchange's "Known"
audience, and no external reply at all from Sieve, which cannot know whom the owner knows.
VIP lists and routes by subject or body need the message itself: the server uses the plain
audience wording for them. It cannot tell a sender's language either: the text is in the default
reply language (the first of ``[reply] languages``), or in both of ``[reply] bilingual`` when
the default is one of them.
"""

from __future__ import annotations

from ooo.config import Config
from ooo.core.compose import Render, ReplySettings, render_reply
from ooo.core.language import LanguageChoice
from ooo.core.parse import parse
from ooo.core.policy import Decision, Reason
from ooo.core.routing import internal_domains, route
from ooo.core.sieve import ServerReply

#: The made-up senders the texts are rendered for (RFC 2606 names: nobody real).
STRANGER = "someone@example.invalid"
COLLEAGUE = "someone"


def server_reply(cfg: Config, renderer: Render) -> ServerReply:
    """The server's reply texts for ``cfg``, rendered with ``renderer`` (raises UserError for
    a broken template, like every other rendering)."""
    domains = tuple(internal_domains(cfg))
    texts: dict[str, tuple[str, str] | None] = {}
    for audience, sender in (
        ("internal", f"{COLLEAGUE}@{domains[0]}" if domains else None),
        ("external", STRANGER),
    ):
        texts[audience] = _render(cfg, renderer, sender) if sender else None
    if cfg.audiences.external_replies == "known" and texts["external"] is not None:
        audience = "Known"
    else:
        audience = "All" if texts["external"] is not None else "None"
    internal, external = texts["internal"], texts["external"]
    sieve_external = None if audience == "Known" else external
    return ServerReply(
        internal=internal[0] if internal else None,
        external=sieve_external[0] if sieve_external else None,
        internal_domains=domains,
        subject_prefix=cfg.away.subject_prefix,
        internal_html=internal[1] if internal else None,
        external_html=external[1] if external else None,
        external_audience=audience,
    )


def _render(cfg: Config, renderer: Render, sender: str) -> tuple[str, str] | None:
    owner = cfg.owner.addresses[0]
    raw = f"From: <{sender}>\r\nTo: <{owner}>\r\n\r\n".encode()
    msg = parse("handoff", raw)
    # Counted as known: with external_replies = "known", Exchange answers known senders only,
    # and they get this text.
    routing = route(msg, sender, cfg, frozenset({sender}))
    if not routing.reply:
        return None
    settings = ReplySettings.of(cfg, share_subject=False)
    decision = Decision(Reason.REPLY, owner_address=owner, recipient=sender)
    default = settings.default_language
    pair = tuple(cfg.reply.bilingual)
    if default in pair:
        languages = (default, *(code for code in pair if code != default))
    else:
        languages = (default,)
    choice = LanguageChoice(default, "default", "the default", languages)
    text, html, _ = render_reply(msg, decision, settings, renderer, routing, None, choice)
    return text, html
