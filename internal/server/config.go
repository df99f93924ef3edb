// Package server wires jenkinds together: storage, secrets, the registry,
// the runtime pool, the health monitor, the admin API and metrics. It holds
// no logic of its own beyond adapting one package to another.
package server

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"time"

	"github.com/jenkinds/jenkinds/internal/dispatch"
	"github.com/jenkinds/jenkinds/internal/fleet"
	"github.com/jenkinds/jenkinds/internal/health"
	"github.com/jenkinds/jenkinds/internal/jobsync"
	"github.com/jenkinds/jenkinds/internal/leader"
	"github.com/jenkinds/jenkinds/internal/proxy"
	"github.com/jenkinds/jenkinds/internal/workerapi"
)

// Config is the configuration of `jenkinds serve`.
type Config struct {
	// Listen is the address of the admin API and /metrics. Default:
	// "127.0.0.1:7070".
	Listen string
	// DataDir holds the SQLite database, the secret key file and the admin
	// token file. Default: "./jenkinds-data".
	DataDir string
	// Database is the database URL: a SQLite path or sqlite:// URL, or
	// postgres://… for PostgreSQL. Default: "<DataDir>/jenkinds.db".
	Database string
	// Health tunes the health monitor. Defaults: see health.Config
	// (interval 30s, timeout 5s, unhealthy re-probe 5s, rise 2, fall 2).
	Health health.Config
	// SyncInterval is how often the registry is re-read from the database
	// in any case. On PostgreSQL changes made through other replicas
	// arrive at once by notification; this is the fallback for one that
	// was missed. Default: 5s.
	SyncInterval time.Duration
	// ShutdownTimeout bounds the graceful shutdown. Default: 15s.
	ShutdownTimeout time.Duration

	// ProxyListen is the front door's address; "" runs no front door.
	// Default: "".
	ProxyListen string
	// Proxy tunes the front door. Defaults: see proxy.Config.
	Proxy proxy.Config
	// TLSCert and TLSKey serve the front door over TLS. Default: plain HTTP.
	TLSCert, TLSKey string
	// MaxHeaderBytes bounds request headers on the front door. Default: 64 KiB.
	MaxHeaderBytes int
	// FleetMaxStaleness is how old a controller's answer may be when the
	// front door serves the one-Jenkins API from memory
	// (--fleet-max-staleness). Default: 1s.
	FleetMaxStaleness time.Duration
	// Fleet tunes the front door's one-Jenkins API (--fleet-max-form-bytes).
	// Defaults: see fleet.Config.
	Fleet fleet.Config

	// Workers tunes the worker API of build clusters (lease TTL, long-poll
	// cap, token rules). Defaults: see workerapi.Config (lease 60s, wait
	// at most 50s, tokens at most 10m, leeway 30s).
	Workers workerapi.Config
	// Dispatch tunes the durable builds on Jenkins controllers (attempt
	// limit, follow interval, re-dispatch delay). Defaults: see
	// dispatch.Config (3 attempts, follow every 1s, re-dispatch after 30s
	// unhealthy).
	Dispatch dispatch.Config
	// JobSync tunes the job definitions written to every controller
	// (retries, drift check every 5m). Defaults: see jobsync.Config.
	JobSync jobsync.Config
	// Pprof serves Go's profiles at /debug/pprof/ on the admin listener,
	// behind the admin token. Default: off.
	Pprof bool

	// Leader tunes the lease that picks the one replica which places and
	// follows builds. Defaults: see leader.Config (TTL 15s, renew every 5s).
	Leader leader.Config

	// QueueRescueInterval is how often expired leases go back to the
	// queue: a dead worker's job waits at most its lease TTL plus this.
	// Default: 15s.
	QueueRescueInterval time.Duration
}

// Default returns the configuration with every default set.
func Default() Config {
	return Config{Listen: "127.0.0.1:7070", DataDir: "./jenkinds-data"}
}

// withDefaults fills what is unset.
func (c Config) withDefaults() Config {
	d := Default()
	if c.Listen == "" {
		c.Listen = d.Listen
	}
	if c.DataDir == "" {
		c.DataDir = d.DataDir
	}
	if c.Database == "" {
		c.Database = filepath.Join(c.DataDir, "jenkinds.db")
	}
	if c.SyncInterval <= 0 {
		c.SyncInterval = 5 * time.Second
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 15 * time.Second
	}
	if c.MaxHeaderBytes <= 0 {
		c.MaxHeaderBytes = 64 << 10
	}
	return c
}

// Validate reports the first configuration error, naming the setting and
// the rule.
func (c Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("listen %q: must be host:port, e.g. 127.0.0.1:7070", c.Listen)
	}
	if strings.TrimSpace(c.DataDir) == "" {
		return fmt.Errorf("data-dir: must not be empty")
	}
	if c.ProxyListen != "" {
		if _, _, err := net.SplitHostPort(c.ProxyListen); err != nil {
			return fmt.Errorf("proxy-listen %q: must be host:port, e.g. :8080", c.ProxyListen)
		}
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return fmt.Errorf("tls-cert and tls-key: give both or neither")
	}
	if err := c.Proxy.Validate(); err != nil {
		return err
	}
	if err := c.Dispatch.Validate(); err != nil {
		return fmt.Errorf("builds: %w", err)
	}
	if err := c.Leader.Validate(); err != nil {
		return fmt.Errorf("leader lease: %w", err)
	}
	if err := c.JobSync.Validate(); err != nil {
		return fmt.Errorf("job sync: %w", err)
	}
	if err := c.Workers.Validate(); err != nil {
		return err
	}
	if c.QueueRescueInterval < 0 {
		return fmt.Errorf("queue rescue interval %s: must not be negative", c.QueueRescueInterval)
	}
	h := c.Health
	switch {
	case h.Interval < 0 || (h.Interval > 0 && h.Interval < 100*time.Millisecond):
		return fmt.Errorf("health interval %s: must be at least 100ms", h.Interval)
	case h.Timeout < 0 || (h.Timeout > 0 && h.Timeout < 10*time.Millisecond):
		return fmt.Errorf("health timeout %s: must be at least 10ms", h.Timeout)
	case h.Interval > 0 && h.Timeout > h.Interval:
		return fmt.Errorf("health timeout %s: must not exceed the interval %s", h.Timeout, h.Interval)
	case h.Rise < 0 || h.Fall < 0 || h.Rise > 100 || h.Fall > 100:
		return fmt.Errorf("health rise/fall: must be between 1 and 100")
	}
	return nil
}
