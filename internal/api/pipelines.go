package api

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"strconv"

	"github.com/jenkinds/jenkinds/internal/buildcluster"
	"github.com/jenkinds/jenkinds/internal/queue"
)

// BuildRouter chooses a pipeline build's cluster; *buildcluster.Router is
// one.
type BuildRouter interface {
	Route(ctx context.Context, req buildcluster.Request) (buildcluster.Decision, error)
}

// BuildQueue is where a routed build waits for a worker of its cluster;
// *queue.Queue is one.
type BuildQueue interface {
	Enqueue(ctx context.Context, j queue.Job) (queue.Job, error)
	Get(ctx context.Context, id int64) (queue.Job, error)
}

// JobLogs reads what workers uploaded of a job's log, per attempt;
// *workerapi.LogStore is one.
type JobLogs interface {
	Log(ctx context.Context, jobID int64, attempt int) ([]byte, error)
}

var (
	_ BuildRouter = (*buildcluster.Router)(nil)
	_ BuildQueue  = (*queue.Queue)(nil)
)

// BuildRequest is the body of POST /api/v1/builds. Its fields say which
// kind of build it asks for:
//
//   - pipeline or yaml present: a pipeline build, routed to a build
//     cluster and queued for that cluster's workers. It needs scmContext,
//     pipeline (org/repo), job, and either steps or yaml (a whole
//     screwdriver.yaml, of which job is one job); annotations and
//     environment are laid over the yaml's.
//   - clusterId (and job, parameters, delaySeconds): a build of a job on
//     the Jenkins controllers of cluster clusterId, accepted by Config.Builds
//     (package dispatch) and placed on one of them (builds.go). parameters
//     is an object of names to values, {"ENV": "qa"}; a value may be a
//     string, a number or a boolean. delaySeconds holds the build back.
//
// A body with neither is a 400 that names both.
type BuildRequest struct {
	SCMContext  string              `json:"scmContext,omitempty"`
	Pipeline    string              `json:"pipeline,omitempty"`
	Job         string              `json:"job,omitempty"`
	Annotations map[string]string   `json:"annotations,omitempty"`
	Environment map[string]string   `json:"environment,omitempty"`
	Image       string              `json:"image,omitempty"`
	Steps       []buildcluster.Step `json:"steps,omitempty"`
	YAML        string              `json:"yaml,omitempty"`
	// Jenkins-controller builds.
	ClusterID    string          `json:"clusterId,omitempty"`
	Parameters   json.RawMessage `json:"parameters,omitempty"`
	DelaySeconds int             `json:"delaySeconds,omitempty"`
}

// BuildSpec is what a pipeline build runs: the payload of its queue job,
// which the worker that claims the job decodes (package worker).
type BuildSpec struct {
	SCMContext   string              `json:"scmContext"`
	Pipeline     string              `json:"pipeline"`
	Job          string              `json:"job"`
	BuildCluster string              `json:"buildCluster"`
	Image        string              `json:"image,omitempty"`
	Annotations  map[string]string   `json:"annotations"`
	Environment  map[string]string   `json:"environment"`
	Steps        []buildcluster.Step `json:"steps"`
}

// PipelineBuild is the answer of POST /api/v1/builds for a pipeline build.
type PipelineBuild struct {
	// BuildCluster is the cluster the build was routed to, and Reason why.
	BuildCluster string `json:"buildCluster"`
	Reason       string `json:"reason"`
	// Job is the build's queue job: its payload is the BuildSpec.
	Job queue.Job `json:"job"`
	// Warnings say what the screwdriver.yaml parser tolerated.
	Warnings []string `json:"warnings"`
}

// pipelineFields lists what a pipeline build needs, for messages.
const pipelineFields = `scmContext, pipeline ("org/repo"), job, and steps ([{"init": "npm install"}, …]) or yaml (a screwdriver.yaml)`

// POST /api/v1/builds
func (h *handler) createBuild(w http.ResponseWriter, r *http.Request) error {
	var req BuildRequest
	if err := h.decode(w, r, &req); err != nil {
		return err
	}
	switch {
	case req.Pipeline != "" || req.YAML != "":
		for _, f := range []struct {
			name string
			set  bool
		}{
			{"clusterId", req.ClusterID != ""},
			{"parameters", len(req.Parameters) > 0 && string(req.Parameters) != "null"},
			{"delaySeconds", req.DelaySeconds != 0},
		} {
			if f.set {
				return &problem{http.StatusBadRequest, CodeInvalidField,
					"clusterId, parameters and delaySeconds are for Jenkins-controller builds; a pipeline build takes " + pipelineFields, f.name}
			}
		}
		return h.createPipelineBuild(w, r, req)

	// Jenkins-controller builds: placed on a controller of the fleet
	// (package dispatch; builds.go).
	case req.ClusterID != "":
		return h.createControllerBuild(w, r, req)

	default:
		return &problem{http.StatusBadRequest, CodeInvalidField,
			"a pipeline build needs " + pipelineFields + "; a build on a Jenkins controller needs " + controllerBuildFields, "pipeline"}
	}
}

