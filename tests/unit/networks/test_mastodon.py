"""The Mastodon watcher through the real Mastodon.py client against a loopback server that
answers the documented API (tests/support/fake_mastodon.py): mentions with Link-header paging,
threads, the tag timeline (404 = nothing yet), rate limits, 5xx, a revoked token, and hostile
statuses."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from ooo.core.social import tag_for
from ooo.networks.base import NetworkAuthError, NetworkUnavailable
from ooo.networks.mastodon import MastodonWatcher
from ooo.networks.runner import RunnerSettings, Watch, WatchLoop
from ooo.store import Store
from tests.support.fake_mastodon import INSTANCE, TOKEN, FakeMastodon
from tests.support.helpers import Clock
from tests.unit.networks.conftest import AddInquiry

REF = "OOO-7K3Q9M"
TAG = tag_for(REF)
NOW = datetime.now(UTC)
SINCE = NOW - timedelta(days=1)


@pytest.fixture
def server() -> Iterator[FakeMastodon]:
    with FakeMastodon() as fake:
        yield fake


def watcher(server: FakeMastodon, token: str = TOKEN, **kwargs: object) -> MastodonWatcher:
    return MastodonWatcher(
        handle=f"@bob@{INSTANCE}",
        api_url=server.url,
        token=lambda: token,
        timeout=10.0,
        **kwargs,  # type: ignore[arg-type]
    )


def ask(server: FakeMastodon, minutes: float = -60) -> dict[str, object]:
    alice = server.account("alice", "example.social", "Alice Asker")
    return server.post(
        alice,
        "Question for my network while @bob is away: the deploy fails",
        mentions=(server.owner,),
        tags=(TAG,),
        at=NOW + timedelta(minutes=minutes),
    )


def test_a_mention_with_the_tag_becomes_a_post(server: FakeMastodon) -> None:
    """The question arrives through the owner's notifications: its link is the status url,
    the author is @user@instance, the HTML is text, the tag is read from tags[].name, and
    the cursor is the notification's id."""
    status = ask(server)
    with watcher(server) as w:
        batch = w.fetch_new(None, SINCE)
    [post] = batch.posts
    assert post.id == status["id"] and post.link == status["url"]
    assert post.author == "@alice@example.social" and post.author_name == "Alice Asker"
    assert (
        post.text == "@bob Question for my network while @bob is away: the deploy fails #OOO7K3Q9M"
    )
    assert post.tags == ("ooo7k3q9m",) and post.created_at.tzinfo is not None
    assert batch.cursor == server.notifications[-1]["id"]
    assert w.own == (f"@bob@{INSTANCE}",)


def test_new_mentions_are_read_after_the_cursor_through_link_paging(server: FakeMastodon) -> None:
    """After the cursor, every new mention is read once, oldest pages first through the
    Link header's "prev" (min_id) pages; nothing before the cursor comes back."""
    alice = server.account("alice", "example.social")
    ask(server)
    with watcher(server, page_limit=40) as w:
        first = w.fetch_new(None, SINCE)
        for n in range(100):
            server.post(alice, f"mention {n}", mentions=(server.owner,))
        second = w.fetch_new(first.cursor, SINCE)
        third = w.fetch_new(second.cursor, SINCE)
    assert sorted(p.text for p in second.posts) == sorted(f"@bob mention {n}" for n in range(100))
    assert third.posts == [] and third.cursor == second.cursor
    queries = [
        parse_qs(urlsplit(r.split(" ", 1)[1]).query)
        for r in server.api_requests("/api/v1/notifications")
    ]
    tops = _page_tops(server, first.cursor, 40)
    assert tops[-1] == second.cursor
    # The pages after the cursor, then an empty page; the third poll asks after the last.
    min_ids = [q["min_id"][0] for q in queries if "min_id" in q]
    assert min_ids == [first.cursor, *tops, second.cursor]
    assert all(q.get("types[]") == ["mention"] for q in queries)


def _page_tops(server: FakeMastodon, after: str, size: int) -> list[str]:
    ids = sorted((n["id"] for n in server.notifications if int(n["id"]) > int(after)), key=int)
    return [ids[min(i + size, len(ids)) - 1] for i in range(0, len(ids), size)]


