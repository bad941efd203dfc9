"""OAuth2 sign-in end to end: the real Dovecot checks XOAUTH2/OAUTHBEARER tokens with its oauth2
passdb against a token-introspection endpoint this module runs on loopback (RFC 7662 style:
POST token=..., answer {"active": true, "username": ...}); Postfix's submission port relays
the same SASL exchange to Dovecot. The `ooo` daemon and `ooo check` run as subprocesses with
a `token_command` that prints whatever token the test put in a file."""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from tests.support.mailstack import MailStack, User, missing_binaries
from tests.support.responder import Responder, inquiry

pytestmark = pytest.mark.servers


@dataclass
class Introspection:
    """The identity provider's side: which tokens are valid, for whom, until when."""

    tokens: dict[str, tuple[str, float]] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def issue(self, token: str, login: str, lifetime: float = 3600.0) -> str:
        with self.lock:
            self.tokens[token] = (login, time.time() + lifetime)
        return token

    def answer(self, token: str) -> dict[str, object]:
        with self.lock:
            self.asked.append(token)
            login, expires = self.tokens.get(token, ("", 0.0))
        if not login or expires <= time.time():
            return {"active": False}
        return {"active": True, "username": login, "exp": int(expires)}


def _serve(provider: Introspection) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = parse_qs(self.rfile.read(length).decode())
            body = json.dumps(provider.answer(form.get("token", [""])[0])).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # quiet: the test output is for failures

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@dataclass
class OAuthStack:
    stack: MailStack
    provider: Introspection


@pytest.fixture(scope="module")
def oauth_stack() -> Iterator[OAuthStack]:
    """A private Dovecot + Postfix of its own (the session's shared stack has no oauth2
    passdb), pointed at this module's introspection endpoint."""
    missing = missing_binaries()
    if missing:
        pytest.fail(f"mail servers not installed ({', '.join(missing)} missing)", pytrace=False)
    provider = Introspection()
    server = _serve(provider)
    url = f"http://127.0.0.1:{server.server_port}/introspect"
    stack = MailStack(oauth2_introspection_url=url)
    try:
        stack.start()
        yield OAuthStack(stack, provider)
    finally:
        stack.cleanup()
        server.shutdown()
        server.server_close()


_serial = iter(range(1, 10_000))


class OAuthResponder(Responder):
    """The owner's `ooo`, signing in to IMAP and SMTP with tokens from `token_command`."""

    def __init__(self, stack: MailStack, owner: User, workdir: Path, auth: str) -> None:
        self.auth = auth
        self.token_file = workdir / "token"
        self.token_command = f"cat {self.token_file}"
        super().__init__(stack, owner, workdir)

    def write_config(self, extra: str = "") -> None:
        self.config.write_text(
            f"""
[owner]
name = "Bob Owner"
addresses = ["{self.owner.address}"]
timezone = "Europe/Berlin"

[away]
start = {self.start_at.isoformat()}
end = {self.end_at.isoformat()}

[mailbox]
host = "{self.stack.host}"
port = {self.stack.imap_port}
security = "plain"
username = "{self.owner.login}"
auth = "{self.auth}"
token_command = "{self.token_command}"

[smtp]
host = "{self.stack.host}"
port = {self.stack.submission_port}
security = "plain"
username = "{self.owner.login}"
auth = "{self.auth}"
token_command = "{self.token_command}"

[state]
dir = "{self.state}"
{extra}
"""
        )

    def use_token(self, token: str) -> None:
        self.token_file.write_text(token + "\n")


MakeResponder = Callable[..., OAuthResponder]


@pytest.fixture
def make_responder(oauth_stack: OAuthStack, tmp_path: Path) -> Iterator[MakeResponder]:
    """Factory: ``make_responder("oauthbearer")`` gives a new owner on the oauth stack with
    its own config and state; daemons still running at the end are stopped."""
    made: list[OAuthResponder] = []

    def make(auth: str = "xoauth2") -> OAuthResponder:
        owner = oauth_stack.stack.add_user(f"owner-{next(_serial)}")
        workdir = tmp_path / owner.login
        workdir.mkdir()
        responder = OAuthResponder(oauth_stack.stack, owner, workdir, auth)
        made.append(responder)
        return responder

    yield make
    for r in made:
        if r.proc is not None and r.proc.poll() is None:
            r.stop()


