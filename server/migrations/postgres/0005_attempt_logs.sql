-- Each attempt keeps its own error and Blender's log; a leased task keeps the live tail of its log; attempts can
-- end verified or rejected once checkers look at them.

ALTER TABLE task_attempts ADD COLUMN error TEXT;
UPDATE task_attempts SET error = log, log = '' WHERE outcome IN ('failed', 'expired');
ALTER TABLE task_attempts DROP CONSTRAINT task_attempts_outcome_check;
ALTER TABLE task_attempts ADD CONSTRAINT task_attempts_outcome_check
    CHECK (outcome IN ('running', 'uploaded', 'failed', 'expired', 'cancelled', 'verified', 'rejected'));
CREATE INDEX task_attempts_by_node ON task_attempts (node_id, started_at_ms);

ALTER TABLE tasks ADD COLUMN log_tail TEXT NOT NULL DEFAULT '';
