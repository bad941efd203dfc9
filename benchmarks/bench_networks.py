"""Benchmark the network watchers of the real ``ooo`` daemon (issue 12's closing figures).

One run starts, on loopback only:

- a private Dovecot + Postfix (``tests/support/mailstack.py``) carrying the inquiries;
- the loopback Mastodon API (``tests/support/fake_mastodon.py``), the loopback Bluesky PDS
  (``tests/support/fake_bluesky.py``) and a real Synapse (``tests/support/synapse.py``);
- the daemon (``ooo run``, ``tests/support/responder.py``) watching all three at once, every
  ``--interval`` seconds (default 5 s, the shortest ``poll_interval`` allowed), with the Matrix
  room opted in to room notices (``ask = ["internal"]``); and, for reference, the same daemon
  on another owner with no watched network, fed the same mail.

Every request each server receives is timestamped (the fakes' request logs; Synapse's access
log, keeping the daemon's requests apart from this script's by their user agent) and every
poll's start is read from the daemon's store (``network_watcher.last_poll``). It measures:

1. **API requests per watched network**: requests received over whole polls, divided by the
   polls, then scaled to 30 polls an hour (the default ``poll_interval`` of 2 min), next to each
   service's published limit. Two windows: *quiet* (a few open inquiries whose threads are
   followed, nothing new arriving) and *busy* (the answers phase below: a new question and an
   answer arriving on every network every poll or two). The once-per-start requests (sign-in,
   room join), Bluesky's ``searchPosts`` (every 30 min by design) and room notices (one per
   internal inquiry) are counted apart.
2. **Answer-to-signal time**: a follower's answer is posted at a random moment of the poll
   cycle (stratified: one answer per slice of the cycle); the clock stops when the ``signal``
   row (``network`` set) for that inquiry appears in the store. Per network p50 and max, in
   seconds and in poll intervals.
3. **Daemon memory**: VmRSS and VmHWM of both daemons at the end, and what importing each
   watcher's network library costs a fresh interpreter.

Usage: ``python benchmarks/bench_networks.py [--interval 5] [--polls 12] [--answers 6]
[--json FILE]``. Needs root and Debian's Dovecot/Postfix (``scripts/install-mailservers``) and
Synapse in the venv (the test extras). Always exits 0 once it has measured, whatever the
targets say (a benchmark, not a test); 1 if it could not finish; 2 if a server is missing.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import itertools
import json
import math
import os
import platform
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
# Run as a script from anywhere: the test harness lives in the repository, not in the package.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ooo.core.social import tag_for  # noqa: E402
from ooo.networks.bluesky import SEARCH_INTERVAL as BLUESKY_SEARCH_INTERVAL  # noqa: E402
from ooo.networks.runner import RunnerSettings  # noqa: E402
from tests.support.fake_bluesky import APP_PASSWORD, FakeBluesky  # noqa: E402
from tests.support.fake_mastodon import TOKEN, FakeMastodon  # noqa: E402
from tests.support.mailstack import MailStack, User, missing_binaries  # noqa: E402
from tests.support.responder import Responder, inquiry, wait_for  # noqa: E402
from tests.support.synapse import MatrixUser, Synapse, synapse_installed  # noqa: E402

NETWORKS = ("mastodon", "bluesky", "matrix")
DEFAULT_INTERVAL = 120.0  # s: poll_interval's default (ooo.core.network.POLL_INTERVAL_DEFAULT)
POLLS_PER_HOUR = 3600 / DEFAULT_INTERVAL

# Targets (issue 12, "Figures for the closing note").
TARGET_SHARE = 0.10  # requests per hour at the default interval / the service's limit
TARGET_LATENCY_SLACK = 1.0  # s: answer-to-signal within one poll interval plus this
TARGET_RSS_MB = 70.0  # daemon VmRSS with three watched networks


@dataclass(frozen=True)
class Limit:
    per_hour: float
    text: str


# The published limits each network's figure is compared with.
LIMITS = {
    # docs.joinmastodon.org/api/rate-limits: 300 requests per 5 minutes per account.
    "mastodon": Limit(3600.0, "300 per 5 min per account"),
    # docs.bsky.app/docs/advanced-guides/rate-limits: 3,000 per 5 minutes per IP (createSession
    # 30 per 5 min and 300 per day per account, counted apart below).
    "bluesky": Limit(36_000.0, "3,000 per 5 min per IP"),
    # Synapse's default rc_message: a token bucket of 0.2 per second, burst 10. Synapse applies
    # it to what a user sends (messages, room and membership changes), not to reads; every
    # request of ooo's is counted against it here, which overstates the share.
    "matrix": Limit(0.2 * 3600, "rc_message 0.2/s (burst 10), every request counted"),
}
BLUESKY_LOGINS = "createSession: 30 per 5 min, 300 per day per account"

SEARCHES_PER_POLL = RunnerSettings(window_start=datetime.now(UTC)).searches_per_poll
"""Tags searched each time a watcher searches (ooo.networks.runner's default)."""

SAMPLE_POLL = 0.02  # s between two looks for a signal row (the latency clock's resolution)
POLL_SAMPLE = 0.05  # s between two reads of the watchers' last_poll


# ------------------------------------------------------------------------------- servers


class TimedLog(list[str]):
    """A fake server's request log (``fake.requests``) that also keeps when each request
    arrived (``time.time()``): the fakes append to it from their handler threads."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []
        self._lock = threading.Lock()

    def append(self, item: str) -> None:
        with self._lock:
            self.times.append(time.time())
            super().append(item)

    def entries(self) -> list[tuple[float, str]]:
        with self._lock:
            return list(zip(self.times, self, strict=True))


class BenchMastodon(FakeMastodon):
    """tests/support/fake_mastodon.py's server, also answering ``GET /api/v2/instance`` as
    every Mastodon since 4.0 does. Mastodon.py reads it once (and caches it) before the first
    tag timeline request, to see whether hashtag feeds are public; the fake answers 404, which
    the library does not cache, so it would ask again before every tag search and add a
    request per poll that a real server never sees."""

    def _route(
        self, method: str, path: str, query: dict[str, list[str]]
    ) -> tuple[int, Any, dict[str, str]]:
        if method == "GET" and path.rstrip("/") == "/api/v2/instance":
            public = {"local": "public", "remote": "public"}
            return (
                200,
                {
                    "domain": "hachyderm.test",
                    "title": "Hachyderm (benchmark)",
                    "version": "4.4.0",
                    "source_url": "https://github.com/mastodon/mastodon",
                    "description": "",
                    "usage": {"users": {"active_month": 1}},
                    "languages": ["en"],
                    "configuration": {
                        "urls": {"streaming": "wss://hachyderm.test"},
                        "statuses": {"max_characters": 500},
                        "timelines_access": {
                            "live_feeds": public,
                            "hashtag_feeds": public,
                            "trending_link_feeds": public,
                        },
                    },
                    "registrations": {"enabled": False, "approval_required": False},
                    "rules": [],
                },
                {},
            )
        return super()._route(method, path, query)


class LoggedSynapse(Synapse):
    """tests/support/synapse.py's Synapse with its access log on (one line per request, with
    the requester and the user agent), in ``access.log`` with the record's epoch time."""

    def _log_config(self) -> dict[str, Any]:
        config = super()._log_config()
        config["formatters"]["access"] = {"format": "%(created).6f %(message)s"}
        config["handlers"]["access"] = {
            "class": "logging.FileHandler",
            "formatter": "access",
            "filename": str(self.root / "access.log"),
        }
        config["loggers"] = {
            "synapse.access": {"level": "INFO", "handlers": ["access"], "propagate": False}
        }
        return config

    _LINE = re.compile(
        r'^(\d+\.\d+) .*? Processed request: .*? \d+B (\d{3})!? "(\S+) (\S+) [^"]*" "([^"]*)"'
    )

    def requests(self) -> list[tuple[float, str]]:
        """(time, "METHOD /path") of every request made by a client other than this script's
        helpers (which use urllib): the daemon's nio/aiohttp requests."""
        path = self.root / "access.log"
        out = []
        with contextlib.suppress(FileNotFoundError):
            for line in path.read_text(errors="replace").splitlines():
                match = self._LINE.match(line)
                if match and not match.group(5).startswith("Python-urllib"):
                    out.append((float(match.group(1)), f"{match.group(3)} {match.group(4)}"))
        return out


