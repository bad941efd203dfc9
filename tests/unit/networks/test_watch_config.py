"""The watch contract of a ``[[network]]`` entry (ooo.core.network): the keys a watched
Mastodon, Bluesky or Matrix entry takes, credentials required and named, API addresses over
https (plain http to loopback only), every Matrix room id form, the matrix.to link, the opt-in
to ask in a room; and which watched entries a sender's inquiry goes to (ooo.core.social)."""

from __future__ import annotations

import tomllib
from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from ooo.core.network import NetworkEntry
from ooo.core.social import watched_entries
from tests.unit.core.test_network import MINIMAL, entry

WATCHED: dict[str, dict[str, Any]] = {
    "mastodon": {"handle": "@bob@hachyderm.io", "token_command": "pass show mastodon/bob"},
    "bluesky": {"handle": "bob.bsky.social", "password_command": "pass show bluesky/app"},
    "matrix": {
        "label": "#team-help",
        "room": "!abc123:matrix.example.com",
        "homeserver": "https://matrix.example.com",
        "user": "@bob:matrix.example.com",
        "token_command": "pass show matrix/bob",
    },
}


@pytest.mark.parametrize("kind", sorted(WATCHED))
def test_a_watched_entry_of_each_kind_validates(kind: str) -> None:
    """The documented examples validate, with the defaults: a 2-minute interval, the
    instance (or bsky.social, or the homeserver) as the API, links unchanged."""
    e = entry(kind, watch=True, **WATCHED[kind])
    assert e.watch and e.poll_interval == timedelta(minutes=2)
    assert (
        e.service_url
        == {
            "mastodon": "https://hachyderm.io",
            "bluesky": "https://bsky.social",
            "matrix": "https://matrix.example.com",
        }[kind]
    )
    assert e.profile_url.startswith("https://")
    assert NetworkEntry.model_validate(e.model_dump()) == e


def test_the_issue_example_loads_from_toml() -> None:
    """The three watched entries of the contract, as an owner writes them."""
    data = tomllib.loads(
        """
        [[network]]
        kind = "mastodon"
        handle = "@bob@hachyderm.io"
        watch = true
        token_command = "pass show mastodon/bob"
        api_url = "https://hachyderm.io"
        poll_interval = "2m"

        [[network]]
        kind = "bluesky"
        handle = "bob.bsky.social"
        watch = true
        password_command = "pass show bluesky/app-password"

        [[network]]
        kind = "matrix"
        label = "#team-help"
        room = "!abc123:matrix.example.com"
        homeserver = "https://matrix.example.com"
        user = "@bob:matrix.example.com"
        token_command = "..."
        watch = true
        ask = ["internal"]
        """
    )
    mastodon, bluesky, matrix = (NetworkEntry.model_validate(i) for i in data["network"])
    assert mastodon.watch_name == "mastodon:@bob@hachyderm.io"
    assert bluesky.watch_name == "bluesky:@bob.bsky.social"
    assert matrix.watch_name == "matrix:!abc123:matrix.example.com"
    assert matrix.ask == ("internal",) and matrix.signs_in_with == "token"
    assert matrix.profile_url == (
        "https://matrix.to/#/!abc123:matrix.example.com?via=matrix.example.com"
    )
    assert bluesky.signs_in_with == "password" and mastodon.signs_in_with == "token"


@pytest.mark.parametrize("kind", sorted(WATCHED))
def test_a_watched_entry_without_credentials_names_the_entry(kind: str) -> None:
    """watch = true and no token_command, password_command or keyring is an error that
    names the entry and says what to set."""
    fields = {k: v for k, v in WATCHED[kind].items() if not k.endswith("_command")}
    with pytest.raises(ValidationError, match="has no credentials") as err:
        entry(kind, watch=True, **fields)
    message = str(err.value)
    assert f"the watched {kind} " in message
    assert (fields.get("handle") or fields.get("room")) in message
    assert "keyring = true" in message


def test_credentials_without_watch_are_kept_for_later() -> None:
    """An owner may turn watching off and keep the keys: not an error."""
    e = entry("mastodon", **WATCHED["mastodon"])
    assert not e.watch and e.token_command


@pytest.mark.parametrize(
    ("keyring", "expected"),
    [(True, "network.mastodon:@bob@hachyderm.io"), ("my mastodon token", "my mastodon token")],
)
def test_the_keyring_holds_the_secret(keyring: bool | str, expected: str) -> None:
    """keyring = true takes the secret from the default entry; a string names the entry."""
    e = entry("mastodon", handle="@bob@hachyderm.io", watch=True, keyring=keyring)
    assert e.keyring_entry == expected
    assert entry("mastodon", handle="@bob@hachyderm.io").keyring_entry is None