def _everything_written(responder: OAuthResponder) -> str:
    """The daemon's log plus every file in its state dir, as text."""
    parts = [responder.log_text()]
    parts += [
        p.read_bytes().decode(errors="replace") for p in responder.state.rglob("*") if p.is_file()
    ]
    return "\n".join(parts)


def test_daemon_signs_in_with_xoauth2_and_answers(
    oauth_stack: OAuthStack, make_responder: MakeResponder
) -> None:
    """With a good token the daemon logs in to IMAP and to SMTP submission with XOAUTH2 (the
    servers say so in their logs), answers an inquiry, and the token appears nowhere in its
    log or state."""
    stack, provider = oauth_stack.stack, oauth_stack.provider
    responder = make_responder("xoauth2")
    token = provider.issue(f"ya29.good-{responder.owner.login}", responder.owner.login)
    responder.use_token(token)
    alice = stack.add_user(f"alice-{next(_serial)}")
    responder.start()
    stack.send(
        inquiry(alice, responder.owner, "Budget question"), alice.address, [responder.owner.address]
    )
    (raw,) = stack.wait_for_mail(alice, 1, timeout=30)
    assert b"Subject: Auto: Budget question" in raw
    responder.wait_all_sent()
    responder.stop()
    login = responder.owner.login
    logs = stack.log_text()
    assert f"Login: user=<{login}>, method=XOAUTH2" in logs
    assert f"sasl_method=XOAUTH2, sasl_username={login}" in logs
    assert provider.asked.count(token) >= 2  # IMAP and SMTP each had it checked
    assert token not in _everything_written(responder)


@pytest.mark.parametrize("auth", ["xoauth2", "oauthbearer"])
def test_check_signs_in_with_a_good_token(
    oauth_stack: OAuthStack, make_responder: MakeResponder, auth: str
) -> None:
    """`ooo check` reports both sign-ins as working, for XOAUTH2 and for OAUTHBEARER."""
    responder = make_responder(auth)
    responder.use_token(
        oauth_stack.provider.issue(f"tok-{auth}-{responder.owner.login}", responder.owner.login)
    )
    done = responder.cli("check")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "logged in" in done.stdout
    assert f"method={auth.upper()}" in oauth_stack.stack.log_text()


@pytest.mark.parametrize("kind", ["expired", "wrong"])
def test_check_with_a_bad_token_names_the_account_and_the_fix(
    oauth_stack: OAuthStack, make_responder: MakeResponder, kind: str
) -> None:
    """An expired token (the provider says inactive) or one for another account makes
    `ooo check` fail for IMAP and SMTP with a message that names the account, says to run the
    token helper and to re-authorise, and never shows the token."""
    provider = oauth_stack.provider
    responder = make_responder("xoauth2")
    login = responder.owner.login
    if kind == "expired":
        token = provider.issue(f"ya29.expired-{login}", login, lifetime=-1)
    else:
        token = provider.issue(f"ya29.someone-else-{login}", "somebody-else")
    responder.use_token(token)
    done = responder.cli("check")
    assert done.returncode == 1
    lines = {line.split()[1]: line for line in done.stdout.splitlines() if line.startswith("FAIL")}
    assert set(lines) == {"mailbox", "smtp"}, done.stdout
    for section, line in lines.items():
        assert "refused the XOAUTH2 sign-in" in line
        assert repr(login) in line
        assert f"Run {section}.token_command by hand" in line
        assert "re-authorise the account" in line
    assert token not in done.stdout + done.stderr


def test_daemon_once_with_a_bad_token_exits_with_the_clear_error(
    oauth_stack: OAuthStack, make_responder: MakeResponder
) -> None:
    """`ooo run --once` with a revoked token stops with the same advice, not a traceback."""
    responder = make_responder("xoauth2")
    responder.use_token("ya29.revoked")
    done = responder.cli("run", "--once")
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert "refused the XOAUTH2 sign-in" in done.stderr
    assert "mailbox.token_command" in done.stderr
    assert "ya29.revoked" not in done.stderr + done.stdout


