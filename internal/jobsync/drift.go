package jobsync

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jenkinds/jenkinds/internal/controller"
)

// Report is a drift check of one cluster: every job (folders included)
// of every active controller, whether its config.xml is the same
// everywhere, and the writes still pending.
type Report struct {
	Cluster   string    `json:"cluster"`
	CheckedAt time.Time `json:"checkedAt"`
	// Controllers are the active controllers compared, by id.
	Controllers []ControllerReport `json:"controllers"`
	Summary     Summary            `json:"summary"`
	// Jobs are every job found on some controller, by full name.
	Jobs []JobReport `json:"jobs"`
	// Pending are the writes accepted by the front door that a controller
	// has not applied yet, by job and controller.
	Pending []Pending `json:"pending"`
}

// Summary counts the jobs of a report by status.
type Summary struct {
	Jobs    int `json:"jobs"`
	InSync  int `json:"inSync"`
	Differs int `json:"differs"`
	Missing int `json:"missing"`
	Unknown int `json:"unknown"`
}

// Drifted counts the jobs that differ or are missing somewhere: the value
// of jenkinds_job_drift.
func (s Summary) Drifted() int { return s.Differs + s.Missing }

// ControllerReport is one controller of a drift check.
type ControllerReport struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
	Jobs int    `json:"jobs"` // jobs and folders it has
	// Error says why its jobs could not be listed; they then count as
	// unknown there, not as missing.
	Error string `json:"error,omitempty"`
}

// JobStatus is how a job compares across the controllers.
type JobStatus string

const (
	// StatusInSync: every controller listed has it, with the same config.xml.
	StatusInSync JobStatus = "in_sync"
	// StatusDiffers: every controller listed has it, with different config.xml.
	StatusDiffers JobStatus = "differs"
	// StatusMissing: some controller listed lacks it (Variants tell whether
	// the others agree).
	StatusMissing JobStatus = "missing"
	// StatusUnknown: no difference seen, but some config.xml could not be read.
	StatusUnknown JobStatus = "unknown"
)

// JobReport is one job of a drift check.
type JobReport struct {
	Name   string    `json:"name"` // full name, "folder/job"
	Status JobStatus `json:"status"`
	// Variants group the controllers by the SHA-256 of their normalised
	// config.xml (see Fingerprint), the largest group first.
	Variants []Variant `json:"variants"`
	// MissingOn names the controllers that lack the job.
	MissingOn []string `json:"missingOn"`
	// Errors says, by controller, why its config.xml could not be read.
	Errors map[string]string `json:"errors,omitempty"`
	// Pending is true when a write of the job waits for some controller:
	// the difference is expected to go away.
	Pending bool `json:"pending"`
}

// Variant is one version of a job's config.xml and the controllers that
// hold it.
type Variant struct {
	SHA256      string   `json:"sha256"`
	Controllers []string `json:"controllers"`
}

var declRE = regexp.MustCompile(`^\s*<\?xml[^?]*\?>`)

// Normalise is what drift compares of a config.xml: without a byte order
// mark or XML declaration (Jenkins writes its own, version 1.1), with \n
// line ends, without trailing blanks on each line nor blank lines around
// the document. The XML itself is not re-formatted.
func Normalise(config []byte) string {
	s := strings.TrimPrefix(string(config), "\ufeff")
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = declRE.ReplaceAllString(s, "")
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t\r")
	}
	return strings.TrimSpace(strings.Join(lines, "\n"))
}

// Fingerprint is the hex SHA-256 of a config.xml's normalised form.
func Fingerprint(config []byte) string {
	sum := sha256.Sum256([]byte(Normalise(config)))
	return hex.EncodeToString(sum[:])
}

