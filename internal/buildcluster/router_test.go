package buildcluster_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/jenkinds/jenkinds/internal/buildcluster"
	"github.com/jenkinds/jenkinds/internal/db/dbtest"
)

const ouroath = "github:git.ouroath.com"

// seed is the design's sample table: gq1 inactive and bf1 active, both
// run by the platform; identity external, active and inactive, for
// identity_org1/2; iOS external and active for iOS_org1/2.
func seed() []buildcluster.Cluster {
	ext := func(id int64, name string, active bool, orgs ...string) buildcluster.Cluster {
		return buildcluster.Cluster{ID: id, Name: name, SCMContext: ouroath, SCMOrganizations: orgs, IsActive: active,
			ManagedBy: buildcluster.ManagedByExternal, ManagedByEmail: name + "-admins@example.com", Weight: 100}
	}
	sd := func(id int64, name string, active bool) buildcluster.Cluster {
		return buildcluster.Cluster{ID: id, Name: name, SCMContext: ouroath, SCMOrganizations: []string{}, IsActive: active,
			ManagedBy: buildcluster.ManagedByScrewdriver, Weight: 100}
	}
	return []buildcluster.Cluster{
		sd(1, "gq1", false),
		sd(2, "bf1", true),
		ext(3, "identity", true, "identity_org1", "identity_org2"),
		ext(4, "identity", false, "identity_org1", "identity_org2"),
		ext(5, "iOS", true, "iOS_org1", "iOS_org2"),
	}
}

// records is a fixed set of cluster records behind the router's Lister.
type records []buildcluster.Cluster

func (r records) List(_ context.Context, f buildcluster.ListFilter) ([]buildcluster.Cluster, error) {
	out := []buildcluster.Cluster{}
	for _, c := range r {
		if (f.Name == "" || c.Name == f.Name) && (f.SCMContext == "" || c.SCMContext == f.SCMContext) && (!f.ActiveOnly || c.IsActive) {
			out = append(out, c)
		}
	}
	return out, nil
}

// with returns the seed changed by edit, plus extra records.
func with(edit func([]buildcluster.Cluster) []buildcluster.Cluster) records {
	return records(edit(seed()))
}

func without(ids ...int64) func([]buildcluster.Cluster) []buildcluster.Cluster {
	return func(cs []buildcluster.Cluster) []buildcluster.Cluster {
		return slices.DeleteFunc(cs, func(c buildcluster.Cluster) bool { return slices.Contains(ids, c.ID) })
	}
}

// draws is an intn that returns vals in turn (the last one again once they
// run out) and records the n it was asked for.
type draws struct {
	vals []int
	ns   []int
}

func (d *draws) intn(n int) int {
	d.ns = append(d.ns, n)
	if len(d.vals) == 0 {
		return 0
	}
	v := d.vals[0]
	if len(d.vals) > 1 {
		d.vals = d.vals[1:]
	}
	return v
}

func req(pipeline, cluster string) buildcluster.Request {
	r := buildcluster.Request{SCMContext: ouroath, Pipeline: pipeline, Job: "main", Annotations: map[string]string{}}
	if cluster != "" {
		r.Annotations[buildcluster.AnnotationBuildCluster] = cluster
	}
	return r
}

