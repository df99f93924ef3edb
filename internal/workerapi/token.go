package workerapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jenkinds/jenkinds/internal/buildcluster"
)

// Reasons a token is refused: the "reason" of the answer and the label of
// jenkinds_workerapi_rejections_total. doc.go has the status of each.
const (
	ReasonMissingToken      = "missing_token"         // no Authorization: Bearer header
	ReasonMalformed         = "malformed"             // not a JWS compact token, or a claim of the wrong type or form
	ReasonAlgorithm         = "algorithm_not_allowed" // alg none, HS256… (only RS256, ES256, EdDSA)
	ReasonMissingClaim      = "missing_claim"         // buildCluster, aud, exp, iat or jti absent
	ReasonUnknownCluster    = "unknown_cluster"       // the buildCluster claim names no registered cluster
	ReasonMissingKID        = "missing_kid"           // no kid header
	ReasonUnknownKID        = "unknown_kid"           // the cluster has no key with that kid
	ReasonAlgorithmMismatch = "algorithm_mismatch"    // alg is not the one the key is pinned to
	ReasonBadSignature      = "bad_signature"         // the signature does not verify with the key
	ReasonWrongAudience     = "wrong_audience"        // aud does not include jenkinds
	ReasonIssuedInFuture    = "issued_in_future"      // iat later than now + leeway
	ReasonLifetime          = "lifetime_too_long"     // exp - iat over the cap (10 minutes)
	ReasonExpired           = "expired"               // exp passed (beyond the leeway)
	ReasonNotYetValid       = "not_yet_valid"         // nbf later than now + leeway
	ReasonClusterMismatch   = "cluster_mismatch"      // 403: the token's cluster is not the path's
	ReasonClusterInactive   = "cluster_inactive"      // 403: the cluster is registered but inactive
	ReasonReplayed          = "replayed"              // the jti was accepted before, within its lifetime
	ReasonReplayCacheFull   = "replay_cache_full"     // 503: no room to remember the jti; retry later
)

// Rejection is a request refused at authentication: Status 401 (the token
// does not prove who the caller is), 403 (it does, and the caller may not
// do this) or 503 (the server cannot check it now). Detail says what to
// fix and never quotes the token.
type Rejection struct {
	Status int
	Reason string
	Detail string
}

func (r *Rejection) Error() string { return r.Reason + ": " + r.Detail }

func reject(status int, reason, format string, args ...any) *Rejection {
	return &Rejection{Status: status, Reason: reason, Detail: fmt.Sprintf(format, args...)}
}

func unauthorized(reason, format string, args ...any) *Rejection {
	return reject(http.StatusUnauthorized, reason, format, args...)
}

// Claims are a worker token's claims: the design's {buildCluster: name}
// payload and the registered claims. sub, when set, names the worker.
type Claims struct {
	BuildCluster string `json:"buildCluster"`
	jwt.RegisteredClaims
}

// Identity is who a verified token speaks for.
type Identity struct {
	Cluster string
	// Worker is the token's sub, or "<cluster> worker" without one: the
	// leasedBy of the jobs it claims.
	Worker string
	KID    string
}

// allowedAlgorithms are the only algs a token may carry, each verified
// only with a key registered for it.
var allowedAlgorithms = []string{buildcluster.AlgRS256, buildcluster.AlgES256, buildcluster.AlgEdDSA}

// maxTokenBytes bounds what is parsed: a worker token is a few hundred bytes.
const maxTokenBytes = 8 << 10

// verifier checks worker tokens (doc.go lists the rules and their order).
type verifier struct {
	keys        *keyring
	replay      *replayCache
	now         func() time.Time
	leeway      time.Duration
	maxLifetime time.Duration
	parser      *jwt.Parser
}

func newVerifier(cfg Config, clusters buildcluster.Lister, now func() time.Time) *verifier {
	return &verifier{
		keys:        newKeyring(clusters, cfg.KeyCacheTTL, now),
		replay:      newReplayCache(cfg.MaxReplayEntries),
		now:         now,
		leeway:      cfg.Leeway,
		maxLifetime: cfg.MaxTokenLifetime,
		// The library parses and checks the signature; the claims are
		// checked below, one reason each, against the injected clock.
		parser: jwt.NewParser(jwt.WithValidMethods(allowedAlgorithms), jwt.WithoutClaimsValidation()),
	}
}

