package buildcluster_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/buildcluster"
	"github.com/jenkinds/jenkinds/internal/db"
	"github.com/jenkinds/jenkinds/internal/db/dbtest"
	"github.com/jenkinds/jenkinds/internal/testkit"
)

// start is the fake clock's first reading; it has nanoseconds on purpose.
var start = time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)

type fixture struct {
	ctx   context.Context
	db    *db.DB
	clock *testkit.Clock
	store *buildcluster.Store
}

func setup(t *testing.T, e dbtest.Engine) fixture {
	t.Helper()
	f := fixture{ctx: context.Background(), db: e.Open(t), clock: testkit.NewClock(start)}
	if err := f.db.Migrate(f.ctx, buildcluster.Migrations); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	f.store = buildcluster.NewStore(f.db, f.clock.Now)
	return f
}

func (f fixture) create(t *testing.T, in buildcluster.CreateInput) buildcluster.Cluster {
	t.Helper()
	c, err := f.store.Create(f.ctx, in)
	if err != nil {
		t.Fatalf("Create(%s): %v", in.Name, err)
	}
	f.clock.Advance(time.Second) // so "updated last" is well defined
	return c
}

// seed registers the design's sample table (see seed()) in order.
func (f fixture) seed(t *testing.T) []buildcluster.Cluster {
	t.Helper()
	var out []buildcluster.Cluster
	for _, c := range seed() {
		out = append(out, f.create(t, buildcluster.CreateInput{
			Name: c.Name, SCMContext: c.SCMContext, SCMOrganizations: c.SCMOrganizations, IsActive: ptr(c.IsActive),
			ManagedBy: c.ManagedBy, ManagedByEmail: c.ManagedByEmail,
		}))
	}
	return out
}

func ptr[T any](v T) *T { return &v }

func asJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return string(b)
}

func external(name, scm string, orgs ...string) buildcluster.CreateInput {
	return buildcluster.CreateInput{Name: name, SCMContext: scm, SCMOrganizations: orgs, ManagedBy: buildcluster.ManagedByExternal}
}

func shared(name, scm string) buildcluster.CreateInput {
	return buildcluster.CreateInput{Name: name, SCMContext: scm, ManagedBy: buildcluster.ManagedByScrewdriver}
}

// TestStore runs every store test on every engine, each on a fresh database.
func TestStore(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		run  func(*testing.T, fixture)
	}{
		{"create and get", testCreateAndGet},
		{"json", testJSON},
		{"sample table", testSampleTable},
		{"one active record per name and scmContext", testOneActive},
		{"concurrent creates of one active record", testConcurrentCreates},
		{"external without organizations", testExternalWithoutOrgs},
		{"scmContext addressing", testAddressing},
		{"list", testList},
		{"update", testUpdate},
		{"delete", testDelete},
		{"keys", testKeys},
		{"private keys are never stored", testNoPrivateKeys},
	}
	for _, e := range dbtest.Engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			t.Parallel()
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					t.Parallel()
					tt.run(t, setup(t, e))
				})
			}
		})
	}
}

