-- One epoch per period, whichever coordinator closes it first (two closing at once used to pay the pool twice).
CREATE UNIQUE INDEX epochs_one_per_start ON epochs (started_at_ms);
-- Payments, refunds and budgets filter a job's transfers by kind: their cost must not grow with the whole ledger.
CREATE INDEX ledger_transfers_by_job_kind ON ledger_transfers (job_id, kind);
