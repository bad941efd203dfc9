"""Resolution tracking end to end: a week of mail through the real Postfix and Dovecot, the
daemon as a subprocess, then `ooo report --format json` checked field by field and the
resolution keywords read back over IMAP."""

from __future__ import annotations

import email
import email.policy
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.mailstack import MailStack, User
from tests.support.responder import Responder, inquiry, wait_for

pytestmark = pytest.mark.servers


def header(raw: bytes, name: str) -> str:
    return str(email.message_from_bytes(raw, policy=email.policy.default)[name])


def test_a_week_of_mail_and_the_report(
    mail_stack: MailStack, mail_user: Callable[[str], User], tmp_path: Path
) -> None:
    """Sender, delegate and network resolutions, an unresolved urgent inquiry and list mail
    end up in the JSON report with their evidence, and as keywords on the originals."""
    bob, carol = mail_user("bob"), mail_user("carol")
    alice, frank, gina, erin, dave, lists = (
        mail_user(n) for n in ("alice", "frank", "gina", "erin", "dave", "lists")
    )
    r = Responder(
        mail_stack,
        bob,
        tmp_path,
        extra=f'[delegate]\nname = "Carol Delegate"\nemail = "{carol.address}"\n',
    )
    r.start()
    try:
        sent: dict[str, bytes] = {}
        for who, subject in (
            (alice, "Export API"),
            (frank, "Slides"),
            (gina, "Budget"),
            (erin, "Contract"),
        ):
            raw = inquiry(who, bob, subject)
            sent[who.login] = raw
            mail_stack.send(raw, who.address, [bob.address])
        replies = {
            u.login: mail_stack.wait_for_mail(u, 1, timeout=30)[0]
            for u in (alice, frank, gina, erin)
        }
        r.wait_decided(4)

        # frank: "never mind" in a reply to our reply (quoting it).
        ours = header(replies[frank.login], "Message-ID")
        mail_stack.send(
            inquiry(frank, bob, "Re: Auto: Slides", In_Reply_To=ours, References=ours).replace(
                b"could you help me with this?",
                b"Never mind, I figured it out.\n\n> Your reference is OOO-XXXXXX",
            ),
            frank.address,
            [bob.address],
        )
        # gina: the delegate answers her in the thread, copying bob.
        gina_id = header(sent[gina.login], "Message-ID")
        mail_stack.send(
            inquiry(
                carol, gina, "Re: Budget", In_Reply_To=gina_id, References=gina_id, Cc=bob.address
            ).replace(b"could you help me with this?", b"The budget sheet is in the team drive."),
            carol.address,
            [gina.address, bob.address],
        )
        # alice: someone from the network answers her in the thread.
        alice_id = header(sent[alice.login], "Message-ID")
        mail_stack.send(
            inquiry(dave, alice, "Re: Export API", References=alice_id, Cc=bob.address).replace(
                b"could you help me with this?", b"Use the format=csv parameter."
            ),
            dave.address,
            [alice.address, bob.address],
        )
        # erin: still open, urgent.
        erin_id = header(sent[erin.login], "Message-ID")
        mail_stack.send(
            inquiry(erin, bob, "Re: Contract", In_Reply_To=erin_id).replace(
                b"could you help me with this?", b"I still need this, it is urgent."
            ),
            erin.address,
            [bob.address],
        )
        # list mail
        mail_stack.send(
            inquiry(lists, bob, "[dev] digest", List_Id="<dev.example.test>"),
            lists.address,
            [bob.address],
        )
        r.wait_decided(9)
        wait_for(
            lambda: (
                r.query(
                    "SELECT count(*) FROM message WHERE ref IS NOT NULL AND tagged IS NOT NULL"
                )[0][0]
                == 4
            ),
            30,
            "keywords set",
        )
    finally:
        r.stop()

    # No follow-up was answered: one automatic reply each, none to the delegate or the third
    # party (alice and gina also hold the answers written to them, which are not ours).
    def auto_replies(user: User) -> int:
        return sum(b"Auto-Submitted: auto-replied" in m for m in mail_stack.fetch_all(user))

    expected = {alice: 1, frank: 1, gina: 1, erin: 1, carol: 0, dave: 0, lists: 0}
    for user, count in expected.items():
        assert auto_replies(user) == count, user.login

    done = r.cli("report", "--format", "json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    by_from = {i["from"]: i for i in report["inquiries"]}
    assert set(by_from) == {u.address for u in (alice, frank, gina, erin)}
    assert report["summary"]["total"] == 4
    assert report["summary"]["resolved"] == 3
    assert report["summary"]["open"] == 1
    assert report["suppressed"] == {"mailing_list": 1}

    f = by_from[frank.address]
    assert (f["status"], f["resolved_by"]) == ("resolved", "sender")
    assert "figured it out" in f["evidence"].lower()
    assert "OOO-XXXXXX" not in f["evidence"]  # quoted text never counts
    g = by_from[gina.address]
    assert (g["status"], g["resolved_by"]) == ("resolved", "delegate")
    assert "budget sheet" in g["evidence"]
    a = by_from[alice.address]
    assert (a["status"], a["resolved_by"]) == ("resolved", "network")
    assert "format=csv" in a["evidence"]
    e = by_from[erin.address]
    assert (e["status"], e["resolved_by"], e["flagged"]) == ("open", None, True)
    assert report["inquiries"][0]["from"] == erin.address  # open and flagged come first
    for item in report["inquiries"]:
        assert item["ref"].startswith("OOO-") and item["subject"] and item["received_at"]
        assert (item["resolved_at"] is None) == (item["status"] == "open")

    # The keywords on bob's originals say the same.
    with mail_stack.imap(bob) as client:
        client.select_folder("INBOX", readonly=True)
        resolved = set(client.search(["KEYWORD", "$OooResolved"]))
        still_open = set(client.search(["KEYWORD", "$OooOpen"]))
        subjects = {
            uid: header(data[b"BODY[HEADER.FIELDS (SUBJECT)]"], "Subject")
            for uid, data in client.fetch(
                sorted(resolved | still_open), ["BODY.PEEK[HEADER.FIELDS (SUBJECT)]"]
            ).items()
        }
    assert sorted(subjects[u] for u in resolved) == ["Budget", "Export API", "Slides"]
    assert [subjects[u] for u in still_open] == ["Contract"]

    # The owner decides by hand; the report follows.
    ref = e["ref"]
    done = r.cli("resolve", ref, "--by", "owner", "--note", "Signed on Jan 6")
    assert done.returncode == 0, done.stderr
    report = json.loads(r.cli("report", "--format", "json").stdout)
    e = next(i for i in report["inquiries"] if i["ref"] == ref)
    assert (e["status"], e["resolved_by"], e["evidence"]) == (
        "resolved",
        "owner",
        "Signed on Jan 6",
    )
    assert r.cli("resolve", "OOO-NOPE00", "--by", "owner").returncode == 2
