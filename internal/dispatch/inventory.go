package dispatch

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/jenkinds/jenkinds/internal/balance"
)

// The job inventory says which controller has which job, whether it is
// buildable there and its parameters. It lives in memory, refreshed from
// each controller (one request with a nested tree= per controller per
// InventoryInterval, or at once when a Submit names a job nobody is known
// to have). We chose memory over a table: it is a cache of what the
// controllers say, rebuilt in one round after a restart, and a table would
// need the same refreshes plus writes on every change. A Submit that
// arrives before any controller of its cluster answered is accepted (it
// cannot be refuted); the placer then fails it if the job turns out to
// exist nowhere.

// jobMeta is one job on one controller.
type jobMeta struct {
	class     string // Jenkins' _class of the job
	buildable bool
	params    []string
	defs      []ParamDef
	next      int64 // nextBuildNumber when read
}

// inventory is one controller's jobs.
type inventory struct {
	jobs    map[string]jobMeta
	at      time.Time // when read; zero if never
	session string
}

// inventories holds every controller's inventory. An *inventory is never
// changed once stored (readers use it without a lock); what rounds learn
// of nextBuildNumber between two reads is kept beside it.
type inventories struct {
	mu     sync.RWMutex
	by     map[int64]*inventory
	next   map[int64]map[string]int64 // controller → job → nextBuildNumber seen by a round
	flight singleflight.Group
}

func (iv *inventories) get(id int64) *inventory {
	iv.mu.RLock()
	defer iv.mu.RUnlock()
	return iv.by[id]
}

func (iv *inventories) set(id int64, inv *inventory) {
	iv.mu.Lock()
	defer iv.mu.Unlock()
	if iv.by == nil {
		iv.by = map[int64]*inventory{}
	}
	iv.by[id] = inv
}

// bumpNext records a job's nextBuildNumber seen by a round.
func (iv *inventories) bumpNext(id int64, job string, next int64) {
	iv.mu.Lock()
	defer iv.mu.Unlock()
	if iv.next == nil {
		iv.next = map[int64]map[string]int64{}
	}
	m := iv.next[id]
	if m == nil {
		m = map[string]int64{}
		iv.next[id] = m
	}
	m[job] = max(m[job], next)
}

// floor is the highest nextBuildNumber known of a job on controller id: a
// build number a trigger sent now cannot be below.
func (iv *inventories) floor(id int64, job string) int64 {
	iv.mu.RLock()
	defer iv.mu.RUnlock()
	var n int64
	if inv := iv.by[id]; inv != nil {
		n = inv.jobs[job].next
	}
	return max(n, iv.next[id][job])
}

// inventoryDepth is how deep folders are read.
const inventoryDepth = 6

func inventoryTree() string {
	tree := "name,buildable,nextBuildNumber,property[parameterDefinitions[name,defaultParameterValue[value]]]"
	t := tree
	for range inventoryDepth - 1 {
		t = tree + ",jobs[" + t + "]"
	}
	return "jobs[" + t + "]"
}

var invTree = inventoryTree()

type apiJob struct {
	Class           string    `json:"_class"`
	Name            string    `json:"name"`
	Buildable       *bool     `json:"buildable"`
	NextBuildNumber int64     `json:"nextBuildNumber"`
	Jobs            *[]apiJob `json:"jobs"`
	Property        []struct {
		ParameterDefinitions []struct {
			Name    string `json:"name"`
			Default *struct {
				Class string `json:"_class"`
				Value any    `json:"value"`
			} `json:"defaultParameterValue"`
		} `json:"parameterDefinitions"`
	} `json:"property"`
}

// readInventory reads every job of the controller.
func (b *backend) readInventory(ctx context.Context) (*inventory, error) {
	var root struct {
		Jobs []apiJob `json:"jobs"`
	}
	r, err := b.getJSON(ctx, withTree("", invTree), &root)
	if err != nil {
		return nil, err
	}
	inv := &inventory{jobs: map[string]jobMeta{}, session: session(r)}
	var walk func(prefix string, jobs []apiJob)
	walk = func(prefix string, jobs []apiJob) {
		for _, j := range jobs {
			full := prefix + j.Name
			if j.Jobs != nil { // a folder
				walk(full+"/", *j.Jobs)
				continue
			}
			if j.Buildable == nil { // neither job nor folder we know
				continue
			}
			m := jobMeta{class: j.Class, buildable: *j.Buildable, next: j.NextBuildNumber}
			for _, p := range j.Property {
				for _, d := range p.ParameterDefinitions {
					m.params = append(m.params, d.Name)
					def := ParamDef{Name: d.Name, Class: "hudson.model.StringParameterValue"}
					if d.Default != nil {
						if d.Default.Class != "" {
							def.Class = d.Default.Class
						}
						if d.Default.Value != nil {
							def.Default, def.HasDefault = fmt.Sprint(d.Default.Value), true
						}
					}
					m.defs = append(m.defs, def)
				}
			}
			inv.jobs[full] = m
		}
	}
	walk("", root.Jobs)
	return inv, nil
}

