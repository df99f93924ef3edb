package jenkinssim

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/jenkinds/jenkinds/internal/jenkins"
	st "github.com/jenkinds/jenkinds/internal/stapler"
)

// Plugin installation, as Jenkins' plugin manager does it:
// POST /pluginManager/installNecessaryPlugins with an XML body whose
// elements name plugins as plugin="shortName@version" installs each one
// that is missing or older than asked (never a downgrade), and the
// installed plugins are loaded at the next restart: until then
// /pluginManager lists what runs, and /updateCenter/api/json says
// restartRequiredForCompletion (PluginManager.doInstallNecessaryPlugins,
// UpdateCenter). The answer is a 302 to pluginManager/updates/.

// installPlugins answers POST /pluginManager/installNecessaryPlugins.
func (c *Controller) installPlugins(w http.ResponseWriter, r *http.Request) {
	if !c.requirePOST(w, r) {
		return
	}
	want, err := parseRequestedPlugins(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		jenkins.ServerError(w, "Failed to parse the plugin list: "+err.Error())
		return
	}
	c.mu.Lock()
	for _, p := range want {
		cur, installed := c.pluginLocked(p.ShortName)
		if staged, ok := c.staged[p.ShortName]; ok {
			cur, installed = staged, true
		}
		if installed && !versionOlder(cur.Version, p.Version) {
			continue // already good
		}
		if installed {
			p.LongName = cur.LongName
		}
		c.staged[p.ShortName] = p
		c.log.Info("plugin installed: loaded at the next restart", "plugin", p.ShortName, "version", p.Version)
	}
	c.mu.Unlock()
	c.redirect(w, r, "pluginManager/updates/")
}

// parseRequestedPlugins reads every plugin="name@version" attribute of an
// XML document (PluginManager.parseRequestedPlugins).
func parseRequestedPlugins(r io.Reader) ([]Plugin, error) {
	dec := xml.NewDecoder(r)
	var out []Plugin
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		el, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		for _, a := range el.Attr {
			if a.Name.Local != "plugin" {
				continue
			}
			name, version, ok := strings.Cut(a.Value, "@")
			if !ok || name == "" || version == "" {
				return nil, fmt.Errorf("plugin %q: want shortName@version", a.Value)
			}
			out = append(out, Plugin{ShortName: name, LongName: name, Version: version})
		}
	}
}

// pluginLocked is the running plugin called name.
func (c *Controller) pluginLocked(name string) (Plugin, bool) {
	for _, p := range c.plugins {
		if p.ShortName == name {
			return p, true
		}
	}
	return Plugin{}, false
}

// loadStagedLocked loads the plugins installed since the last start, as a
// starting Jenkins does.
func (c *Controller) loadStagedLocked() {
	for name, p := range c.staged {
		i := -1
		for k := range c.plugins {
			if c.plugins[k].ShortName == name {
				i = k
			}
		}
		if i < 0 {
			c.plugins = append(c.plugins, p)
		} else {
			p.Disabled = c.plugins[i].Disabled
			c.plugins[i] = p
		}
		c.log.Info("plugin loaded", "plugin", name, "version", p.Version)
	}
	clear(c.staged)
}

// updateCenterObject is /updateCenter/api/json: whether a restart is
// needed to finish the installations.
func (c *Controller) updateCenterObject() *st.Object {
	return st.New("hudson.model.UpdateCenter",
		st.P("restartRequiredForCompletion", len(c.staged) > 0))
}

// versionOlder reports whether version a is older than b, comparing their
// dot-, dash- or underscore-separated parts numerically where both are
// numbers and as text otherwise (close to Jenkins' VersionNumber for the
// versions plugins use).
func versionOlder(a, b string) bool {
	split := func(v string) []string {
		return strings.FieldsFunc(v, func(r rune) bool { return r == '.' || r == '-' || r == '_' })
	}
	pa, pb := split(a), split(b)
	for i := range max(len(pa), len(pb)) {
		switch {
		case i >= len(pa):
			return true // 1.2 < 1.2.1
		case i >= len(pb):
			return false
		}
		na, ea := strconv.Atoi(pa[i])
		nb, eb := strconv.Atoi(pb[i])
		switch {
		case ea == nil && eb == nil && na != nb:
			return na < nb
		case (ea != nil || eb != nil) && pa[i] != pb[i]:
			return pa[i] < pb[i]
		}
	}
	return false
}
