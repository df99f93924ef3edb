package jenkinssim

import (
	"github.com/jenkinds/jenkinds/internal/jenkins"

	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/jenkinds/jenkinds/internal/stapler"
)

// identity is who a request runs as.
type identity struct {
	user      string // "" = anonymous
	viaToken  bool   // authenticated by API token: crumb-exempt
	sessionID string // the request's valid session, if any
}

var serverHeader = []string{"Jetty(12.0.16)"}

// unprotected are the top-level paths readable without Overall/Read.
var unprotected = map[string]bool{
	"login": true, "loginError": true, "logout": true, "j_spring_security_check": true, "health": true,
	"whoAmI": true, "wsagents": true, "tcpSlaveAgentListener": true, "adjuncts": true, "error": true,
	"oops": true, "accessDenied": true, "signup": true, "securityRealm": true, "404": true,
}

// ServeHTTP is the simulated Jenkins.
func (c *Controller) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.stats.requests.Add(1)
	if strings.HasPrefix(r.URL.Path, "/__sim/") {
		if r.Header.Get("X-Forwarded-For") != "" || r.Header.Get("Forwarded") != "" {
			// Through a proxy, from anyone: the fault API is for whoever
			// runs the simulator, on its own port.
			jenkins.NotFound(w)
			return
		}
		c.serveSim(w, r)
		return
	}
	if c.requestFault(w, r) {
		return
	}
	c.mu.RLock()
	state, session := c.state, c.session
	c.mu.RUnlock()
	if state != stateRunning {
		w.Header().Set("Content-Type", "text/html;charset=utf-8")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, "<!DOCTYPE html><html><head><title>Restarting Jenkins</title></head><body><h1>Please wait while Jenkins is restarting</h1><p>Your browser will reload automatically when Jenkins is ready.</p></body></html>\n")
		return
	}
	h := w.Header()
	h["Server"] = serverHeader
	h["X-Jenkins"] = c.versionHeader
	h["X-Jenkins-Session"] = []string{session}
	// Jenkins' filters run in this order before Stapler reads the path
	// (docs/stapler-dispatch.md §1): the semicolon filter, authentication,
	// the crumb filter.
	if jenkins.RejectSemicolon(w, r) {
		return
	}
	path, perr := stapler.ParsePath(r.URL.EscapedPath())
	id, ok := c.authenticate(w, r)
	if !ok {
		return
	}
	first := ""
	if len(path.Tokens) > 0 {
		first = path.Tokens[0]
	}
	if id.user == "" && !unprotected[first] {
		c.authenticationRequired(w, r)
		return
	}
	if r.Method == http.MethodPost && !id.viaToken && first != "j_spring_security_check" && !c.validCrumb(r, id) {
		jenkins.Failure(w, http.StatusForbidden, "No valid crumb was included in the request")
		return
	}
	if perr != nil {
		jenkins.ServerError(w, "java.lang.IllegalArgumentException: "+r.URL.EscapedPath())
		return
	}
	c.route(w, r, id, path.Tokens)
}

// addSlash answers a request that ends at an object without a trailing
// slash as Stapler does (302 to the path with one) and reports whether it
// did.
func addSlash(w http.ResponseWriter, r *http.Request) bool {
	p, err := stapler.ParsePath(r.URL.EscapedPath())
	if err != nil || p.Slash {
		return false
	}
	jenkins.AddSlash(w, r, p.Canonical())
	return true
}

// authenticate resolves Basic credentials or the session cookie. On bad
// credentials it answers 401 and returns false.
func (c *Controller) authenticate(w http.ResponseWriter, r *http.Request) (identity, bool) {
	var id identity
	if _, hasCookie := r.Header["Cookie"]; hasCookie {
		c.mu.RLock()
		if ck, err := r.Cookie(c.cookieName); err == nil {
			if user, ok := c.sessions[ck.Value]; ok {
				id.sessionID = ck.Value
				id.user = user
			}
		}
		c.mu.RUnlock()
	}
	authz := r.Header.Get("Authorization")
	if authz == "" {
		return id, true
	}
	// Fast path: the exact header of a token or password request.
	if id.user == "" {
		if authz == c.tokenAuthz {
			return identity{user: c.cfg.User, viaToken: true}, true
		}
		if authz == c.passwordAuthz {
			return identity{user: c.cfg.User}, true
		}
	}
	user, secret, ok := parseBasic(authz)
	if ok && id.user != "" && user == id.user {
		// BasicHeaderProcessor.authenticationIsRequired: the session
		// already holds this user, so the header is not looked at and the
		// request is not an API-token request (its POSTs need a crumb).
		return id, true
	}
	if ok && user == c.cfg.User {
		switch {
		case subtle.ConstantTimeCompare([]byte(secret), []byte(c.cfg.Token)) == 1:
			return identity{user: user, viaToken: true, sessionID: id.sessionID}, true
		case subtle.ConstantTimeCompare([]byte(secret), []byte(c.cfg.Password)) == 1:
			return identity{user: user, sessionID: id.sessionID}, true
		}
	}
	w.Header().Set("WWW-Authenticate", `Basic realm="Jenkins"`)
	jenkins.ContainerError(w, r, http.StatusUnauthorized, "Unauthorized")
	return id, false
}

