"""Watchers of the owner's networks behind one interface (``base.Watcher``); :func:`create`
builds one from a watched ``[[network]]`` entry.

A new network is a module here plus one factory in ``_FACTORIES``: the runner and the engine do
not change. Network modules are imported only when chosen, so ``ooo demo`` (which uses
``memory.py``) never loads a network library.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ooo.core.network import NetworkEntry
    from ooo.networks.base import Secret, SessionVault, Watcher

DEFAULT_TIMEOUT = 30.0
"""Seconds one request to a network may take before it counts as unavailable."""


def _mastodon(entry: NetworkEntry, secret: Secret, vault: SessionVault | None) -> Watcher:
    from ooo.networks.mastodon import MastodonWatcher

    assert entry.handle is not None and entry.service_url is not None
    return MastodonWatcher(
        handle=entry.handle,
        api_url=entry.service_url,
        token=secret,
        name=entry.watch_name,
        timeout=DEFAULT_TIMEOUT,
    )


def _bluesky(entry: NetworkEntry, secret: Secret, vault: SessionVault | None) -> Watcher:
    from ooo.networks.bluesky import BlueskyWatcher

    assert entry.handle is not None and entry.service_url is not None
    return BlueskyWatcher(
        handle=entry.handle,
        api_url=entry.service_url,
        password=secret,
        vault=vault,
        name=entry.watch_name,
        timeout=DEFAULT_TIMEOUT,
    )


def _matrix(entry: NetworkEntry, secret: Secret, vault: SessionVault | None) -> Watcher:
    from ooo.networks.matrix import MatrixWatcher

    room = entry.watch_room
    assert room is not None and entry.homeserver is not None and entry.user is not None
    by_token = entry.signs_in_with == "token"
    return MatrixWatcher(
        homeserver=entry.homeserver,
        user=entry.user,
        room=room,
        token=secret if by_token else None,
        password=None if by_token else secret,
        vault=vault,
        name=entry.watch_name,
        timeout=DEFAULT_TIMEOUT,
    )


_FACTORIES: dict[str, Callable[[NetworkEntry, Secret, SessionVault | None], Watcher]] = {
    "mastodon": _mastodon,
    "bluesky": _bluesky,
    "matrix": _matrix,
}


def create(entry: NetworkEntry, secret: Secret, vault: SessionVault | None = None) -> Watcher:
    """The watcher for a watched entry. ``secret`` returns its token or password (see
    ``NetworkEntry.signs_in_with``); ``vault`` keeps a login session between runs (Bluesky,
    Matrix with a password): a keyring entry or a 0600 file, never the state database."""
    if entry.kind not in _FACTORIES:
        raise ValueError(f"{entry.kind} entries cannot be watched")
    return _FACTORIES[entry.kind](entry, secret, vault)
