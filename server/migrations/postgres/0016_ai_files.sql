-- Files uploaded through the OpenAI-compatible Files API (purpose "batch": JSONL input of a batch), kept in the
-- object store under files/<id>; the row says whose it is and what it holds.
CREATE TABLE ai_files (
    id            TEXT PRIMARY KEY,
    user_id       BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose       TEXT NOT NULL,
    filename      TEXT NOT NULL,
    bytes         BIGINT NOT NULL,
    -- Requests in the file, its endpoint and its model (checked at upload).
    lines         BIGINT NOT NULL,
    endpoint      TEXT NOT NULL,
    model         TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);
CREATE INDEX ai_files_by_user ON ai_files (user_id, created_at_ms);
