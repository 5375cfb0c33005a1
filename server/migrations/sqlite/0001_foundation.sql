-- Foundation schema: accounts, nodes (workers and checkers), jobs and their tasks.
-- Times are milliseconds since the Unix epoch; money (later) is integer micro-credits.

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    display_name  TEXT    NOT NULL,
    created_at_ms INTEGER NOT NULL
);

CREATE TABLE nodes (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_id        INTEGER NOT NULL REFERENCES users (id),
    kind            TEXT    NOT NULL CHECK (kind IN ('worker', 'checker')),
    name            TEXT    NOT NULL,
    created_at_ms   INTEGER NOT NULL,
    last_seen_at_ms INTEGER,
    disabled_at_ms  INTEGER
);
CREATE INDEX nodes_by_kind_and_last_seen ON nodes (kind, last_seen_at_ms);

CREATE TABLE jobs (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_id      INTEGER NOT NULL REFERENCES users (id),
    name          TEXT    NOT NULL,
    state         TEXT    NOT NULL DEFAULT 'queued'
                  CHECK (state IN ('queued', 'active', 'paused', 'completed', 'failed', 'cancelled')),
    created_at_ms INTEGER NOT NULL
);

CREATE TABLE tasks (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id         INTEGER NOT NULL REFERENCES jobs (id),
    state          TEXT    NOT NULL DEFAULT 'queued'
                   CHECK (state IN ('queued', 'leased', 'uploaded', 'verifying', 'verified', 'failed', 'cancelled')),
    attempt        INTEGER NOT NULL DEFAULT 0,
    created_at_ms  INTEGER NOT NULL,
    finished_at_ms INTEGER
);
CREATE INDEX tasks_by_state ON tasks (state);
CREATE INDEX tasks_by_finished_at ON tasks (finished_at_ms);