// verify checks raw, presented on cluster's path, and returns whom it
// speaks for: a *Rejection when it is refused, another error when it
// could not be checked (the registry did not answer).
func (v *verifier) verify(ctx context.Context, cluster, raw string) (Identity, error) {
	if len(raw) > maxTokenBytes {
		return Identity{}, unauthorized(ReasonMalformed, "the token is over %d bytes", maxTokenBytes)
	}
	var (
		claims  Claims
		key     verifyKey
		keysErr error
	)
	token, err := v.parser.ParseWithClaims(raw, &claims, func(t *jwt.Token) (any, error) {
		key, keysErr = v.pickKey(ctx, t, &claims)
		if keysErr != nil {
			return nil, keysErr
		}
		return key.key, nil
	})
	if err != nil {
		return Identity{}, v.explain(token, err, keysErr)
	}
	if err := v.checkClaims(claims); err != nil {
		return Identity{}, err
	}

	// The token is genuine and current: now, may it do this?
	if claims.BuildCluster != cluster {
		return Identity{}, reject(http.StatusForbidden, ReasonClusterMismatch,
			"the token is for build cluster %q and cannot use the queue of %q: sign the token with buildCluster %q and that cluster's key",
			claims.BuildCluster, cluster, cluster)
	}
	if ck, err := v.keys.lookup(ctx, cluster); err != nil {
		return Identity{}, err
	} else if !ck.active {
		return Identity{}, reject(http.StatusForbidden, ReasonClusterInactive,
			"build cluster %q is inactive: an admin must activate it before its workers may take jobs", cluster)
	}
	until := claims.ExpiresAt.Add(v.leeway)
	switch v.replay.firstUse(replayKey(cluster, claims.ID), until, v.now()) {
	case replaySeen:
		return Identity{}, unauthorized(ReasonReplayed, "a token with jti %q was already used: sign a new token, with a fresh jti, for every request", claims.ID)
	case replayIsFull:
		return Identity{}, reject(http.StatusServiceUnavailable, ReasonReplayCacheFull,
			"the server remembers too many unexpired tokens to accept another now: retry shortly, and use shorter token lifetimes")
	}
	worker := claims.Subject
	if worker == "" {
		worker = cluster + " worker"
	}
	return Identity{Cluster: cluster, Worker: worker, KID: key.kid}, nil
}

// pickKey chooses the key that must verify t: by the buildCluster claim
// (the cluster whose key signed it) and the kid header, pinned to the key's
// algorithm.
func (v *verifier) pickKey(ctx context.Context, t *jwt.Token, claims *Claims) (verifyKey, error) {
	if claims.BuildCluster == "" {
		return verifyKey{}, unauthorized(ReasonMissingClaim, `the token has no buildCluster claim: sign {"buildCluster": "<cluster name>", …}`)
	}
	if !clusterName(claims.BuildCluster) {
		return verifyKey{}, unauthorized(ReasonMalformed, "the buildCluster claim is not a build cluster name")
	}
	kid, _ := t.Header["kid"].(string)
	if kid == "" {
		return verifyKey{}, unauthorized(ReasonMissingKID, "the token has no kid header: set it to the kid the cluster's public key is registered with")
	}
	ck, err := v.keys.lookup(ctx, claims.BuildCluster)
	if err != nil {
		return verifyKey{}, err
	}
	if !ck.known {
		return verifyKey{}, unauthorized(ReasonUnknownCluster, "no build cluster %q is registered", claims.BuildCluster)
	}
	keys := ck.withKID(kid)
	if len(keys) == 0 {
		return verifyKey{}, unauthorized(ReasonUnknownKID, "build cluster %q has no key with kid %q: register it (jenkinds buildclusters add-key) or sign with a registered one",
			claims.BuildCluster, shorten(kid))
	}
	alg := t.Method.Alg()
	i := slices.IndexFunc(keys, func(k verifyKey) bool { return k.alg == alg })
	if i < 0 {
		return verifyKey{}, unauthorized(ReasonAlgorithmMismatch, "key %q of build cluster %q verifies %s only, and the token says %s",
			kid, claims.BuildCluster, keys[0].alg, alg)
	}
	return keys[i], nil
}

