-- The registry of Jenkins controllers: configuration set through the API,
-- then the health state the monitor records (see doc.go).
CREATE TABLE controllers (
    id                INTEGER   PRIMARY KEY AUTOINCREMENT, -- never reuse a deleted id
    name              TEXT      NOT NULL,
    url               TEXT      NOT NULL,
    username          TEXT      NOT NULL DEFAULT '',
    description       TEXT      NOT NULL DEFAULT '',
    api_token         TEXT      NOT NULL DEFAULT '', -- sealed by package secret; '' when none
    is_primary        BOOLEAN   NOT NULL DEFAULT FALSE,
    cluster_id        TEXT      NOT NULL DEFAULT 'default',
    load_balancer_url TEXT      NOT NULL DEFAULT '',
    priority          INTEGER   NOT NULL DEFAULT 0 CHECK (priority BETWEEN 0 AND 100),
    health_check_url  TEXT      NOT NULL DEFAULT '',
    max_connections   INTEGER   NOT NULL DEFAULT 100 CHECK (max_connections BETWEEN 1 AND 100000),
    is_active         BOOLEAN   NOT NULL DEFAULT TRUE,
    created_at        TIMESTAMP NOT NULL,
    updated_at        TIMESTAMP NOT NULL,

    health_status     TEXT      NOT NULL DEFAULT 'unknown'
                      CHECK (health_status IN ('unknown', 'healthy', 'degraded', 'unhealthy')),
    last_health_check TIMESTAMP,
    last_error        TEXT      NOT NULL DEFAULT '',
    current_load      INTEGER   NOT NULL DEFAULT 0 CHECK (current_load >= 0),
    version           TEXT      NOT NULL DEFAULT '',
    jenkins_session   TEXT      NOT NULL DEFAULT '',
    restart_count     INTEGER   NOT NULL DEFAULT 0
);

CREATE UNIQUE INDEX controllers_name_key ON controllers (name);

-- At most one primary per cluster.
CREATE UNIQUE INDEX controllers_one_primary_per_cluster ON controllers (cluster_id) WHERE is_primary;
