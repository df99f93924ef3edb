package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", for the benchmark's own schema
)

const (
	adminToken = "bench-builds-admin-token-0123456789" // a throwaway
	simUser    = "admin"
	simToken   = "11benchbuildsb7c3f0a1d2e4f5a6b7c8d9" // a throwaway, in Jenkins' format
	jobName    = "build"
)

// simJobs is the one job of every simulated controller: concurrent, its
// builds scripted by their parameters; SEQ makes every build distinct, so
// none is merged into another (Jenkins coalesces identical queue items).
const simJobs = `[{"name":"build","concurrent":true,"parameters":[
 {"name":"SIM_DURATION_MS","default":"0"},{"name":"SIM_RESULT","default":"SUCCESS"},{"name":"SEQ"}]}]`

// worldSpec is the shape of a world: its controllers and how they are
// registered.
type worldSpec struct {
	name        string // its directory under the benchmark's
	controllers int
	perProcess  int // controllers per simulator process
	agents      int // agents per controller besides the built-in node
	executors   int // executors per node
	// maxConns is the maxConnections the controllers are registered with;
	// 0 leaves the field out, so they get the registry's default.
	maxConns int
}

func (s worldSpec) maxConnections() string {
	if s.maxConns == 0 {
		return "left at the default"
	}
	return strconv.Itoa(s.maxConns)
}

// mainSpec is the world of the phases accept, complete and follow.
func (c config) mainSpec() worldSpec {
	return worldSpec{name: "main", controllers: c.controllers, perProcess: c.perProcess, agents: c.agents,
		executors: c.executors, maxConns: 100000}
}

// backlogSpec is the backlog phase's world: jenkinds' defaults all along.
func (c config) backlogSpec() worldSpec {
	b := c.backlog
	return worldSpec{name: "backlog", controllers: b.controllers, perProcess: 1, agents: b.agents, executors: b.executors}
}

// world is the system under test: simulated controllers and jenkinds.
type world struct {
	cfg      config
	spec     worldSpec
	stderr   io.Writer // progress lines
	dir      string
	sims     []*proc
	simURLs  []string // one per controller, http://127.0.0.1:port
	jk       *proc
	admin    string // http://host:port of the admin API
	front    string // http://host:port of the front door
	dropPG   func()
	database string // what jenkinds was given
}

func (w *world) close() {
	w.jk.stop()
	for _, s := range w.sims {
		s.stop()
	}
	if w.dropPG != nil {
		w.dropPG()
	}
}

// startWorld starts the simulators, then jenkinds, registers the
// controllers and waits until jenkinds finds them healthy.
func startWorld(ctx context.Context, cfg config, spec worldSpec, dir string, stderr io.Writer) (*world, error) {
	w := &world{cfg: cfg, spec: spec, dir: dir, stderr: stderr}
	ok := false
	defer func() {
		if !ok {
			w.close()
		}
	}()
	jobs := filepath.Join(dir, "jobs.json")
	if err := os.WriteFile(jobs, []byte(simJobs), 0o600); err != nil {
		return nil, err
	}
	for i := 0; i < spec.controllers; i += spec.perProcess {
		p, urls, err := startSims(ctx, cfg.jenkinds, dir, fmt.Sprintf("sim-%d", len(w.sims)), jobs,
			min(spec.perProcess, spec.controllers-i), spec.agents, spec.executors)
		if p != nil {
			w.sims = append(w.sims, p)
		}
		if err != nil {
			return nil, err
		}
		w.simURLs = append(w.simURLs, urls...)
	}

	w.database = cfg.database
	if strings.HasPrefix(cfg.database, "postgres") {
		u, drop, err := freshSchema(ctx, cfg.database)
		if err != nil {
			return nil, err
		}
		w.database, w.dropPG = u, drop
	}
	adminPort, err := freePort()
	if err != nil {
		return nil, err
	}
	frontPort, err := freePort()
	if err != nil {
		return nil, err
	}
	w.admin = fmt.Sprintf("http://127.0.0.1:%d", adminPort)
	w.front = fmt.Sprintf("http://127.0.0.1:%d", frontPort)
	args := []string{"serve", "--data-dir", filepath.Join(dir, "jenkinds"),
		"--listen", fmt.Sprintf("127.0.0.1:%d", adminPort), "--proxy-listen", fmt.Sprintf("127.0.0.1:%d", frontPort),
		"--log-level", "warn"}
	if w.database != "" {
		args = append(args, "--database", w.database)
	}
	args = append(args, strings.Fields(cfg.serveArgs)...)
	if w.jk, err = start(dir, "jenkinds", []string{"JENKINDS_ADMIN_TOKEN=" + adminToken}, cfg.jenkinds, args...); err != nil {
		return nil, err
	}
	if err := waitHTTP(ctx, w.admin+"/healthz", w.jk, 30*time.Second); err != nil {
		return nil, err
	}
	for i, u := range w.simURLs {
		body := map[string]any{"name": fmt.Sprintf("c%d", i+1), "url": u, "username": simUser, "apiToken": simToken}
		if spec.maxConns > 0 {
			body["maxConnections"] = spec.maxConns
		}
		if _, err := w.adminCall(ctx, http.MethodPost, "/api/v1/instances", body, http.StatusCreated); err != nil {
			return nil, fmt.Errorf("register controller %s: %w", u, err)
		}
	}
	if _, err := w.adminCall(ctx, http.MethodPost, "/api/v1/health-checks", map[string]any{}, http.StatusOK); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var list []struct {
			Name         string `json:"name"`
			HealthStatus string `json:"healthStatus"`
		}
		b, err := w.adminCall(ctx, http.MethodGet, "/api/v1/instances", nil, http.StatusOK)
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(b, &list); err != nil {
			return nil, fmt.Errorf("list instances: %w", err)
		}
		healthy := 0
		for _, in := range list {
			if in.HealthStatus == "healthy" {
				healthy++
			}
		}
		if healthy == len(w.simURLs) {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%d of %d controllers healthy after 30s: %s", healthy, len(w.simURLs), b)
		}
		time.Sleep(100 * time.Millisecond)
	}
	ok = true
	return w, nil
}

