package balance_test

import (
	"testing"

	"github.com/jenkinds/jenkinds/internal/balance"
)

func TestHealthString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		h    balance.Health
		want string
	}{
		{balance.Unknown, "unknown"},
		{balance.Healthy, "healthy"},
		{balance.Degraded, "degraded"},
		{balance.Unhealthy, "unhealthy"},
		{balance.Health(9), "health(9)"},
	}
	for _, tt := range tests {
		if got := tt.h.String(); got != tt.want {
			t.Errorf("Health(%d).String() = %q, want %q", uint8(tt.h), got, tt.want)
		}
	}
}

func TestEligible(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		c    balance.Candidate
		want bool
	}{
		{"healthy idle", up(1, 0, 0), true},
		{"healthy one below max", up(1, 99, 0), true},
		{"degraded", health(up(1, 0, 0), balance.Degraded), true},
		{"unknown counts as degraded, still eligible", health(up(1, 0, 0), balance.Unknown), true},
		{"negative load", up(1, -3, 0), true},
		{"unhealthy", health(up(1, 0, 0), balance.Unhealthy), false},
		{"invalid health value", health(up(1, 0, 0), balance.Health(7)), false},
		{"inactive", inactive(up(1, 0, 0)), false},
		{"draining", draining(up(1, 0, 0)), false},
		{"at max connections", up(1, 100, 0), false},
		{"above max connections", up(1, 150, 0), false},
		{"max connections 0", size(up(1, 0, 0), 0), false},
		{"negative max connections", size(up(1, -5, 0), -1), false},
		{"excluded by the caller", excluded(up(1, 0, 0), "no job deploy"), false},
	}
	for _, tt := range tests {
		if got := tt.c.Eligible(); got != tt.want {
			t.Errorf("%s: Eligible() = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestExplain(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		cands []balance.Candidate
		want  string
	}{
		{"nil", nil, "no controllers"},
		{"one unhealthy", []balance.Candidate{health(up(1, 0, 0), balance.Unhealthy)}, "1 controller: 1 unhealthy"},
		{
			"unhealthy and draining",
			[]balance.Candidate{
				health(up(1, 0, 0), balance.Unhealthy),
				draining(up(2, 0, 0)),
				health(up(3, 0, 0), balance.Unhealthy),
			},
			"3 controllers: 2 unhealthy, 1 draining",
		},
		{
			"every reason, each candidate counted once",
			[]balance.Candidate{
				inactive(draining(health(up(1, 0, 0), balance.Unhealthy))), // inactive wins
				draining(health(up(2, 100, 0), balance.Unhealthy)),         // draining wins
				health(up(3, 100, 0), balance.Unhealthy),                   // unhealthy wins
				up(4, 100, 0),
				size(up(5, 0, 0), 0),
				health(up(6, 0, 0), balance.Health(9)),
			},
			"6 controllers: 2 unhealthy, 1 draining, 1 inactive, 2 at capacity",
		},
		{
			"excluded by the caller, by reason",
			[]balance.Candidate{excluded(up(1, 0, 0), "no job deploy"), inactive(up(2, 0, 0)), excluded(up(3, 0, 0), "no job deploy"),
				excluded(up(4, 0, 0), "cooling down")},
			"4 controllers: 1 inactive, 2 no job deploy, 1 cooling down",
		},
		{
			"some eligible",
			[]balance.Candidate{up(1, 0, 0), health(up(2, 0, 0), balance.Degraded), inactive(up(3, 0, 0))},
			"3 controllers: 2 eligible, 1 inactive",
		},
	}
	for _, tt := range tests {
		if got := balance.Explain(tt.cands); got != tt.want {
			t.Errorf("%s: Explain = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func excluded(c balance.Candidate, why string) balance.Candidate {
	c.Excluded = why
	return c
}

func TestHealthEncodings(t *testing.T) {
	t.Parallel()
	for h := balance.Unknown; h <= balance.Unhealthy; h++ {
		text, err := h.MarshalText()
		if err != nil || string(text) != h.String() {
			t.Errorf("MarshalText(%s) = %q, %v", h, text, err)
		}
		var back balance.Health
		if err := back.UnmarshalText(text); err != nil || back != h {
			t.Errorf("UnmarshalText(%q) = %s, %v", text, back, err)
		}
		v, err := h.Value()
		if err != nil || v != h.String() {
			t.Errorf("Value(%s) = %v, %v", h, v, err)
		}
		var scanned balance.Health
		for _, src := range []any{h.String(), []byte(h.String())} {
			if err := scanned.Scan(src); err != nil || scanned != h {
				t.Errorf("Scan(%v) = %s, %v", src, scanned, err)
			}
		}
	}
	var h balance.Health = balance.Healthy
	if err := h.Scan(nil); err != nil || h != balance.Unknown {
		t.Errorf("Scan(nil) = %s, %v; want unknown", h, err)
	}
	if err := h.UnmarshalText([]byte("sick")); err == nil {
		t.Errorf("UnmarshalText(sick) accepted")
	}
	if err := h.Scan(42); err == nil {
		t.Errorf("Scan(42) accepted")
	}
	if _, err := balance.Health(9).MarshalText(); err == nil {
		t.Errorf("MarshalText(health(9)) accepted")
	}
}
