package buildcluster_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jenkinds/jenkinds/internal/buildcluster"
)

// seedYAML is the design's example, sloppy indentation and all.
const seedYAML = `shared:
    environment:
    NODE_ENV: test
    settings:
        email:
    addresses: [test@email.com, test2@email.com]
    statuses: [SUCCESS, FAILURE]
    annotations:
        buildCluster: iOS
jobs:
    main:
        requires: [~pr, ~commit]
        sourcePaths: ["src/app/", "screwdriver.yaml"]
        image: node:6
        steps:
    - init: npm install
    - test: npm test
    publish:
    requires: main
    image: node:6
    steps:
        - publish: npm publish
    ...
`

func TestParseSeedYAML(t *testing.T) {
	t.Parallel()
	p, err := buildcluster.ParsePipeline([]byte(seedYAML))
	if err != nil {
		t.Fatalf("ParsePipeline: %v", err)
	}
	if got := strings.Join(p.JobNames(), ","); got != "main,publish" {
		t.Errorf("JobNames: got %s, want main,publish", got)
	}
	main, err := p.Job("main")
	if err != nil {
		t.Fatal(err)
	}
	want := buildcluster.Job{
		Name:        "main",
		Image:       "node:6",
		Requires:    []string{"~pr", "~commit"},
		Annotations: map[string]string{buildcluster.AnnotationBuildCluster: "iOS"},
		Environment: map[string]string{"NODE_ENV": "test"},
		Steps:       []buildcluster.Step{{Name: "init", Command: "npm install"}, {Name: "test", Command: "npm test"}},
	}
	if asJSON(t, main) != asJSON(t, want) {
		t.Errorf("Job(main):\ngot  %s\nwant %s", asJSON(t, main), asJSON(t, want))
	}
	publish, err := p.Job("publish")
	if err != nil {
		t.Fatal(err)
	}
	want = buildcluster.Job{
		Name:        "publish",
		Image:       "node:6",
		Requires:    []string{"main"},
		Annotations: map[string]string{buildcluster.AnnotationBuildCluster: "iOS"},
		Environment: map[string]string{"NODE_ENV": "test"},
		Steps:       []buildcluster.Step{{Name: "publish", Command: "npm publish"}},
	}
	if asJSON(t, publish) != asJSON(t, want) {
		t.Errorf("Job(publish):\ngot  %s\nwant %s", asJSON(t, publish), asJSON(t, want))
	}
	// Every repair and every ignored key is said.
	warnings := strings.Join(p.Warnings, "\n")
	for _, w := range []string{
		"lines 16-17: the list under steps (line 15)",
		"NODE_ENV is not indented under environment; read as shared.environment.NODE_ENV",
		"shared.addresses is not a job setting; ignored",
		"shared.statuses is not a job setting; ignored",
		"requires is not indented under job publish; read as jobs.publish.requires",
		"buildCluster is read as screwdriver.cd/buildCluster",
	} {
		if !strings.Contains(warnings, w) {
			t.Errorf("Warnings do not say %q:\n%s", w, warnings)
		}
	}
}

func TestParseAnnotations(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, doc, job, want string
	}{
		{"pipeline level", `
annotations:
  screwdriver.cd/buildCluster: iOS
jobs:
  main: {steps: [{test: make}]}
`, "main", "iOS"},
		{"shared level", `
shared:
  annotations:
    screwdriver.cd/buildCluster: bf1
jobs:
  main: {}
`, "main", "bf1"},
		{"job level wins over pipeline and shared", `
annotations:
  screwdriver.cd/buildCluster: iOS
shared:
  annotations:
    screwdriver.cd/buildCluster: bf1
jobs:
  main:
    annotations:
      screwdriver.cd/buildCluster: identity
  other: {}
`, "main", "identity"},
		{"shared wins over pipeline", `
annotations: {screwdriver.cd/buildCluster: iOS}
shared: {annotations: {screwdriver.cd/buildCluster: bf1}}
jobs: {main: {}}
`, "main", "bf1"},
		{"sibling job keeps the shared value", `
shared:
  annotations:
    screwdriver.cd/buildCluster: bf1
jobs:
  main:
    annotations:
      screwdriver.cd/buildCluster: identity
  other:
    image: node:22
`, "other", "bf1"},
		{"none", `
jobs:
  main:
    steps:
      - test: make
`, "main", ""},
		{"full key wins over the short one", `
annotations:
  buildCluster: bf1
  screwdriver.cd/buildCluster: iOS
jobs: {main: {}}
`, "main", "iOS"},
		{"annotation block indented at its key", `
jobs:
  main:
    annotations:
    screwdriver.cd/buildCluster: iOS
    steps:
      - test: make
`, "main", "iOS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := buildcluster.ParsePipeline([]byte(tt.doc))
			if err != nil {
				t.Fatalf("ParsePipeline: %v", err)
			}
			j, err := p.Job(tt.job)
			if err != nil {
				t.Fatal(err)
			}
			if got := j.Annotations[buildcluster.AnnotationBuildCluster]; got != tt.want {
				t.Errorf("buildCluster annotation: got %q, want %q (warnings %q)", got, tt.want, p.Warnings)
			}
		})
	}
}

