package api_test

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/jenkinds/jenkinds/internal/api"
	"github.com/jenkinds/jenkinds/internal/api/apitest"
	"github.com/jenkinds/jenkinds/internal/controller"
)

// TestBadRequests sends every kind of malformed request: each must get a
// 4xx that says what is wrong, never a 500.
func TestBadRequests(t *testing.T) {
	t.Parallel()
	f := setup(t, sqlite(t))
	i := f.create(t, `{"name":"a","url":"https://a.example.com"}`)
	one := fmt.Sprintf("/api/v1/instances/%d", i.ID)
	const create = "/api/v1/instances"
	tooBig := `{"description":"` + strings.Repeat("x", api.DefaultMaxBodyBytes) + `"}`

	tests := []struct {
		name           string
		method, path   string
		body           string
		opts           []option
		status         int
		code, field    string
		mentions       []string
		wantAllowExact string
	}{
		// Bodies.
		{name: "empty body", method: "POST", path: create, status: 400, code: "invalid_json", mentions: []string{"empty", "name, url, username, apiToken"}},
		{name: "blank body", method: "POST", path: create, body: " \n\t", status: 400, code: "invalid_json", mentions: []string{"empty"}},
		{name: "malformed", method: "POST", path: create, body: `{"name": "a",}`, status: 400, code: "invalid_json", mentions: []string{"malformed JSON at byte", "invalid character"}},
		{name: "truncated", method: "POST", path: create, body: `{"name": "a"`, status: 400, code: "invalid_json", mentions: []string{"ends before the object does"}},
		{name: "array", method: "POST", path: create, body: `[{"name":"a"}]`, status: 400, code: "invalid_json", mentions: []string{"must be a JSON object"}},
		{name: "null", method: "PATCH", path: one, body: `null`, status: 400, code: "invalid_json", mentions: []string{"must be a JSON object"}},
		{name: "string", method: "PATCH", path: one, body: `"x"`, status: 400, code: "invalid_json", mentions: []string{"must be a JSON object"}},
		{name: "two objects", method: "PATCH", path: one, body: `{} {}`, status: 400, code: "invalid_json", mentions: []string{"nothing after it"}},
		{name: "trailing garbage", method: "PATCH", path: one, body: `{}x`, status: 400, code: "invalid_json", mentions: []string{"nothing after it"}},
		{name: "unknown field", method: "POST", path: create, body: `{"name":"b","url":"https://b.example.com","cluster":"prod"}`, status: 400, code: "unknown_field", field: "cluster", mentions: []string{`unknown field "cluster"`, "clusterId"}},
		{name: "unknown field in patch", method: "PATCH", path: one, body: `{"id": 5}`, status: 400, code: "unknown_field", field: "id", mentions: []string{`"id"`, "name, url"}},
		{name: "string for integer", method: "POST", path: create, body: `{"name":"b","url":"https://b.example.com","priority":"high"}`, status: 400, code: "invalid_field", field: "priority", mentions: []string{"priority must be an integer, not a string"}},
		{name: "fraction for integer", method: "PATCH", path: one, body: `{"maxConnections":5.5}`, status: 400, code: "invalid_field", field: "maxConnections", mentions: []string{"maxConnections must be an integer, not 5.5"}},
		{name: "huge integer", method: "PATCH", path: one, body: `{"priority":1e300}`, status: 400, code: "invalid_field", field: "priority", mentions: []string{"must be an integer, not 1e300"}},
		{name: "string for boolean", method: "PATCH", path: one, body: `{"isPrimary":"yes"}`, status: 400, code: "invalid_field", field: "isPrimary", mentions: []string{"isPrimary must be true or false, not a string"}},
		{name: "number for string", method: "POST", path: create, body: `{"name":5,"url":"https://b.example.com"}`, status: 400, code: "invalid_field", field: "name", mentions: []string{"name must be a string, not a number"}},
		{name: "object for string", method: "PATCH", path: one, body: `{"clusterId":{"id":"x"}}`, status: 400, code: "invalid_field", field: "clusterId", mentions: []string{"must be a string, not an object"}},
		{name: "array for boolean", method: "PATCH", path: one, body: `{"isActive":[true]}`, status: 400, code: "invalid_field", field: "isActive", mentions: []string{"must be true or false, not an array"}},
		{name: "boolean for integer", method: "POST", path: "/api/v1/clusters/default/failover", body: `{"currentInstanceId":true}`, status: 400, code: "invalid_field", field: "currentInstanceId", mentions: []string{"must be an integer, not a boolean"}},
		{name: "too large", method: "PATCH", path: one, body: tooBig, status: 413, code: "body_too_large", mentions: []string{"larger than 1048576 bytes"}},
		{name: "text/plain", method: "POST", path: create, body: `{}`, opts: []option{withHeader("Content-Type", "text/plain")}, status: 415, code: "unsupported_media_type", mentions: []string{"text/plain", "application/json"}},
		{name: "form", method: "POST", path: create, body: `name=a`, opts: []option{withHeader("Content-Type", "application/x-www-form-urlencoded")}, status: 415, code: "unsupported_media_type"},
		{name: "malformed content type", method: "POST", path: create, body: `{}`, opts: []option{withHeader("Content-Type", "application/json; ===")}, status: 415, code: "unsupported_media_type"},

		// Path and query parameters.
		{name: "id not a number", method: "GET", path: "/api/v1/instances/abc", status: 400, code: "invalid_parameter", field: "id", mentions: []string{`id must be a positive integer, not "abc"`}},
		{name: "id zero", method: "GET", path: "/api/v1/instances/0", status: 400, code: "invalid_parameter", field: "id", mentions: []string{"positive integer"}},
		{name: "id negative", method: "DELETE", path: "/api/v1/instances/-1", status: 400, code: "invalid_parameter", field: "id"},
		{name: "id with sign", method: "PATCH", path: "/api/v1/instances/+1", body: `{}`, status: 400, code: "invalid_parameter", field: "id"},
		{name: "id fraction", method: "GET", path: "/api/v1/instances/1.5/stats", status: 400, code: "invalid_parameter", field: "id"},
		{name: "id overflow", method: "GET", path: "/api/v1/instances/99999999999999999999", status: 400, code: "invalid_parameter", field: "id"},
		{name: "literal path, wildcard method", method: "GET", path: "/api/v1/instances/test-connection", status: 405, code: "method_not_allowed", mentions: []string{"use POST"}, wantAllowExact: "POST"},
		{name: "literal path, other method", method: "PUT", path: "/api/v1/instances/test-connection", status: 405, code: "method_not_allowed", wantAllowExact: "POST"},
		{name: "bad id before bad body", method: "PATCH", path: "/api/v1/instances/x", body: `nope`, status: 400, code: "invalid_parameter", field: "id"},
		{name: "misspelt query parameter", method: "GET", path: "/api/v1/instances?cluster=prod", status: 400, code: "invalid_parameter", field: "cluster", mentions: []string{`unknown query parameter "cluster"`, "clusterId"}},
		{name: "repeated query parameter", method: "GET", path: "/api/v1/instances?clusterId=a&clusterId=b", status: 400, code: "invalid_parameter", field: "clusterId", mentions: []string{"2 times"}},
		{name: "malformed query", method: "GET", path: "/api/v1/optimal-instance?clusterId=%zz", status: 400, code: "invalid_parameter", mentions: []string{"malformed query string"}},
		{name: "unknown strategy", method: "GET", path: "/api/v1/optimal-instance?strategy=fastest", status: 400, code: "unknown_strategy", field: "strategy", mentions: []string{`"fastest"`, "least-load, round-robin, weighted, primary-backup"}},
		{name: "health checks query", method: "POST", path: "/api/v1/health-checks?cluster=x", status: 400, code: "invalid_parameter", field: "cluster"},
		{name: "failover without current", method: "POST", path: "/api/v1/clusters/default/failover", body: `{}`, status: 400, code: "invalid_field", field: "currentInstanceId", mentions: []string{"positive integer"}},
		{name: "failover current negative", method: "POST", path: "/api/v1/clusters/default/failover", body: `{"currentInstanceId":-3}`, status: 400, code: "invalid_field", field: "currentInstanceId", mentions: []string{"got -3"}},
		{name: "test-connection without url", method: "POST", path: "/api/v1/instances/test-connection", body: `{"username":"u"}`, status: 400, code: "invalid_field", field: "url", mentions: []string{"required"}},

		// Routing.
		{name: "unknown api path", method: "GET", path: "/api/v1/nope", status: 404, code: "not_found", mentions: []string{"no route GET /api/v1/nope", "openapi.json"}},
		{name: "unknown path", method: "GET", path: "/nope", status: 404, code: "not_found"},
		{name: "root", method: "GET", path: "/", status: 404, code: "not_found"},
		{name: "too deep", method: "GET", path: "/api/v1/instances/1/stats/more", status: 404, code: "not_found"},
		{name: "PUT on the collection", method: "PUT", path: create, body: `{}`, status: 405, code: "method_not_allowed", mentions: []string{"use GET, HEAD, POST"}, wantAllowExact: "GET, HEAD, POST"},
		{name: "POST on an instance", method: "POST", path: one, body: `{}`, status: 405, code: "method_not_allowed", wantAllowExact: "GET, HEAD, PATCH, DELETE"},
		{name: "DELETE clusters", method: "DELETE", path: "/api/v1/clusters", status: 405, code: "method_not_allowed", wantAllowExact: "GET, HEAD"},
		{name: "GET health-checks", method: "GET", path: "/api/v1/health-checks", status: 405, code: "method_not_allowed", wantAllowExact: "POST"},
		{name: "POST healthz", method: "POST", path: "/healthz", status: 405, code: "method_not_allowed", wantAllowExact: "GET, HEAD"},
		{name: "OPTIONS", method: "OPTIONS", path: "/api/v1/optimal-instance", status: 405, code: "method_not_allowed", wantAllowExact: "GET, HEAD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := f.call(t, tt.method, tt.path, tt.body, tt.opts...)
			wantError(t, r, tt.status, tt.code, tt.field, tt.mentions...)
			if got := r.header.Get("Allow"); got != tt.wantAllowExact {
				t.Errorf("Allow: got %q, want %q", got, tt.wantAllowExact)
			}
		})
	}
	if logs := f.Logs.String(); strings.Contains(logs, "level=ERROR") {
		t.Errorf("bad requests were logged as errors:\n%s", logs)
	}
	if got, _ := f.Store.Get(f.ctx, i.ID); apitest.JSON(t, got) != apitest.JSON(t, i) {
		t.Errorf("after bad requests:\ngot  %s\nwant %s", apitest.JSON(t, got), apitest.JSON(t, i))
	}
}

