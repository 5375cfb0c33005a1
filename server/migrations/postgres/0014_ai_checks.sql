-- Checkers replay a sample of each worker's AI requests on the same model and compare what they get.
CREATE TABLE ai_checks (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id      TEXT NOT NULL UNIQUE REFERENCES ai_requests (id) ON DELETE CASCADE,
    worker_node_id  BIGINT NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    model_id        TEXT NOT NULL,
    -- The engine build the worker ran: token ids are compared exactly only on the same build.
    engine          TEXT NOT NULL,
    -- open, leased, passed or rejected.
    state           TEXT NOT NULL,
    checker_node_id BIGINT REFERENCES nodes (id) ON DELETE SET NULL,
    lease_until_ms  BIGINT,
    detail          TEXT,
    created_at_ms   BIGINT NOT NULL,
    closed_at_ms    BIGINT
);
CREATE INDEX ai_checks_by_state ON ai_checks (state, model_id);
CREATE INDEX ai_checks_by_worker ON ai_checks (worker_node_id);
