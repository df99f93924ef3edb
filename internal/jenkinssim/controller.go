package jenkinssim

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

type procState int

const (
	stateRunning procState = iota
	stateRestarting
	stateDown
)

// Controller is one simulated Jenkins controller.
type Controller struct {
	cfg Config
	log *slog.Logger

	mu              sync.RWMutex
	gen             uint64 // bumped on every restart or crash; stale timers check it
	state           procState
	session         string // X-Jenkins-Session
	cookieName      string // JSESSIONID.<8hex>
	salt            string // crumb salt, kept across restarts like $JENKINS_HOME/secrets
	restarts        int
	plugins         []Plugin          // what runs: Config.Plugins, then what restarts loaded
	staged          map[string]Plugin // installed, loaded at the next restart (by short name)
	quietingDown    bool
	quietDownReason string
	safeRestart     bool
	root            *item
	queue           []*queueItem
	left            map[int64]*queueItem
	nextQueueID     int64
	nodes           []*node
	sessions        map[string]string // session id -> user ("" before login)
	sessionOrder    []string
	wake            *time.Timer
	wakeAt          time.Time
	rng             *rand.Rand

	faults faults

	srvMu     sync.Mutex
	srv       *http.Server
	served    chan struct{} // closed when the current Serve returns
	addr      string        // fixed after the first Start
	agentLn   net.Listener
	agentPort atomic.Int32
	conns     map[net.Conn]struct{}
	stopped   bool
	stats     stats
	nowFunc   func() time.Time

	tokenAuthz, passwordAuthz string   // exact Basic headers, for a fast path
	versionHeader             []string // X-Jenkins value
	jobsFile                  string
}

type stats struct {
	requests       atomic.Int64
	buildsStarted  atomic.Int64
	buildsFinished atomic.Int64
	buildsLost     atomic.Int64
}

// New creates a controller; Start makes it listen.
func New(cfg Config) (*Controller, error) {
	cfg = cfg.withDefaults()
	c := &Controller{
		cfg:      cfg,
		plugins:  slices.Clone(cfg.Plugins),
		staged:   map[string]Plugin{},
		log:      cfg.Logger.With("controller", cfg.Name),
		root:     &item{kind: kindFolder, children: map[string]*item{}},
		left:     map[int64]*queueItem{},
		sessions: map[string]string{},
		salt:     randomHex(16),
		rng:      rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		conns:    map[net.Conn]struct{}{},
		nowFunc:  cfg.Now,
	}
	c.faults.init()
	c.tokenAuthz = "Basic " + base64.StdEncoding.EncodeToString([]byte(cfg.User+":"+cfg.Token))
	c.passwordAuthz = "Basic " + base64.StdEncoding.EncodeToString([]byte(cfg.User+":"+cfg.Password))
	c.versionHeader = []string{cfg.Version}
	c.newProcess()
	c.nodes = append(c.nodes, &node{executors: make([]*build, cfg.Executors)})
	for i := 1; i <= cfg.Agents; i++ {
		c.nodes = append(c.nodes, &node{name: cfg.AgentPrefix + strconv.Itoa(i), executors: make([]*build, cfg.Executors), secret: randomHex(32)})
	}
	jobs := cfg.Jobs
	if cfg.DataDir != "" {
		loaded, err := c.loadJobs()
		if err != nil {
			return nil, err
		}
		if loaded != nil {
			jobs = loaded
		}
	}
	for _, j := range jobs {
		if err := c.AddJob(j); err != nil {
			return nil, fmt.Errorf("add job %s: %w", j.Name, err)
		}
	}
	return c, nil
}

func (c *Controller) now() time.Time { return c.nowFunc() }

// newProcess starts a new simulated Jenkins process: new session id and
// cookie name, no sessions.
func (c *Controller) newProcess() {
	c.state = stateRunning
	c.session = randomHex(4)
	c.cookieName = "JSESSIONID." + randomHex(4)
	c.sessions = map[string]string{}
	c.sessionOrder = nil
}

