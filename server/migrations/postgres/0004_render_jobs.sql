-- Render jobs become schedulable: the validated spec and scene on the job, one row per task (a frame chunk or a
-- tile) with its lease, one row per attempt, a per-job blocklist of workers, and what each worker can render.

ALTER TABLE jobs ADD COLUMN spec_json TEXT NOT NULL DEFAULT '{}';
ALTER TABLE jobs ADD COLUMN scene_key TEXT;
ALTER TABLE jobs ADD COLUMN scene_sha256 TEXT;
ALTER TABLE jobs ADD COLUMN tier_rank BIGINT NOT NULL DEFAULT 1;
ALTER TABLE jobs ADD COLUMN engine TEXT NOT NULL DEFAULT 'cycles';
ALTER TABLE jobs ADD COLUMN max_price_micro_per_minute BIGINT NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN min_vram_bytes BIGINT NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN gpu_model TEXT;
ALTER TABLE jobs ADD COLUMN max_attempts BIGINT NOT NULL DEFAULT 3;
ALTER TABLE jobs ADD COLUMN finished_at_ms BIGINT;
CREATE INDEX jobs_by_owner ON jobs (owner_id, created_at_ms);

CREATE TABLE job_tags (
    job_id BIGINT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    tag    TEXT    NOT NULL,
    PRIMARY KEY (job_id, tag)
);

ALTER TABLE tasks ADD COLUMN frames TEXT NOT NULL DEFAULT '';
ALTER TABLE tasks ADD COLUMN tile_index BIGINT;
ALTER TABLE tasks ADD COLUMN node_id BIGINT REFERENCES nodes (id);
ALTER TABLE tasks ADD COLUMN leased_at_ms BIGINT;
ALTER TABLE tasks ADD COLUMN lease_expires_at_ms BIGINT;
ALTER TABLE tasks ADD COLUMN progress_percent BIGINT NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN output_key TEXT;
ALTER TABLE tasks ADD COLUMN output_sha256 TEXT;
ALTER TABLE tasks ADD COLUMN last_error TEXT;
-- The attempt number up to which the task is retried; a re-render by the creator raises it.
ALTER TABLE tasks ADD COLUMN max_attempt BIGINT NOT NULL DEFAULT 3;
CREATE INDEX tasks_by_job ON tasks (job_id, id);
CREATE INDEX tasks_by_lease ON tasks (state, lease_expires_at_ms);

CREATE TABLE task_attempts (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_id       BIGINT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    attempt       BIGINT NOT NULL,
    node_id       BIGINT NOT NULL REFERENCES nodes (id),
    started_at_ms BIGINT NOT NULL,
    ended_at_ms   BIGINT,
    outcome       TEXT    NOT NULL DEFAULT 'running'
                  CHECK (outcome IN ('running', 'uploaded', 'failed', 'expired', 'cancelled')),
    log           TEXT    NOT NULL DEFAULT '',
    UNIQUE (task_id, attempt)
);

CREATE TABLE job_blocklist (
    job_id   BIGINT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    node_id  BIGINT NOT NULL REFERENCES nodes (id),
    failures BIGINT NOT NULL,
    PRIMARY KEY (job_id, node_id)
);

-- What a worker can render, kept from its registration so the lease query can match jobs in SQL.
ALTER TABLE nodes ADD COLUMN engines TEXT NOT NULL DEFAULT '';
ALTER TABLE nodes ADD COLUMN vram_bytes BIGINT NOT NULL DEFAULT 0;
ALTER TABLE nodes ADD COLUMN gpu_models TEXT NOT NULL DEFAULT '';

-- Each frame a task's attempt rendered, as uploaded (a task may cover several frames).
CREATE TABLE task_outputs (
    task_id       BIGINT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    attempt       BIGINT NOT NULL,
    frame         BIGINT NOT NULL,
    object_key    TEXT    NOT NULL,
    sha256        TEXT    NOT NULL,
    bytes         BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (task_id, attempt, frame)
);
