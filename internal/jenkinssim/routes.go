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

	st "github.com/jenkinds/jenkinds/internal/stapler"
)

// maxConfigBytes bounds a submitted config.xml.
const maxConfigBytes = 10 << 20

func isAPIJSON(rest []string) bool { return len(rest) == 2 && rest[0] == "api" && rest[1] == "json" }

func (c *Controller) route(w http.ResponseWriter, r *http.Request, id identity, segs []string) {
	if len(segs) == 0 {
		c.dashboard(w, r, id)
		return
	}
	rest := segs[1:]
	switch segs[0] {
	case "api":
		if isAPIJSON(segs) {
			c.serveJSON(w, r, func() *st.Object { return c.rootObject(c.base(r)) })
			return
		}
	case "login":
		c.ensureSession(w, &id)
		c.page(w, http.StatusOK, "Sign in", `<form method="post" action="j_spring_security_check" name="login"><input name="j_username"/><input name="j_password" type="password"/><input type="hidden" name="from" value="`+html.EscapeString(r.URL.Query().Get("from"))+`"/><button type="submit">Sign in</button></form>`)
		return
	case "loginError":
		c.page(w, http.StatusUnauthorized, "Sign in", "<p>Invalid username or password</p>")
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
		w.Header().Set("Content-Type", "application/json;charset=utf-8")
		fmt.Fprint(w, `{"status":true}`)
		return
	case "whoAmI":
		if isAPIJSON(rest) {
			c.serveJSON(w, r, func() *st.Object { return whoAmIObject(id.user) })
			return
		}
	case "me":
		if isAPIJSON(rest) {
			c.serveJSON(w, r, func() *st.Object { return userObject(id.user, c.base(r)) })
			return
		}
	case "user":
		if len(rest) == 3 && isAPIJSON(rest[1:]) && rest[0] == c.cfg.User {
			c.serveJSON(w, r, func() *st.Object { return userObject(rest[0], c.base(r)) })
			return
		}
	case "crumbIssuer":
		if isAPIJSON(rest) {
			sid := c.ensureSession(w, &id)
			crumb := c.crumbFor(id.user, sid)
			c.serveJSON(w, r, func() *st.Object {
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
		if len(rest) == 3 && rest[0] == "all" && isAPIJSON(rest[1:]) {
			c.serveJSON(w, r, func() *st.Object { return c.viewObject(c.base(r)) })
			return
		}
	case "queue":
		c.routeQueue(w, r, rest)
		return
	case "computer":
		c.routeComputer(w, r, rest)
		return
	case "overallLoad":
		if isAPIJSON(rest) {
			c.serveJSON(w, r, c.overallLoadObject)
			return
		}
	case "pluginManager":
		if isAPIJSON(rest) {
			c.serveJSON(w, r, func() *st.Object { return c.pluginsObject(c.base(r)) })
			return
		}
	case "quietDown", "cancelQuietDown", "safeRestart", "restart":
		if len(rest) == 0 {
			c.admin(w, r, segs[0])
			return
		}
	case "wsagents":
		c.wsAgent(w, r)
		return
	case "tcpSlaveAgentListener":
		h := w.Header()
		port := strconv.Itoa(c.AgentPort())
		h.Set("X-Jenkins-JNLP-Port", port)
		h.Set("X-Hudson-JNLP-Port", port)
		h.Set("X-Instance-Identity", c.instanceIdentity())
		h.Set("X-Jenkins-Agent-Protocols", "JNLP4-connect, Ping")
		h.Set("X-Remoting-Minimum-Version", "3107.v665000b_51092")
		h.Set("Content-Type", "text/plain;charset=UTF-8")
		fmt.Fprint(w, "Jenkins")
		return
	}
	c.notFound(w, r)
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
	c.page(w, http.StatusOK, "Dashboard", sb.String())
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
		next, ok := c.container(it)[segs[i+1]]
		if !ok {
			it = nil
			break
		}
		it, i = next, i+2
	}
	c.mu.RUnlock()
	if it == nil {
		c.notFound(w, r)
		return
	}
	rest := segs[i:]
	if len(rest) == 0 {
		switch r.Method {
		case http.MethodDelete:
			c.mu.Lock()
			if !it.deleted {
				c.deleteLocked(it)
			}
			c.mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
		default:
			c.page(w, http.StatusOK, it.fullName(), "<h1>"+html.EscapeString(it.fullName())+"</h1>")
		}
		return
	}
	if isAPIJSON(rest) {
		c.serveJSON(w, r, func() *st.Object {
			if it.deleted {
				return nil
			}
			return c.itemObject(it, c.base(r))
		})
		return
	}
	if len(rest) == 1 {
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
		}
	}
	if it.isJob() {
		c.routeBuild(w, r, id, it, rest)
		return
	}
	c.notFound(w, r)
}

func (c *Controller) doBuild(w http.ResponseWriter, r *http.Request, id identity, it *item, withParams bool) {
	if err := r.ParseMultipartForm(1 << 20); err != nil && err != http.ErrNotMultipart {
		c.failure(w, r, http.StatusBadRequest, err.Error())
		return
	}
	c.mu.RLock()
	disabled, params, authToken, name := it.disabled, it.params, it.authToken, it.fullName()
	c.mu.RUnlock()
	if !it.isJob() {
		c.notFound(w, r)
		return
	}
	token, hasToken := r.Form["token"]
	tokenOK := false
	if authToken != "" && hasToken {
		if token[0] != authToken {
			c.failure(w, r, http.StatusForbidden, "Invalid token provided.")
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
		c.failure(w, r, http.StatusBadRequest, err.Error())
		return
	}
	if withParams {
		if !permission() {
			return
		}
		if disabled {
			c.page(w, http.StatusConflict, "Error", html.EscapeString(name)+" is not buildable")
			return
		}
		if len(params) == 0 {
			c.failure(w, r, http.StatusBadRequest, name+" is not parameterized")
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
				c.failure(w, r, http.StatusBadRequest, err.Error())
				return
			}
			values = append(values, pv)
		}
		c.enqueue(w, r, id, it, values, delay, tokenOK, true)
		return
	}
	if disabled {
		c.page(w, http.StatusConflict, "Error", html.EscapeString(name)+" is not buildable")
		return
	}
	if len(params) > 0 && r.Method != http.MethodPost {
		c.page(w, http.StatusOK, "Build "+name, "<p>This build requires parameters:</p>")
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
				c.failure(w, r, http.StatusBadRequest, string(be))
			} else {
				c.serverError(w, err.Error())
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
		c.notFound(w, r)
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
		c.failure(w, r, http.StatusBadRequest, "Query parameter 'name' is required")
		return
	}
	if err := checkGoodName(name); err != nil {
		c.failure(w, r, http.StatusBadRequest, err.Error())
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
			c.failure(w, r, http.StatusBadRequest, "No such job: "+from)
			return
		}
	} else {
		ct := r.Header.Get("Content-Type")
		if ct == "" {
			c.failure(w, r, http.StatusBadRequest, "No Content-Type header set")
			return
		}
		if !strings.HasPrefix(ct, "application/xml") && !strings.HasPrefix(ct, "text/xml") {
			c.failure(w, r, http.StatusBadRequest, "Requires 'mode' parameter, or a config.xml body with Content-Type application/xml")
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxConfigBytes))
		if err != nil {
			c.failure(w, r, http.StatusBadRequest, "read config.xml: "+err.Error())
			return
		}
		configXML = string(body)
	}
	cfg, err := parseJobConfig(configXML)
	if err != nil {
		c.serverError(w, "java.io.IOException: Unable to read config.xml: "+err.Error())
		return
	}
	c.mu.Lock()
	if parent != nil && parent.deleted {
		c.mu.Unlock()
		c.notFound(w, r)
		return
	}
	if _, exists := c.container(parent)[name]; exists {
		c.mu.Unlock()
		c.failure(w, r, http.StatusBadRequest, "A job already exists with the name ‘"+name+"’")
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
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		c.mu.RLock()
		body := it.configXML
		c.mu.RUnlock()
		w.Header().Set("Content-Type", "application/xml")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		if r.Method == http.MethodGet {
			_, _ = io.WriteString(w, body)
		}
	case http.MethodPost:
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxConfigBytes))
		if err != nil {
			c.failure(w, r, http.StatusBadRequest, "read config.xml: "+err.Error())
			return
		}
		cfg, err := parseJobConfig(string(body))
		if err != nil {
			c.serverError(w, "java.io.IOException: Unable to read config.xml: "+err.Error())
			return
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if (cfg.kind == kindFolder) != (it.kind == kindFolder) {
			c.failure(w, r, http.StatusBadRequest, fmt.Sprintf("Expecting %s but got %s instead", it.kind.class(), cfg.kind.class()))
			return
		}
		it.apply(cfg, normaliseConfig(string(body)))
		c.maintainLocked()
		c.saveJobsLocked()
		w.WriteHeader(http.StatusOK)
	default:
		c.failure(w, r, http.StatusBadRequest, "Unsupported method "+r.Method)
	}
}

