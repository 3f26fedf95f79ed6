-- Batches (`kino batch FILE`): the reviewed plan, written whole before anything is sent, and
-- each row's progress. A row names its job only once it is dispatched: rows that were never
-- dispatched cost nothing and leave no job behind.
CREATE TABLE IF NOT EXISTS batches (
    id          TEXT COLLATE "C" PRIMARY KEY,
    file        TEXT NOT NULL,
    hash        TEXT NOT NULL,
    options     TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS batch_rows (
    batch_id    TEXT COLLATE "C" NOT NULL REFERENCES batches(id) ON DELETE CASCADE,
    idx         BIGINT NOT NULL,
    provider    TEXT NOT NULL,
    model       TEXT NOT NULL,
    plan        TEXT NOT NULL,
    status      TEXT NOT NULL,
    job_id      TEXT,
    reason      TEXT,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (batch_id, idx)
);

CREATE INDEX IF NOT EXISTS batch_rows_job ON batch_rows (job_id);
