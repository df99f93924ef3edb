package dispatch

import (
	"fmt"
	"time"
)

// Config tunes the dispatcher. The zero value of a field means its default.
type Config struct {
	// MaxAttempts bounds the attempts of a build that reached a controller
	// (refused and merged triggers do not count); a build whose last
	// attempt is lost fails. Default: 3.
	MaxAttempts int
	// FollowInterval is the time between two follow rounds of a controller.
	// Default: 1s.
	FollowInterval time.Duration
	// BusyFollowInterval is the time between two follow rounds of a
	// controller full of jenkinds' builds (at its build capacity) while
	// builds of its cluster wait: a build's end is then seen, and its
	// executor given the next build, that much sooner. Default:
	// FollowInterval/10 (100ms).
	BusyFollowInterval time.Duration
	// InventoryInterval is how often each controller's job inventory is
	// read (one request per controller). Default: 30s.
	InventoryInterval time.Duration
	// PlaceInterval is how often the placer looks for builds that became
	// due (delay, back-off) without being woken. Default: 1s.
	PlaceInterval time.Duration
	// RequestTimeout bounds every request to a controller. Default: 10s.
	RequestTimeout time.Duration
	// RedispatchAfter is how long a controller must stay unhealthy (or
	// unregistered) before its unfinished builds are placed again. A
	// restart re-dispatches at once what it lost. Default: 30s.
	RedispatchAfter time.Duration
	// AmbiguousGrace is how long the follower looks for the queue item of a
	// trigger whose answer was lost, on a controller that answers, before
	// it places the build again. Default: 30s.
	AmbiguousGrace time.Duration
	// FenceWindow is how long a superseded attempt whose queue item was
	// never known is looked for, to be stopped, before it is given up as
	// gone. Default: 5m (Jenkins keeps left queue items as long).
	FenceWindow time.Duration
	// RetryBase and RetryMax bound the back-off before a build whose
	// trigger was refused is placed again: RetryBase·2^(n-1), at most
	// RetryMax. Default: 500ms and 30s.
	RetryBase time.Duration
	RetryMax  time.Duration
	// Cooldown keeps a controller that refused a trigger as unavailable
	// out of placement for this long. Default: 5s.
	Cooldown time.Duration
	// BatchSize is how many due builds the placer takes per round.
	// Default: 256.
	BatchSize int
	// Triggers bounds the triggers in flight, all controllers together.
	// Default: 64.
	Triggers int
	// Rounds bounds the follow rounds running at once. Default: 16.
	Rounds int
	// Window bounds how many of a job's builds one follow round reads;
	// builds older than that are asked for one by one. Default: 1000.
	Window int
	// Strategy returns the balance strategy of a cluster ("" = least-load).
	// Default: least-load for every cluster.
	Strategy func(cluster string) string
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	defInt := func(n *int, v int) {
		if *n <= 0 {
			*n = v
		}
	}
	defInt(&c.MaxAttempts, 3)
	def(&c.FollowInterval, time.Second)
	def(&c.BusyFollowInterval, min(c.FollowInterval, max(c.FollowInterval/10, time.Millisecond)))
	def(&c.InventoryInterval, 30*time.Second)
	def(&c.PlaceInterval, time.Second)
	def(&c.RequestTimeout, 10*time.Second)
	def(&c.RedispatchAfter, 30*time.Second)
	def(&c.AmbiguousGrace, 30*time.Second)
	def(&c.FenceWindow, 5*time.Minute)
	def(&c.RetryBase, 500*time.Millisecond)
	def(&c.RetryMax, 30*time.Second)
	def(&c.Cooldown, 5*time.Second)
	defInt(&c.BatchSize, 256)
	defInt(&c.Triggers, 64)
	defInt(&c.Rounds, 16)
	defInt(&c.Window, 1000)
	if c.Strategy == nil {
		c.Strategy = func(string) string { return "" }
	}
	return c
}

// Validate checks the configuration after defaults.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.MaxAttempts > 100:
		return fmt.Errorf("MaxAttempts %d: must be between 1 and 100", c.MaxAttempts)
	case c.RetryMax < c.RetryBase:
		return fmt.Errorf("RetryMax %s: must not be below RetryBase %s", c.RetryMax, c.RetryBase)
	case c.BusyFollowInterval > c.FollowInterval:
		return fmt.Errorf("BusyFollowInterval %s: must not be above FollowInterval %s", c.BusyFollowInterval, c.FollowInterval)
	case c.Window < 100:
		return fmt.Errorf("Window %d: must be at least 100 (Jenkins pages builds by 100)", c.Window)
	}
	return nil
}

// retryDelay is the back-off before the n-th re-placement (n ≥ 1) of a
// refused build: a pure function of the attempt count.
func (c Config) retryDelay(n int) time.Duration {
	d := c.RetryBase
	for i := 1; i < n && d < c.RetryMax; i++ {
		d *= 2
	}
	return min(d, c.RetryMax)
}
