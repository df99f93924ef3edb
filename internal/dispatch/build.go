package dispatch

import (
	"encoding/json"
	"time"

	"github.com/jenkinds/jenkinds/internal/catalog"
	"github.com/jenkinds/jenkinds/internal/jenkins"
)

// State is where a build is in its life (see doc.go).
type State string

const (
	// StateAccepted: the row exists and no attempt is on a controller; the
	// placer will place it once not_before has passed and a controller
	// can take it.
	StateAccepted State = "accepted"
	// StatePlaced: the current attempt was triggered on a controller and
	// sits in its queue (or the trigger is in flight).
	StatePlaced State = "placed"
	// StateRunning: the current attempt's backend build is running.
	StateRunning State = "running"
	// StateFinished: the current attempt's backend build ended; Result is
	// its Jenkins result. Terminal.
	StateFinished State = "finished"
	// StateFailed: jenkinds gave up (attempts exhausted, job gone); Reason
	// says why. Terminal.
	StateFailed State = "failed"
	// StateCancelled: cancelled before it ran. Terminal.
	StateCancelled State = "cancelled"
)

// Terminal reports whether nothing moves a build out of s.
func (s State) Terminal() bool {
	return s == StateFinished || s == StateFailed || s == StateCancelled
}

func (s State) valid() bool {
	switch s {
	case StateAccepted, StatePlaced, StateRunning, StateFinished, StateFailed, StateCancelled:
		return true
	}
	return false
}

// AttemptState is where one placement of a build is (see doc.go).
type AttemptState string

const (
	// AttemptTriggering: written before the trigger is sent. Left so when
	// the trigger's outcome is unknown (timeout, jenkinds stopped): the
	// follower then looks for its queue item or build by parameters.
	AttemptTriggering AttemptState = "triggering"
	// AttemptQueued: the controller answered with a queue item.
	AttemptQueued AttemptState = "queued"
	// AttemptRunning: the queue item became a build, still building.
	AttemptRunning AttemptState = "running"
	// AttemptFinished: the build ended and its result is the build's: the
	// one counted result. Terminal.
	AttemptFinished AttemptState = "finished"
	// AttemptRefused: the controller refused the trigger; nothing was
	// queued. Terminal; does not count toward the attempt limit.
	AttemptRefused AttemptState = "refused"
	// AttemptSuperseded: jenkinds stopped counting this attempt (its
	// controller died, restarted or lost it, or the build was cancelled);
	// whatever it still does on the controller is to be fenced.
	AttemptSuperseded AttemptState = "superseded"
	// AttemptFenced: fencing is done: Fence says what it found or did.
	// Terminal.
	AttemptFenced AttemptState = "fenced"
)

// live reports whether the follower still watches an attempt in s.
func (s AttemptState) live() bool {
	return s == AttemptTriggering || s == AttemptQueued || s == AttemptRunning
}

// What fencing found or did with a superseded attempt (Attempt.Fence).
const (
	FenceStopped   = "stopped"   // it was building: jenkinds stopped it (POST …/stop)
	FenceCancelled = "cancelled" // it was still queued: jenkinds cancelled the queue item
	FenceEnded     = "ended"     // it had already ended by itself (Result says how)
	FenceGone      = "gone"      // no trace of it on the controller
)

// CauseDirect is the Cause.Kind of builds that were started on a
// controller directly (cron, SCM polling, a user there), which jenkinds
// records when it sees them.
const CauseDirect = "direct"

// Param is one build parameter.
type Param struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Cause says who or what asked for a build. The front door fills it from
// the Jenkins request; direct builds carry the controller's description.
type Cause struct {
	// Kind is "user", "remote", "api", CauseDirect or any other tag.
	Kind        string `json:"kind"`
	UserID      string `json:"userId,omitempty"`
	Addr        string `json:"addr,omitempty"`
	Note        string `json:"note,omitempty"`
	Description string `json:"description,omitempty"` // Jenkins' shortDescription
}

