package buildcluster

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Routing errors. Each comes as a typed error that says why; match the
// sentinel with errors.Is. doc.go has the HTTP status of each.
var (
	// ErrUnauthorized: the pipeline's organization may not use the named
	// cluster (see UnauthorizedError).
	ErrUnauthorized = errors.New("not authorized for the build cluster")
	// ErrUnknownCluster: the annotation names a cluster that has no record
	// for the pipeline's scmContext (see UnknownClusterError).
	ErrUnknownCluster = errors.New("unknown build cluster")
	// ErrNoCandidate: no active cluster may take the build now (see
	// NoCandidateError).
	ErrNoCandidate = errors.New("no build cluster can take the build")
)

// UnauthorizedError is a build whose organization the named cluster does
// not allow. It matches ErrUnauthorized.
type UnauthorizedError struct {
	Cluster, SCMContext, Organization string
	// Allowed is the cluster's scmOrganizations; empty for a cluster that
	// is external and lists none (which validation prevents).
	Allowed []string
	// Maintainer is the cluster's managedByEmail, to ask for access.
	Maintainer string
}

func (e *UnauthorizedError) Error() string {
	allowed := "no organization"
	if len(e.Allowed) > 0 {
		allowed = "only " + strings.Join(e.Allowed, ", ")
	}
	msg := fmt.Sprintf("organization %q is not allowed on build cluster %q (%s), which allows %s",
		e.Organization, e.Cluster, e.SCMContext, allowed)
	if e.Maintainer != "" {
		msg += "; ask its maintainer " + e.Maintainer + " to add the organization"
	}
	return msg + ", or name another cluster in " + AnnotationBuildCluster
}
func (e *UnauthorizedError) Is(target error) bool { return target == ErrUnauthorized }

// UnknownClusterError is a named cluster without a record for the
// pipeline's scmContext. It matches ErrUnknownCluster.
type UnknownClusterError struct {
	Name, SCMContext string
	// RegisteredFor lists the scmContexts that do have a cluster of that
	// name: a pipeline of another SCM named it.
	RegisteredFor []string
}

func (e *UnknownClusterError) Error() string {
	msg := fmt.Sprintf("build cluster %q named in %s does not exist for scmContext %s", e.Name, AnnotationBuildCluster, e.SCMContext)
	if len(e.RegisteredFor) > 0 {
		msg += " (it is registered for " + strings.Join(e.RegisteredFor, ", ") + " only)"
	}
	return msg + ": fix the annotation, or remove it to let the platform choose"
}
func (e *UnknownClusterError) Is(target error) bool { return target == ErrUnknownCluster }

// NoCandidateError is a build no active cluster may take: none is
// registered for the scmContext, or every record considered was ruled out
// (inactive, external, weight 0, organization not allowed). It matches
// ErrNoCandidate.
type NoCandidateError struct {
	SCMContext string
	// Named is the cluster the build named, inactive; "" when it named none.
	Named string
	// Considered says, per record of the scmContext, why it could not take
	// the build: "gq1: inactive".
	Considered []string
}

func (e *NoCandidateError) Error() string {
	var msg string
	switch {
	case e.Named != "":
		msg = fmt.Sprintf("build cluster %q is inactive and no other active cluster of %s may take the build instead", e.Named, e.SCMContext)
	default:
		msg = fmt.Sprintf("no active build cluster of %s may take a build that names none", e.SCMContext)
	}
	if len(e.Considered) == 0 {
		return msg + ": no build cluster is registered for " + e.SCMContext
	}
	return msg + "; considered " + strings.Join(e.Considered, "; ")
}
func (e *NoCandidateError) Is(target error) bool { return target == ErrNoCandidate }

// Lister reads cluster records; *Store is one.
type Lister interface {
	List(ctx context.Context, f ListFilter) ([]Cluster, error)
}

var _ Lister = (*Store)(nil)

// Request is what the router needs to know about a build.
type Request struct {
	SCMContext string // the pipeline's, e.g. github:github.com
	Pipeline   string // the repository, org/repo
	Job        string
	// Annotations are the job's, merged over the pipeline's (see
	// Pipeline.Job); AnnotationBuildCluster names a cluster.
	Annotations map[string]string
}

