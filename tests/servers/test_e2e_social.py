"""End to end on real servers: the social-aware reply (issue 3). The `ooo` daemon runs as a
subprocess with a config that has `[[network]]` entries (a public Mastodon account and an
internal Slack channel), a `[delegate]`, `[audiences]`, `[reply.*]` and `[[route]]` rules;
Postfix delivers to Dovecot, and each test reads what arrived in the sender's, the
delegate's and the owner's own mailboxes over IMAP, and what the daemon decided from its
state database.

How the audiences are set up: the private mail stack delivers only to its own domain,
`example.test`, so every sender, the owner and the delegates live there and a sender
outside it could never read its reply. The audience is therefore chosen by the config,
never by faking addresses:

- internal: `internal_domains = ["example.test"]`, so every sender of the stack is
  internal (the same rule a company uses for its own domain);
- external: `internal_domains = ["corp.invalid"]` (a domain no test user is in), so every
  sender of the stack is external;
- VIP: the external config plus `vip = ["<that sender's address>"]`, an address rule.

Everything else (routing, templates, the outbox, SMTP, delivery) runs as it would for real.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from ooo.core.refs import find_refs
from tests.support.helpers import read
from tests.support.mailstack import MailStack, User
from tests.support.responder import Responder, inquiry, settle

pytestmark = pytest.mark.servers

MASTODON_PROFILE = "https://hachyderm.io/@ana"
MASTODON_SHARE = "https://hachyderm.io/share?"
SLACK_LABEL = "#platform-help"
SLACK_URL = "https://example.slack.com/archives/C0123"
VIP_SENTENCE = "Your message is at the top of my list for when I'm back."
INTERNAL = ["example.test"]
EXTERNAL = ["corp.invalid"]  # no stack user is in it: every sender is external


def social_config(
    delegate: User,
    internal_domains: list[str],
    *,
    vip: tuple[str, ...] = (),
    more: str = "",
) -> str:
    """The social part of the config (appended after the harness's [state] table)."""
    quoted = ", ".join(f'"{d}"' for d in internal_domains)
    vips = ", ".join(f'"{v}"' for v in vip)
    return f"""
[[network]]
kind = "mastodon"
handle = "@ana@hachyderm.io"
audience = "all"

[[network]]
kind = "slack"
label = "{SLACK_LABEL}"
url = "{SLACK_URL}"
audience = "internal"

[delegate]
name = "Carol Delegate"
email = "{delegate.address}"
handle = "@carol@hachyderm.io"

[audiences]
internal_domains = [{quoted}]
vip = [{vips}]
{more}
"""


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.hrefs += [v for k, v in attrs if k == "href" and v]


def hrefs(html: str) -> list[str]:
    """Every <a href> of an HTML document, entities decoded."""
    parser = _Links()
    parser.feed(html)
    parser.close()
    return parser.hrefs


def bodies(reply: EmailMessage) -> tuple[str, str]:
    """The text/plain and the text/html part of a reply."""
    text = reply.get_body(("plain",))
    html = reply.get_body(("html",))
    assert text is not None and html is not None, reply.as_string()[:2000]
    return text.get_content(), html.get_content()


def decision(responder: Responder, sender: User) -> dict[str, str | None]:
    """What the daemon recorded for the one message from ``sender``."""
    rows = responder.query(
        "SELECT reason, ref, audience, route, delegate FROM message WHERE sender = ?",
        sender.address,
    )
    assert len(rows) == 1, rows
    return dict(zip(("reason", "ref", "audience", "route", "delegate"), rows[0], strict=True))


def assert_reference(reply: EmailMessage, responder: Responder, sender: User) -> str:
    """The reply names exactly one inquiry reference, the one stored for the message, in both
    parts; returns it."""
    text, html = bodies(reply)
    ref = decision(responder, sender)["ref"]
    assert ref is not None and re.fullmatch(r"OOO-[0-9A-HJKMNP-TV-Z]{6}", ref), ref
    assert find_refs(text) == [ref], text
    assert set(find_refs(html)) == {ref}, html
    assert "reply with the word RESOLVED" in text
    return ref


def assert_share_link_is_private(html: str, ref: str, subject: str) -> None:
    """The Mastodon "ask my network" link carries the inquiry's tag and none of the sender's
    words (share_subject is off by default)."""
    (share,) = [h for h in hrefs(html) if h.startswith(MASTODON_SHARE)]
    (post,) = parse_qs(urlsplit(share).query)["text"]
    assert "#" + ref.replace("-", "") in post, post
    assert "@ana@hachyderm.io" in post, post
    for word in [subject, *(w for w in subject.split() if len(w) > 3)]:
        assert word.lower() not in post.lower(), f"{word!r} of the subject leaked: {post}"


@pytest.fixture
def daemons(tmp_path: Path) -> Iterator[Callable[..., Responder]]:
    """Factory: ``daemons(stack, owner, extra=TOML)`` is that owner's `ooo`, in its own folder;
    every daemon still running is stopped at the end."""
    made: list[Responder] = []

    def make(stack: MailStack, owner: User, *, extra: str = "") -> Responder:
        workdir = tmp_path / owner.login
        workdir.mkdir()
        made.append(Responder(stack, owner, workdir, extra=extra))
        return made[-1]

    yield make
    for r in made:
        if r.proc is not None and r.proc.poll() is None:
            r.stop()


def set_smtp_key(responder: Responder, line: str) -> None:
    """Add a key to the harness's [smtp] table (TOML allows a table only once, so it cannot
    come through ``extra``)."""
    text = responder.config.read_text()
    assert text.count("\n[smtp]\n") == 1
    responder.config.write_text(text.replace("\n[smtp]\n", f"\n[smtp]\n{line}\n"))


def ask(stack: MailStack, sender: User, owner: User, subject: str) -> bytes:
    original = inquiry(sender, owner, subject)
    stack.send(original, sender.address, [owner.address])
    return original


def test_external_sender_sees_the_public_network_and_never_the_internal_channel(
    mail_stack: MailStack, mail_user: Callable[[str], User], daemons: Callable[..., Responder]
) -> None:
    """An external sender's reply points to the owner's Mastodon profile (with an "ask my
    network" link that carries the reference and not their subject) and to the delegate for
    urgent matters; the internal Slack channel is in neither part of the reply; the reference
    in the reply is the one in the owner's state."""
    bob, carol, alice = mail_user("bob"), mail_user("carol"), mail_user("alice")
    responder = daemons(mail_stack, bob, extra=social_config(carol, EXTERNAL))
    responder.start()
    subject = "Migrating the export API"
    ask(mail_stack, alice, bob, subject)

    (raw,) = mail_stack.wait_for_mail(alice, 1, timeout=30)
    reply = read(raw)
    text, html = bodies(reply)
    assert reply["Subject"] == f"Auto: {subject}"
    assert reply["Cc"] is None
    for part in (text, html):
        assert MASTODON_PROFILE in part
        assert SLACK_URL not in part
        assert SLACK_LABEL not in part
        assert "example.slack.com" not in part
        assert VIP_SENTENCE not in part
    assert f"For anything urgent, please contact Carol Delegate: {carol.address}" in text
    links = hrefs(html)
    assert MASTODON_PROFILE in links
    assert f"mailto:{carol.address}" in links
    assert not [h for h in links if "slack" in h]
    ref = assert_reference(reply, responder, alice)
    assert_share_link_is_private(html, ref, subject)
    assert decision(responder, alice) == {
        "reason": "reply",
        "ref": ref,
        "audience": "external",
        "route": None,
        "delegate": carol.address,
    }

    settle(mail_stack, responder)
    assert mail_stack.fetch_all(carol) == []  # no cc_delegate: the delegate gets nothing
    assert len(mail_stack.fetch_all(alice)) == 1


def test_internal_sender_sees_the_internal_channel(
    mail_stack: MailStack, mail_user: Callable[[str], User], daemons: Callable[..., Responder]
) -> None:
    """A colleague (a sender in one of the internal domains) is pointed to the internal Slack
    channel as well as the public profile, as a link in the HTML part, and nothing of their
    message goes into the public "ask my network" link."""
    bob, carol, erin = mail_user("bob"), mail_user("carol"), mail_user("erin")
    responder = daemons(mail_stack, bob, extra=social_config(carol, INTERNAL))
    responder.start()
    subject = "Internal roadmap for Q3"
    ask(mail_stack, erin, bob, subject)

    (raw,) = mail_stack.wait_for_mail(erin, 1, timeout=30)
    reply = read(raw)
    text, html = bodies(reply)
    assert f"{SLACK_LABEL}: {SLACK_URL}" in text
    assert MASTODON_PROFILE in text
    assert VIP_SENTENCE not in text
    links = hrefs(html)
    assert SLACK_URL in links
    assert MASTODON_PROFILE in links
    assert f"mailto:{carol.address}" in links
    ref = assert_reference(reply, responder, erin)
    assert_share_link_is_private(html, ref, subject)
    stored = decision(responder, erin)
    assert (stored["audience"], stored["route"]) == ("internal", None)
    settle(mail_stack, responder)
    assert mail_stack.fetch_all(carol) == []


def test_vip_gets_the_vip_sentence_and_the_delegate_is_copied(
    mail_stack: MailStack, mail_user: Callable[[str], User], daemons: Callable[..., Responder]
) -> None:
    """A VIP (listed by address) gets the VIP sentence; with `[reply.vip] cc_delegate = true`
    the reply's Cc names the delegate and the very same message lands in the delegate's own
    mailbox. An external VIP still never sees the internal channel."""
    bob, carol, vip = mail_user("bob"), mail_user("carol"), mail_user("vip-user")
    more = "[reply.vip]\ncc_delegate = true\n"
    extra = social_config(carol, EXTERNAL, vip=(vip.address,), more=more)
    responder = daemons(mail_stack, bob, extra=extra)
    responder.start()
    ask(mail_stack, vip, bob, "Contract renewal")

    (raw,) = mail_stack.wait_for_mail(vip, 1, timeout=30)
    reply = read(raw)
    text, html = bodies(reply)
    assert VIP_SENTENCE in text
    assert VIP_SENTENCE in unescape(html)
    assert "I've copied Carol Delegate on this reply, so they can answer you directly." in text
    assert reply["To"] == vip.address
    assert reply["Cc"] == f"Carol Delegate <{carol.address}>"
    assert SLACK_URL not in text + html
    assert_reference(reply, responder, vip)
    stored = decision(responder, vip)
    assert (stored["audience"], stored["delegate"]) == ("vip", carol.address)

    (copy,) = mail_stack.wait_for_mail(carol, 1, timeout=30)
    assert read(copy)["Message-ID"] == reply["Message-ID"]
    assert read(copy)["Auto-Submitted"] == "auto-replied"
    settle(mail_stack, responder)
    assert len(mail_stack.fetch_all(carol)) == 1
    assert len(mail_stack.fetch_all(vip)) == 1


def test_billing_question_is_routed_to_the_finance_delegate(
    mail_stack: MailStack, mail_user: Callable[[str], User], daemons: Callable[..., Responder]
) -> None:
    """A `[[route]]` on words in the subject names its own delegate instead of the default
    one, copies them (`cc_delegate = true`) so the copy arrives in their mailbox, and the
    state records which route matched and why. A question on another topic from another
    sender, in the same run, still gets the default delegate and no copy."""
    bob, carol, dave = mail_user("bob"), mail_user("carol"), mail_user("dave")
    frank, alice = mail_user("frank"), mail_user("alice")
    route = f"""
[[route]]
name = "billing"
subject_contains = ["invoice", "billing"]
delegate = {{ name = "Dave Finance", email = "{dave.address}" }}
cc_delegate = true
"""
    responder = daemons(mail_stack, bob, extra=social_config(carol, EXTERNAL, more=route))
    responder.start()
    ask(mail_stack, frank, bob, "Question about INVOICE 2024-117")
    ask(mail_stack, alice, bob, "Lunch next week?")

    (raw,) = mail_stack.wait_for_mail(frank, 1, timeout=30)
    reply = read(raw)
    text, html = bodies(reply)
    assert f"For anything urgent, please contact Dave Finance: {dave.address}" in text
    assert "I've copied Dave Finance on this reply" in text
    assert "Carol" not in text + html
    assert f"mailto:{dave.address}" in hrefs(html)
    assert reply["Cc"] == f"Dave Finance <{dave.address}>"
    assert_reference(reply, responder, frank)
    stored = decision(responder, frank)
    assert stored["delegate"] == dave.address
    assert stored["route"] == "route[0] 'billing': subject contains 'invoice'"

    (copy,) = mail_stack.wait_for_mail(dave, 1, timeout=30)
    assert read(copy)["Message-ID"] == reply["Message-ID"]

    (other,) = mail_stack.wait_for_mail(alice, 1, timeout=30)
    other_text, _ = bodies(read(other))
    assert f"please contact Carol Delegate: {carol.address}" in other_text
    assert "Dave" not in other_text
    assert read(other)["Cc"] is None
    assert decision(responder, alice)["route"] is None

    settle(mail_stack, responder)
    assert len(mail_stack.fetch_all(dave)) == 1
    assert mail_stack.fetch_all(carol) == []


@pytest.mark.parametrize(
    ("envelope_sender", "delegate_reason"),
    [("owner", "auto_submitted"), ("null", "null_return_path")],
)
def test_forward_to_delegate_reaches_them_and_nothing_loops(
    mail_stack: MailStack,
    mail_user: Callable[[str], User],
    daemons: Callable[..., Responder],
    envelope_sender: str,
    delegate_reason: str,
) -> None:
    """With `forward_to_delegate = true` the sender is told the inquiry was passed on, and the
    delegate receives `[OOO-…] Fwd: <subject>` marked `Auto-Submitted: auto-forwarded` with
    the original attached as message/rfc822 and Reply-To the sender. The delegate is away
    too and runs their own `ooo`: it does not answer the forward, so nothing comes back to
    the owner and the sender hears from nobody else.

    With `envelope_sender = "owner"` the forward has a real Return-Path, so only its
    Auto-Submitted header stops the delegate's daemon; with the default null envelope the
    empty Return-Path stops it first."""
    bob, carol, alice = mail_user("bob"), mail_user("carol"), mail_user("alice")
    more = "[reply.external]\nforward_to_delegate = true\n"
    owner = daemons(mail_stack, bob, extra=social_config(carol, EXTERNAL, more=more))
    set_smtp_key(owner, f'envelope_sender = "{envelope_sender}"')
    delegate = daemons(mail_stack, carol)  # Carol is on vacation too
    delegate.start()
    owner.start()
    subject = "Access to the staging cluster"
    original = read(ask(mail_stack, alice, bob, subject))

    (raw,) = mail_stack.wait_for_mail(alice, 1, timeout=30)
    reply = read(raw)
    text, html = bodies(reply)
    assert (
        f"I've passed it on to Carol Delegate ({carol.address}), who is looking after things "
        "while I'm out and will get back to you." in text
    )
    assert "For anything urgent" not in text
    assert f"mailto:{carol.address}" in hrefs(html)
    assert reply["Cc"] is None
    ref = assert_reference(reply, owner, alice)

    (fwd_raw,) = mail_stack.wait_for_mail(carol, 1, timeout=30)
    fwd = read(fwd_raw)
    assert fwd["Subject"] == f"[{ref}] Fwd: {subject}"
    assert fwd["Auto-Submitted"] == "auto-forwarded"
    assert fwd["X-Auto-Response-Suppress"] == "All"
    assert fwd["From"] == f"Bob Owner <{bob.address}>"
    assert fwd["To"] == f"Carol Delegate <{carol.address}>"
    assert fwd["Reply-To"] == alice.address
    assert fwd["Return-Path"] == ("<>" if envelope_sender == "null" else f"<{bob.address}>")
    note = fwd.get_body(("plain",))
    assert note is not None
    assert alice.address in note.get_content() and ref in note.get_content()
    (attached,) = list(fwd.iter_attachments())
    assert attached.get_content_type() == "message/rfc822"
    inner = attached.get_content()
    assert inner["Message-ID"] == original["Message-ID"]
    assert inner["Subject"] == subject

    delegate.wait_decided(1)
    assert delegate.reasons() == {delegate_reason: 1}
    assert delegate.reply_states() == {}
    settle(mail_stack, owner)
    settle(mail_stack, delegate)
    assert owner.reply_states() == {"sent": 2}  # the reply and the forward
    assert len(mail_stack.fetch_all(bob)) == 1  # only alice's inquiry: nothing came back
    assert owner.reasons() == {"reply": 1}
    assert len(mail_stack.fetch_all(alice)) == 1  # only bob's reply
    assert len(mail_stack.fetch_all(carol)) == 1  # only the forward
    for daemon in (owner, delegate):
        assert daemon.proc is not None and daemon.proc.poll() is None, daemon.log_text()


def test_a_refused_copy_to_the_delegate_does_not_fail_the_delivered_reply(
    mail_stack: MailStack, mail_user: Callable[[str], User], daemons: Callable[..., Responder]
) -> None:
    """The server refuses the delegate's copy (a mistyped delegate address) but takes the
    reply for the sender, who receives it. That reply was sent: the state says so (not
    "failed"), the inquiry is tagged as answered and the copy is kept in the Sent folder,
    like any other reply; the sender is not answered twice."""
    bob, alice = mail_user("bob"), mail_user("alice")
    ghost = User("ghost", "no-such-delegate@example.test", "unused")  # not a stack user
    more = "[reply.external]\ncc_delegate = true\n"
    responder = daemons(mail_stack, bob, extra=social_config(ghost, EXTERNAL, more=more))
    responder.start()
    ask(mail_stack, alice, bob, "Where is the runbook?")

    (raw,) = mail_stack.wait_for_mail(alice, 1, timeout=30)
    assert read(raw)["Cc"] == f"Carol Delegate <{ghost.address}>"
    settle(mail_stack, responder)
    assert len(mail_stack.fetch_all(alice)) == 1
    assert responder.reply_states() == {"sent": 1}, responder.query(
        "SELECT state, last_error FROM reply"
    )
    with mail_stack.imap(bob) as client:
        client.select_folder("INBOX", readonly=True)
        (uid,) = client.search("ALL")
        assert b"$OooReplied" in client.get_flags([uid])[uid]
    assert len(mail_stack.fetch_all(bob, "Sent")) == 1
