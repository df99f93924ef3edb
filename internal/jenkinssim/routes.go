package jenkinssim

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jenkinds/jenkinds/internal/jenkins"
	st "github.com/jenkinds/jenkinds/internal/stapler"
)

// maxConfigBytes bounds a submitted config.xml.
const maxConfigBytes = 10 << 20

// The routes below follow Stapler's dispatch (docs/stapler-dispatch.md):
// an action (doXyz) is called whatever follows its name, so they match on
// the first segment only; api/json is Api.doJson and takes any method and
// any tail; an object reached with nothing after it answers 302 to its
// path with a slash first (addSlash); names are case-sensitive, job names
// are not.

// at reports whether rest starts with the action name.
func at(rest []string, name string) bool { return len(rest) > 0 && rest[0] == name }

// api serves <object>/api/…, with build making the object's bean, and
// reports whether rest was that. api/xml, api/python and api/schema are
// not simulated: 404 (docs/stapler-dispatch.md §3).
func (c *Controller) api(w http.ResponseWriter, r *http.Request, rest []string, build func() *st.Object) bool {
	if !at(rest, "api") {
		return false
	}
	switch {
	case len(rest) == 1:
		if !addSlash(w, r) {
			jenkins.Page(w, http.StatusOK, "Remote API", "<h1>REST API</h1><p>Access data exposed in HTML as XML, JSON or Python: <a href='json?pretty=true'>JSON API</a></p>")
		}
	case rest[1] == "json":
		c.serveJSON(w, r, build)
	default:
		jenkins.NotFound(w)
	}
	return true
}

func (c *Controller) route(w http.ResponseWriter, r *http.Request, id identity, segs []string) {
	if len(segs) == 0 {
		c.dashboard(w, r, id)
		return
	}
	rest := segs[1:]
	switch segs[0] {
	case "api":
		c.api(w, r, segs, func() *st.Object { return c.rootObject(c.base(r)) })
		return
	case "login":
		c.ensureSession(w, &id)
		jenkins.Page(w, http.StatusOK, "Sign in", `<form method="post" action="j_spring_security_check" name="login"><input name="j_username"/><input name="j_password" type="password"/><input type="hidden" name="from" value="`+html.EscapeString(r.URL.Query().Get("from"))+`"/><button type="submit">Sign in</button></form>`)
		return
	case "loginError":
		jenkins.Page(w, http.StatusUnauthorized, "Sign in", "<p>Invalid username or password</p>")
		return
	case "j_spring_security_check":
		c.login(w, r)
		return
	case "logout":
		if id.sessionID != "" {
			c.mu.Lock()
			delete(c.sessions, id.sessionID)
			c.mu.Unlock()
		}
		c.redirect(w, r, "")
		return
	case "health":
		// HealthCheckAction.doIndex: /health is redirected to /health/.
		if len(rest) == 0 && addSlash(w, r) {
			return
		}
		if len(rest) == 0 || at(rest, "index") {
			w.Header().Set("Content-Type", "application/json;charset=utf-8")
			fmt.Fprint(w, `{"status":true}`)
			return
		}
	case "whoAmI":
		if c.api(w, r, rest, func() *st.Object { return whoAmIObject(id.user) }) {
			return
		}
	case "me":
		if c.api(w, r, rest, func() *st.Object { return userObject(id.user, c.base(r)) }) {
			return
		}
	case "user":
		if len(rest) > 1 && rest[0] == c.cfg.User && c.api(w, r, rest[1:], func() *st.Object { return userObject(rest[0], c.base(r)) }) {
			return
		}
	case "crumbIssuer":
		if at(rest, "api") {
			var crumb string
			if len(rest) > 1 && rest[1] == "json" {
				sid := c.ensureSession(w, &id)
				crumb = c.crumbFor(id.user, sid)
			}
			c.api(w, r, rest, func() *st.Object {
				return st.New("hudson.security.csrf.DefaultCrumbIssuer", st.P("crumb", crumb), st.P("crumbRequestField", "Jenkins-Crumb"))
			})
			return
		}
	case "job":
		c.routeItem(w, r, id, segs)
		return
	case "createItem":
		c.createItem(w, r, nil)
		return
	case "view":
		if len(rest) > 1 && rest[0] == "all" && c.api(w, r, rest[1:], func() *st.Object { return c.viewObject(c.base(r)) }) {
			return
		}
	case "queue":
		c.routeQueue(w, r, rest)
		return
	case "computer":
		c.routeComputer(w, r, rest)
		return
	case "overallLoad":
		if c.api(w, r, rest, c.overallLoadObject) {
			return
		}
	case "pluginManager":
		if at(rest, "installNecessaryPlugins") {
			c.installPlugins(w, r)
			return
		}
		if c.api(w, r, rest, func() *st.Object { return c.pluginsObject(c.base(r)) }) {
			return
		}
	case "updateCenter":
		if c.api(w, r, rest, c.updateCenterObject) {
			return
		}
	case "quietDown", "cancelQuietDown", "safeRestart", "restart":
		c.admin(w, r, segs[0])
		return
	case "wsagents":
		// WebSocketAgents.doIndex: only /wsagents/ itself.
		if len(rest) == 0 {
			if !addSlash(w, r) {
				c.wsAgent(w, r)
			}
			return
		}
	case "tcpSlaveAgentListener":
		// TcpSlaveAgentListener's index view: only /tcpSlaveAgentListener/.
		if len(rest) == 0 {
			if !addSlash(w, r) {
				c.agentListener(w)
			}
			return
		}
	}
	jenkins.NotFound(w)
}

