package health

import (
	"fmt"
	"time"

	"github.com/jenkinds/jenkinds/internal/balance"
	"github.com/jenkinds/jenkinds/internal/controller"
)

// Verdict says whether the builds jenkinds placed on a controller may be
// placed again now (see doc.go, "Dead or slow").
type Verdict struct {
	// Lost: the controller lost what it runs, or cannot be counted on to
	// finish it: its builds may be placed elsewhere.
	Lost bool
	// Hard: Lost on evidence that its process is gone (a connection
	// refused or reset), not on silence.
	Hard bool
	// Evidence says why, for the attempts' reasons.
	Evidence string
	// Frozen, when not empty, says why builds that already started must
	// stay where they are although the controller is silent: a mass
	// failure of its cluster, or jenkinds' own starvation. Builds still
	// waiting in its queue may move.
	Frozen string
}

// Verdict tells the dispatcher whether the builds on r may be placed
// again at now, when a controller must have been silent for after before
// its builds move:
//
//   - r is not unhealthy: no (the follower reads it and sees for itself
//     whether it restarted or lost a build);
//   - its process is gone (connection refused or reset, and nothing
//     answered since): yes, Hard;
//   - it has answered nothing for after, counting only time during which
//     jenkinds itself was not starved: yes, unless its cluster is frozen
//     by a mass failure (Frozen: then only builds not yet started move);
//   - otherwise no, with Frozen saying so when a freeze is why.
func (m *Monitor) Verdict(r *controller.Runtime, after time.Duration, now time.Time) Verdict {
	if r.Health() != balance.Unhealthy {
		return Verdict{}
	}
	if since, why := r.Gone(); !since.IsZero() {
		return Verdict{Lost: true, Hard: true, Evidence: fmt.Sprintf("%s (since %s)", why, since.UTC().Format(time.RFC3339))}
	}
	silent := r.LastAnswer()
	m.mu.Lock()
	if t := m.track[r.ID()]; t != nil && silent.Before(t.firstSeen) {
		silent = t.firstSeen // nothing heard since jenkinds began watching it
	}
	frozen := ""
	if f := m.clusters[r.Instance().ClusterID]; f != nil {
		frozen = f.reason
	}
	m.mu.Unlock()
	if starved, late := m.starv.LastStarved(); starved.After(silent) {
		silent = starved
		if now.Sub(starved) < after && frozen == "" {
			frozen = fmt.Sprintf("jenkinds was starved at %s (a timer of its own fired %s late): silence counts from then",
				starved.UTC().Format(time.RFC3339), late.Round(time.Millisecond))
		}
	}
	if now.Sub(silent) < after {
		return Verdict{Frozen: frozen}
	}
	return Verdict{Lost: true, Frozen: frozen,
		Evidence: fmt.Sprintf("no answer since %s (%s)", silent.UTC().Format(time.RFC3339), now.Sub(silent).Round(time.Millisecond))}
}

// freeze is a hold on re-dispatch of running builds.
type freeze struct {
	reason string
	since  time.Time
}

// massThreshold is how many of n controllers turning unhealthy within one
// probe interval make a mass failure: at least half, and at least two
// unless the cluster has one controller. A single controller failing in
// a cluster of two or more is that controller's failure, not jenkinds'
// view of the fleet.
func massThreshold(n int) int {
	if n <= 1 {
		return 1
	}
	return max(2, (n+1)/2)
}

// checkMassFailure freezes cluster when, at at, enough of its active
// controllers turned unhealthy within one probe interval (like
// Kubernetes' node lifecycle controller, which stops evicting when most of
// a zone goes NotReady at once: then the observer, or the network between,
// is more likely at fault than every controller).
func (m *Monitor) checkMassFailure(cluster string, at time.Time) {
	rs := m.pool.Cluster(cluster)
	n, recent := 0, 0
	for _, r := range rs {
		if !r.Instance().IsActive {
			continue
		}
		n++
		if s := r.UnhealthySince(); !s.IsZero() && !s.Before(at.Add(-m.cfg.Interval)) && !s.After(at) {
			recent++
		}
	}
	if recent < massThreshold(n) {
		return
	}
	m.mu.Lock()
	if m.clusters[cluster] != nil {
		m.mu.Unlock()
		return
	}
	f := &freeze{since: at, reason: fmt.Sprintf("mass failure: %d of %d controllers of cluster %s turned unhealthy within %s", recent, n, cluster, m.cfg.Interval)}
	m.clusters[cluster] = f
	m.mu.Unlock()
	m.log.Warn("re-dispatch of running builds frozen", "cluster", cluster, "reason", f.reason)
	m.emit(Event{At: at, Kind: KindFreeze, Cluster: cluster, Source: SourceJenkinds, Reason: f.reason})
}

