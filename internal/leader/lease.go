package leader

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/jenkinds/jenkinds/internal/db"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Migrations is this package's schema, for db.Migrate.
var Migrations = db.Migrations{Package: "leader", FS: migrationFS, Dir: "migrations"}

var (
	// ErrNoLeader: no replica has ever taken the lease (Leader).
	ErrNoLeader = errors.New("no leader")
	// ErrLost is the cause (context.Cause) of the cancellation of Run's
	// work context when the term ends without Run's context ending: the
	// lease was taken over, a renewal failed or came too late.
	ErrLost = errors.New("leader lease lost")
	// ErrStale: Term.Check refused a write because its term is over: the
	// lease was taken over, released, or its deadline passed. It wraps
	// ErrLost.
	ErrStale = fmt.Errorf("stale leader term: %w", ErrLost)
)

// Clock is the time a Lease dates the lease by and waits on: System, or
// a test's settable clock whose timers fire when the test moves it.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in a goroutine of its own once d has passed on
	// this clock, unless stop is called first; stop reports whether it
	// stopped the call (time.AfterFunc's contract).
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

// System is the real clock: time.Now and time.AfterFunc.
var System Clock = systemClock{}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) AfterFunc(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }

// Config tunes a Lease. The zero value of a field means its default.
type Config struct {
	// TTL is how long the lease lasts after it is taken or renewed: how
	// long the other replicas wait before they take over from a leader
	// that died without releasing it. Default: 15s.
	TTL time.Duration
	// Renew is how often the leader renews the lease and the others try
	// to take it. Its half is the margin: the leader gives the lease up
	// (cancels the work) that long before it would expire. At most TTL/2.
	// Default: TTL/3.
	Renew time.Duration
}

func (c Config) withDefaults() Config {
	if c.TTL == 0 {
		c.TTL = 15 * time.Second
	}
	if c.Renew == 0 {
		c.Renew = c.TTL / 3
	}
	return c
}

// Validate reports the first field of c, with defaults applied, that
// breaks its rule.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.TTL < time.Millisecond:
		return fmt.Errorf("leader lease TTL %s: must be at least 1ms (0 for the default, 15s)", c.TTL)
	case c.Renew < 0:
		return fmt.Errorf("leader lease Renew %s: must not be negative (0 for the default, TTL/3)", c.Renew)
	case c.Renew > c.TTL/2:
		return fmt.Errorf("leader lease Renew %s: must be at most TTL/2 (%s), so that the lease is renewed before the work is stopped", c.Renew, c.TTL/2)
	}
	return nil
}

// Lease is one replica's handle on the lease called name. Run is the way
// to use it; TryAcquire and Release are the steps Run takes, for callers
// (and tests) that drive the lease themselves. Do not mix the two on one
// Lease. The methods are safe for concurrent use.
type Lease struct {
	db     *db.DB
	name   string
	holder string
	log    *slog.Logger
	clk    Clock
	ttl    time.Duration
	renew  time.Duration

	step sync.Mutex // serialises TryAcquire and Release

	mu       sync.Mutex
	epoch    int64     // of the current term; 0 when none
	deadline time.Time // the current term ends then unless renewed
	seen     time.Time // when the lease another holds expires, as last read; zero when unknown
}

