package dispatch

import (
	"errors"
	"fmt"

	"github.com/jenkinds/jenkinds/internal/catalog"
	"github.com/jenkinds/jenkinds/internal/jenkins"
)

var (
	// ErrNotFound: no build has the id or number asked for.
	ErrNotFound = errors.New("build not found")
	// ErrUnknownJob: no controller of the cluster has the job (Jenkins
	// answers 404). It is the catalog's.
	ErrUnknownJob = catalog.ErrUnknownJob
	// ErrNotBuildable: the job is disabled on every controller that has it
	// (Jenkins answers 409 "… is not buildable").
	ErrNotBuildable = errors.New("job is not buildable")
	// ErrNotParameterized: buildWithParameters on a job without parameters
	// (Jenkins answers 400 "… is not parameterized").
	ErrNotParameterized = errors.New("job is not parameterized")
	// ErrFinished: the build already ended, so it cannot be cancelled
	// (Jenkins answers 422 for a queue item that is not cancellable).
	ErrFinished = errors.New("build already finished")
	// ErrInvalid: the request itself is malformed (empty job name, bad
	// filter); a *ValidationError says which field.
	ErrInvalid = errors.New("invalid request")
	// ErrStaleLeader: a write of the placer or the follower was refused
	// because its leader term ended (another replica took the lease).
	ErrStaleLeader = errors.New("leader term ended: write refused")
)

// ValidationError names the field of a Request or Filter that is wrong. It
// matches ErrInvalid.
type ValidationError struct {
	Field, Rule string
}

func (e *ValidationError) Error() string        { return e.Field + ": " + e.Rule }
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

// BackendError is a call to a controller that failed: Log, Stop or Cancel
// could not reach the controller the build is on. Unavailable tells the
// front door to answer 503 rather than 502.
type BackendError struct {
	ControllerID int64
	Op           string
	Err          error
}

func (e *BackendError) Error() string {
	return fmt.Sprintf("%s on controller %d: %v", e.Op, e.ControllerID, e.Err)
}
func (e *BackendError) Unwrap() error { return e.Err }

// Unavailable reports whether the controller was not serving: no
// answer, or an answer that did not judge the request (502, 503, 504).
func (e *BackendError) Unavailable() bool {
	c := jenkins.Classify(e.Err)
	return c == jenkins.NothingSent || c == jenkins.Unavailable || c == jenkins.Ambiguous
}
