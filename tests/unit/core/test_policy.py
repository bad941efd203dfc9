"""The reply policy, rule by rule (RFC 3834, RFC 5230 §4.5-4.6), and its properties."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ooo.core.parse import parse
from ooo.core.policy import (
    ANSWERS,
    AUTOMATED,
    DESCRIPTIONS,
    INQUIRY,
    MEETING_ANSWER,
    MEETING_ANSWERS,
    Decision,
    InvitationMode,
    Invitations,
    Owner,
    Reason,
    decide,
    is_robot,
)
from tests.support.helpers import ALIAS, END, INSIDE, OWNER, START, raw_message

CALENDAR = Path(__file__).parents[2] / "support" / "corpus" / "calendar"

OWNER_CFG = Owner((OWNER, ALIAS))
WEEK = timedelta(days=7)


def decision_for(
    raw: bytes,
    *,
    received: datetime = INSIDE,
    last_reply_at: datetime | None = None,
    now: datetime = INSIDE,
) -> Decision:
    msg = parse("1", *raw.split(b"\r\n\r\n", 1), received_at=received)
    return decide(
        msg,
        OWNER_CFG,
        window_start=START,
        window_end=END,
        last_reply_at=last_reply_at,
        interval=WEEK,
        now=now,
    )


# (case id, raw message, expected reason). One row per rule, plus its near misses.
CASES = [
    ("personal inquiry", raw_message(), Reason.REPLY),
    ("owner in Cc", raw_message(to="carol@example.com", extra={"Cc": OWNER}), Reason.REPLY),
    ("owner in Bcc", raw_message(to="x@example.com", extra={"Bcc": OWNER}), Reason.REPLY),
    ("alias in To", raw_message(to=ALIAS), Reason.REPLY),
    ("address case-insensitive", raw_message(to="Bob Example <BOB@Example.COM>"), Reason.REPLY),
    ("Resent-To", raw_message(to="list@x.org", extra={"Resent-To": OWNER}), Reason.REPLY),
    ("Resent-Cc", raw_message(to="list@x.org", extra={"Resent-Cc": OWNER}), Reason.REPLY),
    ("Resent-Bcc", raw_message(to="list@x.org", extra={"Resent-Bcc": OWNER}), Reason.REPLY),
    ("not addressed", raw_message(to="team@example.com"), Reason.NOT_ADDRESSED),
    ("owner only in body", raw_message(to="t@x.org", body=f"cc {OWNER}"), Reason.NOT_ADDRESSED),
    ("null return path", raw_message(return_path="<>"), Reason.NULL_RETURN_PATH),
    ("from the owner", raw_message(sender=OWNER), Reason.FROM_OWNER),
    ("from an alias", raw_message(sender=ALIAS.upper()), Reason.FROM_OWNER),
    ("auto-replied", raw_message(extra={"Auto-Submitted": "auto-replied"}), Reason.AUTO_SUBMITTED),
    (
        "auto-generated",
        raw_message(extra={"Auto-Submitted": "auto-generated"}),
        Reason.AUTO_SUBMITTED,
    ),
    (
        "auto-submitted with params",
        raw_message(extra={"Auto-Submitted": "auto-replied; owner-email=x@y"}),
        Reason.AUTO_SUBMITTED,
    ),
    ("Auto-Submitted: no", raw_message(extra={"Auto-Submitted": "no"}), Reason.REPLY),
    ("Auto-Submitted: No (case)", raw_message(extra={"Auto-Submitted": " No "}), Reason.REPLY),
    ("X-Autoreply", raw_message(extra={"X-Autoreply": "yes"}), Reason.AUTO_SUBMITTED),
    (
        "delivery report",
        raw_message(extra={"Content-Type": "multipart/report; report-type=delivery-status"}),
        Reason.AUTO_SUBMITTED,
    ),
    *[
        (name, raw_message(extra={name: "<x>"}), Reason.MAILING_LIST)
        for name in (
            "List-Id",
            "List-Help",
            "List-Subscribe",
            "List-Unsubscribe",
            "List-Post",
            "List-Owner",
            "List-Archive",
        )
    ],
    ("Precedence: bulk", raw_message(extra={"Precedence": "bulk"}), Reason.PRECEDENCE),
    ("Precedence: junk", raw_message(extra={"Precedence": "junk"}), Reason.PRECEDENCE),
    ("Precedence: list", raw_message(extra={"Precedence": "LIST"}), Reason.PRECEDENCE),
    ("Precedence: first-class", raw_message(extra={"Precedence": "first-class"}), Reason.REPLY),
    (
        "X-Auto-Response-Suppress: All",
        raw_message(extra={"X-Auto-Response-Suppress": "All"}),
        Reason.SUPPRESS_HEADER,
    ),
    (
        "X-Auto-Response-Suppress: DR, OOF",
        raw_message(extra={"X-Auto-Response-Suppress": "DR, OOF"}),
        Reason.SUPPRESS_HEADER,
    ),
    (
        "X-Auto-Response-Suppress: DR, RN",
        raw_message(extra={"X-Auto-Response-Suppress": "DR, RN"}),
        Reason.REPLY,
    ),
    ("spam flag", raw_message(extra={"X-Spam-Flag": "YES"}), Reason.SPAM),
    ("spam status", raw_message(extra={"X-Spam-Status": "Yes, score=9.1"}), Reason.SPAM),
    ("rspamd verdict", raw_message(extra={"X-Spam": "Yes"}), Reason.SPAM),
    ("not spam", raw_message(extra={"X-Spam-Status": "No, score=0.1"}), Reason.REPLY),
    ("X-Loop names us", raw_message(extra={"X-Loop": OWNER}), Reason.LOOP),
    ("X-Loop names someone else", raw_message(extra={"X-Loop": "other@x.org"}), Reason.REPLY),
    (
        "no sender at all",
        raw_message(return_path="", extra={"From": ""}).replace(b"Return-Path: \r\n", b""),
        Reason.NO_SENDER,
    ),
    ("empty Return-Path counts as null", raw_message(return_path=""), Reason.NULL_RETURN_PATH),
]

ROBOTS = [
    "MAILER-DAEMON@mx.example.net",
    "postmaster@x.org",
    "listserv@lists.x.org",
    "majordomo@x.org",
    "owner-dev@lists.x.org",
    "dev-owner@lists.x.org",
    "dev-request@lists.x.org",
    "dev-bounces@lists.x.org",
    "noreply@x.org",
    "no-reply@x.org",
    "no_reply@x.org",
    "do-not-reply@x.org",
    "donotreply@x.org",
    "bounce-123-abc@news.x.org",
    "bounces+1234@x.org",
    "notifications@github.example",
]
HUMANS = ["alice@x.org", "replyguy@x.org", "owner@x.org", "daemonic@x.org", "noreplying.ann@x.org"]


@pytest.mark.parametrize(("raw", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rule(raw: bytes, expected: Reason) -> None:
    """Each RFC 3834 / RFC 5230 rule gives its own reason code (and near misses still reply)."""
    assert decision_for(raw).reason is expected


@pytest.mark.parametrize("address", ROBOTS)
def test_robot_senders_get_no_reply(address: str) -> None:
    """A robot address as envelope sender means no reply, with the robot reason."""
    assert is_robot(address)
    assert decision_for(raw_message(sender=address)).reason is Reason.ROBOT_SENDER


@pytest.mark.parametrize("address", HUMANS)
def test_human_lookalikes_are_answered(address: str) -> None:
    """Addresses that merely contain robot words are people."""
    assert not is_robot(address)
    assert decision_for(raw_message(sender=address)).reply


def test_robot_in_from_with_human_return_path() -> None:
    """A robot From (noreply@) is not answered even when the Return-Path looks personal."""
    raw = raw_message(return_path="<bounce@x.org>", extra={"From": "noreply@x.org"})
    assert decision_for(raw).reason is Reason.ROBOT_SENDER


def test_reply_goes_to_return_path_from_the_owner_address_used() -> None:
    """The reply goes to the envelope sender, from the owner address the mail was sent to."""
    raw = raw_message(sender="alice@example.org", to=ALIAS, return_path="<alice+srs@example.org>")
    decision = decision_for(raw)
    assert decision.reply
    assert decision.recipient == "alice+srs@example.org"
    assert decision.owner_address == ALIAS


def test_sender_falls_back_to_from_without_return_path() -> None:
    """Without a Return-Path (Exchange, an .eml file), the From address gets the reply."""
    raw = raw_message(return_path="").replace(b"Return-Path: \r\n", b"")
    assert b"Return-Path" not in raw
    assert decision_for(raw).recipient == "alice@example.org"


def test_window_edges() -> None:
    """Mail received before the window starts or at/after it ends gets no reply."""
    raw = raw_message()
    assert decision_for(raw, received=START - timedelta(seconds=1)).reason is Reason.BEFORE_WINDOW
    assert decision_for(raw, received=START).reply
    assert decision_for(raw, received=END - timedelta(seconds=1)).reply
    assert decision_for(raw, received=END).reason is Reason.AFTER_WINDOW


def test_reply_interval() -> None:
    """A sender answered within the interval is not answered again; after it, they are."""
    raw = raw_message()
    assert decision_for(raw, last_reply_at=INSIDE - WEEK + timedelta(seconds=1)).reason is (
        Reason.ALREADY_REPLIED
    )
    assert decision_for(raw, last_reply_at=INSIDE - WEEK).reply


def test_checks_run_in_order_bounce_before_robot() -> None:
    """A bounce is reported as a bounce (null return path), not as a robot sender."""
    raw = raw_message(sender="MAILER-DAEMON@mx.x.org", return_path="<>")
    assert decision_for(raw).reason is Reason.NULL_RETURN_PATH


# -- properties ---------------------------------------------------------------------------------

header_names = st.sampled_from(
    [
        "Subject",
        "X-Mailer",
        "Cc",
        "Reply-To",
        "X-Priority",
        "Importance",
        "Precedence",
        "X-Spam-Status",
        "Content-Type",
        "X-Loop",
        "Organization",
        "Auto-Submitted",
    ]
)
header_values = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\x00"),
    max_size=60,
)
extra_headers = st.dictionaries(header_names, header_values, max_size=6)
AUTO_VALUES = st.sampled_from(["auto-replied", "auto-generated", "auto-notified", "yes", "x"])
LIST_NAMES = st.sampled_from(
    [
        "List-Id",
        "List-Help",
        "List-Subscribe",
        "List-Unsubscribe",
        "List-Post",
        "List-Owner",
        "List-Archive",
    ]
)


@settings(max_examples=300, deadline=None)
@given(extra=extra_headers, name=LIST_NAMES, value=header_values)
def test_never_reply_to_a_list(extra: dict[str, str], name: str, value: str) -> None:
    """Whatever else the headers hold, a message with any List-* header gets no reply."""
    raw = raw_message(extra={**extra, name: value or "<x>"})
    assert not decision_for(raw).reply


@settings(max_examples=300, deadline=None)
@given(extra=extra_headers, auto=AUTO_VALUES)
def test_never_reply_to_auto_submitted(extra: dict[str, str], auto: str) -> None:
    """Whatever else the headers hold, Auto-Submitted other than "no" means no reply."""
    raw = raw_message(extra={**extra, "Auto-Submitted": auto})
    assert not decision_for(raw).reply


@settings(max_examples=200, deadline=None)
@given(
    events=st.lists(
        st.tuples(
            st.sampled_from(["a@x.org", "b@x.org", "A@X.org", "c@y.org"]),
            st.integers(min_value=0, max_value=20 * 24 * 3600),
        ),
        min_size=1,
        max_size=30,
    ),
    interval_hours=st.integers(min_value=1, max_value=24 * 10),
)
def test_never_two_replies_to_one_sender_within_the_interval(
    events: list[tuple[str, int]], interval_hours: int
) -> None:
    """Feeding the policy its own history: replies to one sender are >= interval apart."""
    interval = timedelta(hours=interval_hours)
    history: dict[str, datetime] = {}
    replies: dict[str, list[datetime]] = {}
    for i, (sender, offset) in enumerate(sorted(events, key=lambda e: e[1])):
        now = START + timedelta(seconds=offset)
        msg = parse(str(i), raw_message(sender=sender, message_id=f"<{i}@x>"), received_at=now)
        key = msg.sender or ""
        d = decide(
            msg,
            OWNER_CFG,
            window_start=START,
            window_end=END,
            last_reply_at=history.get(key),
            interval=interval,
            now=now,
        )
        if d.reply:
            assert d.recipient == key
            history[key] = now
            replies.setdefault(key, []).append(now)
    for times in replies.values():
        assert all(b - a >= interval for a, b in itertools.pairwise(times))


def test_every_reason_is_described_and_sorted_into_its_sets() -> None:
    """Every reason has the words status and the report show; whatever sends something is an
    inquiry and never automated; the meeting answers are exactly those with an iTIP answer."""
    assert set(DESCRIPTIONS) == set(Reason)
    assert ANSWERS <= INQUIRY
    assert not AUTOMATED & INQUIRY
    assert set(MEETING_ANSWER) == MEETING_ANSWERS
    assert {r for r in Reason if Decision(r).reply} == ANSWERS == {Reason.REPLY, *MEETING_ANSWERS}


_AUTOMATED_MARKS = [
    b"List-Id: <team.lists.example.org>",
    b"List-Unsubscribe: <mailto:leave@lists.example.org>",
    b"Precedence: list",
    b"Auto-Submitted: auto-generated",
    b"X-Autoreply: yes",
    b"X-Auto-Response-Suppress: All",
    b"X-Spam-Flag: YES",
]


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(sorted(p.name for p in CALENDAR.glob("*.eml"))),
    mark=st.sampled_from(_AUTOMATED_MARKS),
    mode=st.sampled_from(["decline", "tentative", "ignore", "reply"]),
)
def test_never_answers_calendar_mail_from_a_list_or_a_robot(
    name: str, mark: bytes, mode: InvitationMode
) -> None:
    """Whatever the invitation and the [calendar] mode, calendar mail through a list, marked
    automatic, suppressing replies or flagged as spam is never answered and never a meeting
    decision: the usual rules come first."""
    raw = (CALENDAR / name).read_bytes().replace(b"MIME-Version:", mark + b"\r\nMIME-Version:", 1)
    msg = parse("1", *raw.split(b"\r\n\r\n", 1), received_at=INSIDE)
    made = decide(
        msg,
        OWNER_CFG,
        window_start=START,
        window_end=END,
        last_reply_at=None,
        interval=WEEK,
        now=INSIDE,
        invitations=Invitations(mode, ZoneInfo("Europe/Berlin")),
    )
    assert not made.reply and made.reason in AUTOMATED
