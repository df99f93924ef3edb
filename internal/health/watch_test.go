package health

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"
)

// TestWatchTellsFrozenFromSlow: a request only one controller can answer
// is given up on when that controller answers nothing at all, and waited
// for when it is slow on that request but answers others (the pings).
func TestWatchTellsFrozenFromSlow(t *testing.T) {
	t.Parallel()
	f := setup(t, 2, Config{})
	const deadline = 500 * time.Millisecond

	frozen := f.pool.Get(1)
	f.sims[0].Hang()
	t.Cleanup(f.sims[0].Unhang)
	ctx, stop := f.mon.Watch(context.Background(), frozen, deadline)
	_, _, err := frozen.Client().Do(ctx, http.MethodGet, "api/json", nil, "")
	var silent *SilentError
	if err == nil || !errors.As(context.Cause(ctx), &silent) || silent.Controller != frozen.Name() {
		t.Errorf("frozen controller: err %v, cause %v; want the request cut with a SilentError naming %s", err, context.Cause(ctx), frozen.Name())
	}
	stop()

	// Slow on jobs only, several deadlines long.
	slow := f.pool.Get(2)
	f.sims[1].SlowOn("/job/", 4*deadline)
	ctx, stop = f.mon.Watch(context.Background(), slow, deadline)
	defer stop()
	res, _, err := slow.Client().Do(ctx, http.MethodGet, "job/nope/api/json", nil, "")
	if ctx.Err() != nil {
		t.Errorf("slow controller: the request was cut (%v)", context.Cause(ctx))
	}
	if res == nil {
		t.Errorf("slow controller: no answer: %v", err)
	}
}
