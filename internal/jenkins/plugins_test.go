package jenkins_test

import (
	"testing"

	"github.com/jenkinds/jenkinds/internal/jenkins"
	"github.com/jenkinds/jenkinds/internal/jenkinssim"
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
