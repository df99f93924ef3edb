package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/jenkinds/jenkinds/internal/controller"
	"github.com/jenkinds/jenkinds/internal/jenkins"
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
			p.fail(req.Context(), rt, statusError(req, resp.StatusCode))
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
	p.health.Answered(rt, resp.Header.Get("X-Jenkins-Session"))
	if resp.StatusCode == http.StatusSwitchingProtocols {
		release() // a WebSocket holds no executor: do not count it as load
		return resp, nil
	}
	resp.Body = jenkins.OnClose(resp.Body, release)
	return resp, nil
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
					p.fail(req.Context(), last.rt, errOrStatus(req, last))
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
			p.health.Hung(first, p.cfg.HedgeAfter)
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

func errOrStatus(req *http.Request, r attemptResult) error {
	if r.err != nil {
		return r.err
	}
	return statusError(req, r.resp.StatusCode)
}

// statusError is a controller's 502/503/504 as the health authority
// classifies it.
func statusError(req *http.Request, code int) error {
	return &jenkins.StatusError{Method: req.Method, URL: req.URL.Path, Code: code}
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

// fail reports a failed attempt on rt to the health authority, unless
// the client left or a hedge was cancelled: not the controller's fault.
func (p *Proxy) fail(ctx context.Context, rt *controller.Runtime, err error) {
	if ctx.Err() != nil || errors.Is(err, context.Canceled) {
		return
	}
	p.health.Failure(rt, err)
}
