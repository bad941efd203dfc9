"""The private mail stack (tests/support/mailstack.py) behaves like the real servers the other tests
rely on: delivery, plus-addressing, refusals, authenticated submission, outages, Sieve vacation
replies, IMAP IDLE, and the command-line runner."""

from __future__ import annotations

import email
import email.policy
import functools
import json
import os
import selectors
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import imapclient
import pytest

from tests.support import ROOT as SUPPORT_ROOT
from tests.support.mailstack import MailStack, User, render_template

pytestmark = pytest.mark.servers

REPO = SUPPORT_ROOT


def message(sender: str, to: str, subject: str, body: str = "Hello.\r\n") -> bytes:
    return (
        f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Message-ID: {make_msgid(domain='example.test')}\r\n"
        f"Date: Tue, 22 Dec 2026 10:00:00 +0000\r\n\r\n{body}"
    ).encode()


def parse(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def refuses_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return False
    except ConnectionRefusedError:
        return True


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def test_message_sent_to_smtp_port_arrives_in_inbox(
    mail_stack: MailStack, mail_user: Callable[[str], User]
) -> None:
    """Mail sent without AUTH to smtp_port is delivered over LMTP into the recipient's INBOX,
    byte-for-byte body intact, with the envelope sender as Return-Path; fetching does not
    mark it read."""
    alice, bob = mail_user("alice"), mail_user("bob")
    raw = message(alice.address, bob.address, "Delivery check", "Line one.\r\n.dot line\r\n")
    mail_stack.send(raw, alice.address, [bob.address])

    (got,) = mail_stack.wait_for_mail(bob, 1)
    msg = parse(got)
    assert msg["Subject"] == "Delivery check"
    assert msg["Return-Path"] == f"<{alice.address}>"
    assert got.endswith(b"\r\n\r\nLine one.\r\n.dot line\r\n")
    with mail_stack.imap(bob) as client:
        client.select_folder("INBOX", readonly=True)
        assert client.search(["UNSEEN"]), "fetch_all must not set \\Seen"


def test_wait_for_mail_times_out_with_what_it_found(
    mail_stack: MailStack, mail_user: Callable[[str], User]
) -> None:
    """wait_for_mail raises AssertionError after its timeout, naming the count it wanted and
    showing the headers of the messages that did arrive."""
    alice, bob = mail_user("alice"), mail_user("bob")
    mail_stack.send(message(alice.address, bob.address, "Only one"), alice.address, [bob.address])
    mail_stack.wait_for_mail(bob, 1)
    with pytest.raises(AssertionError, match=r"wanted 2 message\(s\)[\s\S]*Subject: Only one"):
        mail_stack.wait_for_mail(bob, 2, timeout=0.3)


def test_imap_login_accepts_login_or_full_address(
    mail_stack: MailStack, mail_user: Callable[[str], User]
) -> None:
    """A User logs in to IMAP with its bare `login` (what imap() uses) or its full address."""
    bob = mail_user("bob")
    with mail_stack.imap(bob) as client:
        assert client.select_folder("INBOX")[b"EXISTS"] == 0
    full = User(login=bob.address, address=bob.address, password=bob.password)
    with mail_stack.imap(full) as client:
        assert "INBOX" in [name for _, _, name in client.list_folders()]


def test_fetch_all_returns_messages_in_uid_order(
    mail_stack: MailStack, mail_user: Callable[[str], User]
) -> None:
    """fetch_all returns every message of a folder as raw bytes, oldest (lowest UID) first."""
    alice, bob = mail_user("alice"), mail_user("bob")
    for n in range(3):
        mail_stack.send(
            message(alice.address, bob.address, f"No. {n}"), alice.address, [bob.address]
        )
        mail_stack.wait_for_mail(bob, n + 1)
    assert [parse(m)["Subject"] for m in mail_stack.fetch_all(bob)] == ["No. 0", "No. 1", "No. 2"]
    assert mail_stack.fetch_all(bob, "Sent") == []


def test_plus_addresses_land_in_the_owners_inbox(
    mail_stack: MailStack, mail_user: Callable[[str], User]
) -> None:
    """user+anything@domain is accepted by Postfix and delivered to user's INBOX, so one
    mailbox can stand for many distinct sender addresses."""
    alice, s = mail_user("alice"), mail_user("s")
    local, domain = s.address.split("@")
    plus = [f"{local}+{n}@{domain}" for n in (17, 18, 999)]
    for address in plus:
        mail_stack.send(message(alice.address, address, address), alice.address, [address])

    got = mail_stack.wait_for_mail(s, len(plus))
    assert sorted(parse(m)["Subject"] for m in got) == sorted(plus)


def test_mail_to_elsewhere_reaches_the_same_inbox_through_a_queue_of_its_own(
    mail_stack: MailStack, mail_user: Callable[[str], User]
) -> None:
    """user+n@elsewhere lands in user's INBOX, like user+n@domain, and so does a Sieve
    vacation reply to it; Postfix delivers it through the ``elsewhere`` transport (its own
    queue), the owner's own mail through ``lmtp``."""
    alice, bob = mail_user("alice"), mail_user("bob")
    mail_stack.set_sieve(bob, 'require "vacation";\nvacation :days 1 "Away.";\n')
    far = f"{alice.login}+7@{mail_stack.elsewhere}"
    mail_stack.send(message(far, bob.address, "From afar"), far, [bob.address])

    (original,) = mail_stack.wait_for_mail(bob, 1)
    assert parse(original)["Subject"] == "From afar"
    (reply,) = mail_stack.wait_for_mail(alice, 1)
    assert parse(reply)["To"] == far

    def delivered_by(process: str, rcpt: str) -> bool:
        # A delivery's log line names the process (service/program) that made it.
        return any(
            f" {process}[" in line and f"to=<{rcpt}>" in line
            for line in mail_stack.postfix_log.read_text().splitlines()
        )

    wait_for(lambda: delivered_by("postfix/elsewhere/lmtp", far), 10, "elsewhere's log line")
    wait_for(lambda: delivered_by("postfix/lmtp", bob.address), 10, "lmtp's log line")
    assert not delivered_by("postfix/lmtp", far)


def test_unknown_local_part_is_rejected_at_rcpt(
    mail_stack: MailStack, mail_user: Callable[[str], User]
) -> None:
    """Mail to a local part without a mailbox is refused during the SMTP dialogue (550), not
    accepted and bounced later."""
    alice = mail_user("alice")
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        mail_stack.send(
            message(alice.address, "x", "?"), alice.address, ["nobody-here@example.test"]
        )
    ((code, text),) = refused.value.recipients.values()
    assert code == 550, text


def test_user_added_while_running_is_deliverable_at_once(mail_stack: MailStack) -> None:
    """add_user on a running stack takes effect for the very next SMTP connection and IMAP
    login (Postfix's smtpd notices the rebuilt map; Dovecot re-reads its passwd-file), even
    for several users added within the same second; adding the same name again is a no-op."""
    sender = mail_stack.add_user("added-sender")
    users = [mail_stack.add_user(f"added-{n}") for n in range(3)]
    for user in users:
        mail_stack.send(message(sender.address, user.address, "hi"), sender.address, [user.address])
    for user in users:
        assert len(mail_stack.wait_for_mail(user, 1)) == 1
    assert mail_stack.add_user("added-0") == users[0]


def test_add_user_again_with_another_password_changes_it(mail_stack: MailStack) -> None:
    """Re-adding a user with a new password replaces the old one; Dovecot notices within
    about a second (it re-checks a passwd-file at most once a second)."""
    first = mail_stack.add_user("pw-change", "one")
    mail_stack.imap(first).logout()
    second = mail_stack.add_user("pw-change", "two")
    assert second.password == "two"

    def can_login(user: User) -> bool:
        try:
            mail_stack.imap(user).logout()
        except imapclient.exceptions.LoginError:
            return False
        return True

    wait_for(lambda: can_login(second), 5, "the new password to work")
    assert not can_login(first)


def test_relaying_to_other_domains_is_refused(
    mail_stack: MailStack, mail_user: Callable[[str], User]
) -> None:
    """Neither smtp_port nor submission_port (even authenticated) relays outside the stack's
    domain, so no test mail can leave the machine."""
    alice = mail_user("alice")
    outside = "someone@elsewhere.test"
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        mail_stack.send(message(alice.address, outside, "relay?"), alice.address, [outside])
    ((code, text),) = refused.value.recipients.values()
    assert code == 554 and b"Relay access denied" in text

    with smtplib.SMTP(mail_stack.host, mail_stack.submission_port, timeout=30) as smtp:
        smtp.login(alice.login, alice.password)
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            smtp.sendmail(alice.address, [outside], message(alice.address, outside, "relay?"))


def test_submission_requires_auth_and_accepts_null_sender_after_it(
    mail_stack: MailStack, mail_user: Callable[[str], User]
) -> None:
    """submission_port refuses recipients to unauthenticated clients and wrong passwords, and
    after AUTH accepts MAIL FROM:<> (as auto-replies use) and delivers the message."""
    bob, carol = mail_user("bob"), mail_user("carol")
    raw = message(bob.address, carol.address, "Auto: hello")
    with smtplib.SMTP(mail_stack.host, mail_stack.submission_port, timeout=30) as smtp:
        smtp.ehlo()
        assert smtp.has_extn("auth")
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            smtp.sendmail(bob.address, [carol.address], raw)
        ((code, _),) = refused.value.recipients.values()
        assert code >= 500
    with (
        smtplib.SMTP(mail_stack.host, mail_stack.submission_port, timeout=30) as smtp,
        pytest.raises(smtplib.SMTPAuthenticationError),
    ):
        smtp.login(bob.login, "wrong password")
    with smtplib.SMTP(mail_stack.host, mail_stack.submission_port, timeout=30) as smtp:
        smtp.login(bob.login, bob.password)
        assert smtp.sendmail("", [carol.address], raw) == {}

    (got,) = mail_stack.wait_for_mail(carol, 1)
    assert parse(got)["Return-Path"] == "<>"


def test_imap_idle_announces_new_mail(
    mail_stack: MailStack, mail_user: Callable[[str], User]
) -> None:
    """An IMAP client in IDLE on INBOX is told about a newly delivered message (EXISTS)."""
    alice, bob = mail_user("alice"), mail_user("bob")
    with mail_stack.imap(bob) as client:
        client.select_folder("INBOX")
        client.idle()
        try:
            mail_stack.send(
                message(alice.address, bob.address, "idle"), alice.address, [bob.address]
            )
            deadline = time.monotonic() + 10
            seen: list[object] = []
            while not any(isinstance(r, tuple) and r[1:] == (b"EXISTS",) for r in seen):
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"no EXISTS during IDLE, got {seen}"
                seen += client.idle_check(timeout=remaining)
        finally:
            client.idle_done()


def test_postfix_can_be_stopped_and_started(
    mail_stack: MailStack, mail_user: Callable[[str], User]
) -> None:
    """stop_postfix closes the SMTP ports (connections are refused) and start_postfix brings
    them back on the same ports, delivering again."""
    alice, bob = mail_user("alice"), mail_user("bob")
    try:
        mail_stack.stop_postfix()
        assert not mail_stack.postfix_running
        assert refuses_connections(mail_stack.smtp_port)
        assert refuses_connections(mail_stack.submission_port)
        with pytest.raises(ConnectionRefusedError):
            mail_stack.send(
                message(alice.address, bob.address, "down"), alice.address, [bob.address]
            )
        mail_stack.stop_postfix()  # idempotent
    finally:
        mail_stack.start_postfix()
    mail_stack.send(message(alice.address, bob.address, "back"), alice.address, [bob.address])
    (got,) = mail_stack.wait_for_mail(bob, 1)
    assert parse(got)["Subject"] == "back"


def test_mail_sent_during_a_dovecot_outage_is_delivered_after_restart(
    mail_stack: MailStack, mail_user: Callable[[str], User]
) -> None:
    """With Dovecot stopped, IMAP is refused but Postfix still accepts mail and queues it;
    after start_dovecot the queued message is delivered and the queue drains."""
    alice, bob = mail_user("alice"), mail_user("bob")
    try:
        mail_stack.stop_dovecot()
        assert not mail_stack.dovecot_running
        assert refuses_connections(mail_stack.imap_port)
        mail_stack.send(message(alice.address, bob.address, "queued"), alice.address, [bob.address])
        assert not mail_stack.queue_empty()
    finally:
        mail_stack.start_dovecot()
    (got,) = mail_stack.wait_for_mail(bob, 1)
    assert parse(got)["Subject"] == "queued"
    wait_for(mail_stack.queue_empty, 10, "Postfix's queue to drain")


def test_sieve_vacation_reply_reaches_the_sender(
    mail_stack: MailStack, mail_user: Callable[[str], User]
) -> None:
    """A Sieve vacation script runs at LMTP delivery and its reply goes out through this
    stack's Postfix into the sender's mailbox, as an RFC 3834 auto-reply from <>."""
    alice, bob = mail_user("alice"), mail_user("bob")
    mail_stack.set_sieve(
        bob,
        'require "vacation";\nvacation :days 1 :subject "Away" "I am away until Monday.";\n',
    )
    raw = message(alice.address, bob.address, "Are you there?")
    mail_stack.send(raw, alice.address, [bob.address])

    (reply_raw,) = mail_stack.wait_for_mail(alice, 1)
    reply = parse(reply_raw)
    assert reply["Subject"] == "Away"
    assert reply["Auto-Submitted"] == "auto-replied (vacation)"
    assert reply["In-Reply-To"] == parse(raw)["Message-ID"]
    assert reply["Return-Path"] == "<>"
    assert "I am away until Monday." in reply.get_content()
    (original,) = mail_stack.wait_for_mail(bob, 1)
    assert parse(original)["Subject"] == "Are you there?"


def test_set_sieve_rejects_a_broken_script(
    mail_stack: MailStack, mail_user: Callable[[str], User]
) -> None:
    """set_sieve compiles the script first and raises ValueError with the compiler's message,
    instead of failing silently at delivery."""
    with pytest.raises(ValueError, match="unknown command 'vacatio'"):
        mail_stack.set_sieve(mail_user("bob"), 'require "vacation";\nvacatio "x";\n')


def _start_cli(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[str], dict[str, object]]:
    """Run ``python -m tests.support.mailstack`` and return it with the JSON it printed."""
    with (tmp_path / "stderr").open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.support.mailstack", *args],
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout=30):
            proc.kill()
            proc.wait()
            raise AssertionError(f"no JSON within 30 s: {(tmp_path / 'stderr').read_text()}")
    line = proc.stdout.readline()
    assert line, (tmp_path / "stderr").read_text()
    return proc, json.loads(line)


