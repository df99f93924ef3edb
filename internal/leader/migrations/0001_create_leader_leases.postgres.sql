-- Leader leases, one row per lease name (see doc.go). The row is written
-- only by the one conditional statement that takes or renews the lease and
-- by Release; it is never deleted, so epoch only grows.
CREATE TABLE leader_leases (
    name       TEXT        PRIMARY KEY,
    holder     TEXT        NOT NULL,  -- the replica holding it now, or last
    epoch      BIGINT      NOT NULL,  -- the fencing token: +1 per term
    expires_at TIMESTAMPTZ NOT NULL   -- free once the holders' clocks pass it
);
