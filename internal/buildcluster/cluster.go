package buildcluster

import (
	"slices"
	"strings"
	"time"
)

// ManagedBy says who runs a build cluster.
type ManagedBy string

const (
	// ManagedByScrewdriver is a cluster the platform team runs. One with no
	// scmOrganizations is shared by every pipeline of its scmContext and
	// takes part in the weighted default pick.
	ManagedByScrewdriver ManagedBy = "screwdriver"
	// ManagedByExternal is a cluster a team brought: it lists the
	// organizations allowed on it, and a build reaches it only by naming it.
	ManagedByExternal ManagedBy = "external"
)

// Annotation keys a pipeline or job sets to choose its build cluster.
const (
	// AnnotationBuildCluster names the cluster a build must run on.
	AnnotationBuildCluster = "screwdriver.cd/buildCluster"
	// annotationBuildClusterShort is the key of the 2018 design draft's YAML
	// example. It is read when AnnotationBuildCluster is absent, so that a
	// pipeline written after the draft is not silently routed elsewhere.
	annotationBuildClusterShort = "buildCluster"
)

// DefaultWeight is the weight of a cluster registered without one.
const DefaultWeight = 100

// Cluster is one registered build cluster record. Its JSON is the API's
// rendering. (name, scmContext) has at most one active record; inactive
// records with the same pair may sit beside it (a retired registration).
type Cluster struct {
	ID               int64     `json:"id"`
	Name             string    `json:"name"`
	Description      string    `json:"description"`
	SCMContext       string    `json:"scmContext"`
	SCMOrganizations []string  `json:"scmOrganizations"`
	IsActive         bool      `json:"isActive"`
	ManagedBy        ManagedBy `json:"managedBy"`
	ManagedByEmail   string    `json:"managedByEmail"`
	// Weight is the cluster's share of the default pick, 0–100; 0 means the
	// cluster is used only by a build that names it.
	Weight int `json:"weight"`
	// PublicKeys verify the JWTs the cluster's workers sign. Several may be
	// registered at once so that a key rotates without downtime.
	PublicKeys []PublicKey `json:"publicKeys"`
	CreatedAt  time.Time   `json:"createdAt"`
	UpdatedAt  time.Time   `json:"updatedAt"`
}

// PublicKey is one public key of a cluster's workers. PEM is always a
// PKIX "PUBLIC KEY" block as stored (see ParsePublicKey); a private key is
// never accepted, stored or rendered.
type PublicKey struct {
	// KID is the JWT "kid" header that selects this key.
	KID string `json:"kid"`
	// Algorithm is the JWT "alg" the key verifies: RS256, ES256 or EdDSA.
	Algorithm string `json:"algorithm"`
	PEM       string `json:"pem"`
}

// Key returns the cluster's public key with kid, and whether it has one.
func (c Cluster) Key(kid string) (PublicKey, bool) {
	i := slices.IndexFunc(c.PublicKeys, func(k PublicKey) bool { return k.KID == kid })
	if i < 0 {
		return PublicKey{}, false
	}
	return c.PublicKeys[i], true
}

// Allows reports whether a pipeline of organization org may run on c: the
// cluster lists org (compared case-insensitively, as GitHub and GitLab
// compare organization names), or it lists none and is run by the platform
// team. Allows does not look at isActive or scmContext.
func (c Cluster) Allows(org string) bool {
	if len(c.SCMOrganizations) == 0 {
		return c.ManagedBy == ManagedByScrewdriver
	}
	return slices.ContainsFunc(c.SCMOrganizations, func(o string) bool { return strings.EqualFold(o, org) })
}

// CreateInput registers a build cluster. Weight defaults to 100 and IsActive
// to true when nil; IsActive false is honoured.
type CreateInput struct {
	Name             string      `json:"name"`
	Description      string      `json:"description"`
	SCMContext       string      `json:"scmContext"`
	SCMOrganizations []string    `json:"scmOrganizations"`
	IsActive         *bool       `json:"isActive"`
	ManagedBy        ManagedBy   `json:"managedBy"`
	ManagedByEmail   string      `json:"managedByEmail"`
	Weight           *int        `json:"weight"`
	PublicKeys       []PublicKey `json:"publicKeys"`
}

// Patch changes some fields of a cluster record: nil leaves a field as it
// is. PublicKeys replaces the whole set (AddKey and RemoveKey change one).
// Name and SCMContext identify the record and cannot change; they are here
// so that a client may send back what it read (GET, edit, PUT): a value
// other than the current one is a *ValidationError.
type Patch struct {
	Name             *string      `json:"name,omitempty"`
	SCMContext       *string      `json:"scmContext,omitempty"`
	Description      *string      `json:"description,omitempty"`
	SCMOrganizations *[]string    `json:"scmOrganizations,omitempty"`
	IsActive         *bool        `json:"isActive,omitempty"`
	ManagedBy        *ManagedBy   `json:"managedBy,omitempty"`
	ManagedByEmail   *string      `json:"managedByEmail,omitempty"`
	Weight           *int         `json:"weight,omitempty"`
	PublicKeys       *[]PublicKey `json:"publicKeys,omitempty"`
}

// ListFilter narrows Store.List; the zero value lists every record.
type ListFilter struct {
	Name       string // only records with this name, when not ""
	SCMContext string // only records of this scmContext, when not ""
	ActiveOnly bool
}

// config is the part of a record the API sets: what CreateInput and Patch
// produce and what validation checks.
type config struct {
	name, description, scmContext string
	orgs                          []string
	isActive                      bool
	managedBy                     ManagedBy
	email                         string
	weight                        int
	keys                          []PublicKey
}

func (in CreateInput) config() config {
	c := config{
		name:        in.Name,
		description: in.Description,
		scmContext:  in.SCMContext,
		orgs:        in.SCMOrganizations,
		isActive:    true,
		managedBy:   in.ManagedBy,
		email:       in.ManagedByEmail,
		weight:      DefaultWeight,
		keys:        in.PublicKeys,
	}
	setIf(&c.isActive, in.IsActive)
	setIf(&c.weight, in.Weight)
	return c.normalised()
}

func (cl Cluster) config() config {
	return config{
		name:        cl.Name,
		description: cl.Description,
		scmContext:  cl.SCMContext,
		orgs:        cl.SCMOrganizations,
		isActive:    cl.IsActive,
		managedBy:   cl.ManagedBy,
		email:       cl.ManagedByEmail,
		weight:      cl.Weight,
		keys:        cl.PublicKeys,
	}
}

// apply returns c with p's fields laid over it. Name and SCMContext are
// not applied: validate compares them with the current record.
func (p Patch) apply(c config) config {
	setIf(&c.description, p.Description)
	setIf(&c.orgs, p.SCMOrganizations)
	setIf(&c.isActive, p.IsActive)
	setIf(&c.managedBy, p.ManagedBy)
	setIf(&c.email, p.ManagedByEmail)
	setIf(&c.weight, p.Weight)
	setIf(&c.keys, p.PublicKeys)
	return c.normalised()
}

func setIf[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// normalised returns c in its stored form: trimmed text, non-nil lists.
// Keys are normalised by validation, which parses them.
func (c config) normalised() config {
	c.name = strings.TrimSpace(c.name)
	c.scmContext = strings.TrimSpace(c.scmContext)
	c.email = strings.TrimSpace(c.email)
	orgs := make([]string, 0, len(c.orgs))
	for _, o := range c.orgs {
		orgs = append(orgs, strings.TrimSpace(o))
	}
	c.orgs = orgs
	if c.keys == nil {
		c.keys = []PublicKey{}
	}
	return c
}