# ------------------------------------------------------------------------------- requests


def endpoint(network: str, request: str) -> tuple[str, str]:
    """("METHOD", endpoint) with ids replaced: ``GET /api/v1/statuses/:id/context``."""
    method, _, target = request.partition(" ")
    path = urlsplit(target).path
    if network == "mastodon":
        path = re.sub(r"/statuses/\d+", "/statuses/:id", path)
        path = re.sub(r"/timelines/tag/[^/]+", "/timelines/tag/:tag", path)
    elif network == "bluesky":
        path = path.removeprefix("/xrpc/")
    else:
        parts = []
        for segment in path.split("/"):
            text = unquote(segment)
            parts.append(":id" if len(text) > 1 and text[0] in "!$#@" else segment)
        path = "/".join(parts).removeprefix("/_matrix/client")
        path = re.sub(r"(/send/[^/]+/)[^/]+$", r"\1:txn", path)
    return method, path


_MATRIX_SIGN_IN = ("/account/whoami", "/joined_rooms", "/join/", "/state/", "/directory/", "/login")


def request_class(network: str, method: str, path: str) -> str:
    """What a request is for: "start" (sign-in and set-up, once per start of the daemon),
    "scheduled" (Bluesky's tag search, every 30 min whatever the interval), "notice" (a room
    notice, once per internal inquiry) or "poll" (every poll)."""
    if network == "mastodon" and path in (
        "/api/v1/accounts/verify_credentials",
        "/api/v2/instance/",
    ):
        return "start"
    if network == "bluesky":
        if path.startswith("com.atproto.server."):
            return "start"
        if path == "app.bsky.feed.searchPosts":
            return "scheduled"
    if network == "matrix":
        if method == "PUT" and "/send/" in path:
            return "notice"
        if any(mark in path for mark in _MATRIX_SIGN_IN):
            return "start"
    return "poll"


@dataclass
class Window:
    """Whole polls of one watcher: [first poll's start, the start of the poll after the last)."""

    polls: int
    start: float
    end: float
    requests: int = 0
    by_endpoint: dict[str, int] = field(default_factory=dict)
    other: dict[str, int] = field(default_factory=dict)
    """Requests of the other classes in the window (they are not per-poll costs)."""
    periods: list[float] = field(default_factory=list)
    """Seconds between consecutive poll starts (the interval counts from a poll's end, so
    each period is the interval plus one poll's duration)."""

    @property
    def per_poll(self) -> float:
        return self.requests / self.polls if self.polls else math.nan


def window(
    network: str, requests: list[tuple[float, str]], polls: list[float], lo: float, hi: float
) -> Window | None:
    """The polls of `network` that started in [lo, hi] and the requests made in them."""
    starts = [p for p in polls if lo <= p <= hi]
    if len(starts) < 2:
        return None
    w = Window(polls=len(starts) - 1, start=starts[0], end=starts[-1])
    w.periods = [b - a for a, b in itertools.pairwise(starts)]
    for at, request in requests:
        if not w.start <= at < w.end:
            continue
        method, path = endpoint(network, request)
        kind = request_class(network, method, path)
        key = f"{method} {path}"
        if kind == "poll":
            w.requests += 1
            w.by_endpoint[key] = w.by_endpoint.get(key, 0) + 1
        else:
            w.other[key] = w.other.get(key, 0) + 1
    return w


# ------------------------------------------------------------------------------- the store


