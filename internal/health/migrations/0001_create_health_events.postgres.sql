-- The health authority's event log (see doc.go): every health transition
-- of a controller, every restart it saw, and every freeze and thaw of
-- re-dispatch, with the evidence, newest last.
CREATE TABLE health_events (
    id            BIGINT    GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at            TIMESTAMPTZ NOT NULL,
    kind          TEXT      NOT NULL,            -- transition, restart, freeze, thaw
    controller_id BIGINT,                        -- NULL for a cluster's or jenkinds' own events
    controller    TEXT      NOT NULL DEFAULT '',
    cluster       TEXT      NOT NULL DEFAULT '', -- '' for jenkinds' own (starved)
    from_health   TEXT      NOT NULL DEFAULT '',
    to_health     TEXT      NOT NULL DEFAULT '',
    source        TEXT      NOT NULL DEFAULT '', -- probe, passive, jenkinds
    reason        TEXT      NOT NULL DEFAULT '',
    replica       TEXT      NOT NULL DEFAULT ''  -- the jenkinds replica that decided
);

CREATE INDEX health_events_controller ON health_events (controller_id, id);
CREATE INDEX health_events_cluster ON health_events (cluster, id);
CREATE INDEX health_events_at ON health_events (at);
