package jobsync

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/jenkinds/jenkinds/internal/controller"
	"github.com/jenkinds/jenkinds/internal/db"
)

// Service writes job definitions to every controller of a cluster, keeps
// retrying the controllers that missed a write, and compares the
// definitions the controllers hold. The HTTP handlers and Drift work on
// every replica; Run should be active on one replica at a time (running it
// on several is safe, only wasteful: see doc.go).
type Service struct {
	cfg     Config
	st      *store
	pool    *controller.Pool
	log     *slog.Logger
	now     func() time.Time
	metrics *metrics

	locks keyedMutex

	roundMu      sync.Mutex          // one retry round at a time
	lastRound    time.Time           // when the last retry round began (roundMu): controllers back since have their writes due
	unknownSince map[int64]time.Time // controllers with pending writes the pool does not know, since (roundMu)
}

// New returns a Service over d (migrated with Migrations) for the
// controllers of pool, talking to each with its runtime's client (the
// controller's API token), logging to log and reading the time from now.
func New(d *db.DB, pool *controller.Pool, log *slog.Logger, now func() time.Time, cfg Config) *Service {
	cfg = cfg.withDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	return &Service{
		cfg: cfg, st: newStore(d, now), pool: pool, log: log, now: now,
		metrics: newMetrics(),
	}
}

// Config returns the effective configuration.
func (s *Service) Config() Config { return s.cfg }

// Run retries pending writes every PollInterval and checks every
// cluster for drift every DriftInterval (the first time at once), until
// ctx ends. Errors of one round are logged; the next round tries again.
func (s *Service) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	if s.cfg.DriftInterval > 0 {
		wg.Go(func() { s.runDrift(ctx) })
	}
	s.refreshPending(ctx)
	tick := time.NewTicker(s.cfg.PollInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return nil
		case <-tick.C:
			if _, err := s.Retry(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("retry pending job writes", "err", err)
			}
		}
	}
}

func (s *Service) runDrift(ctx context.Context) {
	tick := time.NewTicker(s.cfg.DriftInterval)
	defer tick.Stop()
	for {
		clusters := s.pool.Clusters()
		for _, c := range clusters {
			rep, err := s.Drift(ctx, c)
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				s.log.Warn("drift check", "cluster", c, "err", err)
				continue
			}
			if n := rep.Summary.Drifted(); n > 0 {
				s.log.Warn("job definitions drifted", "cluster", c, "differs", rep.Summary.Differs, "missing", rep.Summary.Missing,
					"pending", len(rep.Pending))
			}
		}
		s.forgetDrift(clusters)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
