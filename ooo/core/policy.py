"""The reply policy: should this message get an automatic reply, and if not, why not.

Pure: a function of the parsed message, the owner's settings, the reply history for the
sender and ``now``. The rules follow RFC 3834 (Recommendations for Automatic Responses to
Electronic Mail) and RFC 5230 §4.5-4.6 (Sieve vacation): answer only personal mail that was
really addressed to the owner, never anything automated, and never the same sender twice
within the interval. Every "no" carries a :class:`Reason` that is stored and counted.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from enum import StrEnum
from typing import Literal

from ooo.core import itip
from ooo.core.parse import Inbound, is_replyable, parse_addresses


class Reason(StrEnum):
    """Why a message was (or was not) answered. The values are stored; never rename one."""

    REPLY = "reply"
    BEFORE_WINDOW = "before_away_window"
    AFTER_WINDOW = "after_away_window"
    NOT_ADDRESSED = "not_addressed_to_owner"
    FROM_OWNER = "from_owner"
    NO_SENDER = "no_sender"
    NULL_RETURN_PATH = "null_return_path"
    AUTO_SUBMITTED = "auto_submitted"
    MAILING_LIST = "mailing_list"
    PRECEDENCE = "precedence_bulk"
    SUPPRESS_HEADER = "auto_response_suppressed"
    ROBOT_SENDER = "robot_sender"
    SPAM = "spam"
    LOOP = "loop"
    ALREADY_REPLIED = "already_replied"
    DUPLICATE = "duplicate_message"
    ERROR = "internal_error"
    UNKNOWN_SENDER = "unknown_external_sender"
    AUDIENCE_OFF = "no_reply_for_audience"
    FOLLOW_UP = "follow_up"
    RATE_LIMITED = "rate_limited"
    OVERSIZED_HEADER = "oversized_header"
    SERVER_ANSWERED = "answered_by_server"
    # Meeting invitations ([calendar], ooo.core.itip).
    MEETING_DECLINED = "meeting_declined"
    MEETING_TENTATIVE = "meeting_tentative"
    MEETING_IGNORED = "meeting_ignored"
    MEETING_REPEATED = "meeting_request_repeated"
    MEETING_OUTSIDE = "meeting_outside_window"
    MEETING_NOT_ATTENDEE = "meeting_not_attendee"
    MEETING_ANSWERED = "meeting_answered_by_owner"
    CALENDAR_OTHER = "calendar_not_an_invitation"


DESCRIPTIONS: dict[Reason, str] = {
    Reason.REPLY: "a personal inquiry: answered",
    Reason.BEFORE_WINDOW: "received before the away window started",
    Reason.AFTER_WINDOW: "received after the away window ended",
    Reason.NOT_ADDRESSED: "none of the owner's addresses is in To/Cc/Bcc/Resent-*",
    Reason.FROM_OWNER: "sent by the owner",
    Reason.NO_SENDER: "no usable sender address",
    Reason.NULL_RETURN_PATH: "empty return path <> (a bounce or another automatic message)",
    Reason.AUTO_SUBMITTED: "marked as automatic (Auto-Submitted or an auto-reply header)",
    Reason.MAILING_LIST: "mailing-list mail (List-* headers)",
    Reason.PRECEDENCE: "Precedence: bulk, junk or list",
    Reason.SUPPRESS_HEADER: "the sender asked for no automatic replies (X-Auto-Response-Suppress)",
    Reason.ROBOT_SENDER: "the sender is a robot address (mailer-daemon, noreply, ...)",
    Reason.SPAM: "a spam filter marked it as spam",
    Reason.LOOP: "X-Loop names the owner: answering would loop",
    Reason.ALREADY_REPLIED: "this sender already got a reply within the reply interval",
    Reason.DUPLICATE: "the same Message-ID was handled before",
    Reason.ERROR: "ooo could not handle this message (a bug; see the log)",
    Reason.UNKNOWN_SENDER: 'external sender the owner never wrote to (external_replies = "known")',
    Reason.AUDIENCE_OFF: "the config says not to answer this audience or route",
    Reason.FOLLOW_UP: "a follow-up in the thread of a known inquiry (tracked, never answered)",
    Reason.RATE_LIMITED: "not answered: the safety valve ([limits] max_replies_per_hour) "
    "tripped during a flood (tracked as an inquiry)",
    Reason.OVERSIZED_HEADER: "the header block is over 256 KB and was cut: what it hides "
    "(List-Id, Auto-Submitted...) is unknown, so it is not answered",
    Reason.SERVER_ANSWERED: "the mail server answered it while ooo was not running "
    "([handoff]); tracked as an inquiry, never answered again",
    Reason.MEETING_DECLINED: "a meeting invitation inside the away window: declined with an "
    "iTIP reply to the organiser",
    Reason.MEETING_TENTATIVE: "a meeting invitation inside the away window: answered "
    "tentative with an iTIP reply to the organiser",
    Reason.MEETING_IGNORED: "a meeting invitation inside the away window: not answered "
    '([calendar] invitations = "ignore"; tracked as an inquiry)',
    Reason.MEETING_REPEATED: "the same invitation (organiser, UID, SEQUENCE) was handled before",
    Reason.MEETING_OUTSIDE: "a meeting invitation for a time outside the away window",
    Reason.MEETING_NOT_ATTENDEE: "a meeting invitation that does not list the owner as an attendee",
    Reason.MEETING_ANSWERED: "a meeting update: the owner had already answered the meeting",
    Reason.CALENDAR_OTHER: "calendar mail that is not an invitation (a cancellation, a reply, "
    "a counter-proposal, a published calendar)",
}

_LIST_HEADERS = (
    "list-id",
    "list-help",
    "list-subscribe",
    "list-unsubscribe",
    "list-post",
    "list-owner",
    "list-archive",
)
# Headers that other responders and bulk senders use instead of (or besides) Auto-Submitted.
_AUTO_HEADERS = ("x-autoreply", "x-autorespond", "x-auto-reply-from", "x-autogenerated")

# RFC 5230 §4.6 and the usual practice of vacation(1) and Sieve implementations.
_ROBOT_LOCAL = re.compile(
    r"""^(
        mailer[-_]?daemon | postmaster | listserv | majordomo | mailman | daemon
      | bounces? | bounce[-+.].* | bounces[-+.].*
      | no[-_.]?reply | do[-_.]?not[-_.]?reply | dont[-_.]?reply | noreply[-+.].*
      | owner-.* | .*-owner | .*-request | .*-bounces? | .*[-.]noreply
      | root | nobody | autoresponder | auto[-_.]?reply | notifications?
    )$""",
    re.VERBOSE | re.IGNORECASE,
)


#: Reasons that mark a message as automated: in a known thread it is still not a signal.
AUTOMATED = frozenset(
    {
        Reason.NULL_RETURN_PATH,
        Reason.AUTO_SUBMITTED,
        Reason.MAILING_LIST,
        Reason.PRECEDENCE,
        Reason.SUPPRESS_HEADER,
        Reason.ROBOT_SENDER,
        Reason.SPAM,
        Reason.LOOP,
        Reason.DUPLICATE,
        Reason.FROM_OWNER,
        Reason.NO_SENDER,
        Reason.OVERSIZED_HEADER,
        # Calendar traffic a client generated: never a resolution signal in a thread.
        Reason.MEETING_REPEATED,
        Reason.MEETING_OUTSIDE,
        Reason.MEETING_NOT_ATTENDEE,
        Reason.MEETING_ANSWERED,
        Reason.CALENDAR_OTHER,
    }
)
#: Reasons under which a message is an inquiry (it gets a reference and is tracked).
INQUIRY = frozenset(
    {
        Reason.REPLY,
        Reason.ALREADY_REPLIED,
        Reason.UNKNOWN_SENDER,
        Reason.AUDIENCE_OFF,
        Reason.RATE_LIMITED,
        Reason.SERVER_ANSWERED,
        Reason.MEETING_DECLINED,
        Reason.MEETING_TENTATIVE,
        Reason.MEETING_IGNORED,
    }
)
#: Reasons that are answered with an iTIP reply rather than prose (ooo.core.itip).
MEETING_ANSWERS = frozenset({Reason.MEETING_DECLINED, Reason.MEETING_TENTATIVE})
#: Reasons that send something.
ANSWERS = frozenset({Reason.REPLY, *MEETING_ANSWERS})
#: The answer (itip.PARTSTAT's key) for each meeting answer.
MEETING_ANSWER = {Reason.MEETING_DECLINED: "decline", Reason.MEETING_TENTATIVE: "tentative"}


@dataclass(frozen=True)
class Owner:
    """What the policy needs to know about the owner."""

    addresses: tuple[str, ...]
    """Lowercase; the first one is the primary address."""


@dataclass(frozen=True)
class Decision:
    reason: Reason
    detail: str = ""
    owner_address: str | None = None
    """The owner's address the message was sent to (the reply's From)."""
    recipient: str | None = None
    """Where the reply goes."""

    @property
    def reply(self) -> bool:
        """Something is sent: the prose reply, or an iTIP answer to an invitation."""
        return self.reason in ANSWERS

    def describe(self) -> str:
        text = DESCRIPTIONS[self.reason]
        return f"{text} ({self.detail})" if self.detail else text


InvitationMode = Literal["decline", "tentative", "reply", "ignore"]


def _never(key: str) -> bool:
    return False


@dataclass(frozen=True)
class Invitations:
    """[calendar] as the policy needs it."""

    mode: InvitationMode = "reply"
    """decline/tentative: an iTIP answer; reply: calendar mail is ordinary mail; ignore: an
    invitation inside the window is tracked, not answered."""
    timezone: tzinfo = UTC
    """The owner's: floating times and all-day events are theirs."""
    handled: Callable[[str], bool] = field(default=_never)
    """Whether an invitation with this :attr:`ooo.core.itip.Invitation.key` was declined,
    answered tentative or ignored before (the store knows)."""


