package jenkins_test

import (
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/jenkins"
	"github.com/jenkinds/jenkinds/internal/jenkinssim"
	"github.com/jenkinds/jenkinds/internal/testkit"
)

func TestQuietDown(t *testing.T) {
	t.Parallel()
	f := setup(t, jenkinssim.Config{})
	var root struct {
		QuietingDown bool    `json:"quietingDown"`
		Reason       *string `json:"quietDownReason"`
	}
	if err := f.client.QuietDown(f.ctx, "upgrade & reboot"); err != nil {
		t.Fatalf("quiet down (302): %v", err)
	}
	if _, err := f.client.GetJSON(f.ctx, "api/json?tree=quietingDown,quietDownReason", &root); err != nil ||
		!root.QuietingDown || root.Reason == nil || *root.Reason != "upgrade & reboot" {
		t.Errorf("quieting down: %+v %v", root, err)
	}
	if err := f.client.CancelQuietDown(f.ctx); err != nil {
		t.Fatalf("cancel quiet down (302): %v", err)
	}
	if st, err := f.client.Probe(f.ctx, ""); err != nil || st.QuietingDown {
		t.Errorf("after cancel: %+v %v", st, err)
	}
}

func TestRestarts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		restart func(*jenkins.Client, fixture) error
	}{
		{"restart", func(c *jenkins.Client, f fixture) error { return c.Restart(f.ctx) }},
		{"safe restart", func(c *jenkins.Client, f fixture) error { return c.SafeRestart(f.ctx) }},
	} {
		f := setup(t, jenkinssim.Config{RestartDuration: time.Hour})
		if err := tc.restart(f.client, f); err != nil {
			t.Fatalf("%s (302): %v", tc.name, err)
		}
		testkit.Eventually(t, 10*time.Second, func() bool {
			_, err := f.client.Probe(f.ctx, "")
			return jenkins.Classify(err) == jenkins.Unavailable
		}, testkit.Sayf("%s: 503 while restarting", tc.name))
	}

	// Once up again, the controller runs under a new session.
	f := setup(t, jenkinssim.Config{RestartDuration: time.Millisecond})
	before := f.sim.Session()
	if err := f.client.Restart(f.ctx); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, func() bool {
		st, err := f.client.Probe(f.ctx, "")
		return err == nil && st.Session != before
	}, testkit.Sayf("up under a new session"))
}
