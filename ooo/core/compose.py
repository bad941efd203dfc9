"""Render the automatic reply: Jinja2 templates in a sandbox -> ``email.message.EmailMessage``.

Pure: the Message-ID and ``now`` are passed in. A value from an inbound message reaches an
outgoing header only as a validated value: a :data:`~ooo.core.parse.MessageId` (RFC 5322 ``msg-id``,
taken from the raw header with no encoded-word decoding, see :func:`thread_headers`), an
address object built from a plain RFC 5321 mailbox (:func:`ooo.core.parse.is_replyable`), or one
line of text cleaned by :func:`ooo.core.parse.clean` and made :func:`inert`. Sender-controlled text
reaches HTML only through Jinja2's autoescape.

The reply is written in the language :func:`ooo.core.language.choose_language` picks (or in two,
for ``[reply] bilingual``), from the templates :func:`ooo.core.language.template_candidates`
names; the renderer (the shell) says which files exist and formats dates in the language.
"""

from __future__ import annotations

import email.utils
import html as htmllib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from email.headerregistry import Address, BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.policy import SMTP as _SMTP
from typing import TYPE_CHECKING, Any, ParamSpec, Protocol
from zoneinfo import ZoneInfo

from ooo.core import mime
from ooo.core.language import Detect, LanguageChoice, choose_language, template_candidates
from ooo.core.network import share_text
from ooo.core.parse import Inbound, MessageId, clean, is_replyable, message_id
from ooo.core.wording import ENGLISH, Language

if TYPE_CHECKING:
    # Annotations only: the policy imports the iTIP composer, which builds on this module.
    from ooo.config import Config
    from ooo.core.policy import Decision
    from ooo.core.routing import Routing

#: A reply subject longer than this is cut at a word boundary.
SUBJECT_CAP = 160

P = ParamSpec("P")


class _Headers(HeaderRegistry):
    """The standard header classes, each made once: the stdlib makes a new class for every
    header it sets, a third of the CPU time of composing a reply (measured in issue 14)."""

    def __init__(self) -> None:
        super().__init__()
        self._made: dict[str, type[BaseHeader]] = {}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        made = self._made.get(key)
        if made is None:
            made = self._made[key] = super().__getitem__(name)
        return made


#: The stdlib's SMTP policy (CRLF line ends, folded at 78) with the header classes made once.
SMTP = _SMTP.clone(header_factory=_Headers())


@dataclass(frozen=True)
class ReplySettings:
    owner_name: str
    timezone: ZoneInfo
    away_start: datetime
    away_end: datetime
    subject_prefix: str = "Auto: "
    share_subject: bool = False
    """Put the sender's subject in "ask my network" links (never for internal senders)."""
    languages: tuple[str, ...] = ("en",)
    """``[reply] languages``: the languages a reply may be written in, the default first."""
    bilingual: tuple[str, ...] = ()
    """``[reply] bilingual``: two of ``languages`` that one reply carries together."""
    detect: Detect | None = field(default=None, compare=False, repr=False)
    """The language detector (built by the shell, ooo.detector); None: no detection."""
    colleagues: str = "en"
    """The language ooo writes to the owner's colleagues in (the note of a forward to the
    delegate): the report's (``[report] language``, see :func:`ooo.locale.configured`)."""

    @classmethod
    def of(cls, cfg: Config, *, share_subject: bool, detect: Detect | None = None) -> ReplySettings:
        """The owner, the away window and the reply languages as the config gives them;
        ``share_subject`` is the caller's to choose (the text the mail server sends in ooo's
        place never shares it), and so is the detector."""
        from ooo.locale import configured  # the report's language, by the report's own rule

        return cls(
            owner_name=cfg.owner.name,
            timezone=cfg.owner.tz,
            away_start=cfg.away.start,
            away_end=cfg.away.end,
            subject_prefix=cfg.away.subject_prefix,
            share_subject=share_subject,
            languages=tuple(cfg.reply.languages),
            bilingual=tuple(cfg.reply.bilingual),
            detect=detect,
            colleagues=configured(cfg),
        )

    @property
    def default_language(self) -> str:
        return self.languages[0] if self.languages else "en"


