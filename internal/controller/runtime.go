package controller

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jenkinds/jenkinds/internal/balance"
	"github.com/jenkinds/jenkinds/internal/jenkins"
)

// Runtime is the live record of one controller: every fact jenkinds knows
// of it now, in one place. The health authority (package health) writes
// its health, reason, session, version, quieting and load; the front door
// and jenkinds' own clients count their requests in flight and the last
// time it answered; the dispatcher notes its live attempts and a cooldown
// after a refused trigger. Every reader asks it; no other package keeps a
// copy of these facts.
//
// The fields the front door reads on every request (health, load, in
// flight, draining) are atomics; the rest sit behind one mutex.
type Runtime struct {
	inst   atomic.Pointer[Instance]
	token  atomic.Pointer[string] // plaintext API token, in memory only
	client atomic.Pointer[jenkins.Client]
	hooks  *Hooks // the pool's; fixed once the runtime exists

	health     atomic.Uint32 // balance.Health
	load       atomic.Int64  // last measured Jenkins load
	inflight   atomic.Int64  // jenkinds' own requests in flight to it
	draining   atomic.Bool
	lastAnswer atomic.Int64 // unix nanos of the last response headers it sent, 0 = never

	mu sync.Mutex
	f  facts
}

// facts are the fields of a Runtime behind its mutex.
type facts struct {
	reason         string    // why the health is what it is
	since          time.Time // when the health last changed
	checked        time.Time // the last probe
	unhealthySince time.Time // zero unless unhealthy
	recovered      time.Time // when it last left unhealthy
	session        string    // X-Jenkins-Session last seen
	version        string    // X-Jenkins last seen
	quieting       bool      // quieting down (Jenkins takes no new builds)
	executors      int       // executors of online computers, -1 until probed
	busy           int       // busy executors, as last probed
	cooldownUntil  time.Time // no new builds before, after a refused trigger
	cooldownWhy    string
	goneSince      time.Time // evidence its process is gone, since; zero when it answers
	goneWhy        string
	live           int // dispatcher's attempts queued or running there
	foreign        int // builds running or queued there that are not the dispatcher's, at the last probe
}

// Hooks are called by runtimes on what only they see: every answer and
// failure of jenkinds' own requests (through the client they build) and a
// new X-Jenkins-Session. The health authority sets them (Pool.SetHooks);
// each must not block.
type Hooks struct {
	// Restarted: the controller answered with a session other than the
	// one known (the first session seen is not a restart).
	Restarted func(rt *Runtime, from, to string)
	// Failed: a request of jenkinds' to it failed without an answer, or
	// answered 502/503/504.
	Failed func(rt *Runtime, err error)
}

// Facts is a snapshot of a Runtime, for status views and logs.
type Facts struct {
	Health         balance.Health
	Reason         string
	Since          time.Time
	Checked        time.Time
	UnhealthySince time.Time
	Session        string
	Version        string
	QuietingDown   bool
	Load           int
	Executors      int // -1 until probed
	BusyExecutors  int
	InFlight       int
	Draining       bool
	CooldownUntil  time.Time
	CooldownWhy    string
	LastAnswer     time.Time
	GoneSince      time.Time
	GoneWhy        string
	LiveAttempts   int
}

func newRuntime(h *Hooks) *Runtime {
	r := &Runtime{hooks: h}
	r.f.executors = -1
	return r
}

// Instance returns the controller's configuration as last synced.
func (r *Runtime) Instance() Instance { return *r.inst.Load() }

// ID is the controller's id.
func (r *Runtime) ID() int64 { return r.inst.Load().ID }

// Name is the controller's name.
func (r *Runtime) Name() string { return r.inst.Load().Name }

// Token is the controller's plaintext API token ("" if none).
func (r *Runtime) Token() string {
	if t := r.token.Load(); t != nil {
		return *t
	}
	return ""
}

