package jenkinssim

import (
	"strconv"
	"time"

	st "github.com/jenkinds/jenkinds/internal/stapler"
)

// This file builds the exported beans of the Jenkins model. Property order
// follows Stapler: superclass properties first, each class's sorted by name
// (jenkins-api.md §1.2, §4.2, §5.1, §6.1, §7.1, §9). Callers hold c.mu.

func ms(t time.Time) int64 { return t.UnixMilli() }

func (c *Controller) rootObject(base string) *st.Object {
	builtIn := c.nodes[0]
	var reason any
	if c.quietingDown {
		reason = c.quietDownReason
	}
	return st.New("hudson.model.Hudson",
		st.P("assignedLabels", []*st.Object{{Props: []st.Prop{st.PV("name", st.VisName, "built-in")}}}),
		st.P("mode", "NORMAL"),
		st.P("nodeDescription", "the Jenkins controller's built-in node"),
		st.P("nodeName", ""),
		st.P("numExecutors", len(builtIn.executors)),
		st.P("description", nil),
		st.P("jobs", c.jobObjects(nil, base)),
		st.P("overallLoad", &st.Object{}),
		st.P("primaryView", allView(base)),
		st.P("quietDownReason", reason),
		st.P("quietingDown", c.quietingDown),
		st.P("slaveAgentPort", c.agentPortLocked()),
		st.P("unlabeledLoad", st.Nested("jenkins.model.UnlabeledLoadStatistics")),
		st.P("url", base),
		st.P("useCrumbs", true),
		st.P("useSecurity", true),
		st.P("views", []*st.Object{allView(base)}),
	)
}

func (c *Controller) agentPortLocked() int {
	if p := c.agentPort.Load(); p != 0 {
		return int(p)
	}
	return -1
}

func allView(base string) *st.Object {
	return st.Nested("hudson.model.AllView", st.PV("name", st.VisName, "all"), st.PV("url", st.VisName, base))
}

func (c *Controller) jobObjects(parent *item, base string) []*st.Object {
	items := c.sortedContainer(parent)
	out := make([]*st.Object, len(items))
	for i, it := range items {
		out[i] = c.itemObject(it, base)
	}
	return out
}

