package controller

import (
	"fmt"
	"net/url"
	"strings"
	"unicode"
)

// ValidationError says which field of an input is wrong and the rule it
// breaks. Field is the API's camelCase name.
type ValidationError struct {
	Field string
	Rule  string
}

func (e *ValidationError) Error() string { return e.Field + ": " + e.Rule }

// Limits of the free-text fields.
const (
	maxIdentifier  = 100
	maxUsername    = 255
	maxDescription = 2000
	maxAPIToken    = 1024
)

// Validate checks every field of in, defaults applied, and returns the
// first problem as a *ValidationError, or nil.
func (in CreateInput) Validate() error {
	return firstProblem(append(in.config().problems(), checkAPIToken(in.APIToken))...)
}

// patchBase is a valid configuration for Patch.Validate to lay a patch over:
// any problem then comes from a field the patch sets.
var patchBase = CreateInput{Name: "base", URL: "https://base.invalid"}.config()

// Validate checks the fields p sets and returns the first problem as a
// *ValidationError, or nil.
func (p Patch) Validate() error {
	problems := p.apply(patchBase).problems()
	if p.APIToken != nil {
		problems = append(problems, checkAPIToken(*p.APIToken))
	}
	return firstProblem(problems...)
}

// firstProblem returns the first non-nil problem, or a nil error (never a
// nil *ValidationError in a non-nil error).
func firstProblem(problems ...*ValidationError) error {
	for _, p := range problems {
		if p != nil {
			return p
		}
	}
	return nil
}

// problems checks c field by field, in the order of the API's
// documentation; nil entries are fields that passed.
func (c config) problems() []*ValidationError {
	return []*ValidationError{
		checkIdentifier("name", c.name),
		checkBaseURL("url", c.url, true, "https://jenkins.example.com"),
		checkText("username", c.username, maxUsername, false),
		checkText("description", c.description, maxDescription, true),
		checkIdentifier("clusterId", c.clusterID),
		checkBaseURL("loadBalancerUrl", c.loadBalancerURL, false, "https://jenkins-lb.example.com"),
		checkRange("priority", c.priority, 0, 100),
		checkHealthCheckURL(c.healthCheckURL),
		checkRange("maxConnections", c.maxConnections, 1, 100000),
	}
}

// checkIdentifier checks a name or cluster ID: 1–100 characters of
// [A-Za-z0-9._-], safe in URLs, metric labels and log lines.
func checkIdentifier(field, v string) *ValidationError {
	if v == "" {
		return &ValidationError{field, "is required"}
	}
	ok := len(v) <= maxIdentifier
	for _, r := range v {
		ok = ok && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-')
	}
	if !ok {
		return &ValidationError{field, fmt.Sprintf("must be 1 to %d characters of letters, digits, '.', '_' and '-', e.g. jenkins-1", maxIdentifier)}
	}
	return nil
}

// checkBaseURL checks a URL that paths are appended to: absolute http or
// https, without credentials, query or fragment. "" passes unless required.
func checkBaseURL(field, v string, required bool, example string) *ValidationError {
	switch {
	case v == "" && required:
		return &ValidationError{field, "is required, e.g. " + example}
	case v == "":
		return nil
	}
	u, rule := parseHTTPURL(v, example)
	switch {
	case rule != "":
		return &ValidationError{field, rule}
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(v, "#"):
		return &ValidationError{field, "must not have a query or fragment, e.g. " + example}
	}
	return nil
}

// checkHealthCheckURL accepts an absolute http or https URL, or a path
// starting with / (a query is allowed: /api/json?tree=mode). "" passes.
func checkHealthCheckURL(v string) *ValidationError {
	if v == "" {
		return nil
	}
	bad := &ValidationError{"healthCheckUrl", "must be a path starting with / or an absolute http or https URL, e.g. /login or https://jenkins.example.com/api/json"}
	if strings.ContainsAny(v, " \t\r\n#") {
		return bad
	}
	if strings.HasPrefix(v, "/") {
		// "//host/path" would be a URL on another host, not a path.
		if _, err := url.Parse(v); err != nil || strings.HasPrefix(v, "//") {
			return bad
		}
		return nil
	}
	if _, rule := parseHTTPURL(v, ""); rule != "" {
		return bad
	}
	return nil
}

// parseHTTPURL parses an absolute http or https URL without credentials and
// returns the rule it breaks, if any.
func parseHTTPURL(v, example string) (*url.URL, string) {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" || strings.ContainsAny(v, " \t\r\n") {
		return nil, "must be an absolute http or https URL, e.g. " + example
	}
	if u.User != nil {
		return nil, "must not contain a username or password: set username and apiToken instead"
	}
	return u, ""
}

// checkText checks a free-text field's length and that it holds no control
// characters, bar newlines and tabs where multiline.
func checkText(field, v string, max int, multiline bool) *ValidationError {
	control := func(r rune) bool { return unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\t')) }
	if len(v) > max || strings.IndexFunc(v, control) >= 0 {
		return &ValidationError{field, fmt.Sprintf("must be at most %d bytes without control characters", max)}
	}
	return nil
}

func checkRange(field string, v, lo, hi int) *ValidationError {
	if v < lo || v > hi {
		return &ValidationError{field, fmt.Sprintf("must be between %d and %d", lo, hi)}
	}
	return nil
}

// checkAPIToken rejects what is surely a paste error: whitespace or control
// characters (a trailing newline most often) or an absurd length. "" (no
// token) passes. The message never quotes the token.
func checkAPIToken(v string) *ValidationError {
	if len(v) > maxAPIToken || strings.IndexFunc(v, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		return &ValidationError{"apiToken", fmt.Sprintf("must be at most %d bytes without spaces or control characters", maxAPIToken)}
	}
	return nil
}