// Client is jenkinds' client of the controller, with its API token: built
// once per URL, user and token, and counting every request in this record
// (in flight, last answer, failures). nil when the URL is not usable.
func (r *Runtime) Client() *jenkins.Client { return r.client.Load() }

// Facts returns a snapshot of everything the record knows.
func (r *Runtime) Facts() Facts {
	r.mu.Lock()
	f := r.f
	r.mu.Unlock()
	return Facts{
		Health: r.Health(), Reason: f.reason, Since: f.since, Checked: f.checked, UnhealthySince: f.unhealthySince,
		Session: f.session, Version: f.version, QuietingDown: f.quieting, Load: r.Load(),
		Executors: f.executors, BusyExecutors: f.busy, InFlight: r.InFlight(), Draining: r.Draining(),
		CooldownUntil: f.cooldownUntil, CooldownWhy: f.cooldownWhy, LastAnswer: r.LastAnswer(),
		GoneSince: f.goneSince, GoneWhy: f.goneWhy, LiveAttempts: f.live,
	}
}

// Health is the health the authority concluded last.
func (r *Runtime) Health() balance.Health { return balance.Health(r.health.Load()) }

// SetHealth records a health verdict without a reason (tests).
func (r *Runtime) SetHealth(h balance.Health, at time.Time) bool { return r.Transition(h, "", at) }

// Transition records a health verdict, why, and when: only the health
// authority calls it. Moving into unhealthy starts UnhealthySince;
// leaving it clears it. It reports whether the health changed.
func (r *Runtime) Transition(h balance.Health, reason string, at time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	prev := balance.Health(r.health.Swap(uint32(h)))
	r.f.reason = reason
	if prev == h {
		return false
	}
	r.f.since = at
	switch {
	case h == balance.Unhealthy:
		r.f.unhealthySince = at
	case prev == balance.Unhealthy:
		r.f.unhealthySince, r.f.recovered = time.Time{}, at
	}
	return true
}

// RecoveredAt is when the controller last left unhealthy (zero if never).
func (r *Runtime) RecoveredAt() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.f.recovered
}

// Probed records what a probe read: when, the executors and the load.
func (r *Runtime) Probed(at time.Time, st jenkins.Status) {
	r.load.Store(int64(st.Load()))
	r.mu.Lock()
	defer r.mu.Unlock()
	r.f.checked = at
	r.f.quieting = st.QuietingDown
	r.f.executors, r.f.busy = st.TotalExecutors, st.BusyExecutors
	r.f.foreign = max(0, st.RunningBuilds+st.QueuedItems-r.f.live)
	if st.Version != "" {
		r.f.version = st.Version
	}
}

// Checked records that a probe ran at at (its outcome is SetHealth's).
func (r *Runtime) Checked(at time.Time) {
	r.mu.Lock()
	r.f.checked = at
	r.mu.Unlock()
}

// LastChecked is when the controller was last probed (zero if never).
func (r *Runtime) LastChecked() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.f.checked
}

// UnhealthySince is when it turned unhealthy (zero when it is not).
func (r *Runtime) UnhealthySince() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.f.unhealthySince
}

// Load is the last measured Jenkins load (running + queued + online agents).
func (r *Runtime) Load() int { return int(r.load.Load()) }

// SetLoad records the measured Jenkins load.
func (r *Runtime) SetLoad(n int) { r.load.Store(int64(n)) }

// QuietingDown reports whether Jenkins said it is quieting down.
func (r *Runtime) QuietingDown() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.f.quieting
}

// Session is the X-Jenkins-Session last seen ("" before any answer).
func (r *Runtime) Session() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.f.session
}

// NoteVersion records the X-Jenkins of an answer ("" changes nothing).
func (r *Runtime) NoteVersion(v string) {
	if v == "" {
		return
	}
	r.mu.Lock()
	r.f.version = v
	r.mu.Unlock()
}

// Version is the X-Jenkins last seen.
func (r *Runtime) Version() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.f.version
}