class StateReader:
    """Read-only looks at the daemon's state database, one connection per thread (the
    sampler's and each latency thread's)."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self._local = threading.local()

    def query(self, sql: str, *args: object) -> list[tuple[Any, ...]]:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=5)
            self._local.conn = conn
        try:
            return conn.execute(sql, args).fetchall()
        except sqlite3.OperationalError:
            return []  # locked for a moment, or the schema is not there yet

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


class PollSampler:
    """Collects the start of every poll of every watcher: a thread reads
    ``network_watcher.last_poll`` every 50 ms (a poll writes its start time when it ends; polls
    are seconds apart, so none is missed) and notes any state other than "ok"."""

    def __init__(self, reader: StateReader) -> None:
        self.reader = reader
        self.polls: dict[str, set[float]] = {n: set() for n in NETWORKS}
        self.trouble: dict[str, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="poll-sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for kind, last_poll, state, error in self.reader.query(
                "SELECT kind, last_poll, state, last_error FROM network_watcher"
            ):
                if last_poll and kind in self.polls:
                    self.polls[kind].add(epoch(last_poll))
                if state not in ("ok", "starting", "stopped") and kind not in self.trouble:
                    self.trouble[kind] = f"{state}: {error}"
            self._stop.wait(POLL_SAMPLE)
        self.reader.close()

    def times(self, network: str) -> list[float]:
        return sorted(self.polls[network])

    def count_after(self, network: str, moment: float) -> int:
        return sum(1 for p in list(self.polls[network]) if p >= moment)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


# ------------------------------------------------------------------------------- helpers


def proc_memory(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM of a process, in MB (MiB)."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024
    return out


def proc_cpu_seconds(pid: int) -> float:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return 0


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]


def ooo_version() -> str:
    """The commit measured (the daemon runs from this tree), marked when ooo/ has edits."""
    try:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", "ooo"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return f"{ROOT} (not a git checkout)"
    return f"{head}{' + uncommitted changes in ooo/' if dirty else ''}"


IMPORT_STEPS = {
    "ooo.daemon": ["ooo.daemon"],
    "+ ooo.networks.mastodon (Mastodon.py)": ["ooo.daemon", "ooo.networks.mastodon"],
    "+ ooo.networks.bluesky (atproto)": ["ooo.daemon", "ooo.networks.bluesky"],
    "+ ooo.networks.matrix (matrix-nio)": ["ooo.daemon", "ooo.networks.matrix"],
    "+ all three": [
        "ooo.daemon",
        "ooo.networks.mastodon",
        "ooo.networks.bluesky",
        "ooo.networks.matrix",
    ],
}


def import_rss() -> dict[str, float]:
    """VmRSS (MB) of a fresh interpreter after importing the daemon, and the daemon plus each
    watcher's module (and so its network library): where the watchers' memory comes from."""
    out = {}
    for label, modules in IMPORT_STEPS.items():
        code = (
            f"import {', '.join(modules)}\n"
            "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmRSS')][0])"
        )
        done = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            cwd=ROOT,
        )
        if done.returncode == 0 and done.stdout.strip().isdigit():
            out[label] = int(done.stdout.strip()) / 1024
    return out


# ------------------------------------------------------------------------------- the run


@dataclass
class Sample:
    ref: str
    offset: float
    """Seconds from the watcher's last poll start to the answer (where in the cycle it fell)."""
    latency: float | None
    """Seconds from the answer to its signal row (None: none within the timeout)."""


