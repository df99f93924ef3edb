package main

import (
	"bytes"
	"context"
	"encoding/json"
	"runtime"
	"strings"
	"testing"
)

func TestVersion(t *testing.T) {
	t.Parallel()
	run := func(args ...string) (int, string, string) {
		var out, errs bytes.Buffer
		code := runMain(context.Background(), args, &environment{stdout: &out, stderr: &errs, getenv: func(string) string { return "" }})
		return code, out.String(), errs.String()
	}
	code, out, _ := run("version")
	if code != 0 || !strings.HasPrefix(out, "jenkinds ") || !strings.Contains(out, runtime.Version()) {
		t.Errorf("version: %d %q; want one line naming jenkinds and %s", code, out, runtime.Version())
	}
	code, out, _ = run("version", "--json")
	var v struct {
		Version, Go, Platform string
	}
	if err := json.Unmarshal([]byte(out), &v); code != 0 || err != nil || v.Go != runtime.Version() || v.Version == "" {
		t.Errorf("version --json: %d %q (%v)", code, out, err)
	}
	if code, _, errs := run("version", "extra"); code != 2 || !strings.Contains(errs, "unexpected argument") {
		t.Errorf("version extra: %d %q; want 2 and the argument named", code, errs)
	}
}
