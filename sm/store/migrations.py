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
    # 4: coordination: reminders with due times, idle watchers (sm wait --notify), and
    #    queued conversation clears (a message of kind 'clear')
    """
    CREATE TABLE reminders (
        id          TEXT PRIMARY KEY,
        session_id  TEXT NOT NULL REFERENCES sessions(id),
        kind        TEXT NOT NULL,
        body        TEXT NOT NULL,
        mode        TEXT NOT NULL,
        due_at      REAL NOT NULL,
        every       REAL,
        state       TEXT NOT NULL,
        fired       INTEGER NOT NULL DEFAULT 0,
        payload     TEXT NOT NULL DEFAULT '{}',
        created_by  TEXT,
        created_at  REAL NOT NULL,
        updated_at  REAL NOT NULL
    );
    CREATE INDEX reminders_due ON reminders(state, due_at);
    CREATE INDEX reminders_session ON reminders(session_id, state);
    CREATE TABLE watchers (
        id          TEXT PRIMARY KEY,
        watcher_id  TEXT NOT NULL REFERENCES sessions(id),
        target_id   TEXT NOT NULL REFERENCES sessions(id),
        deadline    REAL NOT NULL,
        state       TEXT NOT NULL,
        created_at  REAL NOT NULL,
        updated_at  REAL NOT NULL
    );
    CREATE INDEX watchers_state ON watchers(state, deadline);
    ALTER TABLE messages ADD COLUMN kind TEXT NOT NULL DEFAULT 'text';
    """,
    # 5: locks (leases on canonical paths), registered repos, session worktrees, PRs
    """
    CREATE TABLE locks (
        id          TEXT PRIMARY KEY,
        path        TEXT NOT NULL,
        session_id  TEXT NOT NULL REFERENCES sessions(id),
        kind        TEXT NOT NULL,
        reason      TEXT NOT NULL DEFAULT '',
        auto        INTEGER NOT NULL DEFAULT 0,
        ttl         REAL,
        expires_at  REAL,
        repo        TEXT,
        acquired_at REAL NOT NULL
    );
    CREATE UNIQUE INDEX locks_session_path ON locks(session_id, path);
    CREATE INDEX locks_expiry ON locks(expires_at) WHERE expires_at IS NOT NULL;
    CREATE TABLE repos (
        name       TEXT PRIMARY KEY,
        url        TEXT,
        path       TEXT NOT NULL,
        kind       TEXT NOT NULL,
        added_at   REAL NOT NULL,
        fetched_at REAL
    );
    CREATE TABLE worktrees (
        session_id     TEXT PRIMARY KEY,
        path           TEXT NOT NULL UNIQUE,
        repo           TEXT NOT NULL,
        git_dir        TEXT NOT NULL,
        branch         TEXT NOT NULL,
        base           TEXT NOT NULL,
        base_commit    TEXT NOT NULL,
        created_branch INTEGER NOT NULL DEFAULT 1,
        dirty_reported INTEGER NOT NULL DEFAULT 0,
        created_at     REAL NOT NULL,
        removed_at     REAL
    );
    CREATE TABLE prs (
        session_id TEXT PRIMARY KEY REFERENCES sessions(id),
        url        TEXT,
        branch     TEXT NOT NULL,
        base       TEXT NOT NULL,
        pushed_at  REAL NOT NULL
    );
    """,
    # 6: the Telegram bridge: a thread per session (the intent is written before the
    #    topic is created), a durable outbox, the mirror's cursor, what our messages
    #    belong to, receipts owed, pending approvals and questions
    """
    CREATE TABLE telegram_threads (
        session_id  TEXT PRIMARY KEY REFERENCES sessions(id),
        chat_id     INTEGER NOT NULL,
        kind        TEXT NOT NULL,
        thread_id   INTEGER,
        name        TEXT NOT NULL,
        closed      INTEGER NOT NULL DEFAULT 0,
        attempts    INTEGER NOT NULL DEFAULT 0,
        created_at  REAL NOT NULL,
        updated_at  REAL NOT NULL
    );
    CREATE INDEX telegram_threads_thread ON telegram_threads(chat_id, thread_id);
    CREATE TABLE telegram_outbox (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        op          TEXT NOT NULL,
        session_id  TEXT,
        chat_id     INTEGER,
        thread_id   INTEGER,
        reply_to    INTEGER,
        text        TEXT NOT NULL DEFAULT '',
        html        TEXT,
        markup      TEXT,
        silent      INTEGER NOT NULL DEFAULT 0,
        ref         TEXT,
        dedupe_key  TEXT UNIQUE,
        state       TEXT NOT NULL DEFAULT 'pending',
        reason      TEXT,
        message_id  INTEGER,
        attempts    INTEGER NOT NULL DEFAULT 0,
        created_at  REAL NOT NULL,
        sent_at     REAL
    );
    CREATE INDEX telegram_outbox_state ON telegram_outbox(state, id);
    CREATE TABLE telegram_sent (
        chat_id     INTEGER NOT NULL,
        message_id  INTEGER NOT NULL,
        session_id  TEXT,
        PRIMARY KEY (chat_id, message_id)
    );
    CREATE TABLE telegram_inbound (
        message_id     TEXT PRIMARY KEY,
        chat_id        INTEGER NOT NULL,
        thread_id      INTEGER,
        tg_message_id  INTEGER NOT NULL
    );
    CREATE TABLE telegram_state (
        key    TEXT PRIMARY KEY,
        value  TEXT NOT NULL
    );
    CREATE TABLE telegram_approvals (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        session_id   TEXT NOT NULL REFERENCES sessions(id),
        hook_seq     INTEGER NOT NULL UNIQUE,
        tool         TEXT NOT NULL DEFAULT '',
        state        TEXT NOT NULL,
        deadline     REAL NOT NULL,
        chat_id      INTEGER,
        message_id   INTEGER,
        answered_by  TEXT,
        created_at   REAL NOT NULL,
        answered_at  REAL
    );
    CREATE INDEX telegram_approvals_state ON telegram_approvals(state, deadline);
    CREATE TABLE telegram_asks (
        id           TEXT PRIMARY KEY,
        session_id   TEXT REFERENCES sessions(id),
        question     TEXT NOT NULL,
        choices      TEXT NOT NULL DEFAULT '[]',
        state        TEXT NOT NULL,
        answer       TEXT,
        answered_by  TEXT,
        deadline     REAL NOT NULL,
        chat_id      INTEGER,
        message_id   INTEGER,
        created_at   REAL NOT NULL,
        answered_at  REAL
    );
    CREATE INDEX telegram_asks_state ON telegram_asks(state, session_id);
    """,
    # 7: the open queue in delivery order per target (work per step independent of the
    #    backlog), a message's deadline (``expired``), questions for the human as sm's
    #    own rows (any surface answers them; Telegram is one), and a session's turns
    #    beside its state (a turn owed to a prompt taken mid-turn, a tool in flight)
    """
    ALTER TABLE telegram_asks RENAME TO asks;
    DROP INDEX telegram_asks_state;
    CREATE INDEX asks_state ON asks(state, session_id);
    ALTER TABLE messages ADD COLUMN rank INTEGER NOT NULL DEFAULT 2;
    UPDATE messages SET rank = CASE mode WHEN 'urgent' THEN 0 WHEN 'important' THEN 1
                                         ELSE 2 END;
    ALTER TABLE messages ADD COLUMN expires_at REAL;
    CREATE INDEX messages_open ON messages(target_id, rank, created_at)
        WHERE state IN ('queued', 'delivering');
    CREATE INDEX messages_expiring ON messages(expires_at)
        WHERE expires_at IS NOT NULL AND state = 'queued';
    ALTER TABLE sessions ADD COLUMN turn_owed INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE sessions ADD COLUMN tool_running INTEGER NOT NULL DEFAULT 0;
    """,
    # 8: notes (a key/value scratchpad), the knowledge base (FTS5 over its entries),
    #    the job queue: jobs, their dependencies, one row per finished attempt,
    #    projects (concurrency caps) and templates
    """
    CREATE TABLE notes (
        key         TEXT PRIMARY KEY,
        value       TEXT NOT NULL,
        version     INTEGER NOT NULL,
        seq         INTEGER NOT NULL,
        written_by  TEXT,
        writer      TEXT NOT NULL,
        created_at  REAL NOT NULL,
        updated_at  REAL NOT NULL
    );
    CREATE TABLE kb_entries (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        title       TEXT NOT NULL,
        norm_title  TEXT NOT NULL,
        content     TEXT NOT NULL,
        tags        TEXT NOT NULL DEFAULT '',
        scope       TEXT NOT NULL,
        project     TEXT,
        job_id      TEXT,
        session_id  TEXT,
        agent       TEXT NOT NULL,
        seen        INTEGER NOT NULL DEFAULT 1,
        created_at  REAL NOT NULL,
        updated_at  REAL NOT NULL
    );
    CREATE INDEX kb_norm_title ON kb_entries(norm_title);
    CREATE INDEX kb_scope ON kb_entries(scope, project);
    CREATE VIRTUAL TABLE kb_fts USING fts5(
        title, content, tags, content='kb_entries', content_rowid='id',
        tokenize='porter unicode61'
    );
    CREATE TRIGGER kb_fts_insert AFTER INSERT ON kb_entries BEGIN
        INSERT INTO kb_fts(rowid, title, content, tags)
        VALUES (new.id, new.title, new.content, new.tags);
    END;
    CREATE TRIGGER kb_fts_delete AFTER DELETE ON kb_entries BEGIN
        INSERT INTO kb_fts(kb_fts, rowid, title, content, tags)
        VALUES ('delete', old.id, old.title, old.content, old.tags);
    END;
    CREATE TRIGGER kb_fts_update AFTER UPDATE OF title, content, tags ON kb_entries BEGIN
        INSERT INTO kb_fts(kb_fts, rowid, title, content, tags)
        VALUES ('delete', old.id, old.title, old.content, old.tags);
        INSERT INTO kb_fts(rowid, title, content, tags)
        VALUES (new.id, new.title, new.content, new.tags);
    END;
    CREATE TABLE job_projects (
        name            TEXT PRIMARY KEY,
        max_concurrent  INTEGER NOT NULL DEFAULT 0,
        created_at      REAL NOT NULL
    );
    CREATE TABLE job_templates (
        name        TEXT PRIMARY KEY,
        guidelines  TEXT NOT NULL,
        provider    TEXT,
        model       TEXT,
        cwd         TEXT,
        options     TEXT NOT NULL DEFAULT '{}',
        created_at  REAL NOT NULL,
        updated_at  REAL NOT NULL
    );
    CREATE TABLE jobs (
        id            TEXT PRIMARY KEY,
        name          TEXT,
        title         TEXT,
        task          TEXT NOT NULL,
        template      TEXT,
        context       TEXT NOT NULL DEFAULT '{}',
        project       TEXT NOT NULL,
        provider      TEXT NOT NULL,
        model         TEXT,
        options       TEXT NOT NULL DEFAULT '{}',
        cwd           TEXT NOT NULL,
        worktree      INTEGER NOT NULL DEFAULT 0,
        priority      INTEGER NOT NULL DEFAULT 0,
        state         TEXT NOT NULL,
        run_at        REAL,
        cron          TEXT,
        every         REAL,
        max_turns     INTEGER NOT NULL,
        max_seconds   REAL,
        checks        TEXT NOT NULL DEFAULT '[]',
        retry         TEXT NOT NULL,
        max_attempts  INTEGER NOT NULL,
        backoff       REAL NOT NULL,
        attempt       INTEGER NOT NULL DEFAULT 0,
        starts        INTEGER NOT NULL DEFAULT 0,
        runs          INTEGER NOT NULL DEFAULT 0,
        session_id    TEXT,
        session_name  TEXT,
        base_commit   TEXT,
        turns         INTEGER NOT NULL DEFAULT 0,
        done_at       REAL,
        result        TEXT,
        last_message  TEXT,
        reason        TEXT,
        cause         TEXT,
        diagnosis     TEXT,
        pr_url        TEXT,
        created_by    TEXT,
        creator       TEXT NOT NULL,
        created_at    REAL NOT NULL,
        started_at    REAL,
        ended_at      REAL,
        updated_at    REAL NOT NULL
    );
    CREATE UNIQUE INDEX jobs_live_name ON jobs(name)
        WHERE name IS NOT NULL AND state NOT IN ('succeeded', 'failed', 'cancelled');
    CREATE INDEX jobs_state ON jobs(state, priority);
    CREATE INDEX jobs_session ON jobs(session_id);
    CREATE INDEX jobs_project ON jobs(project, state);
    CREATE TABLE job_deps (
        job_id      TEXT NOT NULL REFERENCES jobs(id),
        depends_on  TEXT NOT NULL REFERENCES jobs(id),
        PRIMARY KEY (job_id, depends_on)
    );
    CREATE INDEX job_deps_reverse ON job_deps(depends_on);
    CREATE TABLE job_runs (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        job_id      TEXT NOT NULL REFERENCES jobs(id),
        run         INTEGER NOT NULL,
        attempt     INTEGER NOT NULL,
        session_id  TEXT,
        template    TEXT,
        outcome     TEXT NOT NULL,
        reason      TEXT,
        result      TEXT,
        turns       INTEGER NOT NULL DEFAULT 0,
        started_at  REAL NOT NULL,
        ended_at    REAL NOT NULL
    );
    CREATE INDEX job_runs_job ON job_runs(job_id, id);
    CREATE INDEX job_runs_template ON job_runs(template);
    """,
    # 9: usage read from the agents' own records: one row per API response (the key
    #    dedupes it), running totals per session and model and per UTC hour and model
    #    kept by triggers, where each record file was read up to, the context window in
    #    use, API errors, and the requests only telemetry saw
    """
    CREATE TABLE usage_responses (
        key                   TEXT PRIMARY KEY,
        session_id            TEXT NOT NULL REFERENCES sessions(id),
        ts                    REAL NOT NULL,
        model                 TEXT NOT NULL,
        agent                 TEXT NOT NULL DEFAULT '',
        request_id            TEXT NOT NULL DEFAULT '',
        project               TEXT,
        job_id                TEXT,
        input_tokens          INTEGER NOT NULL,
        output_tokens         INTEGER NOT NULL,
        reasoning_tokens      INTEGER NOT NULL,
        cache_write_5m_tokens INTEGER NOT NULL,
        cache_write_1h_tokens INTEGER NOT NULL,
        cache_read_tokens     INTEGER NOT NULL,
        recorded_at           REAL NOT NULL
    );
    CREATE INDEX usage_responses_session ON usage_responses(session_id, ts);
    CREATE INDEX usage_responses_ts ON usage_responses(ts);
    CREATE INDEX usage_responses_request ON usage_responses(request_id) WHERE request_id != '';
    CREATE TABLE usage_totals (
        session_id            TEXT NOT NULL REFERENCES sessions(id),
        model                 TEXT NOT NULL,
        responses             INTEGER NOT NULL DEFAULT 0,
        input_tokens          INTEGER NOT NULL DEFAULT 0,
        output_tokens         INTEGER NOT NULL DEFAULT 0,
        reasoning_tokens      INTEGER NOT NULL DEFAULT 0,
        cache_write_5m_tokens INTEGER NOT NULL DEFAULT 0,
        cache_write_1h_tokens INTEGER NOT NULL DEFAULT 0,
        cache_read_tokens     INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (session_id, model)
    );
    CREATE TABLE usage_hours (
        hour                  INTEGER NOT NULL,
        model                 TEXT NOT NULL,
        responses             INTEGER NOT NULL DEFAULT 0,
        input_tokens          INTEGER NOT NULL DEFAULT 0,
        output_tokens         INTEGER NOT NULL DEFAULT 0,
        reasoning_tokens      INTEGER NOT NULL DEFAULT 0,
        cache_write_5m_tokens INTEGER NOT NULL DEFAULT 0,
        cache_write_1h_tokens INTEGER NOT NULL DEFAULT 0,
        cache_read_tokens     INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (hour, model)
    );
    CREATE TRIGGER usage_responses_added AFTER INSERT ON usage_responses BEGIN
        INSERT OR IGNORE INTO usage_hours (hour, model)
            VALUES (CAST(NEW.ts / 3600 AS INTEGER), NEW.model);
        UPDATE usage_hours SET
            responses = responses + 1,
            input_tokens = input_tokens + NEW.input_tokens,
            output_tokens = output_tokens + NEW.output_tokens,
            reasoning_tokens = reasoning_tokens + NEW.reasoning_tokens,
            cache_write_5m_tokens = cache_write_5m_tokens + NEW.cache_write_5m_tokens,
            cache_write_1h_tokens = cache_write_1h_tokens + NEW.cache_write_1h_tokens,
            cache_read_tokens = cache_read_tokens + NEW.cache_read_tokens
        WHERE hour = CAST(NEW.ts / 3600 AS INTEGER) AND model = NEW.model;
        INSERT OR IGNORE INTO usage_totals (session_id, model) VALUES (NEW.session_id, NEW.model);
        UPDATE usage_totals SET
            responses = responses + 1,
            input_tokens = input_tokens + NEW.input_tokens,
            output_tokens = output_tokens + NEW.output_tokens,
            reasoning_tokens = reasoning_tokens + NEW.reasoning_tokens,
            cache_write_5m_tokens = cache_write_5m_tokens + NEW.cache_write_5m_tokens,
            cache_write_1h_tokens = cache_write_1h_tokens + NEW.cache_write_1h_tokens,
            cache_read_tokens = cache_read_tokens + NEW.cache_read_tokens
        WHERE session_id = NEW.session_id AND model = NEW.model;
    END;
    CREATE TRIGGER usage_responses_changed AFTER UPDATE ON usage_responses BEGIN
        UPDATE usage_hours SET
            input_tokens = input_tokens + NEW.input_tokens - OLD.input_tokens,
            output_tokens = output_tokens + NEW.output_tokens - OLD.output_tokens,
            reasoning_tokens = reasoning_tokens + NEW.reasoning_tokens - OLD.reasoning_tokens,
            cache_write_5m_tokens =
                cache_write_5m_tokens + NEW.cache_write_5m_tokens - OLD.cache_write_5m_tokens,
            cache_write_1h_tokens =
                cache_write_1h_tokens + NEW.cache_write_1h_tokens - OLD.cache_write_1h_tokens,
            cache_read_tokens = cache_read_tokens + NEW.cache_read_tokens - OLD.cache_read_tokens
        WHERE hour = CAST(OLD.ts / 3600 AS INTEGER) AND model = OLD.model;
        UPDATE usage_totals SET
            input_tokens = input_tokens + NEW.input_tokens - OLD.input_tokens,
            output_tokens = output_tokens + NEW.output_tokens - OLD.output_tokens,
            reasoning_tokens = reasoning_tokens + NEW.reasoning_tokens - OLD.reasoning_tokens,
            cache_write_5m_tokens =
                cache_write_5m_tokens + NEW.cache_write_5m_tokens - OLD.cache_write_5m_tokens,
            cache_write_1h_tokens =
                cache_write_1h_tokens + NEW.cache_write_1h_tokens - OLD.cache_write_1h_tokens,
            cache_read_tokens = cache_read_tokens + NEW.cache_read_tokens - OLD.cache_read_tokens
        WHERE session_id = OLD.session_id AND model = OLD.model;
    END;
    CREATE TABLE usage_sources (
        session_id  TEXT NOT NULL REFERENCES sessions(id),
        path        TEXT NOT NULL,
        offset      INTEGER NOT NULL DEFAULT 0,
        skipped     INTEGER NOT NULL DEFAULT 0,
        state       TEXT NOT NULL DEFAULT '{}',
        updated_at  REAL NOT NULL,
        PRIMARY KEY (session_id, path)
    );
    CREATE TABLE usage_context (
        session_id     TEXT PRIMARY KEY REFERENCES sessions(id),
        model          TEXT NOT NULL,
        tokens         INTEGER NOT NULL,
        context_window INTEGER,
        ts             REAL NOT NULL,
        alerted        INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE usage_errors (
        key         TEXT PRIMARY KEY,
        session_id  TEXT NOT NULL REFERENCES sessions(id),
        ts          REAL NOT NULL,
        kind        TEXT NOT NULL,
        message     TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX usage_errors_session ON usage_errors(session_id, ts);
    CREATE TABLE usage_telemetry (
        request_id            TEXT PRIMARY KEY,
        session_id            TEXT NOT NULL REFERENCES sessions(id),
        ts                    REAL NOT NULL,
        model                 TEXT NOT NULL,
        query_source          TEXT NOT NULL DEFAULT '',
        input_tokens          INTEGER NOT NULL,
        output_tokens         INTEGER NOT NULL,
        cache_write_5m_tokens INTEGER NOT NULL,
        cache_write_1h_tokens INTEGER NOT NULL,
        cache_read_tokens     INTEGER NOT NULL,
        agent_cost_micros     INTEGER
    );
    CREATE INDEX usage_telemetry_session ON usage_telemetry(session_id, ts);
    """,
    # 10: budgets (integer micro-dollars) per session, project and day, and the level
    #     each reached in its period (a warning and a stop are each told once)
    """
    CREATE TABLE budgets (
        scope         TEXT NOT NULL,
        key           TEXT NOT NULL,
        limit_micros  INTEGER NOT NULL,
        updated_at    REAL NOT NULL,
        PRIMARY KEY (scope, key)
    );
    CREATE TABLE budget_marks (
        scope         TEXT NOT NULL,
        key           TEXT NOT NULL,
        period        TEXT NOT NULL,
        level         TEXT NOT NULL,
        spent_micros  INTEGER NOT NULL,
        limit_micros  INTEGER NOT NULL,
        ts            REAL NOT NULL,
        PRIMARY KEY (scope, key, period)
    );
    CREATE INDEX usage_responses_project ON usage_responses(project, model);
    """,
    # 11: the operator's inbox: notes sessions write to the human (``sm send operator``),
    #    never typed anywhere; read (acknowledged) explicitly
    """
    CREATE TABLE inbox (
        id           TEXT PRIMARY KEY,
        sender_id    TEXT,
        sender_label TEXT NOT NULL,
        body         TEXT NOT NULL,
        created_at   REAL NOT NULL,
        read_at      REAL,
        read_by      TEXT
    );
    CREATE INDEX inbox_created ON inbox(created_at);
    """,
    # 12: a dead session can be forgotten: its record and history stay, lists leave it out
    """
    ALTER TABLE sessions ADD COLUMN forgotten_at REAL;
    """,
    # 13: a session's last failure (sm/core/health.py): its class, detail, reset time
    """
    ALTER TABLE sessions ADD COLUMN failure TEXT;
    """,
    # 14: launches (sm/core/launches.py): a spawn held back (a rate limit, paced starts)
    #     until its agent may launch, and when each agent was launched
    """
    ALTER TABLE sessions ADD COLUMN launch_hold TEXT;
    ALTER TABLE sessions ADD COLUMN launched_at REAL;
    CREATE INDEX sessions_provider ON sessions(provider, state);
    """,
]