// Drift checks cluster now: it lists the jobs of every active controller
// (one request each, in parallel), reads the config.xml of every job from
// every controller that has it (at most Concurrency at once), compares
// their fingerprints, and sets jenkinds_job_drift{cluster}. A controller
// that cannot be listed is reported with its error and its jobs count as
// unknown there. An error wrapping controller.ErrNotFound means the
// cluster has no registered controller.
func (s *Service) Drift(ctx context.Context, cluster string) (Report, error) {
	if len(s.pool.Cluster(cluster)) == 0 {
		return Report{}, fmt.Errorf("cluster %q has no registered controllers: %w", cluster, controller.ErrNotFound)
	}
	rep := Report{Cluster: cluster, CheckedAt: s.now().UTC(), Controllers: []ControllerReport{}, Jobs: []JobReport{}}
	ts := s.targets(cluster)
	lists := make([][]string, len(ts))
	listErr := make([]error, len(ts))
	var wg sync.WaitGroup
	for i, t := range ts {
		wg.Go(func() {
			s.send(ctx, t, func(b *backend) answer {
				lists[i], listErr[i] = b.client.JobNames(ctx)
				if listErr[i] != nil {
					return answer{kind: unavailable, err: listErr[i]}
				}
				return answer{kind: applied}
			})
			if t.a.kind != applied {
				listErr[i] = t.a.err
			}
		})
	}
	wg.Wait()

	// hashes[job][controller index] is the fingerprint there ("" absent).
	type cell struct {
		has  bool
		hash string
		err  error
	}
	cells := map[string][]cell{}
	for i := range ts {
		c := ControllerReport{ID: ts[i].id, Name: ts[i].name, Jobs: len(lists[i])}
		if listErr[i] != nil {
			c.Error = listErr[i].Error()
		}
		rep.Controllers = append(rep.Controllers, c)
		for _, job := range lists[i] {
			if cells[job] == nil {
				cells[job] = make([]cell, len(ts))
			}
			cells[job][i].has = true
		}
	}

	sem := make(chan struct{}, s.cfg.Concurrency)
	var mu sync.Mutex
	for job, row := range cells {
		for i := range row {
			if !row[i].has {
				continue
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				wg.Wait()
				return Report{}, ctx.Err()
			}
			wg.Go(func() {
				defer func() { <-sem }()
				b, err := s.backend(ts[i].rt)
				var a answer
				if err != nil {
					a = answer{kind: unavailable, err: err}
				} else {
					a = b.readConfig(ctx, job)
				}
				mu.Lock()
				defer mu.Unlock()
				switch a.kind {
				case applied:
					row[i].hash = Fingerprint(a.body)
				case notFound: // deleted since it was listed
					row[i].has = false
				default:
					row[i].err = a.err
				}
			})
		}
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return Report{}, err
	}

	pending, err := s.st.list(ctx, cluster)
	if err != nil {
		return Report{}, err
	}
	pendingJobs := map[string]bool{}
	for i := range pending {
		pendingJobs[pending[i].Job] = true
		pending[i].Controller = s.controllerName(pending[i].ControllerID)
	}
	if pending == nil {
		pending = []Pending{}
	}
	rep.Pending = pending

	names := make([]string, 0, len(cells))
	for job := range cells {
		names = append(names, job)
	}
	slices.Sort(names)
	for _, job := range names {
		row := cells[job]
		jr := JobReport{Name: job, Variants: []Variant{}, MissingOn: []string{}, Pending: pendingJobs[job]}
		for i, c := range row {
			name := ts[i].name
			switch {
			case listErr[i] != nil:
			case !c.has:
				jr.MissingOn = append(jr.MissingOn, name)
			case c.err != nil:
				if jr.Errors == nil {
					jr.Errors = map[string]string{}
				}
				jr.Errors[name] = c.err.Error()
			default:
				k := slices.IndexFunc(jr.Variants, func(v Variant) bool { return v.SHA256 == c.hash })
				if k < 0 {
					jr.Variants = append(jr.Variants, Variant{SHA256: c.hash})
					k = len(jr.Variants) - 1
				}
				jr.Variants[k].Controllers = append(jr.Variants[k].Controllers, name)
			}
		}
		slices.SortStableFunc(jr.Variants, func(a, b Variant) int { return len(b.Controllers) - len(a.Controllers) })
		switch {
		case len(jr.MissingOn) > 0 && (len(jr.Variants) > 0 || len(jr.Errors) > 0):
			jr.Status = StatusMissing
			rep.Summary.Missing++
		case len(jr.MissingOn) > 0:
			continue // listed, then deleted everywhere before its config was read
		case len(jr.Variants) > 1:
			jr.Status = StatusDiffers
			rep.Summary.Differs++
		case len(jr.Errors) > 0 || len(jr.Variants) == 0:
			jr.Status = StatusUnknown
			rep.Summary.Unknown++
		default:
			jr.Status = StatusInSync
			rep.Summary.InSync++
		}
		rep.Summary.Jobs++
		rep.Jobs = append(rep.Jobs, jr)
	}
	s.setDrift(cluster, rep.Summary.Drifted())
	return rep, nil
}

// controllerName is the name of a registered controller, or "#id".
func (s *Service) controllerName(id int64) string {
	if rt := s.pool.Get(id); rt != nil {
		return rt.Instance().Name
	}
	return fmt.Sprintf("#%d", id)
}