func testCreateAndGet(t *testing.T, f fixture) {
	in := external("iOS", ouroath, "iOS_org1", " iOS_org2 ")
	in.Description = "macOS builders"
	in.ManagedByEmail = "ios-ci@example.com"
	in.Weight = ptr(0)
	in.IsActive = ptr(false)
	in.PublicKeys = []buildcluster.PublicKey{edPublic(), ecPublic()}
	got := f.create(t, in)
	at := start.Truncate(time.Microsecond)
	want := buildcluster.Cluster{
		ID: got.ID, Name: "iOS", Description: "macOS builders", SCMContext: ouroath,
		SCMOrganizations: []string{"iOS_org1", "iOS_org2"}, IsActive: false, ManagedBy: buildcluster.ManagedByExternal,
		ManagedByEmail: "ios-ci@example.com", Weight: 0,
		PublicKeys: []buildcluster.PublicKey{edPublic(), ecPublic()},
		CreatedAt:  at, UpdatedAt: at,
	}
	if asJSON(t, got) != asJSON(t, want) {
		t.Errorf("Create:\ngot  %s\nwant %s", asJSON(t, got), asJSON(t, want))
	}
	for _, get := range []func() (buildcluster.Cluster, error){
		func() (buildcluster.Cluster, error) { return f.store.Get(f.ctx, "iOS", ouroath) },
		func() (buildcluster.Cluster, error) { return f.store.Get(f.ctx, "iOS", "") },
		func() (buildcluster.Cluster, error) { return f.store.GetByID(f.ctx, got.ID) },
	} {
		c, err := get()
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		if asJSON(t, c) != asJSON(t, got) {
			t.Errorf("Get:\ngot  %s\nwant %s", asJSON(t, c), asJSON(t, got))
		}
	}

	// Defaults: active, weight 100, no organizations or keys ([] in JSON).
	d := f.create(t, shared("bf1", ouroath))
	if !d.IsActive || d.Weight != 100 || d.SCMOrganizations == nil || len(d.SCMOrganizations) != 0 || d.PublicKeys == nil {
		t.Errorf("defaults: got isActive %v, weight %d, orgs %#v, keys %#v; want true, 100, [], []", d.IsActive, d.Weight, d.SCMOrganizations, d.PublicKeys)
	}
}

func testJSON(t *testing.T, f fixture) {
	c := f.create(t, external("iOS", ouroath, "iOS_org1"))
	var m map[string]any
	if err := json.Unmarshal([]byte(asJSON(t, c)), &m); err != nil {
		t.Fatal(err)
	}
	want := []string{"id", "name", "description", "scmContext", "scmOrganizations", "isActive", "managedBy",
		"managedByEmail", "weight", "publicKeys", "createdAt", "updatedAt"}
	for _, k := range want {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON %v: missing %q", m, k)
		}
	}
	if len(m) != len(want) {
		t.Errorf("JSON %v: got %d keys, want %d", m, len(m), len(want))
	}
	// The API decodes its input straight into CreateInput.
	var in buildcluster.CreateInput
	body := `{"name":"gq1","scmContext":"github:git.ouroath.com","scmOrganizations":[],"isActive":false,
		"managedBy":"screwdriver","managedByEmail":"sd@example.com","weight":0,
		"publicKeys":[{"kid":"k1","algorithm":"EdDSA","pem":` + asJSON(t, publicPEM(edKey())) + `}]}`
	if err := json.Unmarshal([]byte(body), &in); err != nil {
		t.Fatal(err)
	}
	got := f.create(t, in)
	if got.IsActive || got.Weight != 0 || len(got.PublicKeys) != 1 || got.PublicKeys[0].KID != "k1" {
		t.Errorf("from JSON: got %s", asJSON(t, got))
	}
}

