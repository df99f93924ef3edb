package controller

import (
	"fmt"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/jenkinds/jenkinds/internal/balance"
	"github.com/jenkinds/jenkinds/internal/jenkins"
)

// Pool holds the Runtime of every registered controller, grouped by
// cluster, and the balance policies of each cluster (policies keep
// rotation state, so there is one per cluster and strategy).
type Pool struct {
	hooks *Hooks // shared by every runtime; set before the first Sync
	hc    *http.Client

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

// NewPool returns an empty pool. Its controllers' clients use a client of
// its own (SetHTTPClient replaces it).
func NewPool() *Pool {
	p := &Pool{
		hooks:     &Hooks{},
		byID:      map[int64]*Runtime{},
		byCluster: map[string][]*Runtime{},
		policies:  map[policyKey]balance.Policy{},
		bufs:      sync.Pool{New: func() any { s := make([]balance.Candidate, 0, 16); return &s }},
	}
	p.SetHTTPClient(&http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 64}})
	return p
}

// SetHTTPClient makes the controllers' clients use hc, as a copy that never
// follows redirects (Jenkins answers stop, doDelete and cancelItem with
// 302); the clients of controllers already in the pool are rebuilt.
func (p *Pool) SetHTTPClient(hc *http.Client) {
	own := *hc
	own.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hc = &own
	for _, r := range p.byID {
		r.client.Store(p.client(r, r.Instance(), r.Token()))
	}
}

// SetHooks sets what every runtime of the pool calls on restarts and
// failures (the health authority's). Call it before the pool is used.
func (p *Pool) SetHooks(h Hooks) {
	p.mu.Lock()
	defer p.mu.Unlock()
	*p.hooks = h
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
			r = newRuntime(p.hooks)
			r.health.Store(uint32(inst.HealthStatus))
			r.load.Store(int64(inst.CurrentLoad))
			r.f.reason, r.f.session, r.f.version = inst.LastError, inst.JenkinsSession, inst.Version
			if inst.LastHealthCheck != nil {
				r.f.checked = *inst.LastHealthCheck
			}
			if inst.HealthStatus == balance.Unhealthy && inst.LastHealthCheck != nil {
				r.f.unhealthySince = *inst.LastHealthCheck
			}
			p.byID[inst.ID] = r
		}
		if old := r.inst.Load(); old == nil || old.URL != inst.URL || old.Username != inst.Username || r.Token() != tok {
			r.client.Store(p.client(r, inst, tok))
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

// client builds r's client: the pool's HTTP client, with a transport that
// reports every request to r. nil when the URL is not usable (validation
// keeps such URLs out of the registry).
func (p *Pool) client(r *Runtime, inst Instance, token string) *jenkins.Client {
	hc := *p.hc
	next := hc.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	hc.Transport = observed{rt: r, next: next}
	c, err := jenkins.New(inst.URL, inst.Username, token, &hc)
	if err != nil {
		return nil
	}
	return c
}

// Get returns the runtime of controller id, or nil.
func (p *Pool) Get(id int64) *Runtime {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.byID[id]
}

// Client returns controller id's runtime and the client it built, or an
// error that says which is missing.
func (p *Pool) Client(id int64) (*Runtime, *jenkins.Client, error) {
	r := p.Get(id)
	if r == nil {
		return nil, nil, fmt.Errorf("controller %d is not registered", id)
	}
	cl := r.Client()
	if cl == nil {
		return r, nil, fmt.Errorf("controller %s has no usable URL", r.Name())
	}
	return r, cl, nil
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
