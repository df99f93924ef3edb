package dispatch

import (
	"context"
	"fmt"
	"sort"

	"github.com/jenkinds/jenkinds/internal/controller"
	"github.com/jenkinds/jenkinds/internal/jenkins"
)

// roundData is what one round read from a controller.
type roundData struct {
	session   string
	running   map[string]map[int64]jenkins.Build // job → number → running build; nil when not read
	queue     map[int64]jenkins.QueueItem        // nil when not read
	queueFull bool                               // items carry job and parameters
	jobs      map[string]*jobBuilds
}

// jobBuilds is what a round read of one job's builds.
type jobBuilds struct {
	next    int64
	byNum   map[int64]jenkins.Build
	lo      int64 // every build numbered lo or more is in byNum, if it exists
	missing bool  // the job is gone (404)
	single  map[int64]*jenkins.Build
}

// covers reports whether the round knows for sure about build n: seen, or
// in the read range and absent.
func (jb *jobBuilds) find(n int64) (jenkins.Build, bool, bool) {
	if b, ok := jb.byNum[n]; ok {
		return b, true, true
	}
	if b, ok := jb.single[n]; ok {
		if b == nil {
			return jenkins.Build{}, false, true
		}
		return *b, true, true
	}
	return jenkins.Build{}, false, jb.missing || n >= jb.lo
}

// sessionCheck collects the X-Jenkins-Session of every answer of a round.
func (d *roundData) sessionCheck(sess string) error {
	switch {
	case sess == "":
	case d.session == "":
		d.session = sess
	case d.session != sess:
		return errSessionMoved
	}
	return nil
}

// round follows one controller once: see doc.go, "Following".
func (f *follower) round(ctx context.Context, r *controller.Runtime) error {
	id := r.ID()
	now := f.now()
	be, err := f.backend(id)
	if err != nil {
		return err
	}
	jobs, at := f.cat.JobsOn(id)
	if jobs == nil || now.Sub(at) >= f.cfg.InventoryInterval {
		fresh, err := f.cat.Refresh(ctx, id)
		if err != nil {
			return err
		}
		jobs = fresh
	}
	if err := f.initMarks(ctx, id, jobs); err != nil {
		return err
	}
	marks := f.marksOf(id)
	ws, err := f.st.watchList(ctx, id)
	if err != nil {
		return err
	}
	f.countLive(id, ws)

	// 1. Read what the attempts and the direct-build scan need. Only the
	// queue ids known now may be looked for in what is read next: an id
	// recorded later may belong to an item the queue read missed.
	data := &roundData{jobs: map[string]*jobBuilds{}}
	readable := map[attemptKey]bool{}
	for i := range ws {
		if w := &ws[i]; w.BackendQueueID != 0 {
			readable[attemptKey{w.BuildID, w.Attempt.Attempt}] = true
		}
	}
	prev := r.Session()
	needQueue, fullQueue := false, false
	for i := range ws {
		w := &ws[i]
		if f.skip(w) || w.BackendNumber != 0 {
			continue
		}
		needQueue = true
		if w.BackendQueueID == 0 || w.BackendSession != prev {
			fullQueue = true
		}
	}
	if needQueue {
		if err := f.readQueue(ctx, be, data, fullQueue); err != nil {
			return err
		}
		if !data.queueFull && data.session != prev {
			if err := f.readQueue(ctx, be, data, true); err != nil {
				return err
			}
		}
	}
	needRunning := false
	for i := range ws {
		if w := &ws[i]; !f.skip(w) && w.BackendNumber != 0 {
			needRunning = true
		}
	}
	if needRunning {
		running, r, err := be.Running(ctx)
		sess := jenkins.SessionOf(r)
		if err != nil {
			return fmt.Errorf("read running builds: %w", err)
		}
		if err := data.sessionCheck(sess); err != nil {
			return err
		}
		data.running = running
		for job, bs := range running {
			for n := range bs {
				f.cat.SawNext(id, job, n+1)
			}
		}
	}
	lows := map[string]int64{}
	need := func(job string, low int64) {
		if v, ok := lows[job]; !ok || low < v {
			lows[job] = max(low, 1)
		}
	}
	for i := range ws {
		w := &ws[i]
		switch {
		case f.skip(w):
		case w.BackendNumber != 0:
			if _, ok := data.running[w.job][w.BackendNumber]; !ok {
				need(w.job, w.BackendNumber) // ended (or lost): read how
			}
		case w.BackendQueueID != 0 && w.BackendSession == data.session && data.queue != nil && inQueue(data, w.BackendQueueID):
		default:
			need(w.job, w.floor)
		}
	}
	for job, m := range jobs {
		if mark, ok := marks[job]; ok && m.Next-1 > mark {
			need(job, mark+1)
		}
	}
	for job, low := range lows {
		jb, err := f.readJob(ctx, be, data, job, low, f.cat.Floor(id, job))
		if err != nil {
			return err
		}
		data.jobs[job] = jb
	}
	if err := f.readStragglers(ctx, be, data, ws); err != nil {
		return err
	}

	// 2. Barrier: every trigger to the controller that began before now
	// has stored its outcome.
	f.gate.Quiesce(id)
	if ws, err = f.st.watchList(ctx, id); err != nil {
		return err
	}

	// 3. Decide, calling the controller where a decision needs it.
	claimed, err := f.claimedIn(ctx, id, data)
	if err != nil {
		return err
	}
	if err := f.readParams(ctx, be, data, ws, claimed, marks); err != nil {
		return err
	}
	rd := &resolver{f: f, be: be, data: data, claimed: claimed, now: f.now(), ws: ws, readable: readable}
	decs := rd.decide(ctx)
	directs, newMarks := rd.scan(marks)

	// 4. Store it all in one transaction.
	if err := f.apply(ctx, id, data.session, decs, directs, newMarks); err != nil {
		return err
	}
	r.NoteSession(data.session) // a restart seen first here is recorded once, by health
	return nil
}

