package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/jenkinds/jenkinds/internal/api/apitest"
	"github.com/jenkinds/jenkinds/internal/db/dbtest"
)

// TestInstances runs the registry routes on every engine.
func TestInstances(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		run  func(*testing.T, *fixture)
	}{
		{"create", testCreate},
		{"create with defaults", testCreateDefaults},
		{"list", testList},
		{"update", testUpdate},
		{"delete", testDelete},
		{"not found", testNotFound},
		{"validation", testValidation},
		{"conflicts", testConflicts},
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

const fullInstance = `{
	"name": "jenkins-1",
	"url": "https://jenkins-1.example.com/jenkins/",
	"username": "admin",
	"apiToken": "tok-abc-123",
	"description": "Primary Jenkins master",
	"isPrimary": true,
	"clusterId": "production",
	"loadBalancerUrl": "http://jenkins-lb:80",
	"priority": 10,
	"healthCheckUrl": "/api/json",
	"maxConnections": 50,
	"isActive": false
}`

func testCreate(t *testing.T, f *fixture) {
	r := f.call(t, "POST", "/api/v1/instances", fullInstance)
	if r.status != http.StatusCreated {
		t.Fatalf("POST: got %d %s, want 201", r.status, r.body)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(r.body), &got); err != nil {
		t.Fatal(err)
	}
	id := got["id"].(float64)
	if want := fmt.Sprintf("/api/v1/instances/%d", int64(id)); r.header.Get("Location") != want {
		t.Errorf("Location: got %q, want %q", r.header.Get("Location"), want)
	}
	want := map[string]any{
		"id": id, "name": "jenkins-1", "url": "https://jenkins-1.example.com/jenkins", "username": "admin",
		"description": "Primary Jenkins master", "isPrimary": true, "clusterId": "production",
		"loadBalancerUrl": "http://jenkins-lb:80", "priority": 10.0, "healthCheckUrl": "/api/json",
		"maxConnections": 50.0, "isActive": false, "hasApiToken": true, "healthStatus": "unknown",
		"lastHealthCheck": nil, "currentLoad": 0.0, "version": "", "restartCount": 0.0, "draining": false,
		"createdAt": "2025-03-01T12:00:00Z", "updatedAt": "2025-03-01T12:00:00Z",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %#v, want %#v", k, got[k], v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected key %q in %s", k, r.body)
		}
	}
	if strings.Contains(r.body, "tok-abc-123") || strings.Contains(r.body, "apiToken") {
		t.Errorf("body %s: carries the token", r.body)
	}

	// What GET answers is what POST did.
	g := f.call(t, "GET", r.header.Get("Location"), "")
	if g.status != http.StatusOK || g.body != r.body {
		t.Errorf("GET: got %d %s\nwant 200 %s", g.status, g.body, r.body)
	}
	if token, err := f.Store.Token(f.ctx, int64(id)); err != nil || token != "tok-abc-123" {
		t.Errorf("stored token: got %q, %v; want tok-abc-123", token, err)
	}
}

func testCreateDefaults(t *testing.T, f *fixture) {
	i := f.create(t, `{"name":"jenkins-2","url":"http://10.0.0.2:8080"}`)
	if i.ClusterID != "default" || i.MaxConnections != 100 || !i.IsActive || i.Priority != 0 || i.IsPrimary || i.HasAPIToken {
		t.Errorf("defaults: got %s", apitest.JSON(t, i))
	}
	// null means "the default" too.
	n := f.create(t, `{"name":"jenkins-3","url":"http://10.0.0.3:8080","clusterId":null,"maxConnections":null,"isActive":null}`)
	if n.ClusterID != "default" || n.MaxConnections != 100 || !n.IsActive {
		t.Errorf("null fields: got %s", apitest.JSON(t, n))
	}
}

