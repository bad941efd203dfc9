"""The Bluesky watcher through the real atproto SDK against a loopback PDS that answers the
documented XRPC API (tests/support/fake_bluesky.py): one login, the session kept and reused,
notifications with paging, threads, search, rate limits, refused sessions and hostile
records."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from ooo.core.social import tag_for
from ooo.networks.base import MemoryVault, NetworkAuthError, NetworkUnavailable
from ooo.networks.bluesky import BlueskyWatcher, web_link
from ooo.networks.runner import RunnerSettings, Watch, WatchLoop
from ooo.store import Store
from tests.support.fake_bluesky import APP_PASSWORD, OWNER, FakeBluesky
from tests.support.helpers import Clock
from tests.unit.networks.conftest import AddInquiry

REF = "OOO-7K3Q9M"
TAG = tag_for(REF)
NOW = datetime.now(UTC)
SINCE = NOW - timedelta(days=1)


@pytest.fixture
def pds() -> Iterator[FakeBluesky]:
    with FakeBluesky() as fake:
        yield fake


def watcher(
    pds: FakeBluesky, vault: MemoryVault | None = None, password: str = APP_PASSWORD
) -> BlueskyWatcher:
    return BlueskyWatcher(
        handle=OWNER, api_url=pds.url, password=lambda: password, vault=vault, timeout=10.0
    )


def ask(pds: FakeBluesky, minutes: float = -60) -> str:
    alice = pds.profile("alice.example.test", "Alice Asker")
    return pds.post(
        alice,
        f"@{OWNER} Question for my network while Bob is away (#{TAG})",
        tags=(TAG,),
        at=NOW + timedelta(minutes=minutes),
    )


def test_a_mention_with_the_tag_becomes_a_post(pds: FakeBluesky) -> None:
    """The question arrives as a "mention" notification: its bsky.app link, the author's
    handle and name, the tag from the facets, the time from the record."""
    uri = ask(pds)
    with watcher(pds) as w:
        batch = w.fetch_new(None, SINCE)
    [post] = batch.posts
    rkey = uri.rsplit("/", 1)[-1]
    assert post.id == uri
    assert post.link == f"https://bsky.app/profile/alice.example.test/post/{rkey}"
    assert (post.author, post.author_name) == ("@alice.example.test", "Alice Asker")
    assert post.tags == ("ooo7k3q9m",) and post.text.endswith(f"(#{TAG})")
    indexed = pds.notifications[-1]["indexedAt"].replace("Z", "+00:00")
    assert datetime.fromisoformat(batch.cursor) == datetime.fromisoformat(indexed)
    assert w.own == (f"@{OWNER}", pds.owner.did)


def test_replies_and_quotes_are_read_and_likes_are_not_asked_for(pds: FakeBluesky) -> None:
    """listNotifications is asked for mention, reply and quote; a reply to the owner's post
    and a quote of it arrive (a quote as a reply to what it quotes)."""
    own = pds.post(pds.owner, "I am away until Monday.")
    carol = pds.profile("carol.example.test")
    reply = pds.post(carol, "Enjoy!", reply_to=own)
    quoted = pds.post(carol, "Bob is away, ask me instead", quote=own)
    with watcher(pds) as w:
        posts = {p.id: p for p in w.fetch_new(None, SINCE).posts}
    assert set(posts) == {reply, quoted}
    assert posts[reply].reply_to == own and posts[reply].root == own
    assert posts[quoted].reply_to == own
    [request] = [r for r in pds.requests if "listNotifications" in r]
    assert "reasons=mention&reasons=reply&reasons=quote" in request


def test_only_what_is_newer_than_the_cursor_is_read_through_the_pages(pds: FakeBluesky) -> None:
    """With more notifications than a page, the watcher pages (cursor) down to what it read
    last time, and stops there."""
    alice = pds.profile("alice.example.test")
    ask(pds, minutes=-300)
    with watcher(pds) as w:
        first = w.fetch_new(None, SINCE)
        for n in range(120):
            pds.post(alice, f"@{OWNER} mention {n}", at=NOW + timedelta(seconds=n))
        second = w.fetch_new(first.cursor, SINCE)
    texts = {p.text for p in second.posts}
    assert {f"@{OWNER} mention {n}" for n in range(120)} <= texts
    assert len(texts) <= 121  # the page boundary may bring the previous newest back once
    assert any("cursor=" in r for r in pds.requests if "listNotifications" in r)


def test_the_session_is_kept_and_reused_and_never_logged(
    pds: FakeBluesky, caplog: pytest.LogCaptureFixture
) -> None:
    """One password login; the session goes to the vault; a second watcher (a restart)
    resumes it with no login at all. The session string appears in no log line."""
    caplog.set_level(logging.DEBUG)
    vault = MemoryVault()
    with watcher(pds, vault) as w:
        w.fetch_new(None, SINCE)
    saved = vault.load()
    assert saved and pds.logins == 1 and w.logins == 1
    with watcher(pds, vault) as again:
        again.fetch_new(None, SINCE)
        assert "resumed the saved session" in again.check()
    assert pds.logins == 1 and again.logins == 0
    assert saved not in caplog.text and APP_PASSWORD not in caplog.text
    for part in saved.split(":::")[2:4]:  # the two tokens
        assert part not in caplog.text


def test_the_sdk_refreshes_a_short_lived_token_and_the_vault_follows() -> None:
    """An access token about to expire is refreshed by the SDK (no new login) and the
    refreshed session is saved."""
    with FakeBluesky(access_ttl=60) as pds:
        vault = MemoryVault()
        with watcher(pds, vault) as w:
            w.fetch_new(None, SINCE)
            w.fetch_new(None, SINCE)
        assert pds.refreshes >= 1 and pds.logins == 1 and vault.saves >= 2


def test_a_refused_session_leads_to_one_new_login(pds: FakeBluesky) -> None:
    """A saved session the server no longer accepts (revoked, expired) is replaced by one
    password login, and the poll goes on; with a wrong password it is an auth error."""
    vault = MemoryVault()
    with watcher(pds, vault) as w:
        w.fetch_new(None, SINCE)
    pds.revoke_sessions()
    with watcher(pds, vault) as w:
        assert w.fetch_new(None, SINCE).posts == []
    assert pds.logins == 2
    pds.revoke_sessions()
    with watcher(pds, vault, password="wrong") as w, pytest.raises(NetworkAuthError):
        w.fetch_new(None, SINCE)
    with pytest.raises(NetworkAuthError, match="app password was refused"):
        watcher(pds, MemoryVault(), password="wrong").open()


def test_the_login_rate_limit_is_reported_with_its_reset() -> None:
    """Past the login budget the PDS answers 429 with ratelimit-reset: NetworkUnavailable
    with the wait until the window resets."""
    with FakeBluesky(login_limit=0) as pds, pytest.raises(NetworkUnavailable, match="429") as err:
        watcher(pds).open()
    assert err.value.retry_after is not None and 250 < err.value.retry_after <= 301


def test_rate_limits_and_server_errors_are_unavailable(pds: FakeBluesky) -> None:
    """A 429 with retry-after and a 5xx are NetworkUnavailable; the next call works."""
    with watcher(pds) as w:
        pds.fail_next(1, 429, {"retry-after": "42"}, error="RateLimitExceeded")
        with pytest.raises(NetworkUnavailable, match="429") as err:
            w.fetch_new(None, SINCE)
        assert err.value.retry_after == 42.0
        pds.fail_next(1, 500)
        with pytest.raises(NetworkUnavailable, match="500"):
            w.fetch_new(None, SINCE)
        pds.fail_next(1, 502)
        with pytest.raises(NetworkUnavailable):
            w.thread("at://did:plc:x/app.bsky.feed.post/1")
        assert w.fetch_new(None, SINCE).posts == []


def test_a_thread_is_read_with_its_nested_replies(pds: FakeBluesky) -> None:
    """getPostThread's nested replies are flattened, each with the root; a post that is gone
    is an empty thread."""
    question = ask(pds)
    ana = pds.profile("ana.example.test", "Ana")
    answer = pds.post(ana, "Restart the runner with --clean.", reply_to=question)
    deeper = pds.post(ana, "(and clear the cache)", reply_to=answer)
    with watcher(pds) as w:
        posts = w.thread(question)
        assert w.thread("at://did:plc:gone/app.bsky.feed.post/1") == []
    assert [p.id for p in posts] == [answer, deeper]
    assert {p.root for p in posts} == {question}


def test_search_finds_the_tag(pds: FakeBluesky) -> None:
    """searchPosts (the rare fallback) finds a post with the tag that mentioned nobody."""
    alice = pds.profile("alice.example.test")
    uri = pds.post(alice, f"Anyone? #{TAG}", tags=(TAG,))
    with watcher(pds) as w:
        assert [p.id for p in w.search(TAG, SINCE)] == [uri]
    assert w.search_interval is not None and w.search_interval >= 1800


def test_hostile_records_are_skipped_or_cleaned(pds: FakeBluesky) -> None:
    """A record that is not a post, or not an object, is skipped without costing the
    others; control characters never reach a name; the link never carries a bad handle."""
    own = pds.post(pds.owner, "Away until Monday.")
    eve = pds.profile("eve.example.test", "Eve\r\nBcc: x@example.org\u202e")
    pds.post(eve, "x", reply_to=own, record={"$type": "app.bsky.feed.like"})  # type: ignore[dict-item]
    pds.post(eve, "x", reply_to=own, record=["not", "an", "object"])  # type: ignore[arg-type]
    pds.post(eve, "x", reply_to=own, record={"text": 5, "createdAt": "yesterday"})
    good = pds.post(eve, "line\x00one\r\nRestart it.", reply_to=own)
    with watcher(pds) as w:
        posts = w.fetch_new(None, SINCE).posts
    kinds = {p.id: p for p in posts}
    assert good in kinds and kinds[good].author_name == "Eve Bcc: x@example.org"
    assert kinds[good].text == "lineone\nRestart it."
    assert web_link("at://did:plc:x/app.bsky.feed.post/abc", 'bad"handle') == (
        "https://bsky.app/profile/did:plc:x/post/abc"
    )
    assert web_link("https://evil.example/", "x.test") is None


def test_end_to_end_an_answer_in_the_thread_resolves_the_inquiry(
    pds: FakeBluesky, store: Store, add_inquiry: AddInquiry
) -> None:
    """Through the runner: the question (a mention), an answer in its thread that reaches
    the owner only through the thread, the asker's thanks: resolved by the network."""
    add_inquiry(REF, received_at=NOW - timedelta(hours=2))
    question = ask(pds, minutes=-90)
    ana = pds.profile("ana.example.test", "Ana")
    alice = next(p for p in pds.profiles.values() if p.handle == "alice.example.test")
    answer = pds.post(ana, "Set CI=1 in the job, that fixes it.", reply_to=question,
                      at=NOW - timedelta(minutes=30))  # fmt: skip
    pds.post(alice, "thanks, that solved it!", reply_to=answer, at=NOW - timedelta(minutes=20))
    w = watcher(pds)
    loop = WatchLoop(Watch(w), store, RunnerSettings(window_start=SINCE), Clock(NOW))
    result = loop.poll()
    assert (result.matched, result.signals, result.error) == (3, 2, None)
    answered, thanked = store.network_signals(REF)
    assert answered.helper == "@ana.example.test" and answered.link.startswith(
        "https://bsky.app/profile/ana.example.test/post/"
    )
    assert (thanked.by, thanked.helper) == ("network", "@ana.example.test")
    assert loop.poll().signals == 0
    w.close()