func TestRoute(t *testing.T) {
	t.Parallel()
	sdCluster := func(id int64, name string, weight int) buildcluster.Cluster {
		return buildcluster.Cluster{ID: id, Name: name, SCMContext: ouroath, SCMOrganizations: []string{}, IsActive: true,
			ManagedBy: buildcluster.ManagedByScrewdriver, Weight: weight}
	}
	pool := func(cs []buildcluster.Cluster) []buildcluster.Cluster {
		return append(cs, sdCluster(6, "bf2", 50), sdCluster(7, "opt-in", 0))
	}
	tests := []struct {
		name     string
		clusters records // the seed when nil
		req      buildcluster.Request
		draws    []int
		wantID   int64 // the cluster chosen; 0 when an error is wanted
		wantErr  error // a sentinel
		wantText []string
		notText  []string // must not appear in the error or reason
		wantN    []int    // the n intn was asked for
	}{
		// Named and authorized.
		{name: "named shared cluster", req: req("any_org/app", "bf1"), wantID: 2, wantText: []string{"named in screwdriver.cd/buildCluster"}},
		{name: "named external, org listed", req: req("iOS_org1/app", "iOS"), wantID: 5},
		{name: "named external, second org", req: req("iOS_org2/app", "iOS"), wantID: 5},
		{name: "org compared case-insensitively", req: req("ios_ORG1/app", "iOS"), wantID: 5},
		{name: "named active+inactive pair picks the active record", req: req("identity_org2/svc", "identity"), wantID: 3},
		{name: "named with surrounding space", req: req("iOS_org1/app", " iOS "), wantID: 5},
		{name: "draft's short annotation key", req: buildcluster.Request{SCMContext: ouroath, Pipeline: "iOS_org1/app",
			Annotations: map[string]string{"buildCluster": "iOS"}}, wantID: 5},
		{name: "full annotation key wins over short", req: buildcluster.Request{SCMContext: ouroath, Pipeline: "iOS_org1/app",
			Annotations: map[string]string{"buildCluster": "bf1", buildcluster.AnnotationBuildCluster: "iOS"}}, wantID: 5},

		// Named, organization not listed: 403, saying which org on which cluster.
		{name: "named external, org not listed", req: req("identity_org1/svc", "iOS"), wantErr: buildcluster.ErrUnauthorized,
			wantText: []string{`organization "identity_org1" is not allowed on build cluster "iOS"`, "iOS_org1, iOS_org2", "iOS-admins@example.com"}},
		{name: "named external, other team's org", req: req("iOS_org1/app", "identity"), wantErr: buildcluster.ErrUnauthorized,
			wantText: []string{`"iOS_org1"`, `"identity"`}},
		{name: "org that only prefixes a listed one", req: req("iOS_org/app", "iOS"), wantErr: buildcluster.ErrUnauthorized},
		{name: "unauthorized for an inactive cluster is still 403, no stand-in", req: req("iOS_org1/app", "identity"),
			clusters: with(without(3)), wantErr: buildcluster.ErrUnauthorized, notText: []string{"bf1"}},
		{name: "screwdriver-managed cluster that lists orgs", req: req("other/app", "restricted"),
			clusters: with(func(cs []buildcluster.Cluster) []buildcluster.Cluster {
				c := sdCluster(8, "restricted", 100)
				c.SCMOrganizations = []string{"core"}
				return append(cs, c)
			}), wantErr: buildcluster.ErrUnauthorized, wantText: []string{"only core"}},

		// Named but inactive: a stand-in the pipeline is authorized for, of the same kind.
		{name: "named inactive shared cluster falls back to the shared pool", req: req("any_org/app", "gq1"), wantID: 2,
			wantText: []string{"gq1 named in screwdriver.cd/buildCluster is inactive", "drew bf1"}, wantN: []int{100}},
		{name: "named inactive shared cluster, weighted among the pool", req: req("any_org/app", "gq1"), clusters: with(pool),
			draws: []int{120}, wantID: 6, wantN: []int{150}},
		{name: "named inactive external cluster, no other of the team: refused, never another team's or the pool",
			req: req("identity_org1/svc", "identity"), clusters: with(without(3)), wantErr: buildcluster.ErrNoCandidate,
			wantText: []string{`build cluster "identity" is inactive`, `iOS (id 5): organization "identity_org1" not allowed`,
				"bf1 (id 2): screwdriver-managed, and identity is external-managed"}},
		{name: "named inactive external cluster, the team's other cluster stands in",
			req: req("identity_org1/svc", "identity"),
			clusters: with(func(cs []buildcluster.Cluster) []buildcluster.Cluster {
				cs = without(3)(cs)
				return append(cs, buildcluster.Cluster{ID: 9, Name: "identity-west", SCMContext: ouroath, IsActive: true,
					SCMOrganizations: []string{"identity_org1"}, ManagedBy: buildcluster.ManagedByExternal, Weight: 100})
			}), wantID: 9, wantText: []string{"identity-west"}},
		{name: "named inactive iOS, org listed: no stand-in", req: req("iOS_org1/app", "iOS"),
			clusters: with(func(cs []buildcluster.Cluster) []buildcluster.Cluster { cs[4].IsActive = false; return cs }),
			wantErr:  buildcluster.ErrNoCandidate, notText: []string{"drew"}},
		{name: "named inactive, stand-in of weight 0 is not drawn", req: req("any_org/app", "gq1"),
			clusters: with(func(cs []buildcluster.Cluster) []buildcluster.Cluster { cs[1].Weight = 0; return cs }),
			wantErr:  buildcluster.ErrNoCandidate, wantText: []string{"bf1 (id 2): weight 0"}},

		// Named but unknown.
		{name: "named unknown", req: req("any_org/app", "nope"), wantErr: buildcluster.ErrUnknownCluster,
			wantText: []string{`build cluster "nope"`, "does not exist for scmContext github:git.ouroath.com"}},
		{name: "named cluster of another scmContext", req: buildcluster.Request{SCMContext: "github:github.com", Pipeline: "iOS_org1/app",
			Annotations: map[string]string{buildcluster.AnnotationBuildCluster: "iOS"}}, wantErr: buildcluster.ErrUnknownCluster,
			wantText: []string{"does not exist for scmContext github:github.com", "registered for github:git.ouroath.com only"}},

		// Not named: weighted among active screwdriver-managed clusters.
		{name: "no name: the only shared cluster", req: req("any_org/app", ""), wantID: 2, wantN: []int{100},
			wantText: []string{"no cluster named: drew bf1 by weight (100 of 100)"}},
		{name: "empty annotation is no name", req: req("any_org/app", "  "), wantID: 2},
		{name: "no name: external clusters are never drawn, even for their org", req: req("iOS_org1/app", ""), wantID: 2},
		{name: "no name: weighted, first band", req: req("any_org/app", ""), clusters: with(pool), draws: []int{99},
			wantID: 2, wantN: []int{150}},
		{name: "no name: weighted, second band", req: req("any_org/app", ""), clusters: with(pool), draws: []int{100},
			wantID: 6, wantN: []int{150}, wantText: []string{"drew bf2 by weight (50 of 150)"}},
		{name: "no name: weighted, last draw", req: req("any_org/app", ""), clusters: with(pool), draws: []int{149}, wantID: 6},
		{name: "no name: out-of-range draw is folded, not a panic", req: req("any_org/app", ""), clusters: with(pool), draws: []int{-1}, wantID: 6},
		{name: "no name: screwdriver cluster listing other orgs is not drawn", req: req("any_org/app", ""),
			clusters: with(func(cs []buildcluster.Cluster) []buildcluster.Cluster {
				c := sdCluster(8, "aaa-restricted", 100)
				c.SCMOrganizations = []string{"core"}
				return append(cs, c)
			}), wantID: 2, wantN: []int{100}},

		// Weight 0: only when named.
		{name: "weight 0 is chosen when named", req: req("any_org/app", "opt-in"), clusters: with(pool), wantID: 7},
		{name: "weight 0 is never drawn", req: req("any_org/app", ""), clusters: with(func(cs []buildcluster.Cluster) []buildcluster.Cluster {
			cs[1].Weight = 0
			return append(cs, sdCluster(7, "opt-in", 0))
		}), wantErr: buildcluster.ErrNoCandidate, wantText: []string{"opt-in (id 7): weight 0: used only when named"}},

		// No candidate: an error that lists what was considered, no panic.
		{name: "no name, every shared cluster inactive", req: req("any_org/app", ""),
			clusters: with(func(cs []buildcluster.Cluster) []buildcluster.Cluster { cs[1].IsActive = false; return cs }),
			wantErr:  buildcluster.ErrNoCandidate,
			wantText: []string{"no active build cluster of github:git.ouroath.com", "gq1 (id 1): inactive", "bf1 (id 2): inactive",
				"identity (id 3): external: used only when named", "iOS (id 5): external: used only when named"}},
		{name: "no clusters at all", req: req("any_org/app", ""), clusters: records{}, wantErr: buildcluster.ErrNoCandidate,
			wantText: []string{"no build cluster is registered for github:git.ouroath.com"}},
		{name: "no clusters at all, named", req: req("any_org/app", "bf1"), clusters: records{}, wantErr: buildcluster.ErrUnknownCluster},
		{name: "scmContext with no clusters", req: buildcluster.Request{SCMContext: "gitlab:gitlab.com", Pipeline: "any_org/app"},
			wantErr: buildcluster.ErrNoCandidate, wantText: []string{"no build cluster is registered for gitlab:gitlab.com"}},

		// Malformed requests.
		{name: "pipeline without org", req: req("app", ""), wantText: []string{"pipeline: must be the repository as org/repo"}},
		{name: "pipeline with empty repo", req: req("org/", ""), wantText: []string{"pipeline:"}},
		{name: "scmContext malformed", req: buildcluster.Request{SCMContext: "github", Pipeline: "o/r"}, wantText: []string{"scmContext:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clusters := tt.clusters
			if clusters == nil {
				clusters = seed()
			}
			d := &draws{vals: tt.draws}
			got, err := buildcluster.NewRouter(clusters, d.intn).Route(context.Background(), tt.req)
			text := got.Reason
			switch {
			case tt.wantID != 0 && err != nil:
				t.Fatalf("Route: got error %v, want cluster %d", err, tt.wantID)
			case tt.wantID != 0 && got.Cluster.ID != tt.wantID:
				t.Fatalf("Route: got cluster %s (id %d), want id %d; reason %q", got.Cluster.Name, got.Cluster.ID, tt.wantID, got.Reason)
			case tt.wantID == 0 && err == nil:
				t.Fatalf("Route: got cluster %s (id %d), want an error", got.Cluster.Name, got.Cluster.ID)
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Fatalf("Route: got error %v, want %v", err, tt.wantErr)
			case tt.wantID == 0 && tt.wantErr == nil:
				var ve *buildcluster.ValidationError
				if !errors.As(err, &ve) {
					t.Fatalf("Route: got error %v, want a *ValidationError", err)
				}
			}
			if err != nil {
				text = err.Error()
			}
			for _, s := range tt.wantText {
				if !strings.Contains(text, s) {
					t.Errorf("Route: %q does not contain %q", text, s)
				}
			}
			for _, s := range tt.notText {
				if strings.Contains(text, s) {
					t.Errorf("Route: %q contains %q", text, s)
				}
			}
			if tt.wantN != nil && fmt.Sprint(d.ns) != fmt.Sprint(tt.wantN) {
				t.Errorf("intn asked for %v, want %v", d.ns, tt.wantN)
			}
		})
	}
}

