"""The post-vacation report: statuses derived from signals, the report model, and each format.

All times are fixed; nothing reads the clock. The owner lives in Europe/Berlin, so the
tests can tell the owner's days and times from UTC ones.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import stat
import struct
import subprocess
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from ooo.core.tracking import InquiryFacts, ResolvedBy, SignalEvent, SignalKind
from ooo.report import (
    CSV_COLUMNS,
    FORMATS,
    OUTCOMES,
    SCHEMA_VERSION,
    DayCounts,
    InquiryView,
    Report,
    build_report,
    derive,
    human_duration,
    render,
    render_csv,
    render_html,
    render_json,
    render_markdown,
    render_text,
    write_atomic,
)
from tests.support import ROOT as SUPPORT_ROOT

BERLIN = ZoneInfo("Europe/Berlin")
START = datetime(2027, 1, 4, 7, 0, tzinfo=UTC)  # Mon 4 Jan 08:00 in Berlin
END = datetime(2027, 1, 11, 7, 0, tzinfo=UTC)  # Mon 11 Jan 08:00 in Berlin
T0 = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
HOSTILE_SUBJECT = "<script>alert(1)</script>"


def inquiry(
    ref: str,
    received: datetime = T0,
    *,
    sender: str | None = None,
    name: str = "",
    subject: str = "A question",
    audience: str | None = "external",
    replied: bool = True,
) -> InquiryFacts:
    return InquiryFacts(
        ref=ref,
        sender=sender or f"{ref.lower()}@example.org",
        from_name=name,
        subject=subject,
        received_at=received,
        audience=audience,
        replied=replied,
        delegate=None,
        message_id=f"<{ref}@example.org>",
    )


_RULES: dict[tuple[SignalKind, ResolvedBy | None], str] = {
    ("resolved", "sender"): "sender_says_resolved",
    ("resolved", "delegate"): "delegate_answered",
    ("resolved", "network"): "network_answered",
    ("resolved", "owner"): "owner_resolved",
    ("open", None): "sender_still_open",
    ("reopened", None): "owner_reopened",
}


def signal(
    ref: str,
    at: datetime,
    kind: SignalKind,
    by: ResolvedBy | None = None,
    *,
    evidence: str = "",
    author: str | None = None,
    helper: str | None = None,
    flagged: bool = False,
    rule: str | None = None,
) -> SignalEvent:
    return SignalEvent(
        ref=ref,
        at=at,
        kind=kind,
        by=by,
        rule=rule or _RULES[(kind, by)],
        evidence=evidence,
        author=author,
        helper=helper,
        flagged=flagged,
    )


def only(views: list[InquiryView]) -> InquiryView:
    assert len(views) == 1, views
    return views[0]


def report(
    inquiries: list[InquiryFacts],
    signals: list[SignalEvent] = (),  # type: ignore[assignment]
    suppressed: dict[str, int] | None = None,
    at: datetime = END,
) -> Report:
    return build_report(
        inquiries,
        list(signals),
        suppressed or {},
        owner_name="Bob Example",
        timezone=BERLIN,
        window_start=START,
        window_end=END,
        at=at,
    )


def mixed() -> Report:
    """Five inquiries, one of each outcome and a flagged VIP, plus suppressed counts."""
    inquiries = [
        inquiry("OOO-AAAAAA", T0, name="Alice", subject="Invoice | March", audience="vip"),
        inquiry("OOO-BBBBBB", T0 + timedelta(hours=1), subject="Access?"),
        inquiry("OOO-CCCCCC", T0 + timedelta(days=1), subject="Review"),
        inquiry("OOO-DDDDDD", T0 + timedelta(days=2), subject=HOSTILE_SUBJECT, replied=False),
        inquiry("OOO-EEEEEE", T0 + timedelta(days=3), subject="Lunch"),
    ]
    signals = [
        signal(
            "OOO-AAAAAA",
            T0 + timedelta(hours=30),
            "open",
            evidence="We still need this, urgent",
            flagged=True,
        ),
        signal(
            "OOO-BBBBBB",
            T0 + timedelta(hours=3),
            "resolved",
            "network",
            evidence="You can request it in #infra, approved.",
            author="dana@example.com",
        ),
        signal(
            "OOO-CCCCCC",
            T0 + timedelta(days=1, minutes=45),
            "resolved",
            "sender",
            evidence="Never mind, sorted | thanks",
            helper="@carol@hachyderm.io",
        ),
        signal(
            "OOO-EEEEEE",
            T0 + timedelta(days=5, hours=3),
            "resolved",
            "delegate",
            evidence="Booked for Thursday.",
            author="carol@example.com",
        ),
    ]
    return report(inquiries, signals, {"mailing_list": 12, "robot_sender": 3, "reply": 5})


# --------------------------------------------------------------------------- derive


def test_an_inquiry_with_no_signals_is_open() -> None:
    """No signal: open, not flagged, nothing resolved; the last event says nothing happened."""
    view = only(derive([inquiry("OOO-AAAAAA")], [], END))
    assert view.status == "open"
    assert not view.flagged
    assert view.resolved_by is view.resolved_at is view.evidence is view.time_to_resolve is None
    assert view.last_event == "Nothing since the auto-reply"


def test_resolved_then_still_open_is_open_and_flagged() -> None:
    """A sender who says it is still open after a resolution reopens it, flagged, and the
    earlier resolution's details are gone."""
    signals = [
        signal("OOO-AAAAAA", T0 + timedelta(hours=1), "resolved", "network", evidence="Done."),
        signal("OOO-AAAAAA", T0 + timedelta(hours=2), "open", evidence="asap", flagged=True),
    ]
    view = only(derive([inquiry("OOO-AAAAAA")], signals, END))
    assert (view.status, view.flagged) == ("open", True)
    assert view.resolved_by is view.resolved_at is view.evidence is view.helper is None
    assert view.time_to_resolve is None


