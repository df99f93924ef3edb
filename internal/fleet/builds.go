package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/jenkinds/jenkinds/internal/controller"
	"github.com/jenkinds/jenkinds/internal/dispatch"
	"github.com/jenkinds/jenkinds/internal/jenkins"
	st "github.com/jenkinds/jenkinds/internal/stapler"
)

// serveBuildResource answers /job/X/<n or permalink>/… in the global
// numbering of the job.
func (f *Front) serveBuildResource(q *req) {
	if !f.authenticate(q, q.job) {
		return
	}
	ctx := q.r.Context()
	ref, tail := q.rest[0], q.rest[1:]
	var n int64
	if isNumber(ref) {
		n, _ = strconv.ParseInt(ref, 10, 64)
	} else {
		var err error
		if n, err = f.builds.Permalink(ctx, q.cluster, q.job, ref); err != nil {
			writeBuildError(q, err)
			return
		}
	}
	if n <= 0 {
		jenkins.NotFound(q.w)
		return
	}
	b, err := f.builds.GetByNumber(ctx, q.cluster, q.job, n)
	if err != nil {
		writeBuildError(q, err)
		return
	}
	// Actions match on their name whatever follows and whatever the
	// method (docs/stapler-dispatch.md §2, §3).
	if h, _ := api(tail, func(q *req) { f.serveBuildJSON(q, b) }); h != nil {
		h(q)
		return
	}
	switch {
	case (len(tail) == 0 || len(tail) == 1 && (tail[0] == "api" || tail[0] == "logText")) && !q.path.Slash:
		// Stapler's directory redirect, answered here: the controller's
		// would carry its own build number.
		jenkins.AddSlash(q.w, q.r, q.path.Canonical())
	case at(tail, "consoleText"):
		f.serveConsole(q, b)
	case at(tail, "logText", "progressiveText"), at(tail, "logText", "progressiveHtml"):
		f.serveProgressive(q, b, tail[1] == "progressiveHtml")
	case at(tail, "stop"), at(tail, "term"), at(tail, "kill"):
		f.serveStop(q, b)
	default:
		f.proxyToBuild(q, b, tail)
	}
}

// counted is the attempt whose build the global number stands for, with
// a backend build number.
func counted(b dispatch.Build) (dispatch.Attempt, bool) {
	a, ok := b.Current()
	return a, ok && a.BackendNumber > 0
}

// serveBuildJSON answers /job/X/N/api/json from the controller that ran
// the build, with its ids rewritten to the front door's; from jenkinds'
// record when that controller cannot answer within the hedge deadline
// (X-Jenkinds-Partial says so) or lost the build.
func (f *Front) serveBuildJSON(q *req, b dispatch.Build) {
	a, ok := counted(b)
	var src source
	var rt *controller.Runtime
	if ok {
		if rts := f.usable([]int64{a.ControllerID}); len(rts) == 1 {
			rt = rts[0]
			src = f.firstRead(q, rts, jenkins.JobPath(b.Job)+strconv.FormatInt(a.BackendNumber, 10)+"/api/json")
		}
	}
	src.version = f.cat.Version(q.cluster)
	opts, optsOK := jsonOptions(q)
	if !optsOK {
		return
	}
	f.serveRendered(q, src, func(ctx context.Context) *rendered {
		v := f.newViewCtx(ctx, q)
		if len(src.reads) == 1 && src.reads[0] != nil {
			r := src.reads[0]
			switch {
			case r.Code == http.StatusOK:
				if out, err := rewriteBuild(r.Body, b, a, rt.Instance().URL, v); err == nil {
					return &rendered{status: http.StatusOK, body: out}
				}
			case r.Code == http.StatusUnauthorized || r.Code == http.StatusForbidden ||
				r.Code == http.StatusInternalServerError: // a malformed tree is the client's
				return failed(q, src)
			}
		}
		// The controller is gone, down, silent or lost the build: jenkinds'
		// record.
		return &rendered{status: http.StatusOK, body: st.Marshal(v.build(b), opts)}
	})
}

// copyAnswer passes a controller's answer on.
func copyAnswer(w http.ResponseWriter, res *http.Response, body []byte) {
	for _, k := range []string{"Content-Type", "WWW-Authenticate", "X-Error"} {
		if v := res.Header.Get(k); v != "" {
			w.Header().Set(k, v)
		}
	}
	w.WriteHeader(res.StatusCode)
	_, _ = w.Write(body)
}