func (c *Controller) itemObject(it *item, base string) *st.Object {
	url := base + it.path()
	o := st.Nested(it.kind.class())
	var actions []*st.Object
	if len(it.params) > 0 {
		actions = append(actions, paramsProperty(it.params))
	}
	actions = append(actions, &st.Object{}, &st.Object{})
	o.Add(
		st.P("actions", actions),
		st.P("description", nullable(it.description)),
		st.P("displayName", it.name),
		st.P("displayNameOrNull", nil),
		st.P("fullDisplayName", fullDisplayName(it)),
		st.P("fullName", it.fullName()),
		st.PV("name", st.VisName, it.name),
		st.PV("url", st.VisName, url),
	)
	if it.kind == kindFolder {
		return o.Add(
			st.P("healthReport", []*st.Object{}),
			st.P("jobs", st.Lazy(func() any { return c.jobObjects(it, base) })),
			st.P("primaryView", allView(url)),
			st.P("views", []*st.Object{allView(url)}),
		)
	}
	builds := func(limit int) st.Lazy {
		return func() any {
			n := len(it.builds)
			if limit > 0 && n > limit {
				n = limit
			}
			out := make([]*st.Object, n)
			for i := 0; i < n; i++ {
				out[i] = c.buildObject(it.builds[len(it.builds)-1-i], base)
			}
			return out
		}
	}
	permalink := func(name string) st.Lazy {
		return func() any {
			if b, _ := it.permalink(name); b != nil {
				return c.buildObject(b, base)
			}
			return nil
		}
	}
	var queued *queueItem
	for _, q := range c.queue {
		if q.task == it {
			queued = q
			break
		}
	}
	var queueItemV any
	if queued != nil {
		queueItemV = st.Lazy(func() any { return c.queueItemObject(queued, base) })
	}
	o.Add(
		st.PV("allBuilds", -2, builds(0)),
		st.P("buildable", !it.disabled),
		st.P("builds", builds(100)),
		st.PV("color", st.VisColor, it.color()),
		st.P("firstBuild", st.Lazy(func() any {
			if len(it.builds) == 0 {
				return nil
			}
			return c.buildObject(it.builds[0], base)
		})),
		st.P("healthReport", healthReport(it)),
		st.P("inQueue", queued != nil),
		st.P("keepDependencies", false),
		st.P("lastBuild", permalink("lastBuild")),
		st.P("lastCompletedBuild", permalink("lastCompletedBuild")),
		st.P("lastFailedBuild", permalink("lastFailedBuild")),
		st.P("lastStableBuild", permalink("lastStableBuild")),
		st.P("lastSuccessfulBuild", permalink("lastSuccessfulBuild")),
		st.P("lastUnstableBuild", permalink("lastUnstableBuild")),
		st.P("lastUnsuccessfulBuild", permalink("lastUnsuccessfulBuild")),
		st.P("nextBuildNumber", it.nextBuildNumber),
		st.PI("property", st.Lazy(func() any {
			if len(it.params) == 0 {
				return []*st.Object{}
			}
			return []*st.Object{paramsProperty(it.params)}
		})),
		st.P("queueItem", queueItemV),
	)
	if it.kind == kindPipeline {
		return o.Add(
			st.P("concurrentBuild", it.concurrent),
			st.P("disabled", it.disabled),
			st.P("resumeBlocked", false),
		)
	}
	return o.Add(
		st.P("concurrentBuild", it.concurrent),
		st.P("disabled", it.disabled),
		st.P("downstreamProjects", []*st.Object{}),
		st.P("labelExpression", nil),
		st.P("scm", st.Nested("hudson.scm.NullSCM")),
		st.P("upstreamProjects", []*st.Object{}),
	)
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func fullDisplayName(it *item) string {
	if it.parent == nil {
		return it.name
	}
	return fullDisplayName(it.parent) + " » " + it.name
}

func healthReport(it *item) []*st.Object {
	var recent []*build
	for i := len(it.builds) - 1; i >= 0 && len(recent) < 5; i-- {
		if !it.builds[i].building {
			recent = append(recent, it.builds[i])
		}
	}
	if len(recent) == 0 {
		return []*st.Object{}
	}
	failed := 0
	for _, b := range recent {
		if b.result != "SUCCESS" {
			failed++
		}
	}
	score := 100 * (len(recent) - failed) / len(recent)
	desc := "Build stability: No recent builds failed."
	if failed == len(recent) {
		desc = "Build stability: All recent builds failed."
	} else if failed > 0 {
		desc = "Build stability: " + strconv.Itoa(failed) + " out of the last " + strconv.Itoa(len(recent)) + " builds failed."
	}
	icon := "health-80plus"
	switch {
	case score <= 20:
		icon = "health-00to19"
	case score <= 40:
		icon = "health-20to39"
	case score <= 60:
		icon = "health-40to59"
	case score <= 80:
		icon = "health-60to79"
	}
	return []*st.Object{{Props: []st.Prop{
		st.PV("description", 2, desc),
		st.PV("iconClassName", 2, "icon-"+icon),
		st.PV("iconUrl", 2, icon+".png"),
		st.PV("score", 2, score),
	}}}
}

func paramsProperty(params []paramDef) *st.Object {
	defs := make([]*st.Object, len(params))
	for i, p := range params {
		dv := paramValue{def: p, value: p.defaultValue()}
		d := st.Nested(p.class(),
			st.PV("defaultParameterValue", 3, paramValueObject(dv)),
			st.PV("description", 3, p.description),
			st.PV("name", 3, p.name),
			st.PV("type", 3, p.class()[len("hudson.model."):]),
		)
		if p.kind == paramChoice {
			d.Add(st.PV("choices", 3, p.choices))
		}
		defs[i] = d
	}
	return st.Nested("hudson.model.ParametersDefinitionProperty", st.PV("parameterDefinitions", 2, defs))
}

func paramValueObject(v paramValue) *st.Object {
	var val any = v.value
	if v.def.kind == paramBoolean {
		val = v.value == "true"
	}
	return st.Nested(v.class(), st.PV("name", 3, v.def.name), st.PV("value", 4, val))
}

func causeObjects(cs []cause) []*st.Object {
	out := make([]*st.Object, len(cs))
	for i, cs := range cs {
		if cs.remote {
			out[i] = st.Nested("hudson.model.Cause$RemoteCause",
				st.PV("shortDescription", 3, cs.shortDescription()),
				st.PV("addr", 3, cs.addr),
				st.PV("note", 3, nullable(cs.note)))
			continue
		}
		out[i] = st.Nested("hudson.model.Cause$UserIdCause",
			st.PV("shortDescription", 3, cs.shortDescription()),
			st.PV("userId", 3, cs.user),
			st.PV("userName", 3, cs.user))
	}
	return out
}

func actionObjects(causes []cause, params []paramValue) []*st.Object {
	actions := []*st.Object{st.Nested("hudson.model.CauseAction", st.PV("causes", 2, causeObjects(causes)))}
	if len(params) > 0 {
		vals := make([]*st.Object, len(params))
		for i, p := range params {
			vals[i] = paramValueObject(p)
		}
		actions = append(actions, st.Nested("hudson.model.ParametersAction", st.PV("parameters", 2, vals)))
	}
	return actions
}

func (c *Controller) buildObject(b *build, base string) *st.Object {
	url := base + b.job.path() + strconv.Itoa(b.number) + "/"
	var result any
	if b.result != "" {
		result = b.result
	}
	var executor any
	if b.building {
		executor = st.Lazy(func() any { return c.executorObject(b.node, b.executor, base) })
	}
	actions := append(actionObjects(b.causes, b.params), &st.Object{}, &st.Object{})
	o := st.Nested(b.job.kind.buildClass(),
		st.P("actions", actions),
		st.P("artifacts", []*st.Object{}),
		st.P("building", b.building),
		st.P("description", nil),
		st.P("displayName", "#"+strconv.Itoa(b.number)),
		st.P("duration", b.duration.Milliseconds()),
		st.P("estimatedDuration", b.job.estimatedDuration()),
		st.P("executor", executor),
		st.P("fullDisplayName", fullDisplayName(b.job)+" #"+strconv.Itoa(b.number)),
		st.P("id", strconv.Itoa(b.number)),
		st.P("inProgress", b.building),
		st.P("keepLog", false),
		st.PV("number", st.VisNumber, b.number),
		st.P("queueId", b.queueID),
		st.P("result", result),
		st.P("timestamp", ms(b.start)),
		st.PV("url", st.VisNumber, url),
	)
	if b.job.kind == kindPipeline {
		sibling := func(n int) st.Lazy {
			return func() any {
				if s := b.job.build(n); s != nil {
					return c.buildObject(s, base)
				}
				return nil
			}
		}
		return o.Add(
			st.P("changeSets", []*st.Object{}),
			st.P("culprits", []*st.Object{}),
			st.P("nextBuild", sibling(b.number+1)),
			st.P("previousBuild", sibling(b.number-1)),
		)
	}
	return o.Add(
		st.P("builtOn", b.node.name),
		st.P("changeSet", st.Nested("hudson.scm.EmptyChangeLogSet", st.P("items", []*st.Object{}), st.P("kind", nil))),
		st.P("culprits", []*st.Object{}),
	)
}

func (c *Controller) executorObject(n *node, slot int, base string) *st.Object {
	var cur, progress any = nil, -1
	b := n.executors[slot]
	if b != nil {
		cur = c.buildObject(b, base)
		if b.planned > 0 {
			progress = int(min(99, 100*c.now().Sub(b.start)/b.planned))
		} else {
			progress = 99
		}
	}
	return &st.Object{Props: []st.Prop{
		st.P("currentExecutable", cur),
		st.P("idle", b == nil),
		st.P("likelyStuck", false),
		st.P("number", slot),
		st.P("progress", progress),
	}}
}

func (c *Controller) queueItemObject(q *queueItem, base string) *st.Object {
	now := c.now()
	var cls, why string
	blocked, buildable := false, false
	switch {
	case q.left:
		cls = "hudson.model.Queue$LeftItem"
	case now.Before(q.timestamp):
		cls = "hudson.model.Queue$WaitingItem"
		why = "In the quiet period. Expires in " + timeSpan(q.timestamp.Sub(now))
	default:
		if reason := c.blockedReason(q, now); reason != "" {
			cls, why, blocked = "hudson.model.Queue$BlockedItem", reason, true
		} else {
			cls, buildable = "hudson.model.Queue$BuildableItem", true
			why = "Waiting for next available executor"
			if c.allOffline() {
				why = "All nodes of label ‘built-in’ are offline"
			}
		}
	}
	var whyV any
	if why != "" {
		whyV = why
	}
	o := st.Nested(cls,
		st.PV("actions", st.VisName, actionObjects(q.causes, q.params)),
		st.PV("blocked", st.VisName, blocked),
		st.PV("buildable", st.VisName, buildable),
		st.PV("id", st.VisName, q.id),
		st.PV("inQueueSince", st.VisName, ms(q.inQueueSince)),
		st.PV("params", st.VisName, paramsString(q.params)),
		st.PV("stuck", st.VisName, false),
		st.PV("task", st.VisName, st.Lazy(func() any { return c.itemObject(q.task, base) })),
		st.PV("url", st.VisName, "queue/item/"+strconv.FormatInt(q.id, 10)+"/"),
		st.PV("why", st.VisName, whyV),
	)
	switch cls {
	case "hudson.model.Queue$WaitingItem":
		o.Add(st.PV("timestamp", st.VisName, ms(q.timestamp)))
	case "hudson.model.Queue$BlockedItem":
		o.Add(st.PV("buildableStartMilliseconds", st.VisName, ms(q.timestamp)))
	case "hudson.model.Queue$BuildableItem":
		o.Add(st.PV("buildableStartMilliseconds", st.VisName, ms(q.timestamp)), st.PV("pending", st.VisName, false))
	default:
		var exe any
		if q.executable != nil {
			b := q.executable
			exe = st.Lazy(func() any { return c.buildObject(b, base) })
		}
		o.Add(st.PV("cancelled", st.VisName, q.cancelled), st.PV("executable", st.VisName, exe))
	}
	return o
}

func (c *Controller) allOffline() bool {
	for _, n := range c.nodes {
		if !n.offline && len(n.executors) > 0 {
			return false
		}
	}
	return true
}

func (c *Controller) queueObject(base string) *st.Object {
	items := make([]*st.Object, len(c.queue))
	for i, q := range c.queue {
		items[i] = c.queueItemObject(q, base)
	}
	return st.New("hudson.model.Queue",
		st.PI("discoverableItems", []*st.Object{}),
		st.PI("items", items),
	)
}

func (c *Controller) computerObject(n *node, base string) *st.Object {
	cls := "hudson.slaves.SlaveComputer"
	if n.builtIn() {
		cls = "hudson.model.Hudson$MasterComputer"
	}
	execs := make([]*st.Object, len(n.executors))
	for i := range n.executors {
		execs[i] = c.executorObject(n, i, base)
	}
	var offlineCause any
	if n.offline {
		offlineCause = st.Nested("hudson.slaves.OfflineCause$ChannelTermination")
	}
	label := "built-in"
	if !n.builtIn() {
		label = n.name
	}
	o := st.Nested(cls,
		st.P("actions", []*st.Object{}),
		st.P("assignedLabels", []*st.Object{{Props: []st.Prop{st.PV("name", st.VisName, label)}}}),
		st.P("description", nodeDescription(n)),
		st.P("displayName", n.displayName()),
		st.P("executors", execs),
		st.P("icon", iconFor(n)),
		st.P("iconClassName", iconFor(n)),
		st.P("idle", n.busy() == 0),
		st.P("jnlpAgent", !n.builtIn()),
		st.P("launchSupported", n.builtIn()),
		st.P("loadStatistics", st.Nested("hudson.model.Label$1")),
		st.P("manualLaunchAllowed", true),
		st.PI("monitorData", &st.Object{Props: []st.Prop{
			st.P("hudson.node_monitors.ArchitectureMonitor", nullIfOffline(n, "Linux (amd64)")),
			st.P("hudson.node_monitors.ResponseTimeMonitor", st.Nested("hudson.node_monitors.ResponseTimeMonitor$Data",
				st.P("timestamp", ms(c.now())), st.P("average", 1))),
		}}),
		st.P("numExecutors", len(n.executors)),
		st.P("offline", n.offline),
		st.P("offlineCause", offlineCause),
		st.P("offlineCauseReason", ""),
		st.P("oneOffExecutors", []*st.Object{}),
		st.P("temporarilyOffline", false),
	)
	if !n.builtIn() {
		o.Add(st.P("absoluteRemotePath", nullIfOffline(n, "/home/jenkins")))
	}
	return o
}

func nodeDescription(n *node) string {
	if n.builtIn() {
		return "the Jenkins controller's built-in node"
	}
	return "simulated agent"
}

func iconFor(n *node) string {
	if n.offline {
		return "symbol-computer-x"
	}
	return "symbol-computer"
}

func nullIfOffline(n *node, v string) any {
	if n.offline {
		return nil
	}
	return v
}

func (c *Controller) computerSetObject(base string) *st.Object {
	busy, total := 0, 0
	comps := make([]*st.Object, len(c.nodes))
	for i, n := range c.nodes {
		comps[i] = c.computerObject(n, base)
		if !n.offline {
			busy += n.busy()
			total += len(n.executors)
		}
	}
	return st.New("hudson.model.ComputerSet",
		st.P("busyExecutors", busy),
		st.PI("computer", comps),
		st.P("displayName", "Nodes"),
		st.P("totalExecutors", total),
	)
}

// overallLoadObject serves OverallLoadStatistics. The simulator reports
// the current value in every series (Jenkins reports decaying averages).
func (c *Controller) overallLoadObject() *st.Object {
	busy, online, defined, connecting := 0, 0, 0, 0
	for _, n := range c.nodes {
		defined += len(n.executors)
		if !n.offline {
			online += len(n.executors)
			busy += n.busy()
		}
	}
	queueLen := 0
	for _, q := range c.queue {
		if !c.now().Before(q.timestamp) && c.blockedReason(q, c.now()) == "" {
			queueLen++
		}
	}
	series := func(v int) *st.Object {
		ts := func() *st.Object {
			return &st.Object{Props: []st.Prop{st.P("history", []float64{float64(v)}), st.P("latest", float64(v))}}
		}
		return &st.Object{Props: []st.Prop{st.P("hour", ts()), st.P("min", ts()), st.P("sec10", ts())}}
	}
	return st.New("hudson.model.OverallLoadStatistics",
		st.P("availableExecutors", series(online-busy)),
		st.P("busyExecutors", series(busy)),
		st.P("connectingExecutors", series(connecting)),
		st.P("definedExecutors", series(defined)),
		st.P("idleExecutors", series(online-busy)),
		st.P("onlineExecutors", series(online)),
		st.P("queueLength", series(queueLen)),
		st.P("totalExecutors", series(online)),
		st.P("totalQueueLength", series(len(c.queue))),
	)
}

func (c *Controller) pluginsObject(base string) *st.Object {
	plugins := make([]*st.Object, len(c.plugins))
	for i, p := range c.plugins {
		plugins[i] = &st.Object{Props: []st.Prop{
			st.P("active", !p.Disabled),
			st.P("backupVersion", nil),
			st.P("bundled", false),
			st.P("deleted", false),
			st.P("dependencies", []*st.Object{}),
			st.P("detached", false),
			st.P("downgradable", false),
			st.P("enabled", !p.Disabled),
			st.P("hasUpdate", false),
			st.P("longName", p.LongName),
			st.P("pinned", false),
			st.P("requiredCoreVersion", "2.479.1"),
			st.P("shortName", p.ShortName),
			st.P("supportsDynamicLoad", "MAYBE"),
			st.P("url", "https://plugins.jenkins.io/"+p.ShortName),
			st.P("version", p.Version),
		}}
	}
	return st.New("hudson.LocalPluginManager", st.P("plugins", plugins))
}

func whoAmIObject(user string) *st.Object {
	if user == "" {
		return st.New("hudson.security.WhoAmI",
			st.P("anonymous", true), st.P("authenticated", true),
			st.P("authorities", []string{"anonymous"}), st.P("name", "anonymous"))
	}
	return st.New("hudson.security.WhoAmI",
		st.P("anonymous", false), st.P("authenticated", true),
		st.P("authorities", []string{"authenticated"}), st.P("name", user))
}

func userObject(user, base string) *st.Object {
	return st.New("hudson.model.User",
		st.P("absoluteUrl", base+"user/"+rawEncode(user)),
		st.P("description", nil),
		st.P("fullName", user),
		st.P("id", user),
		st.P("property", []*st.Object{
			st.Nested("jenkins.security.ApiTokenProperty"),
			st.Nested("hudson.model.MyViewsProperty"),
			st.Nested("hudson.model.PaneStatusProperties"),
			st.Nested("hudson.search.UserSearchProperty", st.P("insensitiveSearch", true)),
		}),
	)
}

func (c *Controller) viewObject(base string) *st.Object {
	return st.New("hudson.model.AllView",
		st.P("description", nil),
		st.P("jobs", c.jobObjects(nil, base)),
		st.PV("name", st.VisName, "all"),
		st.P("property", []*st.Object{}),
		st.PV("url", st.VisName, base),
	)
}