def test_still_open_then_resolved_is_resolved() -> None:
    """A sender who says "still need this" and later "solved": resolved, with who, when, the
    evidence, the helper, and the time it took from arrival."""
    resolved_at = T0 + timedelta(days=2, hours=3)
    signals = [
        signal("OOO-AAAAAA", T0 + timedelta(hours=2), "open", evidence="still need this"),
        signal(
            "OOO-AAAAAA",
            resolved_at,
            "resolved",
            "sender",
            evidence="Solved, thanks to Carol.",
            helper="Carol",
        ),
    ]
    view = only(derive([inquiry("OOO-AAAAAA")], signals, END))
    assert view.status == "resolved"
    assert not view.flagged
    assert view.resolved_by == "sender"
    assert view.resolved_at == resolved_at
    assert view.evidence == "Solved, thanks to Carol."
    assert view.helper == "Carol"
    assert view.time_to_resolve == timedelta(days=2, hours=3)


def test_reopened_by_the_owner_is_open_and_not_flagged() -> None:
    """The owner's reopen undoes a resolution and clears an earlier urgency flag."""
    signals = [
        signal("OOO-AAAAAA", T0 + timedelta(hours=1), "open", flagged=True),
        signal("OOO-AAAAAA", T0 + timedelta(hours=2), "resolved", "owner", evidence="done"),
        signal("OOO-AAAAAA", T0 + timedelta(hours=3), "reopened"),
    ]
    view = only(derive([inquiry("OOO-AAAAAA")], signals, END))
    assert (view.status, view.flagged, view.resolved_by) == ("open", False, None)
    assert view.last_event.startswith("You reopened it")


def test_signals_after_at_are_ignored() -> None:
    """The status at ``at`` knows nothing of what happened later; an inquiry that had not yet
    arrived at ``at`` is not in it at all."""
    at = T0 + timedelta(days=1)
    signals = [signal("OOO-AAAAAA", at + timedelta(seconds=1), "resolved", "delegate")]
    inquiries = [inquiry("OOO-AAAAAA"), inquiry("OOO-BBBBBB", at + timedelta(minutes=1))]
    view = only(derive(inquiries, signals, at))
    assert view.ref == "OOO-AAAAAA"
    assert view.status == "open"
    # A signal exactly at ``at`` counts.
    signals.append(signal("OOO-AAAAAA", at, "resolved", "network"))
    assert only(derive(inquiries, signals, at)).resolved_by == "network"


