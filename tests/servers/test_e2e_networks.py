"""End to end on real servers: what followers answered becomes evidence in the report (issue 12).

The `ooo` daemon runs as a subprocess with a watched Mastodon entry whose api_url is a
loopback server answering the documented API (tests/support/fake_mastodon.py), driven by the
real Mastodon.py client inside the daemon; mail goes through the private Postfix and Dovecot.
An inquiry arrives, the reply goes out with the "ask there" tag, the asker posts the question
on the network, a follower answers, the asker thanks them, and `ooo report --format json`
shows the inquiry resolved by the network, with the helper and the link.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from ooo.core.refs import find_refs
from tests.support.fake_mastodon import TOKEN, FakeMastodon
from tests.support.mailstack import MailStack, User
from tests.support.responder import Responder, inquiry, wait_for


@pytest.fixture
def mastodon() -> Iterator[FakeMastodon]:
    server = FakeMastodon().start()
    try:
        yield server
    finally:
        server.stop()


def network_config(mastodon: FakeMastodon) -> str:
    return f"""
[[network]]
kind = "mastodon"
handle = "@{mastodon.owner.username}@hachyderm.test"
watch = true
api_url = "{mastodon.url}"
token_command = "printf {TOKEN}"
poll_interval = "5s"
"""


def asked_ref(stack: MailStack, asker: User) -> str:
    """The reference of the auto-reply the asker received."""
    (reply,) = stack.wait_for_mail(asker, 1, timeout=30)
    refs = find_refs(reply.decode(errors="replace"))
    assert refs, reply[:500]
    return refs[0]


def network_signals(r: Responder) -> list[tuple[str, str, str]]:
    return [
        (row[0], row[1] or "", row[2] or "")
        for row in r.query("SELECT kind, helper, link FROM signal WHERE network IS NOT NULL")
    ]


def test_a_follower_answers_on_mastodon_and_the_report_says_so(
    mail_stack: MailStack, mail_user, tmp_path: Path, mastodon: FakeMastodon
) -> None:  # type: ignore[no-untyped-def]
    """The whole story: reply with the tag, the question on Mastodon, a follower's answer,
    the asker's thanks -> resolved by the network, with the follower's handle and the post's
    link, in the JSON report."""
    bob, alice = mail_user("bob"), mail_user("alice")
    r = Responder(mail_stack, bob, tmp_path, extra=network_config(mastodon))
    r.start()
    try:
        mail_stack.send(inquiry(alice, bob, "Export API question"), alice.address, [bob.address])
        ref = asked_ref(mail_stack, alice)
        asker = mastodon.account("alice", "elsewhere.test")
        ana = mastodon.account("ana", "hachyderm.test", name="Ana")
        question = mastodon.post(
            asker,
            "How do I export as CSV?",
            mentions=(mastodon.owner,),
            tags=(ref.replace("-", ""),),
        )
        answer = mastodon.post(ana, "Use /v2/export?format=csv.", reply_to=question["id"])
        mastodon.post(asker, "Thanks, that solved it!", reply_to=answer["id"])
        wait_for(
            lambda: any(kind == "resolved" for kind, *_ in network_signals(r)),
            60,
            "the network's answer to be recorded",
        )
    finally:
        r.stop()
    done = r.cli("report", "--format", "json")
    assert done.returncode == 0, done.stderr
    (item,) = json.loads(done.stdout)["inquiries"]
    assert (item["status"], item["resolved_by"]) == ("resolved", "network")
    assert item["helper"] == "ana@hachyderm.test" or item["helper"].lstrip("@").startswith("ana")
    assert answer["url"] in json.dumps(item)
    assert len(mail_stack.fetch_all(alice)) == 1  # the follow-up posts are never mail


def test_a_network_that_is_down_delays_nothing_and_loses_nothing(
    mail_stack: MailStack, mail_user, tmp_path: Path, mastodon: FakeMastodon
) -> None:  # type: ignore[no-untyped-def]
    """While Mastodon answers 503, mail is still answered at once; when it is back, the
    answer given meanwhile is recorded once."""
    bob, alice, carl = mail_user("bob"), mail_user("alice"), mail_user("carl")
    r = Responder(mail_stack, bob, tmp_path, extra=network_config(mastodon))
    r.start()
    try:
        mail_stack.send(inquiry(alice, bob, "Export API question"), alice.address, [bob.address])
        ref = asked_ref(mail_stack, alice)
        mastodon.fail_next(10_000, status=503)
        asker = mastodon.account("alice", "elsewhere.test")
        ana = mastodon.account("ana", "hachyderm.test")
        question = mastodon.post(
            asker, "Anyone?", mentions=(mastodon.owner,), tags=(ref.replace("-", ""),)
        )
        mastodon.post(ana, "Use /v2/export?format=csv.", reply_to=question["id"])
        # A new inquiry while the network is down is answered as quickly as ever.
        mail_stack.send(inquiry(carl, bob, "Another question"), carl.address, [bob.address])
        wait_for(lambda: mail_stack.fetch_all(carl), 30, "carl's auto-reply during the outage")
        wait_for(
            lambda: "503" in str(r.query("SELECT last_error FROM network_watcher")),
            60,
            "the outage to show in the watcher's state",
        )
        assert network_signals(r) == []
        mastodon.failures.clear()
        wait_for(lambda: network_signals(r), 120, "the answer after the network came back")
        wait_for(
            lambda: r.query("SELECT state FROM network_watcher") == [("ok",)],
            60,
            "the watcher to recover",
        )
    finally:
        r.stop()
    assert len(network_signals(r)) == 1  # recorded once, not once per retry
