package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/testkit"
)

// bundle is one running backend.
type bundle struct {
	url  string
	addr string
	srv  *server
}

func setup(t *testing.T) bundle {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer("b2", "0badf00d", time.Now)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return bundle{url: "http://" + ln.Addr().String(), addr: ln.Addr().String(), srv: srv}
}

// do sends one request with Go's client. It is safe from any goroutine:
// it reports, never fails the test.
func do(ctx context.Context, method, url, body string, header http.Header) (*http.Response, string, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		return nil, "", err
	}
	if body == "" {
		req.Body = nil
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

func TestEndpoints(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tests := []struct {
		method, path string
		code         int
		contains     string
	}{
		{"GET", "/api/json", 200, `"mode":"NORMAL"`},
		{"GET", "/api/json?tree=quietingDown,mode", 200, `"quietingDown":false`},
		{"GET", "/job/deploy/api/json", 200, `"_class":"hudson.model.Hudson"`},
		{"GET", "/computer/api/json?tree=busyExecutors", 200, `{"busyExecutors":0,"totalExecutors":2,"computer":[{"_class":"hudson.model.Hudson$MasterComputer","offline":false}]}`},
		{"GET", "/queue/api/json", 200, `{"items":[]}`},
		{"GET", "/login", 200, "Sign in"},
		{"GET", "/health", 200, "true"},
		{"HEAD", "/api/json", 200, ""},
		{"GET", "/nope", 404, "404"},
		{"POST", "/api/json", 405, "405"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			t.Parallel()
			resp, body, err := do(context.Background(), tt.method, b.url+tt.path, "",
				http.Header{"Authorization": {"Basic YWRtaW46eA=="}}) // any credentials pass
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.code || !strings.Contains(body, tt.contains) {
				t.Fatalf("got %d %q, want %d containing %q", resp.StatusCode, body, tt.code, tt.contains)
			}
			want := map[string]string{"X-Jenkins": jenkinsVersion, "X-Jenkins-Session": "0badf00d", "X-Backend": "b2"}
			if tt.code == 200 && strings.HasSuffix(strings.Split(tt.path, "?")[0], "/api/json") {
				want["Content-Type"] = "application/json;charset=utf-8"
			}
			for k, v := range want {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if resp.Header.Get("Date") == "" {
				t.Error("no Date header")
			}
		})
	}
}

// rawExchange writes raw to a new connection and reads n answers from it.
func rawExchange(t *testing.T, addr, raw string, n int) ([]*http.Response, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	var out []*http.Response
	for range n {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		out = append(out, resp)
	}
	return out, br
}

func TestPipelinedKeepAlive(t *testing.T) {
	t.Parallel()
	b := setup(t)
	resps, _ := rawExchange(t, b.addr,
		"GET /api/json HTTP/1.1\r\nHost: x\r\n\r\nGET /login HTTP/1.1\r\nHost: x\r\n\r\nGET /queue/api/json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 3)
	for i, resp := range resps {
		if resp.StatusCode != 200 {
			t.Errorf("answer %d: %d", i, resp.StatusCode)
		}
	}
	if !resps[2].Close {
		t.Error("Connection: close was not honoured")
	}
}

// HAProxy's httpchk sends HTTP/1.0 requests: one answer, then close.
func TestHTTP10ClosesUnlessKeepAlive(t *testing.T) {
	t.Parallel()
	b := setup(t)
	resps, br := rawExchange(t, b.addr, "GET /login HTTP/1.0\r\n\r\n", 1)
	if resps[0].StatusCode != 200 || !resps[0].Close {
		t.Fatalf("HTTP/1.0: %d close=%v, want 200 and close", resps[0].StatusCode, resps[0].Close)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("after an HTTP/1.0 answer: %v, want EOF", err)
	}
	resps, _ = rawExchange(t, b.addr, "GET /login HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /health HTTP/1.0\r\n\r\n", 2)
	if resps[0].Close || resps[0].Header.Get("Connection") != "keep-alive" {
		t.Fatalf("HTTP/1.0 keep-alive: close=%v Connection %q", resps[0].Close, resps[0].Header.Get("Connection"))
	}
}

func TestMalformedRequestIs400(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, raw := range []string{
		"GARBAGE\r\n\r\n",
		"GET / HTTP/2.0\r\n\r\n",
		"POST /__sim/faults HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET / HTTP/1.1\r\nno colon\r\n\r\n",
	} {
		resps, _ := rawExchange(t, b.addr, raw, 1)
		if resps[0].StatusCode != 400 || !resps[0].Close {
			t.Errorf("%q: %d close=%v, want 400 and close", raw, resps[0].StatusCode, resps[0].Close)
		}
	}
}

func TestHangHoldsRequestsUntilCleared(t *testing.T) {
	t.Parallel()
	b := setup(t)
	resp, body, err := do(context.Background(), "POST", b.url+"/__sim/faults", `{"kind":"hang"}`, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("POST /__sim/faults: %v %v %q", resp, err, body)
	}
	waitHung := func(n int64) {
		t.Helper()
		var hung int64
		testkit.Eventually(t, 5*time.Second, func() bool {
			hung = b.srv.faults.status().Hung
			return hung == n
		}, func() string { return fmt.Sprintf("%d requests hung (%d are)", n, hung) })
	}

	// A request abandoned by its client while hung is never answered.
	ctx, cancel := context.WithCancel(context.Background())
	abandoned := make(chan error, 1)
	go func() {
		_, _, err := do(ctx, "GET", b.url+"/api/json", "", http.Header{"X-Bench-Load": {"1"}})
		abandoned <- err
	}()
	waitHung(1)
	cancel()
	if err := <-abandoned; err == nil {
		t.Fatal("a hung request was answered")
	}
	waitHung(0)

	// One still waiting when the fault is cleared gets its answer.
	answered := make(chan string, 1)
	go func() {
		_, body, err := do(context.Background(), "GET", b.url+"/queue/api/json", "", nil)
		if err != nil {
			body = err.Error()
		}
		answered <- body
	}()
	waitHung(1)

	_, body, err = do(context.Background(), "GET", b.url+"/__sim/faults", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var st status
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("GET /__sim/faults %q: %v", body, err)
	}
	if st.Kind != "hang" || st.Hung != 1 || st.LastLoadRequest == nil {
		t.Fatalf("status = %+v, want a hang holding 1 with a last load request", st)
	}

	if _, _, err := do(context.Background(), "DELETE", b.url+"/__sim/faults", "", nil); err != nil {
		t.Fatal(err)
	}
	if got := <-answered; got != `{"items":[]}` {
		t.Fatalf("held request answered %q", got)
	}
}

func TestFaultKindValidated(t *testing.T) {
	t.Parallel()
	b := setup(t)
	resp, _, err := do(context.Background(), "POST", b.url+"/__sim/faults", `{"kind":"slow"}`, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("unknown kind: %d, want 400", resp.StatusCode)
	}
}
