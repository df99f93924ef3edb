package main

import (
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"
)

// outcome is what happened to one request. Times are measured from the
// start of the load; a request's latency runs from its scheduled start, so
// a scheduler that fell behind shows up as latency (no coordinated
// omission).
type outcome struct {
	start   time.Duration // scheduled start
	latency time.Duration // until the answer was read, or the error
	code    int           // HTTP status; 0 when there was no answer
	err     string        // "timeout", "refused", "reset", "eof" or "error"; "" when answered
	backend string        // X-Backend of the answer; "" when none
	url     int           // index of the URL asked, in -url order
}

func (o outcome) failed() bool { return o.err != "" || o.code < 200 || o.code > 299 }

// fault describes the fault injected during the load, for summarize.
type fault struct {
	at     time.Duration // when it was injected; negative when none was
	faulty string        // X-Backend name of the faulty backend
	// slow is the latency from which a successful request counts as
	// touched by the fault (a proxy retried it elsewhere after a wait).
	slow time.Duration
	// lastArrival is when the last load request reached the faulty
	// backend, as the backend itself saw it (hang only); nil when unknown
	// or none arrived.
	lastArrival *time.Duration
	// loadEnd is the scheduled start of the last request. settle is how
	// long before it the fault must have stopped touching requests for
	// traffic to count as gone from the backend, unless the proxy said it
	// took the backend out: the request timeout, because a least-conn
	// proxy avoids a hung backend only until the requests it holds time
	// out, then tries it again.
	loadEnd, settle time.Duration
	// watched says the proxy was asked when it took the backend out; down
	// is what it answered.
	watched bool
	down    watchResult
}

// summary is the printed result of one load run.
type summary struct {
	total, failed int
	failures      map[string]int // "503", "timeout", ... → count
	p50, p99      time.Duration  // of successful requests
	// slowest is the longest latency of any request, failed ones included
	// (a request that timed out took the timeout); slowestAt is when it
	// was scheduled, relative to the fault (or to the start of the load).
	slowest, slowestAt time.Duration
	// firstFail and lastFail are the scheduled starts of the first and last
	// failed requests, relative to the fault (or to the start of the load
	// when there was none). Meaningful only when failed > 0.
	firstFail, lastFail time.Duration
	// touched is how many requests the fault touched: in flight at the
	// fault or later, and failed, slow or served by the faulty backend.
	touched int
	// ejectedAfter is when, relative to the fault, the last request the
	// fault touched started (or, for a hang, reached the faulty backend,
	// whichever is later): after it, traffic no longer reached the faulty
	// backend. ejected says that is conclusive: nothing was touched, or
	// the proxy had marked the backend out by then, or the load went on
	// for settle after it.
	ejectedAfter time.Duration
	ejected      bool
	// markedDown is when, relative to the fault, the proxy itself took the
	// backend out, and how; valid when marked. Otherwise watchedFor is how
	// long after the fault the proxy was asked.
	markedDown time.Duration
	markedHow  string
	marked     bool
	watchedFor time.Duration
}

// summarize reduces the outcomes of one run. It is a pure function of its
// inputs.
func summarize(outs []outcome, f fault) summary {
	s := summary{total: len(outs), failures: map[string]int{}}
	var ok []time.Duration
	origin := max(f.at, 0)
	lastTouched := time.Duration(-1)
	for _, o := range outs {
		if o.latency > s.slowest {
			s.slowest, s.slowestAt = o.latency, o.start-origin
		}
		if o.failed() {
			rel := o.start - origin
			if s.failed == 0 || rel < s.firstFail {
				s.firstFail = rel
			}
			if s.failed == 0 || rel > s.lastFail {
				s.lastFail = rel
			}
			s.failed++
			key := o.err
			if key == "" {
				key = fmt.Sprint(o.code)
			}
			s.failures[key]++
		} else {
			ok = append(ok, o.latency)
		}
		if f.at >= 0 && o.start+o.latency >= f.at &&
			(o.failed() || o.latency >= f.slow || (f.faulty != "" && o.backend == f.faulty)) {
			s.touched++
			lastTouched = max(lastTouched, o.start-f.at)
		}
	}
	slices.Sort(ok)
	s.p50, s.p99 = percentile(ok, 0.50), percentile(ok, 0.99)
	if f.at < 0 {
		return s
	}
	if f.lastArrival != nil {
		lastTouched = max(lastTouched, *f.lastArrival-f.at)
	}
	if f.watched && f.down.seen {
		s.marked, s.markedDown, s.markedHow = true, f.down.at-f.at, f.down.how
	}
	s.watchedFor = f.down.until - f.at
	s.ejectedAfter = max(lastTouched, 0)
	s.ejected = lastTouched < 0 ||
		(s.marked && s.ejectedAfter <= s.markedDown) ||
		f.at+s.ejectedAfter <= f.loadEnd-f.settle
	return s
}

