package api_test

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/jenkinds/jenkinds/internal/api"
	"github.com/jenkinds/jenkinds/internal/api/apitest"
	"github.com/jenkinds/jenkinds/internal/db/dbtest"
	"github.com/jenkinds/jenkinds/internal/dispatch"
)

// buildsFixture is the API with a real build engine over simulated
// Jenkins controllers of cluster "production".
type buildsFixture struct {
	*fixture
	fleet *apitest.Fleet
}

func setupBuilds(t *testing.T, e dbtest.Engine, controllers int) *buildsFixture {
	t.Helper()
	s, fleet := apitest.StartFleet(t, e, apitest.FleetConfig{Controllers: controllers, Cluster: "production"})
	return &buildsFixture{fixture: &fixture{Server: s, ctx: context.Background()}, fleet: fleet}
}

// trigger posts body to POST /api/v1/builds and returns the build.
func (f *buildsFixture) trigger(t *testing.T, body string) api.Build {
	t.Helper()
	r := f.call(t, "POST", "/api/v1/builds", body)
	if r.status != http.StatusCreated {
		t.Fatalf("POST /api/v1/builds %s: got %d %s, want 201", body, r.status, r.body)
	}
	b := decode[api.Build](t, r)
	if want := fmt.Sprintf("/api/v1/builds/%d", b.ID); r.header.Get("Location") != want {
		t.Errorf("Location: got %q, want %q", r.header.Get("Location"), want)
	}
	return b
}

// get returns GET /api/v1/builds/{id}.
func (f *buildsFixture) get(t *testing.T, id int64) api.Build {
	t.Helper()
	r := f.call(t, "GET", fmt.Sprintf("/api/v1/builds/%d", id), "")
	if r.status != http.StatusOK {
		t.Fatalf("GET build %d: got %d %s", id, r.status, r.body)
	}
	return decode[api.Build](t, r)
}

// list returns GET /api/v1/builds?query.
func (f *buildsFixture) list(t *testing.T, query string) api.BuildList {
	t.Helper()
	r := f.call(t, "GET", "/api/v1/builds?"+query, "")
	if r.status != http.StatusOK {
		t.Fatalf("GET /api/v1/builds?%s: got %d %s", query, r.status, r.body)
	}
	return decode[api.BuildList](t, r)
}

func ids(bs []dispatch.Build) []int64 {
	out := []int64{}
	for _, b := range bs {
		out = append(out, b.ID)
	}
	return out
}

