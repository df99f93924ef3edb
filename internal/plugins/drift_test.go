package plugins_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jenkinds/jenkinds/internal/catalog"
	"github.com/jenkinds/jenkinds/internal/controller"
	"github.com/jenkinds/jenkinds/internal/jenkinssim"
	"github.com/jenkinds/jenkinds/internal/plugins"
	"github.com/jenkinds/jenkinds/internal/testkit"
)

// fleet starts one simulated controller per config and registers them in
// cluster "default" in that order (ids 1, 2, …).
func fleet(t *testing.T, cfgs ...jenkinssim.Config) (*controller.Pool, *catalog.Catalog, []*jenkinssim.Controller) {
	t.Helper()
	var all []controller.Synced
	var sims []*jenkinssim.Controller
	for i, cfg := range cfgs {
		cfg.Name = "c" + string(rune('1'+i))
		c, err := jenkinssim.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		sims = append(sims, c)
		all = append(all, controller.Synced{Instance: controller.Instance{
			ID: int64(i + 1), Name: c.Name(), URL: c.URL(), Username: c.User(), ClusterID: "default",
			MaxConnections: 100, IsActive: true,
		}, Token: c.Token()})
	}
	pool := controller.NewPool()
	pool.Sync(all)
	cat := catalog.New(catalog.Options{Pool: pool})
	t.Cleanup(cat.Close)
	return pool, cat, sims
}

// gauge reads a gauge of reg by its cluster label.
func gauge(t *testing.T, reg *prometheus.Registry, name, cluster string) float64 {
	t.Helper()
	v, ok := testkit.Metric(t, reg, name, "cluster", cluster)
	if !ok {
		t.Fatalf("no %s{cluster=%q}", name, cluster)
	}
	return v
}

func find(rep plugins.Report, name string) plugins.Plugin {
	for _, p := range rep.Plugins {
		if p.Name == name {
			return p
		}
	}
	return plugins.Plugin{}
}

func TestDriftComparesVersionsAndPlugins(t *testing.T) {
	t.Parallel()
	git := func(v string) jenkinssim.Plugin {
		return jenkinssim.Plugin{ShortName: "git", LongName: "Git plugin", Version: v}
	}
	creds := jenkinssim.Plugin{ShortName: "credentials", LongName: "Credentials Plugin", Version: "1413.va_51c53703df1"}
	matrix := jenkinssim.Plugin{ShortName: "matrix-auth", LongName: "Matrix Authorization Strategy Plugin", Version: "3.2.6"}
	off := matrix
	off.Disabled = true
	pool, cat, sims := fleet(t,
		jenkinssim.Config{Version: "2.528.3", Plugins: []jenkinssim.Plugin{git("5.7.0"), creds, matrix}},
		jenkinssim.Config{Version: "2.528.3", Plugins: []jenkinssim.Plugin{git("5.7.0"), creds, off}},
		jenkinssim.Config{Version: "2.516.1", Plugins: []jenkinssim.Plugin{git("5.6.0"), matrix}},
	)
	reg := prometheus.NewRegistry()
	ck := plugins.New(pool, cat, nil)
	ck.Register(reg)
	rep, err := ck.Drift(context.Background(), "default")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Jenkins.Status != plugins.StatusDiffers || len(rep.Jenkins.Variants) != 2 ||
		rep.Jenkins.Variants[0].Version != "2.528.3" || strings.Join(rep.Jenkins.Variants[0].Controllers, ",") != "c1,c2" {
		t.Errorf("Jenkins versions: %+v, want 2.528.3 on c1,c2 first, then 2.516.1", rep.Jenkins)
	}
	if p := find(rep, "git"); p.Status != plugins.StatusDiffers || len(p.Variants) != 2 || p.Variants[1].Version != "5.6.0" {
		t.Errorf("git: %+v, want differs (5.7.0 on two, 5.6.0 on c3)", p)
	}
	if p := find(rep, "credentials"); p.Status != plugins.StatusMissing || strings.Join(p.MissingOn, ",") != "c3" {
		t.Errorf("credentials: %+v, want missing on c3", p)
	}
	if p := find(rep, "matrix-auth"); p.Status != plugins.StatusDisabled || len(p.Variants) != 2 || !p.Variants[1].Disabled {
		t.Errorf("matrix-auth: %+v, want disabled on c2 only", p)
	}
	want := plugins.Summary{Plugins: 3, Differs: 1, Missing: 1, Disabled: 1}
	if rep.Summary != want {
		t.Errorf("summary %+v, want %+v", rep.Summary, want)
	}
	if got := gauge(t, reg, "jenkinds_plugin_drift", "default"); got != 4 {
		t.Errorf("jenkinds_plugin_drift = %v, want 4 (three plugins and the Jenkins version)", got)
	}

	// A controller that cannot be read is left out, not taken for one
	// without plugins.
	_ = sims[2].Close()
	cat2 := catalog.New(catalog.Options{Pool: pool, Config: catalog.Config{RequestTimeout: 5 * time.Second}})
	t.Cleanup(cat2.Close)
	rep, err = plugins.New(pool, cat2, nil).Drift(context.Background(), "default")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Controllers[2].Error == "" || rep.Jenkins.Status != plugins.StatusInSync {
		t.Errorf("c3 down: controllers %+v, Jenkins %s; want c3's error and the others in sync", rep.Controllers, rep.Jenkins.Status)
	}
	if p := find(rep, "git"); p.Status != plugins.StatusInSync {
		t.Errorf("c3 down: git %+v, want in sync on c1 and c2", p)
	}
	if p := find(rep, "credentials"); p.Status != plugins.StatusInSync || len(p.MissingOn) != 0 {
		t.Errorf("c3 down: credentials %+v, want in sync (c3 unknown, not lacking it)", p)
	}
}

func TestDriftOfAnUnknownCluster(t *testing.T) {
	t.Parallel()
	pool, cat, _ := fleet(t, jenkinssim.Config{})
	if _, err := plugins.New(pool, cat, nil).Drift(context.Background(), "nope"); !errors.Is(err, controller.ErrNotFound) {
		t.Errorf("unknown cluster: %v, want ErrNotFound", err)
	}
}

// Run checks every cluster at once, then every interval: the gauge is
// current without anyone asking.
func TestRunKeepsTheGaugeCurrent(t *testing.T) {
	t.Parallel()
	pool, cat, _ := fleet(t, jenkinssim.Config{Version: "2.528.3"}, jenkinssim.Config{Version: "2.516.1"})
	reg := prometheus.NewRegistry()
	ck := plugins.New(pool, cat, nil)
	ck.Register(reg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ck.Run(ctx, time.Hour, slog.New(slog.DiscardHandler)) }()
	testkit.Eventually(t, 30*time.Second, func() bool {
		mfs, _ := reg.Gather()
		return len(mfs) == 1 && len(mfs[0].GetMetric()) == 1
	}, testkit.Sayf("the first check to set jenkinds_plugin_drift"))
	if got := gauge(t, reg, "jenkinds_plugin_drift", "default"); got != 1 {
		t.Errorf("jenkinds_plugin_drift = %v, want 1 (the Jenkins versions differ, the plugins do not)", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}
