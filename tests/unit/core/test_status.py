"""What `ooo status` says about the network watchers and the room notices (issue 12): each
watcher's state apart from the mailbox's, from plain facts (ooo.core.status is pure)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from ooo.core.status import NOTICES_LISTED, StatusFacts, network_lines, status_lines
from ooo.store.social import NoticeRecord, WatcherStateRecord

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 12, 22, 9, 0, tzinfo=UTC)  # 10:00 in Berlin
MASTODON = "mastodon:@bob@hachyderm.io"
ROOM = "matrix:!teamhelp:example.com"
BLUESKY = "bluesky:@bob.bsky.social"

QUIET = StatusFacts(
    now=NOW,
    window_start=datetime(2026, 12, 19, tzinfo=BERLIN),
    window_end=datetime(2026, 12, 28, tzinfo=BERLIN),
    timezone=BERLIN,
    status={},
    pid=None,
    cursor="17",
    epoch=1,
    counts={"reply": 2},
    reply_states={"sent": 2},
)


def state(watcher: str, state: str, **kwargs: object) -> WatcherStateRecord:
    """A watcher's state as the store hands it out (polled a minute ago by default)."""
    fields: dict[str, object] = {
        "watcher": watcher,
        "kind": watcher.split(":")[0],
        "state": state,
        "last_poll": NOW - timedelta(minutes=1),
        "last_ok": NOW - timedelta(minutes=1),
        "next_poll": NOW + timedelta(minutes=1),
        "attempts": 0,
        "retry_after": None,
        "last_error": None,
        "updated_at": NOW,
    }
    return WatcherStateRecord(**{**fields, **kwargs})  # type: ignore[arg-type]


def notice(ref: str, state: str, attempts: int = 1, error: str | None = None) -> NoticeRecord:
    return NoticeRecord(
        watcher=ROOM,
        ref=ref,
        room="!teamhelp:example.com",
        event_id="$e" if state == "posted" else None,
        state=state,
        attempts=attempts,
        last_error=error,
        created_at=NOW,
        posted_at=NOW if state == "posted" else None,
    )


def test_nothing_watched_says_nothing_more() -> None:
    """Without watchers or notices the lines are exactly the mailbox's, as before."""
    assert network_lines(QUIET) == []
    assert status_lines(QUIET) == [
        "window:   2026-12-19 00:00 → 2026-12-28 00:00 Europe/Berlin (inside the away window)",
        "process:  not running",
        "cursor:   17 (baseline #1)",
        "messages: 2 seen, 2 answered",
        "replies:  2 sent",
    ]


def test_each_watcher_is_said_apart_from_the_mailbox() -> None:
    """After the mailbox's lines: how many are watched, then each watcher in the config's
    order: its state, last and next poll in the owner's time, and the last error when it is
    failing; one never polled and one no longer in the config are said so."""
    facts = replace(
        QUIET,
        status={"last_error": ("IMAP connection reset", NOW)},
        watched=[MASTODON, ROOM, BLUESKY],
        watchers=[
            state(
                ROOM,
                "backoff",
                last_ok=NOW - timedelta(hours=1),
                next_poll=NOW + timedelta(minutes=4),
                attempts=3,
                retry_after=60.0,
                last_error="NetworkUnavailable: memory: 429 rate limited",
            ),
            state(MASTODON, "ok"),
            state("bluesky:@old.bsky.social", "stopped", next_poll=None),
        ],
    )
    lines = status_lines(facts)
    assert lines.index("last error: IMAP connection reset (at 2026-12-22 10:00:00)") < (
        lines.index("networks: 3 watched (apart from the mailbox)")
    )
    assert network_lines(facts) == [
        "networks: 3 watched (apart from the mailbox)",
        f"  {MASTODON}: ok",
        "    last poll:  2026-12-22 09:59:00, next 2026-12-22 10:01:00 (in 1 min)",
        f"  {ROOM}: backing off, attempt 3 (the service asked to wait 1 min)",
        "    last poll:  2026-12-22 09:59:00 (last ok 2026-12-22 09:00:00), next "
        "2026-12-22 10:04:00 (in 4 min)",
        "    last error: NetworkUnavailable: memory: 429 rate limited",
        f"  {BLUESKY}: not polled yet (the daemon polls it when it runs)",
        "  bluesky:@old.bsky.social: stopped (no longer watched in the config)",
        "    last poll:  2026-12-22 09:59:00",
    ]


def test_a_refused_sign_in_says_what_to_do() -> None:
    """state "auth": the owner must fix the secret; never ok yet; a next poll in the past
    is due."""
    facts = replace(
        QUIET,
        watched=[MASTODON],
        watchers=[
            state(
                MASTODON,
                "auth",
                last_ok=None,
                next_poll=NOW - timedelta(seconds=5),
                attempts=1,
                last_error="the access token was revoked\x1b[2J",
            )
        ],
    )
    assert network_lines(facts) == [
        "networks: 1 watched (apart from the mailbox)",
        f"  {MASTODON}: sign-in refused: fix its token or password (tried again hourly)",
        "    last poll:  2026-12-22 09:59:00 (never ok yet), next 2026-12-22 09:59:55 (due)",
        "    last error: the access token was revoked [2J",
    ]


def test_room_notices_are_counted_and_the_pending_and_failed_listed() -> None:
    """Posted ones are counted; pending ones (retried) and failed ones (given up) are listed
    with their reason, a few at most."""
    pending = [notice(f"OOO-PEND0{i}", "posting", 2, "timeout") for i in range(NOTICES_LISTED + 2)]
    facts = replace(
        QUIET,
        watched=[ROOM],
        watchers=[state(ROOM, "ok")],
        notices=[
            notice("OOO-POSTED", "posted"),
            *pending,
            notice("OOO-FAILED", "failed", 5, "M_FORBIDDEN: not in the room"),
        ],
    )
    lines = network_lines(facts)
    start = lines.index("room notices: 1 posted, 7 pending, 1 failed")
    assert lines[start + 1 :] == [
        *(
            f"  pending: OOO-PEND0{i} in !teamhelp:example.com, attempt 2: timeout"
            for i in range(NOTICES_LISTED)
        ),
        "           and 2 more",
        "  failed:  OOO-FAILED in !teamhelp:example.com: M_FORBIDDEN: not in the room",
    ]