def local_part(address: str) -> str:
    local = address.rsplit("@", 1)[0]
    return local


def is_robot(address: str) -> bool:
    local = local_part(address)
    return bool(_ROBOT_LOCAL.match(local)) or bool(_ROBOT_LOCAL.match(local.split("+", 1)[0]))


def decide(
    msg: Inbound,
    owner: Owner,
    *,
    window_start: datetime,
    window_end: datetime,
    last_reply_at: datetime | None,
    interval: timedelta,
    now: datetime,
    invitations: Invitations | None = None,
) -> Decision:
    """Decide whether ``msg`` gets an automatic reply. Checks run in a fixed order so the
    reason recorded is the most telling one (a bounce is a bounce before it is a robot).
    Calendar mail is looked at last, after every rule for lists and robots (``invitations``)."""
    received = msg.received_at or now
    if received < window_start:
        return Decision(Reason.BEFORE_WINDOW, received.isoformat())
    if received >= window_end:
        return Decision(Reason.AFTER_WINDOW, received.isoformat())
    if msg.header_cut:
        # Fail safe: a 270 KB filler header can push List-Id or Auto-Submitted past the cut.
        return Decision(Reason.OVERSIZED_HEADER)

    owner_address = next((a for a in msg.recipients if a in owner.addresses), None)
    if owner_address is None:
        return Decision(Reason.NOT_ADDRESSED)

    if msg.null_return_path:
        return Decision(Reason.NULL_RETURN_PATH)
    sender = msg.sender
    if not sender:
        return Decision(Reason.NO_SENDER)
    if not sender.isascii():
        # An internationalised address (RFC 6531/6532) needs SMTPUTF8 end to end; the reply
        # could not be submitted, and a half-sent transaction must not stall the outbox.
        return Decision(Reason.NO_SENDER, f"{sender}: a non-ASCII address (SMTPUTF8)")
    if not is_replyable(sender):
        # Quoted local parts, address literals, encoded words: legal or not, nothing a person
        # uses, and the kind of value a hostile sender crafts to reach a reply's headers.
        return Decision(Reason.NO_SENDER, f"{sender}: not a plain address")
    if sender in owner.addresses or msg.from_address in owner.addresses:
        return Decision(Reason.FROM_OWNER, sender)

    auto = (msg.header("auto-submitted") or "no").split(";", 1)[0].strip().lower()
    if auto != "no":
        return Decision(Reason.AUTO_SUBMITTED, f"Auto-Submitted: {auto}")
    for name in _AUTO_HEADERS:
        if msg.has_header(name):
            return Decision(Reason.AUTO_SUBMITTED, name)
    if (
        msg.header("content-type")
        and "multipart/report" in (msg.header("content-type") or "").lower()
    ):
        return Decision(Reason.AUTO_SUBMITTED, "multipart/report (a delivery or read report)")

    for name in _LIST_HEADERS:
        if msg.has_header(name):
            return Decision(Reason.MAILING_LIST, name)
    precedence = (msg.header("precedence") or "").strip().lower()
    if precedence in ("bulk", "junk", "list"):
        return Decision(Reason.PRECEDENCE, precedence)

    suppress = {
        token.strip().lower()
        for value in msg.headers.get("x-auto-response-suppress", ())
        for token in value.split(",")
    }
    if suppress & {"all", "oof"}:
        return Decision(Reason.SUPPRESS_HEADER, ", ".join(sorted(suppress & {"all", "oof"})))

    for candidate in {sender, msg.from_address} - {None}:
        assert candidate is not None
        if is_robot(candidate):
            return Decision(Reason.ROBOT_SENDER, candidate)

    if _is_spam(msg):
        return Decision(Reason.SPAM)

    loops = " ".join(msg.headers.get("x-loop", ())).lower()
    if loops and any(addr in loops for addr in owner.addresses):
        return Decision(Reason.LOOP)

    note = ""
    if invitations is not None and invitations.mode != "reply" and msg.calendar is not None:
        meeting = meeting_decision(msg, owner, invitations, window_start, window_end)
        if isinstance(meeting, Decision):
            return meeting
        note = meeting

    if last_reply_at is not None and now - last_reply_at < interval:
        last = f"last reply {last_reply_at.isoformat()}"
        return Decision(Reason.ALREADY_REPLIED, f"{last}; {note}" if note else last)

    return Decision(Reason.REPLY, note, owner_address=owner_address, recipient=sender)