// TestRouteNeverUnauthorized draws every value for every organization and
// named cluster over the seed and variants with inactive clusters: the
// chosen cluster always allows the organization and is active.
func TestRouteNeverUnauthorized(t *testing.T) {
	t.Parallel()
	orgs := []string{"identity_org1", "identity_org2", "iOS_org1", "other"}
	names := []string{"", "gq1", "bf1", "identity", "iOS", "nope"}
	sets := map[string]records{
		"seed":              seed(),
		"identity inactive": with(without(3)),
		"all inactive": with(func(cs []buildcluster.Cluster) []buildcluster.Cluster {
			for i := range cs {
				cs[i].IsActive = false
			}
			return cs
		}),
	}
	for setName, set := range sets {
		for _, org := range orgs {
			for _, name := range names {
				for draw := range 100 {
					r := buildcluster.NewRouter(set, func(int) int { return draw })
					d, err := r.Route(context.Background(), req(org+"/repo", name))
					if err != nil {
						continue
					}
					if !d.Cluster.IsActive || !d.Cluster.Allows(org) {
						t.Fatalf("%s: org %s naming %q drew %d: got %s (id %d, active %v), which does not allow it",
							setName, org, name, draw, d.Cluster.Name, d.Cluster.ID, d.Cluster.IsActive)
					}
				}
			}
		}
	}
}

