package controller

import (
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jenkinds/jenkinds/internal/balance"
)

// Runtime is the live state of one controller, shared by the health
// monitor (which writes health and load), the balancer (which reads a
// snapshot of it) and the front door (in-flight requests, draining). It is
// the one place this state lives; every reader asks it.
type Runtime struct {
	inst  atomic.Pointer[Instance]
	token atomic.Pointer[string] // plaintext API token, in memory only

	health   atomic.Uint32 // balance.Health
	load     atomic.Int64  // last measured Jenkins load
	inflight atomic.Int64  // jenkinds' own requests in flight to it
	draining atomic.Bool
	checked  atomic.Int64 // unix nanos of the last check, 0 = never
}

// Instance returns the controller's configuration as last synced.
func (r *Runtime) Instance() Instance { return *r.inst.Load() }

// ID is the controller's id.
func (r *Runtime) ID() int64 { return r.inst.Load().ID }

// Token is the controller's plaintext API token ("" if none).
func (r *Runtime) Token() string {
	if t := r.token.Load(); t != nil {
		return *t
	}
	return ""
}

// Health is the last concluded health.
func (r *Runtime) Health() balance.Health { return balance.Health(r.health.Load()) }

// SetHealth records the concluded health and when it was checked.
func (r *Runtime) SetHealth(h balance.Health, at time.Time) {
	r.health.Store(uint32(h))
	r.checked.Store(at.UnixNano())
}

// LastChecked is when the controller was last checked (zero if never).
func (r *Runtime) LastChecked() time.Time {
	if n := r.checked.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// Load is the last measured Jenkins load (running + queued + online agents).
func (r *Runtime) Load() int { return int(r.load.Load()) }

// SetLoad records the measured Jenkins load.
func (r *Runtime) SetLoad(n int) { r.load.Store(int64(n)) }

// Acquire counts one in-flight request; the returned func releases it.
func (r *Runtime) Acquire() func() {
	r.inflight.Add(1)
	return func() { r.inflight.Add(-1) }
}

// InFlight is the number of jenkinds' requests in flight to the controller.
func (r *Runtime) InFlight() int { return int(r.inflight.Load()) }

// SetDraining stops (or resumes) new work for the controller.
func (r *Runtime) SetDraining(d bool) { r.draining.Store(d) }

// Draining reports whether the controller is draining.
func (r *Runtime) Draining() bool { return r.draining.Load() }

// Candidate is the snapshot a balance policy sees: the load counts
// jenkinds' own in-flight requests on top of the measured Jenkins load.
func (r *Runtime) Candidate() balance.Candidate {
	in := r.inst.Load()
	return balance.Candidate{
		ID: in.ID, Priority: in.Priority, IsPrimary: in.IsPrimary, Active: in.IsActive,
		Draining: r.draining.Load(), Health: balance.Health(r.health.Load()),
		Load: int(r.load.Load() + r.inflight.Load()), MaxConnections: in.MaxConnections,
	}
}

// Available reports whether the controller may receive new work now.
func (r *Runtime) Available() bool {
	c := r.Candidate()
	return c.Eligible()
}

// HealthFromStatus maps a stored status to the balancer's.
func HealthFromStatus(s HealthStatus) balance.Health {
	switch s {
	case HealthHealthy:
		return balance.Healthy
	case HealthDegraded:
		return balance.Degraded
	case HealthUnhealthy:
		return balance.Unhealthy
	}
	return balance.Unknown
}

// StatusFromHealth maps the balancer's health to the stored status.
func StatusFromHealth(h balance.Health) HealthStatus {
	switch h {
	case balance.Healthy:
		return HealthHealthy
	case balance.Degraded:
		return HealthDegraded
	case balance.Unhealthy:
		return HealthUnhealthy
	}
	return HealthUnknown
}

// Pool holds the Runtime of every registered controller, grouped by
// cluster, and the balance policies of each cluster (policies keep
// rotation state, so there is one per cluster and strategy).
type Pool struct {
	mu        sync.RWMutex
	byID      map[int64]*Runtime
	byCluster map[string][]*Runtime // sorted by id
	policies  map[policyKey]balance.Policy
	bufs      sync.Pool
	version   atomic.Uint64 // bumped by every Sync
}

// Version changes whenever Sync runs, so callers can cache what they
// derive from the pool's configuration.
func (p *Pool) Version() uint64 { return p.version.Load() }

type policyKey struct{ cluster, strategy string }

// NewPool returns an empty pool.
func NewPool() *Pool {
	return &Pool{
		byID:      map[int64]*Runtime{},
		byCluster: map[string][]*Runtime{},
		policies:  map[policyKey]balance.Policy{},
		bufs:      sync.Pool{New: func() any { s := make([]balance.Candidate, 0, 16); return &s }},
	}
}

// Synced is one instance with its plaintext token, for Pool.Sync.
type Synced struct {
	Instance Instance
	Token    string
}

// Sync makes the pool hold exactly the given instances: new ones start
// with their stored health, existing ones keep their live state and take
// the new configuration. It returns the runtimes that were removed.
func (p *Pool) Sync(all []Synced) (removed []*Runtime) {
	p.mu.Lock()
	defer p.mu.Unlock()
	seen := make(map[int64]bool, len(all))
	for _, s := range all {
		inst, tok := s.Instance, s.Token
		seen[inst.ID] = true
		r, ok := p.byID[inst.ID]
		if !ok {
			r = &Runtime{}
			r.health.Store(uint32(HealthFromStatus(inst.HealthStatus)))
			r.load.Store(int64(inst.CurrentLoad))
			if inst.LastHealthCheck != nil {
				r.checked.Store(inst.LastHealthCheck.UnixNano())
			}
			p.byID[inst.ID] = r
		}
		r.inst.Store(&inst)
		r.token.Store(&tok)
		r.draining.Store(inst.Draining)
	}
	for id, r := range p.byID {
		if !seen[id] {
			removed = append(removed, r)
			delete(p.byID, id)
		}
	}
	p.byCluster = map[string][]*Runtime{}
	for _, r := range p.byID {
		c := r.inst.Load().ClusterID
		p.byCluster[c] = append(p.byCluster[c], r)
	}
	for _, rs := range p.byCluster {
		sort.Slice(rs, func(i, j int) bool { return rs[i].ID() < rs[j].ID() })
	}
	p.version.Add(1)
	return removed
}

// Get returns the runtime of controller id, or nil.
func (p *Pool) Get(id int64) *Runtime {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.byID[id]
}

// All returns every runtime, sorted by id.
func (p *Pool) All() []*Runtime {
	p.mu.RLock()
	out := make([]*Runtime, 0, len(p.byID))
	for _, r := range p.byID {
		out = append(out, r)
	}
	p.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID() < out[j].ID() })
	return out
}

