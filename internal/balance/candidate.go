package balance

import (
	"database/sql/driver"
	"fmt"
	"math/bits"
	"strings"
)

// Health is the last known health of a controller, as the health checker
// reported it. The zero value is Unknown.
type Health uint8

const (
	// Unknown means the controller has not been checked yet. It is treated
	// like Degraded: eligible, but only when no Healthy candidate is.
	Unknown Health = iota
	// Healthy means the last check passed.
	Healthy
	// Degraded means the controller answers but something is wrong (slow,
	// partial failures). Eligible only when no Healthy candidate is.
	Degraded
	// Unhealthy means the controller failed its checks. Never eligible.
	Unhealthy
)

// String returns the lower-case name used in configuration, logs and the API.
func (h Health) String() string {
	switch h {
	case Unknown:
		return "unknown"
	case Healthy:
		return "healthy"
	case Degraded:
		return "degraded"
	case Unhealthy:
		return "unhealthy"
	}
	return fmt.Sprintf("health(%d)", uint8(h))
}

// ParseHealth reads the lower-case name String writes.
func ParseHealth(s string) (Health, error) {
	for h := Unknown; h <= Unhealthy; h++ {
		if h.String() == s {
			return h, nil
		}
	}
	return Unknown, fmt.Errorf("health %q: want unknown, healthy, degraded or unhealthy", s)
}

// MarshalText writes the name (JSON, logs).
func (h Health) MarshalText() ([]byte, error) {
	if h > Unhealthy {
		return nil, fmt.Errorf("marshal %s: not a health value", h)
	}
	return []byte(h.String()), nil
}

// UnmarshalText reads the name.
func (h *Health) UnmarshalText(b []byte) error {
	v, err := ParseHealth(string(b))
	if err != nil {
		return err
	}
	*h = v
	return nil
}

// Value stores the name in SQL (the controllers table's health_status).
func (h Health) Value() (driver.Value, error) {
	b, err := h.MarshalText()
	return string(b), err
}

// Scan reads the name from SQL; NULL is Unknown.
func (h *Health) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*h = Unknown
		return nil
	case string:
		return h.UnmarshalText([]byte(v))
	case []byte:
		return h.UnmarshalText(v)
	}
	return fmt.Errorf("scan health: unsupported type %T", src)
}

// Candidate is one controller as a policy sees it: a read-only snapshot the
// caller builds from the controller's runtime record. Policies never keep a
// pointer to it.
type Candidate struct {
	// ID identifies the controller. Weighted keys its state by it, Failover
	// excludes by it and PrimaryBackup breaks final ties with it.
	ID int64
	// Priority is the operator's preference, 0–100. Higher wins ties in
	// LeastLoad and PrimaryBackup and is the weight in Weighted.
	Priority int
	// IsPrimary marks the primary of a primary/backup pool.
	IsPrimary bool
	// Active is the operator's switch; inactive controllers get no traffic.
	Active bool
	// Draining controllers finish what they run but get nothing new.
	Draining bool
	// Health is the last known health.
	Health Health
	// Load is the current load. The caller computes it, for example running
	// builds + queued items + in-flight requests (CloudBees' measure plus our
	// own in-flight count). A negative Load is treated as 0.
	Load int
	// MaxConnections is the load at which the controller is full. A
	// controller with Load >= MaxConnections is not eligible, so a value of
	// 0 or less means "never eligible"; configuration supplies the default.
	MaxConnections int
	// Excluded, when not empty, is why the caller rules the candidate out
	// for this pick although nothing above does ("no job deploy", "cooling
	// down after a refused trigger"). Explain reports it.
	Excluded string
}

// Eligible reports whether c may receive new work at all: it is active, not
// draining, not Unhealthy and below MaxConnections. An invalid Health value
// (above Unhealthy) is not eligible either. Eligible says nothing about
// preference: a Degraded or Unknown candidate is eligible, but every policy
// passes it over while any Healthy eligible candidate exists.
func (c *Candidate) Eligible() bool {
	return c.Excluded == "" && c.Active && !c.Draining && c.Health < Unhealthy && c.Load < c.MaxConnections && c.MaxConnections > 0
}

// Tiers order eligible candidates by health; a lower tier always wins.
const (
	tierHealthy  = 0 // eligible and Healthy
	tierDegraded = 1 // eligible and Degraded or Unknown
	tierNone     = 2 // not eligible
)

// tier places c in its tier.
func (c *Candidate) tier() int {
	if !c.Eligible() {
		return tierNone
	}
	if c.Health == Healthy {
		return tierHealthy
	}
	return tierDegraded
}

// cmpRatio compares Load/MaxConnections of two eligible candidates without
// division: a.Load*b.Max against b.Load*a.Max as exact 128-bit products, so
// no value of int can overflow it. It returns -1 when a is less loaded.
// Both must be eligible (0 <= Load < MaxConnections after clamping).
func cmpRatio(a, b *Candidate) int {
	ah, al := bits.Mul64(uint64(max(a.Load, 0)), uint64(b.MaxConnections))
	bh, bl := bits.Mul64(uint64(max(b.Load, 0)), uint64(a.MaxConnections))
	switch {
	case ah < bh || ah == bh && al < bl:
		return -1
	case ah == bh && al == bl:
		return 0
	}
	return 1
}

// Explain says why cands has no eligible candidate, for the body of a 503:
// "3 controllers: 2 unhealthy, 1 draining". Each candidate is counted once,
// under the first reason that applies in the order inactive, draining,
// unhealthy, excluded (by its Excluded text), at capacity. Eligible
// candidates, if any, are counted first.
func Explain(cands []Candidate) string {
	if len(cands) == 0 {
		return "no controllers"
	}
	var eligible, inactive, draining, unhealthy, full int
	var excluded []string // distinct reasons, in order
	counts := map[string]int{}
	for i := range cands {
		c := &cands[i]
		switch {
		case c.Eligible():
			eligible++
		case !c.Active:
			inactive++
		case c.Draining:
			draining++
		case c.Health >= Unhealthy:
			unhealthy++
		case c.Excluded != "":
			if counts[c.Excluded] == 0 {
				excluded = append(excluded, c.Excluded)
			}
			counts[c.Excluded]++
		default:
			full++
		}
	}
	var b strings.Builder
	if len(cands) == 1 {
		b.WriteString("1 controller:")
	} else {
		fmt.Fprintf(&b, "%d controllers:", len(cands))
	}
	sep := " "
	for _, part := range [...]struct {
		n    int
		what string
	}{
		{eligible, "eligible"},
		{unhealthy, "unhealthy"},
		{draining, "draining"},
		{inactive, "inactive"},
		{full, "at capacity"},
	} {
		if part.n > 0 {
			fmt.Fprintf(&b, "%s%d %s", sep, part.n, part.what)
			sep = ", "
		}
		if part.what == "inactive" {
			for _, why := range excluded {
				fmt.Fprintf(&b, "%s%d %s", sep, counts[why], why)
				sep = ", "
			}
		}
	}
	return b.String()
}