// envName is the rule of an environment variable's name.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// createPipelineBuild routes and queues a pipeline build.
func (h *handler) createPipelineBuild(w http.ResponseWriter, r *http.Request, req BuildRequest) error {
	if h.router == nil || h.queue == nil {
		return notEnabled("pipeline builds")
	}
	spec, warnings, err := pipelineSpec(req)
	if err != nil {
		return err
	}
	d, err := h.router.Route(r.Context(), buildcluster.Request{
		SCMContext: spec.SCMContext, Pipeline: spec.Pipeline, Job: spec.Job, Annotations: spec.Annotations,
	})
	if err != nil {
		return err
	}
	spec.BuildCluster = d.Cluster.Name
	payload, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	j, err := h.queue.Enqueue(r.Context(), queue.Job{Cluster: d.Cluster.Name, Payload: payload})
	if err != nil {
		return err
	}
	h.log.InfoContext(r.Context(), "pipeline build queued", "pipeline", spec.Pipeline, "job_name", spec.Job,
		"cluster", d.Cluster.Name, "job", j.ID, "reason", d.Reason)
	w.Header().Set("Location", fmt.Sprintf("%squeue/jobs/%d", Prefix, j.ID))
	return h.reply(w, http.StatusCreated, PipelineBuild{BuildCluster: d.Cluster.Name, Reason: d.Reason, Job: j, Warnings: nonNil(warnings)})
}

// pipelineSpec turns a request into the build's spec: from its steps, or
// from the job of its screwdriver.yaml with the request's annotations and
// environment laid over.
func pipelineSpec(req BuildRequest) (BuildSpec, []string, error) {
	spec := BuildSpec{
		SCMContext: req.SCMContext, Pipeline: req.Pipeline, Job: req.Job, Image: req.Image,
		Annotations: map[string]string{}, Environment: map[string]string{}, Steps: req.Steps,
	}
	if req.Job == "" {
		return BuildSpec{}, nil, &problem{http.StatusBadRequest, CodeInvalidField, "job is required: the name of the job to run, e.g. main", "job"}
	}
	var warnings []string
	switch {
	case req.YAML != "" && req.Steps != nil:
		return BuildSpec{}, nil, &problem{http.StatusBadRequest, CodeInvalidField, "give steps or yaml, not both: with yaml the steps are the job's", "steps"}
	case req.YAML != "":
		p, err := buildcluster.ParsePipeline([]byte(req.YAML))
		if err != nil {
			return BuildSpec{}, nil, err
		}
		job, err := p.Job(req.Job)
		if err != nil {
			return BuildSpec{}, nil, err
		}
		spec.Annotations, spec.Environment, spec.Steps = job.Annotations, job.Environment, job.Steps
		spec.Image = cmpOr(req.Image, job.Image)
		warnings = p.Warnings
	}
	maps.Copy(spec.Annotations, req.Annotations)
	maps.Copy(spec.Environment, req.Environment)
	if len(spec.Steps) == 0 {
		return BuildSpec{}, nil, &problem{http.StatusBadRequest, CodeInvalidField, fmt.Sprintf("job %q has no steps: a build runs at least one, e.g. [{\"test\": \"npm test\"}]", req.Job), "steps"}
	}
	for i, s := range spec.Steps {
		if s.Name == "" || s.Command == "" {
			return BuildSpec{}, nil, &problem{http.StatusBadRequest, CodeInvalidField, fmt.Sprintf("steps[%d] needs a name and a command, e.g. {\"test\": \"npm test\"}", i), "steps"}
		}
	}
	for k := range spec.Environment {
		if !envName.MatchString(k) {
			return BuildSpec{}, nil, &problem{http.StatusBadRequest, CodeInvalidField, fmt.Sprintf("environment: %q is not a variable name (letters, digits and '_', not starting with a digit)", k), "environment"}
		}
	}
	return spec, warnings, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// GET /api/v1/queue/jobs/{id}
func (h *handler) getQueueJob(w http.ResponseWriter, r *http.Request) error {
	j, err := h.queueJob(r)
	if err != nil {
		return err
	}
	return h.reply(w, http.StatusOK, j)
}

// queueJob returns the job the {id} path parameter names.
func (h *handler) queueJob(r *http.Request) (queue.Job, error) {
	if h.queue == nil {
		return queue.Job{}, notEnabled("pipeline builds")
	}
	id, err := pathID(r)
	if err != nil {
		return queue.Job{}, err
	}
	return h.queue.Get(r.Context(), id)
}

// GET /api/v1/queue/jobs/{id}/log[?attempt=N]
func (h *handler) queueJobLog(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r, "attempt")
	if err != nil {
		return err
	}
	j, err := h.queueJob(r)
	if err != nil {
		return err
	}
	if h.logs == nil {
		return notEnabled("job logs")
	}
	attempt := j.Attempt
	if s := q.Get("attempt"); s != "" {
		attempt, err = strconv.Atoi(s)
		if err != nil || attempt < 1 || attempt > j.Attempt {
			return &problem{http.StatusBadRequest, CodeInvalidParameter, fmt.Sprintf("attempt must be between 1 and %d, the job's attempts so far", j.Attempt), "attempt"}
		}
	}
	text, err := h.logs.Log(r.Context(), j.ID, attempt)
	if err != nil {
		return err
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "text/plain; charset=utf-8")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("X-Jenkinds-Attempt", strconv.Itoa(attempt))
	hdr.Set("X-Jenkinds-Job-State", string(j.State))
	w.WriteHeader(http.StatusOK)
	w.Write(text)
	return nil
}
