-- AI batches (OpenAI's Batch API): each batch is a job of kind ai_batch whose tasks are chunks of its input lines.
CREATE TABLE ai_batches (
    id                TEXT PRIMARY KEY,
    job_id            BIGINT NOT NULL UNIQUE REFERENCES jobs (id) ON DELETE CASCADE,
    user_id           BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    input_file_id     TEXT NOT NULL,
    endpoint          TEXT NOT NULL,
    model_id          TEXT NOT NULL,
    completion_window TEXT NOT NULL,
    -- JSON object of the caller's metadata, or NULL.
    metadata          TEXT,
    lines             BIGINT NOT NULL,
    -- The model's prices when the batch was created: its lines are billed at these.
    input_price_micro_per_m  BIGINT NOT NULL,
    output_price_micro_per_m BIGINT NOT NULL,
    created_at_ms     BIGINT NOT NULL,
    expires_at_ms     BIGINT NOT NULL,
    -- Set when the batch ran past its completion window (its unfinished chunks were cancelled).
    expired_at_ms     BIGINT,
    -- Set once the output and error files are written (after the job ended).
    output_file_id    TEXT,
    error_file_id     TEXT,
    finalized_at_ms   BIGINT
);
CREATE INDEX ai_batches_by_user ON ai_batches (user_id, created_at_ms);

-- One chunk of a batch per task: which lines, and where its input (the lines as work items) is kept.
CREATE TABLE ai_batch_chunks (
    task_id      BIGINT PRIMARY KEY REFERENCES tasks (id) ON DELETE CASCADE,
    batch_id     TEXT NOT NULL REFERENCES ai_batches (id) ON DELETE CASCADE,
    first_line   BIGINT NOT NULL,
    lines        BIGINT NOT NULL,
    input_key    TEXT NOT NULL,
    -- From the accepted attempt's results: lines answered, lines that failed.
    ok_lines     BIGINT NOT NULL DEFAULT 0,
    failed_lines BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX ai_batch_chunks_by_batch ON ai_batch_chunks (batch_id, first_line);

-- Work billed per token sets its attempt's charge when the output is taken in (renders are charged by time).
ALTER TABLE task_attempts ADD COLUMN charge_micro BIGINT;
