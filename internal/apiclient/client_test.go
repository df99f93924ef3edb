package apiclient_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jenkinds/jenkinds/internal/api"
	"github.com/jenkinds/jenkinds/internal/api/apitest"
	"github.com/jenkinds/jenkinds/internal/apiclient"
	"github.com/jenkinds/jenkinds/internal/balance"
	"github.com/jenkinds/jenkinds/internal/controller"
	"github.com/jenkinds/jenkinds/internal/db/dbtest"
)

// setup starts the real API and returns it with a client of it.
func setup(t *testing.T) (*apitest.Server, *apiclient.Client) {
	t.Helper()
	s := apitest.Start(t, dbtest.Engines(t)[0])
	return s, client(t, s.URL, apitest.Token)
}

// setupFleet starts the real API with a real build engine and health
// authority over simulated controllers (apitest.StartFleet), and returns
// them with a client of it.
func setupFleet(t *testing.T, fc apitest.FleetConfig) (*apitest.Fleet, *apiclient.Client) {
	t.Helper()
	s, fleet := apitest.StartFleet(t, dbtest.Engines(t)[0], fc)
	return fleet, client(t, s.URL, apitest.Token)
}

func client(t *testing.T, base, token string) *apiclient.Client {
	t.Helper()
	c, err := apiclient.New(base, token, nil)
	if err != nil {
		t.Fatalf("New(%q): %v", base, err)
	}
	return c
}

func ptr[T any](v T) *T { return &v }

func TestNew(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, want string }{
		{"http://127.0.0.1:7070", "http://127.0.0.1:7070"},
		{"https://jenkinds.example.com/", "https://jenkinds.example.com"},
		{" http://localhost:7070/prefix/ ", "http://localhost:7070/prefix"},
	} {
		c, err := apiclient.New(tt.in, "t", nil)
		if err != nil || c.BaseURL() != tt.want {
			t.Errorf("New(%q): got %v, %v; want base %q", tt.in, c, err, tt.want)
		}
	}
	for _, in := range []string{"", "127.0.0.1:7070", "localhost", "ftp://x", "http://", "http://u:p@x", "http://x?y=1", "http://x/#f", "http://%zz"} {
		if _, err := apiclient.New(in, "t", nil); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q", in)) {
			t.Errorf("New(%q): got %v, want an error naming it", in, err)
		}
	}
}