func (c *Controller) routeBuild(w http.ResponseWriter, r *http.Request, id identity, it *item, rest []string) {
	c.mu.RLock()
	var b *build
	if n, err := strconv.Atoi(rest[0]); err == nil {
		b = it.build(n)
	} else if pb, ok := it.permalink(rest[0]); ok {
		b = pb
	}
	c.mu.RUnlock()
	if b == nil {
		c.notFound(w, r)
		return
	}
	rest = rest[1:]
	switch {
	case len(rest) == 0:
		c.page(w, http.StatusOK, b.fullDisplayName(), "<h1>"+html.EscapeString(b.fullDisplayName())+"</h1>")
	case isAPIJSON(rest):
		c.serveJSON(w, r, func() *st.Object { return c.buildObject(b, c.base(r)) })
	case len(rest) == 1 && rest[0] == "consoleText":
		c.mu.RLock()
		text := b.logText(c.now())
		c.mu.RUnlock()
		w.Header().Set("Content-Type", "text/plain;charset=UTF-8")
		_, _ = io.WriteString(w, text)
	case len(rest) == 2 && rest[0] == "logText" && (rest[1] == "progressiveText" || rest[1] == "progressiveHtml"):
		c.progressive(w, r, b, rest[1] == "progressiveHtml")
	case len(rest) == 1 && (rest[0] == "stop" || rest[0] == "term" || rest[0] == "kill"):
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
	default:
		c.notFound(w, r)
	}
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
	switch {
	case isAPIJSON(rest):
		c.serveJSON(w, r, func() *st.Object { return c.queueObject(c.base(r)) })
		return
	case len(rest) == 1 && rest[0] == "cancelItem":
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
			c.page(w, http.StatusNotFound, "Error", "Provided id ("+html.EscapeString(idStr)+") not found")
		case q.left:
			c.mu.Unlock()
			c.page(w, http.StatusUnprocessableEntity, "Error", "Item for id ("+idStr+") is not cancellable")
		default:
			c.cancelLocked(q)
			c.mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
		}
		return
	case len(rest) >= 2 && rest[0] == "item":
		qid, err := strconv.ParseInt(rest[1], 10, 64)
		if err != nil {
			break
		}
		sub := rest[2:]
		switch {
		case isAPIJSON(sub):
			c.serveJSON(w, r, func() *st.Object {
				if q := c.queueItemLocked(qid); q != nil {
					return c.queueItemObject(q, c.base(r))
				}
				return nil
			})
			return
		case len(sub) == 0:
			c.mu.RLock()
			q := c.queueItemLocked(qid)
			c.mu.RUnlock()
			if q == nil {
				break
			}
			w.Header().Set("Content-Type", "text/plain;charset=UTF-8")
			fmt.Fprintf(w, "Queue item exists. For details check, for example, /queue/item/%d/api/json?tree=cancelled,executable[url]", qid)
			return
		case len(sub) == 1 && sub[0] == "cancelQueue":
			if !c.requirePOST(w, r) {
				return
			}
			c.mu.Lock()
			if q := c.queueItemLocked(qid); q != nil && !q.left {
				c.cancelLocked(q)
			}
			c.mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	c.notFound(w, r)
}

func (c *Controller) routeComputer(w http.ResponseWriter, r *http.Request, rest []string) {
	if isAPIJSON(rest) {
		c.serveJSON(w, r, func() *st.Object { return c.computerSetObject(c.base(r)) })
		return
	}
	if len(rest) == 3 && isAPIJSON(rest[1:]) {
		name := rest[0]
		c.serveJSON(w, r, func() *st.Object {
			for _, n := range c.nodes {
				if (n.builtIn() && (name == "(built-in)" || name == "(master)")) || (!n.builtIn() && n.name == name) {
					return c.computerObject(n, c.base(r))
				}
			}
			return nil
		})
		return
	}
	c.notFound(w, r)
}

func (c *Controller) admin(w http.ResponseWriter, r *http.Request, action string) {
	if r.Method != http.MethodPost {
		if action == "safeRestart" || action == "restart" {
			c.page(w, http.StatusOK, "Restart", "<form method='post'><p>Are you sure about restarting Jenkins?</p><button>Yes</button></form>")
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
