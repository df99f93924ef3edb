package main

import (
	"errors"
	"testing"
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
