package buildcluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Step is one step of a job: a name and the command it runs. In
// screwdriver.yaml and in JSON a step is a one-key object,
// {"init": "npm install"}; in screwdriver.yaml a bare string is also
// accepted, as a step named step-N (its position, from 1).
type Step struct {
	Name    string
	Command string
}

// MarshalJSON renders s as {"name": "command"}.
func (s Step) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{s.Name: s.Command})
}

// UnmarshalJSON reads {"name": "command"}.
func (s *Step) UnmarshalJSON(b []byte) error {
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil || len(m) != 1 {
		return errors.New(`a step must be one {"name": "command"} pair, e.g. {"test": "npm test"}`)
	}
	for name, cmd := range m {
		*s = Step{Name: name, Command: cmd}
	}
	return nil
}

// Job is one job of a pipeline, with the shared and pipeline-level
// settings merged in (see Pipeline.Job).
type Job struct {
	Name        string            `json:"name"`
	Image       string            `json:"image,omitempty"`
	Requires    []string          `json:"requires,omitempty"`
	Annotations map[string]string `json:"annotations"`
	Environment map[string]string `json:"environment"`
	Steps       []Step            `json:"steps"`
}

// Pipeline is a parsed screwdriver.yaml: what routing and the build need
// of it. Everything else in the document is accepted and ignored.
type Pipeline struct {
	// Annotations are the top-level (pipeline) annotations.
	Annotations map[string]string
	// Shared is the shared: section, applied to every job.
	Shared Job
	// Warnings say what the parser tolerated or ignored: a key indented
	// under the wrong parent and read where it surely belongs, a key it
	// does not know. Show them to the user; they are never fatal.
	Warnings []string

	jobs  map[string]Job
	names []string // document order
}

// JobNames returns the pipeline's jobs in document order.
func (p *Pipeline) JobNames() []string { return slices.Clone(p.names) }

// Job returns the job called name with the pipeline's annotations, then
// shared:, then the job's own laid over each other (the job's win):
// annotations and environment merge key by key; image and steps come from
// the job when it sets them, else from shared:. An unknown job is a
// *ValidationError on "job" listing the jobs there are.
func (p *Pipeline) Job(name string) (Job, error) {
	j, ok := p.jobs[name]
	if !ok {
		return Job{}, &ValidationError{Field: "job", Rule: fmt.Sprintf("screwdriver.yaml has no job %q; its jobs are %s", name, strings.Join(p.names, ", "))}
	}
	out := Job{
		Name:        name,
		Image:       cmpOr(j.Image, p.Shared.Image),
		Requires:    slices.Clone(j.Requires),
		Annotations: map[string]string{},
		Environment: map[string]string{},
		Steps:       slices.Clone(j.Steps),
	}
	if out.Steps == nil {
		out.Steps = slices.Clone(p.Shared.Steps)
	}
	if out.Steps == nil {
		out.Steps = []Step{}
	}
	for _, m := range []map[string]string{p.Annotations, p.Shared.Annotations, j.Annotations} {
		maps.Copy(out.Annotations, m)
	}
	maps.Copy(out.Environment, p.Shared.Environment)
	maps.Copy(out.Environment, j.Environment)
	return out, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// YAMLError is a screwdriver.yaml that does not parse: the line at fault
// (1-based; 0 when unknown), the parser's problem and the line's text.
type YAMLError struct {
	Line    int
	Problem string
	Text    string
}

func (e *YAMLError) Error() string {
	msg := "screwdriver.yaml"
	if e.Line > 0 {
		msg += fmt.Sprintf(" line %d", e.Line)
	}
	msg += ": " + e.Problem
	if e.Text != "" {
		msg += fmt.Sprintf(": %q", e.Text)
	}
	return msg
}

const maxYAML = 1 << 20

// Keys of screwdriver.yaml that the parser knows. Those it reads are
// handled below; the rest are accepted without a warning.
var (
	topLevelKeys = set("annotations", "cache", "jobs", "parameters", "shared", "stages", "subscribe", "template", "version")
	jobKeys      = set("annotations", "blockedBy", "cache", "description", "environment", "freezeWindows", "image",
		"matrix", "order", "parameters", "provider", "requires", "secrets", "settings", "sourcePaths", "stage",
		"steps", "template", "templateId")
	// mapKeys are the job keys whose value is a mapping: an empty one
	// followed by keys no job has is read as holding them.
	mapKeys = set("annotations", "environment", "settings", "parameters")
)

func set(keys ...string) map[string]bool {
	m := map[string]bool{}
	for _, k := range keys {
		m[k] = true
	}
	return m
}

// ParsePipeline parses a screwdriver.yaml document. It is lenient where
// intent is plain, and says so in Warnings:
//
//   - a sequence indented less than the key it follows (steps: then
//     "- init: …" further left) is read as that key's;
//   - keys that follow an empty environment:/annotations:/settings: at its
//     own indentation, and are not job settings, are read as its entries;
//   - job settings that follow an empty job at its own indentation
//     (publish: then requires:, image:, steps:) are read as that job's;
//   - annotations: {buildCluster: x}, the 2018 draft's spelling, is read
//     as screwdriver.cd/buildCluster.
//
// A document that still does not parse is a *YAMLError naming the line.
func ParsePipeline(doc []byte) (*Pipeline, error) {
	if len(doc) > maxYAML {
		return nil, &YAMLError{Problem: fmt.Sprintf("is %d bytes, more than the %d allowed", len(doc), maxYAML)}
	}
	if strings.TrimSpace(string(doc)) == "" {
		return nil, &YAMLError{Problem: "is empty: it needs at least jobs: with one job"}
	}
	p := &Pipeline{jobs: map[string]Job{}}
	var root yaml.Node
	if err := yaml.Unmarshal(doc, &root); err != nil {
		fixed, notes := reindentSequences(strings.Split(string(doc), "\n"))
		if len(notes) == 0 || yaml.Unmarshal([]byte(strings.Join(fixed, "\n")), &root) != nil {
			return nil, locate(doc, err)
		}
		p.Warnings = append(p.Warnings, notes...)
	}
	if len(root.Content) == 0 || root.Content[0].Kind != yaml.MappingNode {
		return nil, &YAMLError{Line: lineOf(&root), Problem: "must be a mapping with jobs: (and optionally shared:, annotations:)"}
	}
	top := root.Content[0]
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], top.Content[i+1]
		switch k.Value {
		case "annotations":
			p.Annotations = p.stringMap("annotations", v)
			p.normaliseAnnotations("annotations", p.Annotations)
		case "shared":
			p.Shared = p.job("shared", v)
		case "jobs":
			if err := p.readJobs(v); err != nil {
				return nil, err
			}
		default:
			if !topLevelKeys[k.Value] {
				p.warnf("line %d: %s is not a screwdriver.yaml setting; ignored", k.Line, k.Value)
			}
		}
	}
	if len(p.names) == 0 {
		return nil, &YAMLError{Problem: "has no jobs: add jobs: with at least one job, e.g. main"}
	}
	return p, nil
}

