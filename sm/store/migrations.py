"""Forward-only schema migrations. ``PRAGMA user_version`` is the number applied.

Append a migration; never edit one that has shipped.
"""

from __future__ import annotations

MIGRATIONS: list[str] = [
    # 1: sessions and the append-only event log
    """
    CREATE TABLE sessions (
        id              TEXT PRIMARY KEY,
        name            TEXT,
        provider        TEXT NOT NULL,
        state           TEXT NOT NULL,
        cwd             TEXT NOT NULL,
        tmux_session    TEXT NOT NULL,
        token_hash      TEXT NOT NULL UNIQUE,
        parent_id       TEXT REFERENCES sessions(id),
        options         TEXT NOT NULL DEFAULT '{}',
        conversation_id TEXT,
        transcript_path TEXT,
        last_message    TEXT,
        exit_status     INTEGER,
        created_at      REAL NOT NULL,
        updated_at      REAL NOT NULL
    );
    CREATE UNIQUE INDEX sessions_live_name ON sessions(name)
        WHERE name IS NOT NULL AND state NOT IN ('exited', 'error', 'stopped');
    CREATE TABLE events (
        seq        INTEGER PRIMARY KEY AUTOINCREMENT,
        ts         REAL NOT NULL,
        session_id TEXT,
        kind       TEXT NOT NULL,
        payload    TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX events_session ON events(session_id, seq);
    """,
    # 2: hooks are facts with an identity (a spooled retry is never applied twice);
    #    a session's status line and role
    """
    ALTER TABLE events ADD COLUMN dedupe_key TEXT;
    CREATE UNIQUE INDEX events_dedupe ON events(dedupe_key) WHERE dedupe_key IS NOT NULL;
    ALTER TABLE sessions ADD COLUMN status_text TEXT;
    ALTER TABLE sessions ADD COLUMN role TEXT;
    """,
    # 3: the message queue
    """
    CREATE TABLE messages (
        id             TEXT PRIMARY KEY,
        sender_id      TEXT,
        sender_label   TEXT NOT NULL,
        target_id      TEXT NOT NULL REFERENCES sessions(id),
        mode           TEXT NOT NULL,
        body           TEXT NOT NULL,
        state          TEXT NOT NULL,
        reason         TEXT,
        attempts       INTEGER NOT NULL DEFAULT 0,
        notify_on_stop INTEGER NOT NULL DEFAULT 0,
        receipt_seq    INTEGER,
        receipt_conv   TEXT,
        receipt_busy   INTEGER NOT NULL DEFAULT 0,
        notified       INTEGER NOT NULL DEFAULT 0,
        created_at     REAL NOT NULL,
        updated_at     REAL NOT NULL,
        delivered_at   REAL
    );
    CREATE INDEX messages_target_state ON messages(target_id, state);
    CREATE INDEX messages_sender ON messages(sender_id, created_at);
    """,
]