// TestControllerBuildLifecycle follows builds from POST to their end on
// every database engine: the answer, the list, the attempts, the console.
func TestControllerBuildLifecycle(t *testing.T) {
	t.Parallel()
	for _, e := range dbtest.Engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			t.Parallel()
			f := setupBuilds(t, e, 2)

			b := f.trigger(t, `{"clusterId":"production","job":"hello"}`)
			if b.Cluster != "production" || b.Job != "hello" || b.Cause.Kind != "api" || b.State.Terminal() ||
				b.Attempts == nil || len(b.Params) != 0 {
				t.Errorf("accepted build: %+v", b)
			}
			if list := f.list(t, "cluster=production"); !slices.Contains(ids(list.Builds), b.ID) || list.Next != "" {
				t.Errorf("list: got %+v, want build %d and no next page", list, b.ID)
			}

			f.fleet.WaitBuild(t, b.ID, apitest.Terminal)
			got := f.get(t, b.ID)
			if got.State != dispatch.StateFinished || got.Result != "SUCCESS" || got.Number != 1 || len(got.Attempts) != 1 {
				t.Fatalf("finished build: %+v", got)
			}
			a := got.Attempts[0]
			names := map[int64]string{}
			for _, inst := range f.fleet.Instances {
				names[inst.ID] = inst.Name
			}
			if a.Attempt != 1 || a.State != dispatch.AttemptFinished || a.Result != "SUCCESS" || a.BackendNumber < 1 ||
				a.ControllerName == "" || a.ControllerName != names[a.ControllerID] {
				t.Errorf("attempt: %+v; controllers %v", a, names)
			}
			r := f.call(t, "GET", fmt.Sprintf("/api/v1/builds/%d", b.ID), "")
			for _, key := range []string{`"controllerId":`, `"controllerName":"jenkins-`, `"backendNumber":`, `"result":"SUCCESS"`, `"attempts":[{`} {
				if !strings.Contains(r.body, key) {
					t.Errorf("GET body %s: want %s", r.body, key)
				}
			}

			// The console, as progressiveText answers it.
			r = f.call(t, "GET", fmt.Sprintf("/api/v1/builds/%d/log", b.ID), "")
			if r.status != 200 || !strings.Contains(r.body, "Finished: SUCCESS") || r.header.Get("X-More-Data") != "false" ||
				r.header.Get("X-Text-Size") != strconv.Itoa(len(r.body)) || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
				t.Errorf("log: got %d %v %q", r.status, r.header, r.body)
			}
			size := r.header.Get("X-Text-Size")
			if r := f.call(t, "GET", fmt.Sprintf("/api/v1/builds/%d/log?start=%s", b.ID, size), ""); r.status != 200 || r.body != "" || r.header.Get("X-Text-Size") != size {
				t.Errorf("log from its end: got %d %v %q", r.status, r.header, r.body)
			}

			// Parameters in the order given, numbers and booleans as text;
			// a folder job.
			p := f.trigger(t, `{"clusterId":"production","job":"build","parameters":{"SIM_RESULT":"UNSTABLE","SEQ":7,"SIM_DURATION_MS":"1"}}`)
			want := []dispatch.Param{{Name: "SIM_RESULT", Value: "UNSTABLE"}, {Name: "SEQ", Value: "7"}, {Name: "SIM_DURATION_MS", Value: "1"}}
			if !reflect.DeepEqual(p.Params, want) {
				t.Errorf("params: got %+v, want %+v", p.Params, want)
			}
			d := f.trigger(t, `{"clusterId":"production","job":"team/deploy","parameters":{"ENV":"staging"}}`)
			if got := f.fleet.WaitBuild(t, p.ID, apitest.Terminal); got.Result != "UNSTABLE" {
				t.Errorf("build with SIM_RESULT=UNSTABLE: %+v", got)
			}
			if got := f.fleet.WaitBuild(t, d.ID, apitest.Terminal); got.Result != "SUCCESS" || got.Job != "team/deploy" {
				t.Errorf("folder job: %+v", got)
			}

			// A finished build cannot be cancelled.
			wantError(t, f.call(t, "POST", fmt.Sprintf("/api/v1/builds/%d/cancel", b.ID), ""), 409, api.CodeBuildEnded, "",
				fmt.Sprintf("build %d already ended (finished SUCCESS)", b.ID))
		})
	}
}