func (p *Pipeline) warnf(format string, args ...any) {
	p.Warnings = append(p.Warnings, fmt.Sprintf(format, args...))
}

func (p *Pipeline) readJobs(v *yaml.Node) error {
	if v.Kind != yaml.MappingNode {
		return &YAMLError{Line: v.Line, Problem: "jobs: must be a mapping of job names to their settings"}
	}
	p.adoptJobFields(v)
	for i := 0; i+1 < len(v.Content); i += 2 {
		name := v.Content[i].Value
		if !nameRule.MatchString(name) {
			return &YAMLError{Line: v.Content[i].Line, Problem: fmt.Sprintf(`job name %q must be letters, digits, '_', '.' and '-'`, name)}
		}
		if _, dup := p.jobs[name]; dup {
			return &YAMLError{Line: v.Content[i].Line, Problem: fmt.Sprintf("job %q is defined twice", name)}
		}
		p.jobs[name] = p.job("jobs."+name, v.Content[i+1])
		p.names = append(p.names, name)
	}
	return nil
}

// adoptJobFields moves job settings that follow an empty job at its own
// indentation into that job: "publish:" then "requires: main" is publish's
// requires, not a job called requires.
func (p *Pipeline) adoptJobFields(jobs *yaml.Node) {
	var out []*yaml.Node
	var into *yaml.Node // the empty job being filled
	var intoName string
	for i := 0; i+1 < len(jobs.Content); i += 2 {
		k, v := jobs.Content[i], jobs.Content[i+1]
		if into != nil && jobKeys[k.Value] {
			into.Content = append(into.Content, k, v)
			p.warnf("line %d: %s is not indented under job %s; read as jobs.%s.%s", k.Line, k.Value, intoName, intoName, k.Value)
			continue
		}
		into = nil
		if isNull(v) {
			v = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: v.Line, Column: v.Column}
			into, intoName = v, k.Value
		}
		out = append(out, k, v)
	}
	jobs.Content = out
}

// job reads one job's settings (or shared:'s) at path.
func (p *Pipeline) job(path string, v *yaml.Node) Job {
	var j Job
	if isNull(v) {
		return j
	}
	if v.Kind != yaml.MappingNode {
		p.warnf("line %d: %s must be a mapping of settings; ignored", v.Line, path)
		return j
	}
	p.adoptEntries(path, v)
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, val := v.Content[i], v.Content[i+1]
		switch k.Value {
		case "image":
			j.Image = p.scalar(path+".image", val)
		case "requires":
			j.Requires = p.stringList(path+".requires", val)
		case "steps":
			j.Steps = p.steps(path+".steps", val)
		case "environment":
			j.Environment = p.stringMap(path+".environment", val)
		case "annotations":
			j.Annotations = p.stringMap(path+".annotations", val)
			p.normaliseAnnotations(path+".annotations", j.Annotations)
		default:
			if !jobKeys[k.Value] {
				p.warnf("line %d: %s.%s is not a job setting; ignored (is it indented under the right key?)", k.Line, path, k.Value)
			}
		}
	}
	return j
}