@dataclass
class Results:
    interval: float
    settings: dict[str, Any]
    quiet: dict[str, Window | None] = field(default_factory=dict)
    busy: dict[str, Window | None] = field(default_factory=dict)
    totals: dict[str, dict[str, int]] = field(default_factory=dict)
    """Every request of the whole run, by class ("start", "poll", ...)."""
    start_requests: dict[str, dict[str, int]] = field(default_factory=dict)
    """The "start" requests of the whole run, by endpoint."""
    samples: dict[str, list[Sample]] = field(default_factory=dict)
    memory: dict[str, dict[str, float]] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)
    imports: dict[str, float] = field(default_factory=dict)
    """VmRSS (MB) of a fresh interpreter after each step of IMPORT_STEPS."""
    cpu_wall: float = 0.0
    """Seconds over which `cpu` was used (from the daemons' start to the measurement)."""
    threads: dict[str, int] = field(default_factory=dict)
    signals: dict[str, int] = field(default_factory=dict)
    peak_notices: int = 0
    notes: list[str] = field(default_factory=list)
    phase_seconds: dict[str, float] = field(default_factory=dict)


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.interval = float(args.interval)
        self.rng = random.Random(args.seed)
        self.workdir = Path(tempfile.mkdtemp(prefix="ooo-bench-net-"))
        self.stack = MailStack()
        # The run polls up to 24 times as often as the default: the fake's own 300-per-5-min
        # budget would throttle it (and the watcher would pause, as it should).
        self.mastodon = BenchMastodon(rate_limit=10**9)
        self.mastodon_log = TimedLog()
        self.mastodon.requests = self.mastodon_log
        self.bluesky = FakeBluesky()
        self.bluesky_log = TimedLog()
        self.bluesky.requests = self.bluesky_log
        self.synapse = LoggedSynapse()
        self.daemon: Responder | None = None
        self.reference: Responder | None = None
        self.sampler: PollSampler | None = None
        self.reader: StateReader | None = None
        self.owner: User | None = None
        self.people: dict[str, MatrixUser] = {}
        self.room = ""
        self.refs: dict[str, list[str]] = {}
        self.notices: dict[str, str] = {}
        self.results = Results(
            interval=self.interval,
            settings={
                "interval_s": self.interval,
                "polls": args.polls,
                "answers": args.answers,
                "open_threads": args.open_threads,
                "unasked": args.unasked,
                "seed": args.seed,
            },
        )
        self._started: list[Callable[[], None]] = []
        self.phases: dict[str, list[float]] = {}
        """Per network, how long after a poll each answer is posted (see sample)."""
        self.window_bounds: dict[str, tuple[float, float]] = {}
        """Wall-clock bounds of the quiet and the busy (answers) phase."""
        self.cpu_start: dict[str, float] = {}
        self.cpu_since = time.monotonic()

    # -- set-up -----------------------------------------------------------------------------

    def setup(self) -> None:
        t0 = time.monotonic()
        print("starting Dovecot + Postfix, Synapse and the two fake APIs", flush=True)
        self._started.append(self.stack.cleanup)
        self.stack.start()
        self._started.append(self.synapse.cleanup)
        self.synapse.start()
        self.mastodon.start()
        self._started.append(self.mastodon.stop)
        self.bluesky.__enter__()
        self._started.append(lambda: self.bluesky.__exit__(None, None, None))
        # The fakes send each answer in two small writes (headers, then body); with Nagle's
        # algorithm on, the client's delayed ACK holds the second back by ~40 ms per request,
        # a stall of the stand-ins that no real server has. TCP_NODELAY, as servers set it.
        for fake in (self.mastodon, self.bluesky):
            assert fake._server is not None
            fake._server.RequestHandlerClass.disable_nagle_algorithm = True  # type: ignore[attr-defined]

        tag = uuid.uuid4().hex[:6]
        self.people = {n: self.synapse.register(f"{n}{tag}") for n in ("bob", "carol", "dave")}
        self.synapse.set_display_name(self.people["carol"], "Carol Jones")
        self.synapse.set_display_name(self.people["dave"], "Dave")
        self.room = self.synapse.create_room(self.people["carol"], name="Team help")
        self.synapse.join(self.people["dave"], self.room)

        self.owner = self.stack.add_user("bob")
        plain_owner = self.stack.add_user("carl")
        self.stack.add_user("asker")
        (self.workdir / "networks").mkdir()
        (self.workdir / "plain").mkdir()
        self.daemon = Responder(
            self.stack, self.owner, self.workdir / "networks", extra=self.network_config()
        )
        self.reference = Responder(self.stack, plain_owner, self.workdir / "plain")
        print("starting the two daemons (three watched networks / none)", flush=True)
        self.daemon.start()
        self.reference.start()
        self.cpu_since = time.monotonic()
        self.cpu_start = {
            "networks": proc_cpu_seconds(self.pid(self.daemon)),
            "no_networks": proc_cpu_seconds(self.pid(self.reference)),
        }
        self.reader = StateReader(self.daemon.state / "state.db")
        self.sampler = PollSampler(self.reader)
        self.sampler.start()

        self.send_inquiries(plain_owner)
        self.post_load()
        self.results.phase_seconds["set-up"] = time.monotonic() - t0
        self.results.memory["three networks, after set-up"] = proc_memory(self.pid(self.daemon))

    @staticmethod
    def pid(responder: Responder) -> int:
        assert responder.proc is not None
        return responder.proc.pid

    def network_config(self) -> str:
        bob = self.people["bob"]
        every = f'poll_interval = "{self.interval:g}s"'
        return f"""
[[network]]
kind = "mastodon"
handle = "@{self.mastodon.owner.username}@hachyderm.test"
watch = true
api_url = "{self.mastodon.url}"
token_command = "printf {TOKEN}"
{every}

[[network]]
kind = "bluesky"
handle = "{self.bluesky.owner.handle}"
watch = true
api_url = "{self.bluesky.url}"
password_command = "printf {APP_PASSWORD}"
{every}

[[network]]
kind = "matrix"
label = "#team-help"
room = "{self.room}"
homeserver = "{self.synapse.url}"
user = "{bob.user_id}"
token_command = "printf {bob.access_token}"
watch = true
ask = ["internal"]
{every}
"""

    def send_inquiries(self, plain_owner: User) -> None:
        """One inquiry per role from a distinct sender (asker+N@), to both owners; the refs
        the daemon gave them, by role. Every sender is internal (the owner's domain), so each
        inquiry also gets a notice in the Matrix room."""
        assert self.daemon is not None and self.reference is not None and self.owner is not None
        a = self.args
        roles = {
            "mastodon open": a.open_threads,
            "bluesky open": a.open_threads,
            "unasked": a.unasked,
            "mastodon answers": a.answers,
            "bluesky answers": a.answers,
            "matrix answers": a.answers,
        }
        senders: list[tuple[str, str]] = []
        for role, count in roles.items():
            senders += [
                (role, f"asker+{len(senders) + i}@{self.stack.domain}") for i in range(count)
            ]
        print(f"sending {len(senders)} inquiries to each daemon", flush=True)
        for n, (_role, sender) in enumerate(senders):
            subject = f"Question {n}: exporting the quarterly report"
            for owner in (self.owner, plain_owner):
                self.stack.send(inquiry(sender, owner, subject), sender, [owner.address])
        self.daemon.wait_decided(len(senders), timeout=120)
        self.reference.wait_decided(len(senders), timeout=120)
        by_sender = dict(
            self.daemon.query("SELECT lower(sender), ref FROM message WHERE ref IS NOT NULL")
        )
        for role, sender in senders:
            ref = by_sender.get(sender.lower())
            if ref is None:
                raise RuntimeError(f"no inquiry reference for {sender}: {by_sender}")
            self.refs.setdefault(role, []).append(ref)
        # ask = ["internal"]: every inquiry gets its notice (woken by each new inquiry).
        wait_for(
            lambda: (
                self.query_one("SELECT count(*) FROM network_notice WHERE state = 'posted'")
                >= len(senders)
            ),
            120,
            "the room notices of every inquiry",
        )
        self.notices = dict(self.query("SELECT ref, event_id FROM network_notice"))

    def query(self, sql: str, *args: object) -> list[tuple[Any, ...]]:
        assert self.reader is not None
        return self.reader.query(sql, *args)

    def query_one(self, sql: str, *args: object) -> int:
        rows = self.query(sql, *args)
        return int(rows[0][0]) if rows and rows[0][0] is not None else 0

    def post_load(self) -> None:
        """The open inquiries whose threads the watchers follow: each asked on Mastodon or
        Bluesky (mentioning the owner, with the tag), with a bystander's reply that answers
        nothing. Waits until the watchers follow them all."""
        m, b = self.mastodon, self.bluesky
        bystander = m.account("sam", "fosstodon.test", name="Sam")
        b_bystander = b.profile("sam.bsky.test", "Sam")
        for i, ref in enumerate(self.refs.get("mastodon open", [])):
            asker = m.account(f"openasker{i}", "elsewhere.test")
            q = m.post(
                asker, "How do I export the quarterly report?", mentions=(m.owner,),
                tags=(tag_for(ref),),
            )  # fmt: skip
            m.post(bystander, "Same here, following this.", reply_to=q["id"])
        for i, ref in enumerate(self.refs.get("bluesky open", [])):
            b_asker = b.profile(f"openasker{i}.bsky.test", f"Open Asker {i}")
            tag = tag_for(ref)
            uri = b.post(b_asker, f"@{b.owner.handle} how do I export it? #{tag}", tags=(tag,))
            b.post(b_bystander, "Same here, following this.", reply_to=uri)
        for kind, role in (("mastodon", "mastodon open"), ("bluesky", "bluesky open")):
            want = len(self.refs.get(role, []))

            def followed(kind: str = kind, want: int = want) -> bool:
                sql = "SELECT count(*) FROM network_thread WHERE watcher LIKE ?"
                return self.query_one(sql, f"{kind}:%") >= want

            wait_for(
                followed,
                10 * self.interval + 30,
                f"{kind} to follow the {want} open threads",
            )

    # -- 1. requests, quiet -------------------------------------------------------------------

    def run_quiet(self) -> None:
        assert self.sampler is not None
        n = self.args.polls
        print(f"quiet: {n} polls of each watcher ({n * self.interval:.0f} s)", flush=True)
        t0 = time.time()
        # The window runs from the first poll that starts after t0 to the (n+1)th.
        wait_for(
            lambda: all(self.sampler.count_after(k, t0) >= n + 1 for k in NETWORKS),  # type: ignore[union-attr]
            (n + 4) * self.interval + 60,
            f"{n + 1} polls of every watcher",
            interval=0.1,
        )
        self.window_bounds["quiet"] = (t0, time.time())
        self.results.phase_seconds["quiet"] = time.time() - t0

    # -- 2. answers (and requests, busy) ----------------------------------------------------

    def run_answers(self) -> None:
        print(
            f"answers: {self.args.answers} per network, at random moments of the "
            f"{self.interval:g} s poll cycle",
            flush=True,
        )
        t0 = time.time()
        k = self.args.answers
        for network in NETWORKS:
            phases = [(i + self.rng.random()) / k * self.interval for i in range(k)]
            self.rng.shuffle(phases)
            self.phases[network] = phases
        workers = {
            "mastodon": self.answers_mastodon,
            "bluesky": self.answers_bluesky,
            "matrix": self.answers_matrix,
        }
        errors: list[BaseException] = []

        def run(fn: Callable[[], None]) -> None:
            try:
                fn()
            except BaseException as exc:  # reported by the main thread
                errors.append(exc)

        threads = [
            threading.Thread(target=run, args=(fn,), name=f"answers-{name}", daemon=True)
            for name, fn in workers.items()
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.window_bounds["busy"] = (t0, time.time())
        self.results.phase_seconds["answers"] = time.time() - t0
        if errors:
            raise errors[0]

    def sample(self, network: str, index: int, ref: str, answer: Callable[[], object]) -> None:
        """Post the answer at this sample's moment of the poll cycle; time its signal row.

        The moments are stratified: with K answers the cycle is cut into K equal slices and
        each answer falls at a uniformly random point of its own slice (slices in random
        order), so even a few answers cover the whole cycle, the unlucky moment just after a
        poll included. The wait starts just after a poll: the first one waits for a fresh
        poll, every later one starts when the previous answer's signal appears, which a poll
        has just written."""
        assert self.sampler is not None
        if index == 0:
            mark = time.time()
            wait_for(
                lambda: self.sampler.count_after(network, mark) >= 1,  # type: ignore[union-attr]
                3 * self.interval + 30,
                f"a poll of {network}",
                interval=0.01,
            )
        time.sleep(self.phases[network][index])
        started = time.time()
        answer()
        timeout = 6 * self.interval + 30
        found = None
        while time.time() - started < timeout:
            if self.query_one(
                "SELECT count(*) FROM signal WHERE ref = ? AND network IS NOT NULL", ref
            ):
                found = time.time()
                break
            time.sleep(SAMPLE_POLL)
        before = [p for p in self.sampler.times(network) if p <= started]
        offset = started - before[-1] if before else math.nan
        latency = None if found is None else found - started
        self.results.samples.setdefault(network, []).append(Sample(ref, offset, latency))
        if latency is None:
            self.results.notes.append(f"{network}: no signal for {ref} within {timeout:.0f} s")

    def answers_mastodon(self) -> None:
        m = self.mastodon
        helpers = [m.account(n, "hachyderm.test", name=n.title()) for n in ("ana", "ben")]
        for i, ref in enumerate(self.refs["mastodon answers"]):
            asker = m.account(f"asker{i}", "elsewhere.test")
            q = m.post(
                asker, "How do I export the quarterly report as CSV?", mentions=(m.owner,),
                tags=(tag_for(ref),),
            )  # fmt: skip
            helper = helpers[i % len(helpers)]
            answer = functools.partial(
                m.post, helper, "Use /v2/export?format=csv, that does it.", reply_to=q["id"]
            )
            self.sample("mastodon", i, ref, answer)

    def answers_bluesky(self) -> None:
        b = self.bluesky
        helpers = [b.profile(f"{n}.bsky.test", n.title()) for n in ("ana", "ben")]
        for i, ref in enumerate(self.refs["bluesky answers"]):
            asker = b.profile(f"asker{i}.bsky.test", f"Asker {i}")
            tag = tag_for(ref)
            q = b.post(asker, f"@{b.owner.handle} how do I export as CSV? #{tag}", tags=(tag,))
            helper = helpers[i % len(helpers)]
            answer = functools.partial(
                b.post, helper, "Use /v2/export?format=csv, that does it.", reply_to=q
            )
            self.sample("bluesky", i, ref, answer)

    def answers_matrix(self) -> None:
        helpers = [self.people["carol"], self.people["dave"]]
        for i, ref in enumerate(self.refs["matrix answers"]):
            notice = self.notices[ref]
            helper = helpers[i % len(helpers)]
            answer = functools.partial(
                self.synapse.send,
                helper,
                self.room,
                "Reinstall the VPN profile, that fixes it.",
                thread=notice,
            )
            self.sample("matrix", i, ref, answer)

    # -- measuring --------------------------------------------------------------------------

    def requests(self, network: str) -> list[tuple[float, str]]:
        if network == "mastodon":
            return self.mastodon_log.entries()
        if network == "bluesky":
            return self.bluesky_log.entries()
        return self.synapse.requests()

    def measure(self) -> None:
        assert self.daemon is not None and self.reference is not None
        assert self.sampler is not None
        res = self.results
        res.memory["three networks, at the end"] = proc_memory(self.pid(self.daemon))
        res.memory["no network, at the end"] = proc_memory(self.pid(self.reference))
        res.cpu = {
            "three networks": proc_cpu_seconds(self.pid(self.daemon)) - self.cpu_start["networks"],
            "no network": proc_cpu_seconds(self.pid(self.reference))
            - self.cpu_start["no_networks"],
        }
        res.cpu_wall = time.monotonic() - self.cpu_since
        res.threads = {
            "three networks": proc_threads(self.pid(self.daemon)),
            "no network": proc_threads(self.pid(self.reference)),
        }
        for network in NETWORKS:
            requests = self.requests(network)
            polls = self.sampler.times(network)
            for phase, target in (("quiet", res.quiet), ("busy", res.busy)):
                if phase in self.window_bounds:
                    lo, hi = self.window_bounds[phase]
                    target[network] = window(network, requests, polls, lo, hi)
            totals: Counter[str] = Counter()
            for _at, request in requests:
                method, path = endpoint(network, request)
                totals[request_class(network, method, path)] += 1
            res.totals[network] = dict(totals)
            signin: Counter[str] = Counter()
            for _at, request in requests:
                method, path = endpoint(network, request)
                if request_class(network, method, path) == "start":
                    signin[f"{method} {path}"] += 1
            res.start_requests[network] = dict(signin)
            res.signals[network] = self.query_one(
                "SELECT count(*) FROM signal WHERE network = ?", network
            )
            if network in self.sampler.trouble:
                res.notes.append(f"{network} watcher was not ok: {self.sampler.trouble[network]}")
        # Room notices: the most sent within any 10 s (rc_message lets 10 through at once).
        sends = sorted(
            at
            for at, request in self.synapse.requests()
            if request_class("matrix", *endpoint("matrix", request)) == "notice"
        )
        res.peak_notices = max(
            (sum(1 for s in sends if at <= s < at + 10) for at in sends), default=0
        )

    # -- tear-down --------------------------------------------------------------------------

    def teardown(self) -> None:
        if self.sampler is not None:
            self.sampler.stop()
        if self.reader is not None:
            self.reader.close()
        for name, responder in (("ooo daemon", self.daemon), ("reference daemon", self.reference)):
            if responder is None or responder.proc is None:
                continue
            try:
                code = responder.stop(timeout=30)
                if code != 0:
                    self.results.notes.append(f"{name} exited with {code}")
            except AssertionError as exc:
                self.results.notes.append(str(exc).splitlines()[0])
            lines = [
                line
                for line in responder.log_text().splitlines()
                if " ERROR " in line or " WARNING " in line or "Traceback" in line
            ]
            if lines:
                self.results.notes.append(
                    f"{name} log has {len(lines)} warning/error line(s), first: {lines[0]}"
                )
        if self.args.keep:
            self.synapse.stop()
            self.stack.stop()
            print(
                f"kept: ooo's files in {self.workdir}, Synapse in {self.synapse.root}, "
                f"the mail stack in {self.stack.root}"
            )
            self._started = [self.mastodon.stop, lambda: self.bluesky.__exit__(None, None, None)]
        for stop in reversed(self._started):
            with contextlib.suppress(Exception):
                stop()
        if not self.args.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)


