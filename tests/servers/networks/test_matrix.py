"""The Matrix watcher through the real matrix-nio client against a real Synapse: the notice
posted for an internal inquiry, a teammate's answer in its thread (or as a plain reply)
resolving it, a room watched for the tag without asking, every room id form (alias, !id:server,
the server-less !id of newer rooms), sign-in by token or password (the session kept), and the
refusals (an encrypted room, a wrong token, an unknown alias)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ooo.core.social import tag_for
from ooo.networks.base import MemoryVault, NetworkAuthError, NetworkUnavailable
from ooo.networks.matrix import MatrixWatcher
from ooo.networks.runner import Ask, RunnerSettings, Watch, WatchLoop
from ooo.store import Store
from tests.support.helpers import tracked
from tests.support.synapse import MatrixUser, Synapse

REF = "OOO-7K3Q9M"


def new_ref() -> str:
    return "OOO-" + uuid.uuid4().hex[:6].upper().replace("I", "1").replace("L", "1").replace(
        "O", "0"
    ).replace("U", "V")


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return tracked(Store(tmp_path / "ooo.db"))


def record_inquiry(
    store: Store,
    ref: str,
    *,
    audience: str = "internal",
    sender: str = "dave@corp.example",
    from_name: str = "Dave Doe",
    subject: str = "VPN drops every hour",
) -> None:
    now = datetime.now(UTC)
    with store.transaction():
        store.record_message(
            mailbox="memory:test/INBOX",
            epoch=0,
            key=uuid.uuid4().hex,
            message_id=f"<{uuid.uuid4().hex}@corp.example>",
            sender=sender,
            from_name=from_name,
            subject=subject,
            received_at=now - timedelta(minutes=5),
            decided_at=now - timedelta(minutes=5),
            reason="reply",
            detail="",
            ref=ref,
            audience=audience,
        )


def watcher(synapse: Synapse, owner: MatrixUser, room: str, **kwargs: object) -> MatrixWatcher:
    if "password" not in kwargs and "token" not in kwargs:
        kwargs["token"] = lambda: owner.access_token
    return MatrixWatcher(
        homeserver=synapse.url, user=owner.user_id, room=room, timeout=20.0, **kwargs
    )  # type: ignore[arg-type]


def settings() -> RunnerSettings:
    return RunnerSettings(window_start=datetime.now(UTC) - timedelta(hours=1))


def test_a_teammates_answer_in_the_notice_thread_resolves_the_inquiry(
    synapse: Synapse, people: dict[str, MatrixUser], store: Store
) -> None:
    """With ask = ["internal"], an internal inquiry gets one notice in the room (who asks,
    the reference, "answer in this thread", no email address); Carol answers in its thread
    (m.thread): the inquiry is resolved by the network, with Carol's id and the event's
    matrix.to link."""
    bob, carol = people["bob"], people["carol"]
    room = synapse.create_room(carol, alias=f"help{uuid.uuid4().hex[:6]}")
    record_inquiry(store, REF)
    record_inquiry(store, "OOO-4F6G7H", audience="external")
    w = watcher(synapse, bob, room)
    ask = Ask(frozenset({"internal"}), owner_name="Bob Example")
    loop = WatchLoop(Watch(w, ask=ask), store, settings())
    try:
        first = loop.poll()
        assert (first.asked, first.error) == (1, None)
        [notice] = store.notices()
        assert notice.state == "posted" and notice.event_id and notice.room == room
        event = synapse.event(carol, room, notice.event_id)
        body = event["content"]["body"]
        assert event["sender"] == bob.user_id
        assert body.startswith("Dave Doe asked Bob Example, who is away")
        assert REF in body and "answer in this thread" in body
        assert "@" not in body and "corp.example" not in json.dumps(event["content"])
        answer = synapse.send(
            carol, room, "Reinstall the VPN profile, that fixes it.", thread=notice.event_id
        )
        result = loop.poll()
        assert (result.asked, result.signals, result.error) == (0, 1, None)
        [signal] = store.network_signals(REF)
        assert (signal.rule, signal.by, signal.helper, signal.network) == (
            "network_answered",
            "network",
            carol.user_id,
            "matrix",
        )
        assert signal.link == (f"https://matrix.to/#/{room}/{answer}?via=localhost")
        assert signal.evidence == "Reinstall the VPN profile, that fixes it."
        assert loop.poll().signals == 0
        # The thread, read through its m.thread relations, has the answer.
        assert [p.id for p in w.thread(notice.event_id)] == [answer]
    finally:
        w.close()


def test_a_plain_reply_to_the_notice_is_an_answer_too(
    synapse: Synapse, people: dict[str, MatrixUser], store: Store
) -> None:
    """A teammate who answers with a plain reply (m.in_reply_to, no thread) is heard, in a
    room of an older version (ids like !id:server)."""
    bob, carol, dave = people["bob"], people["carol"], people["dave"]
    room = synapse.create_room(carol, version="10")
    assert room.endswith(":localhost")
    ref = new_ref()
    record_inquiry(store, ref, from_name="Erin")
    w = watcher(synapse, bob, room)
    loop = WatchLoop(Watch(w, ask=Ask(frozenset({"internal"}), "Bob")), store, settings())
    try:
        assert loop.poll().asked == 1
        [notice] = store.notices()
        synapse.join(dave, room)
        synapse.send(
            dave, room, "You need the admin role; ask IT for it.", reply_to=notice.event_id
        )
        assert loop.poll().signals == 1
        [signal] = store.network_signals(ref)
        assert signal.helper == dave.user_id
    finally:
        w.close()


def test_without_ask_the_room_is_watched_for_the_tag(
    synapse: Synapse, people: dict[str, MatrixUser], store: Store
) -> None:
    """Without ask nothing is posted: a teammate who asks with the tag is the asker, another's
    thread answer is the network's, and the asker's thanks credit that helper. The room is
    a newer one (server-less id) and the watcher's first poll reads back to the window."""
    bob, carol, dave = people["bob"], people["carol"], people["dave"]
    room = synapse.create_room(carol)
    assert ":" not in room
    synapse.join(dave, room)
    ref = new_ref()
    record_inquiry(store, ref)
    question = synapse.send(carol, room, f"Anyone knows? #{tag_for(ref)}")
    w = watcher(synapse, bob, room)
    loop = WatchLoop(Watch(w), store, settings())
    try:
        assert loop.poll().matched == 1
        assert [t.asker for t in store.network_threads(ref)] == [carol.user_id]
        answer = synapse.send(dave, room, "Restart the VPN client, that fixes it.", thread=question)
        synapse.send(carol, room, "thanks, that solved it!", thread=question, reply_to=answer)
        assert loop.poll().signals == 2
        answered, thanked = store.network_signals(ref)
        assert answered.helper == dave.user_id
        assert (thanked.rule, thanked.by, thanked.helper) == (
            "sender_says_resolved",
            "network",
            dave.user_id,
        )
        assert store.notices() == []
    finally:
        w.close()