func inQueue(d *roundData, id int64) bool {
	_, ok := d.queue[id]
	return ok
}

func (f *follower) readQueue(ctx context.Context, be *backend, data *roundData, full bool) error {
	items, r, err := be.Queue(ctx, full)
	sess := jenkins.SessionOf(r)
	if err != nil {
		return fmt.Errorf("read queue: %w", err)
	}
	data.session = "" // a full re-read after a session change replaces the light one
	if err := data.sessionCheck(sess); err != nil {
		return err
	}
	data.queue, data.queueFull = make(map[int64]jenkins.QueueItem, len(items)), full
	for _, it := range items {
		data.queue[it.ID] = it
	}
	return nil
}

// readJob reads the builds of job from the newest down to build low, in
// pages of at most Window sized by what the inventory expects: at most
// Window builds when low is within reach, more when the direct-build scan
// must reach back further (up to maxScanPages pages), so that no direct
// build is skipped however many ended since the last round.
func (f *follower) readJob(ctx context.Context, be *backend, data *roundData, job string, low, next int64) (*jobBuilds, error) {
	jb := &jobBuilds{byNum: map[int64]jenkins.Build{}, single: map[int64]*jenkins.Build{}, lo: 1 << 62}
	total := int(min(max(next-low+64, int64(f.cfg.Window)), int64(maxScanPages*f.cfg.Window)))
	size := int(min(max(next-low+16, 32), int64(f.cfg.Window)))
	for from := 0; from < total; {
		to := min(from+size, total)
		page, r, err := be.BuildsPage(ctx, job, from, to, false)
		builds, n, sess := page.Builds, page.Next, jenkins.SessionOf(r)
		if jenkins.IsNotFound(err) {
			jb.missing = true
			// The job is gone there: read the inventory again, so that
			// the placer stops sending it there.
			go func() { _, _ = f.cat.Refresh(context.WithoutCancel(ctx), be.id) }()
			return jb, data.sessionCheck(sess)
		}
		if err != nil {
			return nil, fmt.Errorf("read builds of %s: %w", job, err)
		}
		if err := data.sessionCheck(sess); err != nil {
			return nil, err
		}
		jb.next = max(jb.next, n)
		for _, b := range builds {
			jb.byNum[b.Number] = b
		}
		if len(builds) < to-from {
			jb.lo = 1 // reached the oldest build
			break
		}
		last := builds[len(builds)-1].Number
		jb.lo = last
		if last <= low {
			break
		}
		from, size = to, int(min(max(last-low+16, 32), int64(f.cfg.Window)))
	}
	if len(jb.byNum) == 0 && jb.lo > 1 {
		jb.lo = max(jb.next, 1)
	}
	f.cat.SawNext(be.id, job, jb.next)
	return jb, nil
}

