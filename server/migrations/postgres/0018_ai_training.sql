-- AI training runs: each is a job of kind ai_train with one task (the run); its attempts upload checkpoints.
CREATE TABLE ai_trainings (
    job_id          BIGINT PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
    user_id         BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    template        TEXT NOT NULL,
    -- The hyperparameters as JSON (pictor_core::ai_training::Hyperparameters).
    hyper_json      TEXT NOT NULL,
    dataset_key     TEXT NOT NULL,
    dataset_sha256  TEXT NOT NULL,
    dataset_rows    BIGINT NOT NULL,
    total_steps     BIGINT NOT NULL,
    created_at_ms   BIGINT NOT NULL
);
CREATE INDEX ai_trainings_by_user ON ai_trainings (user_id, created_at_ms);

-- Every checkpoint an attempt uploaded, with the curves' point at its step.
CREATE TABLE training_checkpoints (
    task_id        BIGINT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    attempt        BIGINT NOT NULL,
    step           BIGINT NOT NULL,
    object_key     TEXT NOT NULL,
    sha256         TEXT NOT NULL,
    bytes          BIGINT NOT NULL,
    loss           DOUBLE PRECISION NOT NULL,
    accuracy       DOUBLE PRECISION NOT NULL,
    created_at_ms  BIGINT NOT NULL,
    PRIMARY KEY (task_id, attempt, step)
);
