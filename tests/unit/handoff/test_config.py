"""``[handoff]`` in the config, what the server is told to say (ooo.handoff.reply), the state
``ooo status`` shows (ooo.handoff.base.HandoffState), and the factory (ooo.handoff.create)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ooo.config import loads
from ooo.errors import ConfigError
from ooo.handoff import create
from ooo.handoff.base import HandoffState, NoHandoff
from ooo.handoff.reply import server_reply
from ooo.handoff.sieve import SieveHandoff
from ooo.templating import Renderer
from tests.support.configs import GOOD, GOOD_END, GOOD_START

PATH = Path("/home/bob/.config/ooo/config.toml")
EXCHANGE = GOOD.replace(
    '[mailbox]\nhost = "127.0.0.1"\nport = 1143\nsecurity = "plain"\n',
    '[mailbox]\nbackend = "exchange"\nservice_endpoint = "https://mail.example.com/EWS/Exchange.asmx"\n'
    'primary_smtp_address = "bob@example.com"\n',
)


def problem(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        loads(text, PATH)
    assert len(caught.value.problems) == 1, caught.value.problems
    return caught.value.problems[0]


def test_the_default_is_no_handoff() -> None:
    """Without [handoff], nothing changes on the server: method "none", a 15 minute lease."""
    cfg = loads(GOOD, PATH)
    assert cfg.handoff.method == "none"
    assert cfg.handoff.lease == timedelta(minutes=15)
    assert isinstance(create(cfg, Renderer(), lambda: GOOD_START), NoHandoff)


def test_sieve_follows_the_mailbox() -> None:
    """Unset, host, security, ca_file and the login come from [mailbox]; port 4190; an
    encrypted mailbox means STARTTLS (how ManageSieve encrypts), a plain one plain."""
    cfg = loads(GOOD + '\n[handoff]\nmethod = "sieve"\nlease = "2m"\n', PATH)
    assert cfg.handoff.sieve_server(cfg.mailbox) == ("127.0.0.1", 4190, "plain", None)
    assert cfg.handoff.lease == timedelta(minutes=2)
    tls = loads(
        GOOD.replace(
            'host = "127.0.0.1"\nport = 1143\nsecurity = "plain"',
            'host = "imap.example.com"\nsecurity = "ssl"\nca_file = "/etc/ca.pem"',
        )
        + '\n[handoff]\nmethod = "sieve"\n',
        PATH,
    )
    assert tls.handoff.sieve_server(tls.mailbox) == (
        "imap.example.com",
        4190,
        "starttls",
        Path("/etc/ca.pem"),
    )
    assert isinstance(create(cfg, Renderer(), lambda: GOOD_START), SieveHandoff)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ('lease = "29s"', "handoff.lease: expected at least 30s"),
        ('lease = "soon"', "handoff.lease: expected a duration"),
        ('method = "gmail"', "handoff.method: Input should be 'none', 'sieve' or 'exchange'"),
        ("port = 0", "handoff.port: Input should be greater than or equal to 1"),
        ('security = "tls"', "handoff.security: Input should be 'ssl', 'starttls' or 'plain'"),
        ('hots = "x"', "handoff.hots: unknown key (a typo?)"),
        ('method = "exchange"', 'handoff.method = "exchange" needs mailbox.backend = "exchange"'),
        (
            'method = "sieve"\nhost = "sieve.example.com"',
            "handoff.security is plain (as mailbox.security): the password would cross the "
            "network unencrypted to 'sieve.example.com'",
        ),
        (
            'method = "sieve"\nhost = "sieve.example.com"\nsecurity = "plain"',
            "handoff.security is plain: the password",
        ),
    ],
)
def test_mistakes_name_the_key(extra: str, expected: str) -> None:
    """Every mistake in [handoff] names the key and what is expected."""
    assert expected in problem(GOOD + f"\n[handoff]\n{extra}\n")


def test_exchange_needs_an_exchange_mailbox_and_no_sieve_keys() -> None:
    """Sieve is for IMAP servers; the ManageSieve keys make no sense with Exchange."""
    assert 'needs mailbox.backend = "imap"' in problem(EXCHANGE + '\n[handoff]\nmethod = "sieve"\n')
    assert "handoff.port is only used with method" in problem(
        EXCHANGE + '\n[handoff]\nmethod = "exchange"\nport = 4190\n'
    )
    cfg = loads(EXCHANGE + '\n[handoff]\nmethod = "exchange"\n', PATH)
    assert cfg.handoff.method == "exchange"


# -- what the server says ---------------------------------------------------------------------


def test_the_server_reply_is_the_owners_template_for_a_stranger() -> None:
    """The server's text is what ooo would send an unknown sender: the owner's name and
    return date, no reference (the server cannot issue one), no subject, no name."""
    cfg = loads(GOOD, PATH)
    reply = server_reply(cfg, Renderer())
    assert reply.external is not None and reply.internal is not None
    assert "Bob Example" in reply.external
    assert "Tuesday 5 January 2027" in reply.external
    assert "OOO-" not in reply.external and "reference" not in reply.external.lower()
    assert reply.external.startswith("Hello,")
    assert reply.internal_domains == ("example.com",)
    assert reply.external_html is not None and "<p>" in reply.external_html
    assert reply.external_audience == "All"
    assert reply.subject_prefix == "Auto: "


def test_audiences_the_owner_does_not_answer_get_nothing_from_the_server() -> None:
    """reply.external.reply = false: no external text, audience "None"; external_replies =
    "known": Exchange answers known senders ("Known"), Sieve (which cannot know) nobody."""
    off = server_reply(loads(GOOD + "\n[reply.external]\nreply = false\n", PATH), Renderer())
    assert off.external is None and off.external_audience == "None"
    assert off.internal is not None
    known = server_reply(
        loads(GOOD + '\n[audiences]\nexternal_replies = "known"\n', PATH), Renderer()
    )
    assert known.external is None and known.external_html is not None
    assert known.external_audience == "Known"


def test_a_custom_template_is_used(tmp_path: Path) -> None:
    """The owner's own templates are what the server sends."""
    (tmp_path / "reply.txt.j2").write_text("Away until {{ back_on }}. {{ owner.name }}\n")
    (tmp_path / "reply.html.j2").write_text("<p>Away until {{ back_on }}.</p>\n")
    cfg = loads(GOOD + f'\n[templates]\ndir = "{tmp_path}"\n', PATH)
    assert server_reply(cfg, Renderer(cfg.templates.dir)).external == (
        "Away until Tuesday 5 January 2027. Bob Example\n"
    )


