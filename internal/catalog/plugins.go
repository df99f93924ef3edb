package catalog

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/jenkinds/jenkinds/internal/jenkins"
)

// Plugins is what one controller runs: its Jenkins version and its
// plugins, as read at At from the controller's session Session.
type Plugins struct {
	Version string
	Session string
	List    []jenkins.Plugin
	At      time.Time
}

// plugins is every controller's Plugins.
type plugins struct {
	mu sync.Mutex
	by map[int64]*Plugins
}

// PluginsOf returns controller id's Jenkins version and plugins. They are
// read again (one request; one read at a time per controller, concurrent
// callers sharing it) when older than MaxStaleness, or when the
// controller answered jenkinds from another session since (it restarted:
// plugins change only then). When that read fails, the error comes with
// what was read before, if anything.
func (c *Catalog) PluginsOf(ctx context.Context, id int64) (Plugins, error) {
	rt := c.pool.Get(id)
	if rt == nil {
		return Plugins{}, fmt.Errorf("controller %d is not registered", id)
	}
	c.plugins.mu.Lock()
	cur := c.plugins.by[id]
	c.plugins.mu.Unlock()
	if cur != nil && c.now().Sub(cur.At) < c.cfg.MaxStaleness && (rt.Session() == "" || rt.Session() == cur.Session) {
		return *cur, nil
	}
	v, err, _ := c.jobs.flight.Do("plugins/"+strconv.FormatInt(id, 10), func() (any, error) {
		cl := rt.Client()
		if cl == nil {
			return nil, fmt.Errorf("controller %s has no usable URL", rt.Name())
		}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.RequestTimeout)
		defer cancel()
		list, r, err := cl.Plugins(ctx)
		if err != nil {
			return nil, fmt.Errorf("read the plugins of controller %s: %w", rt.Name(), err)
		}
		p := &Plugins{Version: r.Version, Session: r.Session, List: list, At: c.now()}
		if p.Version == "" {
			p.Version = rt.Version()
		}
		if p.Session == "" {
			p.Session = rt.Session()
		}
		c.plugins.mu.Lock()
		if c.plugins.by == nil {
			c.plugins.by = map[int64]*Plugins{}
		}
		c.plugins.by[id] = p
		c.plugins.mu.Unlock()
		return p, nil
	})
	if err != nil {
		if cur != nil {
			return *cur, err
		}
		return Plugins{}, err
	}
	return *v.(*Plugins), nil
}
