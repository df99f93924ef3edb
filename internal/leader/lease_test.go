package leader_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/db"
	"github.com/jenkinds/jenkinds/internal/db/dbtest"
	"github.com/jenkinds/jenkinds/internal/leader"
	"github.com/jenkinds/jenkinds/internal/testkit"
)

// clock is a settable time source whose timers run on real time: the
// lease is dated by a clock that only the test moves, while Run's loop
// turns as fast as Renew says.
type clock struct{ *testkit.Clock }

func newClock(start time.Time) *clock { return &clock{testkit.NewClock(start)} }

func (c *clock) AfterFunc(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }

var start = time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)

// cfg is the lease setup of the TryAcquire tests: the clock only moves
// when a test moves it. margin is Renew/2.
var cfg = leader.Config{TTL: time.Minute, Renew: 20 * time.Second}

const margin = 10 * time.Second

// logs collects what leases log, for tests that check transitions.
type logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logs) want(t testing.TB, msgs ...string) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range msgs {
		if !strings.Contains(l.buf.String(), `msg="`+m+`"`) {
			t.Errorf("logs: got %q, want a line %q", l.buf.String(), m)
		}
	}
}

// fixture is one migrated database that replicas open handles on.
type fixture struct {
	ctx  context.Context
	url  string
	logs *logs
}

func setup(t testing.TB, e dbtest.Engine) fixture {
	t.Helper()
	f := fixture{ctx: context.Background(), url: e.URL(t), logs: &logs{}}
	if err := f.open(t).Migrate(f.ctx, leader.Migrations); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return f
}

// open returns a handle of its own, as a replica has.
func (f fixture) open(t testing.TB) *db.DB {
	t.Helper()
	return f.openURL(t, f.url)
}

// openURL is open on the fixture's database at url (f.url, tagged).
func (f fixture) openURL(t testing.TB, url string) *db.DB {
	t.Helper()
	d, err := db.Open(f.ctx, url)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// replica is holder's Lease "dispatch" on a handle of its own.
func (f fixture) replica(t testing.TB, holder string, clk leader.Clock, cfg leader.Config) *leader.Lease {
	t.Helper()
	return f.replicaOn(f.open(t), holder, clk, cfg)
}

func (f fixture) replicaOn(d *db.DB, holder string, clk leader.Clock, cfg leader.Config) *leader.Lease {
	log := slog.New(slog.NewTextHandler(f.logs, nil))
	return leader.New(d, "dispatch", holder, log, clk, cfg)
}

func try(t testing.TB, l *leader.Lease, want bool) {
	t.Helper()
	got, err := l.TryAcquire(context.Background())
	if err != nil {
		t.Fatalf("TryAcquire: %v", err)
	}
	if got != want {
		t.Fatalf("TryAcquire: got %v, want %v", got, want)
	}
}

func wantHeld(t testing.TB, who string, l *leader.Lease, epoch int64, ok bool) {
	t.Helper()
	if e, held := l.Held(); e != epoch || held != ok {
		t.Fatalf("%s.Held(): got (%d, %v), want (%d, %v)", who, e, held, epoch, ok)
	}
}

func wantLeader(t testing.TB, l *leader.Lease, holder string, epoch int64, expires time.Time) {
	t.Helper()
	h, e, exp, err := l.Leader(context.Background())
	if err != nil {
		t.Fatalf("Leader: %v", err)
	}
	if h != holder || e != epoch || !exp.Equal(expires.Truncate(time.Microsecond)) {
		t.Fatalf("Leader: got (%s, %d, %s), want (%s, %d, %s)", h, e, exp, holder, epoch, expires)
	}
}

// forEachEngine runs test in parallel on a fresh database of every engine.
func forEachEngine(t *testing.T, test func(t *testing.T, f fixture)) {
	t.Parallel()
	for _, e := range dbtest.Engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			t.Parallel()
			test(t, setup(t, e))
		})
	}
}

func TestOneHolderAndTakeoverAfterTTL(t *testing.T) {
	forEachEngine(t, func(t *testing.T, f fixture) {
		c := newClock(start)
		a, b := f.replica(t, "a", c, cfg), f.replica(t, "b", c, cfg)
		if _, _, _, err := a.Leader(f.ctx); !errors.Is(err, leader.ErrNoLeader) {
			t.Fatalf("Leader before any term: got %v, want ErrNoLeader", err)
		}

		try(t, a, true)
		try(t, b, false)
		wantHeld(t, "a", a, 1, true)
		wantHeld(t, "b", b, 0, false)
		wantLeader(t, b, "a", 1, start.Add(time.Minute))

		// Renewed halfway, the lease outlives the first TTL.
		c.Advance(cfg.TTL / 2)
		try(t, a, true)
		c.Advance(cfg.TTL / 2)
		try(t, b, false)
		wantHeld(t, "a", a, 1, true)

		// Unrenewed for a TTL, it goes to b in a new term.
		c.Advance(cfg.TTL / 2)
		wantHeld(t, "a", a, 0, false) // past its deadline, without asking the database
		try(t, b, true)
		wantHeld(t, "b", b, 2, true)
		try(t, a, false)
		wantHeld(t, "a", a, 0, false)
		wantLeader(t, a, "b", 2, c.Now().Add(cfg.TTL))
		f.logs.want(t, "leader lease acquired", "leader lease lost")
	})
}

