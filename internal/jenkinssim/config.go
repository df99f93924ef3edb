package jenkinssim

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"
)

// Config describes one simulated controller.
type Config struct {
	// Name labels the controller in logs and /__sim/state. Default: "jenkins".
	Name string
	// Addr is the listen address. Default: "127.0.0.1:0" (a free port).
	Addr string
	// Version is the X-Jenkins version. Default: DefaultVersion.
	Version string
	// User is the one user account. Default: "admin".
	User string
	// Token is User's API token (Basic auth, no crumb needed). Default: generated.
	Token string
	// Password is User's password (Basic auth or login form; POSTs need a
	// crumb). Default: "admin".
	Password string
	// RootURL is the configured root URL; "" derives absolute URLs from each
	// request (Host, X-Forwarded-Proto/Host/Port) as Jenkins does when
	// unconfigured. Default: "".
	RootURL string
	// Agents is the number of simulated agents ("agent-1", …) besides the
	// built-in node. Default: 0.
	Agents int
	// AgentPrefix names the agents: AgentPrefix+"1", …. Default: "agent-".
	AgentPrefix string
	// Executors is the number of executors on every node, built-in included.
	// Default: 2.
	Executors int
	// QuietPeriod is the global quiet period applied to triggers without
	// delay=. Default: 5s (Jenkins' default); use 0 in tests. Negative means 0.
	QuietPeriod time.Duration
	// BuildDuration is the default build duration range. Default: 2s–3s.
	BuildDuration Duration
	// RestartDuration is how long a restart answers 503. Default: 2s.
	RestartDuration time.Duration
	// Plugins is the plugin list served by /pluginManager. Default: DefaultPlugins.
	Plugins []Plugin
	// Jobs are created on start; nil means DefaultJobs, an empty non-nil
	// slice means none.
	Jobs []JobSpec
	// DataDir, if set, keeps job definitions in DataDir/jobs.json so they
	// survive the process too. Default: "" (memory only; they still survive
	// simulated restarts).
	DataDir string
	// Seed seeds the randomness of build durations. Default: 1.
	Seed uint64
	// Logger receives structured logs. Default: discard.
	Logger *slog.Logger
	// Now is the clock used for timestamps. Default: time.Now.
	Now func() time.Time
}

// DefaultVersion is the Jenkins version the simulator reports.
const DefaultVersion = "2.528.3"

// Duration is a fixed (Min == Max) or uniformly random build duration.
type Duration struct {
	Min, Max time.Duration
}

// JobSpec defines a job the simulator creates on start or through Go.
type JobSpec struct {
	// Name is the full name; "a/b" creates folder a with job b.
	Name string `json:"name"`
	// Type is "freestyle" (default), "pipeline" or "folder".
	Type        string      `json:"type,omitempty"`
	Description string      `json:"description,omitempty"`
	Disabled    bool        `json:"disabled,omitempty"`
	Concurrent  bool        `json:"concurrent,omitempty"`
	Parameters  []ParamSpec `json:"parameters,omitempty"`
	// DurationMs and DurationMaxMs script every build's duration (random
	// between them when DurationMaxMs > DurationMs). 0 uses the default.
	DurationMs    int `json:"durationMs,omitempty"`
	DurationMaxMs int `json:"durationMaxMs,omitempty"`
	// Result scripts every build's result. Default: SUCCESS.
	Result string `json:"result,omitempty"`
	// AuthToken is the "Trigger builds remotely" token.
	AuthToken string `json:"authToken,omitempty"`
}

// ParamSpec is one build parameter definition.
type ParamSpec struct {
	// Type is "string" (default), "text", "choice" or "boolean".
	Type        string   `json:"type,omitempty"`
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	Default     string   `json:"default,omitempty"`
	Choices     []string `json:"choices,omitempty"`
}

// Plugin is one entry of /pluginManager/api/json.
type Plugin struct {
	ShortName string `json:"shortName"`
	LongName  string `json:"longName"`
	Version   string `json:"version"`
	// Disabled plugins are listed with enabled and active false, as
	// Jenkins lists a plugin disabled in the plugin manager after a
	// restart.
	Disabled bool `json:"disabled,omitempty"`
}

// DefaultPlugins is a small, realistic plugin set.
var DefaultPlugins = []Plugin{
	{ShortName: "credentials", LongName: "Credentials Plugin", Version: "1413.va_51c53703df1"},
	{ShortName: "git", LongName: "Git plugin", Version: "5.7.0"},
	{ShortName: "matrix-auth", LongName: "Matrix Authorization Strategy Plugin", Version: "3.2.6"},
	{ShortName: "workflow-aggregator", LongName: "Pipeline", Version: "608.v67378e9d3db_1"},
	{ShortName: "workflow-job", LongName: "Pipeline: Job", Version: "1520.v56d65e3b_4566"},
	{ShortName: "cloudbees-folder", LongName: "Folders Plugin", Version: "6.999.v42253c105443"},
}

