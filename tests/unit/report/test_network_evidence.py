"""Evidence from the owner's network in the report (issue 12): a post that answered an inquiry
is a signal with its network, helper and link; email and network evidence make one story,
oldest first; every format shows the helper and the link, and a hostile post comes out inert.

A report without network evidence is byte for byte what it was (the other report tests and the
golden files pin that); here the new fields are checked to be absent from such a report.
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime, timedelta
from typing import Any

import pytest

from ooo.core.social import NetworkSignal
from ooo.core.tracking import SignalEvent
from ooo.core.wording import network_answer, safe_link, story
from ooo.report import (
    CSV_COLUMNS,
    FORMATS,
    NETWORK_COLUMNS,
    Report,
    derive,
    render,
    render_csv,
    render_html,
    render_json,
    render_markdown,
    render_text,
)
from ooo.store import Store
from tests.support import ROOT
from tests.support.helpers import tracked
from tests.unit.report.test_report import (
    BERLIN,
    END,
    T0,
    check_html,
    inquiry,
    mixed,
    only,
    report,
    signal,
)

ANA = "@ana@hachyderm.io"
ASKER = "@alice@x.social"
ANSWER_LINK = "https://hachyderm.io/@ana/111"
THANKS_LINK = "https://x.social/@alice/112"
REF = "OOO-AAAAAA"


def post(
    at: datetime,
    kind: str = "resolved",
    by: str | None = "network",
    *,
    rule: str = "network_answered",
    evidence: str = "Use /v2/export?format=csv.",
    author: str = ANA,
    helper: str | None = ANA,
    network: str = "mastodon",
    link: str | None = ANSWER_LINK,
    flagged: bool = False,
    ref: str = REF,
) -> SignalEvent:
    """A signal from a post, as ``Store.signals()`` hands it out."""
    return SignalEvent(
        ref=ref,
        at=at,
        kind=kind,  # type: ignore[arg-type]
        by=by,  # type: ignore[arg-type]
        rule=rule,
        evidence=evidence,
        author=author,
        helper=helper,
        flagged=flagged,
        network=network,
        link=link,
    )


def answered_then_thanked() -> list[SignalEvent]:
    """Ana answers on Mastodon 3 h after the mail; the asker thanks her there an hour later."""
    return [
        post(T0 + timedelta(hours=3)),
        post(
            T0 + timedelta(hours=4),
            rule="sender_says_resolved",
            evidence="Thanks, that solved it!",
            author=ASKER,
            link=THANKS_LINK,
        ),
    ]


def network_report() -> Report:
    """One inquiry the network resolved (with an email from the sender in between), one
    email-only inquiry, and one still open on Bluesky after a hostile post."""
    signals = [
        *answered_then_thanked(),
        signal(REF, T0 + timedelta(hours=2), "open", evidence="Any news?", author="a@example.org"),
        signal(
            "OOO-CCCCCC",
            T0 + timedelta(hours=5),
            "resolved",
            "delegate",
            evidence="Booked.",
            author="carol@example.com",
        ),
        hostile_post("OOO-BBBBBB", T0 + timedelta(hours=6)),
    ]
    inquiries = [
        inquiry(REF, T0, name="Alice", subject="Export API"),
        inquiry("OOO-BBBBBB", T0 + timedelta(hours=1), subject="Still stuck"),
        inquiry("OOO-CCCCCC", T0 + timedelta(hours=2), subject="Lunch"),
    ]
    return report(inquiries, signals)


HOSTILE_TEXT = '<script>alert("x")</script>\x1b[31m still \x07stuck <img src=x onerror=alert(1)>'


def hostile_post(
    ref: str, at: datetime, link: str = "javascript:alert(document.cookie)"
) -> SignalEvent:
    return post(
        at,
        "open",
        None,
        rule="sender_still_open",
        evidence=HOSTILE_TEXT,
        author='@evil"><script>@x.social',
        helper=None,
        network="bluesky",
        link=link,
        ref=ref,
    )


# --------------------------------------------------------------------------- the model


def test_a_post_that_resolves_knows_where_and_by_whom() -> None:
    """Resolved by the network through Mastodon: the helper, the network, the link of the
    helper's own answer and its time (the asker's thanks resolved it later)."""
    view = only(derive([inquiry(REF, T0)], answered_then_thanked(), END, timezone=BERLIN))
    assert (view.status, view.resolved_by, view.helper) == ("resolved", "network", ANA)
    assert view.resolved_at == T0 + timedelta(hours=4)
    assert view.evidence == "Thanks, that solved it!"
    assert view.answer is not None
    assert view.answer.network == "mastodon"
    assert view.answer.link == ANSWER_LINK  # Ana's answer, not the asker's thanks
    assert view.answer.at == T0 + timedelta(hours=3)
    words = network_answer(view)
    assert words is not None
    assert words.sentence() == (
        f"@ana@hachyderm.io answered on Mastodon ({ANSWER_LINK}), 3 h after the question"
    )
    assert view.last_event == (
        "Sender said it is resolved on Mastodon, helped by @ana@hachyderm.io: "
        "“Thanks, that solved it!” (4 Jan 14:00)"
    )


def test_email_and_network_evidence_are_one_story_oldest_first() -> None:
    """Signals from both arrive in any order; the story has them all by time, each saying
    where it happened, the email ones without a network or link."""
    signals = [
        signal(REF, T0 + timedelta(hours=5), "resolved", "sender", evidence="RESOLVED thanks"),
        *answered_then_thanked(),
        signal(REF, T0 + timedelta(hours=1), "open", evidence="Any news?"),
    ]
    view = only(derive([inquiry(REF, T0)], signals, END))
    assert [e.at for e in view.story] == [T0 + timedelta(hours=h) for h in (1, 3, 4, 5)]
    assert view.from_network
    steps = story(view, BERLIN)
    assert [(s.when, s.network, s.link) for s in steps] == [
        ("4 Jan 11:00", None, None),
        ("4 Jan 13:00", "Mastodon", ANSWER_LINK),
        ("4 Jan 14:00", "Mastodon", THANKS_LINK),
        ("4 Jan 15:00", None, None),
    ]
    assert steps[1].words == "@ana@hachyderm.io answered on Mastodon: “Use /v2/export?format=csv.”"
    assert steps[0].words == "Sender said it is still open: “Any news?”"


def test_the_senders_email_confirming_a_network_answer_keeps_the_credit() -> None:
    """ "RESOLVED, thanks" by email after Ana's answer (naming nobody) confirms it: still
    resolved by the network, with Ana and her link; the time and sentence are the email's."""
    signals = [
        post(T0 + timedelta(hours=3)),
        signal(REF, T0 + timedelta(hours=5), "resolved", "sender", evidence="RESOLVED, thanks"),
    ]
    view = only(derive([inquiry(REF, T0)], signals, END))
    assert (view.resolved_by, view.helper, view.evidence) == ("network", ANA, "RESOLVED, thanks")
    assert view.time_to_resolve == timedelta(hours=5)
    assert view.answer is not None and view.answer.link == ANSWER_LINK