def test_a_first_poll_pages_back_to_the_window_start(server: FakeMastodon) -> None:
    """Without a cursor, mentions are read newest first through the "next" pages until one
    is older than the window's start; older ones are left out."""
    alice = server.account("alice", "example.social")
    for n in range(5):
        server.post(alice, f"old {n}", mentions=(server.owner,), at=SINCE - timedelta(hours=n + 1))
    for n in range(7):
        server.post(alice, f"new {n}", mentions=(server.owner,), at=NOW - timedelta(minutes=n))
    with watcher(server, page_limit=3) as w:
        batch = w.fetch_new(None, SINCE)
    assert sorted(p.text for p in batch.posts) == sorted(f"@bob new {n}" for n in range(7))
    assert any("max_id" in r for r in server.api_requests("/api/v1/notifications"))


def test_a_thread_is_read_with_its_context_and_each_reply_knows_its_root(
    server: FakeMastodon,
) -> None:
    """statuses/:id/context gives the replies, also those that do not mention the owner; a
    thread that is gone is empty."""
    question = ask(server)
    ana = server.account("ana", None, "Ana")
    answer = server.post(ana, "Restart the runner with --clean.", reply_to=str(question["id"]))
    deeper = server.post(ana, "(and clear the cache)", reply_to=str(answer["id"]))
    with watcher(server) as w:
        posts = w.thread(str(question["id"]))
        assert w.thread("1") == []
    assert [p.id for p in posts] == [answer["id"], deeper["id"]]
    assert {p.root for p in posts} == {question["id"]}
    assert posts[0].author == f"@ana@{INSTANCE}" and posts[0].reply_to == question["id"]


def test_the_tag_timeline_is_the_fallback_and_an_unknown_tag_is_nothing_yet(
    server: FakeMastodon,
) -> None:
    """An unknown tag answers 404: no posts and no error. A known one lists its statuses."""
    with watcher(server) as w:
        assert w.search(TAG, SINCE) == []
        alice = server.account("alice", "example.social")
        status = server.post(alice, "Anyone?", tags=(TAG,))
        assert [p.id for p in w.search(TAG, SINCE)] == [status["id"]]
    assert server.api_requests(f"/api/v1/timelines/tag/{TAG}")


def test_a_rate_limit_reports_when_the_window_resets(server: FakeMastodon) -> None:
    """A 429 becomes NetworkUnavailable with retry_after set from X-RateLimit-Reset; the
    library's own waiting is off (ratelimit_method="throw")."""
    with watcher(server) as w:
        server.spend_budget(remaining=0, reset_in=120.0)
        with pytest.raises(NetworkUnavailable, match="429") as err:
            w.fetch_new(None, SINCE)
    assert err.value.retry_after is not None and 100 < err.value.retry_after <= 121


def test_a_nearly_spent_budget_asks_the_runner_to_pause(server: FakeMastodon) -> None:
    """When the rate-limit headers say only a few requests are left, cooldown() asks for a
    pause until the window resets."""
    with watcher(server) as w:
        assert w.cooldown() is None
        server.spend_budget(remaining=5, reset_in=200.0)
        w.fetch_new(None, SINCE)
        wait = w.cooldown()
    assert wait is not None and 150 < wait <= 201


def test_server_errors_are_retried_later_with_the_wait_they_ask(server: FakeMastodon) -> None:
    """A 503 with Retry-After is NetworkUnavailable with that wait; the next call works."""
    with watcher(server) as w:
        server.fail_next(1, 503, {"Retry-After": "30"})
        with pytest.raises(NetworkUnavailable, match="503") as err:
            w.fetch_new(None, SINCE)
        assert err.value.retry_after == 30.0
        server.fail_next(1, 502)
        with pytest.raises(NetworkUnavailable, match="502"):
            w.thread("1")
        assert w.fetch_new(None, SINCE).posts == []


def test_a_reset_connection_is_read_again_once(server: FakeMastodon) -> None:
    """A read whose connection is reset (a dropped keep-alive, a restarting proxy) is tried
    again at once: signing in and reading survive one reset each; two in a row are
    NetworkUnavailable, and nothing is left over for the next call."""
    server.reset_next(1)
    with watcher(server) as w:
        signed_in = server.api_requests("/api/v1/accounts/verify_credentials")
        assert len(signed_in) == 2  # the reset one, then the one that was answered
        server.reset_next(1)
        assert w.fetch_new(None, SINCE).posts == []
        server.reset_next(2)
        with pytest.raises(NetworkUnavailable, match="Connection abo"):
            w.fetch_new(None, SINCE)
        assert server.resets == 0
        assert w.fetch_new(None, SINCE).posts == []


