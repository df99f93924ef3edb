package health

import (
	"context"
	"fmt"
	"net/http/httptrace"
	"sync"
	"time"

	"github.com/jenkinds/jenkinds/internal/balance"
	"github.com/jenkinds/jenkinds/internal/controller"
)

// SilentError is the cause of a Watch context cancelled because its
// controller answered nothing: the caller answers without it.
type SilentError struct {
	Controller string
	Deadline   time.Duration
}

func (e *SilentError) Error() string {
	return fmt.Sprintf("controller %s answered nothing within %s", e.Controller, e.Deadline)
}

// Watch returns a context for a request that only controller r can
// answer — a build's console or artifacts live on the controller that ran
// it — so there is nobody to hedge to. Waiting for a slow controller is
// right there; waiting for a frozen one is not. So Watch asks r something
// trivial at once (a ping: GET me/api/json with jenkinds' token, shared
// by every Watch of r while it is under way), and again every half
// deadline while r keeps answering. Until the response's first byte
// arrives: when a ping has gone unanswered for a whole deadline, and
// nothing else of r's answered since it was sent either (any request of
// jenkinds' or of the front door), while jenkinds was not starved (see
// starvationExplains), r is frozen — as it is when r is unhealthy and the
// request has waited a deadline: Watch reports r Hung and cancels the
// context with a *SilentError cause. A controller slow on this request but
// answering others is waited for. Call the returned func when the request
// is over.
func (m *Monitor) Watch(ctx context.Context, r *controller.Runtime, deadline time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	answered := make(chan struct{})
	var once sync.Once
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotFirstResponseByte: func() { once.Do(func() { close(answered) }) },
	})
	start := m.now()
	sent := m.ping(r, start)
	go func() {
		t := time.NewTicker(max(deadline/8, time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-answered:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			now := m.now()
			silent := r.LastAnswer().Before(sent)
			switch {
			case silent && now.Sub(sent) >= deadline && !m.starvationExplains(r, sent, now),
				r.Health() == balance.Unhealthy && now.Sub(start) >= deadline:
				m.Hung(r, deadline)
				cancel(&SilentError{Controller: r.Name(), Deadline: deadline})
				return
			case !silent && now.Sub(sent) >= deadline/2:
				sent = m.ping(r, now) // fresh evidence for a long wait
			}
		}
	}()
	return ctx, func() { cancel(context.Canceled) }
}

// pinger is the ping under way to one controller, if any.
type pinger struct {
	mu   sync.Mutex
	busy bool
	sent time.Time
}

// ping sends r one cheap request at now, unless one is under way, and
// returns when the ping under way was sent. Its answer, or its failure,
// is evidence for Watch and for passive health (r's client reports both).
func (m *Monitor) ping(r *controller.Runtime, now time.Time) time.Time {
	v, _ := m.pings.LoadOrStore(r.ID(), &pinger{})
	p := v.(*pinger)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.busy {
		return p.sent
	}
	cl := r.Client()
	if cl == nil {
		return now
	}
	p.busy, p.sent = true, now
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), m.cfg.Timeout)
		defer cancel()
		_, _, _ = cl.Me(ctx)
		p.mu.Lock()
		p.busy = false
		p.mu.Unlock()
	}()
	return now
}
