-- The PostgreSQL ledger: the SQLite schema (through its migration 0003) in one step. Times are
-- milliseconds since the Unix epoch; JSON columns hold text, as on SQLite, so both backends share
-- their queries. Ids are compared byte-wise (COLLATE "C"): a UUIDv7 sorts by time only so.
CREATE TABLE jobs (
    id            TEXT COLLATE "C" PRIMARY KEY,
    provider      TEXT NOT NULL,
    mode          TEXT NOT NULL,
    model         TEXT NOT NULL,
    state         TEXT NOT NULL,
    handle        TEXT,
    web_link      TEXT,
    cursor        TEXT,
    request       TEXT NOT NULL,
    wire          TEXT,
    out_dir       TEXT,
    prefix        TEXT,
    error         TEXT,
    usage         TEXT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    submitted_at  BIGINT,
    finished_at   BIGINT,
    attempts      BIGINT NOT NULL DEFAULT 0,
    next_poll_at  BIGINT,
    lease_owner   TEXT,
    lease_until   BIGINT,
    last_seq      BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX jobs_state ON jobs (state);
CREATE INDEX jobs_provider_handle ON jobs (provider, handle);
CREATE INDEX jobs_lease ON jobs (lease_until);

CREATE TABLE events (
    job_id  TEXT COLLATE "C" NOT NULL REFERENCES jobs (id),
    seq     BIGINT NOT NULL,
    at      BIGINT NOT NULL,
    kind    TEXT NOT NULL,
    data    TEXT NOT NULL,
    PRIMARY KEY (job_id, seq)
);

CREATE TABLE artifacts (
    job_id  TEXT COLLATE "C" NOT NULL REFERENCES jobs (id),
    idx     BIGINT NOT NULL,
    url     TEXT NOT NULL,
    kind    TEXT NOT NULL,
    path    TEXT,
    bytes   BIGINT,
    sha256  TEXT,
    mime    TEXT,
    state   TEXT NOT NULL,
    error   TEXT,
    PRIMARY KEY (job_id, idx)
);

CREATE TABLE uploads (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    provider    TEXT NOT NULL,
    model       TEXT NOT NULL,
    local_path  TEXT NOT NULL,
    bytes       BIGINT NOT NULL,
    modified    BIGINT NOT NULL,
    reference   TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX uploads_lookup ON uploads (provider, model, local_path);

CREATE TABLE pacing (
    key      TEXT PRIMARY KEY,
    next_at  BIGINT NOT NULL
);
