package main

import (
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/server"
)

func TestParseStrategies(t *testing.T) {
	of, err := parseStrategies("round-robin, production=primary-backup ,staging=weighted")
	if err != nil {
		t.Fatal(err)
	}
	for cluster, want := range map[string]string{"production": "primary-backup", "staging": "weighted", "other": "round-robin"} {
		if got := of(cluster); got != want {
			t.Errorf("strategy of %s: %q, want %q", cluster, got, want)
		}
	}
	if of, _ := parseStrategies("production=weighted"); of("default") != "least-load" {
		t.Errorf("default without a bare strategy: %q, want least-load", of("default"))
	}
	for _, bad := range []string{"fastest", "production=fastest", "=weighted"} {
		if _, err := parseStrategies(bad); !errors.Is(err, errUsage) {
			t.Errorf("%q: %v, want a usage error", bad, err)
		}
	}
}

// The follow and staleness flags: bad values are usage errors that name
// the flag; the busy interval defaults to a tenth of the follow interval.
func TestServeFlagsFollowAndStaleness(t *testing.T) {
	parse := func(args ...string) (server.Config, error) {
		var f serveFlags
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		addServeFlags(fs, &environment{stdout: io.Discard, stderr: io.Discard, getenv: func(string) string { return "" }}, &f)
		if err := fs.Parse(args); err != nil {
			t.Fatalf("parse %v: %v", args, err)
		}
		return f.config()
	}
	cfg, err := parse()
	if err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if cfg.FleetMaxStaleness != time.Second || cfg.Dispatch.BusyFollowInterval != 0 {
		t.Errorf("defaults: staleness %s, busy interval %s (0: a tenth of the follow interval)", cfg.FleetMaxStaleness, cfg.Dispatch.BusyFollowInterval)
	}
	if cfg, err := parse("--build-follow-busy-interval", "50ms"); err != nil || cfg.Dispatch.BusyFollowInterval != 50*time.Millisecond {
		t.Errorf("--build-follow-busy-interval 50ms: %v, %s", err, cfg.Dispatch.BusyFollowInterval)
	}
	for _, bad := range [][]string{
		{"--build-follow-busy-interval", "2s"},
		{"--build-follow-busy-interval", "-1s"},
		{"--fleet-max-staleness", "0s"},
	} {
		_, err := parse(bad...)
		if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), bad[0]) {
			t.Errorf("%v: %v, want a usage error naming %s", bad, err, bad[0])
		}
	}
}
