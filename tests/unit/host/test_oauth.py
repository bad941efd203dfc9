"""OAuth2 sign-in without servers: the SASL strings, the token helper, and the config rules
that tie auth, token_command and the password keys together."""

from __future__ import annotations

import base64
import shlex
import sys
from pathlib import Path

import pytest

from ooo.config import loads
from ooo.errors import ConfigError, UserError
from ooo.host import oauth
from ooo.host.secrets import password_provider

BASE = """
[owner]
name = "Bob Example"
addresses = ["bob@example.com"]

[away]
start = 2026-12-20T00:00:00
end = 2027-01-05T09:00:00
"""

M365 = """
[mailbox]
host = "outlook.office365.com"
username = "bob@example.com"
auth = "xoauth2"
token_command = "oama access bob@example.com"

[smtp]
host = "smtp.office365.com"
port = 587
security = "starttls"
username = "bob@example.com"
auth = "xoauth2"
token_command = "oama access bob@example.com"
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as err:
        loads(BASE + text, Path("/home/bob/.config/ooo/config.toml"))
    return err.value.problems


# -- SASL strings ---------------------------------------------------------------------------


def test_xoauth2_string_is_googles_documented_example() -> None:
    """The XOAUTH2 response is user=..^Aauth=Bearer ..^A^A; base64 of it is byte for byte the
    example in Google's XOAUTH2 protocol documentation."""
    raw = oauth.xoauth2_string(
        "someuser@example.com", "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg"
    )
    assert raw == (
        "user=someuser@example.com\x01auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg"
        "\x01\x01"
    )
    assert base64.b64encode(raw.encode()).decode() == (
        "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52"
        "YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ=="
    )


def test_oauthbearer_string_is_the_rfc_7628_example() -> None:
    """OAUTHBEARER carries a GS2 header with the user, then host, port and the bearer token,
    as in RFC 7628 section 4.1."""
    raw = oauth.oauthbearer_string(
        "user@example.com", "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==", "server.example.com", 143
    )
    assert raw == (
        "n,a=user@example.com,\x01host=server.example.com\x01port=143\x01"
        "auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01"
    )


def test_oauthbearer_escapes_comma_and_equals_in_the_user() -> None:
    """A user name with ',' or '=' cannot break the GS2 header (RFC 5801 escaping)."""
    raw = oauth.oauthbearer_string("a,b=c", "tok")
    assert raw.startswith("n,a=a=2Cb=3Dc,\x01auth=Bearer tok")


def test_responder_answers_the_error_challenge_as_the_rfcs_ask() -> None:
    """The first call gives the token; an error challenge is remembered (status only) and
    answered with ^A for OAUTHBEARER and an empty response for XOAUTH2."""
    for mechanism, ack in (("oauthbearer", "\x01"), ("xoauth2", "")):
        responder = oauth.SaslResponder(mechanism, "INITIAL")  # type: ignore[arg-type]
        assert responder(b"") == "INITIAL"
        assert responder(b'{"status":"invalid_token","scope":"mail","schemes":"bearer"}') == ack
        assert responder.server_status == "status invalid_token, scope mail"


def test_responder_gives_the_token_once_for_smtplib() -> None:
    """smtplib first calls the responder with no challenge (initial response); a second,
    unexpected call never resends the token."""
    responder = oauth.SaslResponder("xoauth2", "INITIAL")
    assert responder(None) == "INITIAL"
    assert responder(b"garbage") == ""
    assert responder.server_status == "an unreadable error report"


def test_redact_hides_the_token() -> None:
    """A server error that echoes the token is shown with *** instead."""
    assert oauth.redact("bad token abc123 here", "abc123") == "bad token *** here"
    assert oauth.redact("nothing", "") == "nothing"


# -- token_command --------------------------------------------------------------------------


def _py(code: str) -> str:
    return f"{shlex.quote(sys.executable)} -c {shlex.quote(code)}"


def test_token_command_prints_the_token() -> None:
    """The first line is the token; a "Bearer " prefix and surrounding blanks are dropped."""
    assert oauth.run_token_command("mailbox", "bob", "printf 'Bearer ya29.abc \\nextra\\n'") == (
        "ya29.abc"
    )