// TestRoutes calls every method once against the real API.
func TestRoutes(t *testing.T) {
	t.Parallel()
	s, c := setup(t)
	ctx := context.Background()

	a, err := c.CreateInstance(ctx, controller.CreateInput{Name: "a", URL: "https://a.example.com/", APIToken: "tok", ClusterID: ptr("prod"), IsPrimary: true, Priority: 7})
	if err != nil {
		t.Fatalf("CreateInstance: %v", err)
	}
	if a.ID <= 0 || a.URL != "https://a.example.com" || a.ClusterID != "prod" || !a.IsPrimary || a.Priority != 7 || !a.HasAPIToken || a.MaxConnections != 100 {
		t.Errorf("CreateInstance: got %s", apitest.JSON(t, a))
	}
	b, err := c.CreateInstance(ctx, controller.CreateInput{Name: "b", URL: "https://b.example.com"})
	if err != nil {
		t.Fatalf("CreateInstance: %v", err)
	}

	if got, err := c.GetInstance(ctx, a.ID); err != nil || apitest.JSON(t, got) != apitest.JSON(t, a) {
		t.Errorf("GetInstance: got %s, %v; want %s", apitest.JSON(t, got), err, apitest.JSON(t, a))
	}
	for _, tt := range []struct{ cluster, want string }{{"", "a,b"}, {"prod", "a"}, {"none", ""}} {
		list, err := c.ListInstances(ctx, tt.cluster)
		var names []string
		for _, i := range list {
			names = append(names, i.Name)
		}
		if err != nil || list == nil || strings.Join(names, ",") != tt.want {
			t.Errorf("ListInstances(%q): got %q (nil: %v), %v; want %q", tt.cluster, names, list == nil, err, tt.want)
		}
	}

	// Only the fields set are sent: the others keep their values.
	got, err := c.UpdateInstance(ctx, a.ID, controller.Patch{Description: ptr("primary"), IsPrimary: ptr(false)})
	want := a
	want.Description, want.IsPrimary = "primary", false
	if err != nil || apitest.JSON(t, got) != apitest.JSON(t, want) {
		t.Errorf("UpdateInstance:\ngot  %s, %v\nwant %s", apitest.JSON(t, got), err, apitest.JSON(t, want))
	}

	s.Prober.Live = func(inst controller.Instance) (api.LiveStats, error) {
		if inst.ID == b.ID {
			return api.LiveStats{}, apitest.ErrDown
		}
		return api.LiveStats{TotalJobs: 4, TotalExecutors: 2, BusyExecutors: 1, IdleExecutors: 1}, nil
	}
	st, err := c.InstanceStats(ctx, a.ID)
	if err != nil || st.InstanceID != a.ID || st.LiveStats == nil || st.TotalJobs != 4 || st.ExecutorUtilization == nil || *st.ExecutorUtilization != 50 || st.Error != "" {
		t.Errorf("InstanceStats: got %s, %v", apitest.JSON(t, st), err)
	}
	st, err = c.InstanceStats(ctx, b.ID)
	if err != nil || st.LiveStats != nil || st.ExecutorUtilization != nil || !strings.Contains(st.Error, "connection refused") {
		t.Errorf("InstanceStats of a down controller: got %s, %v; want no live figures and the error", apitest.JSON(t, st), err)
	}

	var asked apitest.Record
	s.Prober.Test = func(url, user, token string) api.TestResult {
		asked.Add("test %s %s %s", url, user, token)
		return api.TestResult{Success: true, Version: "2.452.1", Message: "ok"}
	}
	s.Picker.PickOptimal = func(cluster, strategy string) (controller.Instance, error) {
		asked.Add("optimal %s %s", cluster, strategy)
		return a, nil
	}
	s.Picker.PickPrimary = func(cluster string) (controller.Instance, error) {
		asked.Add("primary %s", cluster)
		return a, nil
	}
	s.Picker.PickFailover = func(cluster string, current int64) (controller.Instance, error) {
		asked.Add("failover %s %d", cluster, current)
		return b, nil
	}
	s.Checker.Check = func(cluster string) ([]api.CheckResult, error) {
		asked.Add("check %s", cluster)
		return []api.CheckResult{{InstanceID: a.ID, Name: "a", Status: "healthy", PreviousStatus: "unknown"}}, nil
	}
	if r, err := c.TestConnection(ctx, api.TestConnectionRequest{URL: "https://x.example.com", Username: "u", APIToken: "t"}); err != nil || !r.Success || r.Version != "2.452.1" {
		t.Errorf("TestConnection: got %+v, %v", r, err)
	}
	if i, err := c.OptimalInstance(ctx, "prod", "weighted"); err != nil || i.ID != a.ID {
		t.Errorf("OptimalInstance: got %d, %v; want %d", i.ID, err, a.ID)
	}
	if _, err := c.OptimalInstance(ctx, "", ""); err != nil {
		t.Errorf("OptimalInstance with defaults: %v", err)
	}
	if i, err := c.Primary(ctx, "prod"); err != nil || i.ID != a.ID {
		t.Errorf("Primary: got %d, %v; want %d", i.ID, err, a.ID)
	}
	if i, err := c.Failover(ctx, "", a.ID); err != nil || i.ID != b.ID {
		t.Errorf("Failover: got %d, %v; want %d", i.ID, err, b.ID)
	}
	if res, err := c.RunHealthChecks(ctx, "prod"); err != nil || len(res) != 1 || res[0].Status != "healthy" || res[0].PreviousStatus != "unknown" {
		t.Errorf("RunHealthChecks: got %+v, %v", res, err)
	}
	if _, err := c.RunHealthChecks(ctx, ""); err != nil {
		t.Errorf("RunHealthChecks of all: %v", err)
	}
	wantAsked := fmt.Sprintf("test https://x.example.com u t|optimal prod weighted|optimal default least-load|primary prod|failover default %d|check prod|check ", a.ID)
	if asked.String() != wantAsked {
		t.Errorf("the API was asked:\ngot  %s\nwant %s", asked.String(), wantAsked)
	}

	clusters, err := c.Clusters(ctx)
	if err != nil || len(clusters) != 2 || clusters[0].ClusterID != "default" || clusters[1].ClusterID != "prod" || clusters[1].Instances[0].ID != a.ID {
		t.Errorf("Clusters: got %s, %v", apitest.JSON(t, clusters), err)
	}
	doc, err := c.OpenAPI(ctx)
	if err != nil || string(doc) != string(api.OpenAPI()) {
		t.Errorf("OpenAPI: got %d bytes, %v; want the document", len(doc), err)
	}
	if err := c.Healthz(ctx); err != nil {
		t.Errorf("Healthz: %v", err)
	}
	if err := c.Readyz(ctx); err != nil {
		t.Errorf("Readyz: %v", err)
	}
	if m, err := c.Metrics(ctx); err != nil || string(m) != apitest.Metrics {
		t.Errorf("Metrics: got %q, %v", m, err)
	}

	if err := c.DeleteInstance(ctx, b.ID); err != nil {
		t.Errorf("DeleteInstance: %v", err)
	}
	if _, err := c.GetInstance(ctx, b.ID); err == nil {
		t.Errorf("GetInstance after DeleteInstance: got no error")
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	s, c := setup(t)
	ctx := context.Background()
	a, err := c.CreateInstance(ctx, controller.CreateInput{Name: "a", URL: "https://a.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	s.Picker.PickOptimal = func(string, string) (controller.Instance, error) {
		return controller.Instance{}, fmt.Errorf("%w: 2 controllers: 2 unhealthy", balance.ErrNoneEligible)
	}
	wrongToken := client(t, s.URL, "jk_wrong-token-0123456789")
	tests := []struct {
		name   string
		call   func() error
		want   apiclient.Error
		string string
	}{
		{"validation", func() error {
			_, err := c.CreateInstance(ctx, controller.CreateInput{Name: "b", URL: "b.example.com"})
			return err
		}, apiclient.Error{Status: 400, Code: api.CodeInvalidField, Field: "url"}, "url: must be an absolute http or https URL, e.g. https://jenkins.example.com (field: url)"},
		{"conflict", func() error {
			_, err := c.CreateInstance(ctx, controller.CreateInput{Name: "a", URL: "https://x.example.com"})
			return err
		}, apiclient.Error{Status: 409, Code: api.CodeConflict, Field: "name"}, fmt.Sprintf(`name: "a" is already the name of instance %d (field: name)`, a.ID)},
		{"not found", func() error { _, err := c.GetInstance(ctx, 999); return err },
			apiclient.Error{Status: 404, Code: api.CodeNotFound}, "get instance 999: not found"},
		{"bad id", func() error { return c.DeleteInstance(ctx, 0) },
			apiclient.Error{Status: 400, Code: api.CodeInvalidParameter, Field: "id"}, `id must be a positive integer, not "0" (field: id)`},
		{"unknown strategy", func() error { _, err := c.OptimalInstance(ctx, "", "fastest"); return err },
			apiclient.Error{Status: 400, Code: api.CodeUnknownStrategy, Field: "strategy"}, ""},
		{"none eligible", func() error { _, err := c.OptimalInstance(ctx, "", ""); return err },
			apiclient.Error{Status: 503, Code: api.CodeNoEligibleInstance}, "no eligible controller: 2 controllers: 2 unhealthy"},
		{"wrong token", func() error { _, err := wrongToken.ListInstances(ctx, ""); return err },
			apiclient.Error{Status: 401, Code: api.CodeUnauthorized}, ""},
		{"failover from nothing", func() error { _, err := c.Failover(ctx, "prod", 0); return err },
			apiclient.Error{Status: 400, Code: api.CodeInvalidField, Field: "currentInstanceId"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			var e *apiclient.Error
			if !errors.As(err, &e) {
				t.Fatalf("got %v (%T), want an *apiclient.Error", err, err)
			}
			if e.Status != tt.want.Status || e.Code != tt.want.Code || e.Field != tt.want.Field || e.Message == "" {
				t.Errorf("got %+v, want status %d code %q field %q and a message", *e, tt.want.Status, tt.want.Code, tt.want.Field)
			}
			if tt.string != "" && err.Error() != tt.string {
				t.Errorf("Error(): got %q, want %q", err.Error(), tt.string)
			}
			if strings.Contains(err.Error(), "token-0123456789") || strings.Contains(err.Error(), apitest.Token) {
				t.Errorf("Error(): %q contains a token", err)
			}
		})
	}
}

// TestNotTheAPI checks the errors from something other than the API: a
// proxy's error page, a closed port, a canceled request.
func TestNotTheAPI(t *testing.T) {
	t.Parallel()
	const token = "jk_secret-client-token-123"
	page := "<html><body><h1>502 Bad Gateway</h1>\n<p>" + strings.Repeat("é", 300) + "</p></body></html>"
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/v1/instances":
			w.WriteHeader(http.StatusBadGateway)
			fmt.Fprint(w, page)
		case "/api/v1/clusters":
			fmt.Fprint(w, "not json")
		default:
			w.WriteHeader(http.StatusTeapot)
		}
	}))
	t.Cleanup(proxy.Close)
	ctx := context.Background()

	c := client(t, proxy.URL, token)
	var seen []error
	_, err := c.ListInstances(ctx, "")
	seen = append(seen, err)
	var e *apiclient.Error
	if !errors.As(err, &e) || e.Status != 502 || e.Code != "" || !strings.HasPrefix(e.Message, "HTTP 502 Bad Gateway: <html><body><h1>502 Bad Gateway</h1> <p>éé") || !strings.HasSuffix(e.Message, "é…") {
		t.Errorf("502 page: got %#v", err)
	}
	err = c.Healthz(ctx)
	seen = append(seen, err)
	if !errors.As(err, &e) || e.Message != "HTTP 418 I'm a teapot" {
		t.Errorf("empty 418: got %v, want HTTP 418 I'm a teapot", err)
	}
	_, err = c.Clusters(ctx)
	seen = append(seen, err)
	if err == nil || !strings.Contains(err.Error(), "GET /api/v1/clusters: decode answer") {
		t.Errorf("2xx that is not JSON: got %v, want a decode error", err)
	}

	dead := "http://" + apitest.DeadAddr(t)
	_, err = client(t, dead, token).ListInstances(ctx, "")
	seen = append(seen, err)
	if err == nil || errors.As(err, &e) || !strings.Contains(err.Error(), dead) || !strings.Contains(err.Error(), "refused") {
		t.Errorf("closed port: got %v, want a connection error naming %s", err, dead)
	}

	canceled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = c.ListInstances(canceled, "")
	seen = append(seen, err)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: got %v, want context.Canceled", err)
	}
	for _, err := range seen {
		if err != nil && strings.Contains(err.Error(), token) {
			t.Errorf("error %q contains the token", err)
		}
	}
}

// TestPrefix checks a server mounted under a path prefix.
func TestPrefix(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t, dbtest.Engines(t)[0])
	mounted := httptest.NewServer(http.StripPrefix("/jenkinds", s.Handler))
	t.Cleanup(mounted.Close)
	c := client(t, mounted.URL+"/jenkinds/", apitest.Token)
	ctx := context.Background()
	i, err := c.CreateInstance(ctx, controller.CreateInput{Name: "a", URL: "https://a.example.com"})
	if err != nil {
		t.Fatalf("CreateInstance under a prefix: %v", err)
	}
	if got, err := c.GetInstance(ctx, i.ID); err != nil || got.Name != "a" {
		t.Errorf("GetInstance under a prefix: got %+v, %v", got, err)
	}
	if err := c.Healthz(ctx); err != nil {
		t.Errorf("Healthz under a prefix: %v", err)
	}
}
