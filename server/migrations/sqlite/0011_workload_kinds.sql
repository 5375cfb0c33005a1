-- Workload kinds: every job runs one kind of work (rendering so far), and a worker offers the kinds it can run.
ALTER TABLE jobs ADD COLUMN kind TEXT NOT NULL DEFAULT 'render';
ALTER TABLE nodes ADD COLUMN workloads TEXT NOT NULL DEFAULT 'render';
-- A job's own limit on one attempt's time (NULL: the coordinator's max_task_ms). Agents stop work at the limit;
-- the coordinator takes back a lease held past it, so an agent that keeps reporting cannot hold a task forever.
ALTER TABLE jobs ADD COLUMN max_task_ms INTEGER;
