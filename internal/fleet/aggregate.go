package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/jenkinds/jenkinds/internal/catalog"
	"github.com/jenkinds/jenkinds/internal/controller"
	"github.com/jenkinds/jenkinds/internal/dispatch"
	"github.com/jenkinds/jenkinds/internal/jenkins"
	st "github.com/jenkinds/jenkinds/internal/stapler"
)

// decode reads r's JSON, with the controller's URLs mapped onto the front
// door's origin (base: the front door's, with a trailing slash).
func decode(rt *controller.Runtime, r *catalog.Read, base string) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(r.Body))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("decode the answer of %s: %w", rt.Name(), err)
	}
	ctl := strings.TrimSuffix(rt.Instance().URL, "/") + "/"
	mapStrings(m, func(s string) string {
		if strings.HasPrefix(s, ctl) {
			return base + s[len(ctl):]
		}
		return s
	})
	return m, nil
}

// failed is the answer when no controller gave JSON: the caller's own
// error (401, 403, 404, a malformed tree) if a controller said so, else
// 503.
func failed(q *req, src source) *rendered {
	for _, r := range src.reads {
		if r != nil && r.Code != 0 && r.Code != http.StatusOK && r.Code != http.StatusServiceUnavailable && r.Code < 502 {
			h := http.Header{}
			for k, v := range r.Header {
				if k != "X-Jenkins-Session" && k != "X-Jenkins" {
					h[k] = v
				}
			}
			return &rendered{status: r.Code, header: h, body: r.Body}
		}
	}
	msg := "no Jenkins controller of cluster " + q.cluster + " answered"
	if p := src.partial(); p != "" {
		msg += ": " + p
	}
	return unavailableAnswer(msg)
}

// unavailableAnswer is a 503 saying why, to come back in 5 s.
func unavailableAnswer(msg string) *rendered {
	return &rendered{status: http.StatusServiceUnavailable,
		header: http.Header{"Retry-After": {"5"}, "Content-Type": textType},
		body:   []byte("jenkinds: " + msg + "\n")}
}

// jsonAnswer encodes m.
func jsonAnswer(m map[string]any) *rendered {
	body, err := json.Marshal(m)
	if err != nil {
		return &rendered{status: http.StatusInternalServerError, header: http.Header{"Content-Type": textType}, body: []byte(err.Error())}
	}
	return &rendered{status: http.StatusOK, body: body}
}

// firstRead reads path from the first of rts that answers, as q's
// caller: a controller that does not answer within the hedge deadline is
// passed over for the next (the hedge); a controller's own refusal (401,
// 403, 404) is the answer.
func (f *Front) firstRead(q *req, rts []*controller.Runtime, path string) source {
	if raw := q.r.URL.RawQuery; raw != "" {
		path += "?" + raw
	}
	auth := q.r.Header.Get("Authorization")
	var tried source
	for _, rt := range rts {
		r, _ := f.cat.Get(q.r.Context(), rt, q.scope, auth, path)
		tried.reads, tried.rts = append(tried.reads, r), append(tried.rts, rt)
		if r != nil && r.Code != http.StatusServiceUnavailable && r.Code < 500 {
			return source{reads: []*catalog.Read{r}, rts: []*controller.Runtime{rt}, version: f.cat.Version(q.cluster)}
		}
	}
	tried.version = f.cat.Version(q.cluster)
	return tried
}

