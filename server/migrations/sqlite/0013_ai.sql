-- The AI section: a catalogue of models, and one row per API request (reservation, settlement, usage, replay).
CREATE TABLE ai_models (
    id                       TEXT PRIMARY KEY,
    kind                     TEXT NOT NULL,
    -- NULL: one of the network's own models.
    owner_user_id            INTEGER REFERENCES users (id) ON DELETE CASCADE,
    public                   INTEGER NOT NULL DEFAULT 1,
    sha256                   TEXT NOT NULL,
    bytes                    INTEGER NOT NULL,
    context_length           INTEGER NOT NULL,
    input_price_micro_per_m  INTEGER NOT NULL,
    output_price_micro_per_m INTEGER NOT NULL,
    created_at_ms            INTEGER NOT NULL
);

CREATE TABLE ai_requests (
    -- The id the caller sees (chatcmpl-…, cmpl-…, emb-…): also the ledger's idempotency key prefix.
    id                     TEXT PRIMARY KEY,
    user_id                INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    api_key_id             INTEGER REFERENCES api_keys (id) ON DELETE SET NULL,
    model_id               TEXT NOT NULL,
    -- chat, completion or embedding.
    kind                   TEXT NOT NULL,
    node_id                INTEGER REFERENCES nodes (id) ON DELETE SET NULL,
    -- reserved (being served) or settled.
    status                 TEXT NOT NULL,
    reserved_micro         INTEGER NOT NULL,
    -- The part of the reservation that was welcome credit (never withdrawable by whoever earns it).
    reserved_welcome_micro INTEGER NOT NULL DEFAULT 0,
    prompt_tokens          INTEGER NOT NULL DEFAULT 0,
    completion_tokens      INTEGER NOT NULL DEFAULT 0,
    ttft_ms                INTEGER,
    duration_ms            INTEGER,
    cost_micro             INTEGER NOT NULL DEFAULT 0,
    -- ok, cancelled (the caller left) or failed.
    outcome                TEXT,
    -- JSON: what a checker needs to replay the request (prompt, sampling, token ids).
    replay                 TEXT,
    created_at_ms          INTEGER NOT NULL,
    settled_at_ms          INTEGER
);
CREATE INDEX ai_requests_by_user ON ai_requests (user_id, created_at_ms);
CREATE INDEX ai_requests_by_node ON ai_requests (node_id, created_at_ms);
CREATE INDEX ai_requests_by_status ON ai_requests (status);

-- Limits an API key's owner can set on it (NULL: none).
ALTER TABLE api_keys ADD COLUMN requests_per_minute INTEGER;
ALTER TABLE api_keys ADD COLUMN tokens_per_minute INTEGER;
ALTER TABLE api_keys ADD COLUMN max_concurrent INTEGER;
ALTER TABLE api_keys ADD COLUMN budget_micro INTEGER;
