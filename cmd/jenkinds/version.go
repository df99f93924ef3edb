package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jenkinds/jenkinds/internal/version"
)

func init() {
	register(command{name: "version", summary: "print which build of jenkinds this is", run: runVersion})
}

func runVersion(_ context.Context, args []string, env *environment) error {
	fs := newFlagSet(env, "version", "[--json]", `Prints which build of jenkinds this is: its version, the VCS revision and
commit time it was built from (+dirty when the work tree had changes), the
Go version and the platform. /metrics says the same as jenkinds_build_info.`)
	asJSON := fs.Bool("json", false, "print the build as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	in := version.Get()
	if *asJSON {
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{
			"version": in.Version, "revision": in.Revision, "time": in.Time, "modified": in.Modified,
			"go": in.Go, "platform": in.Platform,
		})
	}
	_, err := fmt.Fprintln(env.stdout, in)
	return err
}