// maxScanPages bounds the pages one round reads of a job.
const maxScanPages = 100

// readParams reads the parameters and causes of the builds a round must
// recognise by content, which the first read left out to stay light:
// builds no attempt holds (direct ones, or ours known only by content),
// for jobs with such builds or with attempts to find by content. Only
// builds the first read saw are completed: one that started since might
// be a trigger the barrier has not covered.
func (f *follower) readParams(ctx context.Context, be *backend, data *roundData, ws []watched, claimed map[string]map[int64]bool, marks map[string]int64) error {
	need := map[string]bool{}
	held := map[int64]bool{}
	for i := range ws {
		w := &ws[i]
		if w.BackendNumber != 0 || f.skip(w) {
			continue
		}
		if w.BackendQueueID == 0 || w.BackendSession != data.session {
			need[w.job] = true
		} else {
			held[w.BackendQueueID] = true
		}
	}
	for job, jb := range data.jobs {
		mark, ok := marks[job]
		if !ok || need[job] {
			continue
		}
		for n, b := range jb.byNum {
			if n > mark && !claimed[job][n] && !held[b.QueueID] {
				need[job] = true
				break
			}
		}
	}
	for job := range need {
		jb := data.jobs[job]
		if jb == nil || jb.missing || len(jb.byNum) == 0 {
			continue
		}
		lo := int64(1 << 62)
		for n := range jb.byNum {
			lo = min(lo, n)
		}
		total := int(min(max(jb.next-lo+64, int64(f.cfg.Window)), int64(maxScanPages*f.cfg.Window)))
		for from := 0; from < total; {
			to := min(from+int(min(max(jb.next-lo+16, 32), int64(f.cfg.Window))), total)
			page, r, err := be.BuildsPage(ctx, job, from, to, true)
			builds, sess := page.Builds, jenkins.SessionOf(r)
			if err != nil {
				return fmt.Errorf("read builds of %s: %w", job, err)
			}
			if err := data.sessionCheck(sess); err != nil {
				return err
			}
			for _, b := range builds {
				if _, ok := jb.byNum[b.Number]; ok {
					jb.byNum[b.Number] = b
				}
			}
			if len(builds) < to-from || builds[len(builds)-1].Number <= lo {
				break
			}
			from = to
		}
	}
	return nil
}

// maxStragglers bounds the builds read one by one per round: attempts
// older than the Window of their job.
const maxStragglers = 50

func (f *follower) readStragglers(ctx context.Context, be *backend, data *roundData, ws []watched) error {
	n := 0
	for i := range ws {
		w := &ws[i]
		jb := data.jobs[w.job]
		if w.BackendNumber == 0 || jb == nil || jb.missing || w.BackendNumber >= jb.lo {
			continue
		}
		if _, ok := data.running[w.job][w.BackendNumber]; ok {
			continue
		}
		if _, ok := jb.single[w.BackendNumber]; ok || n >= maxStragglers {
			continue
		}
		n++
		b, r, err := be.Build(ctx, w.job, w.BackendNumber)
		sess := jenkins.SessionOf(r)
		switch {
		case jenkins.IsNotFound(err):
			jb.single[w.BackendNumber] = nil
		case err != nil:
			return fmt.Errorf("read build %s #%d: %w", w.job, w.BackendNumber, err)
		default:
			jb.single[w.BackendNumber] = &b
		}
		if err := data.sessionCheck(sess); err != nil {
			return err
		}
	}
	return nil
}

// claimedIn returns, per job read, the backend build numbers in the read
// range that attempts already hold.
func (f *follower) claimedIn(ctx context.Context, id int64, data *roundData) (map[string]map[int64]bool, error) {
	out := map[string]map[int64]bool{}
	tx, err := f.st.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	for job, jb := range data.jobs {
		if jb.missing || len(jb.byNum) == 0 {
			out[job] = map[int64]bool{}
			continue
		}
		lo, hi := int64(1<<62), int64(0)
		for n := range jb.byNum {
			lo, hi = min(lo, n), max(hi, n)
		}
		m, err := f.st.claimedNumbers(ctx, tx, id, job, lo, hi)
		if err != nil {
			return nil, fmt.Errorf("claimed builds of %s: %w", job, err)
		}
		out[job] = m
	}
	return out, nil
}

func sortedNums(m map[int64]jenkins.Build) []int64 {
	out := make([]int64, 0, len(m))
	for n := range m {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