// Cluster returns the runtimes of a cluster, sorted by id. The slice is
// shared: do not modify it.
func (p *Pool) Cluster(cluster string) []*Runtime {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.byCluster[cluster]
}

// Clusters returns the cluster ids, sorted.
func (p *Pool) Clusters() []string {
	p.mu.RLock()
	out := make([]string, 0, len(p.byCluster))
	for c := range p.byCluster {
		out = append(out, c)
	}
	p.mu.RUnlock()
	sort.Strings(out)
	return out
}

func (p *Pool) policy(cluster, strategy string) (balance.Policy, error) {
	key := policyKey{cluster, strategy}
	p.mu.RLock()
	pol, ok := p.policies[key]
	p.mu.RUnlock()
	if ok {
		return pol, nil
	}
	pol, err := balance.ByName(strategy)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	if existing, ok := p.policies[key]; ok {
		pol = existing
	} else {
		p.policies[key] = pol
	}
	p.mu.Unlock()
	return pol, nil
}

// Pick chooses a controller of cluster by strategy ("" = least-load). The
// error wraps balance.ErrNoneEligible (with the reason) or
// balance.ErrUnknownStrategy.
func (p *Pool) Pick(cluster, strategy string) (*Runtime, error) {
	return p.pick(cluster, strategy, 0)
}

// Failover chooses the best controller of cluster other than currentID.
func (p *Pool) Failover(cluster string, currentID int64) (*Runtime, error) {
	return p.pick(cluster, "", currentID)
}

// PickOther chooses the least-loaded eligible controller of cluster that
// is none of exclude (a retry after exclude failed).
func (p *Pool) PickOther(cluster string, exclude ...int64) (*Runtime, error) {
	p.mu.RLock()
	rs := p.byCluster[cluster]
	p.mu.RUnlock()
	bp := p.bufs.Get().(*[]balance.Candidate)
	defer p.bufs.Put(bp)
	cands := (*bp)[:0]
	for _, r := range rs {
		c := r.Candidate()
		for _, id := range exclude {
			if c.ID == id {
				c.Active = false
			}
		}
		cands = append(cands, c)
	}
	*bp = cands
	idx, ok := balance.Failover(cands, 0)
	if !ok {
		return nil, fmt.Errorf("%w: %s", balance.ErrNoneEligible, balance.Explain(cands))
	}
	return rs[idx], nil
}

func (p *Pool) pick(cluster, strategy string, exclude int64) (*Runtime, error) {
	pol, err := p.policy(cluster, strategy)
	if err != nil {
		return nil, err
	}
	p.mu.RLock()
	rs := p.byCluster[cluster]
	p.mu.RUnlock()
	if len(rs) == 0 {
		return nil, fmt.Errorf("%w: cluster %q has no registered controllers", balance.ErrNoneEligible, cluster)
	}
	bp := p.bufs.Get().(*[]balance.Candidate)
	defer p.bufs.Put(bp)
	cands := (*bp)[:0]
	for _, r := range rs {
		cands = append(cands, r.Candidate())
	}
	*bp = cands
	var idx int
	if exclude != 0 {
		var ok bool
		idx, ok = balance.Failover(cands, exclude)
		if !ok {
			return nil, fmt.Errorf("%w: no controller of cluster %q other than %d can take work: %s", balance.ErrNoneEligible, cluster, exclude, balance.Explain(cands))
		}
	} else if idx, err = balance.Pick(pol, cands); err != nil {
		return nil, fmt.Errorf("cluster %q: %w", cluster, err)
	}
	return rs[idx], nil
}