def test_signals_apply_in_time_order_whatever_the_input_order() -> None:
    """The later signal wins even when it comes first in the list."""
    signals = [
        signal("OOO-AAAAAA", T0 + timedelta(hours=5), "resolved", "delegate", evidence="Done"),
        signal("OOO-AAAAAA", T0 + timedelta(hours=1), "open", flagged=True),
    ]
    assert only(derive([inquiry("OOO-AAAAAA")], signals, END)).resolved_by == "delegate"


def test_urgency_stays_until_something_resolves_it() -> None:
    """An urgent reminder then a plain "still need this": still flagged (the later reminder
    is no less urgent)."""
    signals = [
        signal("OOO-AAAAAA", T0 + timedelta(hours=1), "open", flagged=True, evidence="urgent"),
        signal("OOO-AAAAAA", T0 + timedelta(hours=2), "open", evidence="still need this"),
    ]
    view = only(derive([inquiry("OOO-AAAAAA")], signals, END))
    assert (view.status, view.flagged) == ("open", True)


def test_signals_of_other_inquiries_do_not_leak() -> None:
    """Each inquiry sees its own signals only; signals of unknown references are ignored."""
    signals = [
        signal("OOO-BBBBBB", T0 + timedelta(hours=1), "resolved", "network"),
        signal("OOO-ZZZZZZ", T0 + timedelta(hours=1), "resolved", "network"),
    ]
    views = derive([inquiry("OOO-AAAAAA"), inquiry("OOO-BBBBBB")], signals, END)
    assert [(v.ref, v.status) for v in views] == [
        ("OOO-AAAAAA", "open"),
        ("OOO-BBBBBB", "resolved"),
    ]


def test_resolved_without_by_falls_back_to_the_rule() -> None:
    """A resolution stored without ``by`` is attributed by its rule."""
    signals = [signal("OOO-AAAAAA", T0, "resolved", None, rule="delegate_answered")]
    assert only(derive([inquiry("OOO-AAAAAA")], signals, END)).resolved_by == "delegate"


def test_last_event_is_in_words_and_in_the_owners_time_zone() -> None:
    """The last thing that happened names who and quotes the evidence, with the time in the
    owner's zone (23:30 UTC is 00:30 the next day in Berlin)."""
    at = datetime(2027, 1, 5, 23, 30, tzinfo=UTC)
    signals = [
        signal(
            "OOO-AAAAAA",
            at,
            "resolved",
            "network",
            evidence="Raise the limit; we hit it too.",
            author="eve@example.net",
        )
    ]
    view = only(derive([inquiry("OOO-AAAAAA")], signals, END, timezone=BERLIN))
    assert view.last_event == (
        "eve@example.net (your network) answered in the thread: "
        "“Raise the limit; we hit it too.” (6 Jan 00:30)"
    )
    still = [signal("OOO-AAAAAA", at, "open", evidence="I still need this", flagged=False)]
    view = only(derive([inquiry("OOO-AAAAAA")], still, END, timezone=BERLIN))
    assert view.last_event == "Sender said it is still open: “I still need this” (6 Jan 00:30)"
    not_replied = only(derive([inquiry("OOO-AAAAAA", replied=False)], [], END))
    assert "no auto-reply" in not_replied.last_event


def test_a_naive_at_is_refused() -> None:
    """``at`` without a time zone is a programming error, not a guess."""
    with pytest.raises(ValueError, match="timezone-aware"):
        derive([], [], datetime(2027, 1, 1))


# --------------------------------------------------------------------------- the report model


def test_open_inquiries_come_first_vip_and_flagged_at_the_top_oldest_first() -> None:
    """Open: VIPs and flagged ones first (oldest first among them), then the other open ones
    oldest first; then the resolved ones, oldest first."""
    t = [T0 + timedelta(hours=i) for i in range(7)]
    inquiries = [
        inquiry("OOO-R2", t[6]),  # resolved, newer
        inquiry("OOO-O2", t[5]),  # open, newer
        inquiry("OOO-F1", t[4]),  # open, flagged
        inquiry("OOO-R1", t[3]),  # resolved, older
        inquiry("OOO-V1", t[2], audience="vip"),  # open VIP, older than the flagged one
        inquiry("OOO-O1", t[1]),  # open, oldest plain one
        inquiry("OOO-RV", t[0], audience="vip"),  # a resolved VIP stays with the resolved
    ]
    later = T0 + timedelta(days=1)
    signals = [
        signal("OOO-F1", later, "open", flagged=True),
        signal("OOO-R1", later, "resolved", "sender"),
        signal("OOO-R2", later, "resolved", "network"),
        signal("OOO-RV", later, "resolved", "delegate"),
    ]
    r = report(inquiries, signals)
    assert [v.ref for v in r.inquiries] == [
        "OOO-V1",
        "OOO-F1",
        "OOO-O1",
        "OOO-O2",
        "OOO-RV",
        "OOO-R1",
        "OOO-R2",
    ]
    assert [v.ref for v in r.open] == ["OOO-V1", "OOO-F1", "OOO-O1", "OOO-O2"]