def meeting_decision(
    msg: Inbound,
    owner: Owner,
    invitations: Invitations,
    window_start: datetime,
    window_end: datetime,
) -> Decision | str:
    """What a message with an iCalendar part comes to: a Decision, or (when the calendar part
    cannot be answered as an invitation) the note under which it is treated as ordinary mail.
    Called only for mail every other rule would answer."""
    try:
        invitation = itip.read(msg.calendar, msg.calendar_method)
    except itip.Unreadable as exc:
        return f"the calendar part could not be read ({exc}): treated as ordinary mail"
    if invitation.method != "REQUEST":
        return Decision(Reason.CALENDAR_OTHER, f"METHOD:{invitation.method}")
    attendee = itip.attendee(invitation, owner.addresses)
    if attendee is None:
        return Decision(Reason.MEETING_NOT_ATTENDEE, invitation.uid[:120])
    if attendee.partstat not in ("NEEDS-ACTION", ""):
        return Decision(Reason.MEETING_ANSWERED, f"PARTSTAT={attendee.partstat}")
    organiser = invitation.organiser
    writers = {msg.sender, msg.from_address, *_addresses(msg.headers.get("sender", ()))}
    if organiser is None or organiser not in writers or organiser in owner.addresses:
        # Forwarded by someone else (or no organiser to answer): the person who wrote gets the
        # ordinary reply; an iTIP answer goes only to the organiser who sent it.
        who = organiser or "none"
        return f"the invitation's organiser ({who}) did not send it: treated as ordinary mail"
    try:
        found = itip.span(invitation, window_start, window_end, invitations.timezone)
    except itip.Unreadable as exc:
        return f"the invitation could not be read ({exc}): treated as ordinary mail"
    if not found.inside:
        when = (
            f"it starts {found.first.isoformat()}, after the window"
            if found.first is not None
            else "it is over before the window starts"
        )
        return Decision(Reason.MEETING_OUTSIDE, when)
    if invitations.handled(invitation.key):
        return Decision(Reason.MEETING_REPEATED, invitation.key)
    reason = {
        "decline": Reason.MEETING_DECLINED,
        "tentative": Reason.MEETING_TENTATIVE,
    }.get(invitations.mode, Reason.MEETING_IGNORED)
    if reason is Reason.MEETING_IGNORED:
        return Decision(reason, invitation.key)
    return Decision(reason, invitation.key, owner_address=attendee.address, recipient=organiser)


def _addresses(values: tuple[str, ...]) -> set[str]:
    return {addr for _, addr in parse_addresses(values[:1])}


def _is_spam(msg: Inbound) -> bool:
    flag = (msg.header("x-spam-flag") or "").strip().lower()
    status = (msg.header("x-spam-status") or "").strip().lower()
    verdict = (msg.header("x-spam") or "").strip().lower()
    return flag == "yes" or status.startswith("yes") or verdict in ("yes", "true", "spam")
