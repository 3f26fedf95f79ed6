-- Times are milliseconds since the Unix epoch; JSON columns hold text.
CREATE TABLE jobs (
    id            TEXT PRIMARY KEY,
    provider      TEXT NOT NULL,
    mode          TEXT NOT NULL,
    model         TEXT NOT NULL,
    state         TEXT NOT NULL,
    handle        TEXT,
    request       TEXT NOT NULL,
    wire          TEXT,
    out_dir       TEXT,
    prefix        TEXT,
    error         TEXT,
    usage         TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    submitted_at  INTEGER,
    finished_at   INTEGER,
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_poll_at  INTEGER,
    lease_owner   TEXT,
    lease_until   INTEGER
);
CREATE INDEX jobs_state ON jobs (state);
CREATE INDEX jobs_provider_handle ON jobs (provider, handle);

CREATE TABLE events (
    job_id  TEXT NOT NULL REFERENCES jobs (id),
    seq     INTEGER NOT NULL,
    at      INTEGER NOT NULL,
    kind    TEXT NOT NULL,
    data    TEXT NOT NULL,
    PRIMARY KEY (job_id, seq)
);

CREATE TABLE artifacts (
    job_id  TEXT NOT NULL REFERENCES jobs (id),
    idx     INTEGER NOT NULL,
    url     TEXT NOT NULL,
    kind    TEXT NOT NULL,
    path    TEXT,
    bytes   INTEGER,
    sha256  TEXT,
    mime    TEXT,
    state   TEXT NOT NULL,
    error   TEXT,
    PRIMARY KEY (job_id, idx)
);

CREATE TABLE uploads (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    provider    TEXT NOT NULL,
    model       TEXT NOT NULL,
    local_path  TEXT NOT NULL,
    bytes       INTEGER NOT NULL,
    modified    INTEGER NOT NULL,
    reference   TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX uploads_lookup ON uploads (provider, model, local_path);