// New returns the handle of holder on the lease called name in d, which
// must be migrated with Migrations. holder must be unique among the
// replicas (DefaultHolder is). clock dates the lease and times Run: the
// replicas' clocks must agree within the margin, Renew/2 (see the package
// doc). A nil log discards, a nil clock is System. New panics if name or
// holder is empty or cfg is not valid (Config.Validate): those are
// programming errors.
func New(d *db.DB, name, holder string, log *slog.Logger, clock Clock, cfg Config) *Lease {
	if err := cfg.Validate(); err != nil {
		panic("leader.New: " + err.Error())
	}
	if name == "" || holder == "" {
		panic("leader.New: name and holder must not be empty")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if clock == nil {
		clock = System
	}
	cfg = cfg.withDefaults()
	return &Lease{db: d, name: name, holder: holder, log: log, clk: clock, ttl: cfg.TTL, renew: cfg.Renew}
}

// DefaultHolder names this process: hostname-pid-random, so that two
// processes never share a name, even on one host or after a restart.
func DefaultHolder() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	var b [4]byte
	rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// now reads the lease's clock.
func (l *Lease) now() time.Time { return l.clk.Now() }

// clock is now as the database keeps it: UTC, to the microsecond.
func (l *Lease) clock() time.Time { return l.now().UTC().Truncate(time.Microsecond) }

// margin is how long before the lease expires its holder gives it up.
func (l *Lease) margin() time.Duration { return l.renew / 2 }

// acquireSQL takes the lease if it is free (no row, or expired) or renews
// it if holder holds it, in one statement, so the database serialises
// competing replicas on the row: whatever the interleaving, one wins. SET
// reads the row as it was: the epoch is kept only when the statement
// continues the caller's own live term, and goes up by one otherwise. The
// same text runs on both engines.
const acquireSQL = `INSERT INTO leader_leases (name, holder, epoch, expires_at) VALUES (?, ?, 1, ?)
	ON CONFLICT (name) DO UPDATE SET
		holder = excluded.holder,
		expires_at = excluded.expires_at,
		epoch = CASE WHEN leader_leases.holder = excluded.holder AND leader_leases.epoch = ? AND leader_leases.expires_at > ?
			THEN leader_leases.epoch ELSE leader_leases.epoch + 1 END
	WHERE leader_leases.holder = excluded.holder OR leader_leases.expires_at <= ?
	RETURNING epoch`

// TryAcquire takes the lease if it is free, or renews it if this Lease
// holds it, and reports whether it holds it now. A term whose deadline
// passed before the call is over: taking the lease again starts a new
// term, with a new epoch. On an error the outcome is unknown and the
// current term, if any, is left as it was: it still ends at its deadline.
// When another replica holds the lease, TryAcquire also reads when that
// lease expires, so that Run tries again at that moment.
func (l *Lease) TryAcquire(ctx context.Context) (bool, error) {
	l.step.Lock()
	defer l.step.Unlock()
	now := l.clock() // read before the statement: the lease never outlives what we believe
	l.mu.Lock()
	if l.epoch != 0 && !now.Before(l.deadline) {
		l.endLocked("deadline passed before renewal", nil)
	}
	mine := l.epoch
	l.mu.Unlock()

	var epoch int64
	err := l.db.QueryRowContext(ctx, l.db.Rebind(acquireSQL),
		l.name, l.holder, now.Add(l.ttl), mine, now, now).Scan(&epoch)
	var seen db.NullTime
	if errors.Is(err, sql.ErrNoRows) {
		// Another holds it: read until when. A failed read only means Run
		// tries again after a renewal interval, as it would without it.
		_ = l.db.QueryRowContext(ctx, l.db.Rebind(`SELECT expires_at FROM leader_leases WHERE name = ?`), l.name).Scan(&seen)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seen = seen.Time
	switch {
	case errors.Is(err, sql.ErrNoRows):
		l.endLocked("another replica holds it", nil)
		return false, nil
	case err != nil:
		return false, fmt.Errorf("acquire leader lease %s: %w", l.name, err)
	}
	if epoch != l.epoch {
		l.endLocked("a new term began", nil) // only if a term of ours was live
		l.log.InfoContext(ctx, "leader lease acquired", "lease", l.name, "holder", l.holder, "epoch", epoch)
	}
	l.epoch, l.deadline = epoch, now.Add(l.ttl-l.margin())
	return true, nil
}

// endLocked ends the current term, if any, logging why. l.mu is held.
func (l *Lease) endLocked(reason string, err error) {
	if l.epoch == 0 {
		return
	}
	args := []any{"lease", l.name, "holder", l.holder, "epoch", l.epoch, "reason", reason}
	if err != nil {
		args = append(args, "err", err)
	}
	l.log.Warn("leader lease lost", args...)
	l.epoch, l.deadline = 0, time.Time{}
}

// end ends the current term, if any, logging why.
func (l *Lease) end(reason string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.endLocked(reason, err)
}

// Held returns the epoch of the current term and true while this Lease
// holds the lease and its deadline (expiry minus the margin) has not
// passed; 0 and false otherwise.
func (l *Lease) Held() (epoch int64, ok bool) {
	now := l.clock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.epoch == 0 || !now.Before(l.deadline) {
		return 0, false
	}
	return l.epoch, true
}

// Release ends the current term and, if this Lease's holder holds the
// lease in the database, makes it expire at once (TTL in the past, to
// allow for clock skew), so that another replica takes over at its next
// try instead of after the TTL. Releasing a lease held by someone else
// changes nothing. Stop the work of the term first.
func (l *Lease) Release(ctx context.Context) error {
	l.step.Lock()
	defer l.step.Unlock()
	l.mu.Lock()
	l.epoch, l.deadline = 0, time.Time{}
	l.mu.Unlock()
	now := l.clock()
	var epoch int64
	err := l.db.QueryRowContext(ctx, l.db.Rebind(`UPDATE leader_leases SET expires_at = ?
		WHERE name = ? AND holder = ? AND expires_at > ? RETURNING epoch`),
		now.Add(-l.ttl), l.name, l.holder, now).Scan(&epoch)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil // not ours, or expired already
	case err != nil:
		return fmt.Errorf("release leader lease %s: %w", l.name, err)
	}
	l.log.InfoContext(ctx, "leader lease released", "lease", l.name, "holder", l.holder, "epoch", epoch)
	return nil
}

// Leader reads who holds the lease, or held it last, for a status view:
// the holder, its epoch and when the lease expires (or expired: compare
// with now; a released lease expired in the past). ErrNoLeader if no
// replica has ever taken it.
func (l *Lease) Leader(ctx context.Context) (holder string, epoch int64, expires time.Time, err error) {
	err = l.db.QueryRowContext(ctx, l.db.Rebind(`SELECT holder, epoch, expires_at FROM leader_leases WHERE name = ?`),
		l.name).Scan(&holder, &epoch, &expires)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", 0, time.Time{}, fmt.Errorf("read leader lease %s: %w", l.name, ErrNoLeader)
	case err != nil:
		return "", 0, time.Time{}, fmt.Errorf("read leader lease %s: %w", l.name, err)
	}
	return holder, epoch, expires.UTC(), nil
}
