package main

// jenkinds instances events: a controller's entries in the health
// authority's event log (instances.go holds the group).

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/jenkinds/jenkinds/internal/apiclient"
	"github.com/jenkinds/jenkinds/internal/health"
)

const instancesEventsHelp = `
Shows what the health authority recorded about a controller, newest first:
its health transitions (from → to; seen by a probe, by failed requests
(passive) or by jenkinds; and why), its restarts (a new X-Jenkins-Session),
and the freezes and thaws of re-dispatch of its cluster (a mass failure)
and of jenkinds itself (starved of CPU, it waits before it moves any
build). The freezes in effect now come first. --before pages back.

Examples:
  jenkinds instances events ci-1
  jenkinds instances events 3 --limit 20 -o json`

func runInstancesEvents(ctx context.Context, args []string, env *environment) error {
	fs := newFlagSet(env, "instances events", "ID|NAME [flags]", instancesEventsHelp)
	cf := addClientFlags(fs)
	var page apiclient.EventPage
	fs.IntVar(&page.Limit, "limit", 0, "the most events to show, 1 to 1000 (default 100)")
	fs.Int64Var(&page.Before, "before", 0, "show the events older than this `id` (the next page of an earlier list)")
	c, id, err := parseInstanceArgs(ctx, fs, cf, args, env)
	if err != nil {
		return err
	}
	list, err := c.InstanceEvents(ctx, id, page)
	if err != nil {
		return explain(c, err)
	}
	err = cf.print(env.stdout, list, func(w io.Writer) {
		for _, f := range list.Frozen {
			fmt.Fprintf(w, "Re-dispatch frozen now: %s: %s\n", freezeScope(f.Cluster), f.Reason)
		}
		row(w, "TIME", "KIND", "CHANGE", "SOURCE", "REASON")
		for _, e := range list.Events {
			row(w, e.At.UTC().Format(time.RFC3339), string(e.Kind), eventChange(e), e.Source, e.Reason)
		}
	})
	if err == nil && list.Next != 0 && cf.output == "table" {
		fmt.Fprintf(env.stderr, "Older events: add --before %d\n", list.Next)
	}
	return err
}

// eventChange says what an event changed: "healthy → unhealthy", or what
// a freeze or thaw covers.
func eventChange(e health.Event) string {
	switch e.Kind {
	case health.KindTransition:
		return e.From + " → " + e.To
	case health.KindRestart:
		return "restarted"
	case health.KindFreeze:
		return "frozen: " + freezeScope(e.Cluster)
	case health.KindThaw:
		return "thawed: " + freezeScope(e.Cluster)
	}
	return ""
}

// freezeScope names what a freeze covers: a cluster, or with cluster ""
// every cluster, jenkinds itself being starved.
func freezeScope(cluster string) string {
	if cluster == "" {
		return "jenkinds"
	}
	return "cluster " + cluster
}
