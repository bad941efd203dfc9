"""Several mailboxes in one `ooo run`, on the real Dovecot + Postfix: the main config file
plus accounts/work.toml next to it, each with its own owner, login and state. Both are
answered by one process; one account's wrong password or broken edit never disturbs the
other; `ooo status` and `ooo report` show both, or one with --account."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.mailstack import MailStack, User
from tests.support.responder import Responder, inquiry, wait_for

pytestmark = pytest.mark.servers


@dataclass
class Pair:
    """Bob's responder (the main file) and Carol's account (accounts/work.toml next to it,
    state of its own), run by Bob's `ooo run`."""

    main: Responder
    work: Responder

    def stop(self) -> int:
        return self.main.stop()


@pytest.fixture
def pair(mail_stack: MailStack, mail_user: Callable[[str], User], tmp_path: Path) -> Iterator[Pair]:
    (tmp_path / "bob").mkdir()
    (tmp_path / "carol" / "accounts").mkdir(parents=True)
    main = Responder(mail_stack, mail_user("bob"), tmp_path / "bob")
    work = Responder(mail_stack, mail_user("carol"), tmp_path / "carol")
    folder = main.config.parent / "accounts"
    folder.mkdir()
    work.config.unlink()
    work.config = folder / "work.toml"
    work.write_config()  # Carol's config, now in accounts/ next to Bob's
    p = Pair(main, work)
    yield p
    if main.proc is not None and main.proc.poll() is None:
        main.stop()


def ask(stack: MailStack, sender: User, owner: User, subject: str) -> bytes:
    stack.send(inquiry(sender, owner, subject), sender.address, [owner.address])
    (raw,) = stack.wait_for_mail(sender, 1, timeout=30)
    return raw


def wait_log(responder: Responder, text: str, timeout: float = 20) -> None:
    wait_for(
        lambda: text in responder.log_text(),
        timeout,
        f"{text!r} in the daemon log:\n{responder.log_text()[-3000:]}",
    )


def start_both(pair: Pair) -> None:
    pair.main.start()
    wait_for(lambda: pair.work.daemon_state() == "watching", 30, "the work account to watch")


def test_one_run_answers_both_accounts_each_with_its_own_state(
    mail_stack: MailStack, mail_user: Callable[[str], User], pair: Pair
) -> None:
    """One `ooo run` answers mail to both owners; each account keeps its decisions in its own
    state dir; the log names the account of each line; SIGTERM stops both at once."""
    alice, dave = mail_user("alice"), mail_user("dave")
    start_both(pair)
    assert b"Auto: For Bob" in ask(mail_stack, alice, pair.main.owner, "For Bob")
    assert b"Auto: For Carol" in ask(mail_stack, dave, pair.work.owner, "For Carol")
    pair.main.wait_all_sent()
    pair.work.wait_all_sent()
    assert pair.main.reply_states() == {"sent": 1}
    assert pair.work.reply_states() == {"sent": 1}
    assert "2 accounts (default, work)" in pair.main.log_text()
    assert "[work] " in pair.main.log_text()
    assert dave.address in pair.work.query("SELECT sender FROM message")[0][0]
    assert pair.main.proc is not None
    pids = {
        pair.main.query("SELECT value FROM status WHERE key = 'pid'")[0][0],
        pair.work.query("SELECT value FROM status WHERE key = 'pid'")[0][0],
    }
    assert pids == {str(pair.main.proc.pid)}  # one process
    stopped_at = time.monotonic()
    assert pair.stop() == 0
    took = time.monotonic() - stopped_at
    print(f"\nstop of two accounts in IDLE: {took * 1000:.0f} ms")
    assert took < 5.0  # both IDLE waits were cut short, not waited out
    assert pair.main.daemon_state() == "stopped"
    assert pair.work.daemon_state() == "stopped"


def test_a_wrong_password_of_one_account_leaves_the_other_answering(
    mail_stack: MailStack, mail_user: Callable[[str], User], pair: Pair
) -> None:
    """The work account's IMAP login is refused: the main one still answers, the process
    runs on, and `ooo status` shows the error under the work account only."""
    alice = mail_user("alice")
    text = pair.work.config.read_text()
    pair.work.config.write_text(
        text.replace(f"printf %s {pair.work.owner.password}", "printf %s wrong", 1)
    )
    pair.main.start()
    assert b"Auto: Still" in ask(mail_stack, alice, pair.main.owner, "Still")
    wait_for(
        lambda: "reconnecting" in (pair.work.daemon_state() or ""),
        30,
        "the work account to report its login problem",
    )
    status = pair.main.cli("status")
    assert status.returncode == 0, status.stderr
    out = status.stdout
    head, _, work_part = out.partition("== account work")
    assert "== account default" in head
    assert "last error" not in head
    assert "last error:" in work_part and "reconnecting" in work_part
    assert pair.main.proc is not None and pair.main.proc.poll() is None


