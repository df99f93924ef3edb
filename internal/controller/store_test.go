package controller_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/balance"
	"github.com/jenkinds/jenkinds/internal/controller"
	"github.com/jenkinds/jenkinds/internal/db"
	"github.com/jenkinds/jenkinds/internal/db/dbtest"
	"github.com/jenkinds/jenkinds/internal/secret"
)

var _ controller.Sealer = (*secret.Sealer)(nil)

// clock is a settable time source for the store.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// start is the fake clock's first reading; it has nanoseconds on purpose.
var start = time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)

type fixture struct {
	ctx    context.Context
	db     *db.DB
	key    []byte
	sealer *secret.Sealer
	clock  *clock
	store  *controller.Store
}

func setup(t *testing.T, e dbtest.Engine) fixture {
	t.Helper()
	f := fixture{ctx: context.Background(), db: e.Open(t), key: secret.GenerateKey(), clock: &clock{t: start}}
	if err := f.db.Migrate(f.ctx, controller.Migrations); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	var err error
	if f.sealer, err = secret.NewSealer(f.key); err != nil {
		t.Fatalf("new sealer: %v", err)
	}
	f.store = controller.NewStore(f.db, f.sealer, f.clock.Now)
	return f
}

func (f fixture) create(t *testing.T, in controller.CreateInput) controller.Instance {
	t.Helper()
	i, err := f.store.Create(f.ctx, in)
	if err != nil {
		t.Fatalf("Create(%s): %v", in.Name, err)
	}
	return i
}

// rawToken reads the api_token column as stored.
func (f fixture) rawToken(t *testing.T, id int64) string {
	t.Helper()
	var s string
	if err := f.db.QueryRowContext(f.ctx, f.db.Rebind(`SELECT api_token FROM controllers WHERE id = ?`), id).Scan(&s); err != nil {
		t.Fatalf("read api_token: %v", err)
	}
	return s
}

func input(name string) controller.CreateInput {
	return controller.CreateInput{Name: name, URL: "https://" + name + ".example.com"}
}

// asJSON renders v as the API would, to compare instances readably.
func asJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return string(b)
}

func ids(list []controller.Instance) string {
	var s []string
	for _, i := range list {
		s = append(s, fmt.Sprint(i.ID))
	}
	return strings.Join(s, ",")
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
		{"list and filter", testList},
		{"update", testUpdate},
		{"update token", testUpdateToken},
		{"delete", testDelete},
		{"not found", testNotFound},
		{"invalid input", testInvalid},
		{"duplicate name", testDuplicateName},
		{"one primary per cluster", testOnePrimary},
		{"concurrent creates", testConcurrentCreates},
		{"token sealed", testTokenSealed},
		{"list with tokens", testListWithTokens},
		{"reseal", testReseal},
		{"reseal is all or nothing", testResealAtomic},
		{"record health", testRecordHealth},
		{"record health rejects", testRecordHealthRejects},
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
	got := f.create(t, controller.CreateInput{
		Name:            "jenkins-1",
		URL:             " https://jenkins-1.example.com/jenkins/ ",
		Username:        "admin",
		APIToken:        "tok-SECRET-123",
		Description:     "Primary Jenkins master\nfor production builds",
		IsPrimary:       true,
		ClusterID:       ptr("production"),
		LoadBalancerURL: "http://jenkins-lb:80/",
		Priority:        10,
		HealthCheckURL:  "/api/json",
		MaxConnections:  ptr(50),
		IsActive:        ptr(false),
	})
	at := start.Truncate(time.Microsecond)
	want := controller.Instance{
		ID:              got.ID,
		Name:            "jenkins-1",
		URL:             "https://jenkins-1.example.com/jenkins",
		Username:        "admin",
		Description:     "Primary Jenkins master\nfor production builds",
		IsPrimary:       true,
		ClusterID:       "production",
		LoadBalancerURL: "http://jenkins-lb:80",
		Priority:        10,
		HealthCheckURL:  "/api/json",
		MaxConnections:  50,
		IsActive:        false,
		HasAPIToken:     true,
		CreatedAt:       at,
		UpdatedAt:       at,
		HealthStatus:    balance.Unknown,
	}
	if asJSON(t, got) != asJSON(t, want) {
		t.Errorf("Create:\ngot  %s\nwant %s", asJSON(t, got), asJSON(t, want))
	}
	if got.ID <= 0 {
		t.Errorf("Create id: got %d, want > 0", got.ID)
	}
	if !got.CreatedAt.Equal(at) || got.CreatedAt.Location() != time.UTC {
		t.Errorf("CreatedAt: got %v, want %v in UTC", got.CreatedAt, at)
	}
	if got.HealthCheckTarget() != "https://jenkins-1.example.com/jenkins/api/json" {
		t.Errorf("HealthCheckTarget: got %q", got.HealthCheckTarget())
	}

	byID, err := f.store.Get(f.ctx, got.ID)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if asJSON(t, byID) != asJSON(t, got) {
		t.Errorf("Get:\ngot  %s\nwant %s", asJSON(t, byID), asJSON(t, got))
	}
	byName, err := f.store.GetByName(f.ctx, "jenkins-1")
	if err != nil {
		t.Fatalf("GetByName: %v", err)
	}
	if asJSON(t, byName) != asJSON(t, got) {
		t.Errorf("GetByName:\ngot  %s\nwant %s", asJSON(t, byName), asJSON(t, got))
	}

	// Defaults.
	d := f.create(t, input("jenkins-2"))
	if d.ClusterID != "default" || d.MaxConnections != 100 || !d.IsActive || d.Priority != 0 || d.IsPrimary || d.HasAPIToken {
		t.Errorf("defaults: got clusterId=%q maxConnections=%d isActive=%v priority=%d isPrimary=%v hasApiToken=%v, want default 100 true 0 false false",
			d.ClusterID, d.MaxConnections, d.IsActive, d.Priority, d.IsPrimary, d.HasAPIToken)
	}
	if d.HealthStatus != balance.Unknown || d.LastHealthCheck != nil {
		t.Errorf("initial health: got %q at %v, want unknown, never checked", d.HealthStatus, d.LastHealthCheck)
	}
}

