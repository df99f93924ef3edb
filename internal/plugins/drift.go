// Package plugins compares what the controllers of a cluster run: their
// Jenkins versions and their plugins. In an active/active cluster every
// controller must run the same plugins at the same versions — a job
// written by one must load on the others — so a difference is drift,
// reported by the cluster's drift check (GET
// /api/v1/clusters/{clusterId}/drift) and by jenkinds_plugin_drift.
package plugins

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jenkinds/jenkinds/internal/catalog"
	"github.com/jenkinds/jenkinds/internal/controller"
)

// Source gives what a controller runs. *catalog.Catalog is one.
type Source interface {
	PluginsOf(ctx context.Context, id int64) (catalog.Plugins, error)
}

var _ Source = (*catalog.Catalog)(nil)

// Status is how a plugin, or the Jenkins version, compares across the
// controllers that answered.
type Status string

const (
	// StatusInSync: the same everywhere.
	StatusInSync Status = "in_sync"
	// StatusDiffers: versions differ.
	StatusDiffers Status = "differs"
	// StatusMissing: some controller does not have the plugin.
	StatusMissing Status = "missing"
	// StatusDisabled: the same version everywhere, disabled on some
	// controllers and not on others.
	StatusDisabled Status = "disabled"
	// StatusUnknown: no controller could be read.
	StatusUnknown Status = "unknown"
)

// Report is one plugin drift check of a cluster.
type Report struct {
	CheckedAt time.Time `json:"checkedAt"`
	// Controllers are the active controllers compared, by id.
	Controllers []Controller `json:"controllers"`
	// Jenkins compares the controllers' Jenkins versions.
	Jenkins Versions `json:"jenkins"`
	Summary Summary  `json:"summary"`
	// Plugins are every plugin some controller has, by short name.
	Plugins []Plugin `json:"plugins"`
}

// Controller is one controller of a check.
type Controller struct {
	ID      int64  `json:"id"`
	Name    string `json:"name"`
	Version string `json:"version,omitempty"` // Jenkins'
	Plugins int    `json:"plugins"`
	// Error says why its plugins could not be read: it is then left out
	// of the comparison (its plugins are unknown, not missing).
	Error string `json:"error,omitempty"`
}

// Versions is how the controllers' Jenkins versions compare.
type Versions struct {
	Status   Status    `json:"status"`
	Variants []Variant `json:"variants"`
}

// Summary counts the plugins of a report by status.
type Summary struct {
	Plugins  int `json:"plugins"`
	InSync   int `json:"inSync"`
	Differs  int `json:"differs"`
	Missing  int `json:"missing"`
	Disabled int `json:"disabled"`
}

// Drifted is the value of jenkinds_plugin_drift: the plugins not the same
// everywhere, plus one when the Jenkins versions differ.
func (r Report) Drifted() int {
	n := r.Summary.Differs + r.Summary.Missing + r.Summary.Disabled
	if r.Jenkins.Status == StatusDiffers {
		n++
	}
	return n
}

// Plugin is one plugin of a check.
type Plugin struct {
	Name   string `json:"name"` // short name, e.g. git
	Status Status `json:"status"`
	// Variants group the controllers that have it by version and state,
	// the largest group first.
	Variants []Variant `json:"variants"`
	// MissingOn names the controllers that do not have it.
	MissingOn []string `json:"missingOn"`
}

// Variant is one version (and, for a plugin, state) and the controllers
// that run it.
type Variant struct {
	Version     string   `json:"version"`
	Disabled    bool     `json:"disabled,omitempty"`
	Controllers []string `json:"controllers"`
}

// Checker checks clusters for plugin drift.
type Checker struct {
	pool  *controller.Pool
	src   Source
	now   func() time.Time
	drift *prometheus.GaugeVec
}

// New returns a Checker of pool's controllers reading from src.
func New(pool *controller.Pool, src Source, now func() time.Time) *Checker {
	if now == nil {
		now = time.Now
	}
	return &Checker{pool: pool, src: src, now: now, drift: prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "jenkinds_plugin_drift",
		Help: "Plugins that are not the same (missing, another version, disabled) on every controller of the cluster, plus 1 when their Jenkins versions differ, as of the last drift check.",
	}, []string{"cluster"})}
}