# -- state --------------------------------------------------------------------------------------


def test_a_stored_state_ages_and_round_trips() -> None:
    """The state survives JSON; read later, a lease that ran out means the server answers
    since the lease (a crashed daemon cannot say so itself), and after the window nobody."""
    lease = GOOD_START + timedelta(days=1)
    state = HandoffState("sieve", "ooo", GOOD_START, lease, "ooo is running", GOOD_END)
    again = HandoffState.from_json(state.to_json())
    assert again == state
    assert state.at(lease - timedelta(seconds=1)) == state
    later = state.at(lease + timedelta(hours=1))
    assert later.answering == "server" and later.since == lease
    assert "lease ran out" in later.describe(lease + timedelta(hours=1))
    assert state.at(GOOD_END + timedelta(days=1)).answering == "owner"
    assert "ooo answers" in state.describe(GOOD_START)
    for junk in (None, "", "{", "[]", '{"answering": "maybe", "method": "x"}'):
        assert HandoffState.from_json(junk) is None


def test_states_read_well() -> None:
    """Each state is one sentence naming who answers and why."""
    at = datetime(2027, 1, 1, tzinfo=UTC)
    server = HandoffState("exchange", "server", at, why="ooo handed off (stopped)", warning="w")
    assert server.describe(at) == (
        "the mail server answers (exchange) since 2027-01-01T00:00:00+00:00 (ooo handed off "
        "(stopped)); warning: w"
    )
    assert HandoffState("sieve", "nobody", why="not taken back yet").describe(at) == (
        "the mail server does not answer for ooo (not taken back yet)"
    )
    assert "your own setup" in HandoffState("sieve", "owner", at).describe(at)
