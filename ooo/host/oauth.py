"""OAuth2 sign-in for IMAP and SMTP: XOAUTH2 and OAUTHBEARER (RFC 7628) with bearer tokens.

Microsoft 365 and Gmail refuse passwords over IMAP and SMTP; they take an OAuth2 access token
inside a SASL exchange. ooo does not talk to identity providers itself: like isync, aerc and
msmtp it runs ``token_command``, a helper that prints a fresh access token (``oama access
you@example.com``, ``mutt_oauth2.py ...``), at every login. The helper owns the refresh token
and the provider-specific consent flow; ooo never stores a token, never logs it and never puts
it in an error message.

This module is pure apart from :func:`run_token_command`: the SASL strings, the stateful
responders that imapclient's ``sasl_login`` and smtplib's ``auth`` call, and the wording of
the errors both protocols share.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from typing import Literal

from ooo.errors import UserError

Mechanism = Literal["xoauth2", "oauthbearer"]
#: The ``auth`` values that sign in with a bearer token from ``token_command``.
OAUTH_MECHANISMS: tuple[Mechanism, ...] = ("xoauth2", "oauthbearer")

#: Seconds a token helper may take (a helper refreshing its token over the network is slow).
TOKEN_COMMAND_TIMEOUT = 60

# RFC 6750 b64token plus what real providers hand out (JWTs, Google's "ya29." tokens): one run
# of printable ASCII without spaces. Anything else would corrupt the SASL string (\x01 is its
# separator), so it is refused before it is sent anywhere.
_TOKEN_CHARS = frozenset(chr(c) for c in range(0x21, 0x7F))


def sasl_name(mechanism: Mechanism) -> str:
    """The SASL mechanism name as servers advertise it (``XOAUTH2``, ``OAUTHBEARER``)."""
    return mechanism.upper()


def xoauth2_string(user: str, token: str) -> str:
    """The XOAUTH2 initial client response (before base64): Google's and Microsoft's format,
    ``user=USER^Aauth=Bearer TOKEN^A^A``."""
    return f"user={user}\x01auth=Bearer {token}\x01\x01"


def oauthbearer_string(
    user: str, token: str, host: str | None = None, port: int | None = None
) -> str:
    """The OAUTHBEARER initial client response (RFC 7628 §3.1, before base64): a GS2 header
    naming ``user`` as the authorization identity (``,`` and ``=`` escaped as RFC 5801 asks),
    then ``host``/``port`` when known, then ``auth=Bearer TOKEN``."""
    authzid = user.replace("=", "=3D").replace(",", "=2C")
    fields = ""
    if host:
        fields += f"host={host}\x01"
    if port:
        fields += f"port={port}\x01"
    return f"n,a={authzid},\x01{fields}auth=Bearer {token}\x01\x01"


def initial_response(
    mechanism: Mechanism, user: str, token: str, host: str | None = None, port: int | None = None
) -> str:
    if mechanism == "xoauth2":
        return xoauth2_string(user, token)
    return oauthbearer_string(user, token, host, port)


class SaslResponder:
    """The client side of one XOAUTH2/OAUTHBEARER exchange, for ``sasl_login`` and
    ``smtplib.SMTP.auth``: the first call (empty or no challenge) answers with the token;
    a later challenge is the server's error report (JSON such as ``{"status":"401"}``), which
    is kept in :attr:`server_status` and answered as the RFCs ask (``\\x01`` for OAUTHBEARER,
    an empty line for XOAUTH2) so that the server ends the exchange with a plain failure."""

    def __init__(self, mechanism: Mechanism, initial: str) -> None:
        self.mechanism = mechanism
        self._initial: str | None = initial
        self.server_status: str | None = None

    def __call__(self, challenge: bytes | None = None) -> str:
        if self._initial is not None and not challenge:
            initial, self._initial = self._initial, None
            return initial
        self._initial = None
        self.server_status = describe_error_challenge(challenge or b"")
        return "\x01" if self.mechanism == "oauthbearer" else ""


def describe_error_challenge(challenge: bytes) -> str:
    """A short, safe description of an XOAUTH2/OAUTHBEARER error challenge (its status and
    scope), e.g. ``status 401``; never more than the server's own JSON fields."""
    try:
        data = json.loads(challenge.decode("utf-8", errors="replace"))
    except ValueError:
        return "an unreadable error report"
    if not isinstance(data, dict):
        return "an unreadable error report"
    parts = [f"{key} {str(data[key])[:60]}" for key in ("status", "scope") if key in data]
    return ", ".join(parts) or "no details"


def redact(text: str, token: str | None) -> str:
    """``text`` with every occurrence of ``token`` replaced: server errors may echo input."""
    return text.replace(token, "***") if token else text


def refused_advice(section: str, user: str) -> str:
    """What to do when a server refused the token: the same words for IMAP and SMTP."""
    return (
        f"the access token is expired, revoked or not for {user!r}. Run {section}.token_command "
        f"by hand: it must print a fresh access token for {user}. If it fails, or the server "
        f"still refuses, re-authorise the account with your token helper (for oama: "
        f"`oama authorize <microsoft|google> {user}`) and check that IMAP/SMTP access is "
        f"allowed for it"
    )


def token_provider(section: str, user: str, command: str) -> Callable[[], str]:
    """A callable that runs ``command`` and returns the access token it prints; called at
    each login, so the helper's refreshing is always what counts."""
    return lambda: run_token_command(section, user, command)


def run_token_command(section: str, user: str, command: str) -> str:
    """Run the token helper; return the first line it prints, checked to look like a token.
    Errors name the key and the account, and quote the helper's stderr (which helpers use for
    "please re-authorise"), never its output."""
    try:
        done = subprocess.run(  # noqa: S602 - a shell command line is what the user configured
            command,
            shell=True,
            capture_output=True,
            text=True,
            timeout=TOKEN_COMMAND_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise UserError(
            f"{section}.token_command for {user} did not finish within {TOKEN_COMMAND_TIMEOUT} s",
            advice="run it by hand to see what it waits for (a browser sign-in? a passphrase?)",
        ) from exc
    except OSError as exc:
        raise UserError(f"{section}.token_command for {user} cannot run: {exc}") from exc
    if done.returncode != 0:
        err = done.stderr.strip().splitlines()[-1:] or ["(no output on stderr)"]
        raise UserError(
            f"{section}.token_command for {user} exited with status {done.returncode}: "
            f"{err[0][:200]}",
            advice=(
                "run the command by hand; if the helper's sign-in has expired, re-authorise "
                f"the account with it (for oama: `oama authorize <microsoft|google> {user}`)"
            ),
        )
    lines = done.stdout.splitlines()
    token = lines[0].strip() if lines else ""
    token = token.removeprefix("Bearer ").strip()
    if not token:
        raise UserError(
            f"{section}.token_command for {user} printed nothing",
            advice="it must print a fresh access token on its first line",
        )
    if not set(token) <= _TOKEN_CHARS:
        raise UserError(
            f"{section}.token_command for {user} printed something that is not an access "
            "token (it contains spaces or control characters)",
            advice="it must print only the access token on its first line",
        )
    return token
