package jenkinssim

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	jobs, err := LoadJobsFile(write("jobs.json", `[{"name":"a/b","durationMs":5,"parameters":[{"type":"choice","name":"C","choices":["x"]}]}]`))
	if err != nil || len(jobs) != 1 || jobs[0].Name != "a/b" {
		t.Errorf("jobs: %v %v", jobs, err)
	}
	for body, want := range map[string]string{
		`{"name":"x"}`:                  "expected a JSON array",
		`[{"name":"x","oops":1}]`:       "unknown field",
		`[{"name":"a?b"}]`:              "unsafe character",
		`[{"name":"x","type":"maven"}]`: "must be freestyle, pipeline or folder",
		`[{"name":"x","result":"OK"}]`:  "must be one of SUCCESS",
		`[{"name":"x","parameters":[{"type":"choice","name":"C"}]}]`: "needs choices",
	} {
		if _, err := LoadJobsFile(write("bad.json", body)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", body, err, want)
		}
	}
	plugins, err := LoadPluginsFile(write("p.json", `[{"shortName":"git","longName":"Git plugin","version":"5.7.0"}]`))
	if err != nil || len(plugins) != 1 || plugins[0].LongName != "Git plugin" {
		t.Errorf("plugins: %v %v", plugins, err)
	}
	if _, err := LoadPluginsFile(write("p2.json", `[{"shortName":"git"}]`)); err == nil || !strings.Contains(err.Error(), "version are required") {
		t.Errorf("plugin without version: %v", err)
	}
}
