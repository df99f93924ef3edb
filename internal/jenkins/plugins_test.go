package jenkins_test

import (
	"maps"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/jenkins"
	"github.com/jenkinds/jenkinds/internal/jenkinssim"
	"github.com/jenkinds/jenkinds/internal/testkit"
)

func TestPlugins(t *testing.T) {
	t.Parallel()
	f := setup(t, jenkinssim.Config{Plugins: []jenkinssim.Plugin{{ShortName: "git", LongName: "Git plugin", Version: "5.7.0"}}})
	plugins, _, err := f.client.Plugins(f.ctx)
	want := jenkins.Plugin{ShortName: "git", LongName: "Git plugin", Version: "5.7.0", Active: true, Enabled: true}
	if err != nil || len(plugins) != 1 || plugins[0] != want {
		t.Errorf("plugins: %+v %v", plugins, err)
	}
}

// Plugins installed through the plugin manager are loaded at the next
// restart; nothing is downgraded.
func TestInstallPluginsAtTheNextRestart(t *testing.T) {
	t.Parallel()
	f := setup(t, jenkinssim.Config{RestartDuration: time.Millisecond, Plugins: []jenkinssim.Plugin{
		{ShortName: "git", LongName: "Git plugin", Version: "5.7.0"},
		{ShortName: "matrix-auth", LongName: "Matrix Authorization Strategy Plugin", Version: "3.2.6"},
	}})
	if err := f.client.InstallPlugins(f.ctx, []string{"git@5.10.1", "credentials@1413.va_51c53703df1", "matrix-auth@3.2.5"}); err != nil {
		t.Fatalf("InstallPlugins: %v", err)
	}
	if req, err := f.client.RestartRequired(f.ctx); err != nil || !req {
		t.Errorf("RestartRequired after installing: %v %v, want true", req, err)
	}
	versions := func() map[string]string {
		ps, _, err := f.client.Plugins(f.ctx)
		if err != nil {
			return nil
		}
		out := map[string]string{}
		for _, p := range ps {
			out[p.ShortName] = p.Version
		}
		return out
	}
	if got := versions(); got["git"] != "5.7.0" || got["credentials"] != "" {
		t.Errorf("before the restart: %v, want what ran (git 5.7.0, no credentials)", got)
	}
	session := f.sim.Session()
	f.sim.Restart()
	var got map[string]string
	testkit.Eventually(t, 20*time.Second, func() bool {
		got = versions()
		return got != nil && f.sim.Session() != session
	}, testkit.Sayf("the controller back after its restart"))
	want := map[string]string{"git": "5.10.1", "credentials": "1413.va_51c53703df1", "matrix-auth": "3.2.6"}
	if !maps.Equal(got, want) {
		t.Errorf("after the restart: %v, want %v (git upgraded, credentials added, matrix-auth not downgraded)", got, want)
	}
	if req, err := f.client.RestartRequired(f.ctx); err != nil || req {
		t.Errorf("RestartRequired after the restart: %v %v, want false", req, err)
	}
	if err := f.client.InstallPlugins(f.ctx, []string{"git"}); err == nil {
		t.Errorf("InstallPlugins without a version: no error")
	}
}