// TestControllerBuildCancel cancels a build that waits and stops one that
// runs.
func TestControllerBuildCancel(t *testing.T) {
	t.Parallel()
	f := setupBuilds(t, sqlite(t), 1)

	held := f.trigger(t, `{"clusterId":"production","job":"hello","delaySeconds":3600}`)
	if held.State != dispatch.StateAccepted || !held.NotBefore.After(held.CreatedAt) {
		t.Errorf("held build: %+v", held)
	}
	r := f.call(t, "POST", fmt.Sprintf("/api/v1/builds/%d/cancel", held.ID), "")
	if c := decode[api.Build](t, r); r.status != 200 || c.State != dispatch.StateCancelled || c.ID != held.ID {
		t.Errorf("cancel: got %d %s", r.status, r.body)
	}
	wantError(t, f.call(t, "POST", fmt.Sprintf("/api/v1/builds/%d/cancel", held.ID), ""), 409, api.CodeBuildEnded, "",
		"already ended (cancelled", "nothing to cancel")
	r = f.call(t, "GET", fmt.Sprintf("/api/v1/builds/%d/log", held.ID), "")
	if r.status != 200 || r.body != "" || r.header.Get("X-Text-Size") != "0" || r.header.Get("X-More-Data") != "false" {
		t.Errorf("log of a build cancelled before it ran: got %d %v %q", r.status, r.header, r.body)
	}

	long := f.trigger(t, `{"clusterId":"production","job":"build","parameters":{"SIM_DURATION_MS":"600000"}}`)
	f.fleet.WaitBuild(t, long.ID, func(b dispatch.Build) bool { return b.State == dispatch.StateRunning })
	r = f.call(t, "GET", fmt.Sprintf("/api/v1/builds/%d/log", long.ID), "")
	if r.status != 200 || r.header.Get("X-More-Data") != "true" {
		t.Errorf("log of a running build: got %d %v %q", r.status, r.header, r.body)
	}
	r = f.call(t, "POST", fmt.Sprintf("/api/v1/builds/%d/cancel", long.ID), "")
	if c := decode[api.Build](t, r); r.status != 200 || !c.StopRequested {
		t.Errorf("cancel of a running build: got %d %s", r.status, r.body)
	}
	if got := f.fleet.WaitBuild(t, long.ID, apitest.Terminal); got.Result != "ABORTED" && got.State != dispatch.StateCancelled {
		t.Errorf("stopped build: %+v, want ABORTED", got)
	}
}

// TestControllerBuildList pages through builds and filters them.
func TestControllerBuildList(t *testing.T) {
	t.Parallel()
	f := setupBuilds(t, sqlite(t), 1)
	var hello []int64
	for range 5 {
		hello = append(hello, f.trigger(t, `{"clusterId":"production","job":"hello","delaySeconds":3600}`).ID)
	}
	deploy := f.trigger(t, `{"clusterId":"production","job":"team/deploy","delaySeconds":3600}`).ID

	var all []int64
	page := f.list(t, "limit=2")
	for pages := 1; ; pages++ {
		if len(page.Builds) > 2 {
			t.Fatalf("page %d: %d builds, limit 2", pages, len(page.Builds))
		}
		all = append(all, ids(page.Builds)...)
		if page.Next == "" {
			if pages != 3 {
				t.Errorf("6 builds by 2: got %d pages", pages)
			}
			break
		}
		if page.Next != strconv.FormatInt(page.Builds[len(page.Builds)-1].ID, 10) {
			t.Errorf("next %q: want the last id of the page", page.Next)
		}
		page = f.list(t, "limit=2&after="+page.Next)
	}
	if want := append(slices.Clone(hello), deploy); !slices.Equal(all, want) {
		t.Errorf("all pages: got %v, want %v", all, want)
	}
	if r := f.call(t, "GET", "/api/v1/builds", ""); !strings.Contains(r.body, `"next":""`) || strings.Contains(r.body, `"attempts"`) {
		t.Errorf("GET /api/v1/builds: %s", r.body)
	}

	for _, tt := range []struct {
		query string
		want  []int64
	}{
		{"job=team/deploy", []int64{deploy}},
		{"job=hello&state=accepted&limit=3", hello[:3]},
		{"state=running", []int64{}},
		{"cluster=staging", []int64{}},
		{"cluster=production&after=" + strconv.FormatInt(hello[3], 10), []int64{hello[4], deploy}},
	} {
		if got := ids(f.list(t, tt.query).Builds); !slices.Equal(got, tt.want) {
			t.Errorf("?%s: got %v, want %v", tt.query, got, tt.want)
		}
	}
}

