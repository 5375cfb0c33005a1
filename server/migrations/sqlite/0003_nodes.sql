-- Nodes become real: a hashed token per node, what its agent reported, liveness, and the owner's settings;
-- plus a bounded, downsampled history of each node's live metrics.

ALTER TABLE nodes ADD COLUMN token_hash TEXT;
ALTER TABLE nodes ADD COLUMN online INTEGER NOT NULL DEFAULT 0;
ALTER TABLE nodes ADD COLUMN heartbeat_interval_ms INTEGER NOT NULL DEFAULT 5000;
ALTER TABLE nodes ADD COLUMN agent_version TEXT;
ALTER TABLE nodes ADD COLUMN hardware_json TEXT;
ALTER TABLE nodes ADD COLUMN benchmark_score INTEGER;
ALTER TABLE nodes ADD COLUMN price_micro_per_minute INTEGER NOT NULL DEFAULT 0;
ALTER TABLE nodes ADD COLUMN tags TEXT NOT NULL DEFAULT '';
ALTER TABLE nodes ADD COLUMN region TEXT NOT NULL DEFAULT '';
ALTER TABLE nodes ADD COLUMN sleep_enabled INTEGER NOT NULL DEFAULT 0;
ALTER TABLE nodes ADD COLUMN sleep_days INTEGER NOT NULL DEFAULT 0;
ALTER TABLE nodes ADD COLUMN sleep_start_minute INTEGER NOT NULL DEFAULT 0;
ALTER TABLE nodes ADD COLUMN sleep_end_minute INTEGER NOT NULL DEFAULT 0;
ALTER TABLE nodes ADD COLUMN utc_offset_minutes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE nodes ADD COLUMN deleted_at_ms INTEGER;
CREATE UNIQUE INDEX nodes_by_token ON nodes (token_hash);
CREATE INDEX nodes_by_owner ON nodes (owner_id, kind);
CREATE INDEX nodes_online_by_last_seen ON nodes (online, last_seen_at_ms);

-- One row per node, resolution and time bucket: averages of the heartbeats that fell into it.
CREATE TABLE node_metrics (
    node_id           INTEGER NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    resolution_ms     INTEGER NOT NULL,
    bucket_ms         INTEGER NOT NULL,
    samples           INTEGER NOT NULL,
    cpu_percent       REAL    NOT NULL,
    ram_used_bytes    INTEGER NOT NULL,
    ram_total_bytes   INTEGER NOT NULL,
    gpu_percent       REAL,
    gpu_temperature_c REAL,
    PRIMARY KEY (node_id, resolution_ms, bucket_ms)
);
CREATE INDEX node_metrics_by_age ON node_metrics (resolution_ms, bucket_ms);
