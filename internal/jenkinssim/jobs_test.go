package jenkinssim

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/testkit"
)

const paramConfig = `<?xml version="1.0" encoding="UTF-8"?>
<project>
  <description>made by a test</description>
  <properties>
    <hudson.model.ParametersDefinitionProperty>
      <parameterDefinitions>
        <hudson.model.StringParameterDefinition><name>P</name><description>a string</description><defaultValue>x</defaultValue></hudson.model.StringParameterDefinition>
        <hudson.model.ChoiceParameterDefinition><name>C</name><choices class="java.util.Arrays$ArrayList"><a class="string-array"><string>one</string><string>two</string></a></choices></hudson.model.ChoiceParameterDefinition>
        <hudson.model.BooleanParameterDefinition><name>B</name><defaultValue>true</defaultValue></hudson.model.BooleanParameterDefinition>
        <hudson.model.StringParameterDefinition><name>SIM_DURATION_MS</name><defaultValue>20</defaultValue></hudson.model.StringParameterDefinition>
        <hudson.model.StringParameterDefinition><name>SIM_RESULT</name><defaultValue>SUCCESS</defaultValue></hudson.model.StringParameterDefinition>
      </parameterDefinitions>
    </hudson.model.ParametersDefinitionProperty>
  </properties>
  <disabled>false</disabled>
  <concurrentBuild>false</concurrentBuild>
</project>`

func xmlHeader() reqOpt { return header("Content-Type", "application/xml") }

func TestCreateItemAndConfig(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, body := b.status("POST", "/createItem?name=p", paramConfig, 200, xmlHeader())
	if body != "" {
		t.Errorf("createItem body: %q, want empty", body)
	}
	job := b.json("/job/p/api/json")
	props := job["property"].([]any)
	if len(props) != 1 {
		t.Fatalf("property: %v", props)
	}
	defs := props[0].(map[string]any)["parameterDefinitions"].([]any)
	if len(defs) != 5 {
		t.Fatalf("parameterDefinitions: %d, want 5", len(defs))
	}
	choice := defs[1].(map[string]any)
	if choice["_class"] != "hudson.model.ChoiceParameterDefinition" || fmt.Sprint(choice["choices"]) != "[one two]" || choice["type"] != "ChoiceParameterDefinition" {
		t.Errorf("choice definition: %v", choice)
	}
	dv := defs[2].(map[string]any)["defaultParameterValue"].(map[string]any)
	if dv["_class"] != "hudson.model.BooleanParameterValue" || dv["value"] != true {
		t.Errorf("boolean default: %v", dv)
	}
	if job["description"] != "made by a test" {
		t.Errorf("description: %v", job["description"])
	}

	resp, cfg := b.status("GET", "/job/p/config.xml", "", 200)
	if resp.Header.Get("Content-Type") != "application/xml" || !strings.HasPrefix(cfg, `<?xml version="1.1" encoding="UTF-8"?>`) {
		t.Errorf("config.xml: %s %.80s", resp.Header.Get("Content-Type"), cfg)
	}
	// Reconfigure with what we got back (XML 1.1 declaration included).
	updated := strings.Replace(cfg, "made by a test", "changed", 1)
	b.status("POST", "/job/p/config.xml", updated, 200, xmlHeader())
	if got := b.json("/job/p/api/json?tree=description")["description"]; got != "changed" {
		t.Errorf("description after reconfig: %v", got)
	}

	for _, tc := range []struct {
		name, path, body string
		opts             []reqOpt
		status           int
		xError           string
	}{
		{"exists", "/createItem?name=p", paramConfig, []reqOpt{xmlHeader()}, 400, "A job already exists with the name ‘p’"},
		{"no name", "/createItem", paramConfig, []reqOpt{xmlHeader()}, 400, "Query parameter 'name' is required"},
		{"no content type", "/createItem?name=q", paramConfig, nil, 400, "No Content-Type header set"},
		{"unsafe name", "/createItem?name=a%3Fb", paramConfig, []reqOpt{xmlHeader()}, 400, "‘?’ is an unsafe character"},
		{"bad xml", "/createItem?name=q", "<project><oops></project>", []reqOpt{xmlHeader()}, 500, ""},
		{"bad xml reconfig", "/job/p/config.xml", "<project", []reqOpt{xmlHeader()}, 500, ""},
		{"missing folder", "/job/nope/createItem?name=q", paramConfig, []reqOpt{xmlHeader()}, 404, ""},
	} {
		resp, _ := b.status("POST", tc.path, tc.body, tc.status, tc.opts...)
		if got := resp.Header.Get("X-Error"); got != tc.xError {
			t.Errorf("%s: X-Error %q, want %q", tc.name, got, tc.xError)
		}
	}
	b.status("GET", "/createItem?name=q", "", 405)
}

func TestFoldersAndCopy(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.status("POST", "/job/team-a/createItem?name=svc%20one", paramConfig, 200, xmlHeader())
	job := b.json("/job/team-a/job/svc%20one/api/json?tree=name,fullName,url,fullDisplayName")
	if job["fullName"] != "team-a/svc one" || job["url"] != b.c.URL()+"job/team-a/job/svc%20one/" || job["fullDisplayName"] != "team-a » svc one" {
		t.Errorf("folder job: %v", job)
	}
	folder := b.json("/job/team-a/api/json")
	if folder["_class"] != "com.cloudbees.hudson.plugins.folder.Folder" || len(folder["jobs"].([]any)) != 2 {
		t.Errorf("folder: %v", folder)
	}
	// gojenkins addresses builds through a double slash.
	qid := b.trigger("/job/team-a/job/svc%20one//buildWithParameters")
	build := b.waitBuild("team-a/job/svc%20one", qid)
	if build["fullDisplayName"] != "team-a » svc one #1" {
		t.Errorf("fullDisplayName: %v", build["fullDisplayName"])
	}
	resp, _ := b.status("POST", "/createItem?name=copy&mode=copy&from=hello", "", 302)
	if resp.Header.Get("Location") != b.c.URL()+"job/copy/" {
		t.Errorf("copy Location: %q", resp.Header.Get("Location"))
	}
	resp, _ = b.status("POST", "/createItem?name=copy2&mode=copy&from=nope", "", 400)
	if resp.Header.Get("X-Error") != "No such job: nope" {
		t.Errorf("copy from missing job: %q", resp.Header.Get("X-Error"))
	}
}

