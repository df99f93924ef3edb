package catalog

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/jenkinds/jenkinds/internal/balance"
	"github.com/jenkinds/jenkinds/internal/jenkins"
)

// ErrUnknownJob: no controller of the cluster has the job (Jenkins
// answers 404).
var ErrUnknownJob = errors.New("unknown job")

// JobInfo is what the catalog knows of a job in a cluster.
type JobInfo struct {
	Cluster       string
	Job           string
	Class         string  // Jenkins' _class of the job, as the first controller says
	Controllers   []int64 // the controllers that have it
	Buildable     bool    // buildable on at least one of them
	Parameterized bool
	Parameters    []string // parameter names, as the first controller defines them
	// ParamDefs are the parameter definitions of the first controller, in
	// order, with their defaults.
	ParamDefs []jenkins.ParamDef
}

// Job is one job on one controller.
type Job struct {
	Class     string // Jenkins' _class of the job
	Buildable bool
	Params    []string
	Defs      []jenkins.ParamDef
	Next      int64 // nextBuildNumber when read
}

// inventory is one controller's jobs. It is never changed once stored
// (readers use it without a lock); what is learnt of nextBuildNumber
// between two reads is kept beside it.
type inventory struct {
	jobs map[string]Job
	at   time.Time // when read; zero when marked stale
}

// jobs is every controller's inventory.
type jobs struct {
	mu   sync.RWMutex
	by   map[int64]*inventory
	next map[int64]map[string]int64 // controller → job → nextBuildNumber seen since
	// epoch counts, per controller, the job writes jenkinds made there
	// (JobsChanged): a read of its jobs started before one may predate it.
	epoch  map[int64]uint64
	flight singleflight.Group
}

func (js *jobs) get(id int64) *inventory {
	js.mu.RLock()
	defer js.mu.RUnlock()
	return js.by[id]
}

func (js *jobs) epochOf(id int64) uint64 {
	js.mu.RLock()
	defer js.mu.RUnlock()
	return js.epoch[id]
}

// setIf stores inv, read from controller id, unless jenkinds wrote jobs
// there since the read started (epoch): it may predate the write.
func (js *jobs) setIf(id int64, epoch uint64, inv *inventory) bool {
	js.mu.Lock()
	defer js.mu.Unlock()
	if js.epoch[id] != epoch {
		return false
	}
	if js.by == nil {
		js.by = map[int64]*inventory{}
	}
	js.by[id] = inv
	return true
}

// changed marks controller id's inventory stale, and every read of its
// jobs under way as older than a write.
func (js *jobs) changed(id int64) {
	js.mu.Lock()
	defer js.mu.Unlock()
	if js.epoch == nil {
		js.epoch = map[int64]uint64{}
	}
	js.epoch[id]++
	if inv := js.by[id]; inv != nil {
		cp := *inv
		cp.at = time.Time{}
		js.by[id] = &cp
	}
}

// JobOn returns what controller id's inventory says of job.
func (c *Catalog) JobOn(id int64, job string) (Job, bool) {
	inv := c.jobs.get(id)
	if inv == nil {
		return Job{}, false
	}
	m, ok := inv.jobs[job]
	return m, ok
}

// JobsOn returns controller id's jobs and when they were read (nil, zero
// when never).
func (c *Catalog) JobsOn(id int64) (map[string]Job, time.Time) {
	inv := c.jobs.get(id)
	if inv == nil {
		return nil, time.Time{}
	}
	return inv.jobs, inv.at
}

// Forget drops every inventory, so that each is read again (a new leader
// term: another replica's writes may have changed what was known).
func (c *Catalog) Forget() {
	c.jobs.mu.Lock()
	defer c.jobs.mu.Unlock()
	c.jobs.by, c.jobs.next = nil, nil
}

// SawNext records a job's nextBuildNumber seen on controller id since its
// inventory was read (a follow round saw build next-1).
func (c *Catalog) SawNext(id int64, job string, next int64) {
	c.jobs.mu.Lock()
	defer c.jobs.mu.Unlock()
	if c.jobs.next == nil {
		c.jobs.next = map[int64]map[string]int64{}
	}
	m := c.jobs.next[id]
	if m == nil {
		m = map[string]int64{}
		c.jobs.next[id] = m
	}
	m[job] = max(m[job], next)
}

// Floor is the highest nextBuildNumber known of a job on controller id: a
// build number a trigger sent now cannot be below.
func (c *Catalog) Floor(id int64, job string) int64 {
	c.jobs.mu.RLock()
	defer c.jobs.mu.RUnlock()
	var n int64
	if inv := c.jobs.by[id]; inv != nil {
		n = inv.jobs[job].Next
	}
	return max(n, c.jobs.next[id][job])
}

