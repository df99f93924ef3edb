package fleet

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/jenkinds/jenkinds/internal/catalog"
	"github.com/jenkinds/jenkinds/internal/dispatch"
	"github.com/jenkinds/jenkinds/internal/jenkins"
	st "github.com/jenkinds/jenkinds/internal/stapler"
)

// The Jenkins objects jenkinds renders from its own records, with the
// classes, fields and visibilities of the Jenkins model (see
// internal/jenkinssim/api.go, which mirrors Jenkins).

const freestyleJob = "hudson.model.FreeStyleProject"

// buildClass is the class of the builds of a job class.
func buildClass(jobClass string) string {
	switch jobClass {
	case "org.jenkinsci.plugins.workflow.job.WorkflowJob":
		return "org.jenkinsci.plugins.workflow.job.WorkflowRun"
	case "hudson.matrix.MatrixProject":
		return "hudson.matrix.MatrixBuild"
	case "hudson.maven.MavenModuleSet":
		return "hudson.maven.MavenModuleSetBuild"
	}
	return "hudson.model.FreeStyleBuild"
}

// buildResult is the Jenkins result of a build: its counted attempt's,
// FAILURE when jenkinds gave up on it, ABORTED when it was stopped or
// cancelled after it had run; nil while it is not over.
func buildResult(b dispatch.Build) any {
	switch b.State {
	case dispatch.StateFinished:
		if b.Result != "" {
			return b.Result
		}
		return "FAILURE"
	case dispatch.StateFailed:
		return "FAILURE"
	case dispatch.StateCancelled:
		return "ABORTED"
	}
	return nil
}

// building: it has run and is not over (a build placed again after its
// controller died keeps its number and is still building).
func building(b dispatch.Build) bool { return b.Number > 0 && !b.State.Terminal() }

func ms(t time.Time) int64 { return t.UnixMilli() }

func shortName(job string) string { return job[strings.LastIndexByte(job, '/')+1:] }

