package jenkinssim

import (
	"errors"
	"fmt"
	"net"
	"strconv"
)

// FleetConfig starts several controllers that share credentials.
type FleetConfig struct {
	// Controllers is how many to start. Default: 1.
	Controllers int
	// BasePort puts controller i on BasePort+i; 0 picks free ports.
	BasePort int
	// Host is the listen host. Default: 127.0.0.1.
	Host string
	// Template is the configuration of every controller; Name and Addr are
	// set per controller ("jenkins-0", "jenkins-1", …) and Seed varies.
	Template Config
}

// StartFleet creates and starts the controllers; on error none is left
// running.
func StartFleet(fc FleetConfig) ([]*Controller, error) {
	n := max(fc.Controllers, 1)
	host := fc.Host
	if host == "" {
		host = "127.0.0.1"
	}
	tmpl := fc.Template
	if tmpl.Token == "" {
		tmpl.Token = GenerateToken()
	}
	var out []*Controller
	for i := 0; i < n; i++ {
		cfg := tmpl
		cfg.Name = "jenkins-" + strconv.Itoa(i)
		port := 0
		if fc.BasePort > 0 {
			port = fc.BasePort + i
		}
		cfg.Addr = net.JoinHostPort(host, strconv.Itoa(port))
		cfg.Seed = tmpl.Seed + uint64(i) + 1
		if tmpl.DataDir != "" {
			cfg.DataDir = fmt.Sprintf("%s/%s", tmpl.DataDir, cfg.Name)
		}
		c, err := New(cfg)
		if err == nil {
			err = c.Start()
		}
		if err != nil {
			var errs []error
			for _, o := range out {
				errs = append(errs, o.Close())
			}
			return nil, errors.Join(append([]error{fmt.Errorf("start %s: %w", cfg.Name, err)}, errs...)...)
		}
		out = append(out, c)
	}
	return out, nil
}
