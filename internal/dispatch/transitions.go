package dispatch

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/jenkinds/jenkinds/internal/jenkins"
)

// This file holds every state change of builds and attempts. Each is a
// conditional UPDATE on the state it expects, and a build's on its
// current_attempt too: that is the fence that keeps a late or stale
// writer (an old attempt's result, a repeated round, a second replica)
// from changing anything.

// watched is an attempt the follower watches, with what it needs of its
// build.
type watched struct {
	Attempt
	cluster, job  string
	params        []Param
	buildState    State
	current       bool // the build's current attempt
	buildNumber   int64
	stopRequested bool
	maxAttempts   int
}

// outcome is what a state change records about an attempt: what the
// controller showed of it, and why.
type outcome struct {
	queueID, number   int64  // backend queue item and build; 0 when unknown
	session           string // X-Jenkins-Session they belong to
	result            string // Jenkins result of an ended build
	fence             string // what fencing found or did
	note              string // reason, when the attempt has none yet
	started, finished time.Time
}

// watchList returns the attempts on controller id that are live or await
// fencing.
func (s *store) watchList(ctx context.Context, controllerID int64) ([]watched, error) {
	rows, err := s.db.QueryContext(ctx, s.db.Rebind(`SELECT a.build_id, a.attempt, a.controller_id, a.backend_queue_id,
	a.backend_number, a.backend_session, a.backend_floor, a.state, a.counts, a.result, a.reason, a.fence, a.triggered_at,
	a.started_at, a.finished_at, a.superseded_at, a.redispatch, a.job, b.cluster, b.params, b.state, b.current_attempt, b.number,
	b.stop_requested, b.max_attempts
	FROM build_attempts a JOIN builds b ON b.id = a.build_id
	WHERE a.controller_id = ? AND a.state IN ('triggering', 'queued', 'running', 'superseded')
	ORDER BY a.build_id, a.attempt`), controllerID)
	if err != nil {
		return nil, fmt.Errorf("watch list of controller %d: %w", controllerID, err)
	}
	defer rows.Close()
	var out []watched
	for rows.Next() {
		var (
			w                            watched
			qid, num, bnum               sql.NullInt64
			state, bstate, params        string
			triggered, started, finished nullTime
			superseded                   nullTime
			cur                          int
		)
		err := rows.Scan(&w.BuildID, &w.Attempt.Attempt, &w.ControllerID, &qid, &num, &w.BackendSession, &w.floor,
			&state, &w.Counts, &w.Result, &w.Reason, &w.Fence, &triggered, &started, &finished, &superseded, &w.Redispatch,
			&w.job, &w.cluster, &params, &bstate, &cur, &bnum, &w.stopRequested, &w.maxAttempts)
		if err != nil {
			return nil, fmt.Errorf("watch list of controller %d: %w", controllerID, err)
		}
		w.BackendQueueID, w.BackendNumber, w.State = qid.Int64, num.Int64, AttemptState(state)
		w.TriggeredAt, w.StartedAt, w.FinishedAt, w.SupersededAt = triggered.Time, started.Ptr(), finished.Ptr(), superseded.Ptr()
		w.buildState, w.current, w.buildNumber = State(bstate), cur == w.Attempt.Attempt, bnum.Int64
		w.params = decodeParams(params)
		out = append(out, w)
	}
	return out, rows.Err()
}

