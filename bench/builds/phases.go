package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// loader triggers builds through the front door as a Jenkins API client
// does: POST /job/build/buildWithParameters with Basic auth, keep-alive
// connections; every build has its own SEQ, so none coalesces.
type loader struct {
	front    string
	hc       *http.Client
	seq      atomic.Int64
	accepted atomic.Int64 // 201s so far, for progress lines
}

func newLoader(front string, conns int) *loader {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost, tr.MaxConnsPerHost = conns, conns, conns
	return &loader{front: front, hc: &http.Client{Transport: tr, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// trigger asks for one build lasting durationMs; it returns the status.
func (l *loader) trigger(ctx context.Context, durationMs int) (int, error) {
	seq := l.seq.Add(1)
	u := l.front + "/job/" + jobName + "/buildWithParameters?SIM_DURATION_MS=" + strconv.Itoa(durationMs) +
		"&SEQ=" + strconv.FormatInt(seq, 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
	if err != nil {
		return 0, err
	}
	req.SetBasicAuth(simUser, simToken)
	res, err := l.hc.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode == http.StatusCreated && res.Header.Get("Location") == "" {
		return res.StatusCode, fmt.Errorf("201 without a Location")
	}
	return res.StatusCode, nil
}

// burst is the outcome of triggering with conns clients at once.
type burst struct {
	accepted int            // 201
	failed   map[string]int // anything else, by status or error
	lat      latencies      // of the accepted ones
	first    time.Time
	elapsed  time.Duration // first request sent to last answer
}

func (b burst) failures() int {
	n := 0
	for _, v := range b.failed {
		n += v
	}
	return n
}

// run triggers builds of durationMs with conns clients, closed loop,
// until count builds were asked for (count > 0) or for d.
func (l *loader) run(ctx context.Context, conns, count int, d time.Duration, durationMs int) burst {
	var mu sync.Mutex
	out := burst{failed: map[string]int{}, first: time.Now()}
	var asked atomic.Int64
	stop := out.first.Add(d)
	var wg sync.WaitGroup
	for range conns {
		wg.Go(func() {
			var lat latencies
			failed := map[string]int{}
			for ctx.Err() == nil {
				if count > 0 && asked.Add(1) > int64(count) {
					break
				}
				if count == 0 && time.Now().After(stop) {
					break
				}
				t0 := time.Now()
				status, err := l.trigger(ctx, durationMs)
				switch {
				case err != nil:
					failed[err.Error()]++
				case status != http.StatusCreated:
					failed["HTTP "+strconv.Itoa(status)]++
				default:
					lat = append(lat, time.Since(t0))
					l.accepted.Add(1)
				}
			}
			mu.Lock()
			out.accepted += len(lat)
			out.lat = append(out.lat, lat...)
			for k, v := range failed {
				out.failed[k] += v
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	out.elapsed = time.Since(out.first)
	return out
}
