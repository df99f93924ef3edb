// Command loadgen is an open-loop load generator for the failure scenarios
// of bench/proxy/run.sh and bench/fleet/run.sh. It sends requests at a
// fixed rate whatever the answers do (a slow proxy does not slow the load
// down), each under a timeout, optionally injects a fault into one backend
// mid-run, and prints one table row: requests, failures, p50/p99 of the
// successful ones, the slowest request, when the faulty backend stopped
// getting traffic, when the proxy itself took it out (-watch) and the error
// window. With -url given more than once, the requests take the URLs in
// turn, and a line per URL follows the row; with -events, the health
// events jenkinds recorded for the faulty controller follow it too.
//
// Every request carries X-Bench-Load: 1 so a hung backend can tell load
// traffic from health checks, and with -u the Basic auth of an API client
// (jenkinds treats requests without Authorization as a browser's). The run is bounded: rate × duration requests,
// and it returns at most timeout after the last one was sent.
//
//	loadgen -url http://127.0.0.1:8080/api/json -rate 500 -duration 10s \
//	        -fault-at 3s -fault kill:12345 -faulty b2 -label nginx
//	loadgen … -fault hang:http://127.0.0.1:18802 -faulty b2 \
//	        -watch 'haproxy:http://127.0.0.1:8404/stats;csv' -label haproxy
//	loadgen -url http://127.0.0.1:8080/api/json -url http://127.0.0.1:8080/queue/api/json \
//	        -fault stop:12345 -fault-for 10s -faulty c2 -watch jenkinds:http://127.0.0.1:7070 -events
//	loadgen -header     # the table's header line
package main

import (
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"
)

// maxRequests caps rate × duration.
const maxRequests = 1_000_000

type config struct {
	urls              urlList
	userToken         string
	rate              int
	duration, timeout time.Duration
	faultAt           time.Duration
	fault             string
	faultFor          time.Duration
	faulty            string
	watch             string
	events            bool
	aimSlowest        time.Duration
	slow              time.Duration
	verbose           bool
	label             string
	printHeader       bool
}

// urlList is -url, which may be given more than once.
type urlList []string

func (l *urlList) String() string { return strings.Join(*l, " ") }