// NoteStarved records that jenkinds was starved at at (a timer of its own
// fired late by late): the first in a while is a freeze event. The built-in
// Lag calls it; another Starvation source calls it too.
func (m *Monitor) NoteStarved(at time.Time, late time.Duration) {
	if m.metrics != nil {
		m.metrics.starved.Inc()
	}
	m.mu.Lock()
	if m.starved != nil {
		m.mu.Unlock()
		return
	}
	f := &freeze{since: at, reason: fmt.Sprintf("jenkinds starved: a timer of its own fired %s late; probe timeouts are inconclusive and silence counts from the end of it",
		late.Round(time.Millisecond))}
	m.starved = f
	m.mu.Unlock()
	m.log.Warn("jenkinds is starved of CPU: silence-based verdicts wait", "late", late)
	m.emit(Event{At: at, Kind: KindFreeze, Source: SourceJenkinds, Reason: f.reason})
}

// starvedWithin reports whether jenkinds was starved between from and to.
func (m *Monitor) starvedWithin(from, to time.Time) bool {
	at, _ := m.starv.LastStarved()
	return !at.IsZero() && !at.Before(from) && !at.After(to.Add(m.cfg.LagTick))
}

// starvationExplains reports whether r's failure to answer between from
// and deadline may be jenkinds' own doing: jenkinds was starved then, and
// no other controller's answer reached it after its last starvation and
// before the deadline. Such an answer proves jenkinds was reading answers
// again while r's was still due: r's silence is r's own, however busy
// the machine is (on a machine starved all the time, a frozen controller
// is still told from the rest).
func (m *Monitor) starvationExplains(r *controller.Runtime, from, deadline time.Time) bool {
	if !m.starvedWithin(from.Add(-m.cfg.LagTick), deadline.Add(m.cfg.LagTick)) {
		return false
	}
	stalled, _ := m.starv.LastStarved()
	for _, peer := range m.pool.All() {
		if peer.ID() == r.ID() {
			continue
		}
		if a := peer.LastAnswer(); a.After(stalled) && a.Before(deadline) {
			return false
		}
	}
	return true
}

// reviewFreezes thaws the freezes whose cause has passed: a cluster whose
// unhealthy controllers are fewer than the mass threshold again, and
// jenkinds' starvation once no timer was late for a while.
func (m *Monitor) reviewFreezes(now time.Time) {
	var thawed []Event
	m.mu.Lock()
	for cluster, f := range m.clusters {
		n, down := 0, 0
		for _, r := range m.pool.Cluster(cluster) {
			if r.Instance().IsActive {
				n++
				if r.Health() == balance.Unhealthy {
					down++
				}
			}
		}
		if down < massThreshold(n) || n == 0 {
			delete(m.clusters, cluster)
			thawed = append(thawed, Event{At: now, Kind: KindThaw, Cluster: cluster, Source: SourceJenkinds,
				Reason: fmt.Sprintf("%d of %d controllers unhealthy (frozen since %s: %s)", down, n, f.since.UTC().Format(time.RFC3339), f.reason)})
		}
	}
	if m.starved != nil {
		if at, _ := m.starv.LastStarved(); now.Sub(at) >= m.starvedQuiet() {
			thawed = append(thawed, Event{At: now, Kind: KindThaw, Source: SourceJenkinds,
				Reason: fmt.Sprintf("no timer late by %s since %s", m.cfg.StarvedLag, at.UTC().Format(time.RFC3339))})
			m.starved = nil
		}
	}
	m.mu.Unlock()
	for _, e := range thawed {
		m.log.Info("re-dispatch freeze thawed", "cluster", e.Cluster, "reason", e.Reason)
		m.emit(e)
	}
}

// starvedQuiet is how long jenkinds must run on time before its
// starvation freeze thaws.
func (m *Monitor) starvedQuiet() time.Duration { return max(2*time.Second, m.cfg.UnhealthyInterval) }

// Frozen returns the freezes in effect now, by cluster ("" for jenkinds'
// own starvation), for metrics and status views.
func (m *Monitor) Frozen() map[string]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]string{}
	for c, f := range m.clusters {
		out[c] = f.reason
	}
	if m.starved != nil {
		out[""] = m.starved.reason
	}
	return out
}
