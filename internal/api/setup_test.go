package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/jenkinds/jenkinds/internal/api"
	"github.com/jenkinds/jenkinds/internal/api/apitest"
	"github.com/jenkinds/jenkinds/internal/controller"
	"github.com/jenkinds/jenkinds/internal/db/dbtest"
)

const adminToken = apitest.Token

// fixture is one API server over a fresh database; set the fakes before
// the first request.
type fixture struct {
	*apitest.Server
	ctx context.Context
}

// setup starts the API on engine e; configure adjusts the config first.
func setup(t *testing.T, e dbtest.Engine, configure ...func(*api.Config)) *fixture {
	t.Helper()
	return &fixture{Server: apitest.Start(t, e, configure...), ctx: context.Background()}
}

// sqlite returns the SQLite engine, for tests whose subject is not storage.
func sqlite(t *testing.T) dbtest.Engine { return dbtest.Engines(t)[0] }

// response is an answer, read whole.
type response struct {
	status int
	header http.Header
	body   string
}

// option changes a request before it is sent.
type option func(*http.Request)

// withoutToken sends no Authorization header.
func withoutToken(r *http.Request) { r.Header.Del("Authorization") }

// withHeader sets a header.
func withHeader(k, v string) option { return func(r *http.Request) { r.Header.Set(k, v) } }

// call sends method path with body (JSON, none when "") and the admin
// token, unless opts say otherwise.
func (f *fixture) call(t *testing.T, method, path, body string, opts ...option) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(f.ctx, method, f.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, o := range opts {
		o(req)
	}
	res, err := f.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return response{res.StatusCode, res.Header, string(b)}
}

// create registers an instance through the API and returns it.
func (f *fixture) create(t *testing.T, body string) controller.Instance {
	t.Helper()
	r := f.call(t, "POST", "/api/v1/instances", body)
	if r.status != http.StatusCreated {
		t.Fatalf("create %s: got %d %s, want 201", body, r.status, r.body)
	}
	return decode[controller.Instance](t, r)
}

// decode parses r's body as a T.
func decode[T any](t *testing.T, r response) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(r.body), &v); err != nil {
		t.Fatalf("decode %T from %q: %v", v, r.body, err)
	}
	return v
}

// apiError is the JSON of an error answer.
type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field"`
	} `json:"error"`
}

// wantError checks that r is an error answer with status, code and field
// whose message contains each of mentions.
func wantError(t *testing.T, r response, status int, code, field string, mentions ...string) {
	t.Helper()
	if r.status != status {
		t.Errorf("status: got %d, want %d (body %s)", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type: got %q, want application/json", ct)
	}
	e := decode[apiError](t, r)
	if e.Error.Code != code || e.Error.Field != field {
		t.Errorf("error: got code %q field %q, want code %q field %q (message %q)", e.Error.Code, e.Error.Field, code, field, e.Error.Message)
	}
	for _, m := range mentions {
		if !strings.Contains(e.Error.Message, m) {
			t.Errorf("message %q: want it to mention %q", e.Error.Message, m)
		}
	}
}

// instanceJSON renders an instance as the API does.
func instanceJSON(t *testing.T, i controller.Instance) string {
	t.Helper()
	b, err := json.Marshal(i)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func ptr[T any](v T) *T { return &v }
