-- Welcome credits can be spent but never withdrawn: how much of each user's credit is welcome money (spent
-- first), how much of each job's escrow came from it, and how much of each user's earnings it paid (kept back from
-- payouts).
ALTER TABLE users ADD COLUMN welcome_credit_micro BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN held_earnings_micro BIGINT NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN escrow_welcome_micro BIGINT NOT NULL DEFAULT 0;
