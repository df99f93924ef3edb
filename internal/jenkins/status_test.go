package jenkins_test

import (
	"testing"

	"github.com/jenkinds/jenkinds/internal/jenkinssim"
)

func TestProbeAndJobStats(t *testing.T) {
	t.Parallel()
	f := setup(t, jenkinssim.Config{})
	st, err := f.client.Probe(f.ctx, "/login")
	if err != nil {
		t.Fatal(err)
	}
	if st.Version != jenkinssim.DefaultVersion || st.Session != f.sim.Session() || st.TotalExecutors != 2 || st.HealthCheckCode != 200 {
		t.Errorf("status: %+v", st)
	}
	total, active, err := f.client.JobStats(f.ctx)
	if err != nil || total != 3 || active != 0 {
		t.Errorf("job stats: %d %d %v", total, active, err)
	}
}
