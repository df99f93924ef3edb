package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
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

func TestPromCounter(t *testing.T) {
	t.Parallel()
	text := []byte(`# HELP jenkinds_proxy_ejections_total Controllers taken out of the pool by passive health.
# TYPE jenkinds_proxy_ejections_total counter
jenkinds_proxy_ejections_total{cluster="default",instance="b2"} 2
jenkinds_proxy_ejections_total{cluster="default",instance="b12"} 5
jenkinds_proxy_ejections_total_other{instance="b2"} 7
`)
	if got := promCounter(text, "jenkinds_proxy_ejections_total", "instance", "b2"); got != 2 {
		t.Errorf("promCounter = %v, want 2", got)
	}
	if got := promCounter(text, "jenkinds_proxy_ejections_total", "instance", "b3"); got != 0 {
		t.Errorf("promCounter of an absent series = %v, want 0", got)
	}
}

// fakeJenkinds is a fake admin API: b2's health and its passive ejections
// are set by the test.
func fakeJenkinds(t *testing.T, health *atomic.Value, ejections *atomic.Int64) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "jenkinds_proxy_ejections_total{cluster=\"default\",instance=\"b2\"} %d\n", ejections.Load())
	})
	mux.HandleFunc("GET /api/v1/instances", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		fmt.Fprintf(w, `[{"name":"b1","healthStatus":"healthy"},{"name":"b2","healthStatus":%q}]`, health.Load())
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestJenkindsWatch(t *testing.T) {
	t.Parallel()
	var health atomic.Value
	var ejections atomic.Int64
	health.Store("healthy")
	admin := fakeJenkinds(t, &health, &ejections)
	w, err := parseWatch("jenkinds:"+admin, "b2", http.DefaultClient, func(string) string { return "tok" })
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	steps := []struct {
		health    string
		ejections int64
		out       bool
		how       string
	}{
		{"healthy", 0, false, ""},
		{"degraded", 0, false, ""},
		{"unhealthy", 0, true, "checks"},
		{"healthy", 1, true, "passive"},
	}
	for _, s := range steps {
		health.Store(s.health)
		ejections.Store(s.ejections)
		out, how, err := w.down(ctx)
		if err != nil || out != s.out || how != s.how {
			t.Errorf("%s with %d ejections: %v %q %v, want %v %q", s.health, s.ejections, out, how, err, s.out, s.how)
		}
	}
}

func TestWatchStopsAtFirstDown(t *testing.T) {
	t.Parallel()
	var health atomic.Value
	var ejections atomic.Int64
	health.Store("healthy")
	admin := fakeJenkinds(t, &health, &ejections)
	w, err := parseWatch("jenkinds:"+admin, "b2", http.DefaultClient, func(string) string { return "tok" })
	if err != nil {
		t.Fatal(err)
	}
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
