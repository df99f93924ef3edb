package main

import (
	"context"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const ms = time.Millisecond

func ok(start time.Duration, backend string) outcome {
	return outcome{start: start, latency: ms, code: 200, backend: backend}
}

func TestSummarize(t *testing.T) {
	t.Parallel()
	sec := time.Second
	arrival := 4500 * ms
	base := fault{at: 3 * sec, faulty: "b2", slow: 200 * ms, loadEnd: 10 * sec, settle: 2 * sec}
	withArrival := base
	withArrival.lastArrival = &arrival
	markedAt := func(at time.Duration) fault {
		f := base
		f.watched, f.down = true, watchResult{at: at, how: "checks", seen: true}
		return f
	}
	tests := []struct {
		name         string
		outs         []outcome
		f            fault
		failed       int
		first, last  time.Duration
		ejected      bool
		ejectedAfter time.Duration
	}{
		{
			name: "nothing touched: ejected at once",
			outs: []outcome{ok(1*sec, "b2"), ok(5*sec, "b1"), ok(9*sec, "b3")},
			f:    base, ejected: true,
		},
		{
			name: "failures stop: ejected after the last one",
			outs: []outcome{
				ok(2900*ms, "b2"),
				{start: 3010 * ms, latency: ms, code: 503},
				{start: 3900 * ms, latency: ms, err: "reset"},
				ok(5*sec, "b1"),
			},
			f: base, failed: 2, first: 10 * ms, last: 900 * ms, ejected: true, ejectedAfter: 900 * ms,
		},
		{
			name: "a slow success after the fault counts as touched",
			outs: []outcome{ok(1*sec, "b1"), {start: 4200 * ms, latency: 600 * ms, code: 200, backend: "b1"}},
			f:    base, ejected: true, ejectedAfter: 1200 * ms,
		},
		{
			name: "the hung backend saw load later than the client noticed",
			outs: []outcome{{start: 3100 * ms, latency: 5 * sec, err: "timeout"}},
			f:    withArrival, failed: 1, first: 100 * ms, last: 100 * ms, ejected: true, ejectedAfter: 1500 * ms,
		},
		{
			name: "still failing near the end: never ejected",
			outs: []outcome{{start: 3100 * ms, latency: 5 * sec, err: "timeout"}, {start: 9 * sec, latency: 5 * sec, err: "timeout"}},
			f:    base, failed: 2, first: 100 * ms, last: 6 * sec, ejected: false, ejectedAfter: 6 * sec,
		},
		{
			name: "late last hit, but the proxy had marked it out: ejected",
			outs: []outcome{{start: 9 * sec, latency: ms, code: 503}},
			f:    markedAt(9100 * ms), failed: 1, first: 6 * sec, last: 6 * sec, ejected: true, ejectedAfter: 6 * sec,
		},
		{
			name: "hit again after the proxy marked it out: not conclusive",
			outs: []outcome{{start: 9 * sec, latency: ms, code: 503}},
			f:    markedAt(4 * sec), failed: 1, first: 6 * sec, last: 6 * sec, ejected: false, ejectedAfter: 6 * sec,
		},
		{
			name: "a request in flight at the fault that failed counts",
			outs: []outcome{{start: 2990 * ms, latency: 20 * ms, err: "eof"}},
			f:    base, failed: 1, first: -10 * ms, last: -10 * ms, ejected: true, ejectedAfter: 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := summarize(tt.outs, tt.f)
			if s.failed != tt.failed || s.ejected != tt.ejected || s.ejectedAfter != tt.ejectedAfter {
				t.Fatalf("failed %d ejected %v after %v, want %d %v %v", s.failed, s.ejected, s.ejectedAfter, tt.failed, tt.ejected, tt.ejectedAfter)
			}
			if tt.failed > 0 && (s.firstFail != tt.first || s.lastFail != tt.last) {
				t.Fatalf("error window %v … %v, want %v … %v", s.firstFail, s.lastFail, tt.first, tt.last)
			}
		})
	}
}

func TestSummarizeWithoutFault(t *testing.T) {
	t.Parallel()
	var outs []outcome
	for i := range 100 {
		outs = append(outs, outcome{start: time.Duration(i) * ms, latency: time.Duration(i+1) * ms, code: 200})
	}
	outs = append(outs, outcome{start: 0, latency: time.Second, code: 502})
	s := summarize(outs, fault{at: -1})
	if s.total != 101 || s.failed != 1 || s.p50 != 50*ms || s.p99 != 99*ms {
		t.Fatalf("total %d failed %d p50 %v p99 %v, want 101 1 50ms 99ms", s.total, s.failed, s.p50, s.p99)
	}
	row := s.row("baseline", "", fault{at: -1})
	for _, want := range []string{"baseline", "none", "1 (1×502)", "50.0ms"} {
		if !strings.Contains(row, want) {
			t.Errorf("row %q lacks %q", row, want)
		}
	}
}

