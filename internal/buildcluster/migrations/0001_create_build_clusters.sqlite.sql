-- The build cluster registry (see doc.go). scm_organizations and
-- public_keys are JSON arrays: they are read and written with their record,
-- never queried into.
CREATE TABLE build_clusters (
    id                INTEGER     PRIMARY KEY AUTOINCREMENT,
    name              TEXT        NOT NULL,
    scm_context       TEXT        NOT NULL,
    description       TEXT        NOT NULL DEFAULT '',
    scm_organizations TEXT        NOT NULL DEFAULT '[]',
    is_active         BOOLEAN     NOT NULL DEFAULT TRUE,
    managed_by        TEXT        NOT NULL CHECK (managed_by IN ('screwdriver', 'external')),
    managed_by_email  TEXT        NOT NULL DEFAULT '',
    weight            INTEGER     NOT NULL DEFAULT 100 CHECK (weight BETWEEN 0 AND 100),
    public_keys       TEXT        NOT NULL DEFAULT '[]',
    created_at        TIMESTAMP   NOT NULL,
    updated_at        TIMESTAMP   NOT NULL
);

-- At most one active record per (name, scmContext); inactive ones (retired
-- registrations) may sit beside it.
CREATE UNIQUE INDEX build_clusters_one_active ON build_clusters (name, scm_context) WHERE is_active;

-- The router reads one scmContext's records; the API looks names up.
CREATE INDEX build_clusters_scm_context ON build_clusters (scm_context, name);
CREATE INDEX build_clusters_name ON build_clusters (name);
