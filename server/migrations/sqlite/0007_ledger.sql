-- Money: a double-entry ledger in integer micro-credits. Every transfer moves a positive amount from one account to
-- another under a unique idempotency key, so a retry or a race never moves it twice; each account caches its
-- balance, updated in the same transaction as the transfer.

CREATE TABLE ledger_accounts (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    -- 'external', 'platform', 'checker_pool', 'credit:<user>', 'escrow:<job>', 'earnings:<user>', 'payouts:<user>'
    name          TEXT    NOT NULL UNIQUE,
    kind          TEXT    NOT NULL
                  CHECK (kind IN ('external', 'platform', 'checker_pool', 'credit', 'escrow', 'earnings', 'payouts')),
    user_id       INTEGER REFERENCES users (id),
    job_id        INTEGER REFERENCES jobs (id),
    balance_micro INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX ledger_accounts_by_user ON ledger_accounts (user_id, kind);

CREATE TABLE ledger_transfers (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT    NOT NULL UNIQUE,
    from_account    INTEGER NOT NULL REFERENCES ledger_accounts (id),
    to_account      INTEGER NOT NULL REFERENCES ledger_accounts (id),
    amount_micro    INTEGER NOT NULL CHECK (amount_micro > 0),
    -- welcome, grant, payment, escrow, refill, pay_worker, pay_pool, refund, epoch, payout_hold, payout_paid,
    -- payout_returned
    kind            TEXT    NOT NULL,
    job_id          INTEGER,
    task_id         INTEGER,
    node_id         INTEGER,
    memo            TEXT    NOT NULL DEFAULT '',
    created_at_ms   INTEGER NOT NULL
);
CREATE INDEX ledger_transfers_from ON ledger_transfers (from_account, created_at_ms);
CREATE INDEX ledger_transfers_to ON ledger_transfers (to_account, created_at_ms);
CREATE INDEX ledger_transfers_by_node ON ledger_transfers (node_id, created_at_ms);

-- What a job may spend and what it was expected to cost (shown beside the actual cost afterwards).
ALTER TABLE jobs ADD COLUMN estimate_micro INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN estimate_source TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN budget_micro INTEGER;
ALTER TABLE jobs ADD COLUMN checker_share_percent INTEGER NOT NULL DEFAULT 10;
-- The worker's price when it took the attempt: what the attempt is paid at (within the job's tier).
ALTER TABLE task_attempts ADD COLUMN price_micro_per_minute INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN is_operator INTEGER NOT NULL DEFAULT 0;

-- Weekly (configurable) epochs share out the checker pool.
CREATE TABLE epochs (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at_ms     INTEGER NOT NULL,
    ended_at_ms       INTEGER NOT NULL,
    pool_micro        INTEGER NOT NULL,
    distributed_micro INTEGER NOT NULL,
    verdicts          INTEGER NOT NULL,
    closed_at_ms      INTEGER NOT NULL
);

CREATE TABLE payouts (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id        INTEGER NOT NULL REFERENCES users (id),
    amount_micro   INTEGER NOT NULL CHECK (amount_micro > 0),
    address        TEXT    NOT NULL,
    state          TEXT    NOT NULL DEFAULT 'requested' CHECK (state IN ('requested', 'paid', 'rejected')),
    created_at_ms  INTEGER NOT NULL,
    decided_at_ms  INTEGER,
    decided_by     INTEGER REFERENCES users (id),
    reference      TEXT
);
CREATE INDEX payouts_by_user ON payouts (user_id, created_at_ms);
CREATE INDEX payouts_by_state ON payouts (state, created_at_ms);

CREATE TABLE notifications (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id       INTEGER NOT NULL REFERENCES users (id),
    kind          TEXT    NOT NULL,
    text          TEXT    NOT NULL,
    job_id        INTEGER,
    created_at_ms INTEGER NOT NULL,
    read_at_ms    INTEGER
);
CREATE INDEX notifications_by_user ON notifications (user_id, id);

-- A user's webhook for notifications, and each delivery with its retries.
ALTER TABLE users ADD COLUMN webhook_url TEXT;
ALTER TABLE users ADD COLUMN webhook_secret TEXT;
CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id         INTEGER NOT NULL REFERENCES users (id),
    notification_id INTEGER NOT NULL REFERENCES notifications (id),
    url             TEXT    NOT NULL,
    body            TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at_ms INTEGER NOT NULL,
    delivered_at_ms INTEGER,
    last_error      TEXT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (delivered_at_ms, next_attempt_at_ms);

-- The lease query takes a job's first queued task, and payments count a job's tasks by state, through this index.
CREATE INDEX tasks_by_job_state ON tasks (job_id, state, id);
