package jenkins

import "context"

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