def test_command_line_runner_prints_json_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    """``python -m tests.support.mailstack --user NAME`` starts a separate stack on other ports,
    prints ports and users as JSON, serves until SIGINT, then stops the daemons and removes its
    folder."""
    proc, info = _start_cli(tmp_path, "--user", "carol:pw")
    try:
        assert info["users"] == [
            {"login": "carol", "address": "carol@example.test", "password": "pw"}
        ]
        port = info["imap_port"]
        assert isinstance(port, int)
        with imapclient.IMAPClient("127.0.0.1", port=port, ssl=False, timeout=10) as client:
            client.login("carol", "pw")
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0, (tmp_path / "stderr").read_text()
        assert proc.stdout is not None
        proc.stdout.close()
    assert refuses_connections(port)
    assert not Path(str(info["root"])).exists()


def test_daemons_die_with_their_owner(tmp_path: Path) -> None:
    """If the process owning a stack is killed outright (no cleanup runs), the stack's watchdog
    still stops Dovecot and Postfix, so an aborted test run leaves no servers behind."""
    proc, info = _start_cli(tmp_path)
    root = Path(str(info["root"]))
    try:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        for key in ("imap_port", "smtp_port", "submission_port", "lmtp_port"):
            port = info[key]
            assert isinstance(port, int)
            wait_for(functools.partial(refuses_connections, port), 15, f"{key} to close")
    finally:
        assert proc.stdout is not None
        proc.stdout.close()
        shutil.rmtree(root, ignore_errors=True)