func TestParseFault(t *testing.T) {
	t.Parallel()
	tests := []struct {
		spec, kind string
		wantErr    bool
	}{
		{"", "", false},
		{"kill:4242", "kill", false},
		{"kill:1", "", true},
		{"kill:x", "", true},
		{"hang:http://127.0.0.1:18802", "hang", false},
		{"hang:http://localhost:18802", "hang", false},
		{"hang:http://10.0.0.5:18802", "", true}, // never off this machine
		{"hang:http://example.com", "", true},
		{"slow:1", "", true},
		{"stop:4242", "stop", false},
		{"stop:0", "", true},
	}
	if _, err := parseFault("stop:4242", 0, nil); err == nil {
		t.Error("stop without -fault-for is not an error")
	}
	for _, tt := range tests {
		inj, err := parseFault(tt.spec, 0, nil)
		if tt.kind == "stop" {
			inj, err = parseFault(tt.spec, time.Second, nil)
		}
		if (err != nil) != tt.wantErr {
			t.Errorf("parseFault(%q) error %v, want error %v", tt.spec, err, tt.wantErr)
			continue
		}
		if inj != nil && inj.kind() != tt.kind {
			t.Errorf("parseFault(%q) kind %q, want %q", tt.spec, inj.kind(), tt.kind)
		}
	}
}

func TestRowShowsWhenTheProxyMarkedItDown(t *testing.T) {
	t.Parallel()
	sec := time.Second
	f := fault{at: 3 * sec, faulty: "b2", slow: 200 * ms, loadEnd: 10 * sec, settle: 2 * sec, watched: true,
		down: watchResult{at: 4200 * ms, how: "checks", seen: true}}
	outs := []outcome{{start: 3100 * ms, latency: 5 * sec, err: "timeout"}}
	if row := summarize(outs, f).row("haproxy", "hang", f); !strings.Contains(row, "+1.20s checks") {
		t.Errorf("row %q lacks +1.20s checks", row)
	}
	f.down = watchResult{until: 10 * sec}
	if row := summarize(outs, f).row("haproxy", "hang", f); !strings.Contains(row, "no (in 7.00s)") {
		t.Errorf("row %q lacks no (in 7.00s)", row)
	}
	f.watched = false
	if row := summarize(outs, f).row("nginx", "hang", f); !strings.Contains(row, "n/a") {
		t.Errorf("row %q lacks n/a", row)
	}
}

func TestStopFaultContinuesOnce(t *testing.T) {
	t.Parallel()
	var sent []syscall.Signal
	var mu sync.Mutex
	s := &stopFault{pid: 4242, length: time.Hour, signal: func(pid int, sig syscall.Signal) error {
		mu.Lock()
		defer mu.Unlock()
		sent = append(sent, sig)
		return nil
	}}
	if err := s.resume(); err != nil {
		t.Fatal(err)
	}
	if err := s.inject(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.resume(); err != nil {
		t.Fatal(err)
	}
	if err := s.resume(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(sent) != 2 || sent[0] != syscall.SIGSTOP || sent[1] != syscall.SIGCONT {
		t.Fatalf("signals %v, want SIGSTOP then one SIGCONT", sent)
	}
}

func TestSlowestAndPerURL(t *testing.T) {
	t.Parallel()
	sec := time.Second
	outs := []outcome{
		{start: 1 * sec, latency: 2 * ms, code: 200, url: 0},
		{start: 3100 * ms, latency: 5 * sec, err: "timeout", url: 1},
		{start: 3200 * ms, latency: 700 * ms, code: 200, url: 0},
		{start: 4 * sec, latency: 3 * ms, code: 200, url: 1},
	}
	f := fault{at: 3 * sec, slow: 200 * ms, loadEnd: 10 * sec, settle: 2 * sec}
	s := summarize(outs, f)
	if s.slowest != 5*sec || s.slowestAt != 100*ms {
		t.Fatalf("slowest %v at %v, want 5s at +100ms: a failed request counts", s.slowest, s.slowestAt)
	}
	if row := s.row("jenkinds", "stop", f); !strings.Contains(row, "5.00s") {
		t.Errorf("row %q lacks the slowest request", row)
	}
	if got := s.aims(700 * ms); !strings.Contains(got, "0 failed: MISSED (1)") || !strings.Contains(got, "slowest ≤ 700.0ms: MISSED (5.00s at +0.100s)") {
		t.Errorf("aims %q", got)
	}
	if got := summarize(outs[:1], f).aims(700 * ms); !strings.Contains(got, "0 failed: met (0)") || !strings.Contains(got, "700.0ms: met") {
		t.Errorf("aims of a clean run %q", got)
	}
	lines := perURL(outs, []string{"http://127.0.0.1:1/api/json?tree=jobs[name,color]", "http://127.0.0.1:1/queue/api/json"})
	for _, want := range []string{"/api/json?tree=jobs[name,color]", "2 req  failed 0 ", "slowest 700.0ms", "failed 1 (1×timeout)", "slowest 5.00s"} {
		if !strings.Contains(lines, want) {
			t.Errorf("per-URL lines %q lack %q", lines, want)
		}
	}
}
