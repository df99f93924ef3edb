package buildcluster

import (
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"strings"
	"unicode"
)

// ErrExternalWithoutOrganizations is the one rule about a cluster that is
// well formed but cannot be accepted: an external cluster that lists no
// scmOrganizations would be open to nobody (Allows) or, worse, read as open
// to everybody by a later change. It comes wrapped in a *ValidationError on
// scmOrganizations; the API answers it with 422, every other
// *ValidationError with 400, so test for this sentinel first.
var ErrExternalWithoutOrganizations = errors.New("an external cluster must list at least one scmOrganization")

// ValidationError says which field of an input is wrong and the rule it
// breaks. Field is the API's camelCase name. Err, when not nil, classifies
// the rule (ErrExternalWithoutOrganizations) and is what Unwrap returns.
type ValidationError struct {
	Field string
	Rule  string
	Err   error
}

func (e *ValidationError) Error() string { return e.Field + ": " + e.Rule }
func (e *ValidationError) Unwrap() error { return e.Err }

// Limits of the fields, as Screwdriver's schema has them where it has one.
const (
	maxName        = 50
	maxDescription = 100
	maxSCMContext  = 128
	maxOrg         = 100
	maxOrgs        = 100
	maxEmail       = 100
)

var (
	nameRule       = regexp.MustCompile(`^[\w.-]+$`)
	scmContextRule = regexp.MustCompile(`^[^:\s]+:[^:\s]+$`)
)

// Validate checks every field of in, defaults applied, and returns the
// first problem as a *ValidationError, or nil.
func (in CreateInput) Validate() error {
	_, err := in.config().check()
	return err
}

// check validates c and returns it in stored form (keys normalised). The
// first problem is returned as a *ValidationError; field syntax comes
// before ErrExternalWithoutOrganizations, so that a 422 is only ever about
// a request that is otherwise well formed.
func (c config) check() (config, error) {
	problems := []*ValidationError{
		checkName(c.name),
		checkText("description", c.description, maxDescription),
		checkSCMContext("scmContext", c.scmContext),
		checkOrgs(c.orgs),
		checkManagedBy(c.managedBy),
		checkEmail(c.email),
		checkWeight(c.weight),
	}
	for _, p := range problems {
		if p != nil {
			return config{}, p
		}
	}
	keys, p := checkKeys(c.keys)
	if p != nil {
		return config{}, p
	}
	c.keys = keys
	if c.managedBy == ManagedByExternal && len(c.orgs) == 0 {
		return config{}, &ValidationError{
			Field: "scmOrganizations",
			Rule:  "an external cluster must list at least one organization allowed to use it, e.g. [\"my-org\"]",
			Err:   ErrExternalWithoutOrganizations,
		}
	}
	return c, nil
}

func checkName(v string) *ValidationError {
	if v == "" {
		return &ValidationError{Field: "name", Rule: "is required"}
	}
	if len(v) > maxName || !nameRule.MatchString(v) {
		return &ValidationError{Field: "name", Rule: fmt.Sprintf(`must be 1 to %d characters of letters, digits, '_', '.' and '-' (^[\w.-]+$), e.g. iOS or aws.us-east-1`, maxName)}
	}
	return nil
}

// checkSCMContext checks an scmContext: "scm:host", e.g. github:github.com.
func checkSCMContext(field, v string) *ValidationError {
	if v == "" {
		return &ValidationError{Field: field, Rule: "is required, e.g. github:github.com"}
	}
	if len(v) > maxSCMContext || !scmContextRule.MatchString(v) {
		return &ValidationError{Field: field, Rule: fmt.Sprintf("must be scm:host, at most %d characters, e.g. github:github.com", maxSCMContext)}
	}
	return nil
}

func checkOrgs(orgs []string) *ValidationError {
	if len(orgs) > maxOrgs {
		return &ValidationError{Field: "scmOrganizations", Rule: fmt.Sprintf("must list at most %d organizations", maxOrgs)}
	}
	seen := map[string]bool{}
	for i, o := range orgs {
		field := fmt.Sprintf("scmOrganizations[%d]", i)
		if o == "" || len(o) > maxOrg || strings.ContainsAny(o, "/:") || strings.IndexFunc(o, unicode.IsSpace) >= 0 || strings.IndexFunc(o, unicode.IsControl) >= 0 {
			return &ValidationError{Field: field, Rule: fmt.Sprintf("must be an organization name of 1 to %d characters without spaces, '/' or ':', e.g. my-org", maxOrg)}
		}
		if key := strings.ToLower(o); seen[key] {
			return &ValidationError{Field: field, Rule: fmt.Sprintf("%q is listed twice (organizations compare case-insensitively)", o)}
		} else {
			seen[key] = true
		}
	}
	return nil
}

func checkManagedBy(v ManagedBy) *ValidationError {
	if v != ManagedByScrewdriver && v != ManagedByExternal {
		return &ValidationError{Field: "managedBy", Rule: `must be "screwdriver" (run by the platform team) or "external" (run by the team that registers it)`}
	}
	return nil
}

// checkEmail accepts "" or one bare address, user@example.com.
func checkEmail(v string) *ValidationError {
	if v == "" {
		return nil
	}
	a, err := mail.ParseAddress(v)
	if err != nil || a.Address != v || len(v) > maxEmail {
		return &ValidationError{Field: "managedByEmail", Rule: fmt.Sprintf("must be one email address of at most %d characters, e.g. ci-team@example.com", maxEmail)}
	}
	return nil
}

func checkWeight(v int) *ValidationError {
	if v < 0 || v > 100 {
		return &ValidationError{Field: "weight", Rule: "must be between 0 and 100 (0: used only by builds that name the cluster)"}
	}
	return nil
}

// checkText checks a free-text field's length and that it holds no control
// characters.
func checkText(field, v string, max int) *ValidationError {
	if len(v) > max || strings.IndexFunc(v, unicode.IsControl) >= 0 {
		return &ValidationError{Field: field, Rule: fmt.Sprintf("must be at most %d bytes without control characters", max)}
	}
	return nil
}

// checkIdentity refuses a patch that would change a record's name or
// scmContext, which identify it (and, for the name, its queue and the
// pipelines that name it).
func (p Patch) checkIdentity(cur Cluster) error {
	if p.Name != nil && strings.TrimSpace(*p.Name) != cur.Name {
		return &ValidationError{Field: "name", Rule: fmt.Sprintf("cannot change (it is %q): pipelines and the queue know the cluster by name; register a new cluster and deactivate this one", cur.Name)}
	}
	if p.SCMContext != nil && strings.TrimSpace(*p.SCMContext) != cur.SCMContext {
		return &ValidationError{Field: "scmContext", Rule: fmt.Sprintf("cannot change (it is %q): register the cluster for the other scmContext as a record of its own", cur.SCMContext)}
	}
	return nil
}
