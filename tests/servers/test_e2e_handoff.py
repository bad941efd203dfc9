"""End to end on real servers: never silent while the workstation sleeps (issue 13).

The real daemon (`ooo run`) hands off to Dovecot's Sieve through ManageSieve with a short lease
(30 s, the shortest allowed), while the owner has a filing rule of their own. The whole story:
ooo answers while it runs; after SIGTERM the server answers the next new sender at once; a
sender ooo answered gets nothing from the server; after SIGKILL a message inside the lease is
answered by ooo on restart and one after it by the server; the restarted ooo answers nobody
the server answered; the filing rule works throughout; after the window the owner's script
is active again, byte for byte, and ooo's is gone. No sender is answered twice.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ooo.core import sieve
from tests.support.mailstack import MailStack, User
from tests.support.responder import Responder, wait_for
from tests.support.sieve import (
    flags,
    install_own_script,
    script_file,
    scripts,
    send,
)

LEASE = 30


def handoff_config(stack: MailStack) -> str:
    return f"""
[handoff]
method = "sieve"
lease = "{LEASE}s"
port = {stack.managesieve_port}
security = "plain"
"""


def auto_replies(stack: MailStack, user: User) -> list[bytes]:
    return [m for m in stack.fetch_all(user) if b"Auto-Submitted: auto-replied" in m]


def from_ooo(raw: bytes) -> bool:
    """ooo's replies carry the inquiry's reference; the server's never do."""
    return b"OOO-" in raw and b"Auto-Submitted: auto-replied\r\n" in raw


def reasons(r: Responder) -> dict[str, str]:
    return dict(r.query("SELECT sender, reason FROM message WHERE sender IS NOT NULL"))


