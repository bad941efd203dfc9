"""The demo's networks: the watched ``[[network]]`` entries of the demo's config, each played
by an in-memory network (``ooo.networks.memory``) and watched by the real watch loop
(``ooo.networks.runner.WatchLoop``) on the demo's own store and clock, polled on the demo's
thread after each thing that happens: no thread, no socket, the same output on every run but
for the random references.

The people on those networks act as ``[[post]]`` entries of week.toml say: a post is about an
inquiry (the ``Message-ID`` of the mail that asked it: ``{tag}`` and ``{ref}`` in its text
become that inquiry's tag and reference, as the "ask there" link writes them), and may answer
an earlier post (its ``label``) or the notice ooo posted to the room for that inquiry
(``reply_to = "notice"``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from ooo.app import engine_settings
from ooo.config import Config
from ooo.core.network import NetworkEntry
from ooo.core.social import tag_for
from ooo.core.wording import BY_WORDS, network_name
from ooo.networks.memory import MemoryNetwork, MemoryWatcher
from ooo.networks.runner import Ask, RunnerSettings, Watch, WatchLoop
from ooo.store import Store


@dataclass(frozen=True)
class DemoPost:
    """Someone posts on one of the demo's networks (a ``[[post]]`` of week.toml)."""

    at: datetime
    network: str
    """The kind of the watched entry it is posted on: "mastodon", "matrix"."""
    author: str
    text: str
    about: str
    """The Message-ID of the inquiry's mail."""
    author_name: str = ""
    label: str | None = None
    """A name later posts answer it by."""
    reply_to: str | None = None
    """The label of the post it answers, or "notice": the room notice for its inquiry."""


def load_posts(week: Mapping[str, Any], tz: ZoneInfo) -> list[DemoPost]:
    """The ``[[post]]`` entries of the week, each at its time in ``tz``."""
    posts = week.get("post", [])
    return [DemoPost(**{**entry, "at": entry["at"].replace(tzinfo=tz)}) for entry in posts]


@dataclass(frozen=True)
class _Place:
    entry: NetworkEntry
    network: MemoryNetwork
    loop: WatchLoop

    @property
    def name(self) -> str:
        """``#team-help on Matrix``, ``@bob@hachyderm.io on Mastodon``."""
        if self.entry.kind == "matrix" and self.entry.label:
            return f"{self.entry.label} on Matrix"
        return self.entry.display

    @property
    def where(self) -> str:
        """``in #team-help``, ``on Mastodon``."""
        if self.entry.kind == "matrix" and self.entry.label:
            return f"in {self.entry.label}"
        return f"on {network_name(self.entry.kind)}"


class DemoNetworks:
    """The demo config's watched entries, in memory, polled by hand (:meth:`poll`)."""

    def __init__(self, cfg: Config, store: Store, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.tz = cfg.owner.tz
        names = engine_settings(cfg).delegate_names
        settings = RunnerSettings(window_start=cfg.away.start, delegate_names=names)
        self.places: dict[str, _Place] = {}
        for entry in (e for e in cfg.network if e.watch):
            room = entry.watch_room if entry.kind == "matrix" else None
            network = MemoryNetwork(entry.kind, host=_host(entry))
            owner = (entry.user if room else entry.handle) or ""
            watcher = MemoryWatcher(network, owner=owner, name=entry.watch_name, room=room)
            share = (cfg.reply.share_subject, entry.share_sender)
            ask = Ask(frozenset(entry.ask), cfg.owner.name, *share) if entry.ask else None
            watch = Watch(watcher, entry.poll_interval.total_seconds(), ask)
            loop = WatchLoop(watch, store, settings, clock=clock, rng=lambda: 0.5)
            self.places[entry.kind] = _Place(entry, network, loop)
        self._labels: dict[str, str] = {}
        self._told: set[tuple[str, str]] = set()

    def publish(self, post: DemoPost) -> list[str]:
        """Post it on its network; the lines that say so."""
        place = self.places[post.network]
        ref = next((m.ref for m in self.store.messages() if m.message_id == post.about), None)
        if ref is None:
            raise ValueError(f"no inquiry with Message-ID {post.about} in the demo's week")
        text = post.text.replace("{tag}", f"#{tag_for(ref)}").replace("{ref}", ref)
        parent = self._labels.get(post.reply_to or "")
        if post.reply_to == "notice":
            notice = self.store.notice(place.entry.watch_name, ref)
            parent = notice.event_id if notice else None
        published = place.network.publish(
            post.author, text, author_name=post.author_name, reply_to=parent, at=post.at
        )
        if post.label:
            self._labels[post.label] = published.id
        did = "replied" if parent else "posted"
        return [f"{self._stamp(post.at)}  POST   {post.author} {did} {place.where}: “{text}”"]

    def poll(self) -> list[str]:
        """One poll of every watcher; the lines saying what ooo did and learnt."""
        for place in self.places.values():
            place.loop.poll()
        return self._news()

    def _news(self) -> list[str]:
        lines: list[str] = []
        for place in self.places.values():
            name = place.entry.watch_name
            for notice in self.store.notices():
                if notice.watcher == name and notice.event_id and self._first(("ask", notice.ref)):
                    posted = next(
                        (p for p in place.network.posts() if p.id == notice.event_id), None
                    )
                    lines.append(
                        f"{self._stamp(notice.created_at)}  ASK    ooo posted a notice "
                        f"{place.where} about {notice.ref}: “{posted.text if posted else ''}”"
                    )
            for thread in self.store.network_threads(watcher=name):
                if thread.asker and self._first(("thread", thread.root)):
                    lines.append(
                        f"{'':18}→ the question of {thread.ref} (it carries the tag): ooo "
                        "follows its thread"
                    )
        for signal in self.store.network_signals():
            if self._first(("signal", str(signal.id))):
                by = next((w for b, w in BY_WORDS.items() if b == signal.by), "nobody")
                helped = f", helped by {signal.helper}" if signal.helper else ""
                lines.append(f"{'':18}→ {signal.ref}: {signal.rule}: {signal.kind} by {by}{helped}")
                lines.append(f"{'':20}{signal.link}")
        return lines

    def _first(self, key: tuple[str, str]) -> bool:
        """Whether ``key`` is told for the first time (and remember it is)."""
        if key in self._told:
            return False
        self._told.add(key)
        return True

    def _stamp(self, moment: datetime) -> str:
        return f"{moment.astimezone(self.tz):%a %d %b %H:%M}"


def _host(entry: NetworkEntry) -> str:
    """The host the in-memory network's links point to: the owner's instance or homeserver."""
    if entry.kind == "mastodon" and entry.handle:
        return entry.handle.rsplit("@", 1)[-1]
    return urlsplit(entry.service_url or "https://social.example").hostname or "social.example"
