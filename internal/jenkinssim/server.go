package jenkinssim

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Start makes the controller listen on its address. After Down, Up listens
// again on the same port.
func (c *Controller) Start() error {
	c.srvMu.Lock()
	defer c.srvMu.Unlock()
	return c.listenLocked()
}

func (c *Controller) listenLocked() error {
	addr := c.cfg.Addr
	if c.addr != "" {
		addr = c.addr
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	c.addr = ln.Addr().String()
	if c.agentLn == nil {
		host, _, _ := net.SplitHostPort(c.addr)
		if aln, err := net.Listen("tcp", net.JoinHostPort(host, "0")); err == nil {
			c.agentLn = aln
			c.agentPort.Store(int32(aln.Addr().(*net.TCPAddr).Port))
			go c.serveAgents(aln)
		}
	}
	c.srv = &http.Server{
		Handler:           c,
		ReadHeaderTimeout: 30 * time.Second,
		ConnState:         c.trackConn,
		ErrorLog:          nil,
	}
	c.stopped = false
	srv := c.srv
	served := make(chan struct{})
	c.served = served
	go func() {
		defer close(served)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			c.log.Error("serve", "err", err)
		}
	}()
	c.log.Info("listening", "url", "http://"+c.addr+"/")
	return nil
}

func (c *Controller) trackConn(conn net.Conn, st http.ConnState) {
	c.srvMu.Lock()
	defer c.srvMu.Unlock()
	switch st {
	case http.StateNew:
		c.conns[conn] = struct{}{}
	case http.StateClosed, http.StateHijacked:
		delete(c.conns, conn)
	}
}

// URL is the controller's base URL with a trailing slash.
func (c *Controller) URL() string {
	c.srvMu.Lock()
	defer c.srvMu.Unlock()
	return "http://" + c.addr + "/"
}

// Addr is the controller's listen address (host:port).
func (c *Controller) Addr() string {
	c.srvMu.Lock()
	defer c.srvMu.Unlock()
	return c.addr
}

// AgentPort is the TCP port of the inbound agent listener.
func (c *Controller) AgentPort() int {
	c.srvMu.Lock()
	defer c.srvMu.Unlock()
	if c.agentLn == nil {
		return -1
	}
	return c.agentLn.Addr().(*net.TCPAddr).Port
}

// Down kills the controller process: the listener closes (connection
// refused), open connections are reset, running builds are lost.
func (c *Controller) Down() {
	// srvMu is not held while the server closes: the server's ConnState
	// hook (trackConn) takes it, and Close waits for that hook.
	c.srvMu.Lock()
	var srv *http.Server
	var conns []net.Conn
	served := c.served
	if c.srv != nil && !c.stopped {
		c.stopped = true
		srv = c.srv
		for conn := range c.conns {
			conns = append(conns, conn)
		}
	}
	c.srvMu.Unlock()
	if srv != nil {
		_ = srv.Close()
		for _, conn := range conns {
			if tc, ok := conn.(*net.TCPConn); ok {
				_ = tc.SetLinger(0)
			}
			_ = conn.Close()
		}
		// The listening socket is really closed only once Serve's Accept
		// has returned; until then a dial would be accepted and reset.
		<-served
	}
	c.mu.Lock()
	if c.state != stateDown {
		c.crashLocked()
		c.state = stateDown
		c.log.Info("down")
	}
	c.mu.Unlock()
	c.Unhang()
}

// Up starts a new process after Down, on the same port.
func (c *Controller) Up() error {
	c.mu.Lock()
	if c.state == stateDown {
		c.bootLocked()
	}
	c.mu.Unlock()
	c.srvMu.Lock()
	defer c.srvMu.Unlock()
	if !c.stopped {
		return nil
	}
	return c.listenLocked()
}

// Close stops the controller for good.
func (c *Controller) Close() error {
	c.Unhang()
	c.srvMu.Lock()
	c.stopped = true
	if c.agentLn != nil {
		_ = c.agentLn.Close()
	}
	srv := c.srv
	c.srvMu.Unlock() // not held across Shutdown: trackConn takes it
	c.mu.Lock()
	c.gen++
	if c.wake != nil {
		c.wake.Stop()
	}
	c.mu.Unlock()
	if srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		return srv.Close()
	}
	return nil
}