// refreshInventory reads controller id's inventory now (one read at a
// time per controller; concurrent callers share it).
func (s *Service) refreshInventory(ctx context.Context, id int64) (*inventory, error) {
	v, err, _ := s.inv.flight.Do(fmt.Sprint(id), func() (any, error) {
		b, err := s.backend(id)
		if err != nil {
			return nil, err
		}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.RequestTimeout)
		defer cancel()
		inv, err := b.readInventory(ctx)
		if err != nil {
			return nil, fmt.Errorf("read job inventory of controller %d: %w", id, err)
		}
		inv.at = s.now()
		if err := s.initMarks(ctx, id, inv); err != nil {
			return nil, err
		}
		s.inv.set(id, inv)
		return inv, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*inventory), nil
}

// lookup tells what the inventory knows of cluster/job. known is false
// when some controller of the cluster has never answered, so a job found
// nowhere may still exist.
func (s *Service) lookup(cluster, job string) (info JobInfo, known bool) {
	info = JobInfo{Cluster: cluster, Job: job}
	known = true
	for _, r := range s.pool.Cluster(cluster) {
		inv := s.inv.get(r.ID())
		if inv == nil {
			known = false
			continue
		}
		m, ok := inv.jobs[job]
		if !ok {
			continue
		}
		if len(info.Controllers) == 0 {
			info.Class = m.class
			info.Parameters = m.params
			info.ParamDefs = m.defs
			info.Parameterized = len(m.params) > 0
		}
		info.Controllers = append(info.Controllers, r.ID())
		info.Buildable = info.Buildable || m.buildable
	}
	return info, known
}

// Job returns what the job inventory knows of cluster/job, reading the
// inventories of controllers not read for a second first when the job is
// found nowhere. ErrUnknownJob when no controller of the cluster has it;
// an unreachable controller's jobs count as unknown, not absent, so the
// answer is then the jobs of those that answered.
func (s *Service) Job(ctx context.Context, cluster, job string) (JobInfo, error) {
	info, err := s.resolveJob(ctx, cluster, job)
	if err != nil {
		return JobInfo{}, err
	}
	if len(info.Controllers) == 0 {
		return JobInfo{}, fmt.Errorf("job %q of cluster %q: %w", job, cluster, ErrUnknownJob)
	}
	return info, nil
}

// resolveJob looks the job up, refreshing stale or missing inventories of
// the cluster when it is found nowhere. The returned info may have no
// controllers when some controller could not be read (unknown, not absent).
func (s *Service) resolveJob(ctx context.Context, cluster, job string) (JobInfo, error) {
	info, known := s.lookup(cluster, job)
	if len(info.Controllers) > 0 && !s.stale(cluster) {
		return info, nil
	}
	var wg sync.WaitGroup
	for _, r := range s.pool.Cluster(cluster) {
		inv := s.inv.get(r.ID())
		if inv != nil && (s.now().Sub(inv.at) < time.Second || r.Health() == balance.Unhealthy) {
			continue // fresh, or not answering now: do not hold the caller up
		}
		wg.Go(func() { _, _ = s.refreshInventory(ctx, r.ID()) })
	}
	wg.Wait()
	info, known = s.lookup(cluster, job)
	if len(info.Controllers) == 0 && known {
		return JobInfo{}, fmt.Errorf("job %q of cluster %q: %w", job, cluster, ErrUnknownJob)
	}
	return info, nil
}

// JobsChanged tells the service that jobs of cluster were created,
// reconfigured or deleted through jenkinds: the next lookup reads the
// controllers' job lists again instead of trusting the inventory.
func (s *Service) JobsChanged(cluster string) {
	for _, r := range s.pool.Cluster(cluster) {
		if inv := s.inv.get(r.ID()); inv != nil {
			cp := *inv
			cp.at = time.Time{}
			s.inv.set(r.ID(), &cp)
		}
	}
}

// stale reports whether some inventory of cluster was marked stale by
// JobsChanged.
func (s *Service) stale(cluster string) bool {
	for _, r := range s.pool.Cluster(cluster) {
		if inv := s.inv.get(r.ID()); inv != nil && inv.at.IsZero() && r.Health() != balance.Unhealthy {
			return true
		}
	}
	return false
}

func joinIDs(ids []int64) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = fmt.Sprint(id)
	}
	return strings.Join(s, ", ")
}
