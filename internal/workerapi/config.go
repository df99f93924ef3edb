package workerapi

import (
	"fmt"
	"time"
)

// MaxTokenLifetime is the longest a worker token may live: exp at most
// this long after iat. Config.MaxTokenLifetime may lower it, never raise it.
const MaxTokenLifetime = 10 * time.Minute

// Audience is the aud every worker token must carry.
const Audience = "jenkinds"

// Config tunes the worker API.
type Config struct {
	// LeaseTTL is how long a claimed job stays with its worker without an
	// extend: a worker that dies is noticed this long after its last
	// extend (plus the queue's rescue interval). Workers extend every
	// LeaseTTL/3. Default: 60s.
	LeaseTTL time.Duration
	// MaxWait caps the long poll of a claim (?wait=): a longer wait is cut
	// to it. Keep it under the admin listener's write timeout (60 s).
	// Default: 50s.
	MaxWait time.Duration
	// MaxTokenLifetime is the longest exp-iat accepted, at most
	// MaxTokenLifetime (10 minutes). Default: 10m.
	MaxTokenLifetime time.Duration
	// Leeway is the clock skew tolerated between worker and server on iat,
	// nbf and exp. Default: 30s.
	Leeway time.Duration
	// KeyCacheTTL is how long a cluster's keys and state are cached: a
	// deactivated cluster or a removed key stops authenticating within it.
	// Negative: no cache, every token reads the registry. Default: 5s.
	KeyCacheTTL time.Duration
	// MaxReplayEntries bounds the jti replay cache (about 60 bytes an
	// entry). When it is full of unexpired tokens, new tokens get 503 until
	// some expire. Default: 1,000,000.
	MaxReplayEntries int
	// MaxBodyBytes is the largest request body accepted. Default: 1 MiB.
	MaxBodyBytes int64
	// MaxLogBytes is how much log one attempt of a job may store; what a
	// worker uploads past it is dropped and the answer says truncated.
	// Negative: no limit. It is NewLogStore's to apply. Default: 16 MiB.
	MaxLogBytes int64
}

// Default returns the configuration with every default set.
func Default() Config {
	return Config{
		LeaseTTL:         time.Minute,
		MaxWait:          50 * time.Second,
		MaxTokenLifetime: MaxTokenLifetime,
		Leeway:           30 * time.Second,
		KeyCacheTTL:      5 * time.Second,
		MaxReplayEntries: 1_000_000,
		MaxBodyBytes:     1 << 20,
		MaxLogBytes:      16 << 20,
	}
}

// withDefaults fills the fields left zero.
func (c Config) withDefaults() Config {
	d := Default()
	set := func(dst *time.Duration, def time.Duration) {
		if *dst == 0 {
			*dst = def
		}
	}
	set(&c.LeaseTTL, d.LeaseTTL)
	set(&c.MaxWait, d.MaxWait)
	set(&c.MaxTokenLifetime, d.MaxTokenLifetime)
	set(&c.Leeway, d.Leeway)
	set(&c.KeyCacheTTL, d.KeyCacheTTL)
	if c.MaxReplayEntries == 0 {
		c.MaxReplayEntries = d.MaxReplayEntries
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = d.MaxBodyBytes
	}
	if c.MaxLogBytes == 0 {
		c.MaxLogBytes = d.MaxLogBytes
	}
	return c
}

// Validate reports the first setting out of its range, defaults applied.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.LeaseTTL < 100*time.Millisecond || c.LeaseTTL > time.Hour:
		return fmt.Errorf("worker API LeaseTTL %s: must be between 100ms and 1h", c.LeaseTTL)
	case c.MaxWait < 0 || c.MaxWait > 5*time.Minute:
		return fmt.Errorf("worker API MaxWait %s: must be between 0 and 5m", c.MaxWait)
	case c.MaxTokenLifetime < time.Second || c.MaxTokenLifetime > MaxTokenLifetime:
		return fmt.Errorf("worker API MaxTokenLifetime %s: must be between 1s and %s", c.MaxTokenLifetime, MaxTokenLifetime)
	case c.Leeway < 0 || c.Leeway > 5*time.Minute:
		return fmt.Errorf("worker API Leeway %s: must be between 0 and 5m", c.Leeway)
	case c.KeyCacheTTL > 5*time.Minute:
		return fmt.Errorf("worker API KeyCacheTTL %s: must be at most 5m (negative: no cache)", c.KeyCacheTTL)
	case c.MaxReplayEntries < 1000:
		return fmt.Errorf("worker API MaxReplayEntries %d: must be at least 1000", c.MaxReplayEntries)
	case c.MaxBodyBytes < 1<<10:
		return fmt.Errorf("worker API MaxBodyBytes %d: must be at least 1 KiB", c.MaxBodyBytes)
	}
	return nil
}
