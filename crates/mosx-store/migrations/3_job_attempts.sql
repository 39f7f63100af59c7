-- mosx store schema v3 (PostgreSQL): the cluster jobs of each stage, as SQLite's v3. One row
-- per stage key, run and attempt (1, 2, ...), updated as the executor learns the job's fate.
CREATE TABLE job_attempts (
    key          TEXT NOT NULL,
    run_id       BIGINT NOT NULL,
    attempt      INTEGER NOT NULL CHECK (attempt >= 1),
    job_id       TEXT NOT NULL,
    state        TEXT NOT NULL,
    node         TEXT,
    submitted_at DOUBLE PRECISION NOT NULL,
    started_at   DOUBLE PRECISION,
    finished_at  DOUBLE PRECISION,
    mem_mib      BIGINT,
    note         TEXT,
    PRIMARY KEY (key, run_id, attempt)
);