def test_summary_counts_every_outcome() -> None:
    """Totals, resolved by each, open and flagged add up."""
    s = mixed().summary
    assert (s.total, s.resolved, s.open, s.flagged) == (5, 3, 2, 1)
    assert (
        s.resolved_by_network,
        s.resolved_by_delegate,
        s.resolved_by_sender,
        s.resolved_by_owner,
    ) == (1, 1, 1, 0)


def test_suppressed_are_counted_by_reason_not_listed() -> None:
    """Only counts per reason code, most frequent first; answered inquiries ("reply") and
    empty counts are not suppressions."""
    r = report([], [], {"robot_sender": 3, "reply": 9, "mailing_list": 12, "spam": 0, "loop": 3})
    assert list(r.suppressed.items()) == [("mailing_list", 12), ("loop", 3), ("robot_sender", 3)]
    assert r.suppressed_total == 18


def test_per_day_buckets_are_days_in_the_owners_time_zone() -> None:
    """An inquiry at 23:30 UTC on 5 Jan lands on 6 Jan in Berlin; every day of the window is
    there, empty ones too; the window ends at 08:00 on 11 Jan, so 11 Jan is its last day."""
    late = datetime(2027, 1, 5, 23, 30, tzinfo=UTC)
    inquiries = [inquiry("OOO-AAAAAA", late), inquiry("OOO-BBBBBB", late)]
    signals = [signal("OOO-BBBBBB", late + timedelta(hours=1), "resolved", "network")]
    days = dict(report(inquiries, signals).per_day)
    assert list(days) == [date(2027, 1, d) for d in range(4, 12)]
    assert days[date(2027, 1, 6)] == DayCounts(open=1, resolved_by_network=1)
    assert days[date(2027, 1, 5)] == DayCounts()
    assert sum(c.total for c in days.values()) == 2


def test_per_day_stops_at_a_window_end_at_midnight() -> None:
    """A window ending at midnight (owner's time) does not show the day it ends on."""
    end = datetime(2027, 1, 8, 0, 0, tzinfo=BERLIN)
    r = build_report(
        [],
        [],
        {},
        owner_name="Bob",
        timezone=BERLIN,
        window_start=datetime(2027, 1, 4, 0, 0, tzinfo=BERLIN),
        window_end=end,
        at=end,
    )
    assert [d for d, _ in r.per_day] == [date(2027, 1, d) for d in range(4, 8)]


def test_per_day_includes_each_resolved_outcome() -> None:
    """Each inquiry is counted once, on the day it arrived, under what became of it."""
    r = mixed()
    totals = DayCounts(**{key: sum(getattr(c, key) for _, c in r.per_day) for key in OUTCOMES})
    assert totals == DayCounts(
        open=2, resolved_by_network=1, resolved_by_delegate=1, resolved_by_sender=1
    )


def test_a_report_during_the_window_says_so_far() -> None:
    """Before the owner is back the headline says "so far", not "before you returned"."""
    at = T0 + timedelta(days=2)
    text = render_text(report([inquiry("OOO-AAAAAA")], [], at=at))
    assert "0 resolved so far." in text
    assert "status as of Wed 6 Jan 2027 10:00" in text
    assert "before you returned" in render_text(report([inquiry("OOO-AAAAAA")]))


def test_human_durations() -> None:
    """Durations the way people say them: two units at most, to the minute."""
    assert human_duration(timedelta(seconds=20)) == "under 1 min"
    assert human_duration(timedelta(minutes=45)) == "45 min"
    assert human_duration(timedelta(hours=3)) == "3 h"
    assert human_duration(timedelta(hours=3, minutes=5)) == "3 h 5 min"
    assert human_duration(timedelta(days=2, hours=3, minutes=59)) == "2 d 4 h"
    assert human_duration(timedelta(days=2)) == "2 d"
    assert human_duration(timedelta(hours=23, minutes=59, seconds=50)) == "1 d"