func testJSON(t *testing.T, f fixture) {
	in := input("jenkins-1")
	in.APIToken = "tok-SECRET-123"
	i := f.create(t, in)
	b := asJSON(t, i)
	var m map[string]any
	if err := json.Unmarshal([]byte(b), &m); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	want := []string{"id", "name", "url", "username", "description", "isPrimary", "clusterId", "loadBalancerUrl",
		"priority", "healthCheckUrl", "maxConnections", "isActive", "hasApiToken", "createdAt", "updatedAt",
		"healthStatus", "lastHealthCheck", "currentLoad", "version", "restartCount", "draining"}
	for _, k := range want {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON %s: missing key %q", b, k)
		}
	}
	if len(m) != len(want) {
		t.Errorf("JSON %s: got %d keys, want %d", b, len(m), len(want))
	}
	for _, leak := range []string{"tok-SECRET-123", "v1:", "apiToken", "lastError"} {
		if strings.Contains(b, leak) {
			t.Errorf("JSON %s: contains %q", b, leak)
		}
	}
	if m["lastHealthCheck"] != nil || m["healthStatus"] != "unknown" || m["hasApiToken"] != true {
		t.Errorf("JSON %s: want lastHealthCheck null, healthStatus unknown, hasApiToken true", b)
	}
}

func testList(t *testing.T, f fixture) {
	var made []controller.Instance
	for _, c := range []struct{ name, cluster string }{{"a", "prod"}, {"b", "staging"}, {"c", "prod"}} {
		in := input(c.name)
		in.ClusterID = ptr(c.cluster)
		made = append(made, f.create(t, in))
	}
	tests := []struct {
		filter controller.ListFilter
		want   []controller.Instance
	}{
		{controller.ListFilter{}, made},
		{controller.ListFilter{ClusterID: "prod"}, []controller.Instance{made[0], made[2]}},
		{controller.ListFilter{ClusterID: "staging"}, []controller.Instance{made[1]}},
		{controller.ListFilter{ClusterID: "none"}, []controller.Instance{}},
	}
	for _, tt := range tests {
		got, err := f.store.List(f.ctx, tt.filter)
		if err != nil {
			t.Fatalf("List(%+v): %v", tt.filter, err)
		}
		if got == nil {
			t.Errorf("List(%+v): got nil, want a non-nil slice (JSON [])", tt.filter)
		}
		if ids(got) != ids(tt.want) {
			t.Errorf("List(%+v) ids: got %q, want %q", tt.filter, ids(got), ids(tt.want))
		}
		if len(got) > 0 && asJSON(t, got[0]) != asJSON(t, tt.want[0]) {
			t.Errorf("List(%+v)[0]:\ngot  %s\nwant %s", tt.filter, asJSON(t, got[0]), asJSON(t, tt.want[0]))
		}
	}
}

