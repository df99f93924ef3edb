package fleet

import (
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jenkinds/jenkinds/internal/db"
	"github.com/jenkinds/jenkinds/internal/dispatch"
	"github.com/jenkinds/jenkinds/internal/jenkins"
)

// serveTrigger answers POST /job/…/build and /job/…/buildWithParameters:
// the build is accepted durably and placed by package dispatch.
func (f *Front) serveTrigger(q *req) {
	r := q.r
	withParams := q.rest[0] == "buildWithParameters"
	if !parseTriggerForm(q, f.cfg.MaxFormBytes) {
		return
	}
	token, hasToken := r.Form["token"]
	if r.Method != http.MethodPost && !hasToken {
		jenkins.RequirePOST(q.w)
		return
	}
	if r.Header.Get("Authorization") == "" {
		if !hasToken || !f.remoteTrigger(q, token[0]) {
			if !hasToken {
				f.next.ServeHTTP(q.w, r)
			}
			return
		}
	} else if !f.authenticate(q, q.job) {
		return
	}
	ctx := r.Context()
	info, err := q.jobInfo(q.job)
	if err != nil {
		writeBuildError(q, err)
		return
	}
	delay, err := parseDelay(r.Form)
	if err != nil {
		jenkins.Failure(q.w, http.StatusBadRequest, err.Error())
		return
	}
	if !info.Buildable {
		writeBuildError(q, dispatch.ErrNotBuildable)
		return
	}
	var params []dispatch.Param
	switch {
	case withParams:
		// Missing parameters get the job's defaults; unknown names are
		// ignored, as Jenkins does.
		for _, d := range info.ParamDefs {
			if v, ok := r.Form[d.Name]; ok && len(v) > 0 {
				params = append(params, dispatch.Param{Name: d.Name, Value: v[0]})
			} else if d.HasDefault {
				params = append(params, dispatch.Param{Name: d.Name, Value: d.Default})
			}
		}
	case info.Parameterized:
		if params, err = submittedParams(r.Form, info.ParamDefs); err != nil {
			jenkins.Failure(q.w, http.StatusBadRequest, err.Error())
			return
		}
	}
	cause := dispatch.Cause{Kind: "user", UserID: q.user}
	if q.remote != "" {
		cause = dispatch.Cause{Kind: "remote", Addr: q.remote, Note: r.Form.Get("cause")}
	}
	b, err := f.builds.Submit(ctx, dispatch.Request{
		Cluster: q.cluster, Job: q.job, Params: params, Delay: delay, Cause: cause,
		WithParameters: withParams, Coalesce: true,
	})
	if err != nil {
		writeBuildError(q, err)
		return
	}
	q.w.Header().Set("Location", origin(r)+"queue/item/"+strconv.FormatInt(b.ID, 10)+"/")
	if b.Coalesced && withParams {
		q.w.WriteHeader(http.StatusSeeOther) // an identical item waits already (Jenkins ≥ 2.308)
		return
	}
	q.w.WriteHeader(http.StatusCreated)
}

// parseTriggerForm reads a trigger's query and form (urlencoded or
// multipart), at most limit bytes of body: a larger one is 413 and
// nothing is queued. (ParseMultipartForm alone would not say so: for a
// body that is not multipart it returns ErrNotMultipart, not ParseForm's
// "too large", and the build would run with the job's defaults.)
func parseTriggerForm(q *req, limit int64) bool {
	r := q.r
	if r.Body != nil {
		r.Body = http.MaxBytesReader(q.w, r.Body, limit)
	}
	err := r.ParseForm()
	if err == nil {
		if err = r.ParseMultipartForm(1 << 20); errors.Is(err, http.ErrNotMultipart) {
			err = nil
		}
	}
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		jenkins.Failure(q.w, http.StatusRequestEntityTooLarge, fmt.Sprintf(
			"the build request's form is larger than %d bytes: nothing was queued; send fewer or smaller parameters (the front door's --fleet-max-form-bytes)", limit))
		return false
	case err != nil:
		jenkins.Failure(q.w, http.StatusBadRequest, err.Error())
		return false
	}
	return true
}

// maxDelay is the longest delay= taken, as the admin API's delaySeconds.
const maxDelay = 30 * 24 * time.Hour

