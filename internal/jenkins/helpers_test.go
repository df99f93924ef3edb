package jenkins_test

import (
	"context"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/jenkins"
	"github.com/jenkinds/jenkinds/internal/jenkinssim"
)

// fixture is a started simulator and a client of it with its API token.
type fixture struct {
	sim    *jenkinssim.Controller
	client *jenkins.Client
	ctx    context.Context
}

// setup starts a simulator with cfg (token, no quiet period and the
// default jobs unless cfg says otherwise).
func setup(t *testing.T, cfg jenkinssim.Config) fixture {
	t.Helper()
	if cfg.Token == "" {
		cfg.Token = "11tok"
	}
	s, err := jenkinssim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	c, err := jenkins.New(s.URL(), s.User(), s.Token(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return fixture{sim: s, client: c, ctx: ctx}
}

// fast is a build that ends at once; slow one that runs until stopped.
var (
	fast = jenkinssim.JobSpec{Name: "fast", DurationMs: 1}
	slow = jenkinssim.JobSpec{Name: "slow", DurationMs: 3_600_000}
)
