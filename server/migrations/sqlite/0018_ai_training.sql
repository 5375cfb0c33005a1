-- AI training runs: each is a job of kind ai_train with one task (the run); its attempts upload checkpoints.
CREATE TABLE ai_trainings (
    job_id          INTEGER PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
    user_id         INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    template        TEXT NOT NULL,
    -- The hyperparameters as JSON (pictor_core::ai_training::Hyperparameters).
    hyper_json      TEXT NOT NULL,
    dataset_key     TEXT NOT NULL,
    dataset_sha256  TEXT NOT NULL,
    dataset_rows    INTEGER NOT NULL,
    total_steps     INTEGER NOT NULL,
    created_at_ms   INTEGER NOT NULL
);
CREATE INDEX ai_trainings_by_user ON ai_trainings (user_id, created_at_ms);

-- Every checkpoint an attempt uploaded, with the curves' point at its step.
CREATE TABLE training_checkpoints (
    task_id        INTEGER NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    attempt        INTEGER NOT NULL,
    step           INTEGER NOT NULL,
    object_key     TEXT NOT NULL,
    sha256         TEXT NOT NULL,
    bytes          INTEGER NOT NULL,
    loss           REAL NOT NULL,
    accuracy       REAL NOT NULL,
    created_at_ms  INTEGER NOT NULL,
    PRIMARY KEY (task_id, attempt, step)
);