def test_an_email_naming_someone_else_or_a_reopen_takes_the_credit_back() -> None:
    """The sender naming the delegate resolves it by the delegate; the owner reopening it
    drops the network's answer; an email-only inquiry never has one."""
    delegate = signal(
        REF, T0 + timedelta(hours=5), "resolved", "delegate", evidence="Carol fixed it"
    )
    view = only(derive([inquiry(REF, T0)], [post(T0 + timedelta(hours=3)), delegate], END))
    assert (view.resolved_by, view.answer) == ("delegate", None)
    reopened = signal(REF, T0 + timedelta(hours=5), "reopened")
    view = only(derive([inquiry(REF, T0)], [post(T0 + timedelta(hours=3)), reopened], END))
    assert (view.status, view.answer, view.helper) == ("open", None, None)
    assert view.from_network  # the story still shows what happened on the network
    email = only(derive([inquiry(REF, T0)], [signal(REF, T0, "resolved", "network")], END))
    assert email.answer is None and not email.from_network


def test_the_headline_counts_network_resolutions() -> None:
    """The network's resolutions are counted like the email ones."""
    r = network_report()
    assert (r.summary.resolved_by_network, r.summary.resolved_by_delegate) == (1, 1)
    assert "2 resolved before you returned: 1 by your network, 1 by your delegate." in (
        render_text(r)
    )


@pytest.mark.parametrize(
    "link",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        'https://x.example/" onmouseover="alert(1)',
        "https://x.example/a b",
        "https://x.example/\x00",
        "https://user:pw@evil.example/",
        "//evil.example/",
        "ftp://files.example/",
        "https://x.example/<script>",
        "https://x.example/a|b",
    ],
)
def test_only_plain_http_links_are_ever_shown(link: str) -> None:
    """A link that is not a plain http(s) URL, or that could break out of an attribute or a
    Markdown link, is dropped."""
    assert safe_link(link) is None
    assert safe_link("https://Hachyderm.IO/@ana/1?x=(1)") == "https://hachyderm.io/@ana/1?x=(1)"