// agentListener is TcpSlaveAgentListener's index page: the discovery
// headers of inbound TCP agents.
func (c *Controller) agentListener(w http.ResponseWriter) {
	h := w.Header()
	port := strconv.Itoa(c.AgentPort())
	h.Set("X-Jenkins-JNLP-Port", port)
	h.Set("X-Hudson-JNLP-Port", port)
	h.Set("X-Instance-Identity", c.instanceIdentity())
	h.Set("X-Jenkins-Agent-Protocols", "JNLP4-connect, Ping")
	h.Set("X-Remoting-Minimum-Version", "3107.v665000b_51092")
	h.Set("Content-Type", "text/plain;charset=UTF-8")
	fmt.Fprint(w, "Jenkins")
}

// instanceIdentity stands in for the base64 RSA public key of the
// controller; stable per controller.
func (c *Controller) instanceIdentity() string {
	return "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA" + c.salt
}

func (c *Controller) dashboard(w http.ResponseWriter, r *http.Request, id identity) {
	c.mu.RLock()
	var sb strings.Builder
	fmt.Fprintf(&sb, "<h1>Dashboard [Jenkins]</h1><p>Logged in as %s. <a href='logout'>log out</a></p><table id='projectstatus'>", html.EscapeString(id.user))
	for _, it := range c.root.sortedChildren() {
		fmt.Fprintf(&sb, "<tr><td><a href='%s'>%s</a></td><td>%s</td></tr>", it.path(), html.EscapeString(it.name), it.color())
	}
	sb.WriteString("</table>")
	c.mu.RUnlock()
	jenkins.Page(w, http.StatusOK, "Dashboard", sb.String())
}

func (c *Controller) login(w http.ResponseWriter, r *http.Request) {
	if !c.requirePOST(w, r) {
		return
	}
	user, pass := r.PostFormValue("j_username"), r.PostFormValue("j_password")
	if user != c.cfg.User || pass != c.cfg.Password {
		c.redirect(w, r, "loginError")
		return
	}
	c.mu.Lock()
	sid := c.newSessionLocked(user)
	name := c.cookieName
	c.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: name, Value: sid, Path: "/", HttpOnly: true})
	from := strings.TrimPrefix(r.PostFormValue("from"), "/")
	if strings.Contains(from, "://") || strings.HasPrefix(from, "/") {
		from = ""
	}
	c.redirect(w, r, from)
}