// Build is one build as the database keeps it. ID is the global queue id
// the front door presents; Number the global build number of (Cluster,
// Job), 0 until the build first runs.
type Build struct {
	ID             int64      `json:"id"`
	Cluster        string     `json:"cluster"`
	Job            string     `json:"job"`
	Params         []Param    `json:"params"`
	Cause          Cause      `json:"cause"`
	State          State      `json:"state"`
	Number         int64      `json:"number,omitempty"`
	CurrentAttempt int        `json:"currentAttempt"`
	MaxAttempts    int        `json:"maxAttempts"`
	Result         string     `json:"result,omitempty"`
	Reason         string     `json:"reason,omitempty"`
	StopRequested  bool       `json:"stopRequested,omitempty"`
	NotBefore      time.Time  `json:"notBefore"`
	CreatedAt      time.Time  `json:"createdAt"`
	UpdatedAt      time.Time  `json:"updatedAt"`
	StartedAt      *time.Time `json:"startedAt,omitempty"`
	FinishedAt     *time.Time `json:"finishedAt,omitempty"`
	// Attempts is filled by Get and GetByNumber, oldest first.
	Attempts []Attempt `json:"attempts,omitempty"`
	// Coalesced is set only on Submit's answer: the request joined this
	// existing, identical waiting build (Request.Coalesce).
	Coalesced bool `json:"-"`
}

// Direct reports whether the build was started on a controller directly.
func (b Build) Direct() bool { return b.Cause.Kind == CauseDirect }

// Current returns the current attempt, if Attempts holds it.
func (b Build) Current() (Attempt, bool) {
	for _, a := range b.Attempts {
		if a.Attempt == b.CurrentAttempt {
			return a, true
		}
	}
	return Attempt{}, false
}

// Attempt is one placement of a build on a controller.
type Attempt struct {
	BuildID        int64        `json:"buildId"`
	Attempt        int          `json:"attempt"`
	ControllerID   int64        `json:"controllerId"`
	BackendQueueID int64        `json:"backendQueueId,omitempty"`
	BackendNumber  int64        `json:"backendNumber,omitempty"`
	BackendSession string       `json:"backendSession,omitempty"`
	State          AttemptState `json:"state"`
	// Counts tells whether the attempt counts toward MaxAttempts (refused
	// and merged triggers do not).
	Counts       bool       `json:"counts"`
	Result       string     `json:"result,omitempty"`
	Reason       string     `json:"reason,omitempty"`
	Fence        string     `json:"fence,omitempty"`
	TriggeredAt  time.Time  `json:"triggeredAt"`
	StartedAt    *time.Time `json:"startedAt,omitempty"`
	FinishedAt   *time.Time `json:"finishedAt,omitempty"`
	SupersededAt *time.Time `json:"supersededAt,omitempty"`
	// Redispatch is the policy the attempt was placed under: what happens
	// to the build if this attempt is lost after its build started.
	Redispatch Policy `json:"redispatch"`

	floor int64 // the job's nextBuildNumber on the controller before the trigger
}

// Request asks for a build.
type Request struct {
	// Cluster is the controller cluster; "" means controller.DefaultCluster.
	Cluster string
	// Job is the full name, "folder/job".
	Job    string
	Params []Param
	Cause  Cause
	// Delay holds the build back (Jenkins' delay= / quiet period): it is
	// placed no earlier than Delay after Submit. jenkinds always triggers
	// the controller with delay=0sec.
	Delay time.Duration
	// WithParameters: the client asked for a parameterized build
	// (buildWithParameters); a job without parameters is
	// ErrNotParameterized, as Jenkins answers 400.
	WithParameters bool
	// Coalesce: if an identical build (same cluster, job and parameters) is
	// waiting (accepted or placed), return it instead of a new one, as
	// Jenkins' queue does (the front door answers 303).
	Coalesce bool
}

// Filter narrows List; the zero value lists the first 100 builds.
type Filter struct {
	Cluster string
	Job     string
	State   State
	// AfterID pages: only builds with a larger id, ascending.
	AfterID int64
	// Limit is at most 1000. Default: 100.
	Limit int
}

// JobInfo is what the catalog knows of a job in a cluster.
type JobInfo = catalog.JobInfo

// ParamDef is one parameter definition of a job, as its controller
// defines it (name, value class, default).
type ParamDef = jenkins.ParamDef

func encodeJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // Param and Cause always encode
	}
	return string(b)
}