// Run checks every cluster every interval (the first time at once) until
// ctx ends, logging the drift it finds, so that jenkinds_plugin_drift
// stays current without anyone asking; interval ≤ 0 returns at once.
func (c *Checker) Run(ctx context.Context, interval time.Duration, log *slog.Logger) error {
	if interval <= 0 {
		return nil
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	seen := map[string]bool{}
	for {
		now := map[string]bool{}
		for _, cluster := range c.pool.Clusters() {
			now[cluster] = true
			rep, err := c.Drift(ctx, cluster)
			switch {
			case ctx.Err() != nil:
				return nil
			case err != nil:
				log.Warn("plugin drift check", "cluster", cluster, "err", err)
			case rep.Drifted() > 0:
				log.Warn("plugins drifted", "cluster", cluster, "jenkins", rep.Jenkins.Status, "differs", rep.Summary.Differs,
					"missing", rep.Summary.Missing, "disabled", rep.Summary.Disabled)
			}
		}
		for cluster := range seen {
			if !now[cluster] {
				c.drift.DeleteLabelValues(cluster) // no controller left there
			}
		}
		seen = now
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// Register puts jenkinds_plugin_drift{cluster} on reg.
func (c *Checker) Register(reg prometheus.Registerer) { reg.MustRegister(c.drift) }

// Drift checks cluster now: the Jenkins version and plugins of every
// active controller (one read each, in parallel, as fresh as the
// catalog's staleness allows), compared. An error wrapping
// controller.ErrNotFound means the cluster has no registered controller.
func (c *Checker) Drift(ctx context.Context, cluster string) (Report, error) {
	var rts []*controller.Runtime
	for _, rt := range c.pool.Cluster(cluster) {
		if rt.Instance().IsActive {
			rts = append(rts, rt)
		}
	}
	if len(c.pool.Cluster(cluster)) == 0 {
		return Report{}, fmt.Errorf("cluster %q has no registered controllers: %w", cluster, controller.ErrNotFound)
	}
	slices.SortFunc(rts, func(a, b *controller.Runtime) int { return cmp.Compare(a.ID(), b.ID()) })
	got := make([]catalog.Plugins, len(rts))
	errs := make([]error, len(rts))
	var wg sync.WaitGroup
	for i, rt := range rts {
		wg.Go(func() { got[i], errs[i] = c.src.PluginsOf(ctx, rt.ID()) })
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return Report{}, err
	}

	rep := Report{CheckedAt: c.now().UTC(), Controllers: []Controller{}, Plugins: []Plugin{}}
	type cell struct {
		version  string
		disabled bool
	}
	rows := map[string][]*cell{} // plugin → per controller (nil: not there)
	var answered []int
	var versions []Variant
	for i, rt := range rts {
		ctl := Controller{ID: rt.ID(), Name: rt.Name()}
		if errs[i] != nil {
			ctl.Error = errs[i].Error()
			rep.Controllers = append(rep.Controllers, ctl)
			continue
		}
		ctl.Version, ctl.Plugins = got[i].Version, len(got[i].List)
		rep.Controllers = append(rep.Controllers, ctl)
		answered = append(answered, i)
		versions = addTo(versions, Variant{Version: got[i].Version}, rt.Name())
		for _, p := range got[i].List {
			if rows[p.ShortName] == nil {
				rows[p.ShortName] = make([]*cell, len(rts))
			}
			rows[p.ShortName][i] = &cell{version: p.Version, disabled: !p.Enabled}
		}
	}
	rep.Jenkins = Versions{Status: StatusInSync, Variants: sortVariants(versions)}
	switch {
	case len(answered) == 0:
		rep.Jenkins.Status = StatusUnknown
	case len(versions) > 1:
		rep.Jenkins.Status = StatusDiffers
	}

	names := make([]string, 0, len(rows))
	for name := range rows {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		p := Plugin{Name: name, MissingOn: []string{}}
		var vs []Variant
		for _, i := range answered {
			cl := rows[name][i]
			if cl == nil {
				p.MissingOn = append(p.MissingOn, rts[i].Name())
				continue
			}
			vs = addTo(vs, Variant{Version: cl.version, Disabled: cl.disabled}, rts[i].Name())
		}
		p.Variants = sortVariants(vs)
		versionsOf := map[string]bool{}
		for _, v := range vs {
			versionsOf[v.Version] = true
		}
		switch {
		case len(p.MissingOn) > 0:
			p.Status = StatusMissing
			rep.Summary.Missing++
		case len(versionsOf) > 1:
			p.Status = StatusDiffers
			rep.Summary.Differs++
		case len(vs) > 1:
			p.Status = StatusDisabled
			rep.Summary.Disabled++
		default:
			p.Status = StatusInSync
			rep.Summary.InSync++
		}
		rep.Summary.Plugins++
		rep.Plugins = append(rep.Plugins, p)
	}
	c.drift.WithLabelValues(cluster).Set(float64(rep.Drifted()))
	return rep, nil
}

// addTo adds controller name to the variant of vs equal to v (version and
// state), or to a new one.
func addTo(vs []Variant, v Variant, name string) []Variant {
	for i := range vs {
		if vs[i].Version == v.Version && vs[i].Disabled == v.Disabled {
			vs[i].Controllers = append(vs[i].Controllers, name)
			return vs
		}
	}
	v.Controllers = []string{name}
	return append(vs, v)
}

// sortVariants puts the largest group first (the first seen on a tie),
// and never returns nil.
func sortVariants(vs []Variant) []Variant {
	if vs == nil {
		return []Variant{}
	}
	slices.SortStableFunc(vs, func(a, b Variant) int { return len(b.Controllers) - len(a.Controllers) })
	return vs
}
