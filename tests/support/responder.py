"""Run the real `ooo` daemon as a user would (a subprocess with a config file) against the
private mail stack, and observe it through its state database and the users' mailboxes."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

from tests.support import ROOT as SUPPORT_ROOT
from tests.support.mailstack import MailStack, User

ROOT = SUPPORT_ROOT


def wait_for(
    condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.05
) -> Any:
    """Poll ``condition`` until it returns something truthy, or fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def inquiry(
    sender: User | str, to: User | str, subject: str = "A question", **headers: str
) -> bytes:
    """A message as a person's mail client would send it."""
    msg = EmailMessage()
    msg["From"] = sender.address if isinstance(sender, User) else sender
    msg["To"] = to.address if isinstance(to, User) else to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = make_msgid(domain="example.test")
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content("Hello,\n\ncould you help me with this?\n\nThanks\n")
    return msg.as_bytes()


class Responder:
    """One owner's `ooo`: its config, its state dir, and its daemon process."""

    def __init__(
        self,
        stack: MailStack,
        owner: User,
        workdir: Path,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        extra: str = "",
    ) -> None:
        self.stack, self.owner, self.workdir = stack, owner, workdir
        self.state = workdir / "state"
        self.config = workdir / "config.toml"
        now = datetime.now(UTC)
        self.start_at = start or now - timedelta(minutes=5)
        self.end_at = end or now + timedelta(days=1)
        self.proc: subprocess.Popen[bytes] | None = None
        self._stopping = False
        self.log = workdir / "daemon.log"
        self.write_config(extra)

    def write_config(self, extra: str = "") -> None:
        password = f"printf %s {self.owner.password}"
        self.config.write_text(
            f"""
[owner]
name = "Bob Owner"
addresses = ["{self.owner.address}"]
timezone = "Europe/Berlin"

[away]
start = {self.start_at.isoformat()}
end = {self.end_at.isoformat()}
reply_interval = "7d"

[mailbox]
host = "{self.stack.host}"
port = {self.stack.imap_port}
security = "plain"
username = "{self.owner.login}"
password_command = "{password}"
sent_folder = "Sent"

[smtp]
host = "{self.stack.host}"
port = {self.stack.submission_port}
security = "plain"
username = "{self.owner.login}"
password_command = "{password}"

[state]
dir = "{self.state}"
{extra}
"""
        )

    # -- the process ------------------------------------------------------------------------

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "ooo", *args, "-c", str(self.config)]

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*args),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=ROOT,
        )

    def start(self, *args: str) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self._stopping = False
        logfile = open(self.log, "ab")  # noqa: SIM115 - owned by the child for its lifetime
        self.proc = subprocess.Popen(
            self.command("run", *args),
            stdout=logfile,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        logfile.close()
        wait_for(
            lambda: self.daemon_state() == "watching" or self.proc.poll() is not None,  # type: ignore[union-attr]
            30,
            "the daemon to start watching",
        )
        assert self.proc.poll() is None, f"daemon exited early:\n{self.log_text()}"

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int:
        assert self.proc is not None
        self._stopping = True
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired as exc:
            self.proc.kill()
            raise AssertionError(
                f"daemon did not stop within {timeout} s:\n{self.log_text()}"
            ) from exc

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    # -- observing --------------------------------------------------------------------------

    def query(self, sql: str, *args: object) -> list[tuple[Any, ...]]:
        self._check_alive()
        db = self.state / "state.db"
        if not db.exists():
            return []
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return conn.execute(sql, args).fetchall()
        except sqlite3.OperationalError:
            return []  # schema not created yet
        finally:
            conn.close()

    def _check_alive(self) -> None:
        """Fail at once, with the daemon's log, when a signal killed it behind the test's
        back (a crash): waiting on its state database would only time out later."""
        code = self.proc.poll() if self.proc is not None and not self._stopping else None
        if code is not None and code < 0:
            raise AssertionError(
                f"the daemon died of {signal.Signals(-code).name} during the test; its log:\n"
                f"{self.log_text()[-4000:]}"
            )

    def daemon_state(self) -> str | None:
        rows = self.query("SELECT value FROM status WHERE key = 'state'")
        return rows[0][0] if rows else None

    def decided(self) -> int:
        rows = self.query("SELECT count(*) FROM message")
        return rows[0][0] if rows else 0

    def reply_states(self) -> dict[str, int]:
        return dict(self.query("SELECT state, count(*) FROM reply GROUP BY state"))  # type: ignore[arg-type]

    def reasons(self) -> dict[str, int]:
        return dict(self.query("SELECT reason, count(*) FROM message GROUP BY reason"))  # type: ignore[arg-type]

    def wait_decided(self, count: int, timeout: float = 30) -> None:
        wait_for(
            lambda: self.decided() >= count,
            timeout,
            f"{count} decisions (have {self.decided()}); log:\n{self.log_text()[-3000:]}",
        )

    def wait_all_sent(self, timeout: float = 30) -> None:
        wait_for(
            lambda: not ({"queued", "sending"} & set(self.reply_states())),
            timeout,
            f"the outbox to drain ({self.reply_states()})",
        )


def settle(stack: MailStack, responder: Responder) -> None:
    """Wait until every reply the daemon sent has left Postfix's queue (delivered), and the
    daemon has tagged what it answered and filed its Sent copies (which it keeps for the first
    quiet moment, a second or so after its last reply), so that counting a mailbox or reading
    a flag afterwards sees everything that will ever be there."""
    responder.wait_all_sent()
    wait_for(stack.queue_empty, 30, "Postfix's queue to empty")
    (sent,) = responder.query("SELECT count(*) FROM reply WHERE state = 'sent' AND kind = 'reply'")
    if sent[0] and responder.proc is not None and responder.proc.poll() is None:
        stack.wait_for_mail(responder.owner, sent[0], folder="Sent", timeout=30)
