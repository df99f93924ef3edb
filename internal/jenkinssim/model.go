package jenkinssim

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jenkinds/jenkinds/internal/jenkins"
)

type itemKind int

const (
	kindFreestyle itemKind = iota
	kindPipeline
	kindFolder
)

func (k itemKind) class() string {
	switch k {
	case kindPipeline:
		return "org.jenkinsci.plugins.workflow.job.WorkflowJob"
	case kindFolder:
		return "com.cloudbees.hudson.plugins.folder.Folder"
	default:
		return "hudson.model.FreeStyleProject"
	}
}

func (k itemKind) buildClass() string {
	if k == kindPipeline {
		return "org.jenkinsci.plugins.workflow.job.WorkflowRun"
	}
	return "hudson.model.FreeStyleBuild"
}

// item is a job or a folder.
type item struct {
	name        string
	parent      *item // nil for top-level items
	kind        itemKind
	description string
	configXML   string
	deleted     bool

	// folders
	children map[string]*item

	// jobs
	disabled        bool
	concurrent      bool
	params          []paramDef
	authToken       string
	builds          []*build // ascending by number
	nextBuildNumber int
	duration        Duration // zero: controller default
	result          string   // "": SUCCESS
}

func (it *item) isJob() bool { return it.kind != kindFolder }

// fullName is "a/b/c".
func (it *item) fullName() string {
	if it.parent == nil {
		return it.name
	}
	return it.parent.fullName() + "/" + it.name
}

// path is the URL path below the root, "job/a/job/b/".
func (it *item) path() string {
	var sb strings.Builder
	it.writePath(&sb)
	return sb.String()
}

func (it *item) writePath(sb *strings.Builder) {
	if it.parent != nil {
		it.parent.writePath(sb)
	}
	sb.WriteString("job/")
	sb.WriteString(rawEncode(it.name))
	sb.WriteByte('/')
}

func (it *item) sortedChildren() []*item {
	out := make([]*item, 0, len(it.children))
	for _, c := range it.children {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return strings.ToLower(out[i].name) < strings.ToLower(out[j].name) })
	return out
}

func (it *item) build(n int) *build {
	i := sort.Search(len(it.builds), func(i int) bool { return it.builds[i].number >= n })
	if i < len(it.builds) && it.builds[i].number == n {
		return it.builds[i]
	}
	return nil
}

func (it *item) lastBuild() *build {
	if len(it.builds) == 0 {
		return nil
	}
	return it.builds[len(it.builds)-1]
}

// permalink resolves lastBuild, lastSuccessfulBuild and friends.
func (it *item) permalink(name string) (*build, bool) {
	var match func(*build) bool
	switch name {
	case "lastBuild":
		match = func(*build) bool { return true }
	case "lastCompletedBuild":
		match = func(b *build) bool { return !b.building }
	case "lastSuccessfulBuild":
		match = func(b *build) bool { return !b.building && (b.result == "SUCCESS" || b.result == "UNSTABLE") }
	case "lastStableBuild":
		match = func(b *build) bool { return !b.building && b.result == "SUCCESS" }
	case "lastFailedBuild":
		match = func(b *build) bool { return !b.building && b.result == "FAILURE" }
	case "lastUnstableBuild":
		match = func(b *build) bool { return !b.building && b.result == "UNSTABLE" }
	case "lastUnsuccessfulBuild":
		match = func(b *build) bool { return !b.building && b.result != "SUCCESS" }
	default:
		return nil, false
	}
	for i := len(it.builds) - 1; i >= 0; i-- {
		if match(it.builds[i]) {
			return it.builds[i], true
		}
	}
	return nil, true
}

func (it *item) running() *build {
	for i := len(it.builds) - 1; i >= 0; i-- {
		if it.builds[i].building {
			return it.builds[i]
		}
	}
	return nil
}

// color is the ball colour of a job.
func (it *item) color() string {
	if it.disabled {
		return "disabled"
	}
	var last *build
	anime := false
	for i := len(it.builds) - 1; i >= 0; i-- {
		b := it.builds[i]
		if b.building {
			anime = true
			continue
		}
		last = b
		break
	}
	c := "notbuilt"
	if last != nil {
		c = jenkins.BallColor(last.result)
	}
	if anime {
		c += "_anime"
	}
	return c
}

func (it *item) estimatedDuration() int64 {
	var sum time.Duration
	n := 0
	for i := len(it.builds) - 1; i >= 0 && n < 3; i-- {
		b := it.builds[i]
		if !b.building && b.result == "SUCCESS" {
			sum += b.duration
			n++
		}
	}
	if n == 0 {
		return -1
	}
	return (sum / time.Duration(n)).Milliseconds()
}

type paramKind int

const (
	paramString paramKind = iota
	paramText
	paramChoice
	paramBoolean
)

type paramDef struct {
	kind        paramKind
	name        string
	description string
	def         string
	choices     []string
}

func (p paramDef) class() string {
	switch p.kind {
	case paramText:
		return "hudson.model.TextParameterDefinition"
	case paramChoice:
		return "hudson.model.ChoiceParameterDefinition"
	case paramBoolean:
		return "hudson.model.BooleanParameterDefinition"
	default:
		return "hudson.model.StringParameterDefinition"
	}
}