// TestControllerBuildErrors checks the answers to what cannot be done,
// each naming the problem.
func TestControllerBuildErrors(t *testing.T) {
	t.Parallel()
	f := setupBuilds(t, sqlite(t), 1)
	for _, tt := range []struct {
		name, method, path, body string
		status                   int
		code, field              string
		mentions                 []string
	}{
		{"unknown job", "POST", "/api/v1/builds", `{"clusterId":"production","job":"nope"}`,
			404, api.CodeNotFound, "job", []string{`"nope"`, `"production"`}},
		{"unknown cluster", "POST", "/api/v1/builds", `{"clusterId":"staging","job":"hello"}`,
			404, api.CodeNotFound, "job", []string{`"hello"`, `"staging"`}},
		{"parameters to a job without", "POST", "/api/v1/builds", `{"clusterId":"production","job":"hello","parameters":{"ENV":"qa"}}`,
			400, api.CodeInvalidField, "parameters", []string{`"hello"`, "not parameterized"}},
		{"disabled job", "POST", "/api/v1/builds", `{"clusterId":"production","job":"off"}`,
			409, api.CodeConflict, "job", []string{`"off"`, "not buildable"}},
		{"no job", "POST", "/api/v1/builds", `{"clusterId":"production"}`,
			400, api.CodeInvalidField, "job", []string{"required"}},
		{"parameters as a list", "POST", "/api/v1/builds", `{"clusterId":"production","job":"build","parameters":[{"name":"SEQ","value":"1"}]}`,
			400, api.CodeInvalidField, "parameters", []string{"object of names to values"}},
		{"a parameter's value an object", "POST", "/api/v1/builds", `{"clusterId":"production","job":"build","parameters":{"SEQ":{"v":1}}}`,
			400, api.CodeInvalidField, "parameters", []string{`"SEQ"`, "a string, a number or a boolean"}},
		{"a parameter twice", "POST", "/api/v1/builds", `{"clusterId":"production","job":"build","parameters":{"SEQ":"1","SEQ":"2"}}`,
			400, api.CodeInvalidField, "parameters", []string{`"SEQ" is given twice`}},
		{"an empty parameter name", "POST", "/api/v1/builds", `{"clusterId":"production","job":"build","parameters":{"":"1"}}`,
			400, api.CodeInvalidField, "parameters", []string{"empty name"}},
		{"negative delay", "POST", "/api/v1/builds", `{"clusterId":"production","job":"hello","delaySeconds":-1}`,
			400, api.CodeInvalidField, "delaySeconds", []string{"between 0 and"}},
		{"a pipeline field", "POST", "/api/v1/builds", `{"clusterId":"production","job":"hello","steps":[{"test":"make"}]}`,
			400, api.CodeInvalidField, "steps", []string{"pipeline builds", "clusterId, job"}},
		{"delay on a pipeline build", "POST", "/api/v1/builds", `{"pipeline":"web/app","job":"main","delaySeconds":5}`,
			400, api.CodeInvalidField, "delaySeconds", []string{"Jenkins-controller builds"}},
		{"unknown field", "POST", "/api/v1/builds", `{"clusterId":"production","job":"hello","params":{}}`,
			400, api.CodeUnknownField, "params", []string{"clusterId", "parameters", "delaySeconds"}},
		{"bad id", "GET", "/api/v1/builds/x", "", 400, api.CodeInvalidParameter, "id", []string{"positive integer"}},
		{"no such build", "GET", "/api/v1/builds/999", "", 404, api.CodeNotFound, "", []string{"999"}},
		{"cancel no such build", "POST", "/api/v1/builds/999/cancel", "", 404, api.CodeNotFound, "", nil},
		{"log of no such build", "GET", "/api/v1/builds/999/log", "", 404, api.CodeNotFound, "", nil},
		{"bad state", "GET", "/api/v1/builds?state=done", "", 400, api.CodeInvalidParameter, "state", []string{`"done"`, "accepted, placed, running, finished, failed or cancelled"}},
		{"limit 0", "GET", "/api/v1/builds?limit=0", "", 400, api.CodeInvalidParameter, "limit", []string{"between 1 and 1000"}},
		{"limit too large", "GET", "/api/v1/builds?limit=1001", "", 400, api.CodeInvalidParameter, "limit", []string{"between 1 and 1000"}},
		{"limit not a number", "GET", "/api/v1/builds?limit=ten", "", 400, api.CodeInvalidParameter, "limit", []string{`"ten"`}},
		{"bad cursor", "GET", "/api/v1/builds?after=-1", "", 400, api.CodeInvalidParameter, "after", []string{"cursor"}},
		{"clusterId instead of cluster", "GET", "/api/v1/builds?clusterId=production", "", 400, api.CodeInvalidParameter, "clusterId", []string{"cluster, job, state, after, limit"}},
		{"bad log offset", "GET", "/api/v1/builds/1/log?start=-5", "", 400, api.CodeInvalidParameter, "start", []string{"X-Text-Size"}},
		{"cancel with GET", "GET", "/api/v1/builds/1/cancel", "", 405, api.CodeMethodNotAllowed, "", []string{"POST"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, f.call(t, tt.method, tt.path, tt.body), tt.status, tt.code, tt.field, tt.mentions...)
		})
	}
	if logs := f.Logs.String(); strings.Contains(logs, "level=ERROR") {
		t.Errorf("bad requests were logged as errors:\n%s", logs)
	}
	if list := f.list(t, ""); len(list.Builds) != 0 {
		t.Errorf("refused requests left builds: %+v", list.Builds)
	}
}

