package queue

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// State is where a job is in its life (doc.go draws the machine).
type State string

const (
	StateAvailable State = "available" // waiting for a worker (and for its blockers)
	StateLeased    State = "leased"    // a worker holds it until lease_expires_at
	StateCompleted State = "completed" // the worker finished it (any exit code)
	StateFailed    State = "failed"    // the worker gave up, or the delivery limit was reached
	StateCancelled State = "cancelled" // stopped by the user or the platform
)

// Finished reports whether s is a final state: completed, failed or
// cancelled. A job blocked by another waits until that one is finished.
func (s State) Finished() bool {
	return s == StateCompleted || s == StateFailed || s == StateCancelled
}

// DefaultMaxAttempts is the delivery limit of a job enqueued without one.
const DefaultMaxAttempts = 3

// Job is one row of queue_jobs. Its JSON is what the API shows of a job;
// the lease token is left out, because it is the holder's capability: the
// worker API hands it to the worker that leased the job, and only there.
type Job struct {
	ID      int64  `json:"id"`
	Cluster string `json:"cluster"`
	// BuildID is the build the job runs; 0 for a job that is no build.
	BuildID int64 `json:"buildId,omitempty"`
	// Payload is what the worker needs to run the job (steps,
	// environment…), JSON the queue stores and never reads.
	Payload json.RawMessage `json:"payload"`
	State   State           `json:"state"`
	// Attempt is the delivery the job is on, from 1; it goes up when an
	// expired lease is rescued or a worker fails it with retry.
	Attempt int `json:"attempt"`
	// MaxAttempts is the delivery limit: the attempt that ends without
	// completing once Attempt = MaxAttempts fails the job for good.
	MaxAttempts    int        `json:"maxAttempts"`
	LeaseToken     string     `json:"-"`
	LeasedBy       string     `json:"leasedBy,omitempty"`
	LeaseExpiresAt *time.Time `json:"leaseExpiresAt,omitempty"`
	// BlockedBy are jobs that must be finished before this one is leased.
	BlockedBy  []int64    `json:"blockedBy"`
	CreatedAt  time.Time  `json:"createdAt"`
	UpdatedAt  time.Time  `json:"updatedAt"`
	FinishedAt *time.Time `json:"finishedAt,omitempty"`
	Result     string     `json:"result,omitempty"`
	ExitCode   *int       `json:"exitCode,omitempty"`
	// Error says why the job failed or was cancelled, or why its last
	// attempt ended (a lost lease, a worker's retryable failure).
	Error string `json:"error,omitempty"`

	hasDependents bool
}

var (
	// ErrEmpty means the cluster has no job that can be leased now.
	ErrEmpty = errors.New("no job to lease")
	// ErrNotFound means no job has the id asked for.
	ErrNotFound = errors.New("job not found")
	// ErrLeaseLost is the fence: the caller's lease token no longer holds
	// the job (it expired and was rescued, the job was cancelled or
	// finished, or the token is wrong). See LeaseLostError.
	ErrLeaseLost = errors.New("lease lost")
	// ErrFinished means the job is already completed or failed, so it
	// cannot be cancelled.
	ErrFinished = errors.New("job already finished")
	// ErrDuplicate means the build already has a live (available or
	// leased) job.
	ErrDuplicate = errors.New("build already queued")
)

// LeaseLostError is a worker call refused by the fence. State and Attempt
// are the job's now, so the worker can tell "cancelled: stop the build"
// from "rescued: someone else runs it". It matches ErrLeaseLost.
type LeaseLostError struct {
	ID      int64
	State   State
	Attempt int
}

func (e *LeaseLostError) Error() string {
	var why string
	switch e.State {
	case StateLeased:
		why = "another lease holds it"
	case StateAvailable:
		why = "it is back in the queue"
	default:
		why = "it is " + string(e.State)
	}
	return fmt.Sprintf("lease of job %d lost: %s (attempt %d); stop working on it", e.ID, why, e.Attempt)
}
func (e *LeaseLostError) Is(target error) bool { return target == ErrLeaseLost }

// ValidationError says which field of an input is wrong and the rule it
// breaks. Field is the API's camelCase name.
type ValidationError struct {
	Field string
	Rule  string
}

func (e *ValidationError) Error() string { return e.Field + ": " + e.Rule }

// Limits of a job's fields.
const (
	maxCluster  = 100
	maxPayload  = 1 << 20
	maxBlockers = 100
	maxWorkerID = 200
	maxText     = 4000
	maxTTL      = 24 * time.Hour
)

// prepare validates j for Enqueue and returns it with defaults applied and
// blockers sorted and deduplicated.
func (j Job) prepare() (Job, error) {
	if j.Cluster == "" || len(j.Cluster) > maxCluster || !identifier(j.Cluster) {
		return Job{}, &ValidationError{"cluster", fmt.Sprintf("must be a build cluster name of 1 to %d letters, digits, '_', '.' and '-'", maxCluster)}
	}
	if j.BuildID < 0 {
		return Job{}, &ValidationError{"buildId", "must be positive, or 0 for a job that is no build"}
	}
	switch {
	case len(j.Payload) == 0:
		j.Payload = json.RawMessage("{}")
	case len(j.Payload) > maxPayload:
		return Job{}, &ValidationError{"payload", fmt.Sprintf("must be at most %d bytes", maxPayload)}
	case !json.Valid(j.Payload):
		return Job{}, &ValidationError{"payload", "must be valid JSON"}
	}
	if j.MaxAttempts == 0 {
		j.MaxAttempts = DefaultMaxAttempts
	}
	if j.MaxAttempts < 1 || j.MaxAttempts > 100 {
		return Job{}, &ValidationError{"maxAttempts", "must be between 1 and 100 (0: the default, 3)"}
	}
	j.BlockedBy = slices.Compact(slices.Sorted(slices.Values(j.BlockedBy)))
	if len(j.BlockedBy) > maxBlockers {
		return Job{}, &ValidationError{"blockedBy", fmt.Sprintf("must name at most %d jobs", maxBlockers)}
	}
	if len(j.BlockedBy) > 0 && j.BlockedBy[0] <= 0 {
		return Job{}, &ValidationError{"blockedBy", "must hold job ids (positive numbers)"}
	}
	return j, nil
}

func checkLease(workerID string, ttl time.Duration) error {
	if workerID == "" || len(workerID) > maxWorkerID {
		return &ValidationError{"workerId", fmt.Sprintf("must be 1 to %d characters", maxWorkerID)}
	}
	return checkTTL(ttl)
}

func checkTTL(ttl time.Duration) error {
	if ttl <= 0 || ttl > maxTTL {
		return &ValidationError{"ttl", fmt.Sprintf("must be above 0 and at most %s", maxTTL)}
	}
	return nil
}

// identifier reports whether s is made of [A-Za-z0-9_.-] only.
func identifier(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-') {
			return false
		}
	}
	return true
}

// clip cuts s to at most maxText bytes of valid UTF-8, for error and
// result texts.
func clip(s string) string {
	if len(s) <= maxText {
		return s
	}
	return strings.ToValidUTF8(s[:maxText], "")
}