// routeItem serves /job/a/job/b/... .
func (c *Controller) routeItem(w http.ResponseWriter, r *http.Request, id identity, segs []string) {
	c.mu.RLock()
	var it *item
	i := 0
	for i+1 < len(segs) && segs[i] == "job" {
		if it != nil && it.kind != kindFolder {
			break
		}
		next := childNamed(c.container(it), segs[i+1])
		if next == nil {
			it = nil
			break
		}
		it, i = next, i+2
	}
	c.mu.RUnlock()
	if it == nil {
		jenkins.NotFound(w)
		return
	}
	rest := segs[i:]
	if len(rest) == 0 {
		// DirectoryishDispatcher comes before HttpDeletable: DELETE /job/x
		// is redirected, DELETE /job/x/ deletes.
		if addSlash(w, r) {
			return
		}
		switch r.Method {
		case http.MethodDelete:
			c.mu.Lock()
			if !it.deleted {
				c.deleteLocked(it)
			}
			c.mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
		default:
			c.itemPage(w, it)
		}
		return
	}
	if c.api(w, r, rest, func() *st.Object {
		if it.deleted {
			return nil
		}
		return c.itemObject(it, c.base(r))
	}) {
		return
	}
	switch rest[0] {
	case "build":
		c.doBuild(w, r, id, it, false)
		return
	case "buildWithParameters":
		c.doBuild(w, r, id, it, true)
		return
	case "config.xml":
		c.config(w, r, it)
		return
	case "doDelete":
		if !c.requirePOST(w, r) {
			return
		}
		c.mu.Lock()
		parent := ""
		if it.parent != nil {
			parent = it.parent.path()
		}
		if !it.deleted {
			c.deleteLocked(it)
		}
		c.mu.Unlock()
		c.redirect(w, r, parent)
		return
	case "enable", "disable":
		if !c.requirePOST(w, r) {
			return
		}
		c.mu.Lock()
		it.disabled = rest[0] == "disable"
		it.configXML = setDisabledInConfig(it.configXML, it.disabled)
		if !it.disabled {
			c.maintainLocked()
		}
		c.saveJobsLocked()
		path := it.path()
		c.mu.Unlock()
		c.redirect(w, r, path)
		return
	case "createItem":
		if it.kind == kindFolder {
			c.createItem(w, r, it)
			return
		}
	case "index":
		if indexView(r, rest) {
			c.itemPage(w, it)
			return
		}
	}
	if it.isJob() {
		c.routeBuild(w, r, id, it, rest)
		return
	}
	jenkins.NotFound(w)
}

// childNamed finds a job by its URL name: Jenkins and folders keep their
// items in maps ordered by String.CASE_INSENSITIVE_ORDER, so /job/HELLO/ is
// the job hello.
func childNamed(items map[string]*item, name string) *item {
	if it, ok := items[name]; ok {
		return it
	}
	for n, it := range items {
		if strings.EqualFold(n, name) {
			return it
		}
	}
	return nil
}

// indexView reports whether rest is "index" as a view is served: the last
// segment, without a trailing slash (Facet's view dispatcher).
func indexView(r *http.Request, rest []string) bool {
	return len(rest) == 1 && rest[0] == "index" && !strings.HasSuffix(r.URL.EscapedPath(), "/")
}

func (c *Controller) itemPage(w http.ResponseWriter, it *item) {
	jenkins.Page(w, http.StatusOK, it.fullName(), "<h1>"+html.EscapeString(it.fullName())+"</h1>")
}