// Name returns the controller's configured name.
func (c *Controller) Name() string { return c.cfg.Name }

// User returns the user name clients authenticate as.
func (c *Controller) User() string { return c.cfg.User }

// Token returns the user's API token.
func (c *Controller) Token() string { return c.cfg.Token }

// Password returns the user's password.
func (c *Controller) Password() string { return c.cfg.Password }

// Session returns the current X-Jenkins-Session.
func (c *Controller) Session() string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.session
}

// Restarts counts simulated restarts and crashes so far.
func (c *Controller) Restarts() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.restarts
}

// AddJob creates a job (and any missing folders on its path).
func (c *Controller) AddJob(spec JobSpec) error {
	if err := spec.validate(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	parent, name, err := c.resolveParentLocked(spec.Name, true)
	if err != nil {
		return err
	}
	if _, exists := c.container(parent)[name]; exists {
		return fmt.Errorf("A job already exists with the name ‘%s’", name)
	}
	kind := kindFreestyle
	switch spec.Type {
	case "pipeline":
		kind = kindPipeline
	case "folder":
		kind = kindFolder
	}
	params := specParams(spec.Parameters)
	it := c.newItemLocked(parent, name, jobConfig{
		kind: kind, description: spec.Description, disabled: spec.Disabled, concurrent: spec.Concurrent,
		authToken: spec.AuthToken, params: params,
	}, renderConfig(kind, spec.Description, spec.Disabled, spec.Concurrent, spec.AuthToken, params))
	if spec.DurationMs > 0 || spec.DurationMaxMs > 0 {
		it.duration = Duration{Min: time.Duration(spec.DurationMs) * time.Millisecond, Max: time.Duration(max(spec.DurationMs, spec.DurationMaxMs)) * time.Millisecond}
	}
	it.result = spec.Result
	c.saveJobsLocked()
	return nil
}

func (c *Controller) container(parent *item) map[string]*item {
	if parent == nil {
		return c.root.children
	}
	return parent.children
}

// resolveParentLocked finds the folder holding full name "a/b/c" and the
// last segment; mkdirs creates missing folders.
func (c *Controller) resolveParentLocked(full string, mkdirs bool) (*item, string, error) {
	var parent *item
	segs := splitName(full)
	for _, seg := range segs[:len(segs)-1] {
		next, ok := c.container(parent)[seg]
		if !ok {
			if !mkdirs {
				return nil, "", fmt.Errorf("folder %s does not exist", seg)
			}
			next = c.newItemLocked(parent, seg, jobConfig{kind: kindFolder}, renderConfig(kindFolder, "", false, false, "", nil))
		}
		if next.kind != kindFolder {
			return nil, "", fmt.Errorf("%s is not a folder", seg)
		}
		parent = next
	}
	return parent, segs[len(segs)-1], nil
}

func (c *Controller) newItemLocked(parent *item, name string, cfg jobConfig, configXML string) *item {
	it := &item{name: name, parent: parent, nextBuildNumber: 1}
	it.apply(cfg, configXML)
	c.container(parent)[name] = it
	return it
}

func (it *item) apply(cfg jobConfig, configXML string) {
	it.kind = cfg.kind
	it.description = cfg.description
	it.disabled = cfg.disabled
	it.concurrent = cfg.concurrent
	it.authToken = cfg.authToken
	it.params = cfg.params
	it.configXML = configXML
	if it.kind == kindFolder && it.children == nil {
		it.children = map[string]*item{}
	}
}

// lookupLocked resolves a full name.
func (c *Controller) lookupLocked(full string) *item {
	var it *item
	for _, seg := range splitName(full) {
		next, ok := c.container(it)[seg]
		if !ok || (it != nil && it.kind != kindFolder) {
			return nil
		}
		it = next
	}
	return it
}

func splitName(full string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(full); i++ {
		if i == len(full) || full[i] == '/' {
			if i > start {
				out = append(out, full[start:i])
			}
			start = i + 1
		}
	}
	if len(out) == 0 {
		out = []string{""}
	}
	return out
}

// deleteLocked removes an item, its children and their queue items, and
// aborts running builds.
func (c *Controller) deleteLocked(it *item) {
	var mark func(*item)
	mark = func(x *item) {
		x.deleted = true
		for _, b := range x.builds {
			if b.building {
				c.finishLocked(b, "ABORTED", "Aborted: the job was deleted\n")
			}
		}
		for _, ch := range x.children {
			mark(ch)
		}
	}
	mark(it)
	delete(c.container(it.parent), it.name)
	kept := c.queue[:0]
	for _, q := range c.queue {
		if !q.task.deleted {
			kept = append(kept, q)
		}
	}
	clear(c.queue[len(kept):])
	c.queue = kept
	c.saveJobsLocked()
}

// enqueueResult tells how a trigger was queued.
type enqueueResult struct {
	item     *queueItem
	existing bool // an identical item was already queued
}

// scheduleLocked queues a build of job (Queue.schedule2): an identical
// queued item (same parameters) is returned instead of a new one.
func (c *Controller) scheduleLocked(job *item, params []paramValue, cs cause, quiet time.Duration) enqueueResult {
	for _, q := range c.queue {
		if q.task == job && paramsEqual(q.params, params) {
			q.causes = append(q.causes, cs)
			return enqueueResult{item: q, existing: true}
		}
	}
	now := c.now()
	if c.nextQueueID%256 == 0 {
		c.expireLeftLocked()
	}
	c.nextQueueID++
	q := &queueItem{id: c.nextQueueID, task: job, params: params, causes: []cause{cs}, inQueueSince: now, timestamp: now.Add(quiet)}
	c.queue = append(c.queue, q)
	c.maintainLocked()
	return enqueueResult{item: q}
}

// blockedReason returns why a due item cannot start, or "".
func (c *Controller) blockedReason(q *queueItem, now time.Time) string {
	if c.quietingDown {
		return "Jenkins is about to shut down"
	}
	if !q.task.concurrent {
		if b := q.task.running(); b != nil {
			eta := b.start.Add(b.planned).Sub(now)
			return fmt.Sprintf("Build #%d is already in progress (ETA: %s)", b.number, timeSpan(eta))
		}
	}
	return ""
}

// maintainLocked is Queue.maintain: start every due, unblocked item that
// has a free executor, and arm the timer for the next quiet period to end.
func (c *Controller) maintainLocked() {
	if c.state != stateRunning {
		return
	}
	now := c.now()
	var next time.Time
	kept := c.queue[:0]
	noExecutors := false
	for _, q := range c.queue {
		if now.Before(q.timestamp) {
			if next.IsZero() || q.timestamp.Before(next) {
				next = q.timestamp
			}
			kept = append(kept, q)
			continue
		}
		if noExecutors || c.blockedReason(q, now) != "" {
			kept = append(kept, q)
			continue
		}
		n, slot := c.freeSlotLocked()
		if n == nil {
			noExecutors = true
			kept = append(kept, q)
			continue
		}
		c.startLocked(q, n, slot, now)
	}
	clear(c.queue[len(kept):])
	c.queue = kept
	c.armWakeLocked(next)
	if c.safeRestart && c.runningLocked() == 0 {
		c.beginRestartLocked("safe restart: no build is running")
	}
}

func (c *Controller) armWakeLocked(next time.Time) {
	if next.IsZero() {
		return
	}
	if c.wake != nil && !c.wakeAt.IsZero() && !next.Before(c.wakeAt) && c.wakeAt.After(c.now()) {
		return
	}
	if c.wake != nil {
		c.wake.Stop()
	}
	c.wakeAt = next
	gen := c.gen
	c.wake = time.AfterFunc(time.Until(next)+time.Millisecond, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.gen != gen {
			return
		}
		c.wakeAt = time.Time{}
		c.maintainLocked()
	})
}

