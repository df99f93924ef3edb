package workerapi_test

import (
	"crypto/ed25519"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jenkinds/jenkinds/internal/buildcluster"
	"github.com/jenkinds/jenkinds/internal/workerapi"
)

// TestTokenAttacks is the JWT attack suite: every forged, stale, replayed
// or misdirected token is refused with its status and reason, counts in
// jenkinds_workerapi_rejections_total, and is logged without the token.
func TestTokenAttacks(t *testing.T) {
	t.Parallel()
	f := setup(t, sqlite(t), workerapi.Config{})
	now := f.clock.Now()
	pub := publicPEM(t, keys.ed)
	replayed := f.sign(tokenSpec{})
	if r := f.call("GET", "/api/v1/jobs/bf1", replayed, nil); r.status != http.StatusNoContent {
		t.Fatalf("first use of the token to replay: got %d %s, want 204", r.status, r.body)
	}
	_, otherKey, _ := ed25519.GenerateKey(nil)

	for _, tt := range []struct {
		name    string
		token   string
		path    string // cluster in the path; default bf1
		status  int
		reason  string
		label   string // the metric's cluster label; default the path's
		mention string
	}{
		{name: "no token", token: "", status: 401, reason: workerapi.ReasonMissingToken},
		{name: "not a JWT", token: "abc.def", status: 401, reason: workerapi.ReasonMalformed},
		{name: "garbage segments", token: "a.b.c", status: 401, reason: workerapi.ReasonMalformed},
		{name: "alg none", token: f.sign(tokenSpec{alg: jwt.SigningMethodNone, key: jwt.UnsafeAllowNoneSignatureType}),
			status: 401, reason: workerapi.ReasonAlgorithm, mention: `"none"`},
		{name: "HS256 signed with the public key", token: f.sign(tokenSpec{alg: jwt.SigningMethodHS256, key: []byte(pub)}),
			status: 401, reason: workerapi.ReasonAlgorithm, mention: `"HS256"`},
		{name: "RS256 token on the EdDSA key's kid", token: f.sign(tokenSpec{alg: jwt.SigningMethodRS256, key: keys.rsa, kid: "ed-1"}),
			status: 401, reason: workerapi.ReasonAlgorithmMismatch},
		{name: "wrong key", token: f.sign(tokenSpec{key: otherKey, alg: jwt.SigningMethodEdDSA}),
			status: 401, reason: workerapi.ReasonBadSignature},
		{name: "another cluster's key on this kid", token: f.sign(tokenSpec{key: keys.ios, alg: jwt.SigningMethodEdDSA}),
			status: 401, reason: workerapi.ReasonBadSignature},
		{name: "unknown kid", token: f.sign(tokenSpec{kid: "nope"}), status: 401, reason: workerapi.ReasonUnknownKID, mention: `"nope"`},
		{name: "no kid", token: f.sign(tokenSpec{noKID: true}), status: 401, reason: workerapi.ReasonMissingKID},
		{name: "expired", token: f.sign(tokenSpec{claims: jwt.MapClaims{"iat": now.Add(-3 * time.Minute).Unix(), "exp": now.Add(-2 * time.Minute).Unix()}}),
			status: 401, reason: workerapi.ReasonExpired},
		{name: "iat in the future", token: f.sign(tokenSpec{claims: jwt.MapClaims{"iat": now.Add(5 * time.Minute).Unix(), "exp": now.Add(6 * time.Minute).Unix()}}),
			status: 401, reason: workerapi.ReasonIssuedInFuture},
		{name: "lifetime over the cap", token: f.sign(tokenSpec{claims: jwt.MapClaims{"exp": now.Add(11 * time.Minute).Unix()}}),
			status: 401, reason: workerapi.ReasonLifetime, mention: "10m0s"},
		{name: "nbf in the future", token: f.sign(tokenSpec{claims: jwt.MapClaims{"nbf": now.Add(2 * time.Minute).Unix()}}),
			status: 401, reason: workerapi.ReasonNotYetValid},
		{name: "wrong aud", token: f.sign(tokenSpec{claims: jwt.MapClaims{"aud": "screwdriver"}}), status: 401, reason: workerapi.ReasonWrongAudience},
		{name: "no exp", token: f.sign(tokenSpec{without: []string{"exp"}}), status: 401, reason: workerapi.ReasonMissingClaim, mention: "exp"},
		{name: "no iat", token: f.sign(tokenSpec{without: []string{"iat"}}), status: 401, reason: workerapi.ReasonMissingClaim, mention: "iat"},
		{name: "no jti", token: f.sign(tokenSpec{without: []string{"jti"}}), status: 401, reason: workerapi.ReasonMissingClaim, mention: "jti"},
		{name: "no aud", token: f.sign(tokenSpec{without: []string{"aud"}}), status: 401, reason: workerapi.ReasonMissingClaim, mention: "aud"},
		{name: "no cluster claim", token: f.sign(tokenSpec{without: []string{"buildCluster"}}), status: 401, reason: workerapi.ReasonMissingClaim},
		{name: "unknown cluster", token: f.sign(tokenSpec{claims: jwt.MapClaims{"buildCluster": "nosuch"}}), path: "nosuch",
			status: 401, reason: workerapi.ReasonUnknownCluster, label: "(unknown)"},
		{name: "cluster claim is not the path's", token: f.sign(tokenSpec{}), path: "iOS",
			status: 403, reason: workerapi.ReasonClusterMismatch, mention: `"bf1"`},
		{name: "cluster A's token reading cluster B's queue", token: f.tokenFor("iOS"), path: "bf1",
			status: 403, reason: workerapi.ReasonClusterMismatch, mention: `"iOS"`},
		{name: "cluster A's key claiming cluster B", token: f.sign(tokenSpec{key: keys.ios, alg: jwt.SigningMethodEdDSA, kid: "ios-1"}),
			status: 401, reason: workerapi.ReasonUnknownKID},
		{name: "replayed jti", token: replayed, status: 401, reason: workerapi.ReasonReplayed},
		{name: "inactive cluster", token: f.tokenFor("gq1"), path: "gq1", status: 403, reason: workerapi.ReasonClusterInactive},
		{name: "claim of the wrong type", token: f.sign(tokenSpec{claims: jwt.MapClaims{"exp": "tomorrow"}}), status: 401, reason: workerapi.ReasonMalformed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.path
			if path == "" {
				path = "bf1"
			}
			label := tt.label
			if label == "" {
				label = path
			}
			before := f.metrics.Rejections(label, tt.reason)
			r := f.call("GET", "/api/v1/jobs/"+path, tt.token, nil)
			if r.status != tt.status {
				t.Fatalf("got %d %s, want %d", r.status, r.body, tt.status)
			}
			e := r.err(t)
			if e.Error.Reason != tt.reason {
				t.Errorf("reason: got %q (%s), want %q", e.Error.Reason, e.Error.Message, tt.reason)
			}
			wantCode := map[int]string{401: workerapi.CodeUnauthorized, 403: workerapi.CodeForbidden}[tt.status]
			if e.Error.Code != wantCode {
				t.Errorf("code: got %q, want %q", e.Error.Code, wantCode)
			}
			if tt.mention != "" && !strings.Contains(e.Error.Message, tt.mention) {
				t.Errorf("message %q: want it to mention %s", e.Error.Message, tt.mention)
			}
			if got := r.header.Get("WWW-Authenticate"); (tt.status == 401) != strings.HasPrefix(got, "Bearer ") {
				t.Errorf("WWW-Authenticate: got %q on a %d", got, tt.status)
			}
			if got := f.metrics.Rejections(label, tt.reason); got != before+1 {
				t.Errorf("rejections{cluster=%q,reason=%q}: got %v, want %v", label, tt.reason, got, before+1)
			}
			if tt.token != "" && strings.Contains(f.logBuf.String(), tt.token) {
				t.Errorf("the log holds the token")
			}
			if !strings.Contains(f.logBuf.String(), "reason="+tt.reason) {
				t.Errorf("the log has no line for reason %s", tt.reason)
			}
		})
	}
}

