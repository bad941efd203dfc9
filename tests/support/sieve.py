"""The owner's side of a Sieve handoff on the private mail stack: their own script uploaded as
their webmail would, what Dovecot stored, what Pigeonhole logged and what reached a sender."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

from ooo.handoff.managesieve import Session
from tests.support.mailstack import MailStack, User
from tests.support.responder import inquiry, wait_for

OWN_SCRIPT = (
    'require ["fileinto", "mailbox"];\r\n'
    "# The owner's own filing rule: receipts go to their folder.\r\n"
    'if header :contains "subject" "receipt" {\r\n'
    '    fileinto :create "Receipts";\r\n'
    "}\r\n"
)


def session(stack: MailStack, user: User) -> Session:
    return Session(stack.host, stack.managesieve_port, "plain", user.login, lambda: user.password)


def install_own_script(stack: MailStack, owner: User, text: str = OWN_SCRIPT) -> bytes:
    """What the owner's webmail does: upload their script and activate it; returns the bytes
    Dovecot stored."""
    with session(stack, owner) as s:
        stored, code = s.putscript("roundcube", text)
        assert stored, code
        s.setactive("roundcube")
    return script_file(stack, owner, "roundcube").read_bytes()


def script_file(stack: MailStack, owner: User, name: str) -> Path:
    return stack.root / "mail" / owner.login / "sieve" / f"{name}.sieve"


def scripts(stack: MailStack, owner: User) -> tuple[str | None, list[str]]:
    with session(stack, owner) as s:
        return s.listscripts()


def send(stack: MailStack, sender: User, owner: User, subject: str) -> None:
    stack.send(inquiry(sender, owner, subject), sender.address, [owner.address])


def flags(stack: MailStack, owner: User, subject: str, folder: str = "INBOX") -> set[str]:
    """The flags of the message with this subject, once it has been delivered."""
    client = stack.imap(owner)
    try:

        def find() -> set[str] | None:
            if not client.folder_exists(folder):
                return None
            client.select_folder(folder, readonly=True)
            uids = client.search(["HEADER", "Subject", subject])
            if not uids:
                return None
            found = client.get_flags(uids)[uids[0]]
            return {f.decode() if isinstance(f, bytes) else f for f in found} | {"(delivered)"}

        return wait_for(find, 20, f"{subject!r} in {owner.login}'s {folder}") - {"(delivered)"}
    finally:
        client.logout()


def vacation_log(stack: MailStack, sender: User) -> str:
    """Pigeonhole's vacation decisions about mail from ``sender``."""
    return "\n".join(
        line
        for line in stack.dovecot_log.read_text(errors="replace").splitlines()
        if "vacation" in line and f"<{sender.address}>" in line
    )


def no_reply_for(stack: MailStack, sender: User) -> None:
    """Nothing went back to ``sender``: Pigeonhole sent no vacation, and once Postfix's queue
    is empty their mailbox is empty."""
    assert "sent vacation response" not in vacation_log(stack, sender)
    wait_for(stack.queue_empty, 20, "Postfix's queue to drain")
    assert stack.fetch_all(sender) == []


def the_reply(stack: MailStack, sender: User) -> email.message.EmailMessage:
    (raw,) = stack.wait_for_mail(sender, 1)
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, email.message.EmailMessage)
    return msg