func causeObject(c dispatch.Cause) *st.Object {
	switch c.Kind {
	case "remote":
		desc := "Started by remote host " + c.Addr
		if c.Note != "" {
			desc += " with note: " + c.Note
		}
		return st.Nested("hudson.model.Cause$RemoteCause",
			st.PV("shortDescription", 3, desc), st.PV("addr", 3, c.Addr), st.PV("note", 3, nullable(c.Note)))
	case dispatch.CauseDirect:
		desc := c.Description
		if desc == "" {
			desc = "Started on a controller directly"
		}
		return st.Nested("hudson.model.Cause", st.PV("shortDescription", 3, desc))
	}
	user := c.UserID
	if user == "" {
		user = "jenkinds"
	}
	return st.Nested("hudson.model.Cause$UserIdCause",
		st.PV("shortDescription", 3, "Started by user "+user), st.PV("userId", 3, user), st.PV("userName", 3, user))
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (v *view) actionObjects(b dispatch.Build) []*st.Object {
	actions := []*st.Object{st.Nested("hudson.model.CauseAction", st.PV("causes", 2, []*st.Object{causeObject(b.Cause)}))}
	if len(b.Params) > 0 {
		classes := v.paramClasses(b.Job)
		vals := make([]*st.Object, len(b.Params))
		for i, p := range b.Params {
			cls := classes[p.Name]
			var val any = p.Value
			switch cls {
			case "":
				cls = "hudson.model.StringParameterValue"
			case "hudson.model.BooleanParameterValue":
				val = p.Value == "true"
			}
			vals[i] = st.Nested(cls, st.PV("name", 3, p.Name), st.PV("value", 4, val))
		}
		actions = append(actions, st.Nested("hudson.model.ParametersAction", st.PV("parameters", 2, vals)))
	}
	return actions
}

// view renders the objects of one job for one request.
type view struct {
	ctx      context.Context
	builds   Builds
	cat      *catalog.Catalog
	base     string // the front door's origin, with a trailing slash
	cluster  string
	classes  map[string]string            // job → class
	pclasses map[string]map[string]string // job → parameter → class of its values
	colors   map[string]string            // job → color
	describe func(controllerID int64) string
}

// paramClasses are the classes of the values of job's parameters.
func (v *view) paramClasses(job string) map[string]string {
	if m, ok := v.pclasses[job]; ok {
		return m
	}
	m := map[string]string{}
	if info, err := v.cat.Job(v.ctx, v.cluster, job); err == nil {
		for _, d := range info.ParamDefs {
			m[d.Name] = d.Class
		}
	}
	if v.pclasses == nil {
		v.pclasses = map[string]map[string]string{}
	}
	v.pclasses[job] = m
	return m
}

func (v *view) jobClass(job string) string {
	if c, ok := v.classes[job]; ok {
		return c
	}
	c := freestyleJob
	if info, err := v.cat.Job(v.ctx, v.cluster, job); err == nil && info.Class != "" {
		c = info.Class
	}
	v.classes[job] = c
	return c
}

// color is the job's ball: from its newest completed build, animated while
// one runs.
func (v *view) color(job string) string {
	if c, ok := v.colors[job]; ok {
		return c
	}
	c := "notbuilt"
	if recent, err := v.builds.History(v.ctx, v.cluster, job, 0, 20); err == nil {
		anime := false
		for _, b := range recent {
			if building(b) {
				anime = true
				continue
			}
			res, _ := buildResult(b).(string)
			c = jenkins.BallColor(res)
			break
		}
		if anime {
			c += "_anime"
		}
	}
	v.colors[job] = c
	return c
}

func (v *view) buildURL(job string, n int64) string {
	return jobURL(v.base, job) + strconv.FormatInt(n, 10) + "/"
}

// buildRef is a build as a job lists it at depth 0: class, number, url.
func (v *view) buildRef(b dispatch.Build) *st.Object {
	return st.Nested(buildClass(v.jobClass(b.Job)),
		st.PV("number", st.VisNumber, b.Number),
		st.PV("url", st.VisNumber, v.buildURL(b.Job, b.Number)))
}

// build is a build's whole object, from jenkinds' record.
func (v *view) build(b dispatch.Build) *st.Object {
	var duration int64
	if b.StartedAt != nil && b.FinishedAt != nil {
		duration = b.FinishedAt.Sub(*b.StartedAt).Milliseconds()
	}
	start := b.CreatedAt
	if b.StartedAt != nil {
		start = *b.StartedAt
	}
	n := strconv.FormatInt(b.Number, 10)
	var desc any
	if b.State == dispatch.StateFailed {
		desc = "jenkinds gave up on this build: " + b.Reason
	}
	cls := v.jobClass(b.Job)
	o := st.Nested(buildClass(cls),
		st.P("actions", v.actionObjects(b)),
		st.P("artifacts", []*st.Object{}),
		st.P("building", building(b)),
		st.P("description", desc),
		st.P("displayName", "#"+n),
		st.P("duration", duration),
		st.P("estimatedDuration", int64(-1)),
		st.P("executor", nil),
		st.P("fullDisplayName", b.Job+" #"+n),
		st.P("id", n),
		st.P("inProgress", building(b)),
		st.P("keepLog", false),
		st.PV("number", st.VisNumber, b.Number),
		st.P("queueId", b.ID),
		st.P("result", buildResult(b)),
		st.P("timestamp", ms(start)),
		st.PV("url", st.VisNumber, v.buildURL(b.Job, b.Number)),
	)
	if cur, ok := b.Current(); ok && v.describe != nil {
		o.Add(st.P("builtOn", v.describe(cur.ControllerID)))
	}
	return o
}

// task is the job as a queue item shows it.
func (v *view) task(job string) *st.Object {
	return st.Nested(v.jobClass(job),
		st.PV("name", st.VisName, shortName(job)),
		st.PV("url", st.VisName, jobURL(v.base, job)),
		st.PV("color", st.VisColor, st.Lazy(func() any { return v.color(job) })))
}

// paramsString is Queue.Item.getParams: "\nNAME=value" per parameter.
func paramsString(ps []dispatch.Param) string {
	var sb strings.Builder
	for _, p := range ps {
		sb.WriteString("\n" + p.Name + "=" + p.Value)
	}
	return sb.String()
}

// queueItem is the build as Jenkins shows a queue item: waiting or
// buildable while jenkinds holds or places it, a LeftItem with its
// executable once it has run, cancelled when it never will.
func (v *view) queueItem(b dispatch.Build, now time.Time) *st.Object {
	var cls string
	var why any
	blocked, buildable := false, false
	switch {
	case b.Number > 0 || b.State.Terminal():
		cls = "hudson.model.Queue$LeftItem"
	case now.Before(b.NotBefore):
		cls = "hudson.model.Queue$WaitingItem"
		why = "In the quiet period. Expires in " + jenkins.TimeSpan(b.NotBefore.Sub(now))
	default:
		cls, buildable = "hudson.model.Queue$BuildableItem", true
		why = "Waiting for next available executor"
		if b.State == dispatch.StatePlaced {
			why = "Waiting for next available executor on a controller of cluster " + b.Cluster
		}
	}
	o := st.Nested(cls,
		st.PV("actions", st.VisName, v.actionObjects(b)),
		st.PV("blocked", st.VisName, blocked),
		st.PV("buildable", st.VisName, buildable),
		st.PV("id", st.VisName, b.ID),
		st.PV("inQueueSince", st.VisName, ms(b.CreatedAt)),
		st.PV("params", st.VisName, paramsString(b.Params)),
		st.PV("stuck", st.VisName, false),
		st.PV("task", st.VisName, v.task(b.Job)),
		st.PV("url", st.VisName, "queue/item/"+strconv.FormatInt(b.ID, 10)+"/"),
		st.PV("why", st.VisName, why),
	)
	switch cls {
	case "hudson.model.Queue$WaitingItem":
		o.Add(st.PV("timestamp", st.VisName, ms(b.NotBefore)))
	case "hudson.model.Queue$BuildableItem":
		o.Add(st.PV("buildableStartMilliseconds", st.VisName, ms(b.NotBefore)), st.PV("pending", st.VisName, false))
	default:
		var exe any
		if b.Number > 0 {
			exe = st.Lazy(func() any { return v.build(b) })
		}
		o.Add(st.PV("cancelled", st.VisName, b.Number == 0), st.PV("executable", st.VisName, exe))
	}
	return o
}
