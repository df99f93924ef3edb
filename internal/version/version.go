// Package version says which build of jenkinds is running, from what the
// Go toolchain stamped into the binary (module version, VCS revision and
// time, Go version): for `jenkinds version` and jenkinds_build_info.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Info is the build of the running binary.
type Info struct {
	Version  string // the module's version: "(devel)" for a build from a work tree
	Revision string // the VCS revision, "" when not stamped (go run, go test)
	Time     string // the revision's commit time (RFC 3339), "" when not stamped
	Modified bool   // built from a work tree with uncommitted changes
	Go       string // the Go version that built it
	Platform string // GOOS/GOARCH
}

// Get returns the running binary's build.
func Get() Info {
	in := Info{Version: "(devel)", Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return in
	}
	if v := bi.Main.Version; v != "" {
		in.Version = v
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			in.Revision = s.Value
		case "vcs.time":
			in.Time = s.Value
		case "vcs.modified":
			in.Modified = s.Value == "true"
		}
	}
	return in
}

// Short is the revision's first 12 characters, "+dirty" when modified;
// "unknown" when not stamped.
func (in Info) Short() string {
	r := in.Revision
	if r == "" {
		return "unknown"
	}
	if len(r) > 12 {
		r = r[:12]
	}
	if in.Modified {
		r += "+dirty"
	}
	return r
}

// String is one line: version, revision and its time, Go, platform.
func (in Info) String() string {
	when := ""
	if in.Time != "" {
		when = " " + in.Time
	}
	return fmt.Sprintf("jenkinds %s (revision %s%s) built with %s for %s", in.Version, in.Short(), when, in.Go, in.Platform)
}