// Refresh reads controller id's jobs now, in one request (one read at a
// time per controller; concurrent callers share it). A read started
// before jenkinds wrote jobs there (JobsChanged) is neither shared with
// callers that come after the write nor kept: it may predate the write.
func (c *Catalog) Refresh(ctx context.Context, id int64) (map[string]Job, error) {
	epoch := c.jobs.epochOf(id)
	v, err, _ := c.jobs.flight.Do(fmt.Sprint(id, "/", epoch), func() (any, error) {
		r, cl, err := c.pool.Client(id)
		if err != nil {
			return nil, err
		}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.RequestTimeout)
		defer cancel()
		got, _, err := cl.Jobs(ctx)
		if err != nil {
			return nil, fmt.Errorf("read the jobs of controller %s: %w", r.Name(), err)
		}
		inv := &inventory{jobs: make(map[string]Job, len(got)), at: c.now()}
		for full, j := range got {
			m := Job{Class: j.Class, Buildable: j.Buildable, Next: j.Next, Defs: j.Params}
			for _, d := range j.Params {
				m.Params = append(m.Params, d.Name)
			}
			inv.jobs[full] = m
		}
		if c.jobs.setIf(id, epoch, inv) {
			c.bump(r.Instance().ClusterID)
		}
		return inv.jobs, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(map[string]Job), nil
}

// find returns the job of inv called name, matched as Jenkins matches an
// item's name in a URL: exactly, else ignoring case (Jenkins keeps items
// in a map ordered by String.CASE_INSENSITIVE_ORDER, so /job/HELLO/ is the
// job hello; docs/stapler-dispatch.md 1.5). It returns the name as the
// controller spells it.
func (inv *inventory) find(name string) (Job, string, bool) {
	if m, ok := inv.jobs[name]; ok {
		return m, name, true
	}
	for k, m := range inv.jobs {
		if strings.EqualFold(k, name) {
			return m, k, true
		}
	}
	return Job{}, "", false
}

// Lookup tells what the inventories know of cluster/job. known is false
// when some controller of the cluster has never been read, so a job found
// nowhere may still exist. The job's name is matched as Jenkins matches it
// (ignoring case, see find); info.Job is job when some controller spells
// it so, else the name as the first controller that has it spells it.
func (c *Catalog) Lookup(cluster, job string) (info JobInfo, known bool) {
	info = JobInfo{Cluster: cluster, Job: job}
	known = true
	exact := false
	defer func() {
		if exact {
			info.Job = job
		}
	}()
	for _, r := range c.pool.Cluster(cluster) {
		inv := c.jobs.get(r.ID())
		if inv == nil {
			known = false
			continue
		}
		m, name, ok := inv.find(job)
		if !ok {
			continue
		}
		exact = exact || name == job
		if len(info.Controllers) == 0 {
			info.Job = name
			info.Class = m.Class
			info.Parameters = m.Params
			info.ParamDefs = m.Defs
			info.Parameterized = len(m.Params) > 0
		}
		info.Controllers = append(info.Controllers, r.ID())
		info.Buildable = info.Buildable || m.Buildable
	}
	return info, known
}

// Job returns what the catalog knows of cluster/job, reading first the
// inventories of controllers not read for a second when the job is found
// nowhere (or jobs were written since). ErrUnknownJob when no controller
// of the cluster has it; an unreachable controller's jobs count as
// unknown, not absent, so the answer is then the jobs of those that
// answered.
func (c *Catalog) Job(ctx context.Context, cluster, job string) (JobInfo, error) {
	info, err := c.Resolve(ctx, cluster, job)
	if err != nil {
		return JobInfo{}, err
	}
	if len(info.Controllers) == 0 {
		return JobInfo{}, fmt.Errorf("job %q of cluster %q: %w", job, cluster, ErrUnknownJob)
	}
	return info, nil
}

// Resolve is Job, except that the info may have no controllers when some
// controller could not be read (unknown, not absent).
func (c *Catalog) Resolve(ctx context.Context, cluster, job string) (JobInfo, error) {
	info, _ := c.Lookup(cluster, job)
	if len(info.Controllers) > 0 && !c.staleJobs(cluster) {
		return info, nil
	}
	var wg sync.WaitGroup
	for _, r := range c.pool.Cluster(cluster) {
		inv := c.jobs.get(r.ID())
		if inv != nil && (c.now().Sub(inv.at) < time.Second || r.Health() == balance.Unhealthy) {
			continue // fresh, or not answering now: do not hold the caller up
		}
		wg.Go(func() { _, _ = c.Refresh(ctx, r.ID()) })
	}
	wg.Wait()
	info, known := c.Lookup(cluster, job)
	if len(info.Controllers) == 0 && known {
		return JobInfo{}, fmt.Errorf("job %q of cluster %q: %w", job, cluster, ErrUnknownJob)
	}
	return info, nil
}

// JobsChanged says jobs of cluster were created, reconfigured or deleted
// through jenkinds: the next lookup reads the controllers' job lists again
// instead of trusting the inventory, and every read of the cluster the
// catalog keeps is read again before it is served (read your writes).
func (c *Catalog) JobsChanged(cluster string) {
	for _, r := range c.pool.Cluster(cluster) {
		c.jobs.changed(r.ID())
	}
	c.Invalidate(cluster)
}

// staleJobs reports whether some inventory of cluster was marked stale by
// JobsChanged.
func (c *Catalog) staleJobs(cluster string) bool {
	for _, r := range c.pool.Cluster(cluster) {
		if inv := c.jobs.get(r.ID()); inv != nil && inv.at.IsZero() && r.Health() != balance.Unhealthy {
			return true
		}
	}
	return false
}