func (p paramDef) defaultValue() string {
	if p.kind == paramChoice && len(p.choices) > 0 {
		return p.choices[0]
	}
	if p.kind == paramBoolean {
		return strconv.FormatBool(p.def == "true")
	}
	return p.def
}

// value turns a submitted string into this parameter's value.
func (p paramDef) value(s string) (paramValue, error) {
	v := paramValue{def: p, value: s}
	switch p.kind {
	case paramBoolean:
		v.value = strconv.FormatBool(s == "true" || s == "on")
	case paramChoice:
		for _, c := range p.choices {
			if c == s {
				return v, nil
			}
		}
		return v, fmt.Errorf("Illegal choice for parameter %s: %s", p.name, s)
	}
	return v, nil
}

type paramValue struct {
	def   paramDef
	value string
}

func (v paramValue) class() string {
	switch v.def.kind {
	case paramBoolean:
		return "hudson.model.BooleanParameterValue"
	case paramText:
		return "hudson.model.TextParameterValue"
	default:
		return "hudson.model.StringParameterValue"
	}
}

func paramsEqual(a, b []paramValue) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].def.name != b[i].def.name || a[i].value != b[i].value {
			return false
		}
	}
	return true
}

// paramsString is the queue item's `params`: "\nNAME=value" per parameter.
func paramsString(ps []paramValue) string {
	var sb strings.Builder
	for _, p := range ps {
		sb.WriteByte('\n')
		sb.WriteString(p.def.name)
		sb.WriteByte('=')
		sb.WriteString(p.value)
	}
	return sb.String()
}

func paramLookup(ps []paramValue, name string) (string, bool) {
	for _, p := range ps {
		if p.def.name == name {
			return p.value, true
		}
	}
	return "", false
}

type cause struct {
	remote bool
	user   string
	addr   string
	note   string
}

func (c cause) shortDescription() string {
	if c.remote {
		if c.note != "" {
			return "Started by remote host " + c.addr + " with note: " + c.note
		}
		return "Started by remote host " + c.addr
	}
	return "Started by user " + c.user
}

// build is one run of a job.
type build struct {
	job      *item
	number   int
	queueID  int64
	params   []paramValue
	causes   []cause
	start    time.Time
	duration time.Duration // final duration, 0 while building
	planned  time.Duration
	result   string // "" while building and no result yet
	outcome  string // scripted result
	building bool
	node     *node
	executor int
	log      strings.Builder // finished part of the log
	steps    int             // progress lines planned
	gen      uint64          // controller generation that started it
}

func (b *build) fullDisplayName() string {
	return b.job.fullName() + " #" + strconv.Itoa(b.number)
}

// logText is the console log as of now: the header, the progress lines
// reached so far and, once finished, the footer.
func (b *build) logText(now time.Time) string {
	if !b.building {
		return b.log.String()
	}
	var sb strings.Builder
	sb.WriteString(b.log.String())
	reached := b.steps
	if b.planned > 0 {
		reached = int(int64(b.steps) * int64(now.Sub(b.start)) / int64(b.planned))
		if reached > b.steps {
			reached = b.steps
		}
	}
	for i := 1; i <= reached; i++ {
		writeStep(&sb, i, b.steps)
	}
	return sb.String()
}

func writeStep(sb *strings.Builder, i, n int) {
	fmt.Fprintf(sb, "[sim] step %d of %d\n", i, n)
}

// queueItem is a live queue entry or, once it left, a LeftItem.
type queueItem struct {
	id           int64
	task         *item
	params       []paramValue
	causes       []cause
	inQueueSince time.Time
	timestamp    time.Time // earliest start (end of quiet period)

	left       bool
	leftAt     time.Time
	cancelled  bool
	executable *build
}

// leftItemTTL is how long Jenkins answers for an item after it left.
const leftItemTTL = 5 * time.Minute

// node is the built-in node or an agent.
type node struct {
	name      string // "" for the built-in node
	executors []*build
	offline   bool
	secret    string
}

func (n *node) builtIn() bool { return n.name == "" }

func (n *node) displayName() string {
	if n.builtIn() {
		return "Built-In Node"
	}
	return n.name
}

func (n *node) busy() int {
	k := 0
	for _, b := range n.executors {
		if b != nil {
			k++
		}
	}
	return k
}

func (n *node) freeExecutor() int {
	for i, b := range n.executors {
		if b == nil {
			return i
		}
	}
	return -1
}

// timeSpan formats a duration as Jenkins' Util.getTimeSpanString does for
// the common cases: "4.9 sec", "12 sec", "1 min 5 sec".
func timeSpan(d time.Duration) string { return jenkins.TimeSpan(d) }

// rawEncode escapes a name for a URL path the way Jenkins' Util.rawEncode
// does: everything but unreserved characters and a few safe marks.
func rawEncode(s string) string {
	const safe = "-._~!$&'()*+,;=:@"
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(safe, c) >= 0 {
			sb.WriteByte(c)
			continue
		}
		fmt.Fprintf(&sb, "%%%02X", c)
	}
	return sb.String()
}

func checkGoodName(name string) error { return jenkins.CheckGoodName(name) }

func validResult(r string) bool {
	switch r {
	case "SUCCESS", "UNSTABLE", "FAILURE", "NOT_BUILT", "ABORTED":
		return true
	}
	return false
}