func TestMaxBodyBytes(t *testing.T) {
	t.Parallel()
	f := setup(t, sqlite(t), func(c *api.Config) { c.MaxBodyBytes = 64 })
	body := `{"name":"a","url":"https://a.example.com"}`
	if r := f.call(t, "POST", "/api/v1/instances", body); r.status != http.StatusCreated {
		t.Errorf("%d-byte body: got %d %s, want 201", len(body), r.status, r.body)
	}
	long := `{"name":"b","url":"https://b.example.com","description":"` + strings.Repeat("d", 30) + `"}`
	wantError(t, f.call(t, "POST", "/api/v1/instances", long), 413, "body_too_large", "", "larger than 64 bytes")
}

// TestAuth checks that every route under /api/v1, and every unknown path
// there, needs the admin token, and that the probes do not.
func TestAuth(t *testing.T) {
	t.Parallel()
	f := setup(t, sqlite(t))
	paths := []string{"/api/v1/nope", "/api/v1/"}
	for _, p := range api.Patterns(f.Handler) {
		method, path, _ := strings.Cut(p, " ")
		path = strings.NewReplacer("{id}", "1", "{clusterId}", "default").Replace(path)
		if !strings.HasPrefix(path, api.Prefix) {
			if r := f.call(t, method, path, "", withoutToken); r.status != http.StatusOK {
				t.Errorf("%s %s without a token: got %d %s, want 200", method, path, r.status, r.body)
			}
			continue
		}
		paths = append(paths, method+" "+path)
	}
	for _, p := range paths {
		method, path, ok := strings.Cut(p, " ")
		if !ok {
			method, path = "GET", p
		}
		for _, tt := range []struct {
			name string
			opt  option
		}{
			{"no token", withoutToken},
			{"wrong token", withHeader("Authorization", "Bearer "+adminToken+"x")},
			{"basic auth", withHeader("Authorization", "Basic YWRtaW46YWRtaW4=")},
		} {
			r := f.call(t, method, path, `{}`, tt.opt)
			if r.status != http.StatusUnauthorized || r.header.Get("WWW-Authenticate") != `Bearer realm="jenkinds"` {
				t.Errorf("%s %s, %s: got %d, WWW-Authenticate %q; want 401, Bearer realm", method, path, tt.name, r.status, r.header.Get("WWW-Authenticate"))
			}
			wantError(t, r, http.StatusUnauthorized, "unauthorized", "", "JENKINDS_ADMIN_TOKEN")
		}
	}
}