# ------------------------------------------------------------------------------- report


def share_of(network: str, res: Results) -> dict[str, float] | None:
    """Requests per hour at the default interval and the share of the published limit."""
    windows = [w for w in (res.quiet.get(network), res.busy.get(network)) if w is not None]
    if not windows:
        return None
    per_poll = max(w.per_poll for w in windows)
    scheduled = 0.0
    if network == "bluesky":
        # searchPosts: at most every SEARCH_INTERVAL, searches_per_poll tags each time.
        every = max(BLUESKY_SEARCH_INTERVAL, DEFAULT_INTERVAL)
        scheduled = 3600 / every * SEARCHES_PER_POLL
    per_hour = per_poll * POLLS_PER_HOUR + scheduled
    return {
        "per_poll": per_poll,
        "scheduled_per_hour": scheduled,
        "per_hour": per_hour,
        "limit_per_hour": LIMITS[network].per_hour,
        "share": per_hour / LIMITS[network].per_hour,
    }


def latency_summary(network: str, res: Results) -> dict[str, float] | None:
    samples = res.samples.get(network, [])
    values = [s.latency for s in samples if s.latency is not None]
    if not values:
        return None
    return {
        "n": len(values),
        "missed": len(samples) - len(values),
        "p50": percentile(values, 50),
        "max": max(values),
        "min": min(values),
        "p50_intervals": percentile(values, 50) / res.interval,
        "max_intervals": max(values) / res.interval,
        "offset_min": min(s.offset for s in samples),
        "offset_max": max(s.offset for s in samples),
    }


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def report(res: Results, version: str) -> list[tuple[str, bool]]:
    verdicts: list[tuple[str, bool]] = []
    print()
    print(
        f"ooo {version}; {os.cpu_count()} CPUs; Python {platform.python_version()}; "
        f"poll interval in the run {res.interval:g} s; load average at the end "
        f"{os.getloadavg()[0]:.2f}"
    )

    print()
    print(
        f"== 1. API requests per watched network (per poll, measured at {res.interval:g} s; "
        f"per hour at the default {DEFAULT_INTERVAL / 60:g} min = {POLLS_PER_HOUR:g} polls/h)"
    )
    print(
        f"{'':9} {'polls':>5} {'quiet':>6} {'busy':>6} {'per hour':>9} "
        f"{'limit/h':>8} {'share':>6}  limit compared with"
    )
    for network in NETWORKS:
        q, b = res.quiet.get(network), res.busy.get(network)
        s = share_of(network, res)
        if s is None:
            print(f"{network:9} (no whole polls measured)")
            continue
        polls = (q.polls if q else 0) + (b.polls if b else 0)
        ok = s["share"] < TARGET_SHARE
        verdicts.append((f"{network} requests", ok))
        print(
            f"{network:9} {polls:5} {q.per_poll if q else math.nan:6.2f} "
            f"{b.per_poll if b else math.nan:6.2f} {s['per_hour']:9.0f} "
            f"{s['limit_per_hour']:8,.0f} {s['share']:6.1%}  {LIMITS[network].text}"
        )
    print("   one poll takes (time between poll starts minus the interval), p50 / max:")
    for network in NETWORKS:
        periods = [
            p
            for w in (res.quiet.get(network), res.busy.get(network))
            if w is not None
            for p in w.periods
        ]
        if periods:
            took = [max(0.0, p - res.interval) for p in periods]
            print(f"   {network:9} {percentile(took, 50) * 1000:6.0f} / {max(took) * 1000:6.0f} ms")
    print("   per poll, by endpoint (quiet | busy):")
    for network in NETWORKS:
        q, b = res.quiet.get(network), res.busy.get(network)
        keys = sorted({*(q.by_endpoint if q else {}), *(b.by_endpoint if b else {})})
        for key in keys:
            qv = q.by_endpoint.get(key, 0) / q.polls if q else math.nan
            bv = b.by_endpoint.get(key, 0) / b.polls if b else math.nan
            print(f"   {network:9} {qv:5.2f} | {bv:5.2f}  {key}")
    print("   not per poll (whole run):")
    for network in NETWORKS:
        signin = res.start_requests.get(network, {})
        total = res.totals.get(network, {})
        extra = ", ".join(f"{v} {k}" for k, v in sorted(signin.items()))
        print(f"   {network:9} once per start: {extra or 'none'}")
        if network == "bluesky":
            print(
                f"   {'':9} {signin.get('POST com.atproto.server.createSession', 0)} login(s) "
                "in the run "
                f"({BLUESKY_LOGINS}); searchPosts {total.get('scheduled', 0)} in the run, "
                f"at most every {BLUESKY_SEARCH_INTERVAL / 60:.0f} min (2/h, in the per-hour "
                "figure)"
            )
        if network == "matrix":
            print(
                f"   {'':9} room notices: {total.get('notice', 0)} PUT send (one per internal "
                f"inquiry); at most {res.peak_notices} within 10 s, as fast as the inquiries "
                "came (default rc_message: burst 10, then 1 per 5 s)"
            )

    print()
    print(
        f"== 2. Answer-to-signal time (answers posted at random moments of the "
        f"{res.interval:g} s poll cycle; clock stops when the signal row appears)"
    )
    print(
        f"{'':9} {'n':>3} {'p50 s':>7} {'max s':>7} {'min s':>7} {'p50/int':>8} {'max/int':>8}"
        "  answers fell at"
    )
    for network in NETWORKS:
        s = latency_summary(network, res)
        if s is None:
            print(f"{network:9} (no samples)")
            continue
        ok = s["max"] <= res.interval + TARGET_LATENCY_SLACK and not s["missed"]
        verdicts.append((f"{network} latency", ok))
        missed = f", {s['missed']:.0f} missed" if s["missed"] else ""
        print(
            f"{network:9} {s['n']:3.0f} {s['p50']:7.2f} {s['max']:7.2f} {s['min']:7.2f} "
            f"{s['p50_intervals']:8.2f} {s['max_intervals']:8.2f}  "
            f"{s['offset_min']:.1f}-{s['offset_max']:.1f} s after a poll{missed}"
        )

    print()
    print("== 3. Daemon memory (MB) and CPU")
    for when, mem in res.memory.items():
        print(
            f"   {when:30} VmRSS {mem.get('VmRSS', math.nan):6.1f}   "
            f"VmHWM {mem.get('VmHWM', math.nan):6.1f}"
        )
    for who, cpu in res.cpu.items():
        print(
            f"   {who:30} CPU {cpu:5.1f} s over {res.cpu_wall:.0f} s; "
            f"{res.threads.get(who, 0)} threads"
        )
    if res.imports:
        base = res.imports.get("ooo.daemon", math.nan)
        print(
            "   a fresh interpreter importing the daemon (VmRSS) and each watcher module "
            "(difference):"
        )
        for label, rss in res.imports.items():
            extra = "" if label == "ooo.daemon" else f"  ({rss - base:+.1f})"
            print(f"   {label:40} {rss:6.1f}{extra}")
    end = res.memory.get("three networks, at the end")
    if end:
        ok = end["VmRSS"] < TARGET_RSS_MB
        verdicts.append(("memory", ok))

    print()
    print("== Targets")
    for network in NETWORKS:
        s = share_of(network, res)
        if s is not None:
            print(
                f"   {verdict(s['share'] < TARGET_SHARE)}  {network}: {s['per_hour']:.0f} "
                f"requests/h at the default interval = {s['share']:.1%} of "
                f"{s['limit_per_hour']:,.0f}/h (target < {TARGET_SHARE:.0%})"
            )
    for network in NETWORKS:
        s = latency_summary(network, res)
        if s is not None:
            limit = res.interval + TARGET_LATENCY_SLACK
            print(
                f"   {verdict(s['max'] <= limit and not s['missed'])}  {network}: answer to "
                f"signal p50 {s['p50']:.2f} s, max {s['max']:.2f} s (target <= interval + "
                f"{TARGET_LATENCY_SLACK:g} s = {limit:g} s)"
            )
    if end:
        print(
            f"   {verdict(end['VmRSS'] < TARGET_RSS_MB)}  daemon VmRSS with three watched "
            f"networks {end['VmRSS']:.1f} MB (target < {TARGET_RSS_MB:.0f} MB; peak VmHWM "
            f"{end['VmHWM']:.1f} MB)"
        )
    for network in NETWORKS:
        want = len(res.samples.get(network, []))
        if res.signals.get(network, 0) != want:
            print(
                f"   note: {network}: {res.signals.get(network, 0)} network signals recorded "
                f"for {want} answers"
            )
    for note in res.notes:
        print(f"   note: {note}")
    return verdicts