def test_matrix_with_a_password_from_the_keyring() -> None:
    """Matrix takes a token (token_command) or a password (password_command or the
    keyring); the keyring entry is named after the user."""
    fields = {k: v for k, v in WATCHED["matrix"].items() if k != "token_command"}
    e = entry("matrix", watch=True, keyring=True, **fields)
    assert e.signs_in_with == "password"
    assert e.keyring_entry == "network.matrix:@bob:matrix.example.com"


@pytest.mark.parametrize(
    ("kind", "fields", "expected"),
    [
        ("mastodon", {"password_command": "x"}, "mastodon signs in with an access token"),
        ("bluesky", {"token_command": "x"}, "bluesky signs in with an app password"),
        ("mastodon", {"keyring": True}, "set only one of token_command, keyring"),
        ("mastodon", {"room": "!a:b.org"}, "mastodon does not take room"),
        ("bluesky", {"ask": ["internal"]}, "bluesky does not take ask"),
        ("matrix", {"api_url": "https://m.example.org"}, "matrix takes homeserver"),
        ("mastodon", {"poll_interval": "3s"}, "poll_interval must be at least 5 s"),
        ("mastodon", {"poll_interval": "soon"}, "expected a duration"),
        ("mastodon", {"api_url": "http://hachyderm.io"}, "plain http:// is only allowed to a"),
        ("mastodon", {"api_url": "https://x.io/?a=1"}, "plain server address"),
        ("mastodon", {"api_url": "javascript:alert(1)"}, "api_url must start with https"),
        ("mastodon", {"token_command": "a\nb"}, "token_command must be one line"),
        ("mastodon", {"keyring": ""}, "keyring must be one line with true or an entry"),
    ],
)
def test_watch_keys_are_checked(kind: str, fields: dict[str, Any], expected: str) -> None:
    """Each key is refused where it does not belong or when malformed, with a message that
    names the key and what is expected."""
    base = {k: v for k, v in WATCHED[kind].items() if not (k.endswith("_command") and k in fields)}
    with pytest.raises(ValueError, match=expected):
        entry(kind, watch=True, **{**base, **fields})


@pytest.mark.parametrize("kind", ["linkedin", "x", "github", "website", "slack"])
def test_kinds_that_cannot_be_watched_refuse_the_watch_keys(kind: str) -> None:
    """Only Mastodon, Bluesky and Matrix can be watched; the keys elsewhere are errors."""
    with pytest.raises(ValueError, match=f"{kind} entries cannot be watched"):
        entry(kind, watch=True, **MINIMAL[kind])
    with pytest.raises(ValueError, match="remove token_command"):
        entry(kind, token_command="x", **MINIMAL[kind])


def test_unknown_keys_stay_errors_on_watched_entries() -> None:
    """A typo in a watch key is an error, never a silent default."""
    with pytest.raises(ValidationError, match="extra"):
        entry("mastodon", watch=True, tokn_command="x", **WATCHED["mastodon"])


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("http://127.0.0.1:8008", True),
        ("http://localhost:3000/", True),
        ("http://[::1]:8448", True),
        ("https://matrix.example.com", True),
        ("http://matrix.example.com", False),
        ("http://10.0.0.1", False),
    ],
)
def test_plain_http_only_to_a_loopback_host(url: str, ok: bool) -> None:
    """A token or password crosses the network only over https; http is for a server on
    this machine (tests, a local bridge)."""
    fields = {**WATCHED["matrix"], "homeserver": url}
    if ok:
        assert entry("matrix", watch=True, **fields).homeserver == url.rstrip("/")
    else:
        with pytest.raises(ValueError, match="homeserver must be https"):
            entry("matrix", watch=True, **fields)


@pytest.mark.parametrize(
    ("room", "stored", "link"),
    [
        ("!abc123:matrix.example.com", "!abc123:matrix.example.com",
         "https://matrix.to/#/!abc123:matrix.example.com?via=matrix.example.com"),
        ("!AbC-123_x=", "!AbC-123_x=",
         "https://matrix.to/#/!AbC-123_x%3D?via=matrix.example.com"),
        ("#team-help:Matrix.Example.com", "#team-help:matrix.example.com",
         "https://matrix.to/#/#team-help:matrix.example.com"),
        ("!abc:localhost:8448", "!abc:localhost:8448",
         "https://matrix.to/#/!abc:localhost:8448?via=localhost:8448"),
        ("!abc:[::1]:8448", "!abc:[::1]:8448", "https://matrix.to/#/!abc:[::1]:8448?via=[::1]:8448"),
    ],
)  # fmt: skip
def test_every_room_id_form_is_accepted_and_linked(room: str, stored: str, link: str) -> None:
    """Room ids with a server, the server-less ids of room version 12 and later, and
    aliases; without url or handle, the entry links to the room on matrix.to."""
    fields = {k: v for k, v in WATCHED["matrix"].items() if k != "room"}
    e = entry("matrix", watch=True, room=room, **fields)
    assert e.room == stored and e.watch_room == stored
    assert e.profile_url == link


