package main

import (
	"bytes"
	"fmt"
)

// jenkinsVersion is the X-Jenkins header every answer carries.
const jenkinsVersion = "2.528.3"

const (
	jsonType = "application/json;charset=utf-8"
	htmlType = "text/html;charset=utf-8"
)

// answer is one fixed response, encoded once: the status line and every
// header but Date and Connection, then the body.
type answer struct {
	head []byte
	body []byte
}

// answers are the fixed responses of one backend process; its name and
// session are part of every head.
type answers struct {
	root, computer, queue, login, dashboard, health, notFound, notAllowed, badRequest answer
}

func newAnswers(name, session string) *answers {
	mk := func(code int, reason, ctype, body string, extra ...string) answer {
		var h bytes.Buffer
		fmt.Fprintf(&h, "HTTP/1.1 %d %s\r\n", code, reason)
		fmt.Fprintf(&h, "Content-Type: %s\r\nContent-Length: %d\r\n", ctype, len(body))
		fmt.Fprintf(&h, "X-Jenkins: %s\r\nX-Jenkins-Session: %s\r\nX-Backend: %s\r\n", jenkinsVersion, session, name)
		for _, e := range extra {
			h.WriteString(e + "\r\n")
		}
		return answer{head: h.Bytes(), body: []byte(body)}
	}
	return &answers{
		root: mk(200, "OK", jsonType,
			`{"_class":"hudson.model.Hudson","mode":"NORMAL","nodeDescription":"the Jenkins controller's built-in node","nodeName":"","numExecutors":2,"quietingDown":false,"useCrumbs":true,"useSecurity":true}`),
		computer: mk(200, "OK", jsonType,
			`{"busyExecutors":0,"totalExecutors":2,"computer":[{"_class":"hudson.model.Hudson$MasterComputer","offline":false}]}`),
		queue: mk(200, "OK", jsonType, `{"items":[]}`),
		login: mk(200, "OK", htmlType,
			`<!DOCTYPE html><html><head><title>Sign in [Jenkins]</title></head><body><form method="post" action="j_spring_security_check"><input name="j_username"><input name="j_password" type="password"><button name="Submit">Sign in</button></form></body></html>`),
		dashboard:  mk(200, "OK", htmlType, `<!DOCTYPE html><html><head><title>Dashboard [Jenkins]</title></head><body></body></html>`),
		health:     mk(200, "OK", jsonType, `{"status":true}`),
		notFound:   mk(404, "Not Found", htmlType, `<html><body><h2>HTTP ERROR 404 Not Found</h2></body></html>`),
		notAllowed: mk(405, "Method Not Allowed", htmlType, `<html><body><h2>HTTP ERROR 405 Method Not Allowed</h2></body></html>`, "Allow: GET, HEAD"),
		badRequest: mk(400, "Bad Request", htmlType, `<html><body><h2>HTTP ERROR 400 Bad Request</h2></body></html>`),
	}
}

// route picks the answer for a GET or HEAD of path (query removed). Any
// path ending in /api/json gets the root's small body, as a stand-in for
// Jenkins' many API objects.
func (a *answers) route(path []byte) *answer {
	switch string(path) {
	case "/computer/api/json":
		return &a.computer
	case "/queue/api/json":
		return &a.queue
	case "/login":
		return &a.login
	case "/health":
		return &a.health
	case "/":
		return &a.dashboard
	}
	if bytes.HasSuffix(path, []byte("/api/json")) {
		return &a.root
	}
	return &a.notFound
}
