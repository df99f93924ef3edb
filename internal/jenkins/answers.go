package jenkins

import (
	"html"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// This file is the one kit of Jenkins-style answers for servers that
// stand in for Jenkins (the front door, job sync, the simulator), in
// Jenkins' own wording (jenkins-api.md §3, §6.2): clients branch on these
// statuses and headers (gojenkins and npm jenkins read X-Error), and
// humans read the pages.

// Page writes an HTML page as Jenkins' layout does: status, the
// X-Hudson header every Jenkins page advertises, and title and bodyHTML
// (already HTML; title is escaped here).
func Page(w http.ResponseWriter, status int, title, bodyHTML string) {
	h := w.Header()
	h.Set("X-Hudson", "1.395")
	h.Set("Content-Type", "text/html;charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte("<!DOCTYPE html><html><head><title>" + html.EscapeString(title) + " [Jenkins]</title></head><body>" +
		bodyHTML + "</body></html>\n"))
}

// NotFound is Jenkins' 404 page, the same whether the thing does not
// exist or the caller may not see it.
func NotFound(w http.ResponseWriter) {
	Page(w, http.StatusNotFound, "Not Found", "<h2>Not Found</h2><p>This page may not exist, or you may not have permission to see it.</p>")
}

// Failure is hudson.model.Failure: msg in the X-Error header (made
// header-safe) and on an error page, with status (400 as a rule).
func Failure(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("X-Error", HeaderSafe(msg))
	Page(w, status, "Error", "<h1>Error</h1><p>"+html.EscapeString(msg)+"</p>")
}

// ServerError is Jenkins' 500 "Oops!" page, with msg (a stack trace's
// first line in Jenkins) shown preformatted.
func ServerError(w http.ResponseWriter, msg string) {
	Page(w, http.StatusInternalServerError, "Oops!", "<h2>A problem occurred while processing the request</h2><pre>"+html.EscapeString(msg)+"</pre>")
}

// RequirePOST is Jenkins' answer to another method on a @RequirePOST
// action (and to GET …/build without ?token=): 405 with Allow: POST and the
// "This URL requires POST" page of CrumbFilter/retry.jelly, which Jenkins
// registers in place of Stapler's own (docs/stapler-dispatch.md §4).
func RequirePOST(w http.ResponseWriter) {
	w.Header().Set("Allow", "POST")
	Page(w, http.StatusMethodNotAllowed, "Method Not Allowed", "<h1>This URL requires POST</h1>")
}

// ContainerError is the servlet container's (Jetty's) error page, which
// answers HttpServletResponse.sendError when Jenkins has no page of its own
// for the status: 401 for bad credentials, 400 from the semicolon filter
// or for a wrong method on config.xml. reason is the message shown.
func ContainerError(w http.ResponseWriter, r *http.Request, status int, reason string) {
	h := w.Header()
	h.Set("Content-Type", "text/html;charset=iso-8859-1")
	w.WriteHeader(status)
	code, reason := strconv.Itoa(status), html.EscapeString(reason)
	_, _ = w.Write([]byte("<html><head><title>Error " + code + " " + reason + "</title></head><body><h2>HTTP ERROR " + code + " " + reason +
		"</h2>\n<table><tr><th>URI:</th><td>" + html.EscapeString(r.URL.EscapedPath()) + "</td></tr><tr><th>STATUS:</th><td>" + code +
		"</td></tr><tr><th>MESSAGE:</th><td>" + reason + "</td></tr></table></body></html>\n"))
}

// RejectSemicolon answers 400 "Semicolons are not allowed in the request
// URI" when the request's path (as sent, so not "%3B") holds a ';', as
// Jenkins' SuspiciousRequestFilter does before anything else runs: a
// ";jsessionid=…" path parameter is refused, not ignored. It reports
// whether it answered.
func RejectSemicolon(w http.ResponseWriter, r *http.Request) bool {
	if !strings.Contains(r.URL.EscapedPath(), ";") {
		return false
	}
	ContainerError(w, r, http.StatusBadRequest, "Semicolons are not allowed in the request URI")
	return true
}

// AddSlash is Stapler's DirectoryishDispatcher: a request that ends at an
// object (a job, a build, a queue item) without a trailing slash is
// answered 302 with the relative Location canonical + "/" and the query,
// whatever its method. canonical is the canonical escaped path
// (stapler.Path.Canonical), without the slash.
func AddSlash(w http.ResponseWriter, r *http.Request, canonical string) {
	loc := canonical + "/"
	if r.URL.RawQuery != "" {
		loc += "?" + r.URL.RawQuery
	}
	w.Header().Set("Location", loc)
	w.WriteHeader(http.StatusFound)
}

// ServiceUnavailable is jenkinds' own 503, not Jenkins': no controller can take
// the request now. msg says why, after "jenkinds: "; retryAfter becomes
// Retry-After in whole seconds, rounded up (none when not positive).
func ServiceUnavailable(w http.ResponseWriter, msg string, retryAfter time.Duration) {
	h := w.Header()
	if retryAfter > 0 {
		h.Set("Retry-After", strconv.FormatInt(int64((retryAfter+time.Second-1)/time.Second), 10))
	}
	h.Set("Content-Type", "text/plain;charset=utf-8")
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = w.Write([]byte("jenkinds: " + msg + "\n"))
}