func testUpdate(t *testing.T, f fixture) {
	in := input("jenkins-1")
	in.LoadBalancerURL = "http://lb"
	in.Description = "old"
	orig := f.create(t, in)
	f.clock.Advance(time.Minute)

	got, err := f.store.Update(f.ctx, orig.ID, controller.Patch{
		Name:            ptr("jenkins-one"),
		URL:             ptr("http://10.0.0.1:8080/"),
		Priority:        ptr(42),
		IsActive:        ptr(false),
		LoadBalancerURL: ptr(""),
		MaxConnections:  ptr(7),
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	want := orig
	want.Name, want.URL, want.Priority, want.IsActive, want.LoadBalancerURL, want.MaxConnections =
		"jenkins-one", "http://10.0.0.1:8080", 42, false, "", 7
	want.UpdatedAt = start.Add(time.Minute).Truncate(time.Microsecond)
	if asJSON(t, got) != asJSON(t, want) {
		t.Errorf("Update:\ngot  %s\nwant %s", asJSON(t, got), asJSON(t, want))
	}
	if stored, _ := f.store.Get(f.ctx, orig.ID); asJSON(t, stored) != asJSON(t, want) {
		t.Errorf("Get after Update:\ngot  %s\nwant %s", asJSON(t, stored), asJSON(t, want))
	}

	// An empty patch changes nothing but updatedAt.
	f.clock.Advance(time.Minute)
	same, err := f.store.Update(f.ctx, orig.ID, controller.Patch{})
	if err != nil {
		t.Fatalf("Update with empty patch: %v", err)
	}
	want.UpdatedAt = start.Add(2 * time.Minute).Truncate(time.Microsecond)
	if asJSON(t, same) != asJSON(t, want) {
		t.Errorf("Update with empty patch:\ngot  %s\nwant %s", asJSON(t, same), asJSON(t, want))
	}
}

func testDelete(t *testing.T, f fixture) {
	a := f.create(t, input("a"))
	b := f.create(t, input("b"))
	if err := f.store.Delete(f.ctx, a.ID); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := f.store.Get(f.ctx, a.ID); !errors.Is(err, controller.ErrNotFound) {
		t.Errorf("Get after Delete: got %v, want ErrNotFound", err)
	}
	if err := f.store.Delete(f.ctx, a.ID); !errors.Is(err, controller.ErrNotFound) {
		t.Errorf("Delete twice: got %v, want ErrNotFound", err)
	}
	list, err := f.store.List(f.ctx, controller.ListFilter{})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if got, want := ids(list), fmt.Sprint(b.ID); got != want {
		t.Errorf("List after Delete: got %q, want %q", got, want)
	}
	// The name is free again, and ids are never reused.
	c := f.create(t, input("a"))
	if c.ID <= b.ID {
		t.Errorf("id after Delete: got %d, want more than %d", c.ID, b.ID)
	}
}

func testNotFound(t *testing.T, f fixture) {
	const missing = 999
	_, err := f.store.Get(f.ctx, missing)
	if !errors.Is(err, controller.ErrNotFound) {
		t.Errorf("Get: got %v, want ErrNotFound", err)
	}
	if got, want := fmt.Sprint(err), "get instance 999: not found"; got != want {
		t.Errorf("Get error: got %q, want %q", got, want)
	}
	if _, err := f.store.GetByName(f.ctx, "nope"); !errors.Is(err, controller.ErrNotFound) {
		t.Errorf("GetByName: got %v, want ErrNotFound", err)
	}
	if _, err := f.store.Update(f.ctx, missing, controller.Patch{Priority: ptr(1)}); !errors.Is(err, controller.ErrNotFound) {
		t.Errorf("Update: got %v, want ErrNotFound", err)
	}
	if err := f.store.Delete(f.ctx, missing); !errors.Is(err, controller.ErrNotFound) {
		t.Errorf("Delete: got %v, want ErrNotFound", err)
	}
	if _, err := f.store.Token(f.ctx, missing); !errors.Is(err, controller.ErrNotFound) {
		t.Errorf("Token: got %v, want ErrNotFound", err)
	}
	if err := f.store.RecordHealth(f.ctx, missing, controller.HealthRecord{Status: balance.Healthy}); !errors.Is(err, controller.ErrNotFound) {
		t.Errorf("RecordHealth: got %v, want ErrNotFound", err)
	}
}

func testInvalid(t *testing.T, f fixture) {
	bad := input("jenkins-1")
	bad.URL = "jenkins-1.example.com"
	_, err := f.store.Create(f.ctx, bad)
	var ve *controller.ValidationError
	if !errors.As(err, &ve) || ve.Field != "url" {
		t.Fatalf("Create with bad url: got %v, want a *ValidationError on url", err)
	}
	i := f.create(t, input("jenkins-1"))
	_, err = f.store.Update(f.ctx, i.ID, controller.Patch{MaxConnections: ptr(0)})
	if !errors.As(err, &ve) || ve.Field != "maxConnections" {
		t.Errorf("Update with bad maxConnections: got %v, want a *ValidationError on maxConnections", err)
	}
	if list, _ := f.store.List(f.ctx, controller.ListFilter{}); len(list) != 1 || list[0].MaxConnections != 100 {
		t.Errorf("after invalid input: got %s, want only jenkins-1, unchanged", asJSON(t, list))
	}
}

// conflictOn checks that err is a *ConflictError on field that is ErrConflict
// and whose message contains mention.
func conflictOn(t *testing.T, err error, field, mention string) {
	t.Helper()
	if !errors.Is(err, controller.ErrConflict) {
		t.Fatalf("got %v, want ErrConflict", err)
	}
	var ce *controller.ConflictError
	if !errors.As(err, &ce) || ce.Field != field {
		t.Errorf("got %v, want a *ConflictError on %s", err, field)
	}
	if !strings.Contains(err.Error(), mention) {
		t.Errorf("conflict message: got %q, want it to mention %q", err, mention)
	}
}

func testDuplicateName(t *testing.T, f fixture) {
	a := f.create(t, input("jenkins-1"))
	_, err := f.store.Create(f.ctx, input("jenkins-1"))
	conflictOn(t, err, "name", fmt.Sprintf("instance %d", a.ID))

	b := f.create(t, input("jenkins-2"))
	_, err = f.store.Update(f.ctx, b.ID, controller.Patch{Name: ptr("jenkins-1")})
	conflictOn(t, err, "name", fmt.Sprintf("instance %d", a.ID))
	if got, _ := f.store.Get(f.ctx, b.ID); got.Name != "jenkins-2" {
		t.Errorf("name after failed rename: got %q, want jenkins-2", got.Name)
	}
	// Renaming to its own name is no conflict.
	if _, err := f.store.Update(f.ctx, b.ID, controller.Patch{Name: ptr("jenkins-2")}); err != nil {
		t.Errorf("Update to the same name: %v", err)
	}
}

func testOnePrimary(t *testing.T, f fixture) {
	primary := func(name, cluster string) controller.CreateInput {
		in := input(name)
		in.IsPrimary, in.ClusterID = true, ptr(cluster)
		return in
	}
	first := f.create(t, primary("prod-1", "prod"))
	_, err := f.store.Create(f.ctx, primary("prod-2", "prod"))
	conflictOn(t, err, "isPrimary", `primary instance "prod-1"`)

	// Other clusters have their own primary.
	stagingPrimary := f.create(t, primary("staging-1", "staging"))

	backup := f.create(t, controller.CreateInput{Name: "prod-2", URL: "https://prod-2.example.com", ClusterID: ptr("prod")})
	_, err = f.store.Update(f.ctx, backup.ID, controller.Patch{IsPrimary: ptr(true)})
	conflictOn(t, err, "isPrimary", `primary instance "prod-1"`)

	// Moving a primary into a cluster that has one is a conflict too.
	_, err = f.store.Update(f.ctx, stagingPrimary.ID, controller.Patch{ClusterID: ptr("prod")})
	conflictOn(t, err, "isPrimary", `cluster "prod"`)

	// Failing over: unset the old primary, then set the new one.
	if _, err := f.store.Update(f.ctx, first.ID, controller.Patch{IsPrimary: ptr(false)}); err != nil {
		t.Fatalf("unset primary: %v", err)
	}
	if _, err := f.store.Update(f.ctx, backup.ID, controller.Patch{IsPrimary: ptr(true)}); err != nil {
		t.Errorf("set new primary: %v", err)
	}
}

// testConcurrentCreates races creates of one name and of two primaries of
// one cluster: the database, not a check before the write, must decide.
func testConcurrentCreates(t *testing.T, f fixture) {
	const n = 6
	var wg sync.WaitGroup
	errs := make([]error, 2*n)
	for i := range n {
		wg.Go(func() { _, errs[i] = f.store.Create(f.ctx, input("same")) })
		wg.Go(func() {
			in := input(fmt.Sprintf("primary-%d", i))
			in.IsPrimary = true
			_, errs[n+i] = f.store.Create(f.ctx, in)
		})
	}
	wg.Wait()
	for _, group := range [][]error{errs[:n], errs[n:]} {
		won := 0
		for _, err := range group {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, controller.ErrConflict):
				t.Errorf("concurrent Create: got %v, want nil or ErrConflict", err)
			}
		}
		if won != 1 {
			t.Errorf("concurrent Creates that succeeded: got %d, want 1", won)
		}
	}
}
