package workerapi_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jenkinds/jenkinds/internal/api/apitest"
	"github.com/jenkinds/jenkinds/internal/buildcluster"
	"github.com/jenkinds/jenkinds/internal/db/dbtest"
	"github.com/jenkinds/jenkinds/internal/queue"
	"github.com/jenkinds/jenkinds/internal/testkit"
	"github.com/jenkinds/jenkinds/internal/workerapi"
)

var start = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// keys are generated once per test binary: RSA generation is slow.
var keys = struct {
	once                 sync.Once
	ed, edOther, ios, gq ed25519.PrivateKey
	rsa                  *rsa.PrivateKey
	ec                   *ecdsa.PrivateKey
}{}

func loadKeys() {
	keys.once.Do(func() {
		gen := func() ed25519.PrivateKey {
			_, k, err := ed25519.GenerateKey(rand.Reader)
			if err != nil {
				panic(err)
			}
			return k
		}
		keys.ed, keys.edOther, keys.ios, keys.gq = gen(), gen(), gen(), gen()
		var err error
		if keys.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if keys.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
	})
}

func publicPEM(t testing.TB, s crypto.Signer) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(s.Public())
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func privatePEM(t testing.TB, s crypto.Signer) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// fixture is the worker API over a fresh database with three clusters:
// bf1 (screwdriver, active, keys ed-1 EdDSA, rs-1 RS256, ec-1 ES256), iOS
// (external, active, key ios-1) and gq1 (screwdriver, inactive, key gq-1).
type fixture struct {
	t       *testing.T
	ctx     context.Context
	clock   *testkit.Clock // shared by the verifier and the queue
	store   *buildcluster.Store
	queue   *queue.Queue
	logs    *workerapi.LogStore
	metrics *workerapi.Metrics
	api     *workerapi.API
	srv     *httptest.Server
	logBuf  *apitest.Buffer
}

