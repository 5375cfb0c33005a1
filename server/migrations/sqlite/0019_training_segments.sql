-- Training checks: a failed replay discards the run's checkpoints after the replayed segment's start (they were
-- built on it), whichever attempt uploaded them; NULL for renders and AI requests.
ALTER TABLE verifications ADD COLUMN rejects_after_step INTEGER;
