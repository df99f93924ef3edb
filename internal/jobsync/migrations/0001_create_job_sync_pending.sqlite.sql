-- Job writes (createItem, config.xml, doDelete) that the front door
-- accepted but that some controller of the cluster has not applied yet, one
-- row per controller and job: a later write of the same job for the same
-- controller replaces the row (version goes up). The row is the retry
-- queue (see doc.go).
CREATE TABLE job_sync_pending (
    id              INTEGER   PRIMARY KEY AUTOINCREMENT,
    cluster         TEXT      NOT NULL,
    controller_id   BIGINT    NOT NULL,
    job             TEXT      NOT NULL,                  -- full name, "folder/job"
    op              TEXT      NOT NULL CHECK (op IN ('create', 'update', 'delete')),
    config_xml      TEXT      NOT NULL DEFAULT '',       -- the accepted config.xml; '' for delete
    version         BIGINT    NOT NULL DEFAULT 1,        -- bumped by every write that replaces the row
    attempts        INTEGER   NOT NULL DEFAULT 0,        -- sends to the controller that failed
    last_error      TEXT      NOT NULL DEFAULT '',
    next_attempt_at TIMESTAMP NOT NULL,                  -- not retried before (back-off, or a retry's lease)
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL,
    UNIQUE (controller_id, job)
);

CREATE INDEX job_sync_pending_due ON job_sync_pending (next_attempt_at, id);
CREATE INDEX job_sync_pending_cluster ON job_sync_pending (cluster, job);