func testList(t *testing.T, f *fixture) {
	if r := f.call(t, "GET", "/api/v1/instances", ""); r.status != 200 || strings.TrimSpace(r.body) != "[]" {
		t.Errorf("empty list: got %d %q, want 200 []", r.status, r.body)
	}
	a := f.create(t, `{"name":"a","url":"https://a.example.com","clusterId":"prod"}`)
	b := f.create(t, `{"name":"b","url":"https://b.example.com","clusterId":"staging"}`)
	c := f.create(t, `{"name":"c","url":"https://c.example.com","clusterId":"prod"}`)
	for _, tt := range []struct {
		query string
		want  []int64
	}{
		{"", []int64{a.ID, b.ID, c.ID}},
		{"?clusterId=prod", []int64{a.ID, c.ID}},
		{"?clusterId=staging", []int64{b.ID}},
		{"?clusterId=", []int64{a.ID, b.ID, c.ID}},
		{"?clusterId=none", []int64{}},
	} {
		r := f.call(t, "GET", "/api/v1/instances"+tt.query, "")
		if r.status != http.StatusOK {
			t.Errorf("GET %s: got %d %s", tt.query, r.status, r.body)
			continue
		}
		if !strings.HasPrefix(r.body, "[") {
			t.Errorf("GET %s: got %s, want a JSON array", tt.query, r.body)
		}
		var ids []int64
		for _, i := range decode[[]struct{ ID int64 }](t, r) {
			ids = append(ids, i.ID)
		}
		if fmt.Sprint(ids) != fmt.Sprint(tt.want) {
			t.Errorf("GET %s: got ids %v, want %v", tt.query, ids, tt.want)
		}
	}
}

func testUpdate(t *testing.T, f *fixture) {
	orig := f.create(t, fullInstance)
	path := fmt.Sprintf("/api/v1/instances/%d", orig.ID)

	r := f.call(t, "PATCH", path, `{"priority": 42, "isActive": true, "loadBalancerUrl": "", "description": null}`)
	if r.status != http.StatusOK {
		t.Fatalf("PATCH: got %d %s", r.status, r.body)
	}
	want := orig
	want.Priority, want.IsActive, want.LoadBalancerURL = 42, true, ""
	if got := strings.TrimSpace(r.body); got != apitest.JSON(t, want) {
		t.Errorf("PATCH:\ngot  %s\nwant %s", got, apitest.JSON(t, want))
	}

	// An empty patch changes nothing; the token stays until replaced or cleared.
	if r := f.call(t, "PATCH", path, `{}`); r.status != http.StatusOK || !strings.Contains(r.body, `"hasApiToken":true`) {
		t.Errorf("empty PATCH: got %d %s", r.status, r.body)
	}
	if r := f.call(t, "PATCH", path, `{"apiToken": ""}`); r.status != http.StatusOK || !strings.Contains(r.body, `"hasApiToken":false`) {
		t.Errorf("PATCH clearing the token: got %d %s, want hasApiToken false", r.status, r.body)
	}
	// merge-patch content type is JSON, too.
	r = f.call(t, "PATCH", path, `{"name":"renamed"}`, withHeader("Content-Type", "application/merge-patch+json"))
	if r.status != http.StatusOK || decode[map[string]any](t, r)["name"] != "renamed" {
		t.Errorf("PATCH as merge-patch+json: got %d %s", r.status, r.body)
	}
}

func testDelete(t *testing.T, f *fixture) {
	i := f.create(t, `{"name":"a","url":"https://a.example.com"}`)
	path := fmt.Sprintf("/api/v1/instances/%d", i.ID)
	r := f.call(t, "DELETE", path, "")
	if r.status != http.StatusNoContent || r.body != "" {
		t.Errorf("DELETE: got %d %q, want 204 and no body", r.status, r.body)
	}
	wantError(t, f.call(t, "GET", path, ""), 404, "not_found", "", "not found")
	wantError(t, f.call(t, "DELETE", path, ""), 404, "not_found", "", "not found")
	if r := f.call(t, "GET", "/api/v1/instances", ""); strings.TrimSpace(r.body) != "[]" {
		t.Errorf("list after DELETE: got %s, want []", r.body)
	}
}

func testNotFound(t *testing.T, f *fixture) {
	for _, tt := range []struct{ method, path, body string }{
		{"GET", "/api/v1/instances/999", ""},
		{"PATCH", "/api/v1/instances/999", `{"priority":1}`},
		{"DELETE", "/api/v1/instances/999", ""},
		{"GET", "/api/v1/instances/999/stats", ""},
	} {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			wantError(t, f.call(t, tt.method, tt.path, tt.body), 404, "not_found", "", "instance 999")
		})
	}
}