func testSampleTable(t *testing.T, f fixture) {
	made := f.seed(t)
	list, err := f.store.List(f.ctx, buildcluster.ListFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 5 {
		t.Fatalf("List: got %d records, want the sample's 5", len(list))
	}
	// identity resolves to its active record (made[2]), not the inactive one.
	c, err := f.store.Get(f.ctx, "identity", ouroath)
	if err != nil || c.ID != made[2].ID || !c.IsActive {
		t.Errorf("Get(identity): got id %d active %v, %v; want id %d, active", c.ID, c.IsActive, err, made[2].ID)
	}
}

func testOneActive(t *testing.T, f fixture) {
	first := f.create(t, external("identity", ouroath, "identity_org1"))
	_, err := f.store.Create(f.ctx, external("identity", ouroath, "identity_org1"))
	var ce *buildcluster.ConflictError
	if !errors.As(err, &ce) || !errors.Is(err, buildcluster.ErrConflict) || ce.Field != "isActive" {
		t.Fatalf("second active Create: got %v, want a *ConflictError on isActive", err)
	}
	if !strings.Contains(err.Error(), "already has an active record") {
		t.Errorf("second active Create: %q does not say why", err)
	}
	// Inactive duplicates and other scmContexts are fine.
	in := external("identity", ouroath, "identity_org1")
	in.IsActive = ptr(false)
	f.create(t, in)
	f.create(t, in)
	f.create(t, external("identity", "github:github.com", "identity_org1"))

	// Deactivate the active one; then a new active record may be made.
	if _, err := f.store.Update(f.ctx, "identity", ouroath, buildcluster.Patch{IsActive: ptr(false)}); err != nil {
		t.Fatalf("deactivate: %v", err)
	}
	again := f.create(t, external("identity", ouroath, "identity_org2"))
	if got, _ := f.store.GetByID(f.ctx, first.ID); got.IsActive {
		t.Errorf("first record: still active")
	}
	if c, err := f.store.Get(f.ctx, "identity", ouroath); err != nil || c.ID != again.ID {
		t.Errorf("Get: got %d, %v; want the new active record %d", c.ID, err, again.ID)
	}
}

func testConcurrentCreates(t *testing.T, f fixture) {
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { _, errs[i] = f.store.Create(f.ctx, shared("bf1", ouroath)) })
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, buildcluster.ErrConflict):
			t.Errorf("Create: got %v, want success or ErrConflict", err)
		}
	}
	if ok != 1 {
		t.Errorf("concurrent creates: %d succeeded, want exactly 1", ok)
	}
}

func testExternalWithoutOrgs(t *testing.T, f fixture) {
	check := func(what string, err error) {
		t.Helper()
		var ve *buildcluster.ValidationError
		if !errors.Is(err, buildcluster.ErrExternalWithoutOrganizations) || !errors.As(err, &ve) || ve.Field != "scmOrganizations" {
			t.Errorf("%s: got %v, want ErrExternalWithoutOrganizations in a *ValidationError on scmOrganizations", what, err)
		}
	}
	_, err := f.store.Create(f.ctx, external("iOS", ouroath))
	check("Create", err)

	f.create(t, external("iOS", ouroath, "iOS_org1"))
	_, err = f.store.Update(f.ctx, "iOS", ouroath, buildcluster.Patch{SCMOrganizations: &[]string{}})
	check("Update removing the organizations", err)

	f.create(t, shared("bf1", ouroath))
	_, err = f.store.Update(f.ctx, "bf1", ouroath, buildcluster.Patch{ManagedBy: ptr(buildcluster.ManagedByExternal)})
	check("Update to external", err)

	// A malformed field is reported first, as a plain 400.
	in := external("bad name!", ouroath)
	_, err = f.store.Create(f.ctx, in)
	var ve *buildcluster.ValidationError
	if !errors.As(err, &ve) || ve.Field != "name" || errors.Is(err, buildcluster.ErrExternalWithoutOrganizations) {
		t.Errorf("Create with a bad name too: got %v, want the name problem", err)
	}
}