// NoteSession records the X-Jenkins-Session of an answer. A session other
// than the known one is a restart: it is reported once, to the Restarted
// hook, whoever saw it first (a probe, a follow round, the front door).
func (r *Runtime) NoteSession(s string) {
	if s == "" {
		return
	}
	r.mu.Lock()
	prev := r.f.session
	if prev == s {
		r.mu.Unlock()
		return
	}
	r.f.session = s
	r.mu.Unlock()
	if prev != "" && r.hooks != nil && r.hooks.Restarted != nil {
		r.hooks.Restarted(r, prev, s)
	}
}

// Acquire counts one in-flight request; the returned func releases it.
func (r *Runtime) Acquire() func() {
	r.inflight.Add(1)
	return func() { r.inflight.Add(-1) }
}

// InFlight is the number of jenkinds' requests in flight to the controller.
func (r *Runtime) InFlight() int { return int(r.inflight.Load()) }

// Answered records that the controller sent response headers at at: it is
// there, whatever it said. It clears the evidence that it is gone.
func (r *Runtime) Answered(at time.Time) {
	n := at.UnixNano()
	for {
		old := r.lastAnswer.Load()
		if old >= n || r.lastAnswer.CompareAndSwap(old, n) {
			break
		}
	}
	r.mu.Lock()
	if !r.f.goneSince.IsZero() {
		r.f.goneSince, r.f.goneWhy = time.Time{}, ""
	}
	r.mu.Unlock()
}

// LastAnswer is when the controller last sent response headers to any
// request of jenkinds' (zero if never).
func (r *Runtime) LastAnswer() time.Time {
	if n := r.lastAnswer.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// NoteGone records evidence that the controller's process is not there
// (a connection refused or reset), unless it answered since.
func (r *Runtime) NoteGone(at time.Time, why string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f.goneSince.IsZero() && !r.LastAnswer().After(at) {
		r.f.goneSince, r.f.goneWhy = at, why
	}
}

// Gone returns since when there is evidence the process is gone, and the
// evidence; zero when it answered since.
func (r *Runtime) Gone() (time.Time, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.f.goneSince, r.f.goneWhy
}

// SetDraining stops (or resumes) new work for the controller.
func (r *Runtime) SetDraining(d bool) { r.draining.Store(d) }

// Draining reports whether the controller is draining.
func (r *Runtime) Draining() bool { return r.draining.Load() }

// CoolDown keeps new builds away until until, for why (a refused trigger).
func (r *Runtime) CoolDown(until time.Time, why string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if until.After(r.f.cooldownUntil) {
		r.f.cooldownUntil, r.f.cooldownWhy = until, why
	}
}

// SetLive records how many of the dispatcher's attempts are queued or
// running on the controller; AddLive adjusts it.
func (r *Runtime) SetLive(n int) {
	r.mu.Lock()
	r.f.live = n
	r.mu.Unlock()
}

// AddLive adds d to the live attempts.
func (r *Runtime) AddLive(d int) {
	r.mu.Lock()
	r.f.live = max(r.f.live+d, 0)
	r.mu.Unlock()
}

// Live is the dispatcher's attempts queued or running on the controller.
func (r *Runtime) Live() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.f.live
}

// Candidate is the snapshot a balance policy sees for traffic: the load
// counts jenkinds' own in-flight requests on top of the measured Jenkins
// load, and maxConnections caps it.
func (r *Runtime) Candidate() balance.Candidate {
	in := r.inst.Load()
	return balance.Candidate{
		ID: in.ID, Priority: in.Priority, IsPrimary: in.IsPrimary, Active: in.IsActive,
		Draining: r.draining.Load(), Health: balance.Health(r.health.Load()),
		Load: int(r.load.Load() + r.inflight.Load()), MaxConnections: in.MaxConnections,
	}
}