// TestControllerBuildsNotEnabled checks the routes of a server without a
// build engine.
func TestControllerBuildsNotEnabled(t *testing.T) {
	t.Parallel()
	f := setup(t, sqlite(t))
	for _, tt := range []struct{ method, path, body string }{
		{"POST", "/api/v1/builds", `{"clusterId":"production","job":"hello"}`},
		{"GET", "/api/v1/builds", ""},
		{"GET", "/api/v1/builds/1", ""},
		{"POST", "/api/v1/builds/1/cancel", ""},
		{"GET", "/api/v1/builds/1/log", ""},
	} {
		wantError(t, f.call(t, tt.method, tt.path, tt.body), 501, api.CodeNotEnabled, "", "Jenkins-controller builds are not enabled")
	}
	// Pipeline builds' queue jobs keep their own ids and routes.
	wantError(t, f.call(t, "GET", "/api/v1/queue/jobs/1", ""), 404, api.CodeNotFound, "")
}

// TestOpenAPIBuildSchemas checks the schemas of controller builds against
// their Go types, whose fields are partly promoted from package dispatch.
func TestOpenAPIBuildSchemas(t *testing.T) {
	t.Parallel()
	doc, _ := loadOpenAPI(t)
	for _, tt := range []struct {
		schema string
		goType any
	}{
		{"Build", api.Build{}},
		{"Attempt", api.Attempt{}},
		{"BuildList", api.BuildList{}},
		{"Param", dispatch.Param{}},
		{"Cause", dispatch.Cause{}},
	} {
		s, ok := doc.Components.Schemas[tt.schema]
		if !ok {
			t.Errorf("schema %s: missing", tt.schema)
			continue
		}
		var props []string
		for p := range s.Properties {
			props = append(props, p)
		}
		slices.Sort(props)
		fields := promotedJSONFields(reflect.TypeOf(tt.goType))
		if !slices.Equal(props, fields) {
			t.Errorf("schema %s: properties\n  %q\nbut %T has the JSON fields\n  %q", tt.schema, props, tt.goType, fields)
		}
		for _, r := range s.Required {
			if !slices.Contains(props, r) {
				t.Errorf("schema %s: requires %q, which is not a property", tt.schema, r)
			}
		}
	}
}

// promotedJSONFields lists the JSON field names encoding/json gives t:
// embedded structs flattened, exported or not, a shallower field hiding a
// deeper one of the same name.
func promotedJSONFields(t reflect.Type) []string {
	var names []string
	seen := map[string]bool{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		var embedded []reflect.Type
		for f := range t.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			switch {
			case name == "-":
			case f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct:
				embedded = append(embedded, f.Type)
			case !f.IsExported():
			default:
				if name == "" {
					name = f.Name
				}
				if !seen[name] {
					seen[name] = true
					names = append(names, name)
				}
			}
		}
		for _, e := range embedded {
			walk(e)
		}
	}
	walk(t)
	slices.Sort(names)
	return names
}
