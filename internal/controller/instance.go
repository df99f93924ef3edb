package controller

import (
	"strings"
	"time"

	"github.com/jenkinds/jenkinds/internal/balance"
)

// DefaultCluster is the cluster of an instance registered without one.
const DefaultCluster = "default"

// Instance is one registered Jenkins controller: its configuration and the
// health state the monitor records. Its JSON is the API's rendering; the API
// token never appears in it (see Store.Token).
type Instance struct {
	ID              int64  `json:"id"`
	Name            string `json:"name"`
	URL             string `json:"url"`
	Username        string `json:"username"`
	Description     string `json:"description"`
	IsPrimary       bool   `json:"isPrimary"`
	ClusterID       string `json:"clusterId"`
	LoadBalancerURL string `json:"loadBalancerUrl"`
	Priority        int    `json:"priority"`
	HealthCheckURL  string `json:"healthCheckUrl"`
	MaxConnections  int    `json:"maxConnections"`
	IsActive        bool   `json:"isActive"`
	// HasAPIToken tells whether a token is stored, without revealing it.
	HasAPIToken bool      `json:"hasApiToken"`
	CreatedAt   time.Time `json:"createdAt"`
	UpdatedAt   time.Time `json:"updatedAt"`

	// HealthStatus is the health last recorded (JSON and SQL: unknown,
	// healthy, degraded, unhealthy); the live one is the Runtime's.
	HealthStatus    balance.Health `json:"healthStatus"`
	LastHealthCheck *time.Time     `json:"lastHealthCheck"` // nil until the first check
	LastError       string         `json:"lastError,omitempty"`
	CurrentLoad     int            `json:"currentLoad"`
	Version         string         `json:"version"` // Jenkins version, X-Jenkins header
	RestartCount    int            `json:"restartCount"`
	// Draining controllers get no new sessions or builds; what they run
	// finishes (POST /api/v1/instances/{id}/drain and /undrain).
	Draining bool `json:"draining"`
	// JenkinsSession is the X-Jenkins-Session the controller last answered
	// with; it changes when Jenkins restarts.
	JenkinsSession string `json:"-"`

	sealedToken string // api_token column: sealed text, never plaintext
}

// HealthCheckTarget is the URL the health monitor probes: HealthCheckURL
// itself when absolute; URL with HealthCheckURL appended when it is a path,
// so /api/json on https://ci.example.com/jenkins is
// https://ci.example.com/jenkins/api/json; "" when none is configured and the
// monitor picks its own default.
func (i Instance) HealthCheckTarget() string {
	if strings.HasPrefix(i.HealthCheckURL, "/") {
		return i.URL + i.HealthCheckURL
	}
	return i.HealthCheckURL
}

// CreateInput registers a controller. Pointer fields have a default when
// nil: ClusterID "default", MaxConnections 100, IsActive true.
type CreateInput struct {
	Name            string  `json:"name"`
	URL             string  `json:"url"`
	Username        string  `json:"username"`
	APIToken        string  `json:"apiToken"` // plaintext; sealed before it is stored
	Description     string  `json:"description"`
	IsPrimary       bool    `json:"isPrimary"`
	ClusterID       *string `json:"clusterId"`
	LoadBalancerURL string  `json:"loadBalancerUrl"`
	Priority        int     `json:"priority"`
	HealthCheckURL  string  `json:"healthCheckUrl"`
	MaxConnections  *int    `json:"maxConnections"`
	IsActive        *bool   `json:"isActive"`
}

// Patch changes some fields of a controller: nil leaves a field as it is.
// APIToken replaces the token, or clears it when set to "";
// LoadBalancerURL and HealthCheckURL clear when set to "".
type Patch struct {
	Name            *string `json:"name,omitempty"`
	URL             *string `json:"url,omitempty"`
	Username        *string `json:"username,omitempty"`
	APIToken        *string `json:"apiToken,omitempty"`
	Description     *string `json:"description,omitempty"`
	IsPrimary       *bool   `json:"isPrimary,omitempty"`
	ClusterID       *string `json:"clusterId,omitempty"`
	LoadBalancerURL *string `json:"loadBalancerUrl,omitempty"`
	Priority        *int    `json:"priority,omitempty"`
	HealthCheckURL  *string `json:"healthCheckUrl,omitempty"`
	MaxConnections  *int    `json:"maxConnections,omitempty"`
	IsActive        *bool   `json:"isActive,omitempty"`
}

// ListFilter narrows Store.List; the zero value lists every instance.
type ListFilter struct {
	ClusterID string // only this cluster, when not ""
}

// HealthRecord is the outcome of one health check, for Store.RecordHealth.
type HealthRecord struct {
	Status balance.Health
	// Error is why the check failed or degraded; "" clears the last one.
	// It is cut to 1000 bytes.
	Error       string
	CurrentLoad int
	// Version and JenkinsSession are the X-Jenkins and X-Jenkins-Session
	// headers; "" (not seen this time) keeps the previous value. A new
	// session after a known one counts as a restart.
	Version        string
	JenkinsSession string
}

// config is the part of an instance that the API sets: what CreateInput
// and Patch produce and what validation checks.
type config struct {
	name, url, username, description string
	isPrimary                        bool
	clusterID                        string
	loadBalancerURL                  string
	priority                         int
	healthCheckURL                   string
	maxConnections                   int
	isActive                         bool
}

func (in CreateInput) config() config {
	c := config{
		name:            in.Name,
		url:             in.URL,
		username:        in.Username,
		description:     in.Description,
		isPrimary:       in.IsPrimary,
		clusterID:       DefaultCluster,
		loadBalancerURL: in.LoadBalancerURL,
		priority:        in.Priority,
		healthCheckURL:  in.HealthCheckURL,
		maxConnections:  100,
		isActive:        true,
	}
	setIf(&c.clusterID, in.ClusterID)
	setIf(&c.maxConnections, in.MaxConnections)
	setIf(&c.isActive, in.IsActive)
	return c.normalised()
}

func (i Instance) config() config {
	return config{
		name:            i.Name,
		url:             i.URL,
		username:        i.Username,
		description:     i.Description,
		isPrimary:       i.IsPrimary,
		clusterID:       i.ClusterID,
		loadBalancerURL: i.LoadBalancerURL,
		priority:        i.Priority,
		healthCheckURL:  i.HealthCheckURL,
		maxConnections:  i.MaxConnections,
		isActive:        i.IsActive,
	}
}

// apply returns c with p's fields laid over it.
func (p Patch) apply(c config) config {
	setIf(&c.name, p.Name)
	setIf(&c.url, p.URL)
	setIf(&c.username, p.Username)
	setIf(&c.description, p.Description)
	setIf(&c.isPrimary, p.IsPrimary)
	setIf(&c.clusterID, p.ClusterID)
	setIf(&c.loadBalancerURL, p.LoadBalancerURL)
	setIf(&c.priority, p.Priority)
	setIf(&c.healthCheckURL, p.HealthCheckURL)
	setIf(&c.maxConnections, p.MaxConnections)
	setIf(&c.isActive, p.IsActive)
	return c.normalised()
}

func setIf[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// normalised returns c in its stored form: URLs without surrounding space
// and, for the base URLs, without a trailing slash.
func (c config) normalised() config {
	c.url = strings.TrimRight(strings.TrimSpace(c.url), "/")
	c.loadBalancerURL = strings.TrimRight(strings.TrimSpace(c.loadBalancerURL), "/")
	c.healthCheckURL = strings.TrimSpace(c.healthCheckURL)
	return c
}
