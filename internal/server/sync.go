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

// syncer keeps the runtime pool equal to the registry in the database.
type syncer struct {
	store   *controller.Store
	pool    *controller.Pool
	metrics *health.Metrics
	log     *slog.Logger
	reload  func() error // re-reads the secret key after a rotation
	mu      sync.Mutex
}

// SyncNow re-reads every controller and its token.
func (s *syncer) SyncNow(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	insts, err := s.store.List(ctx, controller.ListFilter{})
	if err != nil {
		return fmt.Errorf("sync registry: %w", err)
	}
	all := make([]controller.Synced, 0, len(insts))
	for _, in := range insts {
		tok := ""
		if in.HasAPIToken {
			tok, err = s.store.Token(ctx, in.ID)
			if errors.Is(err, secret.ErrWrongKey) && s.reload != nil {
				// Another process rotated the key: load the new one.
				if rerr := s.reload(); rerr == nil {
					tok, err = s.store.Token(ctx, in.ID)
				}
			}
			if err != nil {
				return fmt.Errorf("sync registry: token of %s: %w", in.Name, err)
			}
		}
		all = append(all, controller.Synced{Instance: in, Token: tok})
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

// Run syncs every interval until ctx ends.
func (s *syncer) Run(ctx context.Context, every time.Duration) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := s.SyncNow(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("sync registry", "err", err)
			}
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