// serveJob answers /job/X/api/json: the job as a controller that has it
// describes it, with its builds, permalinks, next number, queue state and
// color from jenkinds' history of the job across the cluster.
func (f *Front) serveJob(q *req) {
	if !f.authenticate(q, q.job) {
		return
	}
	info, err := q.jobInfo(q.job)
	if errors.Is(err, catalog.ErrUnknownJob) {
		f.next.ServeHTTP(q.w, q.r) // a folder: as any controller shows it
		return
	}
	if err != nil {
		writeBuildError(q, err)
		return
	}
	opts, ok := jsonOptions(q)
	if !ok {
		return
	}
	src := f.firstRead(q, f.usable(info.Controllers), jenkins.JobPath(q.job)+"api/json")
	f.serveRendered(q, src, func(ctx context.Context) *rendered {
		r := src.reads[0]
		if len(src.reads) != 1 || r == nil || r.Code != http.StatusOK {
			return failed(q, src)
		}
		m, err := decode(src.rts[0], r, origin(q.r))
		if err != nil {
			return unavailableAnswer(err.Error())
		}
		var ours map[string]any
		dec := json.NewDecoder(bytes.NewReader(st.Marshal(f.jobOverlay(ctx, q, info), opts)))
		dec.UseNumber()
		if err := dec.Decode(&ours); err != nil {
			return &rendered{status: http.StatusInternalServerError, header: http.Header{"Content-Type": textType}, body: []byte(err.Error())}
		}
		for k, v := range ours {
			if _, asked := m[k]; !asked || k == "_class" {
				continue
			}
			if k == "color" && m[k] == "disabled" {
				continue
			}
			m[k] = v
		}
		return jsonAnswer(m)
	})
}

// jobOverlay is what jenkinds knows better than any one controller about
// a job; each value is computed only if the request asks for it.
func (f *Front) jobOverlay(ctx context.Context, q *req, info catalog.JobInfo) *st.Object {
	v, job := f.newViewCtx(ctx, q), q.job
	v.classes[job] = info.Class
	if info.Class == "" {
		v.classes[job] = freestyleJob
	}
	byNumber := func(n int64, err error) any {
		if err != nil || n == 0 {
			return nil
		}
		b, err := f.builds.GetByNumber(ctx, q.cluster, job, n)
		if err != nil {
			return nil
		}
		return v.build(b)
	}
	link := func(name string) st.Lazy {
		return func() any { return byNumber(f.builds.Permalink(ctx, q.cluster, job, name)) }
	}
	builds := func(limit int) st.Lazy {
		return func() any {
			var out []*st.Object
			var before int64
			for len(out) < limit {
				page, err := f.builds.History(ctx, q.cluster, job, before, min(1000, limit-len(out)))
				if err != nil || len(page) == 0 {
					break
				}
				for _, b := range page {
					out = append(out, v.build(b))
				}
				before = page[len(page)-1].Number
			}
			if out == nil {
				out = []*st.Object{}
			}
			return out
		}
	}
	var waiting []dispatch.Build
	var waitingOnce sync.Once
	queued := func() []dispatch.Build {
		waitingOnce.Do(func() {
			all, _ := f.builds.Waiting(ctx, q.cluster, job, 100)
			for _, b := range all {
				if b.Number == 0 {
					waiting = append(waiting, b)
				}
			}
		})
		return waiting
	}
	return st.New(info.Class,
		st.PV("url", st.VisName, jobURL(v.base, job)),
		st.PV("allBuilds", -2, builds(f.cfg.MaxBuilds)),
		st.P("builds", builds(100)),
		st.PV("color", st.VisColor, st.Lazy(func() any { return v.color(job) })),
		st.P("firstBuild", link("firstBuild")),
		st.P("inQueue", st.Lazy(func() any { return len(queued()) > 0 })),
		st.P("lastBuild", link("lastBuild")),
		st.P("lastCompletedBuild", link("lastCompletedBuild")),
		st.P("lastFailedBuild", link("lastFailedBuild")),
		st.P("lastStableBuild", link("lastStableBuild")),
		st.P("lastSuccessfulBuild", link("lastSuccessfulBuild")),
		st.P("lastUnstableBuild", link("lastUnstableBuild")),
		st.P("lastUnsuccessfulBuild", link("lastUnsuccessfulBuild")),
		st.P("nextBuildNumber", st.Lazy(func() any {
			n, _ := f.builds.NextNumber(ctx, q.cluster, job)
			return n
		})),
		st.P("queueItem", st.Lazy(func() any {
			if w := queued(); len(w) > 0 {
				return v.queueItem(w[0], f.now())
			}
			return nil
		})),
	)
}