// adoptEntries moves keys that are no job setting, following an empty
// mapping setting at the same indentation, into that setting:
// "environment:" then "NODE_ENV: test" is environment.NODE_ENV.
func (p *Pipeline) adoptEntries(path string, m *yaml.Node) {
	var out []*yaml.Node
	var into *yaml.Node
	var intoKey string
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if into != nil && !jobKeys[k.Value] {
			into.Content = append(into.Content, k, v)
			p.warnf("line %d: %s is not indented under %s; read as %s.%s.%s", k.Line, k.Value, intoKey, path, intoKey, k.Value)
			continue
		}
		into = nil
		if mapKeys[k.Value] && isNull(v) {
			v = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: v.Line, Column: v.Column}
			into, intoKey = v, k.Value
		}
		out = append(out, k, v)
	}
	m.Content = out
}

// normaliseAnnotations reads the draft's buildCluster key as
// AnnotationBuildCluster, unless that is set too.
func (p *Pipeline) normaliseAnnotations(path string, a map[string]string) {
	v, ok := a[annotationBuildClusterShort]
	if !ok {
		return
	}
	delete(a, annotationBuildClusterShort)
	if _, full := a[AnnotationBuildCluster]; full {
		p.warnf("%s: both %s and %s are set; %s wins", path, annotationBuildClusterShort, AnnotationBuildCluster, AnnotationBuildCluster)
		return
	}
	a[AnnotationBuildCluster] = v
	p.warnf("%s: %s is read as %s; write the full key", path, annotationBuildClusterShort, AnnotationBuildCluster)
}

func isNull(v *yaml.Node) bool {
	return v.Kind == yaml.ScalarNode && v.Tag == "!!null"
}

// scalar returns v's text; a non-scalar is warned about and read as "".
func (p *Pipeline) scalar(path string, v *yaml.Node) string {
	if v.Kind == yaml.AliasNode && v.Alias != nil {
		v = v.Alias
	}
	switch {
	case isNull(v):
		return ""
	case v.Kind == yaml.ScalarNode:
		return v.Value
	}
	p.warnf("line %d: %s must be a single value; ignored", v.Line, path)
	return ""
}

// stringMap reads a mapping of scalars (environment, annotations).
func (p *Pipeline) stringMap(path string, v *yaml.Node) map[string]string {
	out := map[string]string{}
	if isNull(v) {
		return out
	}
	if v.Kind != yaml.MappingNode {
		p.warnf("line %d: %s must be a mapping of names to values; ignored", v.Line, path)
		return out
	}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, val := v.Content[i], v.Content[i+1]
		if val.Kind == yaml.MappingNode || val.Kind == yaml.SequenceNode {
			p.warnf("line %d: %s.%s must be a single value; ignored", val.Line, path, k.Value)
			continue
		}
		out[k.Value] = p.scalar(path+"."+k.Value, val)
	}
	return out
}

// stringList reads a sequence of scalars, or one scalar as a list of one.
func (p *Pipeline) stringList(path string, v *yaml.Node) []string {
	if v.Kind != yaml.SequenceNode {
		if s := p.scalar(path, v); s != "" {
			return []string{s}
		}
		return nil
	}
	var out []string
	for _, item := range v.Content {
		out = append(out, p.scalar(path, item))
	}
	return out
}

// steps reads the sequence of one-key steps.
func (p *Pipeline) steps(path string, v *yaml.Node) []Step {
	if isNull(v) {
		return nil
	}
	if v.Kind != yaml.SequenceNode {
		p.warnf("line %d: %s must be a list of steps (- name: command); ignored", v.Line, path)
		return nil
	}
	out := []Step{}
	for i, item := range v.Content {
		switch {
		case item.Kind == yaml.ScalarNode:
			out = append(out, Step{Name: fmt.Sprintf("step-%d", i+1), Command: item.Value})
		case item.Kind == yaml.MappingNode && len(item.Content) == 2:
			out = append(out, Step{Name: item.Content[0].Value, Command: p.scalar(path+"."+item.Content[0].Value, item.Content[1])})
		default:
			p.warnf("line %d: %s[%d] must be one name: command pair; ignored", item.Line, path, i)
		}
	}
	return out
}

func lineOf(root *yaml.Node) int {
	if len(root.Content) > 0 {
		return root.Content[0].Line
	}
	return root.Line
}
