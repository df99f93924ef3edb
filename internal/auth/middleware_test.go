package auth_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jenkinds/jenkinds/internal/auth"
)

const adminToken = "jk_TEST-admin-token-0123456789"

func TestMiddleware(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		header   []string // Authorization values; none when empty
		pass     bool
		mentions string
	}{
		{"valid", []string{"Bearer " + adminToken}, true, ""},
		{"scheme in lower case", []string{"bearer " + adminToken}, true, ""},
		{"extra spaces", []string{"Bearer   " + adminToken + " "}, true, ""},
		{"missing", nil, false, "missing Authorization header"},
		{"empty", []string{""}, false, "missing Authorization header"},
		{"basic", []string{"Basic YWRtaW46YWRtaW4="}, false, "must be 'Bearer <admin token>'"},
		{"bearer without token", []string{"Bearer"}, false, "must be 'Bearer <admin token>'"},
		{"bearer and space", []string{"Bearer "}, false, "must be 'Bearer <admin token>'"},
		{"wrong token", []string{"Bearer jk_wrong"}, false, "not valid"},
		{"token with a suffix", []string{"Bearer " + adminToken + "x"}, false, "not valid"},
		{"token prefix", []string{"Bearer " + adminToken[:len(adminToken)-1]}, false, "not valid"},
		{"token without scheme", []string{adminToken}, false, "must be 'Bearer <admin token>'"},
		{"second header ignored", []string{"Bearer jk_wrong", "Bearer " + adminToken}, false, "not valid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			called := false
			h := auth.Middleware(adminToken, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				called = true
				w.WriteHeader(http.StatusTeapot)
			}))
			r := httptest.NewRequest(http.MethodGet, "/api/v1/instances", nil)
			for _, v := range tt.header {
				r.Header.Add("Authorization", v)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)

			if called != tt.pass {
				t.Errorf("next called: got %v, want %v", called, tt.pass)
			}
			if tt.pass {
				if w.Code != http.StatusTeapot {
					t.Errorf("status: got %d, want next's %d", w.Code, http.StatusTeapot)
				}
				return
			}
			if w.Code != http.StatusUnauthorized {
				t.Errorf("status: got %d, want 401", w.Code)
			}
			if got, want := w.Header().Get("WWW-Authenticate"), `Bearer realm="jenkinds"`; got != want {
				t.Errorf("WWW-Authenticate: got %q, want %q", got, want)
			}
			if got := w.Header().Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type: got %q, want application/json", got)
			}
			var body struct {
				Error struct{ Code, Message string }
			}
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %q: %v", w.Body, err)
			}
			if body.Error.Code != "unauthorized" {
				t.Errorf("code: got %q, want unauthorized", body.Error.Code)
			}
			for _, want := range []string{tt.mentions, auth.EnvAdminToken, auth.TokenFileName} {
				if !strings.Contains(body.Error.Message, want) {
					t.Errorf("message %q: want it to mention %q", body.Error.Message, want)
				}
			}
			if strings.Contains(tt.mentions, "<") && !strings.Contains(w.Body.String(), tt.mentions) {
				t.Errorf("body %q: want %q unescaped, readable with curl", w.Body, tt.mentions)
			}
			if strings.Contains(w.Body.String(), adminToken[3:]) {
				t.Errorf("body %q: contains the admin token", w.Body)
			}
		})
	}
}