// DefaultJobs are ready to trigger as soon as a controller starts.
func DefaultJobs() []JobSpec {
	return []JobSpec{
		{Name: "hello", Description: "Says hello. A freestyle job without parameters."},
		{Name: "deploy", Description: "A parameterized job; SIM_DURATION_MS and SIM_RESULT script each build.",
			Parameters: []ParamSpec{
				{Type: "choice", Name: "ENV", Choices: []string{"staging", "production"}, Description: "Where to deploy"},
				{Name: "VERSION", Default: "1.0.0", Description: "Version to deploy"},
				{Type: "boolean", Name: "DRY_RUN", Default: "true"},
				{Name: "SIM_DURATION_MS", Default: "2000", Description: "Simulated build duration in ms (or a range 100-900)"},
				{Name: "SIM_RESULT", Default: "SUCCESS", Description: "Simulated result"},
			}},
		{Name: "team-a", Type: "folder", Description: "A folder"},
		{Name: "team-a/pipeline", Type: "pipeline", Description: "A pipeline job inside a folder"},
	}
}

// LoadJobsFile reads a JSON array of JobSpec.
func LoadJobsFile(path string) ([]JobSpec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read jobs file: %w", err)
	}
	var jobs []JobSpec
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&jobs); err != nil {
		return nil, fmt.Errorf("jobs file %s: expected a JSON array of jobs like [{\"name\":\"hello\",\"durationMs\":500}]: %w", path, err)
	}
	for i, j := range jobs {
		if err := j.validate(); err != nil {
			return nil, fmt.Errorf("jobs file %s: job %d: %w", path, i, err)
		}
	}
	return jobs, nil
}

// LoadPluginsFile reads a JSON array of Plugin.
func LoadPluginsFile(path string) ([]Plugin, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read plugins file: %w", err)
	}
	var plugins []Plugin
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&plugins); err != nil {
		return nil, fmt.Errorf("plugins file %s: expected a JSON array like [{\"shortName\":\"git\",\"longName\":\"Git plugin\",\"version\":\"5.7.0\"}]: %w", path, err)
	}
	for i, p := range plugins {
		if p.ShortName == "" || p.Version == "" {
			return nil, fmt.Errorf("plugins file %s: plugin %d: shortName and version are required", path, i)
		}
	}
	return plugins, nil
}

func (j JobSpec) validate() error {
	if j.Name == "" {
		return fmt.Errorf("name: required")
	}
	for _, seg := range strings.Split(j.Name, "/") {
		if err := checkGoodName(seg); err != nil {
			return fmt.Errorf("name %q: %w", j.Name, err)
		}
	}
	switch j.Type {
	case "", "freestyle", "pipeline", "folder":
	default:
		return fmt.Errorf("type %q: must be freestyle, pipeline or folder", j.Type)
	}
	if j.Result != "" && !validResult(j.Result) {
		return fmt.Errorf("result %q: must be one of SUCCESS, UNSTABLE, FAILURE, NOT_BUILT, ABORTED", j.Result)
	}
	for _, p := range j.Parameters {
		switch p.Type {
		case "", "string", "text", "boolean":
		case "choice":
			if len(p.Choices) == 0 {
				return fmt.Errorf("parameter %s: a choice parameter needs choices", p.Name)
			}
		default:
			return fmt.Errorf("parameter %s: type %q must be string, text, choice or boolean", p.Name, p.Type)
		}
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Name == "" {
		c.Name = "jenkins"
	}
	if c.Addr == "" {
		c.Addr = "127.0.0.1:0"
	}
	if c.Version == "" {
		c.Version = DefaultVersion
	}
	if c.User == "" {
		c.User = "admin"
	}
	if c.Token == "" {
		c.Token = GenerateToken()
	}
	if c.Password == "" {
		c.Password = "admin"
	}
	if c.Agents < 0 {
		c.Agents = 0
	}
	if c.AgentPrefix == "" {
		c.AgentPrefix = "agent-"
	}
	if c.Executors <= 0 {
		c.Executors = 2
	}
	if c.QuietPeriod < 0 {
		c.QuietPeriod = 0
	}
	if c.BuildDuration == (Duration{}) {
		c.BuildDuration = Duration{Min: 2 * time.Second, Max: 3 * time.Second}
	}
	if c.RestartDuration <= 0 {
		c.RestartDuration = 2 * time.Second
	}
	if c.Plugins == nil {
		c.Plugins = DefaultPlugins
	}
	if c.Jobs == nil {
		c.Jobs = DefaultJobs()
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// GenerateToken returns a new API token in Jenkins' format (34 hex chars,
// starting with 11).
func GenerateToken() string {
	return "11" + randomHex(16)
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