func (l *urlList) Set(s string) error {
	*l = append(*l, s)
	return nil
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	var c config
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.Var(&c.urls, "url", "URL to GET; its host must be a loopback address (required; more than once: the requests take them in turn)")
	fs.StringVar(&c.userToken, "u", "", "user:token sent as HTTP Basic auth, as Jenkins API clients do (any value: the backends check nothing)")
	fs.IntVar(&c.rate, "rate", 500, "requests per second, sent whatever the answers do")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "how long to send requests")
	fs.DurationVar(&c.timeout, "timeout", 5*time.Second, "timeout of each request")
	fs.DurationVar(&c.faultAt, "fault-at", 3*time.Second, "when to inject the fault, from the start of the load")
	fs.StringVar(&c.fault, "fault", "", "fault to inject: kill:PID (SIGKILL), stop:PID (SIGSTOP, then SIGCONT after -fault-for) or hang:http://127.0.0.1:PORT (a bench/proxy backend); empty for none")
	fs.DurationVar(&c.faultFor, "fault-for", 0, "stop: how long the process stays stopped")
	fs.StringVar(&c.faulty, "faulty", "", "X-Backend name of the backend the fault hits (for -watch jenkinds: its controller name)")
	fs.BoolVar(&c.events, "events", false, "with -watch jenkinds: print the health events of the faulty controller from the start of the load on")
	fs.StringVar(&c.watch, "watch", "", "ask the proxy when it took the faulty backend out: haproxy:STATS-CSV-URL or jenkinds:ADMIN-URL (token from JENKINDS_ADMIN_TOKEN)")
	fs.DurationVar(&c.aimSlowest, "aim-slowest", 0, "print a line that says whether the run met the aims: no failed request, none slower than this (0: no such line)")
	fs.BoolVar(&c.verbose, "v", false, "list failed and slow requests on stderr")
	fs.DurationVar(&c.slow, "slow", 200*time.Millisecond, "a successful request this slow, during the fault, counts as touched by it")
	fs.StringVar(&c.label, "label", "", "first column of the printed row (the proxy's name)")
	fs.BoolVar(&c.printHeader, "header", false, "print the table's header line and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if c.printHeader {
		fmt.Print(header())
		return nil
	}
	switch {
	case len(c.urls) == 0:
		return errors.New("-url is required")
	case c.rate <= 0 || c.duration <= 0 || c.timeout <= 0:
		return errors.New("-rate, -duration and -timeout must be positive")
	case int64(c.rate)*int64(c.duration/time.Millisecond)/1000 > maxRequests:
		return fmt.Errorf("-rate × -duration: at most %d requests", maxRequests)
	}
	for _, raw := range c.urls {
		target, err := url.Parse(raw)
		if err != nil || (target.Scheme != "http" && target.Scheme != "https") {
			return fmt.Errorf("-url %q: want an absolute http(s) URL", raw)
		}
		if err := checkLoopback(target); err != nil {
			return fmt.Errorf("-url: %w", err)
		}
	}

	client := newClient(c.rate, c.timeout)
	inj, err := parseFault(c.fault, c.faultFor, client)
	if err != nil {
		return err
	}
	if r, ok := inj.(resumer); ok {
		defer func() {
			if err := r.resume(); err != nil {
				fmt.Fprintln(os.Stderr, "loadgen:", err)
			}
		}()
	}
	w, err := parseWatch(c.watch, c.faulty, client, os.Getenv)
	if err != nil {
		return err
	}
	if w != nil && inj == nil {
		return errors.New("-watch needs -fault")
	}
	jw, isJenkinds := w.(jenkindsWatch)
	if c.events && !isJenkinds {
		return errors.New("-events needs -watch jenkinds:URL")
	}
	// A hard stop for everything, whatever happens.
	ctx, cancel := context.WithTimeout(context.Background(), c.duration+c.timeout+10*time.Second)
	defer cancel()

	res, err := load(ctx, client, c, inj, w)
	if err != nil {
		return err
	}
	f := fault{at: -1, faulty: c.faulty, slow: c.slow, loadEnd: res.loadEnd, settle: c.timeout}
	kind := ""
	if inj != nil {
		kind = inj.kind()
		f.at = res.faultAt
		if t, err := inj.lastArrival(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "loadgen: ask the faulty backend what it saw:", err)
		} else if t != nil {
			d := t.Sub(res.start)
			f.lastArrival = &d
		}
	}
	if w != nil {
		f.watched, f.down = true, res.down
		if !res.down.seen && res.down.lastErr != nil {
			fmt.Fprintln(os.Stderr, "loadgen: watch the proxy:", res.down.lastErr)
		}
	}
	if c.verbose {
		listTouched(os.Stderr, c.label+" "+kind, res.outcomes, c.urls, f)
	}
	sum := summarize(res.outcomes, f)
	fmt.Print(sum.row(c.label, kind, f))
	if c.aimSlowest > 0 {
		fmt.Print(sum.aims(c.aimSlowest))
	}
	if len(c.urls) > 1 {
		fmt.Print(perURL(res.outcomes, c.urls))
	}
	if c.events {
		evs, err := jw.events(ctx, res.start)
		if err != nil {
			return fmt.Errorf("read the health events of %s: %w", c.faulty, err)
		}
		fmt.Print(eventLines(c.faulty, evs, res.start.Add(res.faultAt)))
	}
	return nil
}

