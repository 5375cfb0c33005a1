-- When an agent signed off (stopped on purpose), as against falling silent: a checker that signed off no longer
-- counts toward checks, while one that merely missed heartbeats does for a while. Cleared when it comes back.

ALTER TABLE nodes ADD COLUMN signed_off_at_ms BIGINT;
