package jobsync

import (
	"fmt"
	"time"
)

// Config tunes job synchronisation. The zero value of a field means its
// default.
type Config struct {
	// RequestTimeout bounds every request to a controller, the front
	// door's writes included: a controller that has not answered by then
	// gets the write as a pending retry. Default: 10s.
	RequestTimeout time.Duration
	// HedgeAfter is how long a config.xml read waits for one controller
	// before it asks the next one too; the first answer wins. Default:
	// 500ms; negative: never (each is waited for up to RequestTimeout).
	HedgeAfter time.Duration
	// PollInterval is how often Run looks for pending writes that became
	// due. Default: 1s.
	PollInterval time.Duration
	// RetryBase and RetryMax bound the back-off of a pending write after
	// its n-th failed send: RetryBase·2^(n-1), at most RetryMax. Default:
	// 1s and 5m.
	RetryBase time.Duration
	RetryMax  time.Duration
	// Concurrency bounds the pending writes sent at once by one retry
	// round, and the config.xml reads in flight during one drift check.
	// Default: 8.
	Concurrency int
	// BatchSize is how many due pending writes one retry round takes.
	// Default: 256.
	BatchSize int
	// DriftInterval is the time between two drift checks of every
	// cluster by Run; negative disables them (GET …/drift still checks on
	// demand). Default: 5m.
	DriftInterval time.Duration
	// ForgetAfter is how long the pending writes of a controller the pool
	// does not know are kept: long enough for a replica that learns of a
	// new controller later than another, short enough that a deleted
	// controller's writes do not linger. Default: 10m.
	ForgetAfter time.Duration
	// MaxConfigBytes bounds a submitted config.xml; a larger body is
	// refused with 413. Default: 10 MiB.
	MaxConfigBytes int64
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.RequestTimeout, 10*time.Second)
	def(&c.HedgeAfter, 500*time.Millisecond)
	def(&c.PollInterval, time.Second)
	def(&c.RetryBase, time.Second)
	def(&c.RetryMax, 5*time.Minute)
	def(&c.DriftInterval, 5*time.Minute)
	def(&c.ForgetAfter, 10*time.Minute)
	if c.Concurrency == 0 {
		c.Concurrency = 8
	}
	if c.BatchSize == 0 {
		c.BatchSize = 256
	}
	if c.MaxConfigBytes == 0 {
		c.MaxConfigBytes = 10 << 20
	}
	return c
}

// Validate checks the configuration after defaults.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.RequestTimeout < 0:
		return fmt.Errorf("RequestTimeout %s: must be positive", c.RequestTimeout)
	case c.PollInterval < 0:
		return fmt.Errorf("PollInterval %s: must be positive", c.PollInterval)
	case c.RetryBase < 0:
		return fmt.Errorf("RetryBase %s: must be positive", c.RetryBase)
	case c.RetryMax < c.RetryBase:
		return fmt.Errorf("RetryMax %s: must not be below RetryBase %s", c.RetryMax, c.RetryBase)
	case c.Concurrency < 0 || c.Concurrency > 256:
		return fmt.Errorf("Concurrency %d: must be between 1 and 256", c.Concurrency)
	case c.ForgetAfter < 0:
		return fmt.Errorf("ForgetAfter %s: must be positive", c.ForgetAfter)
	case c.BatchSize < 0:
		return fmt.Errorf("BatchSize %d: must be positive", c.BatchSize)
	case c.MaxConfigBytes < 0:
		return fmt.Errorf("MaxConfigBytes %d: must be positive", c.MaxConfigBytes)
	}
	return nil
}

// retryDelay is the back-off after the n-th failed send (n ≥ 1) of a
// pending write: a pure function of the attempt count.
func (c Config) retryDelay(n int) time.Duration {
	d := c.RetryBase
	for i := 1; i < n && d < c.RetryMax; i++ {
		d *= 2
	}
	return min(d, c.RetryMax)
}

// lease is how long a retry round holds a pending write it sends: no other
// round (of this or another replica) takes it meanwhile. A retry may send
// two requests (create, then update when the job already exists).
func (c Config) lease() time.Duration { return 3*c.RequestTimeout + 5*time.Second }