// percentile returns the q-quantile (0 < q ≤ 1) of sorted, nearest rank;
// 0 for none.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// columns of the printed table; header and row must agree.
const rowFormat = "%-10s %-5s %8s  %-18s %8s %8s %8s  %-22s %-16s %s\n"

func header() string {
	return fmt.Sprintf(rowFormat, "proxy", "fault", "requests", "failed", "p50", "p99", "slowest", "traffic left faulty", "proxy marked it", "error window (from fault)")
}

// breakdown counts the failures by kind: "2×503 1×timeout".
func (s summary) breakdown() string {
	keys := make([]string, 0, len(s.failures))
	for k := range s.failures {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%d×%s", s.failures[k], k)
	}
	return strings.Join(parts, " ")
}

// row formats s as one line of the table; f is the fault summarize was
// given.
func (s summary) row(label, faultKind string, f fault) string {
	failed := fmt.Sprint(s.failed)
	if s.failed > 0 {
		failed += " (" + s.breakdown() + ")"
	}
	left, marked, window := "-", "-", "-"
	if f.at >= 0 {
		switch {
		case !s.ejected:
			left = fmt.Sprintf("no (hit at +%s)", seconds(s.ejectedAfter))
		case s.touched == 0 && f.lastArrival == nil:
			left = "+0.00s (none seen)"
		default:
			left = "+" + seconds(s.ejectedAfter)
		}
		switch {
		case !f.watched:
			marked = "n/a"
		case s.marked:
			marked = fmt.Sprintf("+%s %s", seconds(s.markedDown), s.markedHow)
		default:
			marked = fmt.Sprintf("no (in %s)", seconds(s.watchedFor))
		}
	}
	if s.failed > 0 {
		window = fmt.Sprintf("%s … %s (%s)", signed(s.firstFail), signed(s.lastFail), seconds(s.lastFail-s.firstFail))
	}
	if faultKind == "" {
		faultKind = "none"
	}
	return fmt.Sprintf(rowFormat, label, faultKind, fmt.Sprint(s.total), failed, millis(s.p50), millis(s.p99), millis(s.slowest), left, marked, window)
}

// aims says whether the run met the fault scenario's aims: no failed
// request, and none slower than slowest.
func (s summary) aims(slowest time.Duration) string {
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "MISSED"
	}
	return fmt.Sprintf("    aims: 0 failed: %s (%d); slowest ≤ %s: %s (%s at %s)\n",
		verdict(s.failed == 0), s.failed, millis(slowest), verdict(s.slowest <= slowest), millis(s.slowest), signed(s.slowestAt))
}

// perURL is one line per URL: its requests, failures, p50/p99 and slowest
// request, for a load that took several URLs in turn.
func perURL(outs []outcome, urls []string) string {
	by := make([][]outcome, len(urls))
	for _, o := range outs {
		by[o.url] = append(by[o.url], o)
	}
	var b strings.Builder
	for i, u := range urls {
		s := summarize(by[i], fault{at: -1})
		failed := fmt.Sprint(s.failed)
		if s.failed > 0 {
			failed += " (" + s.breakdown() + ")"
		}
		fmt.Fprintf(&b, "    %-58s %6d req  failed %-16s p50 %-8s p99 %-8s slowest %s\n",
			pathOf(u), s.total, failed, millis(s.p50), millis(s.p99), millis(s.slowest))
	}
	return b.String()
}

// pathOf is the path and query of u, or u itself when it does not parse.
func pathOf(u string) string {
	if p, err := url.Parse(u); err == nil {
		return p.RequestURI()
	}
	return u
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.2fs", d.Seconds()) }

func signed(d time.Duration) string { return fmt.Sprintf("%+.3fs", d.Seconds()) }

func millis(d time.Duration) string {
	switch {
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}