// TestInternalErrors checks that a failing dependency gives a 500 with a
// generic message and the error in the log.
func TestInternalErrors(t *testing.T) {
	t.Parallel()
	f := setup(t, sqlite(t))
	f.Picker.PickPrimary = func(string) (controller.Instance, error) {
		return controller.Instance{}, errors.New("picker exploded: detail-for-the-log")
	}
	r := f.call(t, "GET", "/api/v1/clusters/default/primary", "")
	wantError(t, r, 500, "internal", "", "the details are in the server's log")
	if strings.Contains(r.body, "detail-for-the-log") {
		t.Errorf("500 body %s: carries the internal error", r.body)
	}
	logs := f.Logs.String()
	for _, want := range []string{"level=ERROR", "api request failed", "method=GET", "path=/api/v1/clusters/default/primary", "detail-for-the-log"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log %q: want it to contain %q", logs, want)
		}
	}

	// A database that went away: the real store fails.
	f.DB.Close()
	for _, p := range []string{"/api/v1/instances", "/api/v1/clusters", "/api/v1/instances/1"} {
		wantError(t, f.call(t, "GET", p, ""), 500, "internal", "")
	}
	wantError(t, f.call(t, "GET", "/readyz", ""), 503, "not_ready", "", "not ready: ping sqlite database")
	if r := f.call(t, "GET", "/healthz", ""); r.status != http.StatusOK {
		t.Errorf("/healthz with the database down: got %d, want 200 (liveness asks nothing)", r.status)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	full := func() api.Config {
		return api.Config{Registry: (*controller.Store)(nil), Checker: &apitest.Checker{}, Picker: &apitest.Picker{}, Prober: &apitest.Prober{}, AdminToken: adminToken}
	}
	for _, tt := range []struct {
		name   string
		change func(*api.Config)
		want   string
	}{
		{"complete", func(*api.Config) {}, ""},
		{"no registry", func(c *api.Config) { c.Registry = nil }, "api config: Registry required"},
		{"no token", func(c *api.Config) { c.AdminToken = "" }, "api config: AdminToken required"},
		{"nothing", func(c *api.Config) { *c = api.Config{} }, "api config: Registry, Checker, Picker, Prober, AdminToken required"},
		{"negative body limit", func(c *api.Config) { c.MaxBodyBytes = -1 }, "MaxBodyBytes is -1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := full()
			tt.change(&cfg)
			h, err := api.New(cfg)
			switch {
			case tt.want == "" && (err != nil || h == nil):
				t.Errorf("New: got %v, want a handler", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("New: got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