// listTouched writes the failed and slow requests, at most 20.
func listTouched(w io.Writer, label string, outs []outcome, urls []string, f fault) {
	origin := max(f.at, 0)
	n := 0
	for _, o := range outs {
		if !o.failed() && o.latency < f.slow {
			continue
		}
		if n++; n > 20 {
			fmt.Fprintf(w, "  %s: … more\n", label)
			return
		}
		what := o.err
		if what == "" {
			what = fmt.Sprintf("HTTP %d from %q", o.code, o.backend)
		}
		target := ""
		if len(urls) > 1 {
			target = " " + urls[o.url]
		}
		fmt.Fprintf(w, "  %s: request%s at %+.3fs took %s: %s\n", label, target, (o.start - origin).Seconds(), millis(o.latency), what)
	}
}

// newClient returns a client that never uses an HTTP proxy from the
// environment and keeps enough idle connections for the rate.
func newClient(rate int, timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: timeout}).DialContext,
			MaxIdleConns:        0,
			MaxIdleConnsPerHost: max(rate, 64),
			IdleConnTimeout:     30 * time.Second,
			DisableCompression:  true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// result is what one load run measured.
type result struct {
	start    time.Time
	outcomes []outcome
	faultAt  time.Duration // from start
	loadEnd  time.Duration // scheduled start of the last request
	down     watchResult   // when the proxy took the faulty backend out
}

// load sends rate × duration requests on schedule, injects the fault at
// faultAt, watches the proxy from then on, and returns once every request
// has finished.
func load(ctx context.Context, client *http.Client, c config, inj injector, w watcher) (result, error) {
	n := int(int64(c.rate) * int64(c.duration) / int64(time.Second))
	interval := time.Second / time.Duration(c.rate)
	res := result{outcomes: make([]outcome, n), loadEnd: time.Duration(n-1) * interval}
	var auth []string
	if c.userToken != "" {
		auth = []string{"Basic " + base64.StdEncoding.EncodeToString([]byte(c.userToken))}
	}

	var wg sync.WaitGroup
	faultErr := make(chan error, 1)
	res.start = time.Now()
	stopWatch := make(chan struct{})
	watched := make(chan watchResult, 1)
	var faultTimer *time.Timer
	if inj != nil {
		faultTimer = time.AfterFunc(c.faultAt, func() {
			res.faultAt = time.Since(res.start)
			err := inj.inject(ctx)
			if w != nil && err == nil {
				go func() { watched <- watch(ctx, w, res.start, 25*time.Millisecond, stopWatch) }()
			}
			faultErr <- err
		})
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for i := range n {
		at := time.Duration(i) * interval
		if d := time.Until(res.start.Add(at)); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-ctx.Done():
				if faultTimer != nil {
					faultTimer.Stop()
				}
				wg.Wait()
				return res, fmt.Errorf("load stopped after %d of %d requests: %w", i, n, ctx.Err())
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			res.outcomes[i] = send(ctx, client, c.urls, i%len(c.urls), auth, res.start, at)
		}()
	}
	wg.Wait()
	if inj == nil {
		return res, nil
	}
	if faultTimer.Stop() {
		return res, fmt.Errorf("the %s fault was never injected: -fault-at %s is past the end of the load", inj.kind(), c.faultAt)
	}
	if err := <-faultErr; err != nil {
		return res, fmt.Errorf("inject %s fault: %w", inj.kind(), err)
	}
	if w != nil {
		close(stopWatch)
		res.down = <-watched
	}
	return res, nil
}

// send makes one request to urls[u], scheduled at start+at, and reads its
// answer. auth is the Authorization header, or nil.
func send(ctx context.Context, client *http.Client, urls []string, u int, auth []string, start time.Time, at time.Duration) outcome {
	o := outcome{start: at, url: u}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, urls[u], nil)
	if err != nil {
		o.err = "error"
		return o
	}
	req.Header["X-Bench-Load"] = []string{"1"}
	if auth != nil {
		req.Header["Authorization"] = auth
	}
	resp, err := client.Do(req)
	if err == nil {
		o.code, o.backend = resp.StatusCode, resp.Header.Get("X-Backend")
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if err != nil {
		o.err = classify(err)
	}
	o.latency = time.Since(start) - at
	return o
}