def results_json(res: Results, version: str) -> dict[str, Any]:
    def win(w: Window | None) -> dict[str, Any] | None:
        if w is None:
            return None
        return {
            "polls": w.polls,
            "requests": w.requests,
            "per_poll": w.per_poll,
            "by_endpoint": w.by_endpoint,
            "not_per_poll": w.other,
            "seconds": w.end - w.start,
            "poll_periods_s": w.periods,
        }

    return {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "version": version,
        "settings": res.settings,
        "requests": {
            n: {
                "quiet": win(res.quiet.get(n)),
                "busy": win(res.busy.get(n)),
                "default_interval": share_of(n, res),
                "limit": LIMITS[n].text,
                "run_totals_by_class": res.totals.get(n, {}),
                "once_per_start": res.start_requests.get(n, {}),
            }
            for n in NETWORKS
        },
        "matrix_peak_notices_in_10s": res.peak_notices,
        "latency": {
            n: {
                "summary": latency_summary(n, res),
                "samples": [
                    {"ref": s.ref, "offset_s": s.offset, "latency_s": s.latency}
                    for s in res.samples.get(n, [])
                ],
            }
            for n in NETWORKS
        },
        "memory_mb": res.memory,
        "import_rss_mb": res.imports,
        "cpu_seconds": res.cpu,
        "cpu_over_seconds": res.cpu_wall,
        "threads": res.threads,
        "network_signals": res.signals,
        "phase_seconds": res.phase_seconds,
        "targets": {
            "share_below": TARGET_SHARE,
            "latency_max_s": res.interval + TARGET_LATENCY_SLACK,
            "rss_below_mb": TARGET_RSS_MB,
        },
        "notes": res.notes,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--interval",
        type=int,
        default=5,
        help="poll_interval of the three watchers in the run, whole seconds (>= 5; default 5)",
    )
    parser.add_argument(
        "--polls", type=int, default=12, help="polls of each watcher in the quiet window"
    )
    parser.add_argument(
        "--answers", type=int, default=6, help="answers timed per network (default 6)"
    )
    parser.add_argument(
        "--open-threads",
        type=int,
        default=3,
        help="open inquiries asked on Mastodon and on Bluesky each, followed all along",
    )
    parser.add_argument(
        "--unasked",
        type=int,
        default=2,
        help="inquiries asked on no network (the tag-search fallback looks for them)",
    )
    parser.add_argument("--seed", type=int, default=None, help="seed of the answer moments")
    parser.add_argument("--json", type=Path, help="also write all figures to this file")
    parser.add_argument("--keep", action="store_true", help="keep the servers' and ooo's files")
    parser.add_argument(
        "--skip-imports",
        action="store_true",
        help="do not measure the memory that importing each watcher's library costs",
    )
    args = parser.parse_args(argv)
    if args.interval < 5:
        parser.error("--interval must be at least 5 (ooo's minimum poll_interval)")
    if min(args.polls, args.answers) < 1 or min(args.open_threads, args.unasked) < 0:
        parser.error("--polls and --answers must be at least 1, the other counts at least 0")
    missing = missing_binaries()
    if missing:
        print(f"missing {', '.join(missing)}: run scripts/install-mailservers", file=sys.stderr)
        return 2
    if not synapse_installed():
        print(f"Synapse missing: {sys.executable} -m pip install matrix-synapse", file=sys.stderr)
        return 2

    bench = Bench(args)
    failed = False
    started = time.monotonic()
    try:
        bench.setup()
        bench.run_quiet()
        bench.run_answers()
        bench.measure()
    except Exception as exc:  # report what was measured, then the error
        failed = True
        bench.results.notes.append(f"benchmark aborted: {type(exc).__name__}: {exc}")
        import traceback

        traceback.print_exc()
        with contextlib.suppress(Exception):
            bench.measure()
    finally:
        bench.teardown()
    bench.results.phase_seconds["tear-down"] = (
        time.monotonic() - started - sum(bench.results.phase_seconds.values())
    )
    if not args.skip_imports:
        print("measuring what importing each watcher costs", flush=True)
        bench.results.imports = import_rss()
    version = ooo_version()
    report(bench.results, version)
    print(f"\nwhole run {time.monotonic() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(results_json(bench.results, version), indent=2))
    # Targets never change the exit status (a benchmark, not a test); a broken run does.
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
