"""The command line and the watched networks (issue 12): `ooo status` shows each watcher apart
from the mailbox, `ooo check` signs in to each watched network read-only and says what it can
see, `ooo preview` says where answers to a sender's inquiry will be looked for. Networks are
in memory or the loopback Mastodon fake; nothing reaches a real network."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ooo.cli import main
from ooo.cli.check import check_networks
from ooo.config import Config, load
from ooo.core.network import NetworkEntry
from ooo.errors import UserError
from ooo.networks.base import Watcher
from ooo.networks.memory import MemoryNetwork, MemoryWatcher
from ooo.store.social import WatcherStateRecord
from tests.support.configs import GOOD, write_config
from tests.support.fake_mastodon import INSTANCE, TOKEN, FakeMastodon

T = datetime(2025, 12, 22, 9, 0, tzinfo=UTC)
"""In the past, whenever the tests run: its next polls are due."""

ROOM = """
[[network]]
kind = "matrix"
label = "#team-help"
room = "!teamhelp:example.com"
homeserver = "https://matrix.example.com"
user = "@bob:example.com"
watch = true
ask = ["internal"]
token_command = "printf room-token"
"""


def mastodon(handle: str, api_url: str = "https://hachyderm.io", token: str = TOKEN) -> str:
    return f"""
[[network]]
kind = "mastodon"
handle = "{handle}"
watch = true
api_url = "{api_url}"
token_command = "printf {token}"
"""


def config(tmp_path: Path, *entries: str) -> Path:
    return write_config(tmp_path, GOOD + "".join(entries))


# --------------------------------------------------------------------------- ooo status


def test_status_shows_each_watcher_and_the_room_notices(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """After the mailbox's lines: the watched entries in the config's order with their
    recorded state (one not polled yet), then the room notices."""
    from ooo.app import open_store

    path = config(tmp_path, mastodon("@bob@hachyderm.io"), ROOM)
    cfg = load(path)
    with open_store(cfg) as store, store.transaction():
        store.set_watcher_state(
            WatcherStateRecord(
                watcher="mastodon:@bob@hachyderm.io",
                kind="mastodon",
                state="backoff",
                last_poll=T,
                last_ok=T - timedelta(hours=2),
                next_poll=T + timedelta(minutes=10),
                attempts=4,
                retry_after=None,
                last_error="NetworkUnavailable: 503 Service Unavailable",
                updated_at=T,
            )
        )
        store.begin_notice("matrix:!teamhelp:example.com", "OOO-7K3Q9M", "!teamhelp:x", T)
        store.notice_failed("matrix:!teamhelp:example.com", "OOO-7K3Q9M", "timed out", T)
    assert main(["status", "-c", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    start = out.index("networks: 2 watched (apart from the mailbox)")
    assert out[start - 1] == "replies:  none"
    assert out[start + 1 :] == [
        "  mastodon:@bob@hachyderm.io: backing off, attempt 4",
        "    last poll:  2025-12-22 10:00:00 (last ok 2025-12-22 08:00:00), next "
        "2025-12-22 10:10:00 (due)",
        "    last error: NetworkUnavailable: 503 Service Unavailable",
        "  matrix:!teamhelp:example.com: not polled yet (the daemon polls it when it runs)",
        "room notices: 0 posted, 1 pending, 0 failed",
        "  pending: OOO-7K3Q9M in !teamhelp:x, attempt 1: timed out",
    ]


def test_status_without_watched_networks_is_as_before(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A config that watches nothing shows no network line (the entries that are links only
    are no watchers)."""
    from ooo.app import open_store

    link_only = '\n[[network]]\nkind = "mastodon"\nhandle = "@bob@hachyderm.io"\n'
    path = config(tmp_path, link_only)
    with open_store(load(path)) as store, store.transaction():
        store.set_status("state", "watching", T)
    assert main(["status", "-c", str(path)]) == 0
    out = capsys.readouterr().out
    assert "networks:" not in out and "room notices" not in out
    assert out.splitlines()[-1] == "replies:  none"


# --------------------------------------------------------------------------- ooo check


def cfg_with(tmp_path: Path, *entries: str) -> Config:
    return load(config(tmp_path, *entries))


class Lines:
    """``check_networks``' output, as the command prints it."""

    def __init__(self) -> None:
        self.lines: list[tuple[bool, str, str]] = []

    def __call__(self, ok: bool, what: str, detail: str) -> None:
        self.lines.append((ok, what, detail))


