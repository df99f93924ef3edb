-- Submit with Coalesce looks for an identical waiting build (Jenkins' 303):
-- by cluster, job and parameters, among the waiting ones only, so that
-- thousands of waiting builds of one job do not make each trigger a scan.
-- It replaces builds_unfinished (cluster, job, id), which it covers for the
-- queue views: one index less to keep up on every insert and state change.
CREATE INDEX builds_twin ON builds (cluster, job, params, id) WHERE state IN ('accepted', 'placed');
DROP INDEX builds_unfinished;
