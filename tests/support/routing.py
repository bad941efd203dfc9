"""The routing tests' scenario, shared with the Exchange transport's tests: an owner with an
alias (bob@example.com, b.example@example.com), Carol as the delegate, and the forward the
engine composes for her when ``[reply.external] forward_to_delegate`` is on."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from ooo.config import Config, loads
from ooo.core.compose import ReplySettings, compose_forward
from ooo.core.parse import Inbound, parse
from ooo.core.policy import Decision, Owner, decide
from ooo.core.routing import Routing, route
from tests.support.helpers import ALIAS, END, INSIDE, OWNER, START

#: Where the configs below claim to come from (error messages name it).
PATH = Path("/etc/ooo.toml")
#: The inquiry reference the composed messages carry.
REF = "OOO-7K3Q9M"

# The owner is bob@example.com, with the alias b.example@example.com.
BASE = """
[owner]
name = "Bob Example"
addresses = ["Bob@Example.com", "B.Example@example.com"]
timezone = "Europe/Berlin"

[away]
start = 2026-12-20T00:00:00
end = 2027-01-05T09:00:00

[mailbox]
host = "127.0.0.1"
port = 1143
security = "plain"
username = "bob"
password_command = "printf secret"

[smtp]
host = "127.0.0.1"
port = 1587
security = "plain"
"""

CAROL = """
[delegate]
name = "Carol Jones"
email = "carol@example.com"
handle = "@carol@hachyderm.io"
"""

#: Carol as the delegate, and every external inquiry forwarded to her.
FORWARD = CAROL + "\n[reply.external]\nforward_to_delegate = true\n"


def config(*sections: str) -> Config:
    """`BASE` plus ``sections``, loaded as if from `PATH`."""
    return loads(BASE + "".join(sections), PATH)


def decision_for(msg: Inbound) -> Decision:
    """The policy's decision for ``msg`` inside the away window; it must be a reply."""
    d = decide(
        msg,
        Owner((OWNER, ALIAS)),
        window_start=START,
        window_end=END,
        last_reply_at=None,
        interval=timedelta(days=7),
        now=INSIDE,
    )
    assert d.reply, d
    return d


def reply_settings(cfg: Config) -> ReplySettings:
    """The composer's settings for ``cfg``, as the engine builds them."""
    return ReplySettings(
        cfg.owner.name,
        cfg.owner.tz,
        cfg.away.start,
        cfg.away.end,
        cfg.away.subject_prefix,
        share_subject=cfg.reply.share_subject,
    )


def forward_of(raw: bytes, original: bytes | None = None) -> tuple[bytes, Decision, Routing]:
    """The forward to Carol composed for the inquiry ``raw`` (carrying ``original`` as the
    attached inquiry, if given), with the decision and the routing that led to it."""
    msg = parse("1", *raw.split(b"\r\n\r\n", 1), received_at=INSIDE)
    decision = decision_for(msg)
    assert decision.recipient is not None
    routing = route(msg, decision.recipient, config(FORWARD))
    assert routing.forward_to_delegate
    fwd = compose_forward(
        msg,
        raw if original is None else original,
        decision,
        reply_settings(config(FORWARD)),
        routing,
        ref=REF,
        message_id="<f@example.com>",
        now=INSIDE,
    )
    return fwd.as_bytes(), decision, routing