# --------------------------------------------------------------------------- renderers


def test_json_has_the_documented_schema_field_by_field() -> None:
    """Top level, summary, window and every inquiry field, with times in ISO 8601 carrying the
    owner's offset."""
    doc: dict[str, Any] = json.loads(render_json(mixed()))
    assert set(doc) == {
        "schema_version",
        "generated_at",
        "owner",
        "window",
        "summary",
        "suppressed",
        "per_day",
        "inquiries",
    }
    assert doc["schema_version"] == SCHEMA_VERSION == 1
    assert doc["generated_at"] == "2027-01-11T08:00:00+01:00"
    assert doc["owner"] == {"name": "Bob Example", "timezone": "Europe/Berlin"}
    assert doc["window"] == {
        "start": "2027-01-04T08:00:00+01:00",
        "end": "2027-01-11T08:00:00+01:00",
        "at": "2027-01-11T08:00:00+01:00",
    }
    assert doc["summary"] == {
        "total": 5,
        "resolved": 3,
        "resolved_by": {"network": 1, "delegate": 1, "sender": 1, "owner": 0},
        "open": 2,
        "flagged": 1,
        "suppressed": 15,
    }
    assert doc["suppressed"] == {"mailing_list": 12, "robot_sender": 3}
    assert doc["per_day"][0] == {
        "date": "2027-01-04",
        "open": 1,
        "resolved_by_network": 1,
        "resolved_by_delegate": 0,
        "resolved_by_sender": 0,
        "resolved_by_owner": 0,
    }
    assert len(doc["per_day"]) == 8

    refs = [i["ref"] for i in doc["inquiries"]]
    assert refs == ["OOO-AAAAAA", "OOO-DDDDDD", "OOO-BBBBBB", "OOO-CCCCCC", "OOO-EEEEEE"]
    vip, hostile, network, sender, _delegate = doc["inquiries"]
    assert vip == {
        "ref": "OOO-AAAAAA",
        "from": "ooo-aaaaaa@example.org",
        "from_name": "Alice",
        "subject": "Invoice | March",
        "received_at": "2027-01-04T10:00:00+01:00",
        "status": "open",
        "resolved_by": None,
        "resolved_at": None,
        "evidence": None,
        "flagged": True,
        "vip": True,
        "audience": "vip",
        "replied": True,
        "helper": None,
        "last_event": "Sender said it is urgent: “We still need this, urgent” (5 Jan 16:00)",
        "time_to_resolve_seconds": None,
        "unverified_signals": 0,
    }
    assert hostile["subject"] == HOSTILE_SUBJECT  # JSON is data: stored as received
    assert hostile["replied"] is False
    assert network["status"] == "resolved"
    assert network["resolved_by"] == "network"
    assert network["resolved_at"] == "2027-01-04T13:00:00+01:00"
    assert network["evidence"] == "You can request it in #infra, approved."
    assert network["time_to_resolve_seconds"] == 2 * 3600  # arrived 1 h after T0
    assert sender["helper"] == "@carol@hachyderm.io"


def test_every_json_field_is_documented() -> None:
    """docs/report-schema.md names every field the JSON report has, at every level."""
    doc = (SUPPORT_ROOT / "docs" / "report-schema.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `([a-z_]+)`", doc, re.MULTILINE))
    documented |= set(re.findall(r"`(resolved_by_[a-z]+)`", doc))
    data: dict[str, Any] = json.loads(render_json(mixed()))
    fields = set(data) | set(data["summary"]) | set(data["per_day"][0])
    fields |= set(data["inquiries"][0])
    assert fields <= documented, fields - documented


def test_csv_parses_with_one_row_per_inquiry() -> None:
    """A header row and one row per inquiry in report order, readable by the csv module."""
    text = render_csv(mixed())
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [row["ref"] for row in rows] == [
        "OOO-AAAAAA",
        "OOO-DDDDDD",
        "OOO-BBBBBB",
        "OOO-CCCCCC",
        "OOO-EEEEEE",
    ]
    first, _, network, sender, delegate = rows
    assert first["subject"] == "Invoice | March"
    assert (first["status"], first["flagged"], first["vip"]) == ("open", "yes", "yes")
    assert first["received_at"] == "2027-01-04T10:00:00+01:00"
    assert network["time_to_resolve"] == "2 h"
    assert network["time_to_resolve_seconds"] == "7200"
    assert sender["evidence"] == "Never mind, sorted | thanks"
    assert delegate["resolved_by"] == "delegate"
    assert delegate["time_to_resolve"] == "2 d 3 h"


