package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestHAProxyStatus(t *testing.T) {
	t.Parallel()
	csvText := []byte("# pxname,svname,qcur,status,weight\n" +
		"fe,FRONTEND,,OPEN,\n" +
		"jenkins,b1,0,UP,1\n" +
		"jenkins,b2,0,DOWN 1/2,1\n" +
		"jenkins,BACKEND,0,UP,2\n")
	tests := []struct{ sv, want string }{{"b1", "UP"}, {"b2", "DOWN 1/2"}}
	for _, tt := range tests {
		got, err := haproxyStatus(csvText, tt.sv)
		if err != nil || got != tt.want {
			t.Errorf("haproxyStatus(%s) = %q, %v; want %q", tt.sv, got, err, tt.want)
		}
	}
	if _, err := haproxyStatus(csvText, "b9"); err == nil {
		t.Error("a missing server is not an error")
	}
}

// fakeJenkinds is a fake admin API: b2's health and the source of its
// newest transition are set by the test.
func fakeJenkinds(t *testing.T, health, source *atomic.Value) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/instances", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		fmt.Fprintf(w, `[{"id":1,"name":"b1","healthStatus":"healthy"},{"id":2,"name":"b2","healthStatus":%q}]`, health.Load())
	})
	mux.HandleFunc("GET /api/v1/instances/2/events", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"events":[
 {"id":3,"at":"2026-01-01T10:00:05Z","kind":"transition","from":"healthy","to":"unhealthy","source":%q,"reason":"r"},
 {"id":2,"at":"2026-01-01T10:00:02Z","kind":"freeze","cluster":"default","reason":"mass failure"},
 {"id":1,"at":"2026-01-01T09:59:00Z","kind":"transition","from":"unknown","to":"healthy","source":"probe","reason":"ok"}],"frozen":[]}`,
			source.Load())
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// watchFake is a jenkinds watcher of b2 on a fakeJenkinds whose answers
// the test sets through health and source.
func watchFake(t *testing.T, health0, source0 string) (watcher, *atomic.Value, *atomic.Value) {
	t.Helper()
	var health, source atomic.Value
	health.Store(health0)
	source.Store(source0)
	admin := fakeJenkinds(t, &health, &source)
	w, err := parseWatch("jenkinds:"+admin, "b2", http.DefaultClient, func(string) string { return "tok" })
	if err != nil {
		t.Fatal(err)
	}
	return w, &health, &source
}

func TestJenkindsWatch(t *testing.T) {
	t.Parallel()
	w, health, source := watchFake(t, "healthy", "probe")
	ctx := context.Background()
	steps := []struct {
		health, source string
		out            bool
		how            string
	}{
		{"healthy", "probe", false, ""},
		{"degraded", "probe", false, ""},
		{"unhealthy", "probe", true, "checks"},
		{"unhealthy", "passive", true, "passive"},
	}
	for _, s := range steps {
		health.Store(s.health)
		source.Store(s.source)
		out, how, err := w.down(ctx)
		if err != nil || out != s.out || how != s.how {
			t.Errorf("%s after %s evidence: %v %q %v, want %v %q", s.health, s.source, out, how, err, s.out, s.how)
		}
	}
}

func TestJenkindsEvents(t *testing.T) {
	t.Parallel()
	w, _, _ := watchFake(t, "unhealthy", "passive")
	start := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	evs, err := w.(jenkindsWatch).events(context.Background(), start)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[0].Kind != "freeze" || evs[1].To != "unhealthy" {
		t.Fatalf("events since the start = %+v, want the freeze then the transition, oldest first", evs)
	}
	text := eventLines("b2", evs, start.Add(3*time.Second))
	for _, want := range []string{"-1.000s  freeze of cluster default: mass failure", "+2.000s  healthy → unhealthy (passive): r"} {
		if !strings.Contains(text, want) {
			t.Errorf("event lines %q lack %q", text, want)
		}
	}
	if text := eventLines("b2", nil, start); !strings.Contains(text, "none during the load") {
		t.Errorf("no events: %q", text)
	}
}

func TestWatchStopsAtFirstDown(t *testing.T) {
	t.Parallel()
	w, health, _ := watchFake(t, "healthy", "probe")
	stop := make(chan struct{})
	done := make(chan watchResult, 1)
	go func() { done <- watch(context.Background(), w, time.Now(), time.Millisecond, stop) }()
	health.Store("unhealthy")
	res := <-done
	if !res.seen || res.how != "checks" {
		t.Fatalf("watch = %+v, want seen by checks", res)
	}
}

func TestParseWatch(t *testing.T) {
	t.Parallel()
	env := func(string) string { return "tok" }
	noEnv := func(string) string { return "" }
	tests := []struct {
		spec, faulty string
		getenv       func(string) string
		wantErr      bool
	}{
		{"", "", env, false},
		{"haproxy:http://127.0.0.1:8404/stats;csv", "b2", env, false},
		{"jenkinds:http://127.0.0.1:7070", "b2", env, false},
		{"jenkinds:http://127.0.0.1:7070", "b2", noEnv, true},
		{"haproxy:http://127.0.0.1:8404/stats;csv", "", env, true},
		{"haproxy:http://192.168.1.1/stats;csv", "b2", env, true}, // never off this machine
		{"nginx:http://127.0.0.1:1", "b2", env, true},
	}
	for _, tt := range tests {
		_, err := parseWatch(tt.spec, tt.faulty, nil, tt.getenv)
		if (err != nil) != tt.wantErr {
			t.Errorf("parseWatch(%q, %q) error %v, want error %v", tt.spec, tt.faulty, err, tt.wantErr)
		}
	}
}
