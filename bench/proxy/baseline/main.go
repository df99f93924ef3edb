// Command baseline is the plainest Go reverse proxy one would write: an
// httputil.ReverseProxy that sends each request to the next backend in
// turn, over a clone of http.DefaultTransport whose idle pool per backend is
// raised so keep-alive connections are reused under load. No health checks,
// no retries, no ejection. bench/proxy/run.sh measures it beside nginx,
// HAProxy and jenkinds as the floor jenkinds must never fall below.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(os.Args[1:], log); err != nil {
		log.Error("baseline stopped", "err", err)
		os.Exit(1)
	}
}

func run(args []string, log *slog.Logger) error {
	fs := flag.NewFlagSet("baseline", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:18810", "address to listen on")
	backends := fs.String("backends", "", "comma-separated backend URLs or host:port pairs (required)")
	idle := fs.Int("max-idle-per-host", 256, "idle keep-alive connections kept per backend")
	if err := fs.Parse(args); err != nil {
		return err
	}
	targets, err := parseBackends(*backends)
	if err != nil {
		return err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = *idle * len(targets)
	tr.MaxIdleConnsPerHost = *idle
	rp := newProxy(targets, tr, log)

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *listen, err)
	}
	srv := &http.Server{
		Handler:           rp,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	log.Info("baseline proxy listening", "addr", ln.Addr().String(), "backends", len(targets))
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve on %s: %w", *listen, err)
	}
	return nil
}

// newProxy returns a ReverseProxy that rotates over targets. It keeps
// ReverseProxy's defaults everywhere else: a failed request is logged and
// answered 502.
func newProxy(targets []*url.URL, tr http.RoundTripper, log *slog.Logger) *httputil.ReverseProxy {
	var next atomic.Uint64
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			t := targets[(next.Add(1)-1)%uint64(len(targets))]
			pr.SetURL(t)
			pr.SetXForwarded()
		},
		Transport: tr,
		ErrorLog:  slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// parseBackends reads "127.0.0.1:1,http://127.0.0.1:2" into URLs.
func parseBackends(s string) ([]*url.URL, error) {
	var out []*url.URL
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "://") {
			f = "http://" + f
		}
		u, err := url.Parse(f)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return nil, fmt.Errorf("-backends: %q is not host:port or an http(s) URL", f)
		}
		out = append(out, u)
	}
	if len(out) == 0 {
		return nil, errors.New("-backends: give at least one backend")
	}
	return out, nil
}