def test_csv_cells_never_become_formulas_or_extra_lines() -> None:
    """A subject starting with "=" is prefixed with ' so a spreadsheet shows it as text, and
    a newline in a subject does not split the row."""
    r = report([inquiry("OOO-AAAAAA", subject='=HYPERLINK("http://evil.example","x")\nBcc: y')])
    (row,) = list(csv.DictReader(io.StringIO(render_csv(r), newline="")))
    assert row["subject"] == '\'=HYPERLINK("http://evil.example","x") Bcc: y'


def test_markdown_escapes_pipes_and_has_no_html() -> None:
    """Tables keep one row per inquiry (pipes escaped), the hostile subject is inert text, and
    the headline comes first."""
    text = render_markdown(mixed())
    assert text.startswith("# Out-of-office report for Bob Example\n")
    assert "**5 inquiries while you were away.**" in text
    assert "Invoice \\| March" in text
    assert "Never mind, sorted \\| thanks" in text
    assert "<script>" not in text
    assert "\\<script\\>alert(1)\\</script\\>" in text
    for line in text.splitlines():
        if line.startswith("| OOO-"):
            unescaped = re.findall(r"(?<!\\)\|", line)
            assert len(unescaped) == 6, line  # five columns
    assert "- 12 × mailing-list mail (List-\\* headers)" in text


def test_text_report_reads_top_down_and_drops_control_characters() -> None:
    """Headline, suppressed counts, open then resolved; an ANSI escape in a subject cannot
    reach the terminal."""
    inquiries = [inquiry("OOO-AAAAAA", subject="\x1b[2J\x1b[31mred\x07 alert")]
    text = render_text(report(inquiries, [], {"mailing_list": 4}))
    assert "\x1b" not in text and "\x07" not in text
    assert "Subject:   [2J [31mred alert" in text
    assert text.index("1 inquiry while you were away.") < text.index("STILL OPEN (1)")
    assert "4 messages not answered" in text and "4  mailing-list mail" in text
    full = render_text(mixed())
    assert full.index("STILL OPEN (2)") < full.index("OOO-AAAAAA  VIP  URGENT")
    assert full.index("OOO-AAAAAA") < full.index("RESOLVED (3)") < full.index("OOO-BBBBBB")
    assert "OOO-EEEEEE  resolved by your delegate after 2 d 3 h" in full
    assert "Evidence:  “Booked for Thursday.”" in full
    assert "Received:  Mon 4 Jan 10:00" in full


_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta"})
_VOID |= {"source", "track", "wbr"}