def test_check_with_a_failing_token_helper_names_the_account(make_responder: MakeResponder) -> None:
    """A token helper whose own sign-in has lapsed (it exits non-zero) is reported with its
    message, the account and the re-authorise hint, before any server is asked."""
    responder = make_responder("xoauth2")
    responder.token_file.write_text("")
    responder.token_command = (
        "sh -c 'echo invalid_grant: AADSTS700082 refresh token expired >&2; exit 1'"
    )
    responder.write_config()
    done = responder.cli("check")
    assert done.returncode == 1
    fail = [line for line in done.stdout.splitlines() if line.startswith("FAIL  mailbox")]
    assert fail, done.stdout
    assert f"mailbox.token_command for {responder.owner.login} exited with status 1" in fail[0]
    assert "AADSTS700082" in fail[0]


def test_a_fresh_token_is_fetched_at_every_login(oauth_stack: OAuthStack) -> None:
    """The IMAP backend asks the token source at each login and keeps nothing: after the
    helper starts printing a new token, the next connection signs in with the new one."""
    from ooo.mailbox.imap import ImapMailbox

    stack, provider = oauth_stack.stack, oauth_stack.provider
    owner = stack.add_user(f"owner-{next(_serial)}")
    tokens = iter([provider.issue(f"first-{owner.login}", owner.login)])
    tokens = iter([*tokens, provider.issue(f"second-{owner.login}", owner.login)])
    calls: list[str] = []

    def token() -> str:
        calls.append(next(tokens))
        return calls[-1]

    mailbox = ImapMailbox(stack.host, stack.imap_port, "plain", owner.login, token, auth="xoauth2")
    for _ in range(2):
        mailbox.open()
        mailbox.close()
    assert calls == [f"first-{owner.login}", f"second-{owner.login}"]
    assert calls[0] in provider.asked and calls[1] in provider.asked


def test_server_without_xoauth2_is_named(
    mail_stack: MailStack, mail_user: Callable[[str], User]
) -> None:
    """Against a server that does not advertise AUTH=XOAUTH2 (the shared password-only stack)
    the error says so and points at mailbox.host and mailbox.auth; the token helper is not
    even run."""
    from ooo.mailbox.base import MailboxAuthError
    from ooo.mailbox.imap import ImapMailbox

    user = mail_user("plainonly")
    calls: list[str] = []  # popping from it would raise: the helper must not be called
    mailbox = ImapMailbox(
        mail_stack.host, mail_stack.imap_port, "plain", user.login, calls.pop, auth="xoauth2"
    )
    with pytest.raises(MailboxAuthError, match=r"does not offer AUTH=XOAUTH2; check mailbox\.host"):
        mailbox.open()


def test_tokens_stay_out_of_debug_logs(
    oauth_stack: OAuthStack, caplog: pytest.LogCaptureFixture
) -> None:
    """Even with every logger at DEBUG (imapclient logs each command it sends), neither a good
    nor a refused token appears in any log record, over IMAP or SMTP."""
    from ooo.errors import OooError
    from ooo.mailbox.imap import ImapMailbox
    from ooo.transport.smtp import SmtpTransport

    stack, provider = oauth_stack.stack, oauth_stack.provider
    owner = stack.add_user(f"owner-{next(_serial)}")
    good = provider.issue(f"debug-good-{owner.login}", owner.login)
    caplog.set_level(logging.DEBUG)
    for token in (good, f"debug-bad-{owner.login}"):
        mailbox = ImapMailbox(
            stack.host,
            stack.imap_port,
            "plain",
            owner.login,
            functools.partial(str, token),
            auth="xoauth2",
        )
        transport = SmtpTransport(
            stack.host,
            stack.submission_port,
            "plain",
            owner.login,
            functools.partial(str, token),
            auth="oauthbearer",
        )
        for attempt in (mailbox.open, transport.check):
            with contextlib.suppress(OooError):
                attempt()
        mailbox.close()
        transport.close()
    assert any("AUTHENTICATE" in r.getMessage() for r in caplog.records)  # logging was on
    assert not [r for r in caplog.records if "debug-" in r.getMessage()]
