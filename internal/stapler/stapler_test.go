package stapler

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func build(n int) *Object {
	return Nested("hudson.model.FreeStyleBuild",
		PV("number", VisNumber, n),
		PV("url", VisNumber, "http://h/job/x/"+itoa(n)+"/"),
		P("result", "SUCCESS"),
	)
}

func itoa(n int) string { return string(rune('0' + n)) }

func job() *Object {
	builds := []*Object{build(3), build(2), build(1)}
	return New("hudson.model.FreeStyleProject",
		P("actions", []*Object{{}, New("hudson.model.ParametersDefinitionProperty")}),
		PV("name", VisName, "x"),
		PV("url", VisName, "http://h/job/x/"),
		P("builds", builds),
		PV("color", VisColor, "blue"),
		P("lastBuild", builds[0]),
		P("nextBuildNumber", 4),
		PI("property", []*Object{New("hudson.model.ParametersDefinitionProperty",
			PV("parameterDefinitions", 2, []*Object{Nested("hudson.model.StringParameterDefinition", PV("name", 3, "P"))}))}),
		P("description", nil),
	)
}

func TestMarshal(t *testing.T) {
	tests := []struct {
		name string
		opts func(t *testing.T) Options
		want string
	}{
		{"depth 0", depth(0), `{"_class":"hudson.model.FreeStyleProject","actions":[{},{}],"name":"x","url":"http://h/job/x/",` +
			`"builds":[{"_class":"hudson.model.FreeStyleBuild","number":3,"url":"http://h/job/x/3/"},{"_class":"hudson.model.FreeStyleBuild","number":2,"url":"http://h/job/x/2/"},{"_class":"hudson.model.FreeStyleBuild","number":1,"url":"http://h/job/x/1/"}],` +
			`"color":"blue","lastBuild":{"_class":"hudson.model.FreeStyleBuild","number":3,"url":"http://h/job/x/3/"},"nextBuildNumber":4,` +
			`"property":[{"parameterDefinitions":[{"_class":"hudson.model.StringParameterDefinition","name":"P"}]}],"description":null}`},
		{"depth 1 shows nested default-visibility fields", depth(1), ""},
		{"tree with range", tree("builds[number]{0,2}"), `{"_class":"hudson.model.FreeStyleProject","builds":[{"_class":"hudson.model.FreeStyleBuild","number":3},{"_class":"hudson.model.FreeStyleBuild","number":2}]}`},
		{"tree single element range", tree("builds[number]{1}"), `{"_class":"hudson.model.FreeStyleProject","builds":[{"_class":"hudson.model.FreeStyleBuild","number":2}]}`},
		{"tree open ranges", tree("builds[number]{2,},nextBuildNumber"), `{"_class":"hudson.model.FreeStyleProject","builds":[{"_class":"hudson.model.FreeStyleBuild","number":1}],"nextBuildNumber":4}`},
		{"tree upper range", tree("builds[number]{,1}"), `{"_class":"hudson.model.FreeStyleProject","builds":[{"_class":"hudson.model.FreeStyleBuild","number":3}]}`},
		{"unknown names omitted", tree("name,nope,lastBuild[nope]"), `{"_class":"hudson.model.FreeStyleProject","name":"x","lastBuild":{"_class":"hudson.model.FreeStyleBuild"}}`},
		{"star", tree("lastBuild[*]"), `{"_class":"hudson.model.FreeStyleProject","lastBuild":{"_class":"hudson.model.FreeStyleBuild","number":3,"url":"http://h/job/x/3/","result":"SUCCESS"}}`},
		{"object without children is empty", tree("lastBuild,actions"), `{"_class":"hudson.model.FreeStyleProject","actions":[{},{}],"lastBuild":{"_class":"hudson.model.FreeStyleBuild"}}`},
		{"null stays null", tree("description"), `{"_class":"hudson.model.FreeStyleProject","description":null}`},
		{"tree ignores visibility", tree("property[parameterDefinitions[name]]"), `{"_class":"hudson.model.FreeStyleProject","property":[{"parameterDefinitions":[{"_class":"hudson.model.StringParameterDefinition","name":"P"}]}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(Marshal(job(), tt.opts(t)))
			if !json.Valid([]byte(got)) {
				t.Fatalf("invalid JSON: %s", got)
			}
			if tt.want != "" && got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestDepthOneRevealsNestedFields(t *testing.T) {
	var m map[string]any
	if err := json.Unmarshal(Marshal(job(), Options{Depth: 1}), &m); err != nil {
		t.Fatal(err)
	}
	lb := m["lastBuild"].(map[string]any)
	if lb["result"] != "SUCCESS" {
		t.Errorf("depth=1 lastBuild.result: got %v, want SUCCESS", lb["result"])
	}
	var m0 map[string]any
	_ = json.Unmarshal(Marshal(job(), Options{}), &m0)
	if _, ok := m0["lastBuild"].(map[string]any)["result"]; ok {
		t.Errorf("depth=0 must not show lastBuild.result")
	}
}

func depth(d int) func(*testing.T) Options {
	return func(*testing.T) Options { return Options{Depth: d} }
}

func tree(expr string) func(*testing.T) Options {
	return func(t *testing.T) Options {
		tr, err := ParseTree(expr)
		if err != nil {
			t.Fatalf("ParseTree(%q): %v", expr, err)
		}
		return Options{Tree: tr}
	}
}

func TestParseTreeMalformed(t *testing.T) {
	for _, expr := range []string{"jobs[name", "jobs]", "a,,b", "builds{x}", "builds{1", "[x]", "a{-1}"} {
		_, err := ParseTree(expr)
		var me *MalformedError
		if !errors.As(err, &me) {
			t.Errorf("ParseTree(%q): got %v, want MalformedError", expr, err)
		}
	}
}

func TestPythonJenkinsAllJobsTree(t *testing.T) {
	// python-jenkins get_all_jobs: nested jobs trees end in a bare "jobs".
	expr := "jobs[url,color,name,jobs]"
	inner := New("com.cloudbees.hudson.plugins.folder.Folder", PV("name", VisName, "b"), PV("url", VisName, "u2"),
		P("jobs", []*Object{Nested("hudson.model.FreeStyleProject", PV("name", VisName, "c"))}))
	inner.ShowClass = true
	root := New("hudson.model.Hudson", P("jobs", []*Object{inner}))
	got := string(Marshal(root, tree(expr)(t)))
	want := `{"_class":"hudson.model.Hudson","jobs":[{"_class":"com.cloudbees.hudson.plugins.folder.Folder","name":"b","url":"u2","jobs":[{"_class":"hudson.model.FreeStyleProject"}]}]}`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestLazyOnlyWhenReached(t *testing.T) {
	calls := 0
	o := New("c", P("a", 1), P("deep", Lazy(func() any { calls++; return New("d", P("x", 1)) })))
	Marshal(o, tree("a")(t))
	if calls != 0 {
		t.Errorf("lazy evaluated %d times for an unselected property", calls)
	}
	got := string(Marshal(o, tree("deep[x]")(t)))
	if got != `{"_class":"c","deep":{"x":1}}` || calls != 1 {
		t.Errorf("got %s after %d calls", got, calls)
	}
}

func TestStringsAndFloats(t *testing.T) {
	o := New("c", P("s", "a\"b\\c\n\x01é"), P("f", 2.0), P("g", 0.25), P("fs", []float64{1, 1.5}))
	got := string(Marshal(o, Options{}))
	want := `{"_class":"c","s":"a\"b\\c\n\u0001é","f":2.0,"g":0.25,"fs":[1.0,1.5]}`
	if got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(got), &m); err != nil || m["s"] != "a\"b\\c\n\x01é" {
		t.Errorf("round trip: %v %q", err, m["s"])
	}
}

func BenchmarkMarshalJob(b *testing.B) {
	j := job()
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendJSON(buf[:0], j, Options{})
	}
}

func TestParsePath(t *testing.T) {
	for _, tc := range []struct {
		in        string
		tokens    []string
		slash     bool
		canonical string
		err       error
	}{
		{"/", []string{}, true, "/", nil},
		{"", []string{}, false, "/", nil},
		{"/job/x/api/json", []string{"job", "x", "api", "json"}, false, "/job/x/api/json", nil},
		{"//job//x///api/json//", []string{"job", "x", "api", "json"}, true, "/job/x/api/json/", nil},
		{"/job/./x/../y/", []string{"job", "y"}, true, "/job/y/", nil},
		{"/../job", []string{"job"}, false, "/job", nil},
		{"/computer/%28built-in%29", []string{"computer", "(built-in)"}, false, "/computer/%28built-in%29", nil},
		{"/job/a%2Fb/x%20y", []string{"job", "a/b", "x y"}, false, "/job/a%2Fb/x%20y", nil},
		{"/job/%C3%A9t%C3%A9", []string{"job", "été"}, false, "/job/%C3%A9t%C3%A9", nil},
		{"/job/ab%4", []string{"job", "ab"}, false, "/job/ab%4", nil}, // TokenList drops a cut-off escape
		{"/job/%2E%2E/x", nil, false, "", ErrDotDot},
	} {
		p, err := ParsePath(tc.in)
		if !errors.Is(err, tc.err) {
			t.Errorf("%q: err %v, want %v", tc.in, err, tc.err)
			continue
		}
		if err != nil {
			continue
		}
		if strings.Join(p.Tokens, "|") != strings.Join(tc.tokens, "|") || len(p.Tokens) != len(tc.tokens) || p.Slash != tc.slash || p.Canonical() != tc.canonical {
			t.Errorf("%q: %q slash=%v canonical=%q, want %q slash=%v canonical=%q", tc.in, p.Tokens, p.Slash, p.Canonical(), tc.tokens, tc.slash, tc.canonical)
		}
	}
}
