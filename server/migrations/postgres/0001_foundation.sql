-- Foundation schema: accounts, nodes (workers and checkers), jobs and their tasks.
-- Times are milliseconds since the Unix epoch; money (later) is integer micro-credits.

CREATE TABLE users (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    display_name  TEXT   NOT NULL,
    created_at_ms BIGINT NOT NULL
);

CREATE TABLE nodes (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    owner_id        BIGINT NOT NULL REFERENCES users (id),
    kind            TEXT   NOT NULL CHECK (kind IN ('worker', 'checker')),
    name            TEXT   NOT NULL,
    created_at_ms   BIGINT NOT NULL,
    last_seen_at_ms BIGINT,
    disabled_at_ms  BIGINT
);
CREATE INDEX nodes_by_kind_and_last_seen ON nodes (kind, last_seen_at_ms);

CREATE TABLE jobs (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    owner_id      BIGINT NOT NULL REFERENCES users (id),
    name          TEXT   NOT NULL,
    state         TEXT   NOT NULL DEFAULT 'queued'
                  CHECK (state IN ('queued', 'active', 'paused', 'completed', 'failed', 'cancelled')),
    created_at_ms BIGINT NOT NULL
);

CREATE TABLE tasks (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id         BIGINT NOT NULL REFERENCES jobs (id),
    state          TEXT   NOT NULL DEFAULT 'queued'
                   CHECK (state IN ('queued', 'leased', 'uploaded', 'verifying', 'verified', 'failed', 'cancelled')),
    attempt        BIGINT NOT NULL DEFAULT 0,
    created_at_ms  BIGINT NOT NULL,
    finished_at_ms BIGINT
);
CREATE INDEX tasks_by_state ON tasks (state);
CREATE INDEX tasks_by_finished_at ON tasks (finished_at_ms);