// freeSlotLocked picks the online node with the most free executors.
func (c *Controller) freeSlotLocked() (*node, int) {
	var best *node
	bestFree := 0
	for _, n := range c.nodes {
		if n.offline {
			continue
		}
		if free := len(n.executors) - n.busy(); free > bestFree {
			best, bestFree = n, free
		}
	}
	if best == nil {
		return nil, -1
	}
	return best, best.freeExecutor()
}

func (c *Controller) runningLocked() int {
	k := 0
	for _, n := range c.nodes {
		k += n.busy()
	}
	return k
}

// startLocked turns queue item q into a running build on node n.
func (c *Controller) startLocked(q *queueItem, n *node, slot int, now time.Time) {
	job := q.task
	b := &build{
		job: job, number: job.nextBuildNumber, queueID: q.id, params: q.params, causes: q.causes,
		start: now, building: true, node: n, executor: slot, gen: c.gen,
	}
	job.nextBuildNumber++
	c.saveJobsLocked() // Jenkins persists nextBuildNumber with every build
	b.planned, b.outcome = c.script(job, q.params)
	b.steps = int(min(10, max(1, b.planned/(500*time.Millisecond))))
	for _, cs := range q.causes {
		b.log.WriteString(cs.shortDescription() + "\n")
	}
	b.log.WriteString("Running as SYSTEM\n")
	if n.builtIn() {
		fmt.Fprintf(&b.log, "Building in workspace /var/jenkins_home/workspace/%s\n", job.fullName())
	} else {
		fmt.Fprintf(&b.log, "Building remotely on %s in workspace /home/jenkins/workspace/%s\n", n.name, job.fullName())
	}
	job.builds = append(job.builds, b)
	n.executors[slot] = b
	q.left, q.leftAt, q.executable = true, now, b
	c.left[q.id] = q
	c.stats.buildsStarted.Add(1)
	gen := c.gen
	time.AfterFunc(b.planned, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.gen != gen || !b.building {
			return
		}
		c.finishLocked(b, b.outcome, "")
	})
}

