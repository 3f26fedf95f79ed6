-- The fleet: event numbers come from the job row (so concurrent writers of one job's events queue
-- on that row instead of colliding), and request pacing shared by every process of the ledger.
ALTER TABLE jobs ADD COLUMN last_seq INTEGER NOT NULL DEFAULT 0;
UPDATE jobs SET last_seq = (SELECT COALESCE(MAX(seq), 0) FROM events WHERE events.job_id = jobs.id);
CREATE INDEX jobs_lease ON jobs (lease_until);

CREATE TABLE pacing (
    key      TEXT PRIMARY KEY,
    next_at  INTEGER NOT NULL
);