// startSims starts a simulator process of n controllers with the
// benchmark's job and waits until each answers; it returns the process
// (also on error, when it was started) and the controllers' URLs.
func startSims(ctx context.Context, bin, dir, name, jobs string, n, agents, executors int) (*proc, []string, error) {
	base, err := freeRun(n)
	if err != nil {
		return nil, nil, err
	}
	p, err := start(dir, name, nil, bin, "sim",
		"--controllers", strconv.Itoa(n), "--base-port", strconv.Itoa(base), "--token", simToken, "--user", simUser,
		"--agents", strconv.Itoa(agents), "--executors", strconv.Itoa(executors),
		"--quiet-period", "0", "--build-duration", "0s", "--jobs", jobs)
	if err != nil {
		return nil, nil, err
	}
	var urls []string
	for k := range n {
		u := fmt.Sprintf("http://127.0.0.1:%d", base+k)
		if err := waitHTTP(ctx, u+"/__sim/state", p, 20*time.Second); err != nil {
			return p, nil, err
		}
		urls = append(urls, u)
	}
	return p, urls, nil
}

// freeRun finds n consecutive free ports (a simulator process puts its
// controllers on base-port+i).
func freeRun(n int) (int, error) {
	for range 50 {
		base, err := freePort()
		if err != nil {
			return 0, err
		}
		free := true
		for k := 1; k < n && free; k++ {
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", base+k))
			if free = err == nil; free {
				ln.Close()
			}
		}
		if free && base+n-1 < 65536 {
			return base, nil
		}
	}
	return 0, fmt.Errorf("no run of %d free ports", n)
}

// adminCall calls the admin API and checks the status.
func (w *world) adminCall(ctx context.Context, method, path string, body any, want int) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, w.admin+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		return b, fmt.Errorf("%s %s: HTTP %d, want %d: %s", method, path, res.StatusCode, want, b)
	}
	return b, nil
}

// freshSchema creates an empty schema of its own on the PostgreSQL server
// of rawURL, so every run starts empty and leaves nothing behind, and
// returns the URL that selects it (search_path).
func freshSchema(ctx context.Context, rawURL string) (string, func(), error) {
	admin, err := sql.Open("pgx", rawURL)
	if err != nil {
		return "", nil, err
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "bench_builds_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		return "", nil, fmt.Errorf("create schema on %s: %w", redact(rawURL), err)
	}
	drop := func() {
		c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(c, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			fmt.Fprintf(os.Stderr, "drop schema %s: %v\n", schema, err)
		}
		admin.Close()
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		drop()
		return "", nil, err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), drop, nil
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "the database"
	}
	return u.Redacted()
}