func testAddressing(t *testing.T, f fixture) {
	a := f.create(t, shared("bf1", ouroath))
	b := f.create(t, shared("bf1", "github:github.com"))

	_, err := f.store.Get(f.ctx, "bf1", "")
	var ae *buildcluster.AmbiguousError
	if !errors.As(err, &ae) || !errors.Is(err, buildcluster.ErrAmbiguous) {
		t.Fatalf("Get without scmContext: got %v, want *AmbiguousError", err)
	}
	if !strings.Contains(err.Error(), "github:github.com") || !strings.Contains(err.Error(), ouroath) {
		t.Errorf("Get without scmContext: %q does not list the scmContexts", err)
	}
	for _, tt := range []struct {
		scm  string
		want int64
	}{{ouroath, a.ID}, {"github:github.com", b.ID}} {
		if c, err := f.store.Get(f.ctx, "bf1", tt.scm); err != nil || c.ID != tt.want {
			t.Errorf("Get(bf1, %s): got %d, %v; want %d", tt.scm, c.ID, err, tt.want)
		}
	}
	if _, err := f.store.Update(f.ctx, "bf1", "", buildcluster.Patch{Weight: ptr(5)}); !errors.Is(err, buildcluster.ErrAmbiguous) {
		t.Errorf("Update without scmContext: got %v, want ErrAmbiguous", err)
	}
	if err := f.store.Delete(f.ctx, "bf1", ""); !errors.Is(err, buildcluster.ErrAmbiguous) {
		t.Errorf("Delete without scmContext: got %v, want ErrAmbiguous", err)
	}
	if _, err := f.store.Get(f.ctx, "bf1", "gitlab:gitlab.com"); !errors.Is(err, buildcluster.ErrNotFound) {
		t.Errorf("Get of another scmContext: got %v, want ErrNotFound", err)
	}
	if _, err := f.store.Get(f.ctx, "nope", ""); !errors.Is(err, buildcluster.ErrNotFound) {
		t.Errorf("Get(nope): got %v, want ErrNotFound", err)
	}

	// With no active record, the inactive one updated last is addressed.
	old := external("identity", ouroath, "identity_org1")
	old.IsActive = ptr(false)
	first := f.create(t, old)
	second := f.create(t, old)
	if c, _ := f.store.Get(f.ctx, "identity", ouroath); c.ID != second.ID {
		t.Errorf("Get(identity): got %d, want the newer inactive record %d", c.ID, second.ID)
	}
	f.clock.Advance(time.Minute)
	if _, err := f.store.Update(f.ctx, "identity", ouroath, buildcluster.Patch{IsActive: ptr(true)}); err != nil {
		t.Fatalf("activate: %v", err)
	}
	if c, _ := f.store.Get(f.ctx, "identity", ouroath); c.ID != second.ID || !c.IsActive {
		t.Errorf("Get(identity) after activating: got %d active %v, want %d active", c.ID, c.IsActive, second.ID)
	}
	if c, _ := f.store.GetByID(f.ctx, first.ID); c.IsActive {
		t.Errorf("the older inactive record was activated")
	}
}

func testList(t *testing.T, f fixture) {
	made := f.seed(t)
	f.create(t, shared("bf1", "github:github.com"))
	names := func(list []buildcluster.Cluster) string {
		var s []string
		for _, c := range list {
			s = append(s, c.Name+"@"+c.SCMContext)
		}
		return strings.Join(s, ",")
	}
	tests := []struct {
		filter buildcluster.ListFilter
		want   string
	}{
		// Byte order of names: "iOS" before "identity" on every engine.
		{buildcluster.ListFilter{}, "bf1@github:git.ouroath.com,bf1@github:github.com,gq1@github:git.ouroath.com," +
			"iOS@github:git.ouroath.com,identity@github:git.ouroath.com,identity@github:git.ouroath.com"},
		{buildcluster.ListFilter{SCMContext: "github:github.com"}, "bf1@github:github.com"},
		{buildcluster.ListFilter{Name: "identity"}, "identity@github:git.ouroath.com,identity@github:git.ouroath.com"},
		{buildcluster.ListFilter{SCMContext: ouroath, ActiveOnly: true}, "bf1@github:git.ouroath.com,iOS@github:git.ouroath.com,identity@github:git.ouroath.com"},
		{buildcluster.ListFilter{Name: "none"}, ""},
	}
	for _, tt := range tests {
		got, err := f.store.List(f.ctx, tt.filter)
		if err != nil {
			t.Fatalf("List(%+v): %v", tt.filter, err)
		}
		if names(got) != tt.want {
			t.Errorf("List(%+v):\ngot  %s\nwant %s", tt.filter, names(got), tt.want)
		}
		if got == nil {
			t.Errorf("List(%+v): got nil, want an empty slice", tt.filter)
		}
	}
	// Of identity's two records, the active one comes first.
	list, _ := f.store.List(f.ctx, buildcluster.ListFilter{Name: "identity"})
	if len(list) != 2 || list[0].ID != made[2].ID {
		t.Errorf("List(identity): want the active record %d first, got %s", made[2].ID, asJSON(t, list))
	}
}

