-- Workload kinds: every job runs one kind of work (rendering so far), and a worker offers the kinds it can run.
ALTER TABLE jobs ADD COLUMN kind TEXT NOT NULL DEFAULT 'render';
ALTER TABLE nodes ADD COLUMN workloads TEXT NOT NULL DEFAULT 'render';