// script decides a build's duration and result.
func (c *Controller) script(job *item, params []paramValue) (time.Duration, string) {
	d := c.cfg.BuildDuration
	if job.duration != (Duration{}) {
		d = job.duration
	}
	result := "SUCCESS"
	if job.result != "" {
		result = job.result
	}
	if v, ok := paramLookup(params, "SIM_DURATION_MS"); ok {
		if parsed, ok := parseDurationMs(v); ok {
			d = parsed
		}
	}
	if v, ok := paramLookup(params, "SIM_RESULT"); ok && validResult(v) {
		result = v
	}
	dur := d.Min
	if d.Max > d.Min {
		dur += time.Duration(c.rng.Int64N(int64(d.Max - d.Min)))
	}
	return dur, result
}

// parseDurationMs reads "250" or "100-900" (milliseconds).
func parseDurationMs(v string) (Duration, bool) {
	lo, hi, isRange := cut(v, '-')
	a, err := strconv.Atoi(lo)
	if err != nil || a < 0 {
		return Duration{}, false
	}
	d := Duration{Min: time.Duration(a) * time.Millisecond, Max: time.Duration(a) * time.Millisecond}
	if isRange {
		b, err := strconv.Atoi(hi)
		if err != nil || b < a {
			return Duration{}, false
		}
		d.Max = time.Duration(b) * time.Millisecond
	}
	return d, true
}

