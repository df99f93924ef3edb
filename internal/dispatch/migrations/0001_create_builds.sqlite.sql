-- Builds jenkinds accepted or saw on a controller, one row each; the row is
-- the queue (see doc.go for the state machines). id is the global queue id.
CREATE TABLE builds (
    id              INTEGER   PRIMARY KEY AUTOINCREMENT, -- never reuse: it is the global queue id
    cluster         TEXT      NOT NULL,
    job             TEXT      NOT NULL,                  -- full name, "folder/job"
    params          TEXT      NOT NULL DEFAULT '[]',     -- JSON [{"name":…,"value":…}], in the order given
    cause           TEXT      NOT NULL DEFAULT '{}',     -- JSON Cause
    state           TEXT      NOT NULL
                    CHECK (state IN ('accepted', 'placed', 'running', 'finished', 'failed', 'cancelled')),
    number          BIGINT,                              -- global build number of (cluster, job); NULL until it first runs
    current_attempt INTEGER   NOT NULL DEFAULT 0,        -- the fence: only this attempt's result counts
    max_attempts    INTEGER   NOT NULL DEFAULT 3 CHECK (max_attempts BETWEEN 1 AND 100),
    result          TEXT      NOT NULL DEFAULT '',       -- Jenkins result once finished
    reason          TEXT      NOT NULL DEFAULT '',       -- why it failed, was cancelled or was re-dispatched last
    stop_requested  BOOLEAN   NOT NULL DEFAULT FALSE,
    not_before      TIMESTAMP NOT NULL,                  -- not placed before (delay, re-placement back-off)
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL,
    started_at      TIMESTAMP,                           -- first seen running
    finished_at     TIMESTAMP
);

-- The placer's queue: due builds waiting for a controller.
CREATE INDEX builds_waiting ON builds (cluster, id) WHERE state = 'accepted';
-- Global numbers never collide.
CREATE UNIQUE INDEX builds_number ON builds (cluster, job, number) WHERE number IS NOT NULL;
CREATE INDEX builds_cluster_job ON builds (cluster, job, id);
CREATE INDEX builds_unfinished ON builds (cluster, job, id) WHERE state IN ('accepted', 'placed');

-- Every placement of a build on a controller.
CREATE TABLE build_attempts (
    build_id         INTEGER   NOT NULL REFERENCES builds (id),
    attempt          INTEGER   NOT NULL CHECK (attempt >= 1),
    controller_id    BIGINT    NOT NULL,
    job              TEXT      NOT NULL,
    backend_queue_id BIGINT,                             -- the controller's queue item id
    backend_number   BIGINT,                             -- the controller's build number
    backend_session  TEXT      NOT NULL DEFAULT '',      -- X-Jenkins-Session the ids belong to
    backend_floor    BIGINT    NOT NULL DEFAULT 0,       -- the job's nextBuildNumber there before the trigger
    state            TEXT      NOT NULL
                     CHECK (state IN ('triggering', 'queued', 'running', 'finished', 'refused', 'superseded', 'fenced')),
    counts           BOOLEAN   NOT NULL DEFAULT TRUE,    -- counts toward max_attempts
    result           TEXT      NOT NULL DEFAULT '',
    reason           TEXT      NOT NULL DEFAULT '',      -- why it ended
    fence            TEXT      NOT NULL DEFAULT '',      -- what fencing found or did
    triggered_at     TIMESTAMP NOT NULL,
    started_at       TIMESTAMP,
    finished_at      TIMESTAMP,
    superseded_at    TIMESTAMP,
    updated_at       TIMESTAMP NOT NULL,
    PRIMARY KEY (build_id, attempt)
);

-- The follower's work list per controller.
CREATE INDEX build_attempts_watch ON build_attempts (controller_id)
    WHERE state IN ('triggering', 'queued', 'running', 'superseded');
-- Merge detection: which of our attempts holds a queue item.
CREATE INDEX build_attempts_queued ON build_attempts (controller_id, backend_queue_id) WHERE state = 'queued';
-- Which backend builds are claimed (direct-build discovery).
CREATE INDEX build_attempts_backend ON build_attempts (controller_id, job, backend_number)
    WHERE backend_number IS NOT NULL;

-- The next global build number per (cluster, job).
CREATE TABLE build_numbers (
    cluster TEXT   NOT NULL,
    job     TEXT   NOT NULL,
    next    BIGINT NOT NULL,
    PRIMARY KEY (cluster, job)
);

-- Direct-build discovery: the highest backend build number of each job of
-- each controller that the follower has classified.
CREATE TABLE build_scan_marks (
    controller_id BIGINT NOT NULL,
    job           TEXT   NOT NULL,
    seen          BIGINT NOT NULL,
    PRIMARY KEY (controller_id, job)
);
