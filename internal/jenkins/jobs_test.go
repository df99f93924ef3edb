package jenkins_test

import (
	"bytes"
	"reflect"
	"slices"
	"testing"

	"github.com/jenkinds/jenkinds/internal/jenkins"
	"github.com/jenkinds/jenkinds/internal/jenkinssim"
)

var catalogue = []jenkinssim.JobSpec{
	fast,
	{Name: "off", Disabled: true},
	{Name: "team", Type: "folder"},
	{Name: "team/pipe", Type: "pipeline"},
	{Name: "team/deep", Type: "folder"},
	{Name: "team/deep/p", Parameters: []jenkinssim.ParamSpec{
		{Name: "S", Default: "s"},
		{Name: "EMPTY"},
		{Type: "boolean", Name: "B", Default: "true"},
		{Type: "choice", Name: "C", Choices: []string{"one", "two"}},
	}},
}

func TestJobs(t *testing.T) {
	t.Parallel()
	f := setup(t, jenkinssim.Config{Jobs: catalogue})
	inv, r, err := f.client.Jobs(f.ctx)
	if err != nil || r.Session != f.sim.Session() {
		t.Fatalf("inventory: %v %v", err, r)
	}
	want := jenkins.Inventory{
		"fast":      {Class: "hudson.model.FreeStyleProject", Buildable: true, Next: 1},
		"off":       {Class: "hudson.model.FreeStyleProject", Buildable: false, Next: 1},
		"team/pipe": {Class: "org.jenkinsci.plugins.workflow.job.WorkflowJob", Buildable: true, Next: 1},
		"team/deep/p": {Class: "hudson.model.FreeStyleProject", Buildable: true, Next: 1, Params: []jenkins.ParamDef{
			{Name: "S", Class: "hudson.model.StringParameterValue", Default: "s", HasDefault: true},
			{Name: "EMPTY", Class: "hudson.model.StringParameterValue", Default: "", HasDefault: true},
			{Name: "B", Class: "hudson.model.BooleanParameterValue", Default: "true", HasDefault: true},
			{Name: "C", Class: "hudson.model.StringParameterValue", Default: "one", HasDefault: true},
		}},
	}
	if !reflect.DeepEqual(inv, want) {
		t.Errorf("inventory:\n got %+v\nwant %+v", inv, want)
	}

	names, err := f.client.JobNames(f.ctx)
	slices.Sort(names)
	if want := []string{"fast", "off", "team", "team/deep", "team/deep/p", "team/pipe"}; err != nil || !slices.Equal(names, want) {
		t.Errorf("names: %q %v, want %q", names, err, want)
	}
}

func TestJobDefinitions(t *testing.T) {
	t.Parallel()
	f := setup(t, jenkinssim.Config{Jobs: catalogue})
	config, r, err := f.client.ConfigXML(f.ctx, "fast")
	if err != nil || !bytes.HasPrefix(config, []byte("<?xml")) || r.Header.Get("Content-Type") != "application/xml" {
		t.Fatalf("config.xml: %q %v", config, err)
	}
	changed := bytes.Replace(config, []byte("<description>"), []byte("<description>changed "), 1)
	if !bytes.Contains(changed, []byte("changed")) {
		t.Fatalf("no description in %s", config)
	}
	if _, err := f.client.PostConfigXML(f.ctx, "fast", changed); err != nil {
		t.Fatal(err)
	}
	if got, _, err := f.client.ConfigXML(f.ctx, "fast"); err != nil || !bytes.Contains(got, []byte("<description>changed ")) {
		t.Errorf("config.xml after the write: %s %v", got, err)
	}
	if _, err := f.client.PostConfigXML(f.ctx, "nope", changed); !jenkins.IsNotFound(err) {
		t.Errorf("write a job that does not exist: %v", err)
	}
	if _, err := f.client.PostConfigXML(f.ctx, "fast", []byte("<oops")); jenkins.Classify(err) != jenkins.Refused {
		t.Errorf("write bad XML: %v", err)
	}

	if r, err := f.client.CreateItem(f.ctx, "team/deep", "new one", config); err != nil || r.Code != 200 {
		t.Fatalf("create: %v %v", r, err)
	}
	if _, err := f.client.CreateItem(f.ctx, "", "fast", config); jenkins.Classify(err) != jenkins.Refused || !jenkins.AlreadyExists(err) {
		t.Errorf("create an existing job: %v", err)
	}
	if _, err := f.client.CreateItem(f.ctx, "nofolder", "x", config); !jenkins.IsNotFound(err) || jenkins.AlreadyExists(err) {
		t.Errorf("create in a folder that does not exist: %v", err)
	}
	if _, err := f.client.CreateItem(f.ctx, "", "top", config); err != nil {
		t.Errorf("create at the root: %v", err)
	}
	names, _ := f.client.JobNames(f.ctx)
	if !slices.Contains(names, "team/deep/new one") || !slices.Contains(names, "top") {
		t.Errorf("created jobs missing: %q", names)
	}

	if r, err := f.client.Delete(f.ctx, "team/deep/new one"); err != nil || r.Code != 302 {
		t.Errorf("delete (302): %v %v", r, err)
	}
	if _, err := f.client.Delete(f.ctx, "team/deep/new one"); !jenkins.IsNotFound(err) {
		t.Errorf("delete again: %v", err)
	}
	if names, _ := f.client.JobNames(f.ctx); slices.Contains(names, "team/deep/new one") {
		t.Errorf("deleted job still listed: %q", names)
	}
}