func TestEnableDisableDelete(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.status("GET", "/job/hello/disable", "", 405)
	resp, _ := b.status("POST", "/job/hello/disable", "", 302)
	if resp.Header.Get("Location") != b.c.URL()+"job/hello/" {
		t.Errorf("disable Location: %q", resp.Header.Get("Location"))
	}
	job := b.json("/job/hello/api/json")
	if job["color"] != "disabled" || job["buildable"] != false || job["disabled"] != true {
		t.Errorf("disabled job: color %v buildable %v disabled %v", job["color"], job["buildable"], job["disabled"])
	}
	_, cfg := b.status("GET", "/job/hello/config.xml", "", 200)
	if !strings.Contains(cfg, "<disabled>true</disabled>") {
		t.Errorf("config.xml after disable: %s", cfg)
	}
	b.status("POST", "/job/hello/build", "", 409)
	b.status("POST", "/job/hello/enable", "", 302)
	b.status("POST", "/job/hello/build", "", 201)

	resp, _ = b.status("POST", "/job/team-a/job/pipeline/doDelete", "", 302)
	if resp.Header.Get("Location") != b.c.URL()+"job/team-a/" {
		t.Errorf("doDelete Location: %q", resp.Header.Get("Location"))
	}
	b.status("GET", "/job/team-a/job/pipeline/api/json", "", 404)
	b.status("DELETE", "/job/hello/", "", 204)
	b.status("GET", "/job/hello/api/json?tree=name", "", 404)
	b.status("GET", "/job/nope/api/json", "", 404)
}

func TestBuildsCappedAt100(t *testing.T) {
	t.Parallel()
	b := setup(t)
	if err := b.c.AddJob(JobSpec{Name: "many", Concurrent: true, DurationMs: 1}); err != nil {
		t.Fatal(err)
	}
	b.c.SetExecutors("built-in", 20)
	for i := 0; i < 105; i++ {
		// Distinct parameters are not needed: non-parameterized
		// triggers while one is queued collapse into it, so wait.
		qid := b.trigger("/job/many/build")
		testkit.Eventually(t, 10*time.Second, func() bool {
			_, ok := b.json("/queue/item/" + itoa(qid) + "/api/json")["executable"].(map[string]any)
			return ok
		}, testkit.Sayf("item to leave the queue"))
	}
	testkit.Eventually(t, 10*time.Second, func() bool {
		return b.json("/job/many/api/json?tree=lastCompletedBuild[number]")["lastCompletedBuild"].(map[string]any)["number"] == float64(105)
	}, testkit.Sayf("all builds to finish"))
	job := b.json("/job/many/api/json")
	if n := len(job["builds"].([]any)); n != 100 {
		t.Errorf("builds: %d, want 100", n)
	}
	if _, ok := job["allBuilds"]; ok {
		t.Errorf("allBuilds must not appear without a tree")
	}
	all := b.json("/job/many/api/json?tree=allBuilds[number]")["allBuilds"].([]any)
	if len(all) != 105 || all[0].(map[string]any)["number"] != float64(105) {
		t.Errorf("allBuilds: %d entries, first %v", len(all), all[0])
	}
	if job["nextBuildNumber"] != float64(106) || job["color"] != "blue" {
		t.Errorf("nextBuildNumber %v color %v", job["nextBuildNumber"], job["color"])
	}
	first := job["firstBuild"].(map[string]any)
	if first["number"] != float64(1) || first["_class"] != "hudson.model.FreeStyleBuild" {
		t.Errorf("firstBuild: %v", first)
	}
	if hr := job["healthReport"].([]any); len(hr) != 1 || hr[0].(map[string]any)["score"] != float64(100) {
		t.Errorf("healthReport: %v", hr)
	}
	_, body := b.status("GET", "/job/many/api/json?tree=builds[number]{0,3}", "", 200)
	if body != `{"_class":"hudson.model.FreeStyleProject","builds":[{"_class":"hudson.model.FreeStyleBuild","number":105},{"_class":"hudson.model.FreeStyleBuild","number":104},{"_class":"hudson.model.FreeStyleBuild","number":103}]}` {
		t.Errorf("ranged builds: %s", body)
	}
}

func TestJobsSurviveWithDataDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b := setup(t, func(c *Config) { c.DataDir = dir })
	b.status("POST", "/createItem?name=kept", paramConfig, 200, xmlHeader())
	b.waitBuild("kept", b.trigger("/job/kept/buildWithParameters"))
	_ = b.c.Close()
	b2 := setup(t, func(c *Config) { c.DataDir = dir })
	job := b2.json("/job/kept/api/json?tree=nextBuildNumber,property[parameterDefinitions[name]]")
	if job["nextBuildNumber"] != float64(2) {
		t.Errorf("nextBuildNumber after reload: %v", job["nextBuildNumber"])
	}
	if !strings.Contains(fmt.Sprint(job["property"]), "SIM_RESULT") {
		t.Errorf("parameters after reload: %v", job["property"])
	}
}