def test_a_broken_edit_of_one_account_keeps_both_running(
    mail_stack: MailStack, mail_user: Callable[[str], User], pair: Pair
) -> None:
    """An invalid edit of accounts/work.toml: that account keeps its last good config (the
    error in the log, named by account, and in its status), the other one is untouched and
    still reloads its own edits."""
    alice, dave, erin = mail_user("alice"), mail_user("dave"), mail_user("erin")
    start_both(pair)
    good = pair.work.config.read_text()
    pair.work.config.write_text(good.replace("Europe/Berlin", "Europe/Berln"))
    wait_log(pair.main, "config not reloaded")
    assert "[work] config not reloaded" in pair.main.log_text()
    assert b"Auto: Carol?" in ask(mail_stack, dave, pair.work.owner, "Carol?")
    main_text = pair.main.config.read_text()
    pair.main.config.write_text(
        main_text.replace(
            'reply_interval = "7d"', 'reply_interval = "7d"\nsubject_prefix = "Away: "'
        )
    )
    wait_for(
        lambda: "reloaded the config from " + str(pair.main.config) in pair.main.log_text(),
        20,
        "the main account's reload",
    )
    assert b"Away: Bob?" in ask(mail_stack, alice, pair.main.owner, "Bob?")
    status = pair.main.cli("status")
    assert status.returncode == 2  # a config to fix
    assert "work.toml:5: owner.timezone" in status.stderr
    _, _, work_part = status.stdout.partition("== account work")
    assert "config error:" in work_part
    assert f"running as pid {pair.main.proc.pid}" in work_part  # type: ignore[union-attr]
    pair.work.config.write_text(good)
    wait_log(pair.main, f"{pair.work.config} is back to the running config")
    assert b"Auto: Fixed" in ask(mail_stack, erin, pair.work.owner, "Fixed")


def test_status_and_report_of_one_account(
    mail_stack: MailStack, mail_user: Callable[[str], User], pair: Pair
) -> None:
    """`--account work` shows that account alone, as a one-account setup shows its own
    (no header); without it, the report of each account comes under its name."""
    alice, dave = mail_user("alice"), mail_user("dave")
    start_both(pair)
    ask(mail_stack, alice, pair.main.owner, "Main inquiry")
    ask(mail_stack, dave, pair.work.owner, "Work inquiry")
    pair.work.wait_all_sent()
    status = pair.main.cli("status", "--account", "work")
    assert status.returncode == 0, status.stderr
    assert "== account" not in status.stdout
    assert "messages: 1 seen, 1 answered" in status.stdout
    report = pair.main.cli("report", "--account", "work", "--format", "json")
    assert report.returncode == 0, report.stderr
    assert "Work inquiry" in report.stdout and "Main inquiry" not in report.stdout
    both = pair.main.cli("report")
    assert both.returncode == 0, both.stderr
    main_part, _, work_part = both.stdout.partition("== account work")
    assert "Main inquiry" in main_part and "Work inquiry" in work_part
    unknown = pair.main.cli("status", "--account", "wrok")
    assert unknown.returncode == 2
    assert "no account named 'wrok'" in unknown.stderr
    assert "the accounts are: default, work" in unknown.stderr


def test_a_broken_account_at_start_starts_once_fixed(
    mail_stack: MailStack, mail_user: Callable[[str], User], pair: Pair
) -> None:
    """An account whose file is invalid when `ooo run` starts does not start (the others do);
    fixing the file starts it, with no restart of the process."""
    dave = mail_user("dave")
    good = pair.work.config.read_text()
    pair.work.config.write_text(good.replace("[owner]", "[owner]\nnmae = 1"))
    pair.main.start()
    wait_log(pair.main, "account work not started")
    pair.work.config.write_text(good)
    wait_for(lambda: pair.work.daemon_state() == "watching", 30, "the fixed account to start")
    assert b"Auto: Now?" in ask(mail_stack, dave, pair.work.owner, "Now?")
    assert pair.main.proc is not None
    pair.main.proc.send_signal(signal.SIGHUP)  # every account reloads; nobody stops
    wait_log(pair.main, "[work] reload requested")
    assert pair.main.proc.poll() is None
