"""Routing (issue 3): which audience a sender is in, which route and delegate apply and why,
what the rendered reply may show them, the forward to a delegate, and config errors that name
the entry at fault."""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import replace
from datetime import timedelta
from email.message import EmailMessage
from urllib.parse import unquote

import pytest

from ooo import locale
from ooo.config import Config, loads
from ooo.core.compose import ReplySettings, compose_forward, compose_reply
from ooo.core.parse import Inbound, parse
from ooo.core.policy import Owner, Reason, decide
from ooo.core.routing import Routing, route
from ooo.errors import ConfigError
from ooo.templating import Renderer
from tests.support.helpers import ALIAS, END, INSIDE, OWNER, START, raw_message
from tests.support.routing import (
    BASE,
    CAROL,
    FORWARD,
    PATH,
    REF,
    config,
    decision_for,
    forward_of,
    reply_settings,
)

RENDERER = Renderer()

NETWORK = """
[[network]]
kind = "mastodon"
handle = "@bob@hachyderm.io"

[[network]]
kind = "slack"
label = "#platform-help"
url = "https://example.slack.com/archives/C0123"

[[network]]
kind = "bluesky"
handle = "bob.bsky.social"

[[network]]
kind = "teams"
label = "Platform team channel"
url = "https://teams.microsoft.com/l/channel/19%3Aabc"

[[network]]
kind = "x"
handle = "@bobexample"

[[network]]
kind = "matrix"
handle = "#platform:matrix.example.com"

[[network]]
kind = "discourse"
label = "Engineering forum"
url = "https://forum.internal.example.com/c/help"
"""

# What would give away each internal channel of NETWORK: its label and its link.
INTERNAL_MARKERS = {
    "slack": ("#platform-help", "example.slack.com"),
    "teams": ("Platform team channel", "teams.microsoft.com"),
    "matrix": ("#platform:matrix.example.com", "matrix.to"),
    "discourse": ("Engineering forum", "forum.internal.example.com"),
}
PUBLIC_LINKS = ("https://hachyderm.io/@bob", "https://bsky.app/profile/bob.bsky.social",
                "https://x.com/bobexample")  # fmt: skip


def problems(*sections: str) -> list[str]:
    text = BASE + "".join(sections)
    with pytest.raises(ConfigError) as err:
        loads(text, PATH)
    return err.value.problems


def inbound(
    sender: str = "alice@example.org",
    to: str = OWNER,
    subject: str = "A question",
    body: str = "Hello Bob,\nwhat about the thing?\n",
) -> Inbound:
    raw = raw_message(sender=sender, to=to, subject=subject, body=body)
    return parse("1", *raw.split(b"\r\n\r\n", 1), received_at=INSIDE)


def routed(cfg: Config, known: frozenset[str] = frozenset(), **kwargs: str) -> Routing:
    msg = inbound(**kwargs)
    assert msg.sender is not None
    return route(msg, msg.sender, cfg, known)


def reply_to(cfg: Config, **kwargs: str) -> EmailMessage:
    """The reply the engine would send: parsed, decided, routed, composed, and read back."""
    msg = inbound(**kwargs)
    decision = decision_for(msg)
    assert decision.recipient is not None
    routing = route(msg, decision.recipient, cfg)
    raw = compose_reply(
        msg,
        decision,
        reply_settings(cfg),
        RENDERER,
        message_id="<r@example.com>",
        now=INSIDE,
        routing=routing,
        ref=REF,
    ).as_bytes()
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def parts(reply: EmailMessage) -> dict[str, str]:
    """The text and HTML bodies of a reply."""
    out = {}
    for kind in ("plain", "html"):
        body = reply.get_body((kind,))
        assert body is not None, kind
        out[kind] = body.get_content()  # type: ignore[attr-defined]
    return out


def links(text: str) -> list[str]:
    """Every http(s) link in a text or HTML body, percent-decoded."""
    return [unquote(url) for url in re.findall(r"https?://[^\s\"'<>)]+", text)]


# --- audience detection --------------------------------------------------------------------

