"""Plain records that cross from the store to resolution tracking and the report.

An *inquiry* is a message the policy accepted as a personal inquiry (answered, or not answered
only because of the reply interval) that is not a follow-up of an earlier one. A *signal* is
something that happened to an inquiry afterwards, with its evidence: the sender says it is
resolved, the delegate or someone from the network answered in the thread, the sender says it
is still open, the owner decided by hand. The status of an inquiry is never stored: it is
derived from its signals (see :func:`ooo.core.report.derive`).

A signal may also come from a post on the owner's network (``ooo.networks`` watches the places
the auto-reply sends people to): then it names the network and the post's web link, and its
author and helper are handles there. Email and network signals of one inquiry are one story.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

ResolvedBy = Literal["sender", "delegate", "network", "owner"]
SignalKind = Literal["resolved", "open", "reopened"]


@dataclass(frozen=True)
class InquiryFacts:
    """One inquiry as recorded when it arrived."""

    ref: str
    sender: str
    from_name: str
    subject: str
    received_at: datetime
    audience: str | None
    """internal, external, vip (None when no routing ran)."""
    replied: bool
    """False: not answered because of the reply interval (still an inquiry)."""
    delegate: str | None
    message_id: str | None
    answered_by_server: bool = False
    """The mail server's automatic reply answered it while ooo was not running ([handoff])."""
    reason: str = "reply"
    """The decision's reason code (ooo.core.policy.Reason): a meeting declined, answered
    tentative or ignored ([calendar]) is an inquiry too."""


@dataclass(frozen=True)
class ServerPeriod:
    """A stretch of the away window during which the mail server answered in ooo's place."""

    start: datetime
    end: datetime | None
    """None: still in charge when the report was made."""
    why: str


@dataclass(frozen=True)
class SignalEvent:
    """One resolution signal, as stored (the ``signal`` table)."""

    ref: str
    at: datetime
    kind: SignalKind
    """resolved; open (still needs the owner, flagged); reopened (by the owner: back to open,
    not flagged)."""
    by: ResolvedBy | None
    """Who resolved it (for ``resolved``)."""
    rule: str
    """Which rule fired: sender_says_resolved, delegate_answered, delegate_engaged (the delegate
    took it up and asked the sender something: still open), network_answered,
    sender_still_open, owner_resolved, owner_reopened."""
    evidence: str
    """The sentence that triggered it (or the owner's note)."""
    author: str | None = None
    """Who wrote the message (address), or None for the owner's command."""
    helper: str | None = None
    """Who helped, as the sender named them ("@carol@hachyderm.io", "someone on Mastodon")."""
    message_id: str | None = None
    flagged: bool = False
    """An ``open`` signal that asks for urgency ("urgent", "asap")."""
    unverified: str | None = None
    """Set when the owner's server says the message failed its sender checks ("dmarc=fail"):
    the signal is shown but does not change the inquiry's status."""
    network: str | None = None
    """The network a post gave it on ("mastodon", "bluesky", "matrix"); None for an email or
    the owner's command. (Added with the network watchers; stored since schema 6.)"""
    link: str | None = None
    """The web link of that post, as the network gave it (None or "" when it gave none).
    Checked again before it is shown (:func:`ooo.core.wording.safe_link`)."""
