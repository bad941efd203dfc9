"""The state database's schema: version 1 and the migrations that led to the current one.

Each migration takes the schema from version N-1 to N and runs in its own transaction (a crash
mid-migration leaves the previous version intact). Never edit one that has shipped.
"""

from __future__ import annotations

SCHEMA_VERSION = 6

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cursor (
    mailbox TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    epoch INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS message (
    id INTEGER PRIMARY KEY,
    mailbox TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    key TEXT NOT NULL,
    message_id TEXT,
    sender TEXT,
    from_name TEXT,
    subject TEXT,
    received_at TEXT,
    decided_at TEXT NOT NULL,
    reason TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    UNIQUE (mailbox, epoch, key)
);
CREATE INDEX IF NOT EXISTS message_message_id ON message (message_id);
CREATE INDEX IF NOT EXISTS message_reason ON message (reason);
CREATE TABLE IF NOT EXISTS reply (
    id INTEGER PRIMARY KEY,
    message INTEGER NOT NULL REFERENCES message (id),
    recipient TEXT NOT NULL,
    message_id TEXT NOT NULL UNIQUE,
    envelope_from TEXT NOT NULL,
    raw BLOB NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued', 'sending', 'sent', 'uncertain', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error TEXT,
    created_at TEXT NOT NULL,
    sent_at TEXT
);
CREATE INDEX IF NOT EXISTS reply_recipient ON reply (recipient, created_at);
CREATE INDEX IF NOT EXISTS reply_state ON reply (state, next_attempt_at);
CREATE TABLE IF NOT EXISTS event (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS status (key TEXT PRIMARY KEY, value TEXT NOT NULL, at TEXT NOT NULL);
"""

# Each entry takes the schema from version N-1 to N. Never edit one that has shipped.
MIGRATIONS: dict[int, str] = {
    1: SCHEMA,
    2: """
ALTER TABLE message ADD COLUMN ref TEXT;
ALTER TABLE message ADD COLUMN audience TEXT;
ALTER TABLE message ADD COLUMN route TEXT;
ALTER TABLE message ADD COLUMN delegate TEXT;
CREATE UNIQUE INDEX message_ref ON message (ref) WHERE ref IS NOT NULL;
ALTER TABLE reply ADD COLUMN kind TEXT NOT NULL DEFAULT 'reply';
ALTER TABLE reply ADD COLUMN cc TEXT NOT NULL DEFAULT '';
""",
    3: """
ALTER TABLE message ADD COLUMN follows TEXT;
ALTER TABLE message ADD COLUMN tagged TEXT;
CREATE INDEX message_follows ON message (follows) WHERE follows IS NOT NULL;
CREATE INDEX message_sender ON message (sender);
CREATE INDEX reply_message_id ON reply (message_id);
CREATE TABLE signal (
    id INTEGER PRIMARY KEY,
    ref TEXT NOT NULL,
    at TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('resolved', 'open', 'reopened')),
    by TEXT,
    rule TEXT NOT NULL,
    evidence TEXT NOT NULL,
    author TEXT,
    helper TEXT,
    message_id TEXT,
    flagged INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX signal_ref ON signal (ref, at);
""",
    4: """
CREATE INDEX reply_created ON reply (created_at);
""",
    5: """
ALTER TABLE message ADD COLUMN participants TEXT NOT NULL DEFAULT '';
ALTER TABLE signal ADD COLUMN unverified TEXT;
""",
    # Watching the owner's networks (ooo.networks, ooo.store.social): each watcher's cursor
    # and state, the posts that belonged to an inquiry (each read once), the followed threads,
    # the tag searches, the room notices; a signal from a post names its network and link.
    6: """
CREATE TABLE network_cursor (
    watcher TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE network_post (
    watcher TEXT NOT NULL,
    post_id TEXT NOT NULL,
    ref TEXT NOT NULL,
    root TEXT NOT NULL,
    role TEXT NOT NULL,
    author TEXT NOT NULL,
    link TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    seen_at TEXT NOT NULL,
    PRIMARY KEY (watcher, post_id)
);
CREATE INDEX network_post_ref ON network_post (watcher, ref, created_at);
CREATE TABLE network_thread (
    watcher TEXT NOT NULL,
    root TEXT NOT NULL,
    ref TEXT NOT NULL,
    asker TEXT,
    link TEXT NOT NULL DEFAULT '',
    started_at TEXT NOT NULL,
    read_at TEXT,
    PRIMARY KEY (watcher, root)
);
CREATE INDEX network_thread_ref ON network_thread (ref, watcher, started_at);
CREATE TABLE network_search (
    watcher TEXT NOT NULL,
    ref TEXT NOT NULL,
    searched_at TEXT NOT NULL,
    PRIMARY KEY (watcher, ref)
);
CREATE TABLE network_notice (
    watcher TEXT NOT NULL,
    ref TEXT NOT NULL,
    room TEXT NOT NULL,
    event_id TEXT,
    state TEXT NOT NULL CHECK (state IN ('posting', 'posted', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at TEXT NOT NULL,
    posted_at TEXT,
    PRIMARY KEY (watcher, ref)
);
CREATE TABLE network_watcher (
    watcher TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    last_poll TEXT,
    last_ok TEXT,
    next_poll TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    retry_after REAL,
    last_error TEXT,
    updated_at TEXT NOT NULL
);
ALTER TABLE signal ADD COLUMN network TEXT;
ALTER TABLE signal ADD COLUMN link TEXT;
""",
}