VIPS = """
[audiences]
vip = ["CEO@BigCustomer.example", "partner.example", "boss@example.com", "exec.example.com"]
"""
DOMAINS = """
[audiences]
internal_domains = ["corp.example", "@Example.NET"]
"""

# (case, config, sender as written in the message, audience, internal_sender, reason)
AUDIENCE_CASES = [
    ("owner's own domain", "", "carol@example.com", "internal", True, "example.com is internal"),
    ("another domain", "", "alice@example.org", "external", False,
     "example.org is not internal (example.com)"),
    ("subdomain", "", "dev@eng.example.com", "internal", True, "eng.example.com is internal"),
    ("deep subdomain", "", "x@a.b.example.com", "internal", True, "a.b.example.com is internal"),
    ("domain as a prefix", "", "x@example.com.evil.org", "external", False,
     "example.com.evil.org is not internal (example.com)"),
    ("domain as a suffix", "", "x@evilexample.com", "external", False,
     "evilexample.com is not internal (example.com)"),
    ("case", "", "Carol@ENG.Example.COM", "internal", True, "eng.example.com is internal"),
    ("explicit domains", DOMAINS, "a@corp.example", "internal", True, "corp.example is internal"),
    ("explicit domains, case and @", DOMAINS, "a@Sub.Example.net", "internal", True,
     "sub.example.net is internal"),
    ("explicit domains replace the owner's", DOMAINS, "carol@example.com", "external", False,
     "example.com is not internal (corp.example, example.net)"),
    ("vip address", VIPS, "ceo@bigcustomer.example", "vip", False,
     "listed as VIP: ceo@bigcustomer.example"),
    ("vip address, case", VIPS, "Ceo@BIGCUSTOMER.example", "vip", False,
     "listed as VIP: ceo@bigcustomer.example"),
    ("vip address is not its domain", VIPS, "cfo@bigcustomer.example", "external", False,
     "bigcustomer.example is not internal (example.com)"),
    ("vip domain", VIPS, "ana@partner.example", "vip", False, "listed as VIP: partner.example"),
    ("vip subdomain", VIPS, "ana@eu.Partner.example", "vip", False,
     "listed as VIP: partner.example"),
    ("vip domain as a prefix", VIPS, "ana@partner.example.evil.org", "external", False,
     "partner.example.evil.org is not internal (example.com)"),
    ("vip beats internal (address)", VIPS, "boss@example.com", "vip", True,
     "listed as VIP: boss@example.com"),
    ("vip beats internal (domain)", VIPS, "cto@exec.example.com", "vip", True,
     "listed as VIP: exec.example.com"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("config_text", "sender", "audience", "internal_sender", "reason"),
    [case[1:] for case in AUDIENCE_CASES],
    ids=[case[0] for case in AUDIENCE_CASES],
)
def test_audience_detection(
    config_text: str, sender: str, audience: str, internal_sender: bool, reason: str
) -> None:
    """Internal means the owner's domains (or internal_domains) and their subdomains, compared
    case-insensitively and label by label; VIPs are listed addresses or domains (with
    subdomains) and win over internal; an internal VIP still counts as an internal sender.
    The reason says why."""
    r = routed(config(config_text), sender=sender)
    assert (r.audience, r.internal_sender, r.audience_reason) == (
        audience,
        internal_sender,
        reason,
    )
    assert r.reply


# --- routes --------------------------------------------------------------------------------

ROUTES = (
    CAROL
    + """
[[route]]
name = "customer outage"
from = ["bigcustomer.example"]
subject_contains = ["outage"]
delegate = { name = "Erin Support", email = "erin@example.com" }
template = "support"

[[route]]
name = "billing"
subject_contains = ["invoice", "billing"]
delegate = { name = "Dave Finance", email = "dave@example.com" }
cc_delegate = true

[[route]]
name = "sales alias"
to = ["b.example@example.com"]
forward_to_delegate = true

[[route]]
body_contains = ["Purchase Order"]
template = "orders"

[[route]]
name = "press"
from = ["press@news.example", "media.example"]
reply = false
"""
)

# (case, message fields, route, delegate, template, cc_delegate, forward_to_delegate)
ROUTE_CASES = [
    ("all conditions of a route", {"sender": "ops@bigcustomer.example", "subject": "OUTAGE!"},
     "route[0] 'customer outage': from bigcustomer.example, subject contains 'outage'",
     "erin@example.com", "support", False, False),
    ("first match wins", {"sender": "ops@bigcustomer.example", "subject": "outage invoice"},
     "route[0] 'customer outage': from bigcustomer.example, subject contains 'outage'",
     "erin@example.com", "support", False, False),
    ("one condition is not enough", {"sender": "ops@bigcustomer.example", "subject": "invoice"},
     "route[1] 'billing': subject contains 'invoice'", "dave@example.com", "reply", True, False),
    ("subject, case-insensitive", {"subject": "Your INVOICE #42"},
     "route[1] 'billing': subject contains 'invoice'", "dave@example.com", "reply", True, False),
    ("second word of a route", {"subject": "Re: Billing question"},
     "route[1] 'billing': subject contains 'billing'", "dave@example.com", "reply", True, False),
    ("to the owner's alias", {"to": "Bob <B.Example@Example.COM>"},
     "route[2] 'sales alias': sent to b.example@example.com", "carol@example.com", "reply",
     False, True),
    ("body, case-insensitive", {"body": "Please find our PURCHASE ORDER attached.\n"},
     "route[3]: body contains 'Purchase Order'", "carol@example.com", "orders", False, False),
    ("body words are not looked for in the subject", {"subject": "purchase order"},
     None, "carol@example.com", "reply", False, False),
    ("no route: audience defaults", {}, None, "carol@example.com", "reply", False, False),
]  # fmt: skip


@pytest.mark.parametrize(
    ("fields", "matched", "delegate", "template", "cc", "forward"),
    [case[1:] for case in ROUTE_CASES],
    ids=[case[0] for case in ROUTE_CASES],
)
def test_route_precedence_and_reason(
    fields: dict[str, str],
    matched: str | None,
    delegate: str,
    template: str,
    cc: bool,
    forward: bool,
) -> None:
    """Routes are tried in order and the first whose every condition holds wins; from, to,
    subject and body conditions each work (words case-insensitively); the route picks the
    delegate, template, cc and forward; the reason names the route and what matched."""
    r = routed(config(ROUTES), **fields)
    assert r.route == matched
    assert r.delegate is not None and r.delegate.email == delegate
    assert (r.template, r.cc_delegate, r.forward_to_delegate, r.reply) == (
        template,
        cc,
        forward,
        True,
    )
    assert f"route:    {matched or 'none matched (audience defaults)'}" in r.describe()


def test_to_matches_only_the_addresses_the_mail_was_sent_to() -> None:
    """A route for the alias does not fire for mail sent to the primary address."""
    assert routed(config(ROUTES), to=OWNER).route is None
    assert routed(config(ROUTES), to=ALIAS).route == (
        "route[2] 'sales alias': sent to b.example@example.com"
    )


@pytest.mark.parametrize("sender", ["press@news.example", "editor@desk.media.example"])
def test_route_reply_false_means_no_reply_with_the_reason(sender: str) -> None:
    """A route with reply = false stops the reply and says which route did it."""
    r = routed(config(ROUTES), sender=sender)
    assert r.reply is False
    assert r.route is not None
    assert r.no_reply_reason == f"{r.route} says reply = false"
    assert r.no_reply_reason.startswith("route[4] 'press': from ")


@pytest.mark.parametrize("audience", ["internal", "external", "vip"])
def test_audience_reply_false_means_no_reply_with_the_reason(audience: str) -> None:
    """reply = false on an audience stops replies to it, and only to it."""
    cfg = config(f"[audiences]\nvip = ['bigcustomer.example']\n[reply.{audience}]\nreply = false\n")
    senders = {
        "internal": "carol@example.com",
        "external": "alice@example.org",
        "vip": "ceo@bigcustomer.example",
    }
    for name, sender in senders.items():
        r = routed(cfg, sender=sender)
        assert r.audience == name
        if name == audience:
            assert (r.reply, r.no_reply_reason) == (False, f"reply.{audience}.reply is false")
        else:
            assert (r.reply, r.no_reply_reason) == (True, "")


def test_a_route_can_answer_an_audience_that_is_otherwise_off() -> None:
    """reply = true on a route wins over reply = false on the audience."""
    cfg = config(
        '[reply.external]\nreply = false\n[[route]]\nsubject_contains = ["urgent"]\nreply = true\n'
    )
    assert routed(cfg, subject="urgent: help").reply is True
    assert routed(cfg, subject="later").reply is False


def test_route_overrides_the_audience_behaviour() -> None:
    """What a route sets replaces the audience's setting; what it leaves unset is kept."""
    cfg = config(
        CAROL,
        """
[reply.external]
delegate = { name = "Frank Ext", email = "frank@example.com" }
template = "external"
cc_delegate = true
forward_to_delegate = true

[[route]]
name = "billing"
subject_contains = ["invoice"]
delegate = { name = "Dave Finance", email = "dave@example.com" }
template = "billing"
cc_delegate = false
forward_to_delegate = false

[[route]]
name = "legal"
subject_contains = ["contract"]
template = "legal"
""",
    )
    billing = routed(cfg, subject="invoice")
    assert billing.delegate is not None and billing.delegate.email == "dave@example.com"
    assert (billing.template, billing.cc_delegate, billing.forward_to_delegate) == (
        "billing",
        False,
        False,
    )
    legal = routed(cfg, subject="contract")
    assert legal.delegate is not None and legal.delegate.email == "frank@example.com"
    assert (legal.template, legal.cc_delegate, legal.forward_to_delegate) == (
        "legal",
        True,
        True,
    )
    plain = routed(cfg, subject="hello")
    assert (plain.route, plain.template, plain.cc_delegate) == (None, "external", True)


# --- external_replies = "known" ------------------------------------------------------------

KNOWN_ONLY = """
[audiences]
external_replies = "known"
vip = ["bigcustomer.example"]
"""


def test_known_only_does_not_answer_an_unknown_external_sender() -> None:
    """With external_replies = "known", an external sender the owner never wrote to gets no
    reply, and the reason names the setting and the sender."""
    r = routed(config(KNOWN_ONLY), sender="stranger@example.org")
    assert r.reply is False
    assert 'external_replies = "known"' in r.no_reply_reason
    assert "stranger@example.org" in r.no_reply_reason


def test_known_only_answers_a_known_external_sender() -> None:
    """An external sender in the known set (Sent folder or contacts) is answered."""
    known = frozenset({"alice@example.org"})
    r = routed(config(KNOWN_ONLY), known, sender="Alice@Example.org")
    assert (r.audience, r.reply, r.no_reply_reason) == ("external", True, "")


@pytest.mark.parametrize(
    "sender", ["carol@example.com", "dev@eng.example.com", "ceo@bigcustomer.example"]
)
def test_known_only_always_answers_internal_and_vip_senders(sender: str) -> None:
    """The "known" limit is for external senders only."""
    assert routed(config(KNOWN_ONLY), sender=sender).reply is True


def test_all_answers_unknown_external_senders() -> None:
    """The default, external_replies = "all", answers everyone."""
    assert routed(config(), sender="stranger@example.org").reply is True


# --- delegates -----------------------------------------------------------------------------

AUDIENCE_DELEGATE = """
[reply.external]
delegate = { name = "Frank Ext", email = "frank@example.com" }

[[route]]
subject_contains = ["invoice"]
delegate = { name = "Dave Finance", email = "dave@example.com" }
"""


@pytest.mark.parametrize(
    ("sections", "sender", "subject", "delegate"),
    [
        ((CAROL,), "alice@example.org", "hi", "carol@example.com"),
        ((CAROL, AUDIENCE_DELEGATE), "alice@example.org", "hi", "frank@example.com"),
        ((CAROL, AUDIENCE_DELEGATE), "colleague@example.com", "hi", "carol@example.com"),
        ((CAROL, AUDIENCE_DELEGATE), "alice@example.org", "invoice", "dave@example.com"),
        ((CAROL, AUDIENCE_DELEGATE), "colleague@example.com", "invoice", "dave@example.com"),
        ((AUDIENCE_DELEGATE,), "colleague@example.com", "hi", None),
    ],
    ids=[
        "[delegate]",
        "audience over [delegate]",
        "other audience keeps [delegate]",
        "route over audience",
        "route over [delegate]",
        "none at all",
    ],
)
def test_delegate_precedence(
    sections: tuple[str, ...], sender: str, subject: str, delegate: str | None
) -> None:
    """The route's delegate wins over the audience's, which wins over [delegate]."""
    r = routed(config(*sections), sender=sender, subject=subject)
    assert (r.delegate.email if r.delegate else None) == delegate
    if delegate is None:
        assert "delegate: none" in r.describe()
        assert not (r.cc_delegate or r.forward_to_delegate)


@pytest.mark.parametrize(
    ("sender", "subject"),
    [("carol@example.com", "hi"), ("dave@example.com", "invoice")],
)
def test_the_delegate_writing_in_is_not_pointed_to_themselves(sender: str, subject: str) -> None:
    """When the delegate is the sender there is no delegate, and so nothing is copied or
    forwarded to them (their own message would come back to them)."""
    cfg = config(
        CAROL,
        """
[reply.internal]
cc_delegate = true
forward_to_delegate = true

[[route]]
subject_contains = ["invoice"]
delegate = { name = "Dave Finance", email = "dave@example.com" }
cc_delegate = true
forward_to_delegate = true
""",
    )
    r = routed(cfg, sender=sender, subject=subject)
    assert r.delegate is None
    assert (r.cc_delegate, r.forward_to_delegate, r.reply) == (False, False, True)
    other = routed(cfg, sender="colleague@example.com", subject=subject)
    assert other.delegate is not None and other.cc_delegate and other.forward_to_delegate


def test_the_delegate_is_not_named_in_the_reply_to_themselves() -> None:
    """Carol writing to Bob is not told to contact Carol."""
    reply = reply_to(config(CAROL), sender="carol@example.com")
    for body in parts(reply).values():
        assert "Carol" not in body
    assert reply["Cc"] is None


# --- what the sender sees: network and privacy ---------------------------------------------


EVERY_KIND = ["mastodon", "slack", "bluesky", "teams", "x", "matrix", "discourse"]
PUBLIC_KINDS = ["mastodon", "bluesky", "x"]


@pytest.mark.parametrize(
    ("sender", "visible"),
    [
        ("alice@example.org", PUBLIC_KINDS),
        ("ceo@bigcustomer.example", PUBLIC_KINDS),
        ("dev@eng.example.com", EVERY_KIND),
        ("boss@example.com", EVERY_KIND),
    ],
    ids=["external", "external vip", "internal", "internal vip"],
)
def test_network_entries_by_audience(sender: str, visible: list[str]) -> None:
    """Internal channels are routed only to internal senders (VIPs by their domain); the
    owner's order is kept."""
    cfg = config(NETWORK, '[audiences]\nvip = ["bigcustomer.example", "boss@example.com"]\n')
    assert [e.kind for e in routed(cfg, sender=sender).network] == visible


@pytest.mark.parametrize("part", ["plain", "html"])
@pytest.mark.parametrize("sender", ["alice@example.org", "ceo@bigcustomer.example"])
def test_no_internal_channel_in_the_reply_to_an_external_sender(part: str, sender: str) -> None:
    """Neither the label nor the link of a Slack, Teams, Matrix or Discourse entry (default
    audience) appears in the text or HTML reply to an external sender or external VIP; the
    public entries do."""
    cfg = config(CAROL, NETWORK, '[audiences]\nvip = ["bigcustomer.example"]\n')
    body = parts(reply_to(cfg, sender=sender))[part]
    for kind, markers in INTERNAL_MARKERS.items():
        for marker in markers:
            assert marker not in body, (kind, marker)
    for link in PUBLIC_LINKS:
        assert link in body


@pytest.mark.parametrize("part", ["plain", "html"])
@pytest.mark.parametrize("sender", ["dev@eng.example.com", "boss@example.com"])
def test_internal_channels_are_in_the_reply_to_an_internal_sender(part: str, sender: str) -> None:
    """An internal sender (an internal VIP too) is shown the internal channels."""
    cfg = config(CAROL, NETWORK, '[audiences]\nvip = ["boss@example.com"]\n')
    body = parts(reply_to(cfg, sender=sender))[part]
    for kind, markers in INTERNAL_MARKERS.items():
        for marker in markers:
            assert marker in body, (kind, marker)


SECRET = "Zanzibar merger plans"
SHARE_CASES = [
    # (share_subject, sender, subject in the share links?)
    (False, "alice@example.org", False),
    (False, "ceo@bigcustomer.example", False),
    (False, "dev@eng.example.com", False),
    (True, "alice@example.org", True),
    (True, "ceo@bigcustomer.example", True),
    (True, "dev@eng.example.com", False),
    (True, "boss@example.com", False),
]


@pytest.mark.parametrize("part", ["plain", "html"])
@pytest.mark.parametrize(("share_subject", "sender", "shared"), SHARE_CASES)
def test_subject_in_ask_my_network_links_only_when_allowed(
    part: str, share_subject: bool, sender: str, shared: bool
) -> None:
    """The "ask my network" links carry the inquiry's tag; the sender's subject is in them
    only with share_subject = true, and never for an internal sender (an internal VIP
    included). No other link carries it either."""
    cfg = config(
        NETWORK,
        '[audiences]\nvip = ["bigcustomer.example", "boss@example.com"]\n',
        f"[reply]\nshare_subject = {str(share_subject).lower()}\n",
    )
    body = parts(reply_to(cfg, sender=sender, subject=SECRET))[part]
    found = links(body)
    shares = [url for url in found if "text=" in url]
    assert len(shares) == 3, found  # Mastodon, Bluesky, X
    assert all("#OOO7K3Q9M" in url and "@bob" in url for url in shares), shares
    assert all((SECRET in url) is shared for url in shares), shares
    assert not any(SECRET in url for url in found if url not in shares)


# --- composing with routing ----------------------------------------------------------------


def test_cc_delegate_copies_the_delegate_on_the_reply() -> None:
    """A route with cc_delegate puts its delegate in Cc and says so in the reply."""
    reply = reply_to(config(ROUTES), subject="Invoice 42")
    assert reply["Cc"] == "Dave Finance <dave@example.com>"
    assert reply["To"] == "alice@example.org"
    for body in parts(reply).values():
        assert "copied Dave Finance" in body


def test_without_cc_delegate_nobody_is_copied() -> None:
    """The delegate is named in the reply but not copied unless asked."""
    reply = reply_to(config(ROUTES))
    assert reply["Cc"] is None
    assert "carol@example.com" in parts(reply)["plain"]


def test_forward_to_the_delegate() -> None:
    """The forward goes to the delegate, is tagged with the reference, is marked
    auto-forwarded (RFC 3834) and suppressed for Exchange, lets the delegate reply straight to
    the sender, and carries the original as message/rfc822."""
    raw = raw_message(sender="Alice <alice@example.org>", subject="Invoice 42")
    out, _, _ = forward_of(raw)
    fwd = email.message_from_bytes(out, policy=email.policy.default)
    assert fwd["Subject"] == f"[{REF}] Fwd: Invoice 42"
    assert fwd["From"] == "Bob Example <bob@example.com>"
    assert fwd["To"] == "Carol Jones <carol@example.com>"
    assert fwd["Reply-To"] == "alice@example.org"
    assert fwd["Auto-Submitted"] == "auto-forwarded"
    assert fwd["X-Auto-Response-Suppress"] == "All"
    assert fwd["References"] == "<m1@example.org>"
    attached = [p for p in fwd.walk() if p.get_content_type() == "message/rfc822"]
    assert len(attached) == 1
    inner = attached[0].get_payload()[0]  # type: ignore[index]
    assert inner["Subject"] == "Invoice 42"
    assert "what about the thing?" in inner.get_payload()
    note = fwd.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Hello Carol Jones" in note and REF in note and "alice@example.org" in note


def test_the_forward_note_speaks_the_report_s_language() -> None:
    """The note is for a colleague: it is written in the report's language ([report]
    language), the day in that language's words, the reason for a VIP in it too."""
    cfg = config(FORWARD, '\n[report]\nlanguage = "nl"\n')
    assert ReplySettings.of(cfg, share_subject=False).colleagues == "nl"
    assert ReplySettings.of(config(FORWARD), share_subject=False).colleagues == "en"
    raw = raw_message(sender="Alice <alice@example.org>", subject="Invoice 42")
    msg = parse("1", *raw.split(b"\r\n\r\n", 1), received_at=INSIDE)
    decision = decision_for(msg)
    routing = replace(route(msg, "alice@example.org", cfg), audience="vip")
    fwd = compose_forward(
        msg,
        raw,
        decision,
        reply_settings(cfg),
        routing,
        ref=REF,
        message_id="<f@example.com>",
        now=INSIDE,
        lang=locale.language("nl"),
    )
    note = " ".join(fwd.get_body(("plain",)).get_content().split())  # type: ignore[union-attr]
    assert note.startswith("Hallo Carol Jones, Bob Example is tot ")
    assert "niet op kantoor en heeft ooo gevraagd deze vraag van Alice <alice@example.org>" in note
    assert "(de afzender staat op de VIP-lijst)." in note
    assert f"De referentie is {REF}." in note
    assert note.endswith("Het oorspronkelijke bericht is bijgevoegd.")


def test_a_forward_is_never_answered() -> None:
    """If the delegate runs a responder too (ours included), the forward is not answered."""
    out, _, _ = forward_of(raw_message(subject="Invoice 42"))
    msg = parse("2", *out.split(b"\r\n\r\n", 1), received_at=INSIDE)
    d = decide(
        msg,
        Owner(("carol@example.com",)),
        window_start=START,
        window_end=END,
        last_reply_at=None,
        interval=timedelta(days=7),
        now=INSIDE,
    )
    assert d.reason is Reason.AUTO_SUBMITTED


HOSTILE = {
    "8-bit headers and body": (
        b"From: a\xff\xfe@x.org\r\nSubject: \xc3\x28 bad\r\n\r\nbody \xff\r\n"
    ),
    "bad charset and base64": (
        b'From: a@x.org\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
        b"Content-Type: text/plain; charset=bogus\r\nContent-Transfer-Encoding: base64\r\n"
        b"\r\n!!!\r\n"
    ),
    "8-bit boundary": (
        b'Content-Type: multipart/mixed; boundary="\xff"\r\n\r\n--\xff\r\n\r\nx\r\n--\xff--'
    ),
    "no headers": b"\xff\xfegarbage",
    "bare CR and LF": b"From: a@x.org\r\nSubject: hi\rthere\r\n\r\nbare\rCR\nLF\r\n",
    "NUL bytes": b"From: a@x.org\r\nSubject: a\x00b\r\n\r\nbody\x00\r\n",
    "long header line": b"From: a@x.org\r\nX-Long: " + b"a" * 5000 + b"\r\n\r\nbody\r\n",
    "long body line": b"From: a@x.org\r\nSubject: s\r\n\r\n" + b"b" * 5000 + b"\r\n",
    "empty": b"",
}


@pytest.mark.parametrize("original", list(HOSTILE.values()), ids=list(HOSTILE))
def test_a_hostile_original_still_serialises(original: bytes) -> None:
    """Whatever bytes the inquiry had, the forward serialises, keeps its headers, and still
    has the note and an attachment (message/rfc822, or the raw bytes when that fails)."""
    out, _, _ = forward_of(raw_message(subject="Invoice 42"), original)
    fwd = email.message_from_bytes(out, policy=email.policy.default)
    assert fwd["Auto-Submitted"] == "auto-forwarded"
    assert fwd["Reply-To"] == "alice@example.org"
    types = [p.get_content_type() for p in fwd.iter_parts()]  # type: ignore[attr-defined]
    assert types[0] == "text/plain"
    assert types[1] in ("message/rfc822", "application/octet-stream")


@pytest.mark.parametrize("original", list(HOSTILE.values()), ids=list(HOSTILE))
def test_a_forward_is_fit_for_smtp(original: bytes) -> None:
    """The forward as handed to SMTP has CRLF line ends only, no NUL, and no line longer than
    998 octets (RFC 5322 §2.1.1, RFC 5321 §4.5.3.1.6), whatever the original held."""
    out, _, _ = forward_of(raw_message(subject="Invoice 42"), original)
    lines = out.split(b"\r\n")
    assert [n for n, line in enumerate(lines) if b"\x00" in line] == [], "NUL"
    assert [n for n, line in enumerate(lines) if b"\r" in line or b"\n" in line] == [], "CR/LF"
    assert [(n, len(line)) for n, line in enumerate(lines) if len(line) > 998] == [], "length"


# --- config errors -------------------------------------------------------------------------


def line_of(text: str, line: str, nth: int = 0) -> int:
    """The 1-based number of the ``nth`` line of ``text`` that reads ``line``."""
    numbers = [i + 1 for i, got in enumerate(text.splitlines()) if got == line]
    return numbers[nth]


def test_malformed_handle_names_the_network_entry_and_line() -> None:
    """A bad Mastodon handle in the second [[network]] is reported at its line as
    network[1].handle, with the value given."""
    bad = '[[network]]\nkind = "website"\nurl = "https://bob.example.com"\n' + (
        '[[network]]\nkind = "mastodon"\nhandle = "bob@hachyderm"\n'
    )
    (problem,) = problems(bad)
    line = line_of(BASE + bad, 'handle = "bob@hachyderm"')
    assert problem.startswith(f"{PATH}:{line}: network[1].handle: mastodon handle must look like")
    assert "'bob@hachyderm'" in problem


def test_a_route_without_conditions_names_the_route() -> None:
    """A route that would match everything is refused, at its [[route]] line."""
    text = '[[route]]\nsubject_contains = ["invoice"]\n' + '[[route]]\nname = "all"\n'
    (problem,) = problems(CAROL, text)
    line = line_of(BASE + CAROL + text, "[[route]]", nth=1)
    assert problem.startswith(f"{PATH}:{line}: route[1]: a route needs at least one condition")


@pytest.mark.parametrize(
    ("text", "entry"),
    [
        ('[[route]]\nsubject_contains = ["x"]\ncc_delegate = true\n', "route[0]"),
        ('[[route]]\nfrom = ["a.example"]\nforward_to_delegate = true\n', "route[0]"),
        ("[reply.vip]\ncc_delegate = true\n", "reply.vip"),
        ("[reply.external]\nforward_to_delegate = true\n", "reply.external"),
    ],
)
def test_copying_or_forwarding_without_a_delegate_names_the_entry(text: str, entry: str) -> None:
    """cc_delegate or forward_to_delegate with no delegate anywhere is an error naming the
    route or audience; with [delegate] it is fine."""
    (problem,) = problems(text)
    assert f"{entry} copies or forwards to a delegate" in problem
    assert problem.startswith(f"{PATH}: ")
    config(CAROL, text)


def test_bad_template_name_on_a_route_names_the_route() -> None:
    """A route's template must be a plain base name (no paths)."""
    text = '[[route]]\nsubject_contains = ["x"]\ntemplate = "../../etc/passwd"\n'
    (problem,) = problems(text)
    line = line_of(BASE + text, "[[route]]")
    assert problem.startswith(f"{PATH}:{line}: route[0]: template: expected a base name")


def test_bad_template_name_on_an_audience_names_the_key_and_line() -> None:
    """An audience's template must be a plain base name; the key and line are named."""
    text = '[reply.vip]\ntemplate = "vip/../../x"\n'
    (problem,) = problems(text)
    line = line_of(BASE + text, 'template = "vip/../../x"')
    assert problem.startswith(f"{PATH}:{line}: reply.vip.template: expected a template base name")
    assert "'vip/../../x'" in problem