// serveRoot answers /api/json (and a view's, /view/NAME/api/json): the
// first controller's root, with the jobs of every controller of the
// cluster merged by name (folders too).
func (f *Front) serveRoot(q *req) {
	if !f.authenticate(q, "") {
		return
	}
	path := "api/json"
	if len(q.rest) >= 3 && q.rest[0] == "view" {
		path = "view/" + url.PathEscape(q.rest[1]) + "/api/json"
	}
	src := f.read(q, f.clusterControllers(q.cluster), path)
	f.serveRendered(q, src, func(ctx context.Context) *rendered {
		var base map[string]any
		for _, a := range src.answers(origin(q.r)) {
			m := a.m
			if base == nil {
				base = m
				continue
			}
			if jobs, ok := m["jobs"].([]any); ok {
				base["jobs"] = mergeByName(base["jobs"], jobs)
			}
		}
		if base == nil {
			return failed(q, src)
		}
		f.recolor(ctx, q, base["jobs"], "")
		return jsonAnswer(base)
	})
}

// recolor sets the color of each listed job that jenkinds has builds of
// from its history across controllers (as /job/X/api/json shows it).
func (f *Front) recolor(ctx context.Context, q *req, list any, prefix string) {
	jobs, _ := list.([]any)
	var v *view
	for _, x := range jobs {
		m, ok := x.(map[string]any)
		name, named := m["name"].(string)
		if !ok || !named {
			continue
		}
		if sub, ok := m["jobs"]; ok {
			f.recolor(ctx, q, sub, prefix+name+"/")
			continue
		}
		c, ok := m["color"].(string)
		if !ok || c == "disabled" {
			continue
		}
		if v == nil {
			v = f.newViewCtx(ctx, q)
		}
		if recent, err := f.builds.History(ctx, q.cluster, prefix+name, 0, 1); err == nil && len(recent) > 0 {
			m["color"] = v.color(prefix + name)
		}
	}
}

// mergeByName adds to list the items of more whose name it lacks, and
// merges the jobs of folders present in both.
func mergeByName(list any, more []any) any {
	have, _ := list.([]any)
	index := map[string]map[string]any{}
	for _, x := range have {
		if m, ok := x.(map[string]any); ok {
			if name, ok := m["name"].(string); ok {
				index[name] = m
			}
		}
	}
	for _, x := range more {
		m, ok := x.(map[string]any)
		name, named := m["name"].(string)
		if !ok || !named {
			have = append(have, x)
			continue
		}
		if old, dup := index[name]; dup {
			if sub, ok := m["jobs"].([]any); ok {
				old["jobs"] = mergeByName(old["jobs"], sub)
			}
			continue
		}
		index[name] = m
		have = append(have, m)
	}
	if have == nil {
		return []any{}
	}
	return have
}

// serveComputers answers /computer/api/json: the nodes of every controller
// of the cluster. A node name that more than one controller uses (every
// controller has a built-in node) is shown as "<name> on <controller>"
// from its second appearance on.
func (f *Front) serveComputers(q *req) {
	if !f.authenticate(q, "") {
		return
	}
	src := f.read(q, f.clusterControllers(q.cluster), "computer/api/json")
	f.serveRendered(q, src, func(context.Context) *rendered {
		var base map[string]any
		seen := map[string]bool{}
		var busy, total int64
		for _, a := range src.answers(origin(q.r)) {
			i, m := a.i, a.m
			nodes, _ := m["computer"].([]any)
			for _, x := range nodes {
				if n, ok := x.(map[string]any); ok {
					if name, ok := n["displayName"].(string); ok {
						if seen[name] {
							n["displayName"] = name + " on " + src.rts[i].Name()
						}
						seen[name] = true
					}
				}
			}
			busy += number(m["busyExecutors"])
			total += number(m["totalExecutors"])
			if base == nil {
				base = m
				continue
			}
			if list, ok := base["computer"].([]any); ok {
				base["computer"] = append(list, nodes...)
			}
		}
		if base == nil {
			return failed(q, src)
		}
		if _, ok := base["busyExecutors"]; ok {
			base["busyExecutors"] = busy
		}
		if _, ok := base["totalExecutors"]; ok {
			base["totalExecutors"] = total
		}
		return jsonAnswer(base)
	})
}

func number(x any) int64 {
	if n, ok := x.(json.Number); ok {
		v, _ := n.Int64()
		return v
	}
	return 0
}