func TestParseJobSettings(t *testing.T) {
	t.Parallel()
	p, err := buildcluster.ParsePipeline([]byte(`
shared:
  image: node:22
  environment:
    NODE_ENV: test
    PORT: 8080
    DEBUG: true
  steps:
    - install: npm ci
jobs:
  main:
    environment:
      NODE_ENV: production
    steps:
      - npm test
      - lint: npm run lint
  docs:
    image: python:3
`))
	if err != nil {
		t.Fatalf("ParsePipeline: %v", err)
	}
	if len(p.Warnings) != 0 {
		t.Errorf("Warnings: got %q, want none for a clean document", p.Warnings)
	}
	main, _ := p.Job("main")
	if got := fmt.Sprint(main.Environment); got != "map[DEBUG:true NODE_ENV:production PORT:8080]" {
		t.Errorf("main environment: got %s", got)
	}
	if got := asJSON(t, main.Steps); got != `[{"step-1":"npm test"},{"lint":"npm run lint"}]` {
		t.Errorf("main steps: got %s", got)
	}
	docs, _ := p.Job("docs")
	if docs.Image != "python:3" || asJSON(t, docs.Steps) != `[{"install":"npm ci"}]` {
		t.Errorf("docs: got image %q steps %s; want its own image and the shared steps", docs.Image, asJSON(t, docs.Steps))
	}
	_, err = p.Job("deploy")
	var ve *buildcluster.ValidationError
	if !errors.As(err, &ve) || ve.Field != "job" || !strings.Contains(ve.Rule, "main, docs") {
		t.Errorf("Job(deploy): got %v, want a *ValidationError on job listing main, docs", err)
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		doc      string
		wantLine int
		wantText string // in the error
	}{
		{"empty", "  \n", 0, "is empty"},
		{"no jobs", "shared:\n  image: node\n", 0, "has no jobs"},
		{"a list at the top", "- main\n- publish\n", 1, "must be a mapping"},
		{"jobs is a list", "jobs:\n  - main\n", 2, "jobs: must be a mapping"},
		{"unclosed flow list", "jobs:\n  main:\n    requires: [~pr, ~commit\n    image: node\n", 3, "did not find expected ',' or ']'"},
		{"tab indentation", "jobs:\n  main:\n\timage: node\n", 3, "tab"},
		{"key after a value on one line", "jobs:\n  main:\n    image: node: 6: x\n", 3, "mapping values are not allowed"},
		{"misaligned key", "jobs:\n  main:\n    image: node\n   steps:\n", 4, "indentation"},
		{"duplicate job", "jobs:\n  main: {}\n  main: {}\n", 3, `job "main" is defined twice`},
		{"job name with a space", "jobs:\n  my job: {}\n", 2, "job name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := buildcluster.ParsePipeline([]byte(tt.doc))
			var ye *buildcluster.YAMLError
			if !errors.As(err, &ye) {
				t.Fatalf("ParsePipeline: got %v, want a *YAMLError", err)
			}
			if ye.Line != tt.wantLine || !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("ParsePipeline: got %q (line %d), want line %d and %q", err, ye.Line, tt.wantLine, tt.wantText)
			}
		})
	}
}

func TestStepJSON(t *testing.T) {
	t.Parallel()
	var steps []buildcluster.Step
	if err := json.Unmarshal([]byte(`[{"init": "npm install"}, {"test": "npm test"}]`), &steps); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(steps) != "[{init npm install} {test npm test}]" {
		t.Errorf("Unmarshal: got %v", steps)
	}
	if got := asJSON(t, steps); got != `[{"init":"npm install"},{"test":"npm test"}]` {
		t.Errorf("Marshal: got %s", got)
	}
	for _, bad := range []string{`[{"a": "x", "b": "y"}]`, `[{}]`, `[1]`, `[{"a": 1}]`, `["npm test"]`} {
		if err := json.Unmarshal([]byte(bad), &steps); err == nil {
			t.Errorf("Unmarshal(%s): got no error", bad)
		}
	}
}