def test_a_config_template_and_its_values_must_match() -> None:
    """A ${ooo_...} placeholder without a value, or a value without a placeholder, is an error
    naming the template and both, never a config with a hole in it."""
    with pytest.raises(
        ValueError,
        match=r"master\.cf\.in: placeholders without a value: \$\{ooo_submission_port\}; "
        r"values without a placeholder: \$\{ooo_bogus\}",
    ):
        render_template("master.cf", smtp_port=1, bogus=2)


def test_the_servers_own_dollars_pass_through_the_templates(mail_stack: MailStack) -> None:
    """Postfix's ``$myhostname`` and Dovecot's ``$mail_plugins`` reach the running servers'
    configs as written, and no placeholder is left in any of them."""
    main_cf = (mail_stack.root / "postfix" / "etc" / "main.cf").read_text()
    master_cf = (mail_stack.root / "postfix" / "etc" / "master.cf").read_text()
    dovecot_conf = (mail_stack.root / "dovecot" / "dovecot.conf").read_text()
    assert "\nmyorigin = $myhostname\n" in main_cf
    assert "\n  mail_plugins = $mail_plugins sieve\n" in dovecot_conf
    assert f"\n127.0.0.1:{mail_stack.submission_port} inet n - n - - smtpd\n" in master_cf
    assert "${ooo_" not in main_cf + master_cf + dovecot_conf