// parseDelay reads delay= as Jenkins' TimeDuration.fromString: "10sec" is
// ten seconds, a bare "10" ten milliseconds; whole seconds count. No
// delay means at once: jenkinds has no quiet period of its own.
func parseDelay(form url.Values) (time.Duration, error) {
	v, ok := form["delay"]
	if !ok || len(v) == 0 {
		return 0, nil
	}
	s := strings.TrimSpace(v[0])
	mult := time.Millisecond
	if i := strings.LastIndex(s, "sec"); i > 0 && (strings.HasSuffix(s, "sec") || strings.HasSuffix(s, "secs")) {
		s, mult = strings.TrimSpace(s[:i]), time.Second
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("Invalid time duration value: %s", v[0])
	}
	if n > int64(maxDelay/mult) {
		return 0, fmt.Errorf("Invalid time duration value: %s: longer than %d days, the longest delay jenkinds takes", v[0], maxDelay/(24*time.Hour))
	}
	return (time.Duration(n) * mult).Truncate(time.Second), nil
}

// submittedParams reads the json form field of POST /build on a
// parameterized job (ParametersDefinitionProperty._doBuild):
// json={"parameter":[{"name":"P","value":"x"}]}.
func submittedParams(form url.Values, defs []dispatch.ParamDef) ([]dispatch.Param, error) {
	raw := form.Get("json")
	if raw == "" {
		if len(form) == 0 {
			return nil, errors.New("Nothing is submitted")
		}
		return nil, errors.New("This page expects a form submission")
	}
	var body struct {
		Parameter json.RawMessage `json:"parameter"`
	}
	if err := json.Unmarshal([]byte(raw), &body); err != nil {
		return nil, errors.New("This page expects a form submission")
	}
	type nv struct {
		Name  string `json:"name"`
		Value any    `json:"value"`
	}
	var list []nv
	if p := body.Parameter; len(p) > 0 {
		var err error
		if p[0] == '{' {
			var one nv
			err = json.Unmarshal(p, &one)
			list = []nv{one}
		} else {
			err = json.Unmarshal(p, &list)
		}
		if err != nil {
			return nil, errors.New("This page expects a form submission")
		}
	}
	got := map[string]string{}
	for _, p := range list {
		known := false
		for _, d := range defs {
			known = known || d.Name == p.Name
		}
		if !known {
			return nil, fmt.Errorf("No such parameter definition: %s", p.Name)
		}
		got[p.Name] = fmt.Sprint(p.Value)
	}
	var out []dispatch.Param
	for _, d := range defs {
		if v, ok := got[d.Name]; ok {
			out = append(out, dispatch.Param{Name: d.Name, Value: v})
		} else if d.HasDefault {
			out = append(out, dispatch.Param{Name: d.Name, Value: d.Default})
		}
	}
	return out, nil
}

// writeBuildError answers err of package dispatch as Jenkins would.
func writeBuildError(q *req, err error) {
	var be *dispatch.BackendError
	switch {
	case errors.Is(err, dispatch.ErrUnknownJob), errors.Is(err, dispatch.ErrNotFound):
		jenkins.NotFound(q.w)
	case errors.Is(err, dispatch.ErrNotBuildable):
		jenkins.Page(q.w, http.StatusConflict, "Error", html.EscapeString(q.job)+" is not buildable")
	case errors.Is(err, dispatch.ErrNotParameterized):
		jenkins.Failure(q.w, http.StatusBadRequest, q.job+" is not parameterized")
	case errors.Is(err, dispatch.ErrInvalid):
		jenkins.Failure(q.w, http.StatusBadRequest, err.Error())
	case errors.As(err, new(*unreachable)):
		jenkins.ServiceUnavailable(q.w, err.Error(), retryAfter)
	case errors.As(err, &be):
		if be.Unavailable() {
			jenkins.ServiceUnavailable(q.w, err.Error(), retryAfter)
			return
		}
		q.w.Header()["Content-Type"] = textType
		q.w.WriteHeader(http.StatusBadGateway)
		_, _ = q.w.Write([]byte("jenkinds: " + err.Error() + "\n"))
	case q.r.Context().Err() != nil:
		// the client went away
	case db.IsTransient(err):
		// The database was unreachable for longer than the retries: try
		// again later, as for a controller that cannot answer.
		q.front.log.Warn("database unavailable", "method", q.r.Method, "path", q.r.URL.Path, "err", err)
		jenkins.ServiceUnavailable(q.w, "jenkinds: the database is unavailable: "+err.Error(), retryAfter)
	default:
		q.front.log.Error("internal error", "method", q.r.Method, "path", q.r.URL.Path, "err", err)
		jenkins.ServerError(q.w, "jenkinds: "+err.Error())
	}
}
