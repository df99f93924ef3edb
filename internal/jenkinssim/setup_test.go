package jenkinssim

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/testkit"
)

// bundle is one running simulator and a client for it.
type bundle struct {
	t    *testing.T
	c    *Controller
	http *http.Client
}

// setup starts a controller with instant quiet period and 50 ms builds.
func setup(t *testing.T, mod ...func(*Config)) *bundle {
	t.Helper()
	cfg := Config{
		QuietPeriod:     0,
		BuildDuration:   Duration{Min: 50 * time.Millisecond, Max: 50 * time.Millisecond},
		RestartDuration: 300 * time.Millisecond,
		Token:           "11tok",
		Password:        "pw",
	}
	for _, m := range mod {
		m(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := c.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	client := &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return &bundle{t: t, c: c, http: client}
}

type reqOpt func(*http.Request)

func anon(r *http.Request)              { r.Header.Del("Authorization") }
func withPassword(r *http.Request)      { r.SetBasicAuth("admin", "pw") }
func header(k, v string) reqOpt         { return func(r *http.Request) { r.Header.Set(k, v) } }
func withCookie(ck *http.Cookie) reqOpt { return func(r *http.Request) { r.AddCookie(ck) } }

// do sends a request authenticated with the API token unless opts change it.
func (b *bundle) do(method, path, body string, opts ...reqOpt) (*http.Response, string) {
	b.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, strings.TrimSuffix(b.c.URL(), "/")+path, rd)
	if err != nil {
		b.t.Fatal(err)
	}
	req.SetBasicAuth("admin", "11tok")
	for _, o := range opts {
		o(req)
	}
	resp, err := b.http.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp, string(data)
}

func (b *bundle) status(method, path, body string, want int, opts ...reqOpt) (*http.Response, string) {
	b.t.Helper()
	resp, data := b.do(method, path, body, opts...)
	if resp.StatusCode != want {
		b.t.Fatalf("%s %s: status %d, want %d; body: %.300s", method, path, resp.StatusCode, want, data)
	}
	return resp, data
}

// json GETs path and decodes the answer.
func (b *bundle) json(path string) map[string]any {
	b.t.Helper()
	_, data := b.status("GET", path, "", 200)
	var m map[string]any
	if err := json.Unmarshal([]byte(data), &m); err != nil {
		b.t.Fatalf("GET %s: %v in %.300s", path, err, data)
	}
	return m
}

// trigger POSTs path and returns the queue id from Location.
func (b *bundle) trigger(path string) int {
	b.t.Helper()
	resp, _ := b.status("POST", path, "", 201)
	return queueID(b.t, resp.Header.Get("Location"))
}

func queueID(t *testing.T, loc string) int {
	t.Helper()
	i := strings.Index(loc, "/queue/item/")
	if i < 0 || !strings.HasSuffix(loc, "/") {
		t.Fatalf("Location %q: want …/queue/item/N/", loc)
	}
	n := 0
	for _, ch := range strings.TrimSuffix(loc[i+len("/queue/item/"):], "/") {
		n = n*10 + int(ch-'0')
	}
	return n
}

// waitBuild waits for queue item qid to start and its build to finish,
// returning the build's JSON.
func (b *bundle) waitBuild(job string, qid int) map[string]any {
	b.t.Helper()
	var number float64
	testkit.Eventually(b.t, 10*time.Second, func() bool {
		item := b.json("/queue/item/" + itoa(qid) + "/api/json")
		if exe, ok := item["executable"].(map[string]any); ok {
			number = exe["number"].(float64)
			return true
		}
		return false
	}, testkit.Sayf("queue item to start"))
	var build map[string]any
	testkit.Eventually(b.t, 10*time.Second, func() bool {
		build = b.json("/job/" + job + "/" + itoa(int(number)) + "/api/json")
		return build["building"] == false
	}, testkit.Sayf("build to finish"))
	return build
}

func itoa(n int) string { return strconv.Itoa(n) }

func newJar(t *testing.T) http.CookieJar {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return jar
}