func parseBasic(h string) (user, secret string, ok bool) {
	const prefix = "Basic "
	if len(h) < len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", "", false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(h[len(prefix):]))
	if err != nil {
		return "", "", false
	}
	user, secret, ok = strings.Cut(string(raw), ":")
	return user, secret, ok
}

// authenticationRequired is HudsonAuthenticationEntryPoint: 403 with a
// page that sends a browser to the login page.
func (c *Controller) authenticationRequired(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Hudson", "1.395")
	h.Set("Content-Type", "text/html;charset=UTF-8")
	w.WriteHeader(http.StatusForbidden)
	if r.Header.Get("X-Requested-With") == "XMLHttpRequest" {
		return
	}
	from := url.QueryEscape(r.URL.RequestURI())
	fmt.Fprintf(w, "<html><head><meta http-equiv='refresh' content='1;url=/login?from=%s'/><script>window.location.replace('/login?from=%s');</script></head><body style='background-color:white; color:white;'>\nAuthentication required\n</body></html>\n", from, from)
}

func (c *Controller) validCrumb(r *http.Request, id identity) bool {
	got := r.Header.Get("Jenkins-Crumb")
	if got == "" {
		got = r.URL.Query().Get("Jenkins-Crumb")
	}
	if got == "" && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		got = r.PostFormValue("Jenkins-Crumb")
	}
	if got == "" || id.sessionID == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(c.crumbFor(id.user, id.sessionID))) == 1
}

// ensureSession returns the request's session, creating one (and setting
// the JSESSIONID.<hex> cookie) if it has none.
func (c *Controller) ensureSession(w http.ResponseWriter, id *identity) string {
	if id.sessionID != "" {
		return id.sessionID
	}
	c.mu.Lock()
	sid := c.newSessionLocked(id.user)
	name := c.cookieName
	c.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: name, Value: sid, Path: "/", HttpOnly: true})
	id.sessionID = sid
	return sid
}

// base is the root URL for absolute links: the configured root URL, else
// derived from the request and its X-Forwarded-* headers.
func (c *Controller) base(r *http.Request) string {
	if c.cfg.RootURL != "" {
		return strings.TrimSuffix(c.cfg.RootURL, "/") + "/"
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := firstValue(r.Header.Get("X-Forwarded-Proto")); p != "" {
		scheme = p
	}
	host := r.Host
	if fh := firstValue(r.Header.Get("X-Forwarded-Host")); fh != "" {
		host = fh
	}
	if port := firstValue(r.Header.Get("X-Forwarded-Port")); port != "" {
		h := host
		if hh, _, err := net.SplitHostPort(host); err == nil {
			h = hh
		}
		if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
			host = h
		} else {
			host = net.JoinHostPort(h, port)
		}
	}
	return scheme + "://" + host + "/"
}

// requestBase is the servlet request's own root, used for the Location of
// 201 responses (Jenkins builds it from the request, not the root URL).
func requestBase(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + "/"
}

func firstValue(v string) string {
	if i := strings.IndexByte(v, ','); i >= 0 {
		v = v[:i]
	}
	return strings.TrimSpace(v)
}

var (
	jsonBufs        = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}
	jsonContentType = []string{"application/json;charset=utf-8"}
	nosniff         = []string{"nosniff"}
	deny            = []string{"deny"}
)

// serveJSON renders obj under the request's tree=/depth=/pretty, with the
// headers of Api.doJson.
func (c *Controller) serveJSON(w http.ResponseWriter, r *http.Request, build func() *stapler.Object) {
	var q url.Values
	if r.URL.RawQuery != "" {
		q = r.URL.Query()
	}
	if q.Has("jsonp") {
		jenkins.Failure(w, http.StatusForbidden, "jsonp forbidden; implement jenkins.security.SecureRequester")
		return
	}
	opts := stapler.Options{Pretty: q.Has("pretty")}
	if q.Has("tree") {
		t, err := stapler.ParseTree(q.Get("tree"))
		if err != nil {
			jenkins.ServerError(w, err.Error())
			return
		}
		opts.Tree = t
	} else if d := q.Get("depth"); d != "" {
		n, err := strconv.Atoi(d)
		if err != nil {
			jenkins.ServerError(w, "Depth parameter must be a number")
			return
		}
		opts.Depth = n
	}
	bufp := jsonBufs.Get().(*[]byte)
	defer jsonBufs.Put(bufp)
	c.mu.RLock()
	obj := build()
	if obj != nil {
		*bufp = stapler.AppendJSON((*bufp)[:0], obj, opts)
	}
	c.mu.RUnlock()
	if obj == nil {
		jenkins.NotFound(w)
		return
	}
	body := *bufp
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h["X-Content-Type-Options"] = nosniff
	h["X-Frame-Options"] = deny
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(body)
}

// requirePOST answers 405 for anything but POST (@RequirePOST).
func (c *Controller) requirePOST(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodPost {
		return true
	}
	jenkins.RequirePOST(w)
	return false
}

// redirect answers 302 to a path below the root.
func (c *Controller) redirect(w http.ResponseWriter, r *http.Request, rel string) {
	w.Header().Set("Location", c.base(r)+rel)
	w.WriteHeader(http.StatusFound)
}