def test_the_handoff_story_through_the_daemon(
    mail_stack: MailStack, mail_user: Callable[[str], User], tmp_path: Path
) -> None:
    stack = mail_stack
    bob = mail_user("bob")
    alice, carl, dave, erin, frank = (
        mail_user(n) for n in ("alice", "carl", "dave", "erin", "frank")
    )
    own = install_own_script(stack, bob)
    r = Responder(stack, bob, tmp_path, extra=handoff_config(stack))

    try:
        # ooo runs: it answers, and the owner's filing rule keeps working.
        r.start()
        assert scripts(stack, bob) == ("ooo-handoff", ["roundcube"])
        send(stack, alice, bob, "Question one")
        wait_for(lambda: auto_replies(stack, alice), 30, "ooo's reply to alice")
        assert sieve.SERVER_KEYWORD not in flags(stack, bob, "Question one")
        send(stack, dave, bob, "Your receipt 1")
        flags(stack, bob, "Your receipt 1", "Receipts")

        # What the owner sees meanwhile: who answers, the check, the exact script.
        assert "answering: ooo answers" in r.cli("status").stdout
        check = r.cli("check")
        assert "ok    handoff" in check.stdout, check.stdout + check.stderr
        script = r.cli("preview", "--handoff").stdout
        assert "vacation" in script and alice.address in script

        # A clean stop hands off at once: the very next new sender is answered by the server.
        assert r.stop(signal.SIGTERM) == 0
        assert "answering: the mail server answers (sieve)" in r.cli("status").stdout
        stopped = time.monotonic()
        send(stack, carl, bob, "Question while stopped")
        assert sieve.SERVER_KEYWORD in flags(stack, bob, "Question while stopped")
        wait_for(lambda: auto_replies(stack, carl), 30, "the server's reply to carl")
        gap = time.monotonic() - stopped
        assert not from_ooo(auto_replies(stack, carl)[0])
        # alice, answered by ooo, gets nothing from the server.
        send(stack, alice, bob, "Alice again")
        assert sieve.SERVER_KEYWORD not in flags(stack, bob, "Alice again")
        no_reply_for_more(stack, alice, 1)
        # The filing rule works while the server is in charge.
        send(stack, dave, bob, "Your receipt 2")
        flags(stack, bob, "Your receipt 2", "Receipts")

        # Restart: ooo takes back and catches up, answering nobody the server answered.
        r.start()
        wait_for(lambda: reasons(r).get(carl.address) == "answered_by_server", 30, "carl recorded")

        def alices() -> list[tuple[str, ...]]:
            return r.query("SELECT reason FROM message WHERE sender = ? ORDER BY id", alice.address)

        # Each message is committed on its own: alice's second comes after carl's.
        wait_for(lambda: len(alices()) == 2, 30, "alice's second message recorded")
        assert alices() == [("reply",), ("already_replied",)]

        # A crash: the lease still runs, so a message now is nobody's at delivery...
        r.stop(signal.SIGKILL)
        killed = datetime.now(UTC)
        send(stack, erin, bob, "Inside the lease")
        assert sieve.SERVER_KEYWORD not in flags(stack, bob, "Inside the lease")
        # ...and once it has run out, the server answers.
        lease_end = killed + timedelta(seconds=LEASE + 2)
        wait_for(lambda: datetime.now(UTC) >= lease_end, LEASE + 10, "the lease to run out")
        send(stack, frank, bob, "After the lease")
        assert sieve.SERVER_KEYWORD in flags(stack, bob, "After the lease")
        wait_for(lambda: auto_replies(stack, frank), 30, "the server's reply to frank")

        # The restarted ooo answers erin (nobody did) and not frank (the server did).
        r.start()
        wait_for(lambda: auto_replies(stack, erin), 30, "ooo's reply to erin after the crash")
        wait_for(
            lambda: reasons(r).get(frank.address) == "answered_by_server", 30, "frank recorded"
        )
        assert from_ooo(auto_replies(stack, erin)[0])

        # The window ends (the owner comes back early): the owner's script is back, ooo's gone.
        r.stop(signal.SIGTERM)
        # Now, not a second ago: frank's message may have arrived less than a second before
        # (from its delivery to here is about one start-up), and the report leaves out what
        # arrived after the window's end.
        r.end_at = datetime.now(UTC)
        r.write_config(handoff_config(stack))
        done = r.cli("run", "--once")
        assert done.returncode == 0, done.stderr
        assert scripts(stack, bob) == ("roundcube", [])
        assert script_file(stack, bob, "roundcube").read_bytes() == own
        assert not script_file(stack, bob, "ooo-handoff").exists()
    finally:
        if r.proc is not None and r.proc.poll() is None:
            r.stop(signal.SIGKILL)

    # Nobody was answered twice, and everyone who asked was answered once.
    wait_for(stack.queue_empty, 20, "Postfix's queue to drain")
    everyone = (alice, carl, dave, erin, frank)
    assert {u.login: len(auto_replies(stack, u)) for u in everyone} == dict.fromkeys(
        (u.login for u in everyone), 1
    )
    # dave's receipts were filed into "Receipts" by the owner's rule: the server answered the
    # one that came while it was in charge; ooo watches INBOX and never saw them.
    assert not from_ooo(auto_replies(stack, dave)[0])
    assert gap < LEASE  # the server answered long before any lease could have run out
    report = json.loads(r.cli("report", "--format", "json").stdout)
    assert len(report["server_periods"]) >= 2  # after the clean stop, and after the crash
    by_sender = {i["from"]: i for i in report["inquiries"]}
    assert by_sender[carl.address].get("answered_by_server") is True
    assert by_sender[frank.address].get("answered_by_server") is True
    assert "answered_by_server" not in by_sender[erin.address]
    text = r.cli("report").stdout
    assert "Your mail server answered in ooo's place" in text


def no_reply_for_more(stack: MailStack, user: User, already: int) -> None:
    """``user`` holds exactly ``already`` automatic replies once the queue is empty."""
    wait_for(stack.queue_empty, 20, "Postfix's queue to drain")
    assert len(auto_replies(stack, user)) == already
