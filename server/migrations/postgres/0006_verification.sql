-- Verification: checkers re-render crops of workers' results. A worker's trust is its streak of verified results;
-- a checker's standing is how often its verdicts agree with the quorum (and whether an audit caught it lying).

ALTER TABLE nodes ADD COLUMN valid_streak BIGINT NOT NULL DEFAULT 0;
ALTER TABLE nodes ADD COLUMN results_verified BIGINT NOT NULL DEFAULT 0;
ALTER TABLE nodes ADD COLUMN results_rejected BIGINT NOT NULL DEFAULT 0;
ALTER TABLE nodes ADD COLUMN flagged_at_ms BIGINT;
ALTER TABLE nodes ADD COLUMN verdicts_agreed BIGINT NOT NULL DEFAULT 0;
ALTER TABLE nodes ADD COLUMN verdicts_disagreed BIGINT NOT NULL DEFAULT 0;
ALTER TABLE nodes ADD COLUMN audits_passed BIGINT NOT NULL DEFAULT 0;
ALTER TABLE nodes ADD COLUMN suspended_at_ms BIGINT;

-- Blender's own time for an attempt, as the agent measured it (render compute, and what a worker is paid for).
ALTER TABLE task_attempts ADD COLUMN render_ms BIGINT;
-- Whether a checker looked at the attempt's result (verified or rejected) or it was accepted unchecked.
ALTER TABLE task_attempts ADD COLUMN checked BIGINT NOT NULL DEFAULT 0;
ALTER TABLE job_blocklist ADD COLUMN rejections BIGINT NOT NULL DEFAULT 0;

-- One check of one worker attempt (or an audit of a checker: a known-bad copy of a verified result).
CREATE TABLE verifications (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_id        BIGINT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    attempt        BIGINT NOT NULL,
    worker_node_id BIGINT NOT NULL REFERENCES nodes (id),
    round          BIGINT NOT NULL DEFAULT 1,
    crops_json     TEXT    NOT NULL,
    quorum         BIGINT NOT NULL,
    -- For audits: the only checker that may take it, and the tampered copy it is shown.
    audit_node_id  BIGINT REFERENCES nodes (id),
    audit_key      TEXT,
    state          TEXT    NOT NULL DEFAULT 'open'
                   CHECK (state IN ('open', 'passed', 'failed', 'unsure', 'cancelled')),
    created_at_ms  BIGINT NOT NULL,
    decided_at_ms  BIGINT
);
CREATE INDEX verifications_open ON verifications (state, id);
CREATE INDEX verifications_by_task ON verifications (task_id, attempt);

CREATE TABLE verdicts (
    id                  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    verification_id     BIGINT NOT NULL REFERENCES verifications (id) ON DELETE CASCADE,
    checker_node_id     BIGINT NOT NULL REFERENCES nodes (id),
    state               TEXT    NOT NULL DEFAULT 'leased' CHECK (state IN ('leased', 'submitted', 'expired')),
    leased_at_ms        BIGINT NOT NULL,
    lease_expires_at_ms BIGINT NOT NULL,
    verdict             TEXT    CHECK (verdict IN ('pass', 'fail', 'unsure')),
    min_ssim            DOUBLE PRECISION,
    measurements_json   TEXT,
    render_ms           BIGINT,
    agrees              BIGINT,
    submitted_at_ms     BIGINT,
    UNIQUE (verification_id, checker_node_id)
);
CREATE INDEX verdicts_by_checker ON verdicts (checker_node_id, submitted_at_ms);
CREATE INDEX verdicts_by_lease ON verdicts (state, lease_expires_at_ms);