func (c *Controller) doBuild(w http.ResponseWriter, r *http.Request, id identity, it *item, withParams bool) {
	if err := r.ParseMultipartForm(1 << 20); err != nil && err != http.ErrNotMultipart {
		jenkins.Failure(w, http.StatusBadRequest, err.Error())
		return
	}
	c.mu.RLock()
	disabled, params, authToken, name := it.disabled, it.params, it.authToken, it.fullName()
	c.mu.RUnlock()
	if !it.isJob() {
		jenkins.NotFound(w)
		return
	}
	token, hasToken := r.Form["token"]
	tokenOK := false
	if authToken != "" && hasToken {
		if token[0] != authToken {
			jenkins.Failure(w, http.StatusForbidden, "Invalid token provided.")
			return
		}
		tokenOK = true
	}
	permission := func() bool {
		if tokenOK || r.Method == http.MethodPost {
			return true
		}
		return c.requirePOST(w, r)
	}
	delay, err := c.delay(r)
	if err != nil {
		jenkins.Failure(w, http.StatusBadRequest, err.Error())
		return
	}
	if withParams {
		if !permission() {
			return
		}
		if disabled {
			jenkins.Page(w, http.StatusConflict, "Error", html.EscapeString(name)+" is not buildable")
			return
		}
		if len(params) == 0 {
			jenkins.Failure(w, http.StatusBadRequest, name+" is not parameterized")
			return
		}
		values := make([]paramValue, 0, len(params))
		for _, p := range params {
			v, ok := r.Form[p.name]
			s := p.defaultValue()
			if ok && len(v) > 0 {
				s = v[0]
			}
			pv, err := p.value(s)
			if err != nil {
				jenkins.Failure(w, http.StatusBadRequest, err.Error())
				return
			}
			values = append(values, pv)
		}
		c.enqueue(w, r, id, it, values, delay, tokenOK, true)
		return
	}
	if disabled {
		jenkins.Page(w, http.StatusConflict, "Error", html.EscapeString(name)+" is not buildable")
		return
	}
	if len(params) > 0 && r.Method != http.MethodPost {
		jenkins.Page(w, http.StatusOK, "Build "+name, "<p>This build requires parameters:</p>")
		return
	}
	if !permission() {
		return
	}
	var values []paramValue
	if len(params) > 0 {
		values, err = submittedParams(r, params)
		if err != nil {
			if be, ok := err.(badForm); ok {
				jenkins.Failure(w, http.StatusBadRequest, string(be))
			} else {
				jenkins.ServerError(w, err.Error())
			}
			return
		}
	}
	c.enqueue(w, r, id, it, values, delay, tokenOK, false)
}

type badForm string

func (b badForm) Error() string { return string(b) }

