-- The re-dispatch policy of builds that must never run twice (deploys):
-- 'always' places a build again whenever its controller loses it;
-- 'queued-only' places it again only while it has not started, and fails
-- it with the reason once it has. One row per cluster (job '') and per job
-- that overrides its cluster's; no row means 'always'.
CREATE TABLE redispatch_policies (
    cluster    TEXT      NOT NULL,
    job        TEXT      NOT NULL DEFAULT '',
    policy     TEXT      NOT NULL CHECK (policy IN ('always', 'queued-only')),
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (cluster, job)
);

-- The policy an attempt was placed under (see redispatch_policies): it
-- governs what happens when that attempt is lost.
ALTER TABLE build_attempts ADD COLUMN redispatch TEXT NOT NULL DEFAULT 'always';