// rewriteBuild maps a controller's build JSON onto the front door: its
// number, id, names, url and queueId become the global ones, and URLs of
// the controller become the front door's.
func rewriteBuild(body []byte, b dispatch.Build, a dispatch.Attempt, ctlURL string, v *view) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	n, backend := strconv.FormatInt(b.Number, 10), strconv.FormatInt(a.BackendNumber, 10)
	set := func(k string, val any) {
		if _, ok := m[k]; ok {
			m[k] = val
		}
	}
	// Whether it is over, and how, is jenkinds' to say: a build its
	// controller lost in a restart reads "FAILURE" there until jenkinds
	// places it again, and only the counted attempt's result is the build's.
	set("building", building(b))
	set("inProgress", building(b))
	set("result", buildResult(b))
	set("number", b.Number)
	set("id", n)
	set("queueId", b.ID)
	set("url", v.buildURL(b.Job, b.Number))
	if s, ok := m["displayName"].(string); ok && s == "#"+backend {
		m["displayName"] = "#" + n
	}
	if s, ok := m["fullDisplayName"].(string); ok && strings.HasSuffix(s, " #"+backend) {
		m["fullDisplayName"] = strings.TrimSuffix(s, " #"+backend) + " #" + n
	}
	// Neighbours on the controller are not the neighbours in the global
	// numbering.
	set("previousBuild", nil)
	set("nextBuild", nil)
	ctlBase := strings.TrimSuffix(ctlURL, "/") + "/"
	r := strings.NewReplacer(ctlBase+jenkins.JobPath(b.Job)+backend+"/", v.buildURL(b.Job, b.Number), ctlBase, v.base)
	out, err := json.Marshal(mapStrings(m, r.Replace))
	if err != nil {
		return nil, err
	}
	return out, nil
}

// mapStrings applies fn to every string in a decoded JSON value.
func mapStrings(x any, fn func(string) string) any {
	switch t := x.(type) {
	case string:
		return fn(t)
	case map[string]any:
		for k, v := range t {
			t[k] = mapStrings(v, fn)
		}
	case []any:
		for i, v := range t {
			t[i] = mapStrings(v, fn)
		}
	}
	return x
}

// serveConsole answers consoleText: the console of the counted attempt so
// far.
//
// The console is only on the controller that ran the build: when that
// controller answers nothing by the hedge deadline (see Watcher), the
// answer is 503 with Retry-After and X-Jenkinds-Partial at once, not a
// wait for the request timeout.
func (f *Front) serveConsole(q *req, b dispatch.Build) {
	ctx, silent := f.onlyOn(q.r.Context(), b)
	text, _, _, err := f.builds.Log(ctx, b.ID, 0)
	if who := silent(); who != "" {
		q.w.Header().Set("X-Jenkinds-Partial", who+" did not answer")
		jenkins.ServiceUnavailable(q.w, fmt.Sprintf("the console of %s #%d is on controller %s, which answered nothing within %s: ask again later",
			b.Job, b.Number, who, f.cat.Config().HedgeAfter), retryAfter)
		return
	}
	if err != nil {
		writeBuildError(q, err)
		return
	}
	q.w.Header()["Content-Type"] = textType
	q.w.Header().Set("Content-Length", strconv.Itoa(len(text)))
	if q.r.Method != http.MethodHead {
		_, _ = q.w.Write(text)
	}
}

// serveProgressive answers logText/progressiveText?start=N with
// X-Text-Size and, while the build is not over, X-More-Data: true.
//
// When the controller that ran the build answers nothing by the hedge
// deadline (see Watcher), or cannot be reached (down, restarting), the
// answer is no new text, X-Text-Size: N and
// X-More-Data: true, with X-Jenkinds-Partial: a poller asks again, as
// it would have for a build that printed nothing meanwhile.
func (f *Front) serveProgressive(q *req, b dispatch.Build, asHTML bool) {
	if err := q.r.ParseForm(); err != nil {
		jenkins.Failure(q.w, http.StatusBadRequest, err.Error())
		return
	}
	start, _ := strconv.ParseInt(q.r.Form.Get("start"), 10, 64)
	start = max(start, 0)
	ctx, silent := f.onlyOn(q.r.Context(), b)
	text, size, more, err := f.builds.Log(ctx, b.ID, start)
	h := q.w.Header()
	who := silent()
	var be *dispatch.BackendError
	if who == "" && errors.As(err, &be) && be.Unavailable() && q.r.Context().Err() == nil {
		who = f.controllerName(be.ControllerID) // down, restarting, or cut off
	}
	if who != "" {
		h.Set("X-Jenkinds-Partial", who+" did not answer")
		text, size, more, err = nil, start, true, nil
	}
	if err != nil {
		writeBuildError(q, err)
		return
	}
	h["Content-Type"] = textType
	if asHTML {
		h.Set("Content-Type", "text/html;charset=utf-8")
	}
	h.Set("X-Text-Size", strconv.FormatInt(size, 10))
	if more {
		h.Set("X-More-Data", "true")
	}
	_, _ = q.w.Write(text)
}