def test_failing_token_command_names_account_and_fix_but_not_its_output() -> None:
    """A helper that fails shows its last stderr line, the key, the account and what to do;
    whatever it printed on stdout (possibly a secret) is never shown."""
    command = _py(
        "import sys; print('leaked-secret'); "
        "print('invalid_grant: token expired', file=sys.stderr); sys.exit(3)"
    )
    with pytest.raises(UserError) as err:
        oauth.run_token_command("smtp", "bob@example.com", command)
    text = err.value.render()
    assert "smtp.token_command for bob@example.com exited with status 3" in text
    assert "invalid_grant: token expired" in text
    assert "re-authorise" in text
    assert "leaked-secret" not in text


@pytest.mark.parametrize(
    ("command", "says"),
    [("true", "printed nothing"), ("printf 'two words\\n'", "not an access token")],
)
def test_token_command_output_must_look_like_a_token(command: str, says: str) -> None:
    """Nothing, or something with spaces/control characters, is refused before any server
    sees it (a ^A would corrupt the SASL string)."""
    with pytest.raises(UserError, match=says):
        oauth.run_token_command("mailbox", "bob", command)


def test_token_command_that_hangs_is_cut_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """A helper waiting for a browser sign-in is stopped at the deadline with a hint."""
    monkeypatch.setattr(oauth, "TOKEN_COMMAND_TIMEOUT", 0.3)
    with pytest.raises(UserError, match="did not finish within"):
        oauth.run_token_command("mailbox", "bob", _py("import time; time.sleep(30)"))


def test_password_provider_gives_tokens_for_oauth_sections() -> None:
    """With auth = xoauth2 the provider runs token_command at each call (nothing cached)."""
    cfg = loads(BASE + M365.replace("oama access bob@example.com", "date +%N"), Path("/tmp/c.toml"))
    provider = password_provider("mailbox", cfg.mailbox)
    first, second = provider(), provider()
    assert first.isdigit() and second.isdigit()
    assert first != second


# -- config -----------------------------------------------------------------------------------


def test_microsoft_365_config_is_valid() -> None:
    """IMAP and SMTP both signing in with XOAUTH2 tokens from a helper is a valid config."""
    cfg = loads(BASE + M365, Path("/tmp/c.toml"))
    assert cfg.mailbox.auth == "xoauth2"
    assert cfg.smtp.auth == "xoauth2"
    assert cfg.mailbox.token_command == "oama access bob@example.com"
    assert cfg.mailbox.effective_port == 993


def test_password_is_the_default() -> None:
    """Existing configs without auth keep signing in with passwords."""
    cfg = loads(
        BASE + '[mailbox]\nhost = "h.example"\nusername = "bob"\n[smtp]\nhost = "h.example"\n',
        Path("/tmp/c.toml"),
    )
    assert (cfg.mailbox.auth, cfg.smtp.auth) == ("password", "password")


def test_oauth_without_token_command_is_refused() -> None:
    """auth = xoauth2 with no token source names the missing key and gives an example."""
    text = M365.replace('token_command = "oama access bob@example.com"\n\n[smtp]', "\n[smtp]")
    (problem,) = problems(text)
    assert 'mailbox.auth = "xoauth2" needs mailbox.token_command' in problem
    assert "oama access bob@example.com" in problem


def test_token_command_with_password_auth_is_refused() -> None:
    """A token_command that would be silently ignored is an error naming the key."""
    (problem,) = problems(M365.replace('auth = "xoauth2"\ntoken_command', "token_command", 1))
    assert 'mailbox.token_command is set but mailbox.auth is "password"' in problem


def test_password_command_with_oauth_is_refused() -> None:
    """password_command next to auth = oauthbearer is a mistake, named by its key."""
    text = M365.replace(
        'username = "bob@example.com"\nauth = "xoauth2"\ntoken_command',
        'username = "bob@example.com"\nauth = "oauthbearer"\npassword_command = "pass x"\n'
        "token_command",
        1,
    )
    (problem,) = problems(text)
    assert 'mailbox.password_command is not used with mailbox.auth = "oauthbearer"' in problem


def test_smtp_oauth_needs_a_username() -> None:
    """The token is for an account: smtp.auth = xoauth2 without smtp.username is refused."""
    text = M365.replace('port = 587\nsecurity = "starttls"\nusername = "bob@example.com"\n', "")
    (problem,) = problems(text)
    assert 'smtp.auth = "xoauth2" needs smtp.username' in problem


def test_unknown_auth_value_is_refused() -> None:
    """A typo in auth is named with the allowed values."""
    (problem,) = problems(M365.replace('auth = "xoauth2"', 'auth = "oauth"', 1))
    assert "mailbox.auth" in problem
    assert "xoauth2" in problem
