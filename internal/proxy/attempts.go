package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jenkinds/jenkinds/internal/balance"
	"github.com/jenkinds/jenkinds/internal/controller"
)

// attempts is the ReverseProxy's transport: it sends a request to the
// chosen controller and, where that is safe, to others (retry, hedge).
type attempts struct{ p *Proxy }

// noneLeftError means no other controller could take a retry.
type noneLeftError struct{ err error }

func (e noneLeftError) Error() string { return e.err.Error() }
func (e noneLeftError) Unwrap() error { return e.err }

func retryStatus(code int) bool {
	return code == http.StatusBadGateway || code == http.StatusServiceUnavailable || code == http.StatusGatewayTimeout
}

// RoundTrip implements http.RoundTripper.
func (a attempts) RoundTrip(req *http.Request) (*http.Response, error) {
	p := a.p
	st := stateOf(req)
	var body *replayBody
	if req.Body != nil && req.Body != http.NoBody {
		body = &replayBody{ReadCloser: req.Body}
		req.Body = body
	}
	var triedBuf [4]int64
	tried := triedBuf[:0]
	rt := st.rt
	for attempt := 1; ; attempt++ {
		tried = append(tried, rt.ID())
		var resp *http.Response
		var err error
		if st.hedge {
			resp, rt, err = p.hedged(req, st, rt, &tried)
		} else {
			resp, err = p.send(req, rt, st.cluster)
		}
		retry := false
		switch {
		case err != nil:
			p.fail(req.Context(), rt, err)
			retry = st.replay || (nothingSent(err) && (body == nil || !body.read))
		case retryStatus(resp.StatusCode):
			p.fail(req.Context(), rt, fmt.Errorf("HTTP %d", resp.StatusCode))
			retry = st.replay
		default:
			st.served = rt
			return resp, nil
		}
		if !retry || attempt >= p.cfg.TryBudget || req.Context().Err() != nil {
			st.served = rt
			return resp, err
		}
		next, perr := p.pool.PickOther(st.cluster, tried...)
		if perr != nil {
			st.served = rt
			if err == nil {
				return resp, nil // the controller's own 5xx is the best answer left
			}
			return nil, noneLeftError{fmt.Errorf("%w; no other controller to retry on: %v", err, perr)}
		}
		if resp != nil {
			_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)
			resp.Body.Close()
		}
		if p.metrics != nil {
			p.metrics.retries.WithLabelValues(st.cluster).Inc()
		}
		p.retarget(req, rt, next)
		rt = next
	}
}

// nothingSent reports an error that happened before any byte of the
// request left: the controller cannot have acted on it.
func nothingSent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// replayBody lets a request body be sent again after a failed dial: it
// remembers whether anything was read and ignores the transport's Close.
type replayBody struct {
	io.ReadCloser
	read bool
}

func (b *replayBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.read = true
	}
	return n, err
}

func (b *replayBody) Close() error { return nil }

// send makes one attempt on rt, counting it in flight until its response
// body is closed.
func (p *Proxy) send(req *http.Request, rt *controller.Runtime, cluster string) (*http.Response, error) {
	release := rt.Acquire()
	start := time.Now()
	resp, err := p.tr.RoundTrip(req)
	if p.metrics != nil {
		p.metrics.observe(rt, cluster, resp, err, time.Since(start))
	}
	if err != nil {
		release()
		return nil, err
	}
	if !retryStatus(resp.StatusCode) {
		p.answered(rt)
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		release() // a WebSocket holds no executor: do not count it as load
		return resp, nil
	}
	resp.Body = &releaseBody{ReadCloser: resp.Body, release: release}
	return resp, nil
}

type releaseBody struct {
	io.ReadCloser
	once    sync.Once
	release func()
}

func (b *releaseBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.release)
	return err
}