def test_a_revoked_token_is_an_auth_error(server: FakeMastodon) -> None:
    """401 on sign-in or later is NetworkAuthError, never retried as if the network were
    down; a 403 (a token without the read scopes) too."""
    with pytest.raises(NetworkAuthError, match="401"):
        watcher(server, token="wrong").open()
    with watcher(server) as w:
        server.revoke()
        with pytest.raises(NetworkAuthError, match="revoked or is wrong"):
            w.fetch_new(None, SINCE)
    server.revoked.clear()
    server.fail_next(1, 403)
    with pytest.raises(NetworkAuthError, match="read:notifications"):
        watcher(server).open()


def test_a_network_that_cannot_be_reached_is_unavailable() -> None:
    """A refused connection is NetworkUnavailable, not a crash."""
    with FakeMastodon() as fake:
        url = fake.url
    w = MastodonWatcher(handle=f"@bob@{INSTANCE}", api_url=url, token=lambda: TOKEN,
                        timeout=2.0)  # fmt: skip
    with pytest.raises(NetworkUnavailable):
        w.open()


HOSTILE = (
    '<p>Hi<script>alert("x")</script> <span class="invisible">https://</span>'
    '<span class="ellipsis">evil.example/a</span><span class="invisible">bc</span>'
    "\r\nBcc: victim@example.org <style>p{}</style>&#x202e;gnp.exe "
    + "<b>" * 5000
    + "Restart it, that fixes it.</p>"
)


def test_hostile_html_and_fields_are_reduced_to_safe_text(server: FakeMastodon) -> None:
    """Script and style are dropped, Mastodon's invisible link parts too, line breaks stay
    in the text and never in a name, a javascript: url falls back to the uri, and a status
    without an account is skipped without costing the others."""
    question = ask(server)
    eve = server.account("eve", "evil.example", "Eve\r\nBcc: x@example.org\u202e")
    status = server.post(eve, "", content=HOSTILE, reply_to=str(question["id"]),
                         url="javascript:alert(1)")  # fmt: skip
    broken = server.post(eve, "broken", reply_to=str(question["id"]))
    del broken["account"]
    with watcher(server) as w:
        posts = w.thread(str(question["id"]))
    [post] = posts
    assert post.id == status["id"] and post.link == status["uri"]
    assert "script" not in post.text and "alert" not in post.text and "p{}" not in post.text
    assert "evil.example/a…" in post.text and "Restart it, that fixes it." in post.text
    assert post.author_name == "Eve Bcc: x@example.org"


def test_end_to_end_a_followers_answer_resolves_the_inquiry(
    server: FakeMastodon, store: Store, add_inquiry: AddInquiry
) -> None:
    """Through the runner: the question (a mention), a follower's answer in its thread that
    does not mention the owner, the asker's thanks; with an outage in between. The inquiry
    is resolved by the network with the helper and the link, each signal once."""
    add_inquiry(REF, received_at=NOW - timedelta(hours=2))
    question = ask(server, minutes=-90)
    ana = server.account("ana", None, "Ana")
    alice = next(a for a in server.accounts.values() if a.username == "alice")
    clock = Clock(NOW)
    settings = RunnerSettings(window_start=SINCE)
    w = watcher(server)
    loop = WatchLoop(Watch(w), store, settings, clock, lambda: 0.5)
    assert loop.poll().matched == 1
    answer = server.post(ana, "Set CI=1 in the job, then it deploys.", reply_to=str(question["id"]),
                         at=NOW - timedelta(minutes=30))  # fmt: skip
    server.fail_next(1, 503)
    assert loop.poll().error is not None
    server.post(alice, "thanks, that solved it!", reply_to=str(answer["id"]),
                mentions=(ana,), at=NOW - timedelta(minutes=20))  # fmt: skip
    clock.advance(minutes=5)
    assert loop.poll().signals == 2
    assert loop.poll().signals == 0
    w.close()
    answered, thanked = store.network_signals(REF)
    assert (answered.rule, answered.helper, answered.link) == (
        "network_answered", f"@ana@{INSTANCE}", answer["url"],
    )  # fmt: skip
    assert (thanked.rule, thanked.by, thanked.helper) == (
        "sender_says_resolved", "network", f"@ana@{INSTANCE}",
    )  # fmt: skip
