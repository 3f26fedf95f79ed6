-- What a job was expected to cost when it was recorded, and what it cost by the platform's own
-- report once it finished. Kept beside the job rather than in it, so that a price change later
-- does not rewrite history: each figure is the one known at the time, with how it was reached.
CREATE TABLE IF NOT EXISTS job_costs (
    job_id          TEXT COLLATE "C" PRIMARY KEY REFERENCES jobs(id) ON DELETE CASCADE,
    estimate_micros BIGINT,
    estimate_unit   TEXT,
    estimate_basis  TEXT,
    charged_micros  BIGINT,
    charged_unit    TEXT,
    charged_basis   TEXT,
    updated_at      BIGINT NOT NULL
);