func setup(t *testing.T, e dbtest.Engine, cfg workerapi.Config) *fixture {
	t.Helper()
	loadKeys()
	ctx := context.Background()
	d := e.Open(t)
	if err := d.Migrate(ctx, buildcluster.Migrations, queue.Migrations, workerapi.Migrations); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	f := &fixture{t: t, ctx: ctx, clock: testkit.NewClock(start), logBuf: &apitest.Buffer{}}
	f.store = buildcluster.NewStore(d, f.clock.Now)
	f.queue = queue.New(d, queue.Options{Now: f.clock.Now})
	f.logs = workerapi.NewLogStore(d, 1<<10, f.clock.Now)
	f.metrics = workerapi.NewMetrics(nil)
	no := false
	for _, in := range []buildcluster.CreateInput{
		{Name: "bf1", SCMContext: "github:git.ouroath.com", ManagedBy: buildcluster.ManagedByScrewdriver, PublicKeys: []buildcluster.PublicKey{
			{KID: "ed-1", Algorithm: "EdDSA", PEM: publicPEM(t, keys.ed)},
			{KID: "rs-1", Algorithm: "RS256", PEM: publicPEM(t, keys.rsa)},
			{KID: "ec-1", Algorithm: "ES256", PEM: publicPEM(t, keys.ec)},
		}},
		{Name: "iOS", SCMContext: "github:git.ouroath.com", ManagedBy: buildcluster.ManagedByExternal, SCMOrganizations: []string{"iOS_org1"},
			PublicKeys: []buildcluster.PublicKey{{KID: "ios-1", Algorithm: "EdDSA", PEM: publicPEM(t, keys.ios)}}},
		{Name: "gq1", SCMContext: "github:git.ouroath.com", ManagedBy: buildcluster.ManagedByScrewdriver, IsActive: &no,
			PublicKeys: []buildcluster.PublicKey{{KID: "gq-1", Algorithm: "EdDSA", PEM: publicPEM(t, keys.gq)}}},
	} {
		if _, err := f.store.Create(ctx, in); err != nil {
			t.Fatalf("create %s: %v", in.Name, err)
		}
	}
	log := slog.New(slog.NewTextHandler(f.logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	api, err := workerapi.New(workerapi.Options{Config: cfg, Queue: f.queue, Clusters: f.store, Logs: f.logs,
		Metrics: f.metrics, Logger: log, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	f.api = api
	f.srv = httptest.NewServer(api)
	t.Cleanup(f.srv.Close)
	return f
}

func sqlite(t *testing.T) dbtest.Engine { return dbtest.Engines(t)[0] }

// tokenSpec describes a token to sign; zero fields take a valid default.
type tokenSpec struct {
	alg     jwt.SigningMethod
	key     any // what SignedString takes
	kid     string
	noKID   bool
	claims  jwt.MapClaims
	without []string // claims to leave out
}

// sign makes a token: by default EdDSA with bf1's ed-1 key, for bf1, aud
// jenkinds, iat now, exp now+1m, a fresh jti, sub w1.
func (f *fixture) sign(spec tokenSpec) string {
	f.t.Helper()
	now := f.clock.Now()
	claims := jwt.MapClaims{
		"buildCluster": "bf1",
		"aud":          "jenkinds",
		"iat":          now.Unix(),
		"exp":          now.Add(time.Minute).Unix(),
		"jti":          randomID(),
		"sub":          "w1",
	}
	for k, v := range spec.claims {
		claims[k] = v
	}
	for _, k := range spec.without {
		delete(claims, k)
	}
	if spec.alg == nil {
		spec.alg, spec.key = jwt.SigningMethodEdDSA, keys.ed
	}
	tok := jwt.NewWithClaims(spec.alg, claims)
	if !spec.noKID {
		kid := spec.kid
		if kid == "" {
			kid = "ed-1"
		}
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(spec.key)
	if err != nil {
		f.t.Fatalf("sign: %v", err)
	}
	return s
}

func randomID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// response is an answer, read whole.
type response struct {
	status int
	header http.Header
	body   string
}

// errorBody reads an error answer.
func (r response) err(t *testing.T) workerapi.ErrorBody {
	t.Helper()
	var b workerapi.ErrorBody
	if err := json.Unmarshal([]byte(r.body), &b); err != nil {
		t.Fatalf("error body %q: %v", r.body, err)
	}
	return b
}

// call sends method path with token (none when "") and body as JSON.
func (f *fixture) call(method, path, token string, body any) response {
	f.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			f.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(f.ctx, method, f.srv.URL+path, rd)
	if err != nil {
		f.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := f.srv.Client().Do(req)
	if err != nil {
		f.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{res.StatusCode, res.Header, string(b)}
}

// claim claims from cluster with a fresh token of that cluster's key.
func (f *fixture) claim(cluster string) response {
	f.t.Helper()
	return f.call("GET", "/api/v1/jobs/"+cluster, f.tokenFor(cluster), nil)
}

// tokenFor signs a valid token of cluster with its key.
func (f *fixture) tokenFor(cluster string) string {
	f.t.Helper()
	switch cluster {
	case "iOS":
		return f.sign(tokenSpec{alg: jwt.SigningMethodEdDSA, key: keys.ios, kid: "ios-1", claims: jwt.MapClaims{"buildCluster": "iOS"}})
	case "gq1":
		return f.sign(tokenSpec{alg: jwt.SigningMethodEdDSA, key: keys.gq, kid: "gq-1", claims: jwt.MapClaims{"buildCluster": "gq1"}})
	}
	return f.sign(tokenSpec{})
}

func (f *fixture) enqueue(cluster string, payload string) queue.Job {
	f.t.Helper()
	j, err := f.queue.Enqueue(f.ctx, queue.Job{Cluster: cluster, Payload: json.RawMessage(payload)})
	if err != nil {
		f.t.Fatal(err)
	}
	return j
}

// decodeClaim reads a 200 claim.
func decodeClaim(t *testing.T, r response) workerapi.Claim {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("claim: got %d %s, want 200", r.status, r.body)
	}
	var c workerapi.Claim
	if err := json.Unmarshal([]byte(r.body), &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func contains(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