// Decision is where a build goes and why, for the build record and its log.
type Decision struct {
	Cluster Cluster
	Reason  string
}

// Router chooses a build's cluster (doc.go has the rules).
type Router struct {
	clusters Lister
	intn     func(int) int
}

// NewRouter returns a Router over the records clusters lists that draws
// its weighted picks with intn (rand.IntN of math/rand/v2 in production:
// it must return a number in [0, n) and be safe for concurrent use).
func NewRouter(clusters Lister, intn func(int) int) *Router {
	return &Router{clusters: clusters, intn: intn}
}

// Route chooses the cluster for req. Errors: *ValidationError for a
// malformed request, and the routing errors above; never a panic, never a
// cluster the pipeline's organization is not allowed on.
func (r *Router) Route(ctx context.Context, req Request) (Decision, error) {
	org, err := req.check()
	if err != nil {
		return Decision{}, fmt.Errorf("route build of %s: %w", req.Pipeline, err)
	}
	records, err := r.clusters.List(ctx, ListFilter{SCMContext: req.SCMContext})
	if err != nil {
		return Decision{}, fmt.Errorf("route build of %s: %w", req.Pipeline, err)
	}
	name := clusterName(req.Annotations)
	if name == "" {
		d, err := r.pickDefault(records, req.SCMContext, org)
		if err != nil {
			return Decision{}, fmt.Errorf("route build of %s: %w", req.Pipeline, err)
		}
		return d, nil
	}

	named := slices.DeleteFunc(slices.Clone(records), func(c Cluster) bool { return c.Name != name })
	if len(named) == 0 {
		return Decision{}, fmt.Errorf("route build of %s: %w", req.Pipeline, r.unknown(ctx, name, req.SCMContext))
	}
	// List puts the active record first; of inactive ones, read the newest.
	slices.SortStableFunc(named, func(a, b Cluster) int {
		return cmp.Or(compareActive(a, b), b.UpdatedAt.Compare(a.UpdatedAt))
	})
	target := named[0]
	// Authorization comes first, whatever the state: a pipeline that may
	// not use a cluster learns that, not which cluster would stand in.
	if !target.Allows(org) {
		return Decision{}, fmt.Errorf("route build of %s: %w", req.Pipeline, &UnauthorizedError{
			Cluster: target.Name, SCMContext: target.SCMContext, Organization: org,
			Allowed: target.SCMOrganizations, Maintainer: target.ManagedByEmail,
		})
	}
	if target.IsActive {
		return Decision{Cluster: target, Reason: fmt.Sprintf("named in %s", AnnotationBuildCluster)}, nil
	}
	d, err := r.pickInstead(records, target, org)
	if err != nil {
		return Decision{}, fmt.Errorf("route build of %s: %w", req.Pipeline, err)
	}
	return d, nil
}

// check validates req and returns the pipeline's organization.
func (req Request) check() (string, error) {
	if p := checkSCMContext("scmContext", req.SCMContext); p != nil {
		return "", p
	}
	org, repo, ok := strings.Cut(req.Pipeline, "/")
	if !ok || org == "" || repo == "" || strings.IndexFunc(req.Pipeline, func(r rune) bool { return r <= ' ' }) >= 0 {
		return "", &ValidationError{Field: "pipeline", Rule: "must be the repository as org/repo, e.g. screwdriver-cd/ui"}
	}
	return org, nil
}

// clusterName is the cluster the annotations name, or "".
func clusterName(annotations map[string]string) string {
	if v, ok := annotations[AnnotationBuildCluster]; ok {
		return strings.TrimSpace(v)
	}
	return strings.TrimSpace(annotations[annotationBuildClusterShort])
}

