-- The per-cluster build queue: one row per job, and the row is the job
-- (see doc.go for the state machine). A job is never deleted when it is
-- handed out; it changes state.
CREATE TABLE queue_jobs (
    id               INTEGER     PRIMARY KEY AUTOINCREMENT,
    cluster          TEXT        NOT NULL,
    build_id         INTEGER,                          -- NULL when the job is no build
    payload          TEXT        NOT NULL DEFAULT '{}', -- JSON, opaque to the queue
    state            TEXT        NOT NULL DEFAULT 'available'
                     CHECK (state IN ('available', 'leased', 'completed', 'failed', 'cancelled')),
    attempt          INTEGER     NOT NULL DEFAULT 1 CHECK (attempt >= 1),
    max_attempts     INTEGER     NOT NULL DEFAULT 3 CHECK (max_attempts BETWEEN 1 AND 100),
    lease_token      TEXT        NOT NULL DEFAULT '',  -- the fence: '' when no lease holds
    leased_by        TEXT        NOT NULL DEFAULT '',
    lease_expires_at TIMESTAMP,
    blocked_by       TEXT        NOT NULL DEFAULT '[]', -- JSON array of job ids
    has_dependents   BOOLEAN     NOT NULL DEFAULT FALSE, -- some job names this one in blocked_by
    created_at       TIMESTAMP   NOT NULL,
    updated_at       TIMESTAMP   NOT NULL,
    finished_at      TIMESTAMP,
    result           TEXT        NOT NULL DEFAULT '',
    exit_code        INTEGER,
    error            TEXT        NOT NULL DEFAULT ''
);

-- Lease: the oldest available job of a cluster. Only available rows are in
-- the index, so it stays as small as the backlog however long the history.
CREATE INDEX queue_jobs_available ON queue_jobs (cluster, id) WHERE state = 'available';

-- Rescue: leases by expiry.
CREATE INDEX queue_jobs_lease_expiry ON queue_jobs (lease_expires_at) WHERE state = 'leased';

-- A build has at most one live job, so a retried enqueue cannot start it twice.
CREATE UNIQUE INDEX queue_jobs_one_live_job_per_build ON queue_jobs (build_id)
    WHERE build_id IS NOT NULL AND state IN ('available', 'leased');

CREATE INDEX queue_jobs_build ON queue_jobs (build_id) WHERE build_id IS NOT NULL;
