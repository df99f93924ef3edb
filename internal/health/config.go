package health

import (
	"fmt"
	"time"
)

// Config tunes the health authority. The zero value of a field means its
// default.
type Config struct {
	// Interval is how often a reachable controller is probed
	// (HEALTH_CHECK_INTERVAL). Default: 30s.
	Interval time.Duration
	// Timeout bounds one probe (HEALTH_CHECK_TIMEOUT). Default: 5s.
	Timeout time.Duration
	// Patience is how long a probe that timed out still waits for its
	// answer in the background (one at a time per controller): the probe
	// has failed, but an answer that comes late proves the controller
	// slow, not gone. Default: 60s (0 or less than Timeout: no patience).
	Patience time.Duration
	// UnhealthyInterval is how often an unhealthy controller is probed.
	// Default: 5s, or Interval if that is shorter.
	UnhealthyInterval time.Duration
	// Rise is how many good probes in a row bring an unhealthy controller
	// back. Default: 2.
	Rise int
	// Fall is how many failed probes in a row make a controller unhealthy.
	// Default: 2.
	Fall int
	// Slow is the probe latency above which a controller is degraded.
	// Default: half the Timeout.
	Slow time.Duration
	// Concurrency bounds probes in flight. Default: 64.
	Concurrency int
	// PassiveFailures is how many failed requests (the front door's,
	// jenkinds' own) within PassiveWindow make a controller unhealthy
	// between probes. Default: 3.
	PassiveFailures int
	// PassiveWindow is the window PassiveFailures are counted in.
	// Default: 10s.
	PassiveWindow time.Duration
	// StarvedLag is how late a timer of jenkinds' own must fire for
	// jenkinds to count itself starved (CPU, a stalled VM): then a probe
	// that timed out proves nothing, and silence is measured only from
	// the end of the starvation. Default: a quarter of the Timeout,
	// between 50ms and 250ms.
	StarvedLag time.Duration
	// LagTick is how often the starvation timer fires. Default: 20ms.
	LagTick time.Duration
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.Interval, 30*time.Second)
	def(&c.Timeout, 5*time.Second)
	def(&c.Patience, 60*time.Second)
	def(&c.UnhealthyInterval, 5*time.Second)
	c.UnhealthyInterval = min(c.UnhealthyInterval, c.Interval)
	if c.Rise <= 0 {
		c.Rise = 2
	}
	if c.Fall <= 0 {
		c.Fall = 2
	}
	def(&c.Slow, c.Timeout/2)
	if c.Concurrency <= 0 {
		c.Concurrency = 64
	}
	if c.PassiveFailures <= 0 {
		c.PassiveFailures = 3
	}
	def(&c.PassiveWindow, 10*time.Second)
	def(&c.StarvedLag, min(max(c.Timeout/4, 50*time.Millisecond), 250*time.Millisecond))
	def(&c.LagTick, 20*time.Millisecond)
	return c
}

// Validate reports the first field that breaks its rule, after defaults.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.Slow > c.Timeout:
		return fmt.Errorf("health Slow %s: must not exceed the Timeout %s", c.Slow, c.Timeout)
	case c.PassiveFailures > 1000:
		return fmt.Errorf("passive failures %d: must be between 1 and 1000", c.PassiveFailures)
	case c.StarvedLag < c.LagTick:
		return fmt.Errorf("health StarvedLag %s: must be at least LagTick %s", c.StarvedLag, c.LagTick)
	}
	return nil
}
