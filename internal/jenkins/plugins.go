package jenkins

import (
	"context"
	"encoding/xml"
	"fmt"
	"net/http"
	"strings"
)

// Plugin is one plugin installed on the controller (jenkins-api.md §9).
type Plugin struct {
	ShortName string `json:"shortName"` // the plugin id, e.g. git
	LongName  string `json:"longName"`  // its display name, e.g. Git plugin
	Version   string `json:"version"`
	Active    bool   `json:"active"`  // loaded and running
	Enabled   bool   `json:"enabled"` // not disabled (takes effect on restart)
}

// pluginsPath asks for the plugin list at depth 1 (at depth 0 plugins are
// {}), pruned by a tree.
const pluginsPath = "pluginManager/api/json?depth=1&tree=plugins%5BshortName%2ClongName%2Cversion%2Cactive%2Cenabled%5D"

// Plugins lists the plugins installed on the controller.
func (c *Client) Plugins(ctx context.Context) ([]Plugin, *Response, error) {
	var pm struct {
		Plugins []Plugin `json:"plugins"`
	}
	r, err := c.GetJSON(ctx, pluginsPath, &pm)
	if err != nil {
		return nil, r, err
	}
	return pm.Plugins, r, nil
}

// InstallPlugins asks the controller's plugin manager to install plugins,
// each "shortName@version" (POST pluginManager/installNecessaryPlugins):
// Jenkins installs each one that is missing or older than asked, never
// downgrades, and loads what it installed at its next restart
// (RestartRequired tells whether one is needed). Needs Overall/Administer.
func (c *Client) InstallPlugins(ctx context.Context, specs []string) error {
	var b strings.Builder
	b.WriteString("<jenkins>")
	for _, s := range specs {
		name, version, ok := strings.Cut(s, "@")
		if !ok || name == "" || version == "" {
			return fmt.Errorf("install plugin %q: want shortName@version", s)
		}
		b.WriteString(`<install plugin="`)
		_ = xml.EscapeText(&b, []byte(s))
		b.WriteString(`"/>`)
	}
	b.WriteString("</jenkins>")
	_, _, err := c.Do(ctx, http.MethodPost, "pluginManager/installNecessaryPlugins", strings.NewReader(b.String()), "text/xml")
	return err
}

// RestartRequired reports whether plugins were installed that the
// controller loads only at its next restart
// (updateCenter/api/json?tree=restartRequiredForCompletion).
func (c *Client) RestartRequired(ctx context.Context) (bool, error) {
	var uc struct {
		Required bool `json:"restartRequiredForCompletion"`
	}
	if _, err := c.GetJSON(ctx, "updateCenter/api/json?tree=restartRequiredForCompletion", &uc); err != nil {
		return false, err
	}
	return uc.Required, nil
}
