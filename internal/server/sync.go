package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jenkinds/jenkinds/internal/controller"
	"github.com/jenkinds/jenkinds/internal/health"
	"github.com/jenkinds/jenkinds/internal/secret"
)

// syncer keeps the runtime pool equal to the registry in the database:
// at once after a change through this replica (syncingRegistry), on
// another replica's announcement of a change (listen), and every
// interval as the fallback.
type syncer struct {
	store   *controller.Store
	pool    *controller.Pool
	metrics *health.Metrics
	log     *slog.Logger
	reload  func() error // re-reads the secret key after a rotation
	// listen follows the registry's change notifications (db.Listen on
	// controller.RegistryChannel); nil, or a nil channel (SQLite), for
	// none.
	listen func(ctx context.Context) (<-chan string, error)
	mu     sync.Mutex
}

// SyncNow re-reads every controller with its token, in one query.
func (s *syncer) SyncNow(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	all, err := s.store.ListWithTokens(ctx)
	if errors.Is(err, secret.ErrWrongKey) && s.reload != nil {
		// Another process rotated the key: load the new one.
		if rerr := s.reload(); rerr == nil {
			all, err = s.store.ListWithTokens(ctx)
		}
	}
	if err != nil {
		return fmt.Errorf("sync registry: %w", err)
	}
	for _, r := range s.pool.Sync(all) {
		inst := r.Instance()
		s.log.Info("controller removed from the pool", "controller", inst.Name, "cluster", inst.ClusterID)
		if s.metrics != nil {
			s.metrics.Forget(inst.Name, inst.ClusterID)
		}
	}
	return nil
}

// Run syncs every interval, and as soon as another replica announces a
// change of the registry, until ctx ends. A burst of announcements is one
// sync. When it cannot listen it warns and tries again every interval,
// syncing on the interval meanwhile.
func (s *syncer) Run(ctx context.Context, every time.Duration) error {
	t := time.NewTicker(every)
	defer t.Stop()
	notes, listening := s.subscribe(ctx, true)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if !listening {
				notes, listening = s.subscribe(ctx, false)
			}
		case _, ok := <-notes:
			if !ok { // ctx ended
				notes = nil
				continue
			}
			drain(notes)
		}
		if err := s.SyncNow(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("sync registry", "err", err)
		}
	}
}

// subscribe starts listening for registry changes, if the syncer can,
// and reports whether it is done trying (listening, or nothing to listen
// with). It warns of a failure the first time only.
func (s *syncer) subscribe(ctx context.Context, first bool) (<-chan string, bool) {
	if s.listen == nil {
		return nil, true
	}
	notes, err := s.listen(ctx)
	if err != nil {
		if first {
			s.log.Warn("sync registry: cannot listen for changes, syncing every interval only until it can", "err", err)
		}
		return nil, false
	}
	if !first {
		s.log.Info("sync registry: listening for changes")
	}
	return notes, true
}

// drain takes what notes holds already, so that one sync serves them all.
func drain(notes <-chan string) {
	for {
		select {
		case _, ok := <-notes:
			if !ok {
				return
			}
		default:
			return
		}
	}
}

// syncingRegistry is the registry the API writes through: every change is
// followed by a sync, so the pool and the monitor see it at once.
type syncingRegistry struct {
	*controller.Store
	sync *syncer
}

func (r syncingRegistry) Create(ctx context.Context, in controller.CreateInput) (controller.Instance, error) {
	inst, err := r.Store.Create(ctx, in)
	if err == nil {
		r.resync(ctx)
	}
	return inst, err
}

func (r syncingRegistry) Update(ctx context.Context, id int64, p controller.Patch) (controller.Instance, error) {
	inst, err := r.Store.Update(ctx, id, p)
	if err == nil {
		r.resync(ctx)
	}
	return inst, err
}

func (r syncingRegistry) Delete(ctx context.Context, id int64) error {
	err := r.Store.Delete(ctx, id)
	if err == nil {
		r.resync(ctx)
	}
	return err
}

func (r syncingRegistry) resync(ctx context.Context) {
	if err := r.sync.SyncNow(ctx); err != nil {
		r.sync.log.Error("sync registry after a change", "err", err)
	}
}

func (r syncingRegistry) SetDraining(ctx context.Context, id int64, draining bool) error {
	err := r.Store.SetDraining(ctx, id, draining)
	if err == nil {
		r.resync(ctx)
	}
	return err
}