def test_an_alias_is_resolved_and_joined(synapse: Synapse, people: dict[str, MatrixUser]) -> None:
    """A room alias resolves to its id; the owner's account joins a public room it is not in
    yet; check() says what it sees."""
    bob, carol = people["bob"], people["carol"]
    alias = f"team{uuid.uuid4().hex[:6]}"
    room = synapse.create_room(carol, alias=alias)
    with watcher(synapse, bob, f"#{alias}:localhost") as w:
        assert isinstance(w, MatrixWatcher) and w.room_id == room
        line = w.check()
    assert f"#{alias}:localhost ({room})" in line and "2 members, unencrypted" in line


def test_a_notice_sent_again_with_its_transaction_id_is_the_same_event(
    synapse: Synapse, people: dict[str, MatrixUser]
) -> None:
    """A retry after a crash (same transaction id) does not post a second notice."""
    bob, carol = people["bob"], people["carol"]
    room = synapse.create_room(carol)
    with watcher(synapse, bob, room) as w:
        assert isinstance(w, MatrixWatcher)
        first = w.post("text", "<p>text</p>", txn_id="ooo-OOO-AAAAAA")
        again = w.post("text", "<p>text</p>", txn_id="ooo-OOO-AAAAAA")
        assert first == again
        assert len(w.fetch_new(None, datetime.now(UTC) - timedelta(hours=1)).posts) == 1


def test_a_password_login_is_kept_and_reused(
    synapse: Synapse, people: dict[str, MatrixUser]
) -> None:
    """With a password, one login; its token goes to the vault and the next start reuses it.
    A token that was logged out is replaced by one new login."""
    bob, carol = people["bob"], people["carol"]
    room = synapse.create_room(carol)
    vault = MemoryVault()
    with watcher(synapse, bob, room, password=lambda: bob.password, vault=vault) as w:
        assert isinstance(w, MatrixWatcher) and w.logins == 1
    saved = json.loads(vault.load() or "{}")
    with watcher(synapse, bob, room, password=lambda: bob.password, vault=vault) as w:
        assert isinstance(w, MatrixWatcher) and w.logins == 0
    synapse.api("POST", "/_matrix/client/v3/logout", {}, saved["access_token"])
    with watcher(synapse, bob, room, password=lambda: bob.password, vault=vault) as w:
        assert isinstance(w, MatrixWatcher) and w.logins == 1
    assert json.loads(vault.load() or "{}")["access_token"] != saved["access_token"]


def test_refusals_are_auth_errors(synapse: Synapse, people: dict[str, MatrixUser]) -> None:
    """An encrypted room, a wrong token, a wrong password and an unknown alias are for the
    owner to fix (NetworkAuthError), with a message that says so."""
    bob, carol = people["bob"], people["carol"]
    encrypted = synapse.create_room(carol, encrypted=True)
    with pytest.raises(NetworkAuthError, match="encrypted: ooo reads unencrypted rooms only"):
        watcher(synapse, bob, encrypted).open()
    room = synapse.create_room(carol)
    with pytest.raises(NetworkAuthError, match="M_UNKNOWN_TOKEN"):
        watcher(synapse, bob, room, token=lambda: "syt_wrong").open()
    with pytest.raises(NetworkAuthError, match="M_FORBIDDEN"):
        watcher(synapse, bob, room, password=lambda: "wrong").open()
    with pytest.raises(NetworkAuthError, match="M_NOT_FOUND"):
        watcher(synapse, bob, "#nosuchroom:localhost").open()


def test_a_homeserver_that_is_down_is_unavailable(people: dict[str, MatrixUser]) -> None:
    """A refused connection is NetworkUnavailable (retried with backoff), not a crash."""
    bob = people["bob"]
    w = MatrixWatcher(
        homeserver="http://127.0.0.1:9",
        user=bob.user_id,
        room="!x:localhost",
        token=lambda: bob.access_token,
        timeout=5.0,
    )
    with pytest.raises(NetworkUnavailable):
        w.open()
