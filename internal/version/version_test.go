package version

import (
	"runtime"
	"strings"
	"testing"
)

func TestInfo(t *testing.T) {
	in := Get()
	if in.Go != runtime.Version() || in.Platform != runtime.GOOS+"/"+runtime.GOARCH || in.Version == "" {
		t.Errorf("Get: %+v", in)
	}
	s := Info{Version: "v1.2.3", Revision: "0123456789abcdef", Time: "2026-12-07T20:00:00Z", Modified: true, Go: "go1.26.8", Platform: "linux/amd64"}.String()
	if want := "jenkinds v1.2.3 (revision 0123456789ab+dirty 2026-12-07T20:00:00Z) built with go1.26.8 for linux/amd64"; s != want {
		t.Errorf("String:\n got %s\nwant %s", s, want)
	}
	if got := (Info{}).Short(); got != "unknown" {
		t.Errorf("Short of an unstamped build: %q", got)
	}
	if !strings.HasPrefix(in.String(), "jenkinds ") {
		t.Errorf("String: %q", in.String())
	}
}