func testValidation(t *testing.T, f *fixture) {
	i := f.create(t, `{"name":"a","url":"https://a.example.com"}`)
	path := fmt.Sprintf("/api/v1/instances/%d", i.ID)
	for _, tt := range []struct {
		method, path, body, field, mention string
	}{
		{"POST", "/api/v1/instances", `{"url":"https://b.example.com"}`, "name", "required"},
		{"POST", "/api/v1/instances", `{"name":"b"}`, "url", "required"},
		{"POST", "/api/v1/instances", `{"name":"b c","url":"https://b.example.com"}`, "name", "letters, digits"},
		{"POST", "/api/v1/instances", `{"name":"b","url":"b.example.com"}`, "url", "absolute http or https URL"},
		{"POST", "/api/v1/instances", `{"name":"b","url":"https://u:p@b.example.com"}`, "url", "username and apiToken"},
		{"POST", "/api/v1/instances", `{"name":"b","url":"https://b.example.com","priority":101}`, "priority", "between 0 and 100"},
		{"POST", "/api/v1/instances", `{"name":"b","url":"https://b.example.com","maxConnections":0}`, "maxConnections", "between 1"},
		{"POST", "/api/v1/instances", `{"name":"b","url":"https://b.example.com","healthCheckUrl":"api/json"}`, "healthCheckUrl", "path starting with /"},
		{"POST", "/api/v1/instances", `{"name":"b","url":"https://b.example.com","apiToken":"has space"}`, "apiToken", "without spaces"},
		{"PATCH", path, `{"url":"ftp://a.example.com"}`, "url", "absolute http or https URL"},
		{"PATCH", path, `{"clusterId":""}`, "clusterId", "required"},
		{"PATCH", path, `{"priority":-1}`, "priority", "between 0 and 100"},
	} {
		t.Run(tt.method+" "+tt.body, func(t *testing.T) {
			wantError(t, f.call(t, tt.method, tt.path, tt.body), 400, "invalid_field", tt.field, tt.field+": ", tt.mention)
		})
	}
	if got, _ := f.Store.Get(f.ctx, i.ID); apitest.JSON(t, got) != apitest.JSON(t, i) {
		t.Errorf("after rejected patches:\ngot  %s\nwant %s", apitest.JSON(t, got), apitest.JSON(t, i))
	}
}

func testConflicts(t *testing.T, f *fixture) {
	p := f.create(t, `{"name":"prod-1","url":"https://p1.example.com","clusterId":"prod","isPrimary":true}`)
	wantError(t, f.call(t, "POST", "/api/v1/instances", `{"name":"prod-1","url":"https://x.example.com"}`),
		409, "conflict", "name", `"prod-1" is already the name of instance`)
	wantError(t, f.call(t, "POST", "/api/v1/instances", `{"name":"prod-2","url":"https://p2.example.com","clusterId":"prod","isPrimary":true}`),
		409, "conflict", "isPrimary", `already has primary instance "prod-1"`, "unset its isPrimary first")
	b := f.create(t, `{"name":"prod-2","url":"https://p2.example.com","clusterId":"prod"}`)
	wantError(t, f.call(t, "PATCH", fmt.Sprintf("/api/v1/instances/%d", b.ID), `{"name":"prod-1"}`),
		409, "conflict", "name", fmt.Sprintf("instance %d", p.ID))
	wantError(t, f.call(t, "PATCH", fmt.Sprintf("/api/v1/instances/%d", b.ID), `{"isPrimary":true}`),
		409, "conflict", "isPrimary", "prod-1")
}

func TestDrainUndrain(t *testing.T) {
	t.Parallel()
	for _, eng := range dbtest.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			t.Parallel()
			f := setup(t, eng)
			inst := f.create(t, `{"name":"d1","url":"https://d1.example.com"}`)
			id := strconv.FormatInt(inst.ID, 10)
			if r := f.call(t, "POST", "/api/v1/instances/"+id+"/drain", ""); r.status != 200 || !strings.Contains(r.body, `"draining":true`) {
				t.Fatalf("drain: %d %s", r.status, r.body)
			}
			if r := f.call(t, "GET", "/api/v1/instances/"+id, ""); !strings.Contains(r.body, `"draining":true`) {
				t.Errorf("drain not kept: %s", r.body)
			}
			if r := f.call(t, "POST", "/api/v1/instances/"+id+"/undrain", ""); r.status != 200 || !strings.Contains(r.body, `"draining":false`) {
				t.Errorf("undrain: %d %s", r.status, r.body)
			}
			if r := f.call(t, "POST", "/api/v1/instances/999/drain", ""); r.status != 404 {
				t.Errorf("drain unknown: %d %s", r.status, r.body)
			}
			if r := f.call(t, "GET", "/api/v1/instances/"+id+"/drain", ""); r.status != 405 {
				t.Errorf("GET drain: %d", r.status)
			}
		})
	}
}