def test_check_says_what_each_watched_network_shows(tmp_path: Path) -> None:
    """One line per watched entry, through Watcher.check(): ok with what it sees; a revoked
    token, a network that is down and a secret that cannot be read are FAIL lines with the
    reason (and what to do about a refused sign-in). Link-only entries are not checked."""
    cfg = cfg_with(
        tmp_path,
        mastodon("@bob@hachyderm.io"),
        mastodon("@revoked@hachyderm.io"),
        mastodon("@down@hachyderm.io"),
        mastodon("@nosecret@hachyderm.io"),
        ROOM,
        '\n[[network]]\nkind = "bluesky"\nhandle = "bob.bsky.social"\n',
    )
    networks = {}

    def create(entry: NetworkEntry) -> Watcher:
        network = MemoryNetwork(entry.kind)
        who = entry.handle or ""
        if who.startswith("@revoked"):
            network.revoke()
        if who.startswith("@down"):
            network.available = False
        if who.startswith("@nosecret"):
            raise UserError("network mastodon:@nosecret@hachyderm.io.token_command printed nothing")
        room = entry.watch_room if entry.kind == "matrix" else None
        networks[entry.watch_name] = network
        return MemoryWatcher(network, owner=entry.user or who, room=room, name=entry.watch_name)

    lines = Lines()
    check_networks(cfg, lines, create)
    assert lines.lines == [
        (
            True,
            "mastodon",
            "@bob@hachyderm.io: signed in to the in-memory mastodon network as "
            "@bob@hachyderm.io; reads mentions of @bob@hachyderm.io",
        ),
        (
            False,
            "mastodon",
            "@revoked@hachyderm.io: sign-in refused: memory: 401 the access token was revoked "
            "(check what its token_command prints)",
        ),
        (
            False,
            "mastodon",
            "@down@hachyderm.io: cannot reach https://hachyderm.io: memory: service unavailable",
        ),
        (
            False,
            "mastodon",
            "@nosecret@hachyderm.io: network mastodon:@nosecret@hachyderm.io.token_command "
            "printed nothing",
        ),
        (
            True,
            "matrix",
            "!teamhelp:example.com: signed in to the in-memory matrix network as "
            "@bob:example.com; reads room !teamhelp:example.com",
        ),
    ]
    # Read-only: checking posted nothing anywhere.
    assert all(n.calls["post"] == 0 for n in networks.values())


def test_check_advice_for_a_keyring_secret(tmp_path: Path) -> None:
    """A refused sign-in with the secret in the keyring says how to store a new one; a
    rate-limited service is "cannot reach" (ooo keeps trying), not a refusal."""
    entry = mastodon("@bob@hachyderm.io").replace('token_command = "printf good-token"', "")
    cfg = cfg_with(tmp_path, entry.replace("watch = true", "watch = true\nkeyring = true"))

    def refused(entry: NetworkEntry) -> Watcher:
        network = MemoryNetwork("mastodon")
        network.revoke()
        return MemoryWatcher(network, owner=entry.handle or "")

    def limited(entry: NetworkEntry) -> Watcher:
        network = MemoryNetwork("mastodon")
        network.rate_limit(60)
        return MemoryWatcher(network, owner=entry.handle or "")

    lines = Lines()
    check_networks(cfg, lines, refused)
    check_networks(cfg, lines, limited)
    assert [(ok, detail) for ok, _, detail in lines.lines] == [
        (
            False,
            "@bob@hachyderm.io: sign-in refused: memory: 401 the access token was revoked "
            "(store a new one with `ooo secret set network.mastodon`)",
        ),
        (False, "@bob@hachyderm.io: cannot reach https://hachyderm.io: memory: 429 rate limited"),
    ]


@pytest.fixture
def fake() -> Iterator[FakeMastodon]:
    with FakeMastodon() as server:
        yield server


def test_ooo_check_signs_in_to_mastodon_with_the_real_client(
    tmp_path: Path, fake: FakeMastodon, capsys: pytest.CaptureFixture[str]
) -> None:
    """`ooo check` builds each watcher as the daemon does (ooo.networks.create with the
    entry's secret) and signs in through Mastodon.py to the loopback fake: ok with the
    account and the rate limit left; a token the server refuses is a FAIL line, and so is
    the command's exit status."""
    path = config(
        tmp_path,
        mastodon(f"@bob@{INSTANCE}", fake.url),
        mastodon(f"@carl@{INSTANCE}", fake.url, token="wrong-token"),
    )
    assert main(["check", "-c", str(path)]) == 1  # the mailbox is not there either
    out = capsys.readouterr().out.splitlines()
    bob, carl = (line for line in out if "mastodon" in line)
    assert bob.startswith(f"ok    mastodon   @bob@{INSTANCE}: signed in to {INSTANCE} as ")
    assert "rate limit" in bob
    assert carl.startswith(f"FAIL  mastodon   @carl@{INSTANCE}: sign-in refused: ")
    assert "(check what its token_command prints)" in carl
    assert out[-1].startswith("ok    state ")  # the networks come before the state line


# --------------------------------------------------------------------------- ooo preview


def test_preview_says_where_answers_will_be_looked_for(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An external sender's inquiry is watched for on Mastodon only; an internal sender's
    also in the team room, where ooo asks for them (by name, not address)."""
    path = config(tmp_path, mastodon("@bob@hachyderm.io"), ROOM)
    assert main(["preview", "-c", str(path), "--from", "alice@example.org"]) == 0
    out = capsys.readouterr().out
    assert "watched:  answers are looked for on @bob@hachyderm.io on Mastodon\n" in out
    assert main(["preview", "-c", str(path), "--from", "dana@example.com"]) == 0
    out = capsys.readouterr().out
    assert (
        "watched:  answers are looked for on @bob@hachyderm.io on Mastodon; #team-help "
        "(ooo posts a notice asking the room, with their name, not their address)\n"
    ) in out
    assert out.index("network:  ") < out.index("watched:  ") < out.index("=== reply")


def test_preview_of_a_sender_who_sees_no_watched_network(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only the internal room is watched: an external sender's inquiry is watched nowhere;
    a message that is no inquiry says nothing about networks."""
    path = config(tmp_path, ROOM)
    assert main(["preview", "-c", str(path), "--from", "alice@example.org"]) == 0
    assert "watched:  none for this sender" in capsys.readouterr().out
    args = ["--from", "news@shop.example", "--header", "List-Id: <l.shop.example>"]
    assert main(["preview", "-c", str(path), *args]) == 0
    assert "watched:" not in capsys.readouterr().out
