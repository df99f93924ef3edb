package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// hang is one active hang fault. Closing release answers every request it
// holds.
type hang struct {
	release chan struct{}
}

// faults is the backend's fault state and its /__sim/faults API:
//
//	none ──POST {"kind":"hang"}──▶ hanging ──DELETE──▶ none (held requests answered)
type faults struct {
	now      func() time.Time
	hang     atomic.Pointer[hang]
	hung     atomic.Int64 // requests being held
	lastLoad atomic.Int64 // unix ns of the last X-Bench-Load request held; 0 for none
}

func newFaults(now func() time.Time) *faults { return &faults{now: now} }

// hanging returns the active hang, or nil.
func (f *faults) hanging() *hang { return f.hang.Load() }

// hold keeps a request on c unanswered until the fault is cleared (true:
// answer it now), or the client goes away or the server stops (false).
func (f *faults) hold(ctx context.Context, c net.Conn, g *hang, load bool) bool {
	if load {
		f.lastLoad.Store(f.now().UnixNano())
	}
	f.hung.Add(1)
	defer f.hung.Add(-1)
	gone := make(chan struct{})
	go func() {
		var b [1]byte
		c.Read(b[:]) // returns when the client closes (or sends more, which this fault ignores)
		close(gone)
	}()
	select {
	case <-g.release:
		return true
	case <-gone:
	case <-ctx.Done():
	}
	return false
}

// status is the answer of the /__sim/faults API.
type status struct {
	Kind string `json:"kind"` // "hang", or "" for none
	Hung int64  `json:"hung"` // requests being held
	// LastLoadRequest is when the last X-Bench-Load request arrived while
	// hanging; nil when none did.
	LastLoadRequest *time.Time `json:"lastLoadRequest"`
}

// serve answers a /__sim/ request: code, content type and body.
func (f *faults) serve(method, path string, body []byte) (int, string, []byte) {
	if path != "/__sim/faults" {
		return http.StatusNotFound, "text/plain", []byte("no such simulator endpoint\n")
	}
	switch method {
	case http.MethodGet:
	case http.MethodPost:
		var in struct {
			Kind string `json:"kind"`
		}
		if err := json.Unmarshal(body, &in); err != nil {
			return http.StatusBadRequest, "text/plain", fmt.Appendf(nil, "decode fault: %v\n", err)
		}
		if in.Kind != "hang" {
			return http.StatusBadRequest, "text/plain", fmt.Appendf(nil, "fault kind %q: want hang\n", in.Kind)
		}
		f.startHang()
	case http.MethodDelete:
		f.clear()
	default:
		return http.StatusMethodNotAllowed, "text/plain", []byte("use GET, POST or DELETE\n")
	}
	out, err := json.Marshal(f.status())
	if err != nil {
		return http.StatusInternalServerError, "text/plain", fmt.Appendf(nil, "encode status: %v\n", err)
	}
	return http.StatusOK, "application/json", append(out, '\n')
}

// startHang starts a hang fault unless one is active.
func (f *faults) startHang() {
	if f.hang.Load() != nil {
		return
	}
	f.lastLoad.Store(0)
	f.hang.CompareAndSwap(nil, &hang{release: make(chan struct{})})
}

// clear ends the hang fault, if any, and answers the requests it held.
func (f *faults) clear() {
	if g := f.hang.Swap(nil); g != nil {
		close(g.release)
	}
}

func (f *faults) status() status {
	st := status{Hung: f.hung.Load()}
	if f.hang.Load() != nil {
		st.Kind = "hang"
	}
	if ns := f.lastLoad.Load(); ns != 0 {
		t := time.Unix(0, ns).UTC()
		st.LastLoadRequest = &t
	}
	return st
}
