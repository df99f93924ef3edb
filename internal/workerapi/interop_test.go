package workerapi_test

import (
	"crypto"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/jenkinds/jenkinds/internal/workerapi"
)

// python is Debian's interpreter: python3-jwt is installed for it, not for
// whatever python3 comes first on PATH.
const python = "/usr/bin/python3"

// signScript signs with PyJWT: argv is alg, kid, private key file, cluster,
// now (Unix seconds), lifetime (seconds), aud; it prints the token.
const signScript = `
import sys, uuid, jwt
alg, kid, keyfile, cluster, now, life, aud = sys.argv[1:8]
now, life = int(now), int(life)
key = open(keyfile).read()
claims = {"buildCluster": cluster, "aud": aud, "iat": now, "exp": now + life,
          "jti": str(uuid.uuid4()), "sub": "python-worker"}
print(jwt.encode(claims, key, algorithm=alg, headers={"kid": kid}))
`

// needPyJWT skips the test when python3-jwt is missing, unless CI is set:
// then it fails, because CI must run the interop test.
func needPyJWT(t *testing.T) {
	t.Helper()
	out, err := exec.Command(python, "-c", "import jwt, cryptography; print(jwt.__version__)").CombinedOutput()
	if err == nil {
		return
	}
	msg := "Debian's python3-jwt (and python3-cryptography) is not installed for " + python + ": " + strings.TrimSpace(string(out))
	if os.Getenv("CI") != "" {
		t.Fatal(msg + " (CI is set; .ci/run installs them)")
	}
	t.Skip(msg)
}

// TestPyJWTTokens checks interoperability: tokens signed by another
// implementation (PyJWT) are accepted when valid, for each algorithm, and
// refused like ours when they are not.
func TestPyJWTTokens(t *testing.T) {
	t.Parallel()
	needPyJWT(t)
	f := setup(t, sqlite(t), workerapi.Config{})
	dir := t.TempDir()
	keyFile := func(name string, s crypto.Signer) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(privatePEM(t, s)), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	files := map[string]string{"ed": keyFile("ed", keys.ed), "rs": keyFile("rs", keys.rsa), "ec": keyFile("ec", keys.ec)}
	sign := func(alg, kid, key, aud string, life int) string {
		t.Helper()
		now := strconv.FormatInt(f.clock.Now().Unix(), 10)
		out, err := exec.Command(python, "-c", signScript, alg, kid, files[key], "bf1", now, strconv.Itoa(life), aud).CombinedOutput()
		if err != nil {
			t.Fatalf("PyJWT %s: %v\n%s", alg, err, out)
		}
		return strings.TrimSpace(string(out))
	}

	for _, tt := range []struct {
		alg, kid, key, aud string
		life               int
		status             int
		reason             string
	}{
		{"EdDSA", "ed-1", "ed", "jenkinds", 60, http.StatusNoContent, ""},
		{"RS256", "rs-1", "rs", "jenkinds", 60, http.StatusNoContent, ""},
		{"ES256", "ec-1", "ec", "jenkinds", 300, http.StatusNoContent, ""},
		{"ES256", "ec-1", "ec", "someone-else", 60, http.StatusUnauthorized, workerapi.ReasonWrongAudience},
		{"EdDSA", "ed-1", "ed", "jenkinds", 3600, http.StatusUnauthorized, workerapi.ReasonLifetime},
		{"RS256", "ed-1", "rs", "jenkinds", 60, http.StatusUnauthorized, workerapi.ReasonAlgorithmMismatch},
		{"ES256", "rs-1", "ec", "jenkinds", 60, http.StatusUnauthorized, workerapi.ReasonAlgorithmMismatch},
	} {
		token := sign(tt.alg, tt.kid, tt.key, tt.aud, tt.life)
		r := f.call("GET", "/api/v1/jobs/bf1", token, nil)
		if r.status != tt.status {
			t.Errorf("PyJWT %s kid %s aud %s life %ds: got %d %s, want %d", tt.alg, tt.kid, tt.aud, tt.life, r.status, r.body, tt.status)
			continue
		}
		if tt.reason != "" && r.err(t).Error.Reason != tt.reason {
			t.Errorf("PyJWT %s: reason %q, want %q", tt.alg, r.err(t).Error.Reason, tt.reason)
		}
		if tt.status == http.StatusNoContent {
			// Accepted once: the same token again is a replay.
			if r := f.call("GET", "/api/v1/jobs/bf1", token, nil); r.status != http.StatusUnauthorized || r.err(t).Error.Reason != workerapi.ReasonReplayed {
				t.Errorf("PyJWT %s token replayed: got %d %s, want 401 replayed", tt.alg, r.status, r.body)
			}
		}
	}
}