// TestTokensAccepted checks that a valid token of each algorithm is
// accepted, on the same path and with the key pinned to it.
func TestTokensAccepted(t *testing.T) {
	t.Parallel()
	f := setup(t, sqlite(t), workerapi.Config{})
	for _, tt := range []struct {
		name string
		spec tokenSpec
	}{
		{"EdDSA", tokenSpec{}},
		{"RS256", tokenSpec{alg: jwt.SigningMethodRS256, key: keys.rsa, kid: "rs-1"}},
		{"ES256", tokenSpec{alg: jwt.SigningMethodES256, key: keys.ec, kid: "ec-1"}},
		{"aud as a list", tokenSpec{claims: jwt.MapClaims{"aud": []string{"other", "jenkinds"}}}},
		{"no sub", tokenSpec{without: []string{"sub"}}},
		{"clock skew within the leeway", tokenSpec{claims: jwt.MapClaims{"iat": f.clock.Now().Add(20 * time.Second).Unix(), "exp": f.clock.Now().Add(time.Minute).Unix()}}},
		{"lifetime exactly the cap", tokenSpec{claims: jwt.MapClaims{"exp": f.clock.Now().Add(10 * time.Minute).Unix()}}},
	} {
		if r := f.call("GET", "/api/v1/jobs/bf1", f.sign(tt.spec), nil); r.status != http.StatusNoContent {
			t.Errorf("%s: got %d %s, want 204 (accepted, nothing to do)", tt.name, r.status, r.body)
		}
	}
}

// TestKeyChangesApply checks that a removed key and a deactivated cluster
// stop authenticating once the key cache expires.
func TestKeyChangesApply(t *testing.T) {
	t.Parallel()
	f := setup(t, sqlite(t), workerapi.Config{KeyCacheTTL: time.Second})
	if r := f.claim("bf1"); r.status != http.StatusNoContent {
		t.Fatalf("before: got %d %s", r.status, r.body)
	}
	if _, err := f.store.RemoveKey(f.ctx, "bf1", "", "ed-1"); err != nil {
		t.Fatal(err)
	}
	if r := f.claim("bf1"); r.status != http.StatusNoContent {
		t.Errorf("within the cache time: got %d %s, want the cached key still accepted", r.status, r.body)
	}
	f.clock.Advance(2 * time.Second)
	if r := f.claim("bf1"); r.status != http.StatusUnauthorized || r.err(t).Error.Reason != workerapi.ReasonUnknownKID {
		t.Errorf("after the cache time: got %d %s, want 401 unknown_kid", r.status, r.body)
	}

	no := false
	if _, err := f.store.Update(f.ctx, "iOS", "", buildcluster.Patch{IsActive: &no}); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(2 * time.Second)
	if r := f.claim("iOS"); r.status != http.StatusForbidden || r.err(t).Error.Reason != workerapi.ReasonClusterInactive {
		t.Errorf("deactivated: got %d %s, want 403 cluster_inactive", r.status, r.body)
	}
}
