"""The reply's bytes do not depend on the header classes being made once (ooo.core.compose's
SMTP policy, a speed-up of issue 14): byte for byte what the stdlib's own SMTP policy gives."""

from __future__ import annotations

import email.policy
from datetime import UTC, datetime

import pytest

import ooo.core.compose as compose
from ooo.core.parse import parse
from tests.support.helpers import INSIDE, make_engine, raw_message


def normalised(raw: bytes, boundary: str | None) -> bytes:
    # The multipart boundary is random; everything else must match.
    return raw.replace(boundary.encode(), b"BOUNDARY") if boundary else raw


def test_replies_are_byte_for_byte_those_of_the_stdlib_policy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Replies with non-ASCII names and subjects, long folded headers and threading fields,
    composed twice each (the second time with the header classes already made), equal those
    composed with ``email.policy.SMTP`` itself; and each header class is made only once."""
    engine, *_ = make_engine()
    now = datetime(2026, 12, 22, 10, 0, tzinfo=UTC)
    samples = [
        raw_message(sender="alice@example.org", subject="A question", message_id="<a@x>"),
        raw_message(
            sender="jose@example.org",
            subject="Réunion de l'équipe — ordre du jour " + "très long " * 12,
            message_id="<b@x>",
        ),
    ]
    outputs: dict[str, list[bytes]] = {"ours": [], "stdlib": []}
    for policy in ("ours", "stdlib", "ours"):
        if policy == "stdlib":
            monkeypatch.setattr(compose, "SMTP", email.policy.SMTP)
        else:
            monkeypatch.undo()
        key = "stdlib" if policy == "stdlib" else "ours"
        if outputs[key] and key == "ours":
            outputs[key] = []  # the second pass, with every header class already made
        for n, raw in enumerate(samples):
            msg = parse(f"k{n}", raw, b"", INSIDE, len(raw))
            decision = engine.decide(msg, now)
            assert decision.reply
            reply = compose.compose_reply(
                msg,
                decision,
                engine.settings.reply,
                engine.renderer,
                message_id=f"<reply{n}@example.test>",
                now=now,
                ref="OOO-7K3Q9M",
            )
            outputs[key].append(normalised(reply.as_bytes(), reply.get_boundary()))
    assert outputs["ours"] == outputs["stdlib"]
    factory = compose.SMTP.header_factory
    assert isinstance(factory, compose._Headers)
    assert factory["Subject"] is factory["subject"] is factory["SUBJECT"]