// unknown builds the error for a name with no record in scmContext, saying
// which scmContexts do have it.
func (r *Router) unknown(ctx context.Context, name, scmContext string) error {
	others, err := r.clusters.List(ctx, ListFilter{Name: name})
	if err != nil {
		return err
	}
	e := &UnknownClusterError{Name: name, SCMContext: scmContext}
	for _, c := range others {
		if !slices.Contains(e.RegisteredFor, c.SCMContext) {
			e.RegisteredFor = append(e.RegisteredFor, c.SCMContext)
		}
	}
	return e
}

// pickDefault draws, by weight, among the active screwdriver-managed
// clusters that allow org and have a weight above 0.
func (r *Router) pickDefault(records []Cluster, scmContext, org string) (Decision, error) {
	var candidates []Cluster
	var considered []string
	for _, c := range records {
		why := ""
		switch {
		case !c.IsActive:
			why = "inactive"
		case c.ManagedBy != ManagedByScrewdriver:
			why = "external: used only when named"
		case c.Weight == 0:
			why = "weight 0: used only when named"
		case !c.Allows(org):
			why = fmt.Sprintf("organization %q not allowed", org)
		default:
			candidates = append(candidates, c)
			continue
		}
		considered = append(considered, fmt.Sprintf("%s (id %d): %s", c.Name, c.ID, why))
	}
	if len(candidates) == 0 {
		return Decision{}, &NoCandidateError{SCMContext: scmContext, Considered: considered}
	}
	c, share := r.pick(candidates)
	return Decision{Cluster: c, Reason: fmt.Sprintf(
		"no cluster named: drew %s by weight (%s) among the active screwdriver-managed clusters of %s",
		c.Name, share, scmContext)}, nil
}

// pickInstead draws, by weight, a stand-in for the inactive cluster named:
// an active cluster of the same kind (managedBy) that allows org, weight
// above 0. An external cluster is a team's own infrastructure (macOS for
// iOS builds, say), so its stand-in is another cluster that lists the
// team's organization, never the shared pool and never another team's.
func (r *Router) pickInstead(records []Cluster, named Cluster, org string) (Decision, error) {
	var candidates []Cluster
	var considered []string
	for _, c := range records {
		if c.Name == named.Name {
			considered = append(considered, fmt.Sprintf("%s (id %d): inactive", c.Name, c.ID))
			continue
		}
		why := ""
		switch {
		case !c.IsActive:
			why = "inactive"
		case c.ManagedBy != named.ManagedBy:
			why = fmt.Sprintf("%s-managed, and %s is %s-managed", c.ManagedBy, named.Name, named.ManagedBy)
		case !c.Allows(org):
			why = fmt.Sprintf("organization %q not allowed", org)
		case c.Weight == 0:
			why = "weight 0: used only when named"
		default:
			candidates = append(candidates, c)
			continue
		}
		considered = append(considered, fmt.Sprintf("%s (id %d): %s", c.Name, c.ID, why))
	}
	if len(candidates) == 0 {
		return Decision{}, &NoCandidateError{SCMContext: named.SCMContext, Named: named.Name, Considered: considered}
	}
	c, share := r.pick(candidates)
	return Decision{Cluster: c, Reason: fmt.Sprintf(
		"%s named in %s is inactive: drew %s by weight (%s) among the active %s-managed clusters that allow organization %q",
		named.Name, AnnotationBuildCluster, c.Name, share, named.ManagedBy, org)}, nil
}

// pick draws one of candidates (not empty, weights above 0) with
// probability weight/total, and describes its share. Candidates are put in
// a fixed order first, so a given draw always picks the same cluster.
func (r *Router) pick(candidates []Cluster) (Cluster, string) {
	slices.SortFunc(candidates, func(a, b Cluster) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID))
	})
	total := 0
	for _, c := range candidates {
		total += c.Weight
	}
	// A draw out of range is the injected function's bug; fold it into
	// range rather than index past the slice.
	n := r.intn(total) % total
	if n < 0 {
		n += total
	}
	for _, c := range candidates {
		if n < c.Weight {
			return c, fmt.Sprintf("%d of %d", c.Weight, total)
		}
		n -= c.Weight
	}
	last := candidates[len(candidates)-1] // not reached: n < total
	return last, fmt.Sprintf("%d of %d", last.Weight, total)
}