// serveStop answers POST …/N/stop: jenkinds stops the counted attempt (and
// will not place the build again), then redirects as Jenkins does.
func (f *Front) serveStop(q *req, b dispatch.Build) {
	if q.r.Method != http.MethodPost {
		jenkins.RequirePOST(q.w)
		return
	}
	if _, err := f.builds.Stop(q.r.Context(), b.ID); err != nil && !errors.Is(err, dispatch.ErrFinished) {
		writeBuildError(q, err)
		return
	}
	f.log.Info("build stopped", "cluster", q.cluster, "job", b.Job, "number", b.Number, "id", b.ID, "user", q.user)
	to := q.r.Header.Get("Referer")
	if to == "" {
		to = f.newView(q).buildURL(b.Job, b.Number)
	}
	http.Redirect(q.w, q.r, to, http.StatusFound)
}

// proxyToBuild sends anything else under a build (its page, artifacts,
// test report) to the controller that ran it, with the backend number.
func (f *Front) proxyToBuild(q *req, b dispatch.Build, tail []string) {
	a, ok := counted(b)
	if !ok {
		jenkins.NotFound(q.w)
		return
	}
	backend := "/" + jenkins.JobPath(b.Job) + strconv.FormatInt(a.BackendNumber, 10) + "/"
	global := "/" + jenkins.JobPath(b.Job) + strconv.FormatInt(b.Number, 10) + "/"
	if backend != global {
		// The controller's redirects under the build (Stapler's directory
		// redirect of artifact, testReport…) name its own number: they
		// must lead to the same build in the front door's numbering.
		q.w = &relocate{ResponseWriter: q.w, from: backend, to: global}
	}
	f.proxyTo(q, a.ControllerID, backend, tail)
}

// relocate rewrites a redirect's Location under the path from (a build in
// a controller's numbering) to the same place under to.
type relocate struct {
	http.ResponseWriter
	from, to string
}

func (w *relocate) WriteHeader(code int) {
	if code >= 300 && code < 400 {
		h := w.Header()
		if u, err := url.Parse(h.Get("Location")); err == nil && strings.HasPrefix(u.EscapedPath(), w.from) {
			if p, err := url.Parse(w.to + strings.TrimPrefix(u.EscapedPath(), w.from)); err == nil {
				u.Path, u.RawPath = p.Path, p.RawPath
				h.Set("Location", u.String())
			}
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController (the proxy's flushes) reach the
// writer below.
func (w *relocate) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// onlyOn returns the context for a request that only the controller of
// b's counted attempt can answer, watched by the Watcher; silent, called
// once the request is over, names that controller when the watcher gave
// up on it while the client still waited, else "".
func (f *Front) onlyOn(ctx context.Context, b dispatch.Build) (context.Context, func() string) {
	a, ok := counted(b)
	if !ok {
		return ctx, func() string { return "" }
	}
	return f.watched(ctx, a.ControllerID)
}

// watched is onlyOn for controller id.
func (f *Front) watched(ctx context.Context, id int64) (context.Context, func() string) {
	rt := f.pool.Get(id)
	if f.watch == nil || rt == nil {
		return ctx, func() string { return "" }
	}
	wctx, stop := f.watch.Watch(ctx, rt, f.cat.Config().HedgeAfter)
	return wctx, func() string {
		defer stop()
		if wctx.Err() != nil && ctx.Err() == nil { // only the watcher cancels it before stop
			return rt.Name()
		}
		return ""
	}
}

// headerWritten tells whether a response was started.
type headerWritten struct {
	http.ResponseWriter
	wrote bool
}

func (w *headerWritten) WriteHeader(code int) {
	w.wrote = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *headerWritten) Write(p []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController (the proxy's flushes) reach the
// writer below.
func (w *headerWritten) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// proxyTo sends q to controller id only, at prefix (escaped, ending in
// "/") followed by the segments tail, keeping a trailing slash. No other
// controller can answer it: when id answers nothing by the hedge
// deadline (see Watcher), the answer is 503 with Retry-After and
// X-Jenkinds-Partial at once.
func (f *Front) proxyTo(q *req, id int64, prefix string, tail []string) {
	var p strings.Builder
	p.WriteString(prefix)
	for i, s := range tail {
		if i > 0 {
			p.WriteByte('/')
		}
		p.WriteString(url.PathEscape(s))
	}
	if len(tail) > 0 && strings.HasSuffix(q.r.URL.Path, "/") {
		p.WriteByte('/')
	}
	u, err := url.Parse(p.String())
	if err != nil {
		jenkins.NotFound(q.w)
		return
	}
	ctx, silent := f.watched(q.r.Context(), id)
	r2 := q.r.Clone(ctx)
	r2.URL.Path, r2.URL.RawPath = u.Path, u.RawPath
	w := &headerWritten{ResponseWriter: q.w}
	f.next.ServeHTTP(w, f.pin(r2, id))
	if who := silent(); who != "" && !w.wrote {
		q.w.Header().Set("X-Jenkinds-Partial", who+" did not answer")
		jenkins.ServiceUnavailable(q.w, fmt.Sprintf("%s is only on controller %s, which answered nothing within %s: ask again later",
			q.r.URL.Path, who, f.cat.Config().HedgeAfter), retryAfter)
	}
}