# --------------------------------------------------------------------------- every format


def test_text_shows_who_answered_where_with_the_link_and_the_story() -> None:
    text = render_text(network_report())
    assert (
        f"{REF}  resolved by your network: @ana@hachyderm.io answered on Mastodon "
        f"({ANSWER_LINK}), 3 h after the question"
    ) in text
    block = text[text.index(f"{REF}  resolved") :]
    assert "Helped by:" not in block  # said in the line above
    assert block.index("Story:") < block.index("4 Jan 12:00   Sender said it is still open")
    assert f"\n                  {ANSWER_LINK}\n" in block
    assert f"\n                  {THANKS_LINK}\n" in block
    lunch = text[text.index("OOO-CCCCCC") :]
    assert "Story:" not in lunch  # email only (and the last block): as before


def test_markdown_links_the_post_and_tells_the_story() -> None:
    text = render_markdown(network_report())
    assert (
        f"by your network: @ana@hachyderm.io answered on Mastodon ([post](<{ANSWER_LINK}>)), "
        "3 h after the question"
    ) in text
    stories = text[text.index("## What happened, email and networks together") :]
    assert f"**{REF}** Export API" in stories
    assert (
        "- 4 Jan 13:00: @ana@hachyderm.io answered on Mastodon: “Use /v2/export?format=csv.” "
        f"([post](<{ANSWER_LINK}>))" in stories
    )
    assert "OOO-CCCCCC" not in stories
    for line in text.splitlines():
        if line.startswith("| OOO-"):
            assert len(re.findall(r"(?<!\\)\|", line)) == 6, line


def test_html_links_the_post_safely() -> None:
    page = render_html(network_report())
    checker = check_html(page)
    anchors = [attrs for tag, attrs in checker.tags if tag == "a"]
    assert {a["href"] for a in anchors} == {ANSWER_LINK, THANKS_LINK}
    assert all(a["rel"] == "noopener noreferrer" for a in anchors)
    assert (
        f'@ana@hachyderm.io answered on <a href="{ANSWER_LINK}" rel="noopener noreferrer">'
        "Mastodon</a>, 3 h after the question"
    ) in page
    assert "4 Jan 13:00 · @ana@hachyderm.io answered on Mastodon" in page


def test_json_carries_the_answer_and_the_story() -> None:
    doc: dict[str, Any] = json.loads(render_json(network_report()))
    items = {i["ref"]: i for i in doc["inquiries"]}
    item = items[REF]
    assert (item["status"], item["resolved_by"], item["helper"]) == ("resolved", "network", ANA)
    assert item["network_answer"] == {
        "network": "mastodon",
        "helper": ANA,
        "link": ANSWER_LINK,
        "at": "2027-01-04T13:00:00+01:00",
    }
    assert [s["at"] for s in item["story"]] == [
        "2027-01-04T12:00:00+01:00",
        "2027-01-04T13:00:00+01:00",
        "2027-01-04T14:00:00+01:00",
    ]
    assert item["story"][1] == {
        "at": "2027-01-04T13:00:00+01:00",
        "kind": "resolved",
        "by": "network",
        "rule": "network_answered",
        "evidence": "Use /v2/export?format=csv.",
        "author": ANA,
        "helper": ANA,
        "flagged": False,
        "unverified": None,
        "network": "mastodon",
        "link": ANSWER_LINK,
        "text": "@ana@hachyderm.io answered on Mastodon: “Use /v2/export?format=csv.”",
    }
    assert item["story"][0]["network"] is None and item["story"][0]["link"] is None
    assert items["OOO-BBBBBB"]["network_answer"] is None
    assert "network_answer" not in items["OOO-CCCCCC"] and "story" not in items["OOO-CCCCCC"]
    assert doc["schema_version"] == 1


def test_the_new_json_fields_are_documented() -> None:
    """docs/report-schema.md names the fields of network_answer and of a story step."""
    doc = (ROOT / "docs" / "report-schema.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `([a-z_]+)`", doc, re.MULTILINE))
    items = json.loads(render_json(network_report()))["inquiries"]
    item = next(i for i in items if i["ref"] == REF)
    fields = set(item) | set(item["network_answer"]) | set(item["story"][0])
    assert fields <= documented, fields - documented
    for column in NETWORK_COLUMNS:
        assert f"`{column}`" in doc


