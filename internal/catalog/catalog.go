package catalog

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jenkinds/jenkinds/internal/controller"
)

// Config tunes the catalog. The zero value of a field means its default.
type Config struct {
	// MaxStaleness is how old a read may be and still be served without
	// asking its controller again (--fleet-max-staleness). Default: 1s.
	MaxStaleness time.Duration
	// HedgeAfter is how long a read that must reach a controller waits for
	// it before the catalog answers without it (or from what it read
	// before), and reports it to health as hung. Default: 500ms.
	HedgeAfter time.Duration
	// RequestTimeout bounds each request to a controller, including the
	// ones a caller stopped waiting for. Default: 10s.
	RequestTimeout time.Duration
	// MaxReads bounds the reads kept, all controllers and callers
	// together; the oldest go first. Default: 20000.
	MaxReads int
}

func (c Config) withDefaults() Config {
	if c.MaxStaleness <= 0 {
		c.MaxStaleness = time.Second
	}
	if c.HedgeAfter <= 0 {
		c.HedgeAfter = 500 * time.Millisecond
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 10 * time.Second
	}
	if c.MaxReads <= 0 {
		c.MaxReads = 20000
	}
	return c
}

// Health is what the catalog tells the health authority: a controller
// left a read unanswered past the hedge deadline (*health.Monitor). Its
// failed requests reach health through the controller's client anyway.
type Health interface {
	Hung(rt *controller.Runtime, deadline time.Duration)
}

// Options are what New needs.
type Options struct {
	Config Config
	Pool   *controller.Pool
	// Health may be nil (nobody is told).
	Health Health
	Log    *slog.Logger
	Now    func() time.Time
}

// Catalog is the read model of the controllers (see doc.go).
type Catalog struct {
	cfg    Config
	pool   *controller.Pool
	health Health
	log    *slog.Logger
	now    func() time.Time

	jobs    jobs
	reads   reads
	plugins plugins

	verMu    sync.Mutex
	versions map[string]*clusterVersion // cluster → version, bumped on every change jenkinds makes or sees

	closing context.Context // cancelled by Close: reads in flight end
	close   context.CancelFunc
}

// New returns a catalog of o.Pool's controllers.
func New(o Options) *Catalog {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	c := &Catalog{cfg: o.Config.withDefaults(), pool: o.Pool, health: o.Health, log: o.Log, now: o.Now,
		versions: map[string]*clusterVersion{}}
	c.reads.init()
	c.closing, c.close = context.WithCancel(context.Background())
	return c
}

// Close ends the reads in flight (a shutdown must not wait for a hung
// controller); Get then serves what was read before, or nothing.
func (c *Catalog) Close() { c.close() }

// Config returns the effective configuration.
func (c *Catalog) Config() Config { return c.cfg }

// clusterVersion is a cluster's version and its changes under way.
type clusterVersion struct {
	v        atomic.Uint64
	changing atomic.Int64
}

func (c *Catalog) version(cluster string) *clusterVersion {
	c.verMu.Lock()
	defer c.verMu.Unlock()
	v, ok := c.versions[cluster]
	if !ok {
		v = &clusterVersion{}
		c.versions[cluster] = v
	}
	return v
}

// Version changes whenever jenkinds changed something of cluster through
// the front door (a job written, a build triggered, stopped or
// cancelled), or read again something it keeps: what was rendered from
// the catalog at an older version may be out of date.
func (c *Catalog) Version(cluster string) uint64 { return c.version(cluster).v.Load() }

func (c *Catalog) bump(cluster string) { c.version(cluster).v.Add(1) }

// Changing says builds or queue items of cluster are about to change in
// jenkinds' records (the dispatcher calls it before it commits a trigger,
// a stop, a cancel, or a follow round that saw builds start, end or
// appear); done, called once the change is committed or failed, says it
// is over. Each changes the version. While a change is under way the
// cluster is not Settled: what is rendered then may predate the commit,
// so it is not kept, and a client that saw the change (a queue item's
// build number) never reads a render from before it.
func (c *Catalog) Changing(cluster string) (done func()) {
	v := c.version(cluster)
	v.changing.Add(1)
	v.v.Add(1)
	var once sync.Once
	return func() {
		once.Do(func() {
			v.v.Add(1)
			v.changing.Add(-1)
		})
	}
}

// Changed is Changing and its done at once, for a change already
// committed that nobody could have observed yet.
func (c *Catalog) Changed(cluster string) { c.Changing(cluster)() }

// Settled reports whether cluster is still at version and no change is
// under way: what was rendered since version was read may be kept.
func (c *Catalog) Settled(cluster string, version uint64) bool {
	v := c.version(cluster)
	return v.changing.Load() == 0 && v.v.Load() == version
}