func testUpdate(t *testing.T, f fixture) {
	c := f.create(t, external("iOS", ouroath, "iOS_org1"))
	f.clock.Advance(time.Hour)
	got, err := f.store.Update(f.ctx, "iOS", ouroath, buildcluster.Patch{
		Name:             ptr("iOS"),   // unchanged: allowed
		SCMContext:       ptr(ouroath), // unchanged: allowed
		Description:      ptr("mac minis"),
		SCMOrganizations: &[]string{"iOS_org1", "iOS_org2"},
		Weight:           ptr(30),
		ManagedByEmail:   ptr("ios@example.com"),
		PublicKeys:       &[]buildcluster.PublicKey{rsaPublic()},
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	want := c
	want.Description, want.SCMOrganizations, want.Weight, want.ManagedByEmail = "mac minis", []string{"iOS_org1", "iOS_org2"}, 30, "ios@example.com"
	want.PublicKeys = []buildcluster.PublicKey{rsaPublic()}
	want.UpdatedAt = f.clock.Now().Truncate(time.Microsecond)
	if asJSON(t, got) != asJSON(t, want) {
		t.Errorf("Update:\ngot  %s\nwant %s", asJSON(t, got), asJSON(t, want))
	}

	tests := []struct {
		name  string
		patch buildcluster.Patch
		field string
	}{
		{"rename", buildcluster.Patch{Name: ptr("macOS")}, "name"},
		{"move to another scmContext", buildcluster.Patch{SCMContext: ptr("github:github.com")}, "scmContext"},
		{"weight above 100", buildcluster.Patch{Weight: ptr(101)}, "weight"},
		{"negative weight", buildcluster.Patch{Weight: ptr(-1)}, "weight"},
		{"unknown managedBy", buildcluster.Patch{ManagedBy: ptr(buildcluster.ManagedBy("team"))}, "managedBy"},
		{"bad email", buildcluster.Patch{ManagedByEmail: ptr("Team <t@example.com>")}, "managedByEmail"},
		{"duplicate kid", buildcluster.Patch{PublicKeys: &[]buildcluster.PublicKey{rsaPublic(), rsaPublic()}}, "publicKeys[1].kid"},
		{"private key", buildcluster.Patch{PublicKeys: &[]buildcluster.PublicKey{{KID: "k", Algorithm: "EdDSA", PEM: privatePEM(edKey())}}}, "publicKeys[0].pem"},
	}
	for _, tt := range tests {
		_, err := f.store.Update(f.ctx, "iOS", ouroath, tt.patch)
		var ve *buildcluster.ValidationError
		if !errors.As(err, &ve) || ve.Field != tt.field {
			t.Errorf("Update (%s): got %v, want a *ValidationError on %s", tt.name, err, tt.field)
		}
	}
	if after, _ := f.store.GetByID(f.ctx, c.ID); asJSON(t, after) != asJSON(t, got) {
		t.Errorf("rejected updates changed the record:\ngot  %s\nwant %s", asJSON(t, after), asJSON(t, got))
	}
	if _, err := f.store.Update(f.ctx, "nope", ouroath, buildcluster.Patch{}); !errors.Is(err, buildcluster.ErrNotFound) {
		t.Errorf("Update(nope): got %v, want ErrNotFound", err)
	}
}

func testDelete(t *testing.T, f fixture) {
	made := f.seed(t)
	if err := f.store.Delete(f.ctx, "identity", ouroath); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	// Only the active record went; the inactive one is now addressed.
	if _, err := f.store.GetByID(f.ctx, made[2].ID); !errors.Is(err, buildcluster.ErrNotFound) {
		t.Errorf("GetByID(deleted): got %v, want ErrNotFound", err)
	}
	if c, err := f.store.Get(f.ctx, "identity", ""); err != nil || c.ID != made[3].ID {
		t.Errorf("Get(identity): got %d, %v; want the inactive record %d", c.ID, err, made[3].ID)
	}
	if err := f.store.Delete(f.ctx, "nope", ouroath); !errors.Is(err, buildcluster.ErrNotFound) {
		t.Errorf("Delete(nope): got %v, want ErrNotFound", err)
	}
}

func testKeys(t *testing.T, f fixture) {
	in := external("iOS", ouroath, "iOS_org1")
	in.PublicKeys = []buildcluster.PublicKey{rsaPublic()}
	f.create(t, in)

	// Rotation: add the new key, both verify, then retire the old one.
	c, err := f.store.AddKey(f.ctx, "iOS", "", edPublic())
	if err != nil {
		t.Fatalf("AddKey: %v", err)
	}
	if len(c.PublicKeys) != 2 || c.PublicKeys[1].KID != "ed-1" {
		t.Fatalf("AddKey: got keys %s", asJSON(t, c.PublicKeys))
	}
	if _, ok := c.Key("rsa-1"); !ok {
		t.Errorf("Key(rsa-1): missing after AddKey")
	}
	_, err = f.store.AddKey(f.ctx, "iOS", "", ecPublicAs("ed-1"))
	var ce *buildcluster.ConflictError
	if !errors.As(err, &ce) || ce.Field != "kid" {
		t.Errorf("AddKey with a taken kid: got %v, want *ConflictError on kid", err)
	}
	_, err = f.store.AddKey(f.ctx, "iOS", "", buildcluster.PublicKey{KID: "new", Algorithm: "ES256", PEM: publicPEM(rsaKey())})
	var ve *buildcluster.ValidationError
	if !errors.As(err, &ve) || ve.Field != "pem" {
		t.Errorf("AddKey with a mismatched key: got %v, want *ValidationError on pem", err)
	}
	c, err = f.store.RemoveKey(f.ctx, "iOS", ouroath, "rsa-1")
	if err != nil {
		t.Fatalf("RemoveKey: %v", err)
	}
	if len(c.PublicKeys) != 1 || c.PublicKeys[0].KID != "ed-1" {
		t.Errorf("RemoveKey: got keys %s, want ed-1 only", asJSON(t, c.PublicKeys))
	}
	if _, err := f.store.RemoveKey(f.ctx, "iOS", ouroath, "rsa-1"); !errors.Is(err, buildcluster.ErrKeyNotFound) {
		t.Errorf("RemoveKey again: got %v, want ErrKeyNotFound", err)
	}
	// At most 10 keys.
	for i := range 10 {
		_, err = f.store.AddKey(f.ctx, "iOS", "", ecPublicAs("ec-"+string(rune('a'+i))))
	}
	if !errors.As(err, &ve) || ve.Field != "publicKeys" {
		t.Errorf("AddKey past 10 keys: got %v, want *ValidationError on publicKeys", err)
	}
}

func ecPublicAs(kid string) buildcluster.PublicKey {
	k := ecPublic()
	k.KID = kid
	return k
}

func testNoPrivateKeys(t *testing.T, f fixture) {
	in := external("iOS", ouroath, "iOS_org1")
	in.PublicKeys = []buildcluster.PublicKey{{KID: "k", Algorithm: "RS256", PEM: privatePEM(rsaKey())}}
	_, err := f.store.Create(f.ctx, in)
	if err == nil || !strings.Contains(err.Error(), "register the PUBLIC key") {
		t.Fatalf("Create with a private key: got %v, want a rule telling to register the public key", err)
	}
	// A public key pasted with junk around it is stored as the bare key.
	in.PublicKeys = []buildcluster.PublicKey{{KID: "k", Algorithm: "EdDSA", PEM: "Comment: mine\n" + publicPEM(edKey()) + "\n# end"}}
	f.create(t, in)
	var raw string
	if err := f.db.QueryRowContext(f.ctx, `SELECT public_keys FROM build_clusters`).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(raw, "PRIVATE") || strings.Contains(raw, "Comment") || strings.Count(raw, "BEGIN PUBLIC KEY") != 1 {
		t.Errorf("stored public_keys %s: want exactly the public key", raw)
	}
}
