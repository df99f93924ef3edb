package clientcompat

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/dispatch"
	"github.com/jenkinds/jenkinds/internal/health"
	"github.com/jenkinds/jenkinds/internal/jenkinssim"
	"github.com/jenkinds/jenkinds/internal/server/servertest"
)

const (
	// clientTimeout bounds one run of an external client.
	clientTimeout = 60 * time.Second
	// waitTimeout bounds one wait for a build to start or end.
	waitTimeout = 20 * time.Second
	// controllers is how many simulated controllers stand behind the
	// front door.
	controllers = 3
)

// startFleet runs jenkinds in front of three simulated controllers with
// the demo jobs (hello, deploy, folder team-a with team-a/pipeline), one
// agent each besides the built-in node, and 50 ms builds unless a build's
// SIM_DURATION_MS says otherwise. Health probes may take a second:
// servertest's 80 ms is missed under -race on a loaded machine, and then
// the front door rightly answers 503 for want of a healthy controller.
func startFleet(t *testing.T) *servertest.Server {
	t.Helper()
	return servertest.Start(t, servertest.Options{
		Controllers: controllers,
		Sim: jenkinssim.Config{
			Agents:        1,
			Executors:     2,
			BuildDuration: jenkinssim.Duration{Min: 50 * time.Millisecond, Max: 50 * time.Millisecond},
		},
		Health: health.Config{Interval: time.Second, Timeout: time.Second, Fall: 3},
	})
}

// adminBuild is a build as the admin API shows it (GET
// /api/v1/builds/{id}); its id is its queue id on the front door.
type adminBuild struct {
	ID             int64  `json:"id"`
	Job            string `json:"job"`
	State          string `json:"state"`
	Number         int64  `json:"number"`
	Result         string `json:"result"`
	CurrentAttempt int    `json:"currentAttempt"`
	Attempts       []struct {
		Attempt        int    `json:"attempt"`
		ControllerName string `json:"controllerName"`
		BackendNumber  int64  `json:"backendNumber"`
	} `json:"attempts"`
}

// terminal: the build is over (dispatch.State.Terminal).
func (b adminBuild) terminal() bool {
	return dispatch.State(b.State).Terminal()
}

// ranOn is the controller of the build's current attempt and the build's
// number there, ("", 0) while it has none.
func (b adminBuild) ranOn() (string, int64) {
	for _, a := range b.Attempts {
		if a.Attempt == b.CurrentAttempt && a.BackendNumber > 0 {
			return a.ControllerName, a.BackendNumber
		}
	}
	return "", 0
}

// record is the build with queue id id as the admin API shows it.
func record(t *testing.T, s *servertest.Server, id int64) adminBuild {
	t.Helper()
	var b adminBuild
	body := s.API("GET", "/api/v1/builds/"+strconv.FormatInt(id, 10), nil, http.StatusOK)
	if err := json.Unmarshal(body, &b); err != nil {
		t.Fatalf("GET /api/v1/builds/%d: %v: %s", id, err, body)
	}
	return b
}

// simBuild is a build as a controller itself lists it.
type simBuild struct {
	Number  int64  `json:"number"`
	Result  string `json:"result"`
	Actions []struct {
		Parameters []struct {
			Name  string `json:"name"`
			Value any    `json:"value"`
		} `json:"parameters"`
	} `json:"actions"`
}

func (b simBuild) param(name string) string {
	for _, a := range b.Actions {
		for _, p := range a.Parameters {
			if p.Name == name {
				if s, ok := p.Value.(string); ok {
					return s
				}
			}
		}
	}
	return ""
}

// controllerBuilds lists the builds of job on controller c, asked directly
// (not through jenkinds), newest first.
func controllerBuilds(t *testing.T, c *jenkinssim.Controller, job string) []simBuild {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	path := "job/" + job + "/api/json?tree=builds[number,result,actions[parameters[name,value]]]"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.URL()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(c.User(), c.Token())
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: GET %s: %v", c.Name(), path, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("%s: GET %s: HTTP %d, %v: %.300s", c.Name(), path, res.StatusCode, err, body)
	}
	var out struct {
		Builds []simBuild `json:"builds"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("%s: GET %s: %v: %.300s", c.Name(), path, err, body)
	}
	return out.Builds
}

// checkPlacement checks, for builds given by queue id with the global
// number and scripted result the client saw, that the admin API and the
// controllers agree: the build with that queue id has that number and ran
// on the controller the admin API names, under the number there it names,
// with the client's VERSION parameter and result. It returns how many
// builds each controller ran.
func checkPlacement(t *testing.T, s *servertest.Server, job string, seen []seenBuild) map[string]int {
	t.Helper()
	byName := map[string]map[int64]simBuild{}
	for _, c := range s.Sims {
		byName[c.Name()] = map[int64]simBuild{}
		for _, b := range controllerBuilds(t, c, job) {
			byName[c.Name()][b.Number] = b
		}
	}
	per := map[string]int{}
	for _, sb := range seen {
		rec := record(t, s, sb.queueID)
		if rec.Number != sb.number || rec.Job != job {
			t.Errorf("admin API: build %d is %s #%d, the client saw %s #%d", sb.queueID, rec.Job, rec.Number, job, sb.number)
		}
		name, backend := rec.ranOn()
		if name == "" {
			t.Errorf("admin API: build %d (%s #%d) ran nowhere: %+v", sb.queueID, job, sb.number, rec)
			continue
		}
		per[name]++
		cb, ok := byName[name][backend]
		if !ok {
			t.Errorf("build %d (%s #%d): the admin API says it ran on %s as #%d, which %s does not list",
				sb.queueID, job, sb.number, name, backend, name)
			continue
		}
		if got := cb.param("VERSION"); got != sb.version {
			t.Errorf("%s #%d (global #%d): VERSION %q, want %q", name, backend, sb.number, got, sb.version)
		}
		if cb.Result != sb.result {
			t.Errorf("%s #%d (global #%d): result %q, want %q", name, backend, sb.number, cb.Result, sb.result)
		}
	}
	total := 0
	for _, m := range byName {
		total += len(m)
	}
	if total != len(seen) {
		t.Errorf("the controllers ran %d builds of %s, the client started %d", total, job, len(seen))
	}
	return per
}

// seenBuild is one build as a client saw it.
type seenBuild struct {
	queueID int64
	number  int64
	version string // its VERSION parameter
	result  string
}