@pytest.mark.parametrize(
    "room", ["abc:example.org", "!", "!a b:example.org", "#alias", "@bob:example.org",
             "!abc:exa mple.org", "!abc:example.org:99999", "#a:b..c"],
)  # fmt: skip
def test_malformed_rooms_are_refused(room: str) -> None:
    """Anything that is not a room id or an alias is named in the error."""
    with pytest.raises(ValueError, match="matrix room must be a room id"):
        entry("matrix", label="Team", room=room)


def test_a_matrix_entry_can_be_just_a_room_and_an_alias_names_itself() -> None:
    """A room alone makes a complete (link-only) entry; an alias is its own display."""
    e = entry("matrix", room="#team-help:example.org")
    assert e.display == "#team-help:example.org on Matrix"
    assert e.profile_url == "https://matrix.to/#/#team-help:example.org"
    with pytest.raises(ValueError, match="needs a label"):
        entry("matrix", room="!abc:example.org")


def test_a_watched_matrix_entry_needs_its_room_homeserver_and_user() -> None:
    """Each missing key is named."""
    with pytest.raises(ValueError, match="needs homeserver, user"):
        entry("matrix", watch=True, label="Team", room="!a:example.org", token_command="x")
    with pytest.raises(ValueError, match="needs room"):
        entry("matrix", watch=True, url="https://chat.example.org/", label="Team",
              homeserver="https://m.example.org", user="@bob:example.org",
              token_command="x")  # fmt: skip
    alias = entry("matrix", watch=True, handle="#team:example.org", token_command="x",
                  homeserver="https://m.example.org", user="@bob:example.org")  # fmt: skip
    assert alias.watch_room == "#team:example.org"


def test_ask_is_opt_in_matrix_only_and_needs_watching() -> None:
    """ooo posts only to a watched internal room, only for the audiences listed, and puts
    the sender's address in a notice only with share_sender."""
    with pytest.raises(ValueError, match="ask needs watch = true"):
        entry("matrix", ask=["internal"], **{**WATCHED["matrix"]})
    with pytest.raises(ValueError, match="share_sender only applies with ask"):
        entry("matrix", watch=True, share_sender=True, **WATCHED["matrix"])
    with pytest.raises(ValidationError):
        entry("matrix", watch=True, ask=["everyone"], **WATCHED["matrix"])
    e = entry("matrix", watch=True, ask=["internal", "vip"], share_sender=True,
              **WATCHED["matrix"])  # fmt: skip
    assert e.ask == ("internal", "vip") and e.share_sender


def test_preview_lists_the_watched_entries_a_sender_sees() -> None:
    """An internal sender's inquiry is watched on Mastodon and asked in the internal room;
    an external sender's only on Mastodon (the room is not theirs to see)."""
    mastodon = entry("mastodon", watch=True, **WATCHED["mastodon"])
    room = entry("matrix", watch=True, ask=["internal"], **WATCHED["matrix"])
    links_only = entry("bluesky", handle="bob.bsky.social")
    entries = [mastodon, room, links_only]
    assert watched_entries(entries, internal_sender=True) == [
        (mastodon, False),
        (room, True),
    ]
    assert watched_entries(entries, internal_sender=False) == [(mastodon, False)]
    assert watched_entries(entries, internal_sender=True, audience="vip") == [
        (mastodon, False),
        (room, False),
    ]


def test_create_builds_each_watcher_from_its_entry() -> None:
    """ooo.networks.create picks the module by kind and passes the entry's addresses, names
    and secret; nothing connects until open()."""
    from ooo.networks import create
    from ooo.networks.bluesky import BlueskyWatcher
    from ooo.networks.mastodon import MastodonWatcher
    from ooo.networks.matrix import MatrixWatcher

    def secret() -> str:
        return "s3cret"

    mastodon = create(entry("mastodon", watch=True, **WATCHED["mastodon"]), secret)
    assert isinstance(mastodon, MastodonWatcher)
    assert (mastodon.name, mastodon.api_url) == (
        "mastodon:@bob@hachyderm.io",
        "https://hachyderm.io",
    )
    bluesky = create(entry("bluesky", watch=True, **WATCHED["bluesky"]), secret)
    assert isinstance(bluesky, BlueskyWatcher) and bluesky.api_url == "https://bsky.social"
    matrix = create(entry("matrix", watch=True, **WATCHED["matrix"]), secret)
    assert isinstance(matrix, MatrixWatcher) and matrix.room_ref == "!abc123:matrix.example.com"
    assert matrix.name == "matrix:!abc123:matrix.example.com"
    with pytest.raises(ValueError, match="cannot be watched"):
        create(entry("x", **MINIMAL["x"]), secret)
