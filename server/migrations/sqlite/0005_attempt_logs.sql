-- Each attempt keeps its own error and Blender's log; a leased task keeps the live tail of its log; attempts can
-- end verified or rejected once checkers look at them. SQLite cannot alter a CHECK, so the table is rebuilt.

CREATE TABLE task_attempts_new (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id       INTEGER NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    attempt       INTEGER NOT NULL,
    node_id       INTEGER NOT NULL REFERENCES nodes (id),
    started_at_ms INTEGER NOT NULL,
    ended_at_ms   INTEGER,
    outcome       TEXT    NOT NULL DEFAULT 'running'
                  CHECK (outcome IN ('running', 'uploaded', 'failed', 'expired', 'cancelled', 'verified', 'rejected')),
    log           TEXT    NOT NULL DEFAULT '',
    error         TEXT,
    UNIQUE (task_id, attempt)
);
INSERT INTO task_attempts_new (id, task_id, attempt, node_id, started_at_ms, ended_at_ms, outcome, log, error)
    SELECT id, task_id, attempt, node_id, started_at_ms, ended_at_ms, outcome, '',
           CASE WHEN outcome IN ('failed', 'expired') THEN log END
    FROM task_attempts;
DROP TABLE task_attempts;
ALTER TABLE task_attempts_new RENAME TO task_attempts;
CREATE INDEX task_attempts_by_node ON task_attempts (node_id, started_at_ms);

ALTER TABLE tasks ADD COLUMN log_tail TEXT NOT NULL DEFAULT '';
