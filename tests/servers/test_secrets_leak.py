"""Secrets and files after a real end-to-end run: the password is found nowhere ooo writes or
prints (state DB and its WAL, event log, log files, reports, `ooo status`, `ooo config show`,
`ooo check`, the error of a refused login), and every file ooo creates is mode 0600.

TLS verification (a self-signed server refused unless ca_file is set) is proved in
tests/mailbox/test_imap.py, and the Jinja2 sandbox in tests/test_compose.py."""

from __future__ import annotations

import stat
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.mailstack import MailStack, User
from tests.support.responder import Responder, inquiry

pytestmark = pytest.mark.servers


@pytest.fixture
def secret_responder(
    mail_stack: MailStack, mail_user: Callable[[str], User], tmp_path: Path
) -> Iterator[tuple[Responder, str]]:
    """A responder whose password is unique, read by a password command from a file (so the
    config itself never holds it)."""
    password = f"Pw-{uuid.uuid4().hex}"
    owner = mail_stack.add_user(f"sec-{uuid.uuid4().hex[:10]}", password=password)
    secret = tmp_path / "secret"
    secret.write_text(password)
    secret.chmod(0o600)
    r = Responder(mail_stack, owner, tmp_path)
    config = r.config.read_text()
    assert config.count(f"printf %s {password}") == 2
    r.config.write_text(config.replace(f"printf %s {password}", f"cat {secret}"))
    yield r, password
    if r.proc is not None and r.proc.poll() is None:
        r.stop()


def files_under(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file())


def test_password_is_never_written_or_printed_and_files_are_private(
    mail_stack: MailStack,
    mail_user: Callable[[str], User],
    secret_responder: tuple[Responder, str],
    tmp_path: Path,
) -> None:
    """After answering real mail, writing reports and failing a login, no byte sequence of
    the password (plain, or in the forms an AUTH exchange would carry it) appears in any file
    in the state dir or in any output; the state dir's files are all mode 0600."""
    import base64

    responder, password = secret_responder
    alice = mail_user("alice")
    responder.start()
    mail_stack.send(inquiry(alice, responder.owner), alice.address, [responder.owner.address])
    mail_stack.wait_for_mail(alice, 1, timeout=30)
    responder.wait_all_sent()
    responder.stop()

    outputs = [
        responder.cli("status"),
        responder.cli("config", "show"),
        responder.cli("check"),
        responder.cli("report", "--format", "html", "--output", str(responder.state / "r.html")),
        responder.cli("report", "--format", "json", "--output", str(responder.state / "r.json")),
    ]
    # A refused login: the error names the problem, never the password that was tried.
    (tmp_path / "secret").write_text(password + "-wrong")
    outputs.append(responder.cli("check"))
    outputs.append(responder.cli("run", "--once"))
    assert outputs[-1].returncode != 0, outputs[-1]
    assert (
        "refused" in (outputs[-1].stdout + outputs[-1].stderr).lower()
        or "auth" in (outputs[-1].stdout + outputs[-1].stderr).lower()
    ), outputs[-1]

    needles = {
        password.encode(),
        (password + "-wrong").encode(),
        base64.b64encode(f"\0{responder.owner.login}\0{password}".encode()),  # AUTH PLAIN
        base64.b64encode(password.encode()),  # AUTH LOGIN
    }
    written = [*files_under(responder.state), responder.log]
    assert any(p.name == "state.db" for p in written)
    assert any(p.name == "events.jsonl" for p in written)
    for path in written:
        data = path.read_bytes()
        for needle in needles:
            assert needle not in data, f"{needle!r} found in {path}"
    for result in outputs:
        for needle in needles:
            assert needle.decode() not in result.stdout + result.stderr, result.args

    for path in files_under(responder.state):
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == 0o600, f"{path}: mode {mode:o}"
    assert stat.S_IMODE(responder.state.stat().st_mode) & 0o077 == 0