// serveAgents answers the inbound TCP agent port: an HTTP GET gets the
// diagnostic Jenkins serves there; anything else is greeted with one line
// naming the controller and echoed back, so that pass-through proxies can
// be tested end to end.
func (c *Controller) serveAgents(ln net.Listener) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer conn.Close()
			br := bufio.NewReader(conn)
			_ = conn.SetReadDeadline(time.Now().Add(time.Minute))
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			if strings.HasPrefix(line, "GET ") {
				fmt.Fprintf(conn, "HTTP/1.0 200 OK\r\nContent-Type: text/plain;charset=UTF-8\r\n\r\nJenkins-Agent-Protocols: JNLP4-connect, Ping\r\nJenkins-Version: %s\r\nJenkins-Session: %s\r\n", c.cfg.Version, c.Session())
				return
			}
			fmt.Fprintf(conn, "JENKINS-SIM-AGENT %s\n", c.cfg.Name)
			_, _ = conn.Write([]byte(line))
			_ = conn.SetReadDeadline(time.Time{})
			_, _ = io.Copy(conn, br)
		}()
	}
}

// persisted job definitions (DataDir/jobs.json).
type savedJob struct {
	Name   string `json:"name"`
	Config string `json:"config"`
	Next   int    `json:"nextBuildNumber"`
	JobSpec
}

func (c *Controller) jobsPath() string { return filepath.Join(c.cfg.DataDir, "jobs.json") }

func (c *Controller) saveJobsLocked() {
	if c.cfg.DataDir == "" {
		return
	}
	var out []savedJob
	var walk func(parent *item)
	walk = func(parent *item) {
		for _, it := range c.sortedContainer(parent) {
			sj := savedJob{Name: it.fullName(), Config: it.configXML, Next: it.nextBuildNumber}
			sj.DurationMs, sj.DurationMaxMs, sj.Result = int(it.duration.Min.Milliseconds()), int(it.duration.Max.Milliseconds()), it.result
			out = append(out, sj)
			if it.kind == kindFolder {
				walk(it)
			}
		}
	}
	walk(nil)
	b, _ := json.MarshalIndent(out, "", "  ")
	if err := os.MkdirAll(c.cfg.DataDir, 0o755); err != nil {
		c.log.Error("save jobs", "err", err)
		return
	}
	tmp := c.jobsPath() + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err == nil {
		err = os.Rename(tmp, c.jobsPath())
		if err != nil {
			c.log.Error("save jobs", "err", err)
		}
	}
}

func (c *Controller) sortedContainer(parent *item) []*item {
	if parent == nil {
		return c.root.sortedChildren()
	}
	return parent.sortedChildren()
}

// loadJobs restores saved jobs; nil, nil when there is no file yet.
func (c *Controller) loadJobs() ([]JobSpec, error) {
	b, err := os.ReadFile(c.jobsPath())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read saved jobs: %w", err)
	}
	var saved []savedJob
	if err := json.Unmarshal(b, &saved); err != nil {
		return nil, fmt.Errorf("saved jobs %s: %w (delete the file to start afresh)", c.jobsPath(), err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, sj := range saved {
		cfg, err := parseJobConfig(sj.Config)
		if err != nil {
			return nil, fmt.Errorf("saved job %s: %w", sj.Name, err)
		}
		parent, name, err := c.resolveParentLocked(sj.Name, true)
		if err != nil {
			return nil, fmt.Errorf("saved job %s: %w", sj.Name, err)
		}
		it, ok := c.container(parent)[name]
		if !ok {
			it = c.newItemLocked(parent, name, cfg, sj.Config)
		} else {
			it.apply(cfg, sj.Config)
		}
		it.nextBuildNumber = max(sj.Next, 1)
		it.duration = Duration{Min: time.Duration(sj.DurationMs) * time.Millisecond, Max: time.Duration(sj.DurationMaxMs) * time.Millisecond}
		it.result = sj.Result
	}
	return []JobSpec{}, nil
}