def test_csv_gets_the_network_and_link_columns() -> None:
    rows = list(csv.DictReader(io.StringIO(render_csv(network_report()), newline="")))
    assert tuple(rows[0]) == CSV_COLUMNS + NETWORK_COLUMNS == (*CSV_COLUMNS, "network", "link")
    by_ref = {row["ref"]: row for row in rows}
    assert (by_ref[REF]["network"], by_ref[REF]["link"]) == ("mastodon", ANSWER_LINK)
    assert by_ref[REF]["helper"] == "'" + ANA  # a leading @ is never a formula
    assert (by_ref["OOO-CCCCCC"]["network"], by_ref["OOO-CCCCCC"]["link"]) == ("", "")


def test_a_report_without_network_evidence_has_no_new_field() -> None:
    """The JSON items and the CSV columns of an email-only report are those of before."""
    doc = json.loads(render_json(mixed()))
    assert not any({"network_answer", "story"} & set(i) for i in doc["inquiries"])
    assert next(csv.reader(io.StringIO(render_csv(mixed())))) == list(CSV_COLUMNS)
    assert "What happened, email and networks" not in render_markdown(mixed())
    assert "Story:" not in render_text(mixed())
    assert "<a " not in render_html(mixed())


# --------------------------------------------------------------------------- a hostile post


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_hostile_post_comes_out_inert(fmt: str) -> None:
    """HTML in the post, a javascript: link and control characters: no link but checked
    http(s) ones, no control character, and markup only as text (escaped in HTML and Markdown;
    a terminal or a spreadsheet shows "<script>" as those characters; JSON keeps the sentence
    as data)."""
    page = render(network_report(), fmt)  # type: ignore[arg-type]
    assert "javascript" not in page.lower()
    if fmt == "json":
        item = next(i for i in json.loads(page)["inquiries"] if i["ref"] == "OOO-BBBBBB")
        assert item["story"][0]["evidence"] == HOSTILE_TEXT  # data, not markup
        assert item["story"][0]["link"] is None
        assert "\x1b" not in page  # escaped by JSON: \u001b
        return
    assert "\x1b" not in page and "\x07" not in page and "\x00" not in page
    if fmt == "html":
        checker = check_html(page)
        assert all(tag not in ("script", "img") for tag, _ in checker.tags)
        assert {a["href"] for t, a in checker.tags if t == "a"} == {ANSWER_LINK, THANKS_LINK}
        assert '<script>alert("x")</script>' in "".join(checker.text)  # shown as text
    if fmt == "markdown":
        # Every "<" is escaped, but those opening a checked link's destination.
        assert not re.findall(r"(?<!\\)<(?!https?://)", page)
        assert "\\<script\\>" in page


def test_signals_from_the_store_carry_their_network_and_link() -> None:
    """Store.signals() hands out a post's network and link (NULL for email signals), so the
    report built from the store shows them."""
    store = tracked(Store(":memory:"))
    with store.transaction():
        store.record_message(
            mailbox="memory:test/INBOX",
            epoch=0,
            key="1",
            message_id="<m1@example.org>",
            sender="alice@example.org",
            from_name="Alice",
            subject="Export API",
            received_at=T0,
            decided_at=T0,
            reason="reply",
            detail="",
            ref=REF,
            audience="external",
        )
        store.add_signal(
            ref=REF,
            at=T0 + timedelta(hours=1),
            kind="open",
            by=None,
            rule="sender_still_open",
            evidence="Any news?",
            author="alice@example.org",
        )
        store.add_network_signal(
            NetworkSignal(
                ref=REF,
                at=T0 + timedelta(hours=3),
                kind="resolved",
                by="network",
                rule="network_answered",
                evidence="Use format=csv.",
                network="mastodon",
                author=ANA,
                helper=ANA,
                link=ANSWER_LINK,
            )
        )
    email, answer = store.signals(REF)
    assert (email.network, email.link) == (None, None)
    assert (answer.network, answer.link, answer.helper) == ("mastodon", ANSWER_LINK, ANA)
    r = report(store.inquiry_facts(), store.signal_events())
    assert only(r.inquiries).answer is not None
    assert f"answered on Mastodon ({ANSWER_LINK})" in render_text(r)
