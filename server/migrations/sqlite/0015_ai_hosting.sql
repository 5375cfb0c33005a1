-- Hosted models: the files a user uploaded for a model, and deployments (an endpoint's prices and warm workers).
-- JSON: [{"name", "sha256", "bytes"}] of an uploaded model; NULL for the network's own models.
ALTER TABLE ai_models ADD COLUMN files TEXT;

CREATE TABLE ai_deployments (
    model_id      TEXT PRIMARY KEY REFERENCES ai_models (id) ON DELETE CASCADE,
    min_warm      INTEGER NOT NULL,
    max_workers   INTEGER NOT NULL,
    -- JSON: the workers it may run on (VRAM, GPU model, region, tags).
    requirements  TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL
);
