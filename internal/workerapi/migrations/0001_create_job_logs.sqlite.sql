-- The logs workers upload for their jobs (see doc.go): one row per chunk,
-- kept per delivery (attempt), so that a worker that lost its lease never
-- writes into the log of the attempt that replaced it. (job_id, attempt,
-- byte_offset) is unique: a chunk uploaded again after a lost answer is
-- stored once.
CREATE TABLE job_logs (
    job_id      INTEGER   NOT NULL,
    attempt     INTEGER   NOT NULL,
    byte_offset INTEGER   NOT NULL,
    data        TEXT      NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (job_id, attempt, byte_offset)
);