// submittedParams reads the json form field of POST /build on a
// parameterized job (ParametersDefinitionProperty._doBuild).
func submittedParams(r *http.Request, defs []paramDef) ([]paramValue, error) {
	raw := r.FormValue("json")
	if raw == "" {
		if len(r.Form) == 0 {
			return nil, badForm("Nothing is submitted")
		}
		return nil, badForm("This page expects a form submission")
	}
	var form struct {
		Parameter json.RawMessage `json:"parameter"`
	}
	if err := json.Unmarshal([]byte(raw), &form); err != nil {
		return nil, badForm("This page expects a form submission")
	}
	type nv struct {
		Name  string `json:"name"`
		Value any    `json:"value"`
	}
	var list []nv
	if len(form.Parameter) > 0 {
		if form.Parameter[0] == '{' {
			var one nv
			if err := json.Unmarshal(form.Parameter, &one); err != nil {
				return nil, err
			}
			list = []nv{one}
		} else if err := json.Unmarshal(form.Parameter, &list); err != nil {
			return nil, err
		}
	}
	got := map[string]string{}
	for _, p := range list {
		found := false
		for _, d := range defs {
			if d.name == p.Name {
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("java.lang.IllegalArgumentException: No such parameter definition: %s", p.Name)
		}
		got[p.Name] = fmt.Sprint(p.Value)
	}
	values := make([]paramValue, 0, len(defs))
	for _, d := range defs {
		s, ok := got[d.name]
		if !ok {
			s = d.defaultValue()
		}
		v, err := d.value(s)
		if err != nil {
			return nil, badForm(err.Error())
		}
		values = append(values, v)
	}
	return values, nil
}

// delay reads delay= (TimeDuration.fromString: "10sec" is ten seconds, a
// bare "10" ten milliseconds); nil means the quiet period.
func (c *Controller) delay(r *http.Request) (time.Duration, error) {
	v, ok := r.Form["delay"]
	if !ok || len(v) == 0 {
		return c.cfg.QuietPeriod, nil
	}
	s := strings.TrimSpace(v[0])
	mult := time.Millisecond
	if strings.HasSuffix(s, "sec") || strings.HasSuffix(s, "secs") {
		s = strings.TrimSpace(s[:strings.LastIndex(s, "sec")])
		mult = time.Second
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("Invalid time duration value: %s", v[0])
	}
	// Queue.schedule2 takes whole seconds.
	return (time.Duration(n) * mult).Truncate(time.Second), nil
}

func (c *Controller) enqueue(w http.ResponseWriter, r *http.Request, id identity, it *item, values []paramValue, delay time.Duration, viaToken, withParams bool) {
	cs := cause{user: id.user}
	if viaToken {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		cs = cause{remote: true, addr: host, note: r.Form.Get("cause")}
	}
	c.mu.Lock()
	if it.deleted {
		c.mu.Unlock()
		jenkins.NotFound(w)
		return
	}
	res := c.scheduleLocked(it, values, cs, delay)
	qid := res.item.id
	c.mu.Unlock()
	w.Header().Set("Location", requestBase(r)+"queue/item/"+strconv.FormatInt(qid, 10)+"/")
	if res.existing && withParams {
		w.WriteHeader(http.StatusSeeOther)
		return
	}
	w.WriteHeader(http.StatusCreated)
}

func (c *Controller) createItem(w http.ResponseWriter, r *http.Request, parent *item) {
	if !c.requirePOST(w, r) {
		return
	}
	q := r.URL.Query()
	name := q.Get("name")
	if name == "" {
		jenkins.Failure(w, http.StatusBadRequest, "Query parameter 'name' is required")
		return
	}
	if err := checkGoodName(name); err != nil {
		jenkins.Failure(w, http.StatusBadRequest, err.Error())
		return
	}
	var configXML string
	if q.Get("mode") == "copy" {
		from := q.Get("from")
		c.mu.RLock()
		src := c.lookupLocked(strings.TrimPrefix(from, "/"))
		if src == nil && parent != nil {
			src = c.lookupLocked(parent.fullName() + "/" + from)
		}
		if src != nil {
			configXML = src.configXML
		}
		c.mu.RUnlock()
		if src == nil {
			jenkins.Failure(w, http.StatusBadRequest, "No such job: "+from)
			return
		}
	} else {
		ct := r.Header.Get("Content-Type")
		if ct == "" {
			jenkins.Failure(w, http.StatusBadRequest, "No Content-Type header set")
			return
		}
		if !strings.HasPrefix(ct, "application/xml") && !strings.HasPrefix(ct, "text/xml") {
			jenkins.Failure(w, http.StatusBadRequest, "Requires 'mode' parameter, or a config.xml body with Content-Type application/xml")
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxConfigBytes))
		if err != nil {
			jenkins.Failure(w, http.StatusBadRequest, "read config.xml: "+err.Error())
			return
		}
		configXML = string(body)
	}
	cfg, err := parseJobConfig(configXML)
	if err != nil {
		jenkins.ServerError(w, "java.io.IOException: Unable to read config.xml: "+err.Error())
		return
	}
	c.mu.Lock()
	if parent != nil && parent.deleted {
		c.mu.Unlock()
		jenkins.NotFound(w)
		return
	}
	if _, exists := c.container(parent)[name]; exists {
		c.mu.Unlock()
		jenkins.Failure(w, http.StatusBadRequest, "A job already exists with the name ‘"+name+"’")
		return
	}
	it := c.newItemLocked(parent, name, cfg, normaliseConfig(configXML))
	c.saveJobsLocked()
	path := it.path()
	c.mu.Unlock()
	if q.Get("mode") == "copy" {
		c.redirect(w, r, path)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (c *Controller) config(w http.ResponseWriter, r *http.Request, it *item) {
	// AbstractItem.doConfigDotXml reads GET and POST; anything else,
	// HEAD included (Stapler does not turn HEAD into GET), is 400.
	switch r.Method {
	case http.MethodGet:
		c.mu.RLock()
		body := it.configXML
		c.mu.RUnlock()
		w.Header().Set("Content-Type", "application/xml")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = io.WriteString(w, body)
	case http.MethodPost:
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxConfigBytes))
		if err != nil {
			jenkins.Failure(w, http.StatusBadRequest, "read config.xml: "+err.Error())
			return
		}
		cfg, err := parseJobConfig(string(body))
		if err != nil {
			jenkins.ServerError(w, "java.io.IOException: Unable to read config.xml: "+err.Error())
			return
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if (cfg.kind == kindFolder) != (it.kind == kindFolder) {
			jenkins.Failure(w, http.StatusBadRequest, fmt.Sprintf("Expecting %s but got %s instead", it.kind.class(), cfg.kind.class()))
			return
		}
		it.apply(cfg, normaliseConfig(string(body)))
		c.maintainLocked()
		c.saveJobsLocked()
		w.WriteHeader(http.StatusOK)
	default:
		jenkins.ContainerError(w, r, http.StatusBadRequest, "Bad Request")
	}
}

func (c *Controller) routeBuild(w http.ResponseWriter, r *http.Request, id identity, it *item, rest []string) {
	// Job.getDynamic: a number (Integer.parseInt) or a permalink; the
	// getters getFirstBuild, getLastBuild, … answer the same names.
	c.mu.RLock()
	var b *build
	if n, err := strconv.ParseInt(rest[0], 10, 32); err == nil {
		b = it.build(int(n))
	} else if rest[0] == "firstBuild" && len(it.builds) > 0 {
		b = it.builds[0]
	} else if pb, ok := it.permalink(rest[0]); ok {
		b = pb
	}
	c.mu.RUnlock()
	if b == nil {
		jenkins.NotFound(w)
		return
	}
	rest = rest[1:]
	if len(rest) == 0 {
		if !addSlash(w, r) {
			jenkins.Page(w, http.StatusOK, b.fullDisplayName(), "<h1>"+html.EscapeString(b.fullDisplayName())+"</h1>")
		}
		return
	}
	if c.api(w, r, rest, func() *st.Object { return c.buildObject(b, c.base(r)) }) {
		return
	}
	switch rest[0] {
	case "consoleText":
		c.mu.RLock()
		text := b.logText(c.now())
		c.mu.RUnlock()
		w.Header().Set("Content-Type", "text/plain;charset=UTF-8")
		_, _ = io.WriteString(w, text)
		return
	case "logText":
		// getLogText() is an object: progressiveText/progressiveHtml are
		// its actions.
		switch {
		case len(rest) == 1:
			if !addSlash(w, r) {
				jenkins.NotFound(w)
			}
			return
		case rest[1] == "progressiveText" || rest[1] == "progressiveHtml":
			c.progressive(w, r, b, rest[1] == "progressiveHtml")
			return
		}
	case "stop", "term", "kill":
		if !c.requirePOST(w, r) {
			return
		}
		c.mu.Lock()
		if b.building {
			c.finishLocked(b, "ABORTED", "Build was aborted\nAborted by "+id.user+"\n")
		}
		url := c.base(r) + b.job.path() + strconv.Itoa(b.number) + "/"
		c.mu.Unlock()
		if ref := r.Header.Get("Referer"); ref != "" {
			url = ref
		}
		w.Header().Set("Location", url)
		w.WriteHeader(http.StatusFound)
		return
	case "index":
		if indexView(r, rest) {
			jenkins.Page(w, http.StatusOK, b.fullDisplayName(), "<h1>"+html.EscapeString(b.fullDisplayName())+"</h1>")
			return
		}
	}
	jenkins.NotFound(w)
}

func (c *Controller) progressive(w http.ResponseWriter, r *http.Request, b *build, htmlFlavor bool) {
	start, _ := strconv.Atoi(r.FormValue("start"))
	c.mu.RLock()
	text := b.logText(c.now())
	more := b.building
	c.mu.RUnlock()
	if start < 0 || start > len(text) {
		start = 0
	}
	h := w.Header()
	if htmlFlavor {
		h.Set("Content-Type", "text/html;charset=UTF-8")
	} else {
		h.Set("Content-Type", "text/plain;charset=UTF-8")
	}
	h.Set("X-Text-Size", strconv.Itoa(len(text)))
	if more {
		h.Set("X-More-Data", "true")
	}
	chunk := text[start:]
	if htmlFlavor {
		chunk = html.EscapeString(chunk)
	}
	_, _ = io.WriteString(w, chunk)
}

func (c *Controller) routeQueue(w http.ResponseWriter, r *http.Request, rest []string) {
	if c.api(w, r, rest, func() *st.Object { return c.queueObject(c.base(r)) }) {
		return
	}
	switch {
	case at(rest, "cancelItem"):
		if !c.requirePOST(w, r) {
			return
		}
		idStr := r.URL.Query().Get("id")
		qid, _ := strconv.ParseInt(idStr, 10, 64)
		c.mu.Lock()
		q := c.queueItemLocked(qid)
		switch {
		case q == nil:
			c.mu.Unlock()
			jenkins.Page(w, http.StatusNotFound, "Error", "Provided id ("+html.EscapeString(idStr)+") not found")
		case q.left:
			c.mu.Unlock()
			jenkins.Page(w, http.StatusUnprocessableEntity, "Error", "Item for id ("+idStr+") is not cancellable")
		default:
			c.cancelLocked(q)
			c.mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
		}
		return
	case at(rest, "item") && len(rest) >= 2:
		// Queue.getItem(long): the token must parse as a long
		// (TokenList.nextAsLong), or the NumberFormatException escapes
		// Stapler: a 500.
		qid, err := strconv.ParseInt(rest[1], 10, 64)
		if err != nil {
			jenkins.ServerError(w, `java.lang.NumberFormatException: For input string: "`+rest[1]+`"`)
			return
		}
		c.mu.RLock()
		found := c.queueItemLocked(qid) != nil
		c.mu.RUnlock()
		if !found {
			break
		}
		sub := rest[2:]
		if c.api(w, r, sub, func() *st.Object {
			if q := c.queueItemLocked(qid); q != nil {
				return c.queueItemObject(q, c.base(r))
			}
			return nil
		}) {
			return
		}
		switch {
		case len(sub) == 0 && addSlash(w, r):
		case len(sub) == 0 || at(sub, "index"):
			// Queue.Item.doIndex, whatever the method; it quotes the
			// request URI as sent.
			w.Header().Set("Content-Type", "text/plain;charset=UTF-8")
			fmt.Fprintf(w, "Queue item exists. For details check, for example, %sapi/json?tree=cancelled,executable[url]", r.URL.EscapedPath())
		case at(sub, "cancelQueue"):
			if !c.requirePOST(w, r) {
				return
			}
			c.mu.Lock()
			if q := c.queueItemLocked(qid); q != nil && !q.left {
				c.cancelLocked(q)
			}
			c.mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
		default:
			jenkins.NotFound(w)
		}
		return
	}
	jenkins.NotFound(w)
}

func (c *Controller) routeComputer(w http.ResponseWriter, r *http.Request, rest []string) {
	if c.api(w, r, rest, func() *st.Object { return c.computerSetObject(c.base(r)) }) {
		return
	}
	if len(rest) == 0 {
		if !addSlash(w, r) {
			jenkins.NotFound(w) // the nodes page is not simulated
		}
		return
	}
	// ComputerSet.getDynamic → Jenkins.getComputer: "(built-in)" and
	// "(master)" are the built-in node, others by exact name.
	name := rest[0]
	c.mu.RLock()
	var target *node
	for _, n := range c.nodes {
		if (n.builtIn() && (name == "(built-in)" || name == "(master)")) || (!n.builtIn() && n.name == name) {
			target = n
			break
		}
	}
	c.mu.RUnlock()
	switch {
	case target == nil:
	case len(rest) == 1:
		if !addSlash(w, r) {
			jenkins.NotFound(w) // the node's page is not simulated
		}
		return
	case c.api(w, r, rest[1:], func() *st.Object { return c.computerObject(target, c.base(r)) }):
		return
	}
	jenkins.NotFound(w)
}

func (c *Controller) admin(w http.ResponseWriter, r *http.Request, action string) {
	if r.Method != http.MethodPost {
		if action == "safeRestart" || action == "restart" {
			jenkins.Page(w, http.StatusOK, "Restart", "<form method='post'><p>Are you sure about restarting Jenkins?</p><button>Yes</button></form>")
			return
		}
		c.requirePOST(w, r)
		return
	}
	c.mu.Lock()
	switch action {
	case "quietDown":
		c.quietingDown = true
		c.quietDownReason = r.FormValue("message")
	case "cancelQuietDown":
		c.quietingDown, c.quietDownReason, c.safeRestart = false, "", false
		c.maintainLocked()
	case "safeRestart":
		c.quietingDown, c.safeRestart = true, true
		c.quietDownReason = r.FormValue("message")
	}
	c.mu.Unlock()
	c.redirect(w, r, "")
	switch action {
	case "restart":
		c.Restart()
	case "safeRestart":
		c.mu.Lock()
		c.maintainLocked()
		c.mu.Unlock()
	}
}
