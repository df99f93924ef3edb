package fleet

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/xml"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/jenkinds/jenkinds/internal/jenkins"
)

// Remote triggers: POST (or GET) /job/X/build?token=T without credentials
// is allowed when T is the job's "Trigger builds remotely" token
// (BuildAuthorizationToken). jenkinds reads the token from the job's
// config.xml on a controller that has the job (with that controller's API
// token) and keeps it for AuthTTL.

type tokenKey struct{ cluster, job string }

type jobToken struct {
	token   string // "" when the job has none
	expires time.Time
}

type tokenCache struct {
	mu sync.Mutex
	m  map[tokenKey]jobToken
}

// remoteTrigger reports whether q is a trigger authorised by the job's
// remote token; it answers 403 itself when the token is wrong or the job
// has none.
func (f *Front) remoteTrigger(q *req, given string) bool {
	tok, err := f.jobToken(q)
	if err != nil {
		writeBuildError(q, err)
		return false
	}
	if tok == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(given)) != 1 {
		jenkins.Failure(q.w, http.StatusForbidden, "Invalid token provided.")
		return false
	}
	host, _, _ := net.SplitHostPort(q.r.RemoteAddr)
	q.remote = host
	return true
}

func (f *Front) jobToken(q *req) (string, error) {
	k, now := tokenKey{q.cluster, q.job}, f.now()
	f.tokens.mu.Lock()
	t, ok := f.tokens.m[k]
	f.tokens.mu.Unlock()
	if ok && now.Before(t.expires) {
		return t.token, nil
	}
	info, err := q.jobInfo(q.job)
	if err != nil {
		return "", err
	}
	var last error = errors.New("no controller that has the job is available")
	for _, rt := range f.usable(info.Controllers) {
		ctx, cancel := context.WithTimeout(q.r.Context(), f.cfg.RequestTimeout)
		res, err := f.fetch(ctx, rt, http.MethodGet, jenkins.JobPath(q.job)+"config.xml", asJenkinds)
		if err != nil {
			cancel()
			last = err
			continue
		}
		var cfg struct {
			AuthToken string `xml:"authToken"`
		}
		body, err := io.ReadAll(io.LimitReader(res.Body, 8<<20))
		res.Body.Close()
		cancel()
		if err == nil && res.StatusCode != http.StatusOK {
			err = &jenkins.StatusError{Method: http.MethodGet, URL: rt.Instance().Name + "/" + jenkins.JobPath(q.job) + "config.xml", Code: res.StatusCode}
		}
		if err == nil {
			// Jenkins writes XML 1.1, which encoding/xml refuses: drop the
			// declaration.
			if bytes.HasPrefix(body, []byte("<?xml")) {
				if i := bytes.Index(body, []byte("?>")); i > 0 {
					body = body[i+2:]
				}
			}
			err = xml.Unmarshal(body, &cfg)
		}
		if err != nil {
			last = err
			continue
		}
		f.tokens.mu.Lock()
		f.tokens.m[k] = jobToken{token: cfg.AuthToken, expires: now.Add(f.cfg.AuthTTL)}
		f.tokens.mu.Unlock()
		return cfg.AuthToken, nil
	}
	return "", &unreachable{last}
}

// unreachable: no controller could tell; the front door answers 503.
type unreachable struct{ err error }

func (u *unreachable) Error() string { return "read the job's remote trigger token: " + u.err.Error() }
func (u *unreachable) Unwrap() error { return u.err }
