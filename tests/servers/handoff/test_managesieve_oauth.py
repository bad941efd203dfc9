"""ManageSieve sign-in with an OAuth2 access token (XOAUTH2, OAUTHBEARER), as Microsoft 365-like
and Gmail-like servers want it, against a Dovecot whose oauth2 passdb checks tokens with a
loopback introspection endpoint (the stack and endpoint of tests/servers/test_e2e_oauth.py).

sievelib's own XOAUTH2 string puts a comma after the user name, which servers read as part of
the name; ooo's session uses the same strings as its IMAP and SMTP sign-in."""

from __future__ import annotations

import pytest

from ooo.handoff.base import HandoffAuthError
from ooo.handoff.managesieve import Session
from tests.servers.test_e2e_oauth import OAuthStack, oauth_stack

__all__ = ["oauth_stack"]  # the module-scoped fixture, used here by name


@pytest.mark.parametrize("auth", ["xoauth2", "oauthbearer"])
def test_a_token_signs_in(oauth_stack: OAuthStack, auth: str) -> None:
    """A valid token opens a session (and the introspection endpoint saw it); a revoked one
    is HandoffAuthError with the token helper's advice, and without the token in it."""
    stack, provider = oauth_stack.stack, oauth_stack.provider
    user = stack.add_user(f"sieve-{auth}")
    token = provider.issue(f"tok-{auth}-good", user.login)
    good = Session(
        stack.host, stack.managesieve_port, "plain", user.login, lambda: token, auth=auth
    )
    with good as s:
        assert "vacation" in s.capabilities()
    assert token in provider.asked
    bad = Session(
        stack.host,
        stack.managesieve_port,
        "plain",
        user.login,
        lambda: f"tok-{auth}-revoked",
        auth=auth,
    )
    with pytest.raises(HandoffAuthError) as refused:
        bad.__enter__()
    assert "token_command" in str(refused.value)
    assert f"tok-{auth}-revoked" not in str(refused.value)