// TestRouteStore routes through the real store on every engine, from
// screwdriver.yaml annotations at pipeline and job level.
func TestRouteStore(t *testing.T) {
	t.Parallel()
	for _, e := range dbtest.Engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			t.Parallel()
			f := setup(t, e)
			f.seed(t)
			p, err := buildcluster.ParsePipeline([]byte(`
annotations:
  screwdriver.cd/buildCluster: iOS
jobs:
  main:
    steps:
      - build: xcodebuild
  lint:
    annotations:
      screwdriver.cd/buildCluster: bf1
    steps:
      - lint: swiftlint
  other:
    annotations:
      screwdriver.cd/buildCluster: identity
`))
			if err != nil {
				t.Fatalf("ParsePipeline: %v", err)
			}
			router := buildcluster.NewRouter(f.store, func(n int) int { return n - 1 })
			for _, tt := range []struct {
				job, want string
				wantErr   error
			}{
				{"main", "iOS", nil}, // pipeline level
				{"lint", "bf1", nil}, // job level wins
				{"other", "", buildcluster.ErrUnauthorized},
			} {
				j, err := p.Job(tt.job)
				if err != nil {
					t.Fatalf("Job(%s): %v", tt.job, err)
				}
				d, err := router.Route(f.ctx, buildcluster.Request{SCMContext: ouroath, Pipeline: "iOS_org1/app", Job: tt.job, Annotations: j.Annotations})
				if tt.wantErr != nil {
					if !errors.Is(err, tt.wantErr) {
						t.Errorf("Route(%s): got %v, want %v", tt.job, err, tt.wantErr)
					}
					continue
				}
				if err != nil || d.Cluster.Name != tt.want || !d.Cluster.IsActive {
					t.Errorf("Route(%s): got %s (active %v), %v; want %s", tt.job, d.Cluster.Name, d.Cluster.IsActive, err, tt.want)
				}
			}
			// The inactive identity record (id 4 in the sample) is never chosen.
			d, err := router.Route(f.ctx, req("identity_org1/svc", "identity"))
			if err != nil || !d.Cluster.IsActive || d.Cluster.Name != "identity" {
				t.Errorf("Route(identity): got %+v, %v; want the active identity record", d.Cluster, err)
			}
		})
	}
}
