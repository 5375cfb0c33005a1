-- Verification: checkers re-render crops of workers' results. A worker's trust is its streak of verified results;
-- a checker's standing is how often its verdicts agree with the quorum (and whether an audit caught it lying).

ALTER TABLE nodes ADD COLUMN valid_streak INTEGER NOT NULL DEFAULT 0;
ALTER TABLE nodes ADD COLUMN results_verified INTEGER NOT NULL DEFAULT 0;
ALTER TABLE nodes ADD COLUMN results_rejected INTEGER NOT NULL DEFAULT 0;
ALTER TABLE nodes ADD COLUMN flagged_at_ms INTEGER;
ALTER TABLE nodes ADD COLUMN verdicts_agreed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE nodes ADD COLUMN verdicts_disagreed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE nodes ADD COLUMN audits_passed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE nodes ADD COLUMN suspended_at_ms INTEGER;

-- Blender's own time for an attempt, as the agent measured it (render compute, and what a worker is paid for).
ALTER TABLE task_attempts ADD COLUMN render_ms INTEGER;
-- Whether a checker looked at the attempt's result (verified or rejected) or it was accepted unchecked.
ALTER TABLE task_attempts ADD COLUMN checked INTEGER NOT NULL DEFAULT 0;
ALTER TABLE job_blocklist ADD COLUMN rejections INTEGER NOT NULL DEFAULT 0;

-- One check of one worker attempt (or an audit of a checker: a known-bad copy of a verified result).
CREATE TABLE verifications (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id        INTEGER NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    attempt        INTEGER NOT NULL,
    worker_node_id INTEGER NOT NULL REFERENCES nodes (id),
    round          INTEGER NOT NULL DEFAULT 1,
    crops_json     TEXT    NOT NULL,
    quorum         INTEGER NOT NULL,
    -- For audits: the only checker that may take it, and the tampered copy it is shown.
    audit_node_id  INTEGER REFERENCES nodes (id),
    audit_key      TEXT,
    state          TEXT    NOT NULL DEFAULT 'open'
                   CHECK (state IN ('open', 'passed', 'failed', 'unsure', 'cancelled')),
    created_at_ms  INTEGER NOT NULL,
    decided_at_ms  INTEGER
);
CREATE INDEX verifications_open ON verifications (state, id);
CREATE INDEX verifications_by_task ON verifications (task_id, attempt);

CREATE TABLE verdicts (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    verification_id     INTEGER NOT NULL REFERENCES verifications (id) ON DELETE CASCADE,
    checker_node_id     INTEGER NOT NULL REFERENCES nodes (id),
    state               TEXT    NOT NULL DEFAULT 'leased' CHECK (state IN ('leased', 'submitted', 'expired')),
    leased_at_ms        INTEGER NOT NULL,
    lease_expires_at_ms INTEGER NOT NULL,
    verdict             TEXT    CHECK (verdict IN ('pass', 'fail', 'unsure')),
    min_ssim            REAL,
    measurements_json   TEXT,
    render_ms           INTEGER,
    agrees              INTEGER,
    submitted_at_ms     INTEGER,
    UNIQUE (verification_id, checker_node_id)
);
CREATE INDEX verdicts_by_checker ON verdicts (checker_node_id, submitted_at_ms);
CREATE INDEX verdicts_by_lease ON verdicts (state, lease_expires_at_ms);
