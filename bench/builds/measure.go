package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// builds are jenkinds' build counts by state, from its /metrics
// (jenkinds_builds{cluster,state}, summed over clusters).
type builds map[string]float64

func (b builds) unfinished() float64 { return b["accepted"] + b["placed"] + b["running"] }
func (b builds) terminal() float64   { return b["finished"] + b["failed"] + b["cancelled"] }

// String is the counts in the order of a build's life, for progress lines
// and errors.
func (b builds) String() string {
	var out []string
	for _, s := range []string{"accepted", "placed", "running", "finished", "failed", "cancelled"} {
		out = append(out, fmt.Sprintf("%s %.0f", s, b[s]))
	}
	return strings.Join(out, ", ")
}

func (w *world) builds(ctx context.Context) (builds, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, w.admin+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: HTTP %d", res.StatusCode)
	}
	out := builds{}
	found := false
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "jenkinds_builds{") {
			continue
		}
		found = true
		_, rest, _ := strings.Cut(line, `state="`)
		state, _, _ := strings.Cut(rest, `"`)
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err == nil {
			out[state] += v
		}
	}
	if !found {
		// No build yet, or a jenkinds without the metric: tell them apart.
		if err := sc.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// waitBuilds polls jenkinds' counts every 200ms until done holds, with a
// progress line every cfg.progress.
func (w *world) waitBuilds(ctx context.Context, timeout time.Duration, what string, done func(builds) bool) (builds, error) {
	t0 := time.Now()
	deadline, next := t0.Add(timeout), t0.Add(w.cfg.progress)
	for {
		b, err := w.builds(ctx)
		if err != nil {
			return nil, err
		}
		if done(b) {
			return b, nil
		}
		if time.Now().After(next) {
			next = next.Add(w.cfg.progress)
			fmt.Fprintf(w.stderr, "  %5.0fs waiting for %s: %s\n", time.Since(t0).Seconds(), what, b)
		}
		if w.jk.exited() {
			return b, fmt.Errorf("jenkinds exited; the end of %s:\n%s", w.jk.log, w.jk.tail())
		}
		if time.Now().After(deadline) {
			return b, fmt.Errorf("%s: not within %s (builds by state: %v)", what, timeout, b)
		}
		select {
		case <-ctx.Done():
			return b, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// snapshot is jenkinds' build counts, the controllers' states and the CPU
// used so far, at the start of a phase.
func (w *world) snapshot(ctx context.Context) (builds, []simState, cpu, error) {
	b, err := w.builds(ctx)
	if err != nil {
		return nil, nil, cpu{}, err
	}
	s, err := w.simStates(ctx)
	if err != nil {
		return nil, nil, cpu{}, err
	}
	return b, s, w.cpu(), nil
}

// simState is what the benchmark reads of a simulated controller's
// GET /__sim/state.
type simState struct {
	Running        int   `json:"running"`
	QueueLength    int   `json:"queueLength"`
	BuildsStarted  int64 `json:"buildsStarted"`
	BuildsFinished int64 `json:"buildsFinished"`
	Requests       int64 `json:"requests"` // every request it got, this one included
}

func (w *world) simStates(ctx context.Context) ([]simState, error) { return readSims(ctx, w.simURLs) }

// readSims reads GET /__sim/state of each controller of urls.
func readSims(ctx context.Context, urls []string) ([]simState, error) {
	out := make([]simState, len(urls))
	for i, u := range urls {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u+"/__sim/state", nil)
		if err != nil {
			return nil, err
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		err = json.NewDecoder(res.Body).Decode(&out[i])
		res.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("%s/__sim/state: %w", u, err)
		}
	}
	return out, nil
}

// cpu is a snapshot of CPU seconds used so far, by who.
type cpu struct {
	jenkinds, sims, bench, postgres float64
	hasPG                           bool
	at                              time.Time
}

func (w *world) cpu() cpu {
	c := cpu{jenkinds: cpuSeconds(w.jk.cmd.Process.Pid), bench: selfCPU(), at: time.Now()}
	for _, s := range w.sims {
		c.sims += cpuSeconds(s.cmd.Process.Pid)
	}
	if strings.HasPrefix(w.cfg.database, "postgres") {
		c.postgres, c.hasPG = postgresCPU()
	}
	return c
}

// sub is the CPU used between c0 and c.
func (c cpu) sub(c0 cpu) cpu {
	return cpu{jenkinds: c.jenkinds - c0.jenkinds, sims: c.sims - c0.sims, bench: c.bench - c0.bench,
		postgres: c.postgres - c0.postgres, hasPG: c.hasPG, at: c.at}
}

// String is the split, in CPU seconds and in cores used over wall.
func (c cpu) split(wall time.Duration) string {
	s := wall.Seconds()
	f := func(v float64) string { return fmt.Sprintf("%.1fs (%.2f cores)", v, v/s) }
	out := "jenkinds " + f(c.jenkinds) + ", simulators " + f(c.sims) + ", load generator " + f(c.bench)
	if c.hasPG {
		out += ", postgres " + f(c.postgres)
	}
	return out
}

// latencies summarises request durations.
type latencies []time.Duration

func (l latencies) quantile(q float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := append(latencies(nil), l...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000) }