// explain turns a parse failure into its rejection.
func (v *verifier) explain(token *jwt.Token, err, keysErr error) error {
	var r *Rejection
	switch {
	case errors.As(err, &r):
		return r
	case keysErr != nil:
		return keysErr // the registry did not answer
	case token == nil || errors.Is(err, jwt.ErrTokenMalformed):
		return unauthorized(ReasonMalformed, "the token is not a signed JWT (header.payload.signature, base64url JSON): %s", parseProblem(err))
	}
	if alg, _ := token.Header["alg"].(string); !slices.Contains(allowedAlgorithms, alg) {
		return unauthorized(ReasonAlgorithm, "alg %q is not accepted: sign with RS256, ES256 or EdDSA, the algorithm of the cluster's key", shorten(alg))
	}
	if errors.Is(err, jwt.ErrTokenSignatureInvalid) {
		return unauthorized(ReasonBadSignature, "the signature does not verify with the cluster's key of that kid: sign with the matching private key")
	}
	return unauthorized(ReasonMalformed, "the token cannot be verified: %s", parseProblem(err))
}

// parseProblem is the library's description of a parse failure, cut
// before any detail that could quote the token ("token is malformed: could
// not JSON decode claim").
func parseProblem(err error) string {
	parts := strings.SplitN(err.Error(), ": ", 3)
	return strings.Join(parts[:min(2, len(parts))], ": ")
}

// checkClaims applies the claim rules, one reason each, in the order of
// doc.go.
func (v *verifier) checkClaims(c Claims) error {
	var missing []string
	if len(c.Audience) == 0 {
		missing = append(missing, "aud")
	}
	if c.ExpiresAt == nil {
		missing = append(missing, "exp")
	}
	if c.IssuedAt == nil {
		missing = append(missing, "iat")
	}
	if c.ID == "" {
		missing = append(missing, "jti")
	}
	if len(missing) > 0 {
		return unauthorized(ReasonMissingClaim, "the token lacks %s: every worker token carries aud %q, iat, exp (at most %s after iat) and a unique jti",
			strings.Join(missing, ", "), Audience, v.maxLifetime)
	}
	if len(c.ID) > 200 {
		return unauthorized(ReasonMalformed, "jti is over 200 characters")
	}
	if c.Subject != "" && !printable(c.Subject, 200) {
		return unauthorized(ReasonMalformed, "sub (the worker's name) must be 1 to 200 printable characters")
	}
	if !slices.Contains(c.Audience, Audience) {
		return unauthorized(ReasonWrongAudience, "aud must include %q", Audience)
	}
	now := v.now()
	iat, exp := c.IssuedAt.Time, c.ExpiresAt.Time
	if iat.After(now.Add(v.leeway)) {
		return unauthorized(ReasonIssuedInFuture, "iat is %s in the future (more than the %s allowed for clock skew): check the worker's clock",
			iat.Sub(now).Round(time.Second), v.leeway)
	}
	if exp.Sub(iat) > v.maxLifetime {
		return unauthorized(ReasonLifetime, "the token lives %s (exp - iat), more than the %s allowed: sign short-lived tokens",
			exp.Sub(iat).Round(time.Second), v.maxLifetime)
	}
	if !now.Before(exp.Add(v.leeway)) {
		return unauthorized(ReasonExpired, "the token expired %s ago: sign a new one for every request", now.Sub(exp).Round(time.Second))
	}
	if c.NotBefore != nil && c.NotBefore.After(now.Add(v.leeway)) {
		return unauthorized(ReasonNotYetValid, "nbf is %s in the future", c.NotBefore.Sub(now).Round(time.Second))
	}
	return nil
}

// clusterName reports whether s has the form of a build cluster name.
func clusterName(s string) bool {
	if s == "" || len(s) > 100 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-') {
			return false
		}
	}
	return true
}

// printable reports whether s is 1 to max bytes without control characters.
func printable(s string, max int) bool {
	return s != "" && len(s) <= max && strings.IndexFunc(s, unicode.IsControl) < 0
}

// shorten cuts a caller's value for a message.
func shorten(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return strings.ToValidUTF8(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s), "")
}