class Render(Protocol):
    """What compose needs of the templates (ooo.templating.Renderer is the real one)."""

    def render(self, name: str, context: dict[str, Any]) -> str: ...

    def exists(self, name: str) -> bool: ...

    def day(self, moment: datetime, language: str) -> str: ...

    def language_name(self, language: str) -> str: ...


def reply_subject(original: str, prefix: str = "Auto: ") -> str:
    """``Auto: <original>``, one clean line, cut at a word boundary when long."""
    subject = clean(original) or "(no subject)"
    if prefix and subject.lower().startswith(prefix.strip().lower()):
        subject = subject[len(prefix.strip()) :].lstrip()
    if len(subject) > SUBJECT_CAP:
        cut = subject[:SUBJECT_CAP]
        space = cut.rfind(" ")
        subject = (cut[:space] if space > SUBJECT_CAP // 2 else cut).rstrip(" ,;:-") + "…"
    return inert(f"{clean(prefix, 40)} {subject}".strip() if prefix else subject)


def inert(text: str) -> str:
    """Header text that Python's email package will not decode a second time. Setting a header
    parses its value for RFC 2047 encoded words, even unterminated ones, so a literal
    ``=?utf-8?q?=0D=0AX-Injected:_yes`` left in a subject or name (undecodable at parse time,
    or encoded twice by the sender) would come out as a real CR/LF and a new header line. A
    zero-width space after the ``=`` keeps it literal text."""
    return text.replace("=?", "=\u200b?")


def format_day(moment: datetime, tz: tzinfo, lang: Language = ENGLISH) -> str:
    """The day ``moment`` falls on in ``tz``, as a sentence says it in ``lang``: "Monday 5
    January 2027", "Montag, 5. Januar 2027"."""
    return lang.spelled_day(moment.astimezone(tz).date())


def context_for(
    msg: Inbound,
    decision: Decision,
    settings: ReplySettings,
    routing: Routing | None = None,
    ref: str | None = None,
    *,
    language: str | None = None,
    day: Callable[[datetime, str], str] | None = None,
) -> dict[str, Any]:
    """The variables every template sees (documented in templates/README.md), for a reply in
    ``language`` (default: the default reply language). ``day`` writes ``back_on`` in that
    language (the renderer's); without it, ``back_on`` is in English."""
    tz = settings.timezone
    language = language or settings.default_language
    end = settings.away_end.astimezone(tz)
    back_on = day(end, language) if day else format_day(settings.away_end, tz)
    audience = routing.audience if routing else "external"
    internal = routing.internal_sender if routing else False
    # Privacy: a subject goes into a public link only when the owner allowed it, and never
    # for an internal sender (internal subjects are internal information).
    shared_subject = clean(msg.subject, 120) if settings.share_subject and not internal else None
    network = []
    for entry in routing.network if routing else []:
        share = None
        if ref and entry.public:
            share = entry.share_url(
                share_text(entry.mention or entry.display, ref.replace("-", ""), shared_subject)
            )
        network.append(
            {
                "kind": entry.kind,
                "display": entry.display,
                "url": entry.profile_url,
                "label": entry.label or _neutral(entry.display, language),
                "public": entry.public,
                "share_url": share,
            }
        )
    delegate = routing.delegate if routing else None
    return {
        "audience": audience,
        "ref": ref or "",
        "network": network,
        "delegate": (
            {"name": delegate.name, "email": delegate.email, "handle": delegate.handle or ""}
            if delegate
            else None
        ),
        "cc_delegate": bool(routing and routing.cc_delegate),
        "forwarded": bool(routing and routing.forward_to_delegate),
        "owner": {"name": settings.owner_name, "address": decision.owner_address or ""},
        "sender": {
            "name": msg.from_name if msg.from_address == decision.recipient else "",
            "address": decision.recipient or "",
        },
        "subject": clean(msg.subject),
        "away": {
            "start": settings.away_start.astimezone(tz),
            "end": end,
            "back_on": back_on,
        },
        "back_on": back_on,
        "language": language,
        "timezone": tz.key,
    }


_ON_SERVICE = re.compile(r"(.+?)(?: discussions)? on (Mastodon|Bluesky|LinkedIn|X|GitHub|Matrix)")


def _neutral(display: str, language: str) -> str:
    """An entry's default name ("@ana@hachyderm.io on Mastodon") in a form every language
    reads ("@ana@hachyderm.io (Mastodon)"); English keeps its words."""
    found = _ON_SERVICE.fullmatch(display)
    return f"{found[1]} ({found[2]})" if found and language != "en" else display


def reply_language(
    msg: Inbound, decision: Decision, settings: ReplySettings, routing: Routing | None = None
) -> LanguageChoice:
    """The language(s) the reply to ``msg`` is written in, and why (``ooo preview`` says it)."""
    return choose_language(
        msg,
        decision.recipient or msg.sender or "",
        settings.languages,
        route_language=routing.language if routing else None,
        route=routing.route if routing else None,
        detect=settings.detect,
        bilingual=settings.bilingual,
    )


def render_reply(
    msg: Inbound,
    decision: Decision,
    settings: ReplySettings,
    renderer: Render,
    routing: Routing | None = None,
    ref: str | None = None,
    choice: LanguageChoice | None = None,
) -> tuple[str, str, LanguageChoice]:
    """The reply's text and HTML in the chosen language(s), and the choice."""
    choice = choice or reply_language(msg, decision, settings, routing)
    base = routing.template if routing else "reply"
    texts: list[tuple[str, str, str]] = []
    for language in choice.languages or (choice.language,):
        context = context_for(
            msg, decision, settings, routing, ref, language=language, day=renderer.day
        )
        text, html = (
            renderer.render(pick_template(renderer, base, language, settings, ext), context)
            for ext in ("txt", "html")
        )
        texts.append((language, text, html))
    if len(texts) == 1:
        return texts[0][1], texts[0][2], choice
    names = [renderer.language_name(language) for language, _, _ in texts]
    return (
        bilingual_text([t for _, t, _ in texts], names),
        bilingual_html([(lang, h) for lang, _, h in texts], names),
        choice,
    )


def pick_template(
    renderer: Render, base: str, language: str, settings: ReplySettings, ext: str
) -> str:
    """The first template of the fallback order that exists (the last one when none does, so
    that rendering it names the missing file)."""
    candidates = template_candidates(base, language, settings.default_language, ext)
    return next((name for name in candidates if renderer.exists(name)), candidates[-1])


#: Between the languages of a bilingual plain-text reply.
_RULE = "────────"


def bilingual_text(parts: list[str], names: list[str]) -> str:
    """Plain-text replies one after the other, each after the first under its language's
    name. A signature delimiter ("-- ") before the last part is dropped (the line stays
    empty), or mail clients would hide everything after it as a signature."""
    out: list[str] = []
    for i, part in enumerate(parts):
        body = part.rstrip("\n")
        if i < len(parts) - 1:
            body = re.sub(r"(?m)^-- $", "", body)
        if i:
            out.append(f"\n\n{_RULE} {names[i]} {_RULE}\n\n")
        out.append(body)
    return "".join(out) + "\n"


_BODY = re.compile(r"<body\b[^>]*>(.*)</body\s*>", re.IGNORECASE | re.DOTALL)


def bilingual_html(parts: list[tuple[str, str]], names: list[str]) -> str:
    """One HTML document holding each language's body in a ``<div lang>``, the first
    document's head and page around them, a rule and the language's name between them."""
    first = parts[0][1]
    page = _BODY.search(first)
    before, after = (first[: page.start(1)], first[page.end(1) :]) if page else ("", "")
    blocks = []
    for i, (language, document) in enumerate(parts):
        found = _BODY.search(document)
        inner = found.group(1) if found else document
        if i:
            blocks.append(
                '<hr style="border: none; border-top: 1px solid #d0d7de; margin: 24px 0 8px;">\n'
                f'<p style="color: #656d76; font-size: 0.85em;">{htmllib.escape(names[i])}</p>\n'
            )
        blocks.append(f'<div lang="{htmllib.escape(language)}">{inner}</div>\n')
    return before + "".join(blocks) + after


def reply_bytes(
    msg: Inbound,
    decision: Decision,
    settings: ReplySettings,
    renderer: Render,
    *,
    message_id: str,
    now: datetime,
    routing: Routing | None = None,
    ref: str | None = None,
) -> bytes:
    """The reply to ``msg``, ready to send: a multipart/alternative written by
    :mod:`ooo.core.mime`, CRLF line ends."""
    if not decision.reply or not decision.recipient or not decision.owner_address:
        raise ValueError("compose_reply needs a decision to reply")
    text, html, choice = render_reply(msg, decision, settings, renderer, routing, ref)
    fields = [
        _address_field("From", settings.owner_name, decision.owner_address),
        _address_field(
            "To",
            msg.from_name if msg.from_address == decision.recipient else "",
            decision.recipient,
        ),
    ]
    if routing and routing.cc_delegate and routing.delegate:
        fields.append(_address_field("Cc", routing.delegate.name, routing.delegate.email))
    fields += [
        mime.text_field("Subject", reply_subject(msg.subject, settings.subject_prefix)),
        mime.text_field("Date", email.utils.format_datetime(now)),
        mime.text_field("Message-ID", _own_id(message_id)),
        *(mime.words_field(name, value.split(" ")) for name, value in thread_headers(msg).items()),
        # RFC 3834 §5: mark it automatic so other responders stay quiet; Exchange's own too.
        "Auto-Submitted: auto-replied",
        "X-Auto-Response-Suppress: All",
        mime.text_field("X-Loop", decision.owner_address),
        # RFC 3282: the language(s) the reply is written in, the first one first.
        mime.text_field("Content-Language", ", ".join(choice.languages or (choice.language,))),
    ]
    return mime.alternative(fields, text, html)


def _read_back(write: Callable[P, bytes]) -> Callable[P, EmailMessage]:
    """``write``, its bytes read back as a MIME message: what the tests and anything else
    wanting a message object look at is what is sent."""

    def read(*args: P.args, **kwargs: P.kwargs) -> EmailMessage:
        # With LF line ends, as a message composed in memory holds its text (get_content()
        # gives "\n"); the SMTP policy writes CRLF again (as_bytes()).
        raw = write(*args, **kwargs).replace(b"\r\n", b"\n")
        message = email.message_from_bytes(raw, policy=SMTP)
        assert isinstance(message, EmailMessage)
        return message

    read.__doc__ = f"{write.__name__}(), read back as an EmailMessage."
    return read


#: The reply to a message (:func:`reply_bytes`) as an ``EmailMessage``.
compose_reply = _read_back(reply_bytes)


def compose_forward(
    msg: Inbound,
    original: bytes,
    decision: Decision,
    settings: ReplySettings,
    routing: Routing,
    *,
    ref: str,
    message_id: str,
    now: datetime,
    lang: Language = ENGLISH,
) -> EmailMessage:
    """The inquiry forwarded to the delegate: a short note (in ``lang``, English by default)
    plus the original attached.

    Marked ``Auto-Submitted: auto-forwarded`` (RFC 3834 §5) so that no responder, ours
    included, ever answers it, and ``X-Auto-Response-Suppress: All`` for Exchange.
    """
    if routing.delegate is None or decision.owner_address is None:
        raise ValueError("compose_forward needs a delegate")
    fwd = EmailMessage(policy=SMTP)
    fwd["From"] = _address(settings.owner_name, decision.owner_address)
    fwd["To"] = _address(routing.delegate.name, routing.delegate.email)
    fwd["Subject"] = f"[{ref}] Fwd: {reply_subject(msg.subject, '')}"
    fwd["Date"] = email.utils.format_datetime(now)
    fwd["Message-ID"] = _own_id(message_id)
    parent = thread_headers(msg).get("In-Reply-To")
    if parent:
        fwd["References"] = parent
    fwd["Auto-Submitted"] = "auto-forwarded"
    fwd["X-Auto-Response-Suppress"] = "All"
    fwd["X-Loop"] = decision.owner_address
    note = _forward_note(msg, settings, routing, ref, decision, lang)
    fwd.set_content(note)
    if decision.recipient:
        fwd["Reply-To"] = _address("", decision.recipient)
    try:
        inner = email.message_from_bytes(original, policy=email.policy.default)
        fwd.add_attachment(inner)
        if not _fit_for_smtp(fwd.as_bytes()):
            raise ValueError("the original has NUL bytes or lines over 998 octets")
    except Exception:  # a hostile original: attach its bytes base64-encoded, always valid
        fwd.clear_content()
        fwd.set_content(note)
        fwd.add_attachment(
            original, maintype="application", subtype="octet-stream", filename="inquiry.eml"
        )
    return fwd


def _fit_for_smtp(raw: bytes) -> bool:
    """RFC 5322 §2.1.1: no line over 998 octets; and no NUL, which SMTP servers reject."""
    return b"\x00" not in raw and all(len(line) <= 998 for line in raw.split(b"\r\n"))


def _why(routing: Routing, lang: Language) -> str:
    """The routing reason in the owner's words, for the delegate."""
    if routing.route:
        name = routing.route.split(":", 1)[0].split(" ", 1)[-1].strip("'") or "a rule"
        return " " + lang.gettext("(it matched the rule %(rule)s)") % {"rule": name}
    if routing.audience == "vip":
        return " " + lang.gettext("(the sender is on the VIP list)")
    return ""


def _forward_note(
    msg: Inbound,
    settings: ReplySettings,
    routing: Routing,
    ref: str,
    decision: Decision,
    lang: Language,
) -> str:
    assert routing.delegate is not None
    _ = lang.gettext
    who = decision.recipient or ""
    sender = clean(f"{msg.from_name} <{who}>" if msg.from_name else who)
    day = format_day(settings.away_end, settings.timezone, lang)
    passed = _(
        "%(owner)s is away until %(day)s and asked ooo to pass this inquiry from %(sender)s "
        "to you%(why)s."
    ) % {"owner": settings.owner_name, "day": day, "sender": sender, "why": _why(routing, lang)}
    how = _(
        "The sender got an automatic reply naming you; to answer them, reply to this message "
        "(Reply-To is their address). The reference is %(ref)s."
    ) % {"ref": ref}
    hello = _("Hello %(name)s,") % {"name": clean(routing.delegate.name)}
    attached = _("The original message is attached.")
    return f"{hello}\n\n{passed}\n\n{how}\n\n{attached}\n"


def thread_headers(msg: Inbound, cap: int = 20) -> dict[str, MessageId]:
    """``In-Reply-To`` and ``References`` for an answer to ``msg`` (RFC 5322 §3.6.4), built only
    from ids that validate. An id that does not is left out (the answer still goes out); with
    no valid parent id there is no thread to join, so neither header is written."""
    parent = message_id(msg.message_id) if msg.message_id else None
    if parent is None:
        return {}
    refs = [valid for r in msg.references if (valid := message_id(r)) and valid != parent]
    chain = [*refs[-(cap - 1) :], parent]
    return {"In-Reply-To": parent, "References": MessageId(" ".join(chain))}


def _own_id(value: str) -> MessageId:
    valid = message_id(value)
    if valid is None:
        raise ValueError(f"not a valid Message-ID for an outgoing message: {value!r}")
    return valid


def _replyable(name: str, addr: str) -> str:
    """The display name to write beside ``addr`` (one clean, inert line), once ``addr`` is
    known to be a plain address an outgoing header may carry."""
    if not is_replyable(addr):
        raise ValueError(f"not a plain address for an outgoing header: {addr!r}")
    return inert(clean(name, 200))


def _address_field(field: str, name: str, addr: str) -> str:
    """An address header for :func:`reply_bytes`."""
    return mime.address_field(field, _replyable(name, addr), addr)


def _address(name: str, addr: str) -> Address:
    display = _replyable(name, addr)
    local, _, domain = addr.partition("@")
    return Address(display_name=display, username=local, domain=domain)