// watchedControllers returns the controllers that have attempts the
// follower watches (live, or awaiting fencing).
func (s *store) watchedControllers(ctx context.Context) ([]int64, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT DISTINCT controller_id FROM build_attempts
	WHERE state IN ('triggering', 'queued', 'running', 'superseded')`)
	if err != nil {
		return nil, fmt.Errorf("read watched controllers: %w", err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("read watched controllers: %w", err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// claim is one placement decision: build b's next attempt goes to
// controller with the job's build-number floor there.
type claim struct {
	build      Build
	controller int64
	session    string
	floor      int64
	policy     Policy
}

// claimAll turns the accepted builds of cs into placed ones with a new
// triggering attempt each, in one transaction of two statements. It
// returns the claims that took, with their attempt numbers (a build that
// is no longer accepted, cancelled meanwhile, is left out).
func (s *store) claimAll(ctx context.Context, fence Fence, cs []claim) ([]claim, error) {
	if len(cs) == 0 {
		return nil, nil
	}
	byID := make(map[int64]claim, len(cs))
	args := []any{nil}
	for _, c := range cs {
		byID[c.build.ID] = c
		args = append(args, c.build.ID)
	}
	var took []claim
	err := s.writeAs(ctx, fence, func(tx txn) error {
		took = took[:0]
		now := s.clock()
		args[0] = now
		rows, err := tx.QueryContext(ctx, s.db.Rebind(`UPDATE builds SET state = 'placed', current_attempt = current_attempt + 1, updated_at = ?
		WHERE state = 'accepted' AND id IN (`+marks(len(cs))+`) RETURNING id, current_attempt`), args...)
		if err != nil {
			return fmt.Errorf("place builds: %w", err)
		}
		for rows.Next() {
			var id int64
			var att int
			if err := rows.Scan(&id, &att); err != nil {
				rows.Close()
				return fmt.Errorf("place builds: %w", err)
			}
			c := byID[id]
			c.build.CurrentAttempt, c.build.State = att, StatePlaced
			took = append(took, c)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("place builds: %w", err)
		}
		if len(took) == 0 {
			return nil
		}
		var values strings.Builder
		ins := make([]any, 0, 8*len(took))
		for i, c := range took {
			if i > 0 {
				values.WriteString(", ")
			}
			values.WriteString("(?, ?, ?, ?, ?, ?, 'triggering', TRUE, ?, ?, ?)")
			ins = append(ins, c.build.ID, c.build.CurrentAttempt, c.controller, c.build.Job, c.session, c.floor, now, now, string(c.policy))
		}
		if _, err := tx.ExecContext(ctx, s.db.Rebind(`INSERT INTO build_attempts (build_id, attempt, controller_id, job, backend_session,
		backend_floor, state, counts, triggered_at, updated_at, redispatch) VALUES `+values.String()), ins...); err != nil {
			return fmt.Errorf("place builds: record attempts: %w", err)
		}
		return nil
	})
	return took, err
}

// marks returns n comma-separated placeholders.
func marks(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// triggerResult is what a trigger of a claim produced.
type triggerResult struct {
	claim
	queueID int64
	session string
	// merged: the controller folded the trigger into an existing queue
	// item (303, or the id of another live attempt of ours).
	merged bool
	// refusedBy is why the controller refused; "" when it queued.
	refusedBy string
	// ambiguous: the answer was lost; the attempt stays triggering and
	// the follower looks for what it did.
	ambiguous bool
	err       error
	// retries is how many attempts the build has had, for the back-off.
	retries int
}

// recordTriggers stores the outcome of triggers: queued ones get their
// queue id; refused or merged ones go back to accepted with a back-off.
func (s *store) recordTriggers(ctx context.Context, fence Fence, rs []triggerResult, retryDelay func(int) time.Duration) error {
	return s.writeAs(ctx, fence, func(tx *sql.Tx) error {
		now := s.clock()
		for i := range rs {
			r := &rs[i]
			id, att := r.build.ID, r.build.CurrentAttempt
			if r.refusedBy == "" && !r.merged {
				// Queued, unless another live attempt of ours holds the same
				// item: then Jenkins merged the two (201 on /build).
				n, err := s.execTx(ctx, tx, `UPDATE build_attempts SET state = 'queued', backend_queue_id = ?, backend_session = ?, updated_at = ?
				WHERE build_id = ? AND attempt = ? AND state = 'triggering' AND NOT EXISTS (SELECT 1 FROM build_attempts o
				WHERE o.controller_id = ? AND o.backend_queue_id = ? AND o.backend_session = ? AND o.state = 'queued')`,
					r.queueID, r.session, now, id, att, r.controller, r.queueID, r.session)
				if err != nil {
					return fmt.Errorf("record trigger of build %d: %w", id, err)
				}
				if n == 1 {
					continue
				}
				var state string
				if err := tx.QueryRowContext(ctx, s.db.Rebind(`SELECT state FROM build_attempts WHERE build_id = ? AND attempt = ?`), id, att).Scan(&state); err != nil {
					return fmt.Errorf("record trigger of build %d: %w", id, err)
				}
				if AttemptState(state) != AttemptTriggering {
					// Superseded meanwhile (cancelled, controller unhealthy):
					// keep the id so that fencing can cancel the item.
					if _, err := s.execTx(ctx, tx, `UPDATE build_attempts SET backend_queue_id = ?, backend_session = ?, updated_at = ?
					WHERE build_id = ? AND attempt = ? AND state = 'superseded' AND backend_queue_id IS NULL`, r.queueID, r.session, now, id, att); err != nil {
						return fmt.Errorf("record trigger of build %d: %w", id, err)
					}
					continue
				}
				r.merged = true
			}
			reason := "refused: " + r.refusedBy
			if r.merged {
				reason = fmt.Sprintf("merged by the controller into its queue item %d, an identical build already waiting there", r.queueID)
			}
			n, err := s.execTx(ctx, tx, `UPDATE build_attempts SET state = 'refused', counts = FALSE, reason = ?, finished_at = ?, updated_at = ?
			WHERE build_id = ? AND attempt = ? AND state IN ('triggering', 'superseded')`, reason, now, now, id, att)
			if err != nil {
				return fmt.Errorf("record refusal of build %d: %w", id, err)
			}
			if n == 0 {
				continue
			}
			if _, err := s.execTx(ctx, tx, `UPDATE builds SET state = 'accepted', not_before = ?, reason = ?, updated_at = ?
			WHERE id = ? AND state = 'placed' AND current_attempt = ?`,
				now.Add(retryDelay(r.retries)), fmt.Sprintf("attempt %d %s", att, reason), now, id, att); err != nil {
				return fmt.Errorf("record refusal of build %d: %w", id, err)
			}
		}
		return nil
	})
}

// failBuild ends an accepted build that cannot be placed anywhere.
func (s *store) failBuild(ctx context.Context, fence Fence, b Build, reason string) error {
	return s.writeAs(ctx, fence, func(tx *sql.Tx) error {
		now := s.clock()
		_, err := s.execTx(ctx, tx, `UPDATE builds SET state = 'failed', reason = ?, finished_at = ?, updated_at = ?
		WHERE id = ? AND state = 'accepted' AND current_attempt = ?`, reason, now, now, b.ID, b.CurrentAttempt)
		return err
	})
}

// toQueued records that w's queue item is (still) id in session: after a
// lost trigger answer was found again, or after a restart kept the item.
func (s *store) toQueued(ctx context.Context, tx *sql.Tx, w *watched, o outcome) error {
	_, err := s.execTx(ctx, tx, `UPDATE build_attempts SET state = 'queued', backend_queue_id = ?, backend_session = ?, updated_at = ?
	WHERE build_id = ? AND attempt = ? AND state IN ('triggering', 'queued')`, o.queueID, o.session, s.clock(), w.BuildID, w.Attempt.Attempt)
	return err
}

// toRunning records that w's build #number is building; the build gets
// its global number the first time one of its attempts runs.
func (s *store) toRunning(ctx context.Context, tx *sql.Tx, nb *numberer, w *watched, o outcome) error {
	now := s.clock()
	n, err := s.execTx(ctx, tx, `UPDATE build_attempts SET state = 'running', backend_queue_id = COALESCE(?, backend_queue_id),
	backend_number = ?, backend_session = ?, started_at = COALESCE(started_at, ?), updated_at = ?
	WHERE build_id = ? AND attempt = ? AND state IN ('triggering', 'queued', 'running')`,
		nullInt(o.queueID), o.number, o.session, o.started, now, w.BuildID, w.Attempt.Attempt)
	if err != nil || n == 0 {
		return err
	}
	n, err = s.execTx(ctx, tx, `UPDATE builds SET state = 'running', started_at = COALESCE(started_at, ?), updated_at = ?
	WHERE id = ? AND current_attempt = ? AND state IN ('placed', 'running')`, o.started, now, w.BuildID, w.Attempt.Attempt)
	if err != nil || n == 0 {
		return err
	}
	return s.ensureNumber(ctx, tx, nb, w)
}

func (s *store) ensureNumber(_ context.Context, _ *sql.Tx, nb *numberer, w *watched) error {
	if w.buildNumber == 0 {
		nb.add(w.cluster, w.job, w.BuildID)
		w.buildNumber = -1 // asked for
	}
	return nil
}

// toFinished records w's build #number ended with result: the one counted
// result of the build, if w is still its current attempt.
func (s *store) toFinished(ctx context.Context, tx *sql.Tx, nb *numberer, w *watched, o outcome) error {
	now := s.clock()
	n, err := s.execTx(ctx, tx, `UPDATE builds SET state = 'finished', result = ?, started_at = COALESCE(started_at, ?),
	finished_at = ?, updated_at = ? WHERE id = ? AND current_attempt = ? AND state IN ('placed', 'running')`,
		o.result, o.started, o.finished, now, w.BuildID, w.Attempt.Attempt)
	if err != nil {
		return err
	}
	if n == 0 {
		// No longer the build's to count: fence it as ended.
		o.fence, o.note = FenceEnded, "ended after it stopped counting"
		return s.fenceAttempt(ctx, tx, w, o)
	}
	if err := s.ensureNumber(ctx, tx, nb, w); err != nil {
		return err
	}
	_, err = s.execTx(ctx, tx, `UPDATE build_attempts SET state = 'finished', result = ?, backend_queue_id = COALESCE(?, backend_queue_id),
	backend_number = ?, backend_session = ?, started_at = COALESCE(started_at, ?), finished_at = ?, updated_at = ?
	WHERE build_id = ? AND attempt = ?`, o.result, nullInt(o.queueID), o.number, o.session, o.started, o.finished, now, w.BuildID, w.Attempt.Attempt)
	return err
}

// lose supersedes w, a live attempt, for reason; if it was its build's
// current attempt the build goes back to accepted (attempt + 1 follows),
// or is cancelled when a stop was asked for, or fails: when it used its
// attempts, or when its build had started (started: the round saw it run,
// or it had a backend number) and it was placed under PolicyQueuedOnly.
func (s *store) lose(ctx context.Context, tx *sql.Tx, w *watched, reason string, started bool) (State, error) {
	now := s.clock()
	n, err := s.execTx(ctx, tx, `UPDATE build_attempts SET state = 'superseded', reason = ?, superseded_at = ?, updated_at = ?
	WHERE build_id = ? AND attempt = ? AND state IN ('triggering', 'queued', 'running')`, reason, now, now, w.BuildID, w.Attempt.Attempt)
	if err != nil || n == 0 {
		return "", err
	}
	var used int
	if err := tx.QueryRowContext(ctx, s.db.Rebind(`SELECT COUNT(*) FROM build_attempts WHERE build_id = ? AND counts`), w.BuildID).Scan(&used); err != nil {
		return "", err
	}
	started = started || w.BackendNumber != 0 || w.State == AttemptRunning
	to, why := StateAccepted, fmt.Sprintf("attempt %d lost: %s", w.Attempt.Attempt, reason)
	switch {
	case w.stopRequested:
		to, why = StateCancelled, fmt.Sprintf("stopped; attempt %d lost: %s", w.Attempt.Attempt, reason)
	case started && w.Redispatch == PolicyQueuedOnly:
		to, why = StateFailed, fmt.Sprintf("attempt %d lost after its build started: %s; re-dispatch policy %s: jenkinds does not run it again",
			w.Attempt.Attempt, reason, PolicyQueuedOnly)
	case used >= w.maxAttempts:
		to, why = StateFailed, fmt.Sprintf("attempt %d of %d lost: %s; no attempts left", w.Attempt.Attempt, w.maxAttempts, reason)
	}
	var finished any
	if to != StateAccepted {
		finished = now
	}
	n, err = s.execTx(ctx, tx, `UPDATE builds SET state = ?, reason = ?, not_before = ?, finished_at = ?, updated_at = ?
	WHERE id = ? AND current_attempt = ? AND state IN ('placed', 'running')`, string(to), why, now, finished, now, w.BuildID, w.Attempt.Attempt)
	if err != nil || n == 0 {
		return "", err
	}
	return to, nil
}

// cancelledThere ends w's build as cancelled because its queue item was
// cancelled on the controller itself.
func (s *store) cancelledThere(ctx context.Context, tx *sql.Tx, w *watched) error {
	now := s.clock()
	n, err := s.execTx(ctx, tx, `UPDATE builds SET state = 'cancelled', reason = ?, finished_at = ?, updated_at = ?
	WHERE id = ? AND current_attempt = ? AND state = 'placed'`,
		fmt.Sprintf("queue item %d cancelled on controller %d", w.BackendQueueID, w.ControllerID), now, now, w.BuildID, w.Attempt.Attempt)
	if err != nil || n == 0 {
		return err
	}
	_, err = s.execTx(ctx, tx, `UPDATE build_attempts SET state = 'fenced', fence = 'cancelled', reason = 'cancelled on the controller',
	finished_at = ?, superseded_at = ?, updated_at = ? WHERE build_id = ? AND attempt = ?`, now, now, now, w.BuildID, w.Attempt.Attempt)
	return err
}

// fenceAttempt closes a superseded (or no longer current) attempt:
// o.fence says what fencing found or did, o.result and o.number what was
// seen of its backend build, o.note the reason if it has none.
func (s *store) fenceAttempt(ctx context.Context, tx *sql.Tx, w *watched, o outcome) error {
	now := s.clock()
	reason := w.Reason
	if reason == "" {
		reason = o.note
	}
	_, err := s.execTx(ctx, tx, `UPDATE build_attempts SET state = 'fenced', fence = ?, result = ?, reason = ?,
	backend_number = COALESCE(?, backend_number), superseded_at = COALESCE(superseded_at, ?), finished_at = COALESCE(finished_at, ?), updated_at = ?
	WHERE build_id = ? AND attempt = ? AND state IN ('triggering', 'queued', 'running', 'superseded')`,
		o.fence, o.result, reason, nullInt(o.number), now, now, now, w.BuildID, w.Attempt.Attempt)
	return err
}

// noteSuperseded records the queue item or build a superseded attempt
// turned out to have, before it is fenced.
func (s *store) noteSuperseded(ctx context.Context, tx *sql.Tx, w *watched, o outcome) error {
	_, err := s.execTx(ctx, tx, `UPDATE build_attempts SET backend_queue_id = COALESCE(?, backend_queue_id),
	backend_number = COALESCE(?, backend_number), backend_session = ?, updated_at = ?
	WHERE build_id = ? AND attempt = ? AND state = 'superseded'`, nullInt(o.queueID), nullInt(o.number), o.session, s.clock(), w.BuildID, w.Attempt.Attempt)
	return err
}

// direct is a build seen on a controller that no attempt of jenkinds
// claims.
type direct struct {
	cluster, job string
	controller   int64
	session      string
	b            jenkins.Build
}

// insertDirect records a direct build with its global number.
func (s *store) insertDirect(ctx context.Context, tx *sql.Tx, nb *numberer, d direct) (int64, error) {
	now := s.clock()
	started := time.UnixMilli(d.b.Timestamp).UTC().Truncate(time.Microsecond)
	if d.b.Timestamp == 0 {
		started = now
	}
	state, astate, result := StateRunning, AttemptRunning, ""
	var finished any
	if !d.b.Building && d.b.Result != "" {
		state, astate, result, finished = StateFinished, AttemptFinished, d.b.Result, now
	}
	cause := Cause{Kind: CauseDirect, Description: strings.Join(d.b.Causes, "; ")}
	var id int64
	err := tx.QueryRowContext(ctx, s.db.Rebind(`INSERT INTO builds (cluster, job, params, cause, state, current_attempt,
	max_attempts, result, not_before, created_at, updated_at, started_at, finished_at)
	VALUES (?, ?, ?, ?, ?, 1, 1, ?, ?, ?, ?, ?, ?) RETURNING id`),
		d.cluster, d.job, encodeJSON(toParams(d.b.Params)), encodeJSON(cause), string(state), result, now, now, now, started, finished).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("record direct build %s #%d of controller %d: %w", d.job, d.b.Number, d.controller, err)
	}
	_, err = s.execTx(ctx, tx, `INSERT INTO build_attempts (build_id, attempt, controller_id, job, backend_queue_id, backend_number,
	backend_session, state, counts, result, reason, triggered_at, started_at, finished_at, updated_at)
	VALUES (?, 1, ?, ?, ?, ?, ?, ?, TRUE, ?, 'started on the controller directly', ?, ?, ?, ?)`,
		id, d.controller, d.job, nullInt(d.b.QueueID), d.b.Number, d.session, string(astate), result, started, started, finished, now)
	if err != nil {
		return 0, fmt.Errorf("record direct build %s #%d of controller %d: %w", d.job, d.b.Number, d.controller, err)
	}
	nb.add(d.cluster, d.job, id)
	return id, nil
}

// scanMarks returns the direct-build scan marks of a controller by job.
func (s *store) scanMarks(ctx context.Context, controllerID int64) (map[string]int64, error) {
	rows, err := s.db.QueryContext(ctx, s.db.Rebind(`SELECT job, seen FROM build_scan_marks WHERE controller_id = ?`), controllerID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var job string
		var seen int64
		if err := rows.Scan(&job, &seen); err != nil {
			return nil, err
		}
		out[job] = seen
	}
	return out, rows.Err()
}

// setMark raises the scan mark of controller/job to seen.
func (s *store) setMark(ctx context.Context, tx *sql.Tx, controllerID int64, job string, seen int64) error {
	_, err := s.execTx(ctx, tx, `INSERT INTO build_scan_marks (controller_id, job, seen) VALUES (?, ?, ?)
	ON CONFLICT (controller_id, job) DO UPDATE SET seen = excluded.seen WHERE build_scan_marks.seen < excluded.seen`,
		controllerID, job, seen)
	return err
}

// claimedNumbers returns which backend build numbers of job on a
// controller, between lo and hi, attempts already hold.
func (s *store) claimedNumbers(ctx context.Context, tx *sql.Tx, controllerID int64, job string, lo, hi int64) (map[int64]bool, error) {
	rows, err := tx.QueryContext(ctx, s.db.Rebind(`SELECT backend_number FROM build_attempts
	WHERE controller_id = ? AND job = ? AND backend_number BETWEEN ? AND ?`), controllerID, job, lo, hi)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int64]bool{}
	for rows.Next() {
		var n int64
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out[n] = true
	}
	return out, rows.Err()
}
