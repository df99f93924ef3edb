package proxy

import (
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jenkinds/jenkinds/internal/balance"
	"github.com/jenkinds/jenkinds/internal/controller"
	"github.com/jenkinds/jenkinds/internal/jenkins"
)

// agentDirectory knows which controller owns which agent, per cluster.
type agentDirectory struct {
	mu        sync.RWMutex
	byCluster map[string]map[string]int64
}

func (d *agentDirectory) init() { d.byCluster = map[string]map[string]int64{} }

func (d *agentDirectory) owner(cluster, agent string) (int64, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	id, ok := d.byCluster[cluster][agent]
	return id, ok
}

// refreshAgents re-reads every reachable controller's agents.
func (p *Proxy) refreshAgents(ctx context.Context) {
	client := &http.Client{Transport: p.tr}
	next := map[string]map[string]int64{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for _, rt := range p.pool.All() {
		if rt.Health() == balance.Unhealthy || !rt.Instance().IsActive {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			inst := rt.Instance()
			c, err := jenkins.New(inst.URL, inst.Username, rt.Token(), client)
			if err != nil {
				return
			}
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			nodes, _, err := c.Agents(cctx)
			if err != nil {
				p.log.Debug("read agents", "controller", inst.Name, "err", err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			m := next[inst.ClusterID]
			if m == nil {
				m = map[string]int64{}
				next[inst.ClusterID] = m
			}
			for _, n := range nodes {
				if !n.BuiltIn() {
					m[n.Name] = inst.ID
				}
			}
		}()
	}
	wg.Wait()
	p.agents.mu.Lock()
	p.agents.byCluster = next
	p.agents.mu.Unlock()
}

// RefreshAgents re-reads the agent directory now (tests, after changes).
func (p *Proxy) RefreshAgents(ctx context.Context) { p.refreshAgents(ctx) }

// tcpPassThrough opens one TCP port per controller for inbound agents.
type tcpPassThrough struct {
	p    *Proxy
	mu   sync.Mutex
	byID map[int64]*passListener
}

type passListener struct {
	ln     net.Listener
	target atomic.Pointer[string] // the controller's agent host:port
	conns  sync.Map
}

func (t *tcpPassThrough) init(p *Proxy) {
	t.p = p
	t.byID = map[int64]*passListener{}
}

// rewriteHeaders makes a /tcpSlaveAgentListener/ answer advertise the
// controller's pass-through port on the front door.
func (t *tcpPassThrough) rewriteHeaders(resp *http.Response, rt *controller.Runtime, front interface{ Hostname() string }) {
	port := resp.Header.Get("X-Jenkins-JNLP-Port")
	if port == "" || port == "-1" {
		return
	}
	backend := net.JoinHostPort(t.p.target(rt).Hostname(), port)
	pl, err := t.ensure(rt.ID(), backend)
	if err != nil {
		t.p.log.Error("open TCP agent pass-through", "controller", rt.Instance().Name, "err", err)
		return
	}
	mine := strconv.Itoa(pl.ln.Addr().(*net.TCPAddr).Port)
	resp.Header.Set("X-Jenkins-JNLP-Port", mine)
	if resp.Header.Get("X-Hudson-JNLP-Port") != "" {
		resp.Header.Set("X-Hudson-JNLP-Port", mine)
	}
	host := t.p.cfg.AgentHost
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = front.Hostname()
	}
	resp.Header.Set("X-Jenkins-JNLP-Host", host)
}

func (t *tcpPassThrough) ensure(id int64, backend string) (*passListener, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if pl, ok := t.byID[id]; ok {
		pl.target.Store(&backend)
		return pl, nil
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(t.p.cfg.AgentHost, "0"))
	if err != nil {
		return nil, err
	}
	pl := &passListener{ln: ln}
	pl.target.Store(&backend)
	t.byID[id] = pl
	go t.serve(pl)
	return pl, nil
}

// AgentPort returns the pass-through port of controller id (0 if none yet).
func (p *Proxy) AgentPort(id int64) int {
	p.tcp.mu.Lock()
	defer p.tcp.mu.Unlock()
	if pl, ok := p.tcp.byID[id]; ok {
		return pl.ln.Addr().(*net.TCPAddr).Port
	}
	return 0
}

func (t *tcpPassThrough) serve(pl *passListener) {
	for {
		in, err := pl.ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer in.Close()
			out, err := net.DialTimeout("tcp", *pl.target.Load(), t.p.cfg.DialTimeout)
			if err != nil {
				t.p.log.Warn("TCP agent pass-through: dial controller", "target", *pl.target.Load(), "err", err)
				return
			}
			defer out.Close()
			pl.conns.Store(in, out)
			defer pl.conns.Delete(in)
			done := make(chan struct{}, 2)
			go func() { _, _ = io.Copy(out, in); closeWrite(out); done <- struct{}{} }()
			go func() { _, _ = io.Copy(in, out); closeWrite(in); done <- struct{}{} }()
			<-done
			<-done
		}()
	}
}

func closeWrite(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
}

func (t *tcpPassThrough) closeAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for id, pl := range t.byID {
		_ = pl.ln.Close()
		pl.conns.Range(func(k, v any) bool {
			_ = k.(net.Conn).Close()
			_ = v.(net.Conn).Close()
			return true
		})
		delete(t.byID, id)
	}
}