class _Checker(HTMLParser):
    """Tags must nest and close properly; collects what a browser would fetch or run."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in _VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))  # <rect .../> in the SVG

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:]}")
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def check_html(page: str) -> _Checker:
    checker = _Checker()
    checker.feed(page)
    checker.close()
    assert not checker.errors, checker.errors
    assert not checker.stack, f"unclosed: {checker.stack}"
    return checker


def test_html_is_self_contained_and_well_formed() -> None:
    """Nothing to fetch (no link, script, img or remote url), a phone viewport, an inline SVG
    chart with a title, and tags that nest and close."""
    page = render_html(mixed())
    checker = check_html(page)
    tags = [t for t, _ in checker.tags]
    assert "script" not in tags and "link" not in tags and "img" not in tags
    for tag, attrs in checker.tags:
        for name in ("src", "href"):
            value = attrs.get(name) or ""
            assert not value.startswith(("http", "//")), (tag, name, value)
    assert "url(" not in page and "@import" not in page
    assert "<svg" in page and '<title id="chart-title">' in page
    assert ("meta", {"name": "viewport", "content": "width=device-width, initial-scale=1"}) in (
        checker.tags
    )
    assert any(
        t == "meta" and (a.get("http-equiv") or "") == "Content-Security-Policy"
        for t, a in checker.tags
    )
    rects = [a for t, a in checker.tags if t == "rect" and a.get("fill", "").startswith("#")]
    assert len(rects) >= 5 + 5  # legend swatches and one segment per inquiry


def test_html_shows_a_hostile_subject_as_text() -> None:
    """``<script>alert(1)</script>`` in a subject appears as those characters, not as markup."""
    page = render_html(mixed())
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert HOSTILE_SUBJECT in "".join(check_html(page).text)


def test_html_lists_open_before_resolved_with_their_details() -> None:
    """The open section lists refs, senders and received times; the resolved one who resolved
    it, how long it took and the evidence."""
    page = render_html(mixed())
    opened, resolved = page.index('id="open"'), page.index('id="resolved"')
    assert opened < page.index("OOO-AAAAAA") < page.index("OOO-DDDDDD") < resolved
    assert resolved < page.index("OOO-BBBBBB")
    assert "Mon 4 Jan 10:00" in page
    assert "by your delegate <span class=nw>in 2\u00a0d\u00a03\u00a0h</span>" in page
    assert "“Booked for Thursday.”" in page
    assert "helped by @carol@hachyderm.io" in page


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_renders_an_empty_report(fmt: str) -> None:
    """No inquiries and no suppressed mail is a report too."""
    text = render(report([]), fmt)  # type: ignore[arg-type]
    assert text.endswith("\n")
    if fmt == "json":
        assert json.loads(text)["summary"]["total"] == 0
    if fmt == "html":
        check_html(text)
        assert "Nothing still needs you." in text


def test_render_refuses_an_unknown_format() -> None:
    """The error names the formats there are."""
    with pytest.raises(ValueError, match="text, markdown, html, json, csv"):
        render(report([]), "pdf")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- write_atomic


def test_write_atomic_is_private_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    """The file is 0600 whatever the umask, replaces an older one (and its looser mode), and
    only the file itself is left in the folder."""
    target = tmp_path / "report.html"
    target.write_text("old", encoding="utf-8")
    target.chmod(0o644)
    old_umask = os.umask(0o002)
    try:
        write_atomic(target, "new ✓\n")
    finally:
        os.umask(old_umask)
    assert target.read_text(encoding="utf-8") == "new ✓\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert os.listdir(tmp_path) == ["report.html"]


def test_write_atomic_keeps_the_old_file_when_writing_fails(tmp_path: Path) -> None:
    """A failure half-way (here: text that cannot be encoded) leaves the previous report
    whole and no temporary file behind."""
    target = tmp_path / "report.txt"
    write_atomic(target, "complete\n")
    with pytest.raises(UnicodeEncodeError):
        write_atomic(target, "half \ud800")
    assert target.read_text(encoding="utf-8") == "complete\n"
    assert os.listdir(tmp_path) == ["report.txt"]


# --------------------------------------------------------------------------- in a browser


def _chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail(
            "chromium is not installed: run scripts/install-browser (scripts/test does)",
            pytrace=False,
        )
    return path


def test_html_report_in_headless_chromium(tmp_path: Path) -> None:
    """Chromium loads the report with no console message (nothing blocked, nothing run), its
    DOM has the chart and the open inquiries first, the hostile subject stayed text, and a
    phone-size screenshot is taken."""
    page = tmp_path / "report.html"
    write_atomic(page, render_html(mixed()))
    base = [
        _chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--enable-logging=stderr",
        "--v=0",
    ]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        profile = tmp_path / f"profile-{len(list(tmp_path.iterdir()))}"
        done = subprocess.run(
            [*base, f"--user-data-dir={profile}", *args, page.as_uri()],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
        assert not console, console
        return done

    dom = run("--dump-dom").stdout
    checker = _Checker()
    checker.feed(dom)
    tags = [t for t, _ in checker.tags]
    assert "svg" in tags and "script" not in tags
    assert dom.index("<svg") < dom.index('id="open"') < dom.index("OOO-AAAAAA")
    assert dom.index("OOO-AAAAAA") < dom.index('id="resolved"')
    assert HOSTILE_SUBJECT in "".join(checker.text)

    png = tmp_path / "report.png"
    run("--hide-scrollbars", f"--screenshot={png}", "--window-size=420,1400")
    head = png.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", head[16:24]) == (420, 1400)
