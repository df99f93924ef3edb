package api_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jenkinds/jenkinds/internal/api"
	"github.com/jenkinds/jenkinds/internal/api/apitest"
	"github.com/jenkinds/jenkinds/internal/controller"
)

// TestTokenNeverLeaks registers an instance with a recognisable API token,
// then calls every route, well and badly, with the token in the bodies: no
// answer and no log line may contain it.
func TestTokenNeverLeaks(t *testing.T) {
	t.Parallel()
	const token = "tok-PLAINTEXT-123"
	f := setup(t, sqlite(t))
	i := f.create(t, `{"name":"a","url":"https://a.example.com","username":"admin","apiToken":"`+token+`","clusterId":"prod","isPrimary":true}`)

	f.Prober.Test = func(url, username, apiToken string) api.TestResult {
		return api.TestResult{Success: apiToken == token, Version: "2.452.1", Message: "connected"}
	}
	f.Prober.Live = func(controller.Instance) (api.LiveStats, error) {
		return api.LiveStats{}, errors.New("connection refused")
	}
	get := func(string) (controller.Instance, error) { return f.Store.Get(f.ctx, i.ID) }
	f.Picker.PickOptimal = func(c, s string) (controller.Instance, error) { return get(c) }
	f.Picker.PickPrimary = get
	f.Picker.PickFailover = func(c string, _ int64) (controller.Instance, error) { return controller.Instance{}, errors.New("boom") }
	f.Checker.Check = func(string) ([]api.CheckResult, error) {
		return []api.CheckResult{{InstanceID: i.ID, Name: "a", ClusterID: "prod", Status: "healthy"}}, nil
	}

	one := fmt.Sprintf("/api/v1/instances/%d", i.ID)
	var answers []string
	send := func(method, path, body string) {
		r := f.call(t, method, path, body)
		answers = append(answers, fmt.Sprintf("%s %s → %d %s", method, path, r.status, r.body))
	}
	// The token in bodies, well and badly formed.
	for _, tt := range []struct{ method, path, body string }{
		{"POST", "/api/v1/instances", `{"name":"b","url":"https://b.example.com","apiToken":"` + token + `"}`},
		{"POST", "/api/v1/instances", `{"name":"a","url":"https://a.example.com","apiToken":"` + token + `"}`},  // conflict
		{"POST", "/api/v1/instances", `{"name":"c","url":"https://c.example.com","apiToken":"` + token + ` "}`}, // invalid token
		{"POST", "/api/v1/instances", `{"name":"d","url":"not a url","apiToken":"` + token + `"}`},
		{"POST", "/api/v1/instances", `{"name":"e","url":"https://e.example.com","apiTokn":"` + token + `"}`},
		{"POST", "/api/v1/instances", `{"name":"f","apiToken":["` + token + `"]}`},
		{"POST", "/api/v1/instances", `{"name":"g","apiToken":"` + token + `"`},
		{"POST", "/api/v1/instances", `{"name":"h","apiToken":"` + token + `",}`},
		{"PATCH", one, `{"apiToken":"` + token + `"}`},
		{"PATCH", one, `{"apiToken":"` + token + `", "priority": "x"}`},
		{"PATCH", one, `{"apiToken":"` + token + "\t" + `"}`},
		{"PATCH", "/api/v1/instances/999", `{"apiToken":"` + token + `"}`},
		{"POST", "/api/v1/instances/test-connection", `{"url":"https://a.example.com","username":"admin","apiToken":"` + token + `"}`},
		{"POST", "/api/v1/instances/test-connection", `{"url":"nope","apiToken":"` + token + `"}`},
		{"POST", "/api/v1/instances/test-connection", `{"url":"https://a.example.com","token":"` + token + `"}`},
		{"GET", "/api/v1/instances", ""},
		{"GET", "/api/v1/clusters", ""},
		{"GET", one + "/stats", ""},
		{"POST", "/api/v1/clusters/prod/failover", `{"currentInstanceId":1}`},
	} {
		send(tt.method, tt.path, tt.body)
	}
	if stored, err := f.Store.Token(f.ctx, i.ID); err != nil || stored != token {
		t.Errorf("stored token: got %q, %v; want it kept", stored, err)
	}
	// Then every route, with the instance's id where one is wanted (DELETE
	// among them).
	for _, p := range api.Patterns(f.Handler) {
		method, path, _ := strings.Cut(p, " ")
		send(method, strings.NewReplacer("{id}", fmt.Sprint(i.ID), "{clusterId}", "prod").Replace(path), `{}`)
	}

	for _, a := range answers {
		if strings.Contains(a, token) {
			t.Errorf("answer contains the token: %s", a)
		}
	}
	logs := f.Logs.String()
	if strings.Contains(logs, token) {
		t.Errorf("log contains the token:\n%s", logs)
	}
	// The log did record the changes, and the test-connection did reach
	// the prober with the token: the checks above saw real traffic.
	for _, want := range []string{"instance registered", "instance updated", "changes.apiToken=[redacted]", "controller.name=a", "level=ERROR"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log: want %q in\n%s", want, logs)
		}
	}
	if !strings.Contains(strings.Join(answers, "\n"), `"success":true`) {
		t.Errorf("test-connection with the token did not succeed: the prober never saw it\n%s", strings.Join(answers, "\n"))
	}
}

// TestLogValues checks that instances, registrations and patches log
// without their tokens.
func TestLogValues(t *testing.T) {
	t.Parallel()
	const token = "tok-PLAINTEXT-123"
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"instance", controller.Instance{ID: 3, Name: "a", ClusterID: "prod", URL: "https://a", Username: "admin"},
			"v.id=3 v.name=a v.cluster=prod v.url=https://a"},
		{"create input", controller.CreateInput{Name: "a", URL: "https://a", APIToken: token, ClusterID: ptr("prod")},
			"v.name=a v.url=https://a v.cluster=prod v.apiToken=[redacted]"},
		{"create input without token", controller.CreateInput{Name: "a", URL: "https://a"}, "v.name=a v.url=https://a"},
		{"patch", controller.Patch{Priority: ptr(5), APIToken: ptr(token), IsActive: ptr(false)},
			"v.apiToken=[redacted] v.priority=5 v.isActive=false"},
		{"patch clearing the token", controller.Patch{APIToken: ptr("")}, `v.apiToken=""`},
		{"patch of every field", controller.Patch{Name: ptr("n"), URL: ptr("u"), Username: ptr("us"), Description: ptr("d"), IsPrimary: ptr(true),
			ClusterID: ptr("c"), LoadBalancerURL: ptr("l"), Priority: ptr(1), HealthCheckURL: ptr("h"), MaxConnections: ptr(2), IsActive: ptr(true)},
			"v.name=n v.url=u v.username=us v.description=d v.isPrimary=true v.clusterId=c v.loadBalancerUrl=l v.priority=1 v.healthCheckUrl=h v.maxConnections=2 v.isActive=true"},
		{"empty patch", controller.Patch{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var b apitest.Buffer
			logger := apitest.NewLogger(&b)
			logger.Info("m", "v", tt.v)
			got := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(b.String()), "level=INFO msg=m"))
			if got != tt.want {
				t.Errorf("log: got %q, want %q", got, tt.want)
			}
		})
	}
}
