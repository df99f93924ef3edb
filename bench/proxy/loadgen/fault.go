package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// injector is one fault loadgen injects mid-run.
type injector interface {
	// inject starts the fault.
	inject(ctx context.Context) error
	// lastArrival asks the faulty backend when the last load request
	// reached it after the fault; nil when it cannot tell or none did.
	lastArrival(ctx context.Context) (*time.Time, error)
	kind() string
}

// resumer is a fault that ends by itself after a while (stop); resume
// ends it at once, and does nothing once it has ended.
type resumer interface {
	resume() error
}

var (
	_ injector = killFault{}
	_ injector = hangFault{}
	_ injector = (*stopFault)(nil)
	_ resumer  = (*stopFault)(nil)
)

// parseFault reads -fault: "kill:PID", "stop:PID" (SIGSTOP, SIGCONT after
// length) or "hang:http://127.0.0.1:PORT". "" means no fault (nil, nil).
func parseFault(spec string, length time.Duration, client *http.Client) (injector, error) {
	if spec == "" {
		return nil, nil
	}
	kind, arg, _ := strings.Cut(spec, ":")
	switch kind {
	case "kill", "stop":
		pid, err := strconv.Atoi(arg)
		if err != nil || pid <= 1 {
			return nil, fmt.Errorf("-fault %q: %s needs a process id above 1 (%s:PID)", spec, kind, kind)
		}
		if kind == "kill" {
			return killFault{pid: pid}, nil
		}
		if length <= 0 {
			return nil, fmt.Errorf("-fault %q: stop needs -fault-for, how long the process stays stopped", spec)
		}
		return &stopFault{pid: pid, length: length, signal: syscall.Kill}, nil
	case "hang":
		u, err := url.Parse(arg)
		if err != nil || u.Scheme != "http" {
			return nil, fmt.Errorf("-fault %q: hang needs the backend's http URL (hang:http://127.0.0.1:PORT)", spec)
		}
		if err := checkLoopback(u); err != nil {
			return nil, fmt.Errorf("-fault %q: %w", spec, err)
		}
		return hangFault{faults: u.JoinPath("/__sim/faults").String(), client: client}, nil
	}
	return nil, fmt.Errorf("-fault %q: want kill:PID, stop:PID or hang:URL", spec)
}

// killFault sends SIGKILL to a backend process: its sockets are closed by
// the kernel, new connections are refused.
type killFault struct{ pid int }

func (k killFault) kind() string { return "kill" }

func (k killFault) inject(context.Context) error {
	if err := syscall.Kill(k.pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill process %d: %w", k.pid, err)
	}
	return nil
}

// lastArrival: a killed backend tells nothing.
func (killFault) lastArrival(context.Context) (*time.Time, error) { return nil, nil }

// stopFault freezes a process with SIGSTOP and thaws it with SIGCONT after
// length: its sockets stay open and the kernel still accepts connections
// on its listeners, but nothing is answered, as a controller stuck in a
// long garbage collection or a paused VM.
type stopFault struct {
	pid    int
	length time.Duration
	signal func(pid int, sig syscall.Signal) error

	mu      sync.Mutex
	thaw    *time.Timer
	stopped bool
}

func (s *stopFault) kind() string { return "stop" }

func (s *stopFault) inject(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.signal(s.pid, syscall.SIGSTOP); err != nil {
		return fmt.Errorf("stop process %d: %w", s.pid, err)
	}
	s.stopped = true
	s.thaw = time.AfterFunc(s.length, func() { _ = s.resume() })
	return nil
}

// resume sends SIGCONT unless it was sent already. loadgen calls it on its
// way out too, so a stopped process never outlives the run stopped.
func (s *stopFault) resume() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.stopped {
		return nil
	}
	s.stopped = false
	if s.thaw != nil {
		s.thaw.Stop()
	}
	if err := s.signal(s.pid, syscall.SIGCONT); err != nil {
		return fmt.Errorf("continue process %d: %w", s.pid, err)
	}
	return nil
}

// lastArrival: a stopped process tells nothing.
func (*stopFault) lastArrival(context.Context) (*time.Time, error) { return nil, nil }

// hangFault makes a backend (bench/proxy/backend) accept connections and
// never answer, through its /__sim/faults API.
type hangFault struct {
	faults string // URL of the backend's /__sim/faults
	client *http.Client
}

func (h hangFault) kind() string { return "hang" }

func (h hangFault) inject(ctx context.Context) error {
	_, err := h.call(ctx, http.MethodPost, `{"kind":"hang"}`)
	return err
}

func (h hangFault) lastArrival(ctx context.Context) (*time.Time, error) {
	var st struct {
		LastLoadRequest *time.Time `json:"lastLoadRequest"`
	}
	body, err := h.call(ctx, http.MethodGet, "")
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(body, &st); err != nil {
		return nil, fmt.Errorf("decode %s: %w", h.faults, err)
	}
	return st.LastLoadRequest, nil
}

func (h hangFault) call(ctx context.Context, method, body string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, h.faults, strings.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, h.faults, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, h.faults, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err != nil {
		return nil, fmt.Errorf("%s %s: read answer: %w", method, h.faults, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s %s: HTTP %d: %s", method, h.faults, resp.StatusCode, strings.TrimSpace(string(data)))
	}
	return data, nil
}

// checkLoopback refuses any URL whose host is not on this machine's
// loopback: the benchmark never sends traffic anywhere else.
func checkLoopback(u *url.URL) error {
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("host %q is not a loopback address (127.0.0.0/8, ::1 or localhost)", host)
}

// classify names a transport error for the failure breakdown.
func classify(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	}
	return "error"
}
