package proxy

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/jenkinds/jenkinds/internal/controller"
)

// sticky returns the controller a browser session belongs to, if it can
// still serve it: the issuer of its JSESSIONID.<hex> cookie, else the one
// named in jenkinds' affinity cookie.
func (p *Proxy) sticky(r *http.Request, cluster string) *controller.Runtime {
	if r.Header.Get("Cookie") == "" {
		return nil
	}
	var fallback *controller.Runtime
	for _, c := range r.Cookies() {
		var id int64
		switch {
		case strings.HasPrefix(c.Name, "JSESSIONID."):
			v, ok := p.affinity.Load(c.Name)
			if !ok {
				continue
			}
			id = v.(int64)
		case c.Name == p.cfg.AffinityCookie:
			n, err := strconv.ParseInt(c.Value, 10, 64)
			if err != nil {
				continue
			}
			id = n
		default:
			continue
		}
		rt := p.pool.Get(id)
		if rt == nil || rt.Instance().ClusterID != cluster || !usable(rt) {
			continue
		}
		if strings.HasPrefix(c.Name, "JSESSIONID.") {
			return rt // the session's own issuer wins
		}
		fallback = rt
	}
	return fallback
}

// setAffinity pins a browser to the controller that answered it.
func (p *Proxy) setAffinity(resp *http.Response, rt *controller.Runtime) {
	id := strconv.FormatInt(rt.ID(), 10)
	if c, err := resp.Request.Cookie(p.cfg.AffinityCookie); err == nil && c.Value == id {
		return
	}
	ck := &http.Cookie{Name: p.cfg.AffinityCookie, Value: id, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode}
	resp.Header.Add("Set-Cookie", ck.String())
}