func TestDeadlineIsMarginBeforeExpiry(t *testing.T) {
	forEachEngine(t, func(t *testing.T, f fixture) {
		c := newClock(start)
		a, b := f.replica(t, "a", c, cfg), f.replica(t, "b", c, cfg)
		try(t, a, true)
		c.Advance(cfg.TTL - margin - time.Microsecond)
		wantHeld(t, "a", a, 1, true)
		c.Advance(time.Microsecond)
		wantHeld(t, "a", a, 0, false)
		try(t, b, false) // not expired yet: nobody holds it for the margin

		// Renewed after its deadline, the lease is a new term.
		try(t, a, true)
		wantHeld(t, "a", a, 2, true)
	})
}

func TestReleaseHandsOverAtOnce(t *testing.T) {
	forEachEngine(t, func(t *testing.T, f fixture) {
		c := newClock(start)
		a, b := f.replica(t, "a", c, cfg), f.replica(t, "b", c, cfg)
		try(t, a, true)
		if err := a.Release(f.ctx); err != nil {
			t.Fatalf("Release: %v", err)
		}
		wantHeld(t, "a", a, 0, false)
		try(t, b, true)
		wantHeld(t, "b", b, 2, true)

		// Releasing what another holds changes nothing.
		if err := a.Release(f.ctx); err != nil {
			t.Fatalf("Release by a non-holder: %v", err)
		}
		try(t, a, false)
		wantLeader(t, a, "b", 2, start.Add(cfg.TTL))
		f.logs.want(t, "leader lease released")
	})
}

// TestConcurrentAcquire has 8 replicas race for the lease, term after
// term: exactly one wins each time, with the next epoch.
func TestConcurrentAcquire(t *testing.T) {
	forEachEngine(t, func(t *testing.T, f fixture) {
		const replicas, terms = 8, 5
		c := newClock(start)
		var leases []*leader.Lease
		for i := range replicas {
			leases = append(leases, f.replica(t, fmt.Sprintf("r%d", i), c, cfg))
		}
		for term := int64(1); term <= terms; term++ {
			var (
				wg      sync.WaitGroup
				mu      sync.Mutex
				winners []int
				begin   = make(chan struct{})
			)
			for i, l := range leases {
				wg.Go(func() {
					<-begin
					ok, err := l.TryAcquire(f.ctx)
					if err != nil {
						t.Errorf("r%d: TryAcquire: %v", i, err)
					}
					if ok {
						mu.Lock()
						winners = append(winners, i)
						mu.Unlock()
					}
				})
			}
			close(begin)
			wg.Wait()
			if len(winners) != 1 {
				t.Fatalf("term %d: winners %v, want exactly one", term, winners)
			}
			wantHeld(t, "the winner", leases[winners[0]], term, true)
			for i, l := range leases {
				if _, ok := l.Held(); ok && i != winners[0] {
					t.Errorf("term %d: r%d holds the lease beside the winner r%d", term, i, winners[0])
				}
			}
			c.Advance(cfg.TTL)
		}
	})
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cfg  leader.Config
		want string // substring of the error; "" for none
	}{
		{leader.Config{}, ""},
		{leader.Config{TTL: time.Second}, ""},
		{leader.Config{TTL: time.Second, Renew: 500 * time.Millisecond}, ""},
		{leader.Config{TTL: -time.Second}, "TTL -1s: must be at least 1ms"},
		{leader.Config{TTL: time.Microsecond}, "TTL 1µs: must be at least 1ms"},
		{leader.Config{Renew: -time.Second}, "Renew -1s: must not be negative"},
		{leader.Config{Renew: 10 * time.Second}, "Renew 10s: must be at most TTL/2 (7.5s)"},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%+v.Validate(): got %v, want nil", tt.cfg, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%+v.Validate(): got %v, want an error containing %q", tt.cfg, err, tt.want)
		}
	}
}

func TestDefaultHolder(t *testing.T) {
	t.Parallel()
	a, b := leader.DefaultHolder(), leader.DefaultHolder()
	host, _ := os.Hostname()
	if a == b || !strings.HasPrefix(a, fmt.Sprintf("%s-%d-", host, os.Getpid())) {
		t.Errorf("DefaultHolder(): got %q and %q, want two distinct %s-%d-random", a, b, host, os.Getpid())
	}
}
