package proxy

import (
	"fmt"
	"time"
)

// Config tunes the front door.
type Config struct {
	// DefaultCluster serves requests whose Host matches no cluster's
	// loadBalancerUrl. Default: "default".
	DefaultCluster string
	// TryBudget is the most controllers one request is sent to. Default: 3.
	TryBudget int
	// HedgeAfter is how long a short idempotent API request waits for
	// response headers before the same request also goes to another
	// controller. Negative disables hedging. Default: 500ms.
	HedgeAfter time.Duration
	// ResponseHeaderTimeout bounds the wait for a controller's response
	// headers on requests that are not hedged. Default: 30s.
	ResponseHeaderTimeout time.Duration
	// DialTimeout bounds connecting to a controller. Default: 2s.
	DialTimeout time.Duration
	// AgentRefresh is how often the agent directory (which controller owns
	// which agent) is re-read. Default: 15s.
	AgentRefresh time.Duration
	// AgentHost is the host the TCP agent pass-through ports listen on and
	// advertise. Default: 127.0.0.1.
	AgentHost string
	// AffinityCookie is the name of jenkinds' sticky-session cookie.
	// Default: "jenkinds_route".
	AffinityCookie string
	// AccessLog logs every request (method, path, status, controller,
	// duration). Default: false.
	AccessLog bool
}

func (c Config) withDefaults() Config {
	if c.DefaultCluster == "" {
		c.DefaultCluster = "default"
	}
	if c.TryBudget <= 0 {
		c.TryBudget = 3
	}
	if c.HedgeAfter == 0 {
		c.HedgeAfter = 500 * time.Millisecond
	}
	if c.ResponseHeaderTimeout <= 0 {
		c.ResponseHeaderTimeout = 30 * time.Second
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = 2 * time.Second
	}
	if c.AgentRefresh <= 0 {
		c.AgentRefresh = 15 * time.Second
	}
	if c.AgentHost == "" {
		c.AgentHost = "127.0.0.1"
	}
	if c.AffinityCookie == "" {
		c.AffinityCookie = "jenkinds_route"
	}
	return c
}

// Validate names the first bad setting.
func (c Config) Validate() error {
	if c.TryBudget > 10 {
		return fmt.Errorf("proxy try budget %d: must be between 1 and 10", c.TryBudget)
	}
	return nil
}
