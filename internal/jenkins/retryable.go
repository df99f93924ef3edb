package jenkins

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"syscall"
	"time"
)

// This file is the one place that says what a failed call to a controller
// means (Buildkite's api/retryable.go): whether anything can have reached
// Jenkins, whether Jenkins judged the request, and whether the controller
// process is there at all. Callers decide what to do; they do not look at
// status codes or network errors themselves.

// StatusError is an answer of 400 or more.
type StatusError struct {
	Method, URL string
	Code        int
	Message     string      // X-Error, or the start of a non-HTML body
	Header      http.Header // the answer's headers (nil when built by hand)
	Body        []byte      // the answer's body, to pass on (nil when built by hand)
}

// Error says the request, the status and Jenkins' message.
func (e *StatusError) Error() string {
	if e.Message != "" {
		return fmt.Sprintf("%s %s: HTTP %d: %s", e.Method, e.URL, e.Code, e.Message)
	}
	return fmt.Sprintf("%s %s: HTTP %d", e.Method, e.URL, e.Code)
}

// ErrUnclearAnswer: Jenkins said yes (2xx) without saying to what, such as
// a trigger answered without a queue item's Location. The request may
// have been acted on, so Classify says Ambiguous.
var ErrUnclearAnswer = errors.New("the answer does not say what was done")

// Class is what a failed call means for the request that was sent.
type Class int

const (
	// Succeeded: there was no error (Classify(nil)).
	Succeeded Class = iota
	// NothingSent: no byte of the request can have reached Jenkins — the
	// connection was never made (connection refused, no route to host, a
	// name that does not resolve, a dial timeout). It is safe to send the
	// request again, to this controller or another.
	NothingSent
	// Unavailable: Jenkins, or a proxy in front of it, answered without
	// judging the request: 502, 503 (starting or restarting), 504, 429
	// (slow down) or 408. Nothing was done; the controller may serve it
	// later.
	Unavailable
	// Refused: Jenkins judged the request and said no: any other 4xx (400,
	// 401, 403, 404, 405, 409, 422, …), 500, 501 and other 5xx. Nothing
	// was done and sending it again will get the same answer.
	Refused
	// Ambiguous: the request was sent (or may have been) and no answer
	// came, or an answer that does not say what was done: a response
	// timeout, a connection reset or closed after sending, the context's
	// deadline, a 2xx without the expected Location (ErrUnclearAnswer).
	// Jenkins may have acted on it; only a look at its state can tell.
	// Errors this file does not recognise are Ambiguous too.
	Ambiguous
)

// String names the class in lower case, for logs.
func (c Class) String() string {
	switch c {
	case Succeeded:
		return "succeeded"
	case NothingSent:
		return "nothing sent"
	case Unavailable:
		return "unavailable"
	case Refused:
		return "refused"
	case Ambiguous:
		return "ambiguous"
	}
	return fmt.Sprintf("Class(%d)", int(c))
}

// Classify says what err, returned by a Client call, means (see Class).
func Classify(err error) Class {
	if err == nil {
		return Succeeded
	}
	var se *StatusError
	if errors.As(err, &se) {
		if unavailableStatus(se.Code) {
			return Unavailable
		}
		return Refused
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return NothingSent
	}
	return Ambiguous
}

// unavailableStatus lists the answers that do not judge the request.
func unavailableStatus(code int) bool {
	switch code {
	case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// IsUnavailable is the named rule for reads that poll (a worker following
// its build, the dispatcher's BackendError): the controller is not
// serving now, so the same read is worth repeating later. That is
// Classify's NothingSent, Unavailable and Ambiguous, and also a 5xx
// (Refused by Classify, but Jenkins failing on its side: a read may pass
// the next time). Writes must ask Classify: for them Ambiguous is not
// "nothing happened".
func IsUnavailable(err error) bool {
	switch Classify(err) {
	case NothingSent, Unavailable, Ambiguous:
		return true
	}
	var se *StatusError
	return errors.As(err, &se) && se.Code >= 500
}

// ProcessGone reports evidence that the controller process is not there:
// the connection was refused (nothing listens) or reset by the peer (the
// process died mid-exchange). A timeout is no such evidence: the process
// may be busy.
func ProcessGone(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET)
}

// CredentialsRejected reports a 401 or 403. On a request sent with
// jenkinds' own API token it means the controller refuses jenkinds, not
// the request: a named rule for callers that then treat the controller as
// unavailable (job sync) rather than pass the refusal on.
func CredentialsRejected(err error) bool {
	var se *StatusError
	return errors.As(err, &se) && (se.Code == http.StatusUnauthorized || se.Code == http.StatusForbidden)
}

// IsNotFound reports a 404 answer.
func IsNotFound(err error) bool {
	return statusOf(err) == http.StatusNotFound
}

// statusOf is the status of a StatusError, 0 for other errors.
func statusOf(err error) int {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

// Explain says in one line, for a human, what a failed call means and
// what to do; timeout is the bound the call had, named when it ran out.
func Explain(err error, timeout time.Duration) string {
	code := statusOf(err)
	var dns *net.DNSError
	switch {
	case err == nil:
		return "ok"
	case code == http.StatusUnauthorized:
		return "HTTP 401: the username or API token is wrong; create a token under <Jenkins>/user/<name>/configure"
	case code == http.StatusForbidden:
		return "HTTP 403: the request was anonymous or the user lacks Overall/Read; give a username and API token"
	case code == http.StatusServiceUnavailable:
		return "HTTP 503: Jenkins is starting or restarting" // nothing to do but wait
	case code == http.StatusBadGateway || code == http.StatusGatewayTimeout:
		return fmt.Sprintf("HTTP %d: a proxy in front of Jenkins got no answer from it; is the controller up?", code)
	case code == http.StatusTooManyRequests:
		return "HTTP 429: Jenkins or a proxy in front of it asks to slow down; try again shortly"
	case errors.As(err, &dns):
		return fmt.Sprintf("the host name %q does not resolve: is the URL right?", dns.Name)
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused: nothing listens at the URL's host and port; is the URL right and the controller up?"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset: the controller's process went away mid-request; is it restarting or crashing?"
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return fmt.Sprintf("timed out after %s with no answer: is the URL right and the controller up?", timeout)
	}
	return err.Error()
}

// isTimeout reports a network timeout (dial, response headers, body).
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