func cut(s string, sep byte) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == sep {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// finishLocked ends a running build with result; note is written to the
// log before the footer.
func (c *Controller) finishLocked(b *build, result, note string) {
	if !b.building {
		return
	}
	now := c.now()
	reached := b.steps
	if result != b.outcome || now.Before(b.start.Add(b.planned)) {
		reached = int(int64(b.steps) * int64(now.Sub(b.start)) / int64(max(b.planned, 1)))
		reached = min(reached, b.steps)
	}
	var sb = &b.log
	for i := 1; i <= reached; i++ {
		writeStep(sb, i, b.steps)
	}
	sb.WriteString(note)
	sb.WriteString("Finished: " + result + "\n")
	b.building = false
	b.result = result
	b.duration = max(now.Sub(b.start), time.Millisecond)
	if b.node.executors[b.executor] == b {
		b.node.executors[b.executor] = nil
	}
	c.stats.buildsFinished.Add(1)
	c.maintainLocked()
}

// cancelLocked cancels a live queue item.
func (c *Controller) cancelLocked(q *queueItem) {
	for i, x := range c.queue {
		if x == q {
			c.queue = append(c.queue[:i], c.queue[i+1:]...)
			break
		}
	}
	q.left, q.leftAt, q.cancelled = true, c.now(), true
	c.left[q.id] = q
}

// queueItemLocked finds a live or left item, expiring old LeftItems.
func (c *Controller) queueItemLocked(id int64) *queueItem {
	for _, q := range c.queue {
		if q.id == id {
			return q
		}
	}
	if q, ok := c.left[id]; ok {
		if c.now().Sub(q.leftAt) <= leftItemTTL {
			return q
		}
	}
	return nil
}

func (c *Controller) expireLeftLocked() {
	now := c.now()
	for id, q := range c.left {
		if now.Sub(q.leftAt) > leftItemTTL {
			delete(c.left, id)
		}
	}
}

// loseRunningLocked drops every running build the way a dying controller
// does: the build record stays, reloaded as FAILURE without a footer.
func (c *Controller) loseRunningLocked() {
	now := c.now()
	for _, n := range c.nodes {
		for i, b := range n.executors {
			if b == nil {
				continue
			}
			b.log.Reset()
			b.log.WriteString(b.logText(now))
			b.building = false
			b.result = "FAILURE"
			b.duration = 0
			n.executors[i] = nil
			c.stats.buildsLost.Add(1)
		}
	}
}

// beginRestartLocked starts a restart: 503 on every URL for the restart
// duration, running builds lost, then a new process.
func (c *Controller) beginRestartLocked(why string) {
	c.crashLocked()
	c.state = stateRestarting
	c.log.Info("restarting", "why", why, "for", c.cfg.RestartDuration)
	gen := c.gen
	time.AfterFunc(c.cfg.RestartDuration, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.gen != gen || c.state != stateRestarting {
			return
		}
		c.bootLocked()
	})
}

// crashLocked ends the current process.
func (c *Controller) crashLocked() {
	c.gen++
	c.restarts++
	c.loseRunningLocked()
	c.left = map[int64]*queueItem{}
	c.quietingDown, c.quietDownReason, c.safeRestart = false, "", false
	if c.wake != nil {
		c.wake.Stop()
		c.wake, c.wakeAt = nil, time.Time{}
	}
}

// bootLocked starts a new process over the persisted state.
func (c *Controller) bootLocked() {
	c.newProcess()
	c.loadStagedLocked()
	var maxID int64
	for _, q := range c.queue {
		maxID = max(maxID, q.id)
	}
	c.nextQueueID = maxID
	c.log.Info("started", "session", c.session)
	c.maintainLocked()
}

// crumbFor computes the crumb of a user's session (DefaultCrumbIssuer).
func (c *Controller) crumbFor(user, sessionID string) string {
	h := sha256.Sum256([]byte(c.salt + ":" + user + ";" + sessionID))
	return hex.EncodeToString(h[:])
}

// newSessionLocked creates an HTTP session for user ("" = anonymous).
func (c *Controller) newSessionLocked(user string) string {
	const maxSessions = 10000
	if len(c.sessionOrder) >= maxSessions {
		delete(c.sessions, c.sessionOrder[0])
		c.sessionOrder = c.sessionOrder[1:]
	}
	id := randomHex(16)
	c.sessions[id] = user
	c.sessionOrder = append(c.sessionOrder, id)
	return id
}