// hedged sends a short idempotent request to rt and, if no answer came
// within HedgeAfter, to another controller too; the first good answer wins
// and the other attempt is cancelled.
func (p *Proxy) hedged(req *http.Request, st *reqState, first *controller.Runtime, tried *[]int64) (*http.Response, *controller.Runtime, error) {
	type result = attemptResult
	ch := make(chan result, 2)
	var cancels [2]context.CancelFunc
	launch := func(idx int, rt *controller.Runtime) {
		ctx, cancel := context.WithCancel(req.Context())
		cancels[idx] = cancel
		var r *http.Request
		if rt == first {
			r = req.WithContext(ctx) // shallow: the first attempt changes nothing
		} else {
			r = req.Clone(ctx)
			p.retarget(r, first, rt)
		}
		go func() {
			resp, err := p.send(r, rt, st.cluster)
			ch <- result{resp, err, rt, idx}
		}()
	}
	launch(0, first)
	timer := time.NewTimer(p.cfg.HedgeAfter)
	defer timer.Stop()
	pending, launched := 1, 1
	var last result
	for {
		select {
		case res := <-ch:
			pending--
			if res.err == nil && !retryStatus(res.resp.StatusCode) {
				if pending > 0 {
					other := 1 - res.idx
					cancels[other]()
					go func() {
						if r := <-ch; r.resp != nil {
							r.resp.Body.Close()
						}
					}()
				}
				res.resp.Body = &cancelBody{ReadCloser: res.resp.Body, cancel: cancels[res.idx]}
				return res.resp, res.rt, nil
			}
			if pending == 0 {
				// Both failed, or the only one did: the caller classifies
				// the last, records the failure and may retry elsewhere.
				if launched == 2 && last.rt != nil {
					p.fail(req.Context(), last.rt, errOrStatus(last))
				}
				if res.resp == nil {
					cancels[res.idx]()
				}
				return res.resp, res.rt, res.err
			}
			if res.resp != nil {
				res.resp.Body.Close()
			}
			cancels[res.idx]()
			last = res
		case <-timer.C:
			if launched == 2 {
				continue
			}
			next, err := p.pool.PickOther(st.cluster, *tried...)
			if err != nil {
				continue // nobody to hedge to: wait for the first
			}
			*tried = append(*tried, next.ID())
			p.slow(first)
			if p.metrics != nil {
				p.metrics.hedges.WithLabelValues(st.cluster).Inc()
			}
			launch(1, next)
			pending++
			launched++
		}
	}
}

// attemptResult is the outcome of one hedged attempt.
type attemptResult struct {
	resp *http.Response
	err  error
	rt   *controller.Runtime
	idx  int
}

func errOrStatus(r attemptResult) error {
	if r.err != nil {
		return r.err
	}
	return errors.New("HTTP " + strconv.Itoa(r.resp.StatusCode))
}

type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// passiveState remembers a controller's recent failures and when it last
// answered.
type passiveState struct {
	mu     sync.Mutex
	times  []time.Time
	lastOK atomic.Int64 // unix nanos of the last response headers
}

func (p *Proxy) passiveFor(id int64) *passiveState {
	if v, ok := p.passive.Load(id); ok {
		return v.(*passiveState)
	}
	v, _ := p.passive.LoadOrStore(id, &passiveState{})
	return v.(*passiveState)
}

// fail counts a failure against rt; enough of them in the window take it
// out of the pool until the active monitor sees it rise again.
func (p *Proxy) fail(ctx context.Context, rt *controller.Runtime, err error) {
	if ctx.Err() != nil || errors.Is(err, context.Canceled) {
		return // the client left, or a hedge was cancelled: not the controller's fault
	}
	p.countFailure(rt, err.Error())
}

// slow counts a hedged attempt that missed its deadline. A controller
// that has not answered anything for two hedge deadlines while requests
// wait on it is hung: it leaves the pool at once rather than after
// PassiveFailures more deadlines.
func (p *Proxy) slow(rt *controller.Runtime) {
	why := fmt.Sprintf("no answer within %s", p.cfg.HedgeAfter)
	last := p.passiveFor(rt.ID()).lastOK.Load()
	if last != 0 && time.Since(time.Unix(0, last)) >= 2*p.cfg.HedgeAfter {
		p.eject(rt, why+"; nothing answered for "+time.Since(time.Unix(0, last)).Round(time.Millisecond).String())
		return
	}
	p.countFailure(rt, why)
}

// answered records that rt sent response headers.
func (p *Proxy) answered(rt *controller.Runtime) {
	p.passiveFor(rt.ID()).lastOK.Store(time.Now().UnixNano())
}

func (p *Proxy) countFailure(rt *controller.Runtime, why string) {
	ps := p.passiveFor(rt.ID())
	now := time.Now()
	ps.mu.Lock()
	keep := ps.times[:0]
	for _, t := range ps.times {
		if now.Sub(t) < p.cfg.PassiveWindow {
			keep = append(keep, t)
		}
	}
	ps.times = append(keep, now)
	eject := len(ps.times) >= p.cfg.PassiveFailures
	if eject {
		ps.times = ps.times[:0]
	}
	ps.mu.Unlock()
	if eject {
		p.eject(rt, fmt.Sprintf("%d failures within %s, the last: %s", p.cfg.PassiveFailures, p.cfg.PassiveWindow, why))
	}
}

// eject takes rt out of the pool until the active monitor sees it rise.
func (p *Proxy) eject(rt *controller.Runtime, why string) {
	if rt.Health() == balance.Unhealthy {
		return
	}
	rt.SetHealth(balance.Unhealthy, time.Now())
	inst := rt.Instance()
	p.log.Warn("controller taken out of the pool by passive health", "controller", inst.Name, "cluster", inst.ClusterID, "why", why)
	if p.metrics != nil {
		p.metrics.ejections.WithLabelValues(inst.Name, inst.ClusterID).Inc()
	}
	if p.OnEject != nil {
		p.OnEject(rt.ID())
	}
}