// Available reports whether the controller may receive new requests now.
func (r *Runtime) Available() bool {
	c := r.Candidate()
	return c.Eligible()
}

// BuildCapacity is how many of jenkinds' builds the controller holds at
// once, running or waiting in its own queue: twice its online executors,
// so that a build is ready whenever an executor frees. 0 when it has no
// online executor; before the first probe, 2.
func (r *Runtime) BuildCapacity() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return buildCapacity(r.f.executors)
}

func buildCapacity(executors int) int {
	if executors < 0 {
		return 2
	}
	return 2 * executors
}

// BuildCandidate is the snapshot the dispatcher's policy sees when it
// places a build: eligible as Eligible(now) says, loaded by the
// dispatcher's live attempts (current to the last follow round) plus the
// builds that are not its own as the last probe counted them, full at
// BuildCapacity. (Jenkins' own count of running and queued builds is only
// as fresh as the last probe: a busy controller probed full would look
// full until the next one, however many of its builds ended since.)
func (r *Runtime) BuildCandidate(now time.Time) balance.Candidate {
	c := r.Candidate()
	r.mu.Lock()
	c.Load = r.f.live + r.f.foreign
	c.MaxConnections = buildCapacity(r.f.executors)
	r.mu.Unlock()
	if ok, why := r.Eligible(now); !ok {
		c.Excluded = why
	}
	return c
}

// Eligible reports whether the controller may take a new build now, and
// if not, why: inactive, draining, unhealthy (with the reason), quieting
// down, cooling down after a refused trigger, no online executor, or at
// its build capacity.
func (r *Runtime) Eligible(now time.Time) (bool, string) {
	in := r.inst.Load()
	h := r.Health()
	r.mu.Lock()
	f := r.f
	r.mu.Unlock()
	switch {
	case !in.IsActive:
		return false, "inactive"
	case r.Draining():
		return false, "draining"
	case h == balance.Unhealthy:
		return false, "unhealthy: " + f.reason
	case f.quieting:
		return false, "quieting down"
	case now.Before(f.cooldownUntil):
		return false, fmt.Sprintf("cooling down until %s: %s", f.cooldownUntil.UTC().Format(time.RFC3339), f.cooldownWhy)
	case f.executors == 0:
		return false, "no online executors"
	case f.live >= buildCapacity(f.executors):
		return false, fmt.Sprintf("at build capacity (%d builds of jenkinds' there)", f.live)
	}
	return true, ""
}

// begin counts one request of jenkinds' own in flight; the returned func
// ends it with the response (its headers arrived) or the error, noting an
// answer and its session, and reporting a failure — no answer, or a
// 502/503/504 — to the Failed hook.
func (r *Runtime) begin() func(*http.Response, error) {
	release := r.Acquire()
	return func(resp *http.Response, err error) {
		release()
		if resp != nil {
			r.Answered(time.Now())
			r.NoteSession(resp.Header.Get("X-Jenkins-Session"))
			r.NoteVersion(resp.Header.Get("X-Jenkins"))
			switch resp.StatusCode {
			case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
				err = &jenkins.StatusError{Method: resp.Request.Method, URL: resp.Request.URL.Path, Code: resp.StatusCode}
			}
		}
		if err != nil && r.hooks != nil && r.hooks.Failed != nil {
			r.hooks.Failed(r, err)
		}
	}
}

// observed is the transport of a runtime's client: every request it
// carries is counted in flight until its body is closed, and its answer
// (with the X-Jenkins-Session) or failure is noted on the runtime.
type observed struct {
	rt   *Runtime
	next http.RoundTripper
}

func (o observed) RoundTrip(req *http.Request) (*http.Response, error) {
	end := o.rt.begin()
	resp, err := o.next.RoundTrip(req)
	if err != nil {
		end(nil, err)
		return nil, err
	}
	resp.Body = jenkins.OnClose(resp.Body, func() { end(resp, nil) })
	return resp, nil
}
