package health

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jenkinds/jenkinds/internal/balance"
	"github.com/jenkinds/jenkinds/internal/controller"
	"github.com/jenkinds/jenkinds/internal/jenkins"
)

// Passive health: what the front door and jenkinds' own clients see of a
// controller between probes. They report; the authority decides.

// Failure reports a request to r that failed: no answer (a dial error, a
// reset, a timeout) or a 502/503/504. PassiveFailures of them within
// PassiveWindow make r unhealthy until its probes rise again. A request
// the client gave up on is not the controller's failure, nor is a timeout
// while jenkinds itself was starved and nothing else answered. Failure
// does not block.
func (m *Monitor) Failure(r *controller.Runtime, err error) {
	if err == nil || errors.Is(err, context.Canceled) {
		return
	}
	now := m.now()
	if jenkins.ProcessGone(err) {
		r.NoteGone(now, jenkins.Explain(err, m.cfg.Timeout))
	} else if jenkins.Classify(err) == jenkins.Ambiguous && m.starvationExplains(r, now.Add(-m.cfg.Timeout), now) {
		return // jenkinds may have been the slow one
	}
	m.countFailure(r, now, jenkins.Explain(err, m.cfg.Timeout))
}

// Answered reports that r sent response headers to the front door, with
// its X-Jenkins-Session ("" when it sent none).
func (m *Monitor) Answered(r *controller.Runtime, session string) {
	r.Answered(m.now())
	r.NoteSession(session)
}

// Hung reports that a request to r got no answer within the front door's
// hedge deadline. A controller that has answered nothing for two such
// deadlines while requests wait on it (and while jenkinds was not
// starved, or others answered meanwhile) is hung: it is unhealthy at once. Otherwise the miss counts as
// one failure.
func (m *Monitor) Hung(r *controller.Runtime, deadline time.Duration) {
	now := m.now()
	if m.starvationExplains(r, now.Add(-2*deadline), now) {
		return
	}
	why := fmt.Sprintf("no answer within %s", deadline)
	if last := r.LastAnswer(); !last.IsZero() && now.Sub(last) >= 2*deadline {
		m.eject(r, now, why+"; nothing answered for "+now.Sub(last).Round(time.Millisecond).String())
		return
	}
	m.countFailure(r, now, why)
}

// countFailure counts one passive failure of r; enough in the window
// make it unhealthy.
func (m *Monitor) countFailure(r *controller.Runtime, now time.Time, why string) {
	m.mu.Lock()
	t := m.trackerLocked(r.ID())
	keep := t.failures[:0]
	for _, at := range t.failures {
		if now.Sub(at) < m.cfg.PassiveWindow {
			keep = append(keep, at)
		}
	}
	t.failures = append(keep, now)
	out := len(t.failures) >= m.cfg.PassiveFailures
	if out {
		t.failures = t.failures[:0]
	}
	m.mu.Unlock()
	if out {
		m.eject(r, now, fmt.Sprintf("%d failed requests within %s, the last: %s", m.cfg.PassiveFailures, m.cfg.PassiveWindow, why))
	}
}

// eject makes r unhealthy on passive evidence and has it probed at once,
// so that its rise is decided by probes.
func (m *Monitor) eject(r *controller.Runtime, now time.Time, why string) {
	if r.Health() == balance.Unhealthy {
		return
	}
	m.mu.Lock()
	t := m.trackerLocked(r.ID())
	t.ok, t.fail = 0, m.cfg.Fall
	m.mu.Unlock()
	if m.transition(r, balance.Unhealthy, why, SourcePassive, now) {
		if m.metrics != nil {
			inst := r.Instance()
			m.metrics.ejections.WithLabelValues(inst.Name, inst.ClusterID).Inc()
		}
		m.spawn(func() { m.record(context.Background(), r, balance.Unhealthy, why, "", "") })
	}
	m.Expedite(r.ID())
}
