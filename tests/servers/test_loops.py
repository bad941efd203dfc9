"""Responders meeting responders on real servers: two `ooo` daemons (bob, carol) and a Sieve
`vacation` (dave). Alice writes to all three, with the others in CC, and also with an envelope
sender that makes one responder's reply land in another responder's mailbox. Each of alice's
messages gets at most one reply from each responder, and no responder ever answers a reply."""

from __future__ import annotations

import email
import email.policy
import smtplib
from collections import Counter
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.support.mailstack import MailStack, User
from tests.support.responder import Responder, inquiry, wait_for

pytestmark = pytest.mark.servers


def parse(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def address(header: object) -> str:
    return str(header).rsplit("<", 1)[-1].rstrip(">").strip().lower()


@pytest.fixture
def responders(
    mail_stack: MailStack, mail_user: Callable[[str], User], tmp_path: Path
) -> Iterator[tuple[Responder, Responder]]:
    for name in ("bob", "carol"):
        (tmp_path / name).mkdir()
    bob = Responder(mail_stack, mail_user("bob"), tmp_path / "bob")
    # carol replies with her own address as envelope sender: her replies can be answered
    # by a careless responder (a null sender could not be), which is what this test wants.
    carol = Responder(mail_stack, mail_user("carol"), tmp_path / "carol")
    carol.config.write_text(
        carol.config.read_text().replace("[smtp]\n", '[smtp]\nenvelope_sender = "owner"\n', 1)
    )
    yield bob, carol
    for r in (bob, carol):
        if r.proc is not None and r.proc.poll() is None:
            r.stop()


def test_responders_never_answer_each_other_and_answer_each_message_at_most_once(
    mail_stack: MailStack,
    mail_user: Callable[[str], User],
    responders: tuple[Responder, Responder],
) -> None:
    """Three messages from alice to bob, CC carol and dave; then one each whose envelope
    sender is carol, dave or bob, so that every responder's replies land in the mailboxes of
    the other two (carol's with a real envelope sender). Every auto-reply in every
    mailbox answers one of alice's messages, never another reply, and no responder answers
    the same original twice or the same sender twice."""
    bob, carol = responders
    alice, dave = mail_user("alice"), mail_user("dave")
    mail_stack.set_sieve(
        dave,
        'require ["vacation"];\n'
        f'vacation :days 1 :addresses ["{dave.address}"] :subject "Dave is away"\n'
        '  "I am away, and my vacation script answers this.";\n',
    )
    for r in (bob, carol):
        r.start()

    def send(envelope: str, to: User, cc: list[User], subject: str) -> str:
        raw = inquiry(alice, to, subject, Cc=", ".join(u.address for u in cc))
        with smtplib.SMTP(mail_stack.host, mail_stack.smtp_port, timeout=30) as smtp:
            smtp.sendmail(envelope, [to.address, *(u.address for u in cc)], raw)
        return str(parse(raw)["Message-ID"])

    originals = [send(alice.address, bob.owner, [carol.owner, dave], f"Plan {n}") for n in range(3)]
    originals.append(send(carol.owner.address, bob.owner, [dave], "Envelope from carol"))
    originals.append(send(dave.address, bob.owner, [carol.owner], "Envelope from dave"))
    # carol's reply (with her own envelope sender, and Auto-Submitted) lands in bob's mailbox.
    originals.append(send(bob.owner.address, carol.owner, [dave], "Envelope from bob"))

    # Each daemon sees the originals it is a recipient of (5) plus the replies of the two
    # other responders to the original sent with its owner as envelope sender (2).
    bob.wait_decided(7)
    carol.wait_decided(7)
    for r in (bob, carol):
        r.wait_all_sent()
    wait_for(mail_stack.queue_empty, 30, "Postfix's queue to empty")
    # Nothing is still on its way: the daemons decided all, sent all, and Postfix (which also
    # carries Sieve's replies, submitted during LMTP delivery) holds nothing.
    for r in (bob, carol):
        r.stop()

    responder_addresses = {bob.owner.address, carol.owner.address, dave.address}
    original_ids = set(originals)
    answered: Counter[tuple[str, str]] = Counter()
    per_recipient: Counter[tuple[str, str]] = Counter()
    for user in (alice, bob.owner, carol.owner, dave):
        for raw in mail_stack.fetch_all(user):
            msg = parse(raw)
            if msg["Auto-Submitted"] is None:
                assert msg["Message-ID"] in original_ids, msg["Subject"]
                continue
            author = address(msg["From"])
            assert author in responder_addresses, msg["From"]
            # Never an answer to an answer: every reply points at one of alice's messages.
            assert msg["In-Reply-To"] in original_ids, (
                f"{author} answered {msg['In-Reply-To']} (not one of alice's messages), "
                f"in {user.address}'s mailbox"
            )
            answered[(author, msg["In-Reply-To"])] += 1
            per_recipient[(author, address(msg["To"]))] += 1
    assert max(answered.values()) == 1, answered
    assert max(per_recipient.values()) == 1, per_recipient

    # alice got one reply from each responder, for her first message only (reply interval).
    to_alice = {author for author, rcpt in per_recipient if rcpt == alice.address}
    assert to_alice == responder_addresses
    # Each: alice's first message answered, her next two within the interval; the originals
    # with another envelope sender answered to that sender; the two replies of the others
    # that landed in its mailbox decided as automatic, never answered.
    for r in (bob, carol):
        reasons = r.reasons()
        automatic = {k: v for k, v in reasons.items() if k not in ("reply", "already_replied")}
        assert (reasons["reply"], reasons["already_replied"]) == (3, 2), reasons
        assert sum(automatic.values()) == 2, reasons
        assert set(automatic) <= {"auto_submitted", "null_return_path"}, reasons
    # carol's reply had a real envelope sender: only its Auto-Submitted header stopped bob.
    assert "auto_submitted" in bob.reasons(), bob.reasons()
