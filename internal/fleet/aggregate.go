package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/jenkinds/jenkinds/internal/controller"
	"github.com/jenkinds/jenkinds/internal/dispatch"
	"github.com/jenkinds/jenkinds/internal/jenkins"
	st "github.com/jenkinds/jenkinds/internal/stapler"
)

// answer is one controller's JSON, decoded, with its URLs already mapped
// onto the front door.
type answer struct {
	rt   *controller.Runtime
	m    map[string]any
	err  error
	code int
	body []byte
}

// readJSON GETs path with the client's query and credentials from rt.
func (f *Front) readJSON(ctx context.Context, q *req, rt *controller.Runtime, path string) answer {
	if raw := q.r.URL.RawQuery; raw != "" {
		path += "?" + raw
	}
	ctx, cancel := context.WithTimeout(ctx, f.cfg.RequestTimeout)
	defer cancel()
	res, err := f.fetch(ctx, rt, http.MethodGet, path, q.r.Header.Get("Authorization"))
	if err != nil {
		return answer{rt: rt, err: err}
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return answer{rt: rt, err: err}
	}
	if res.StatusCode != http.StatusOK {
		return answer{rt: rt, code: res.StatusCode, body: body,
			err: &jenkins.StatusError{Method: http.MethodGet, URL: rt.Instance().Name + "/" + path, Code: res.StatusCode}}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return answer{rt: rt, err: fmt.Errorf("decode the answer of %s: %w", rt.Instance().Name, err)}
	}
	base := strings.TrimSuffix(rt.Instance().URL, "/") + "/"
	front := origin(q.r)
	mapStrings(m, func(s string) string {
		if strings.HasPrefix(s, base) {
			return front + s[len(base):]
		}
		return s
	})
	return answer{rt: rt, m: m, code: http.StatusOK}
}

// readAll asks every controller in rts at once.
func (f *Front) readAll(q *req, rts []*controller.Runtime, path string) []answer {
	out := make([]answer, len(rts))
	var wg sync.WaitGroup
	for i, rt := range rts {
		wg.Go(func() { out[i] = f.readJSON(q.r.Context(), q, rt, path) })
	}
	wg.Wait()
	return out
}

// failed answers when no controller gave JSON: the client's own error
// (401, 403, 404, a malformed tree) if a controller said so, else 503.
func failed(q *req, as []answer) {
	for _, a := range as {
		if a.code != 0 && a.code != http.StatusServiceUnavailable && a.code < 502 {
			q.w.Header().Set("Content-Type", "text/html;charset=utf-8")
			q.w.WriteHeader(a.code)
			_, _ = q.w.Write(a.body)
			return
		}
	}
	msg := "no Jenkins controller of cluster " + q.cluster + " answered"
	for _, a := range as {
		if a.err != nil {
			msg += "; " + a.rt.Instance().Name + ": " + a.err.Error()
		}
	}
	unavailable(q.w, msg)
}

func (q *req) writeMap(m map[string]any) {
	body, err := json.Marshal(m)
	if err != nil {
		serverError(q.w, err.Error())
		return
	}
	writeBody(q, body)
}

// serveJob answers /job/X/api/json: the job as a controller that has it
// describes it, with its builds, permalinks, next number, queue state and
// color from jenkinds' history of the job across the cluster.
func (f *Front) serveJob(q *req) {
	if !f.authenticate(q, q.job) {
		return
	}
	ctx := q.r.Context()
	info, err := q.jobInfo(q.job)
	if errors.Is(err, dispatch.ErrUnknownJob) {
		f.next.ServeHTTP(q.w, q.r) // a folder: as any controller shows it
		return
	}
	if err != nil {
		writeBuildError(q, err)
		return
	}
	var tried []answer
	var a answer
	for _, rt := range f.usable(info.Controllers) {
		if a = f.readJSON(ctx, q, rt, jenkins.JobPath(q.job)+"api/json"); a.m != nil {
			break
		}
		tried = append(tried, a)
	}
	if a.m == nil {
		failed(q, tried)
		return
	}
	opts, ok := jsonOptions(q)
	if !ok {
		return
	}
	var ours map[string]any
	dec := json.NewDecoder(bytes.NewReader(st.Marshal(f.jobOverlay(q, info), opts)))
	dec.UseNumber()
	if err := dec.Decode(&ours); err != nil {
		serverError(q.w, err.Error())
		return
	}
	for k, v := range ours {
		if _, asked := a.m[k]; !asked || k == "_class" {
			continue
		}
		if k == "color" && a.m[k] == "disabled" {
			continue
		}
		a.m[k] = v
	}
	q.writeMap(a.m)
}

// jobOverlay is what jenkinds knows better than any one controller about
// a job; each value is computed only if the request asks for it.
func (f *Front) jobOverlay(q *req, info dispatch.JobInfo) *st.Object {
	ctx, v, job := q.r.Context(), f.newView(q), q.job
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

// serveRoot answers /api/json: the first controller's root, with the jobs
// of every controller of the cluster merged by name (folders too).
func (f *Front) serveRoot(q *req) {
	if !f.authenticate(q, "") {
		return
	}
	as := f.readAll(q, f.clusterControllers(q.cluster), "api/json")
	var base map[string]any
	for _, a := range as {
		if a.m == nil {
			continue
		}
		if base == nil {
			base = a.m
			continue
		}
		if jobs, ok := a.m["jobs"].([]any); ok {
			base["jobs"] = mergeByName(base["jobs"], jobs)
		}
	}
	if base == nil {
		failed(q, as)
		return
	}
	f.recolor(q, base["jobs"], "")
	q.writeMap(base)
}

// recolor sets the color of each listed job that jenkinds has builds of
// from its history across controllers (as /job/X/api/json shows it).
func (f *Front) recolor(q *req, list any, prefix string) {
	jobs, _ := list.([]any)
	var v *view
	for _, x := range jobs {
		m, ok := x.(map[string]any)
		name, named := m["name"].(string)
		if !ok || !named {
			continue
		}
		if sub, ok := m["jobs"]; ok {
			f.recolor(q, sub, prefix+name+"/")
			continue
		}
		c, ok := m["color"].(string)
		if !ok || c == "disabled" {
			continue
		}
		if v == nil {
			v = f.newView(q)
		}
		if recent, err := f.builds.History(q.r.Context(), q.cluster, prefix+name, 0, 1); err == nil && len(recent) > 0 {
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
	as := f.readAll(q, f.clusterControllers(q.cluster), "computer/api/json")
	var base map[string]any
	seen := map[string]bool{}
	var busy, total int64
	for _, a := range as {
		if a.m == nil {
			continue
		}
		nodes, _ := a.m["computer"].([]any)
		for _, x := range nodes {
			if m, ok := x.(map[string]any); ok {
				if name, ok := m["displayName"].(string); ok {
					if seen[name] {
						m["displayName"] = name + " on " + a.rt.Instance().Name
					}
					seen[name] = true
				}
			}
		}
		busy += number(a.m["busyExecutors"])
		total += number(a.m["totalExecutors"])
		if base == nil {
			base = a.m
			continue
		}
		if list, ok := base["computer"].([]any); ok {
			base["computer"] = append(list, nodes...)
		}
	}
	if base == nil {
		failed(q, as)
		return
	}
	if _, ok := base["busyExecutors"]; ok {
		base["busyExecutors"] = busy
	}
	if _, ok := base["totalExecutors"]; ok {
		base["totalExecutors"] = total
	}
	q.writeMap(base)
}

func number(x any) int64 {
	if n, ok := x.(json.Number); ok {
		v, _ := n.Int64()
		return v
	}
	return 0
}
