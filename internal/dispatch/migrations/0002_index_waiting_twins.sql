-- Submit with Coalesce looks for an identical waiting build (Jenkins' 303):
-- by cluster, job and parameters, among the waiting ones only, so that
-- thousands of waiting builds of one job do not make each trigger a scan.
CREATE INDEX builds_twin ON builds (cluster, job, params, id) WHERE state IN ('accepted', 'placed');
