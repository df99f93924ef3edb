package dispatch

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// The reads the front door needs to present a job's history as one
// Jenkins: builds by global number, the permalinks, the waiting builds.

// History returns up to limit numbered builds of cluster/job, newest
// (highest global number) first, below the number before (0: from the
// newest), without attempts.
func (s *Service) History(ctx context.Context, cluster, job string, before int64, limit int) ([]Build, error) {
	if limit <= 0 {
		limit = 100
	}
	q := `SELECT ` + buildColumns + ` FROM builds WHERE cluster = ? AND job = ? AND number IS NOT NULL`
	args := []any{cluster, job}
	if before > 0 {
		q += ` AND number < ?`
		args = append(args, before)
	}
	q += ` ORDER BY number DESC LIMIT ?`
	rows, err := s.st.db.QueryContext(ctx, s.st.db.Rebind(q), append(args, limit)...)
	out, err := collect(rows, err, scanBuild)
	if err != nil {
		return nil, fmt.Errorf("read the history of %s in cluster %s: %w", job, cluster, err)
	}
	return out, nil
}

// Waiting returns the builds of cluster (and job, unless "") that wait to
// run — accepted or placed — oldest first, at most limit, without
// attempts: the front door's queue.
func (s *Service) Waiting(ctx context.Context, cluster, job string, limit int) ([]Build, error) {
	if limit <= 0 {
		limit = 1000
	}
	q := `SELECT ` + buildColumns + ` FROM builds WHERE cluster = ? AND state IN ('accepted', 'placed')`
	args := []any{cluster}
	if job != "" {
		q += ` AND job = ?`
		args = append(args, job)
	}
	q += ` ORDER BY id LIMIT ?`
	rows, err := s.st.db.QueryContext(ctx, s.st.db.Rebind(q), append(args, limit)...)
	out, err := collect(rows, err, scanBuild)
	if err != nil {
		return nil, fmt.Errorf("read the waiting builds of cluster %s: %w", cluster, err)
	}
	return out, nil
}

// Permalinks are Jenkins' named build links, with the condition on a
// numbered build each selects (the newest that matches). Jenkins counts
// UNSTABLE as successful; a build jenkinds gave up on (failed) counts as
// completed and unsuccessful.
var permalinks = map[string]string{
	"lastBuild":             `TRUE`,
	"lastCompletedBuild":    `state IN ('finished', 'failed')`,
	"lastSuccessfulBuild":   `state = 'finished' AND result IN ('SUCCESS', 'UNSTABLE')`,
	"lastStableBuild":       `state = 'finished' AND result = 'SUCCESS'`,
	"lastFailedBuild":       `(state = 'failed' OR (state = 'finished' AND result = 'FAILURE'))`,
	"lastUnstableBuild":     `state = 'finished' AND result = 'UNSTABLE'`,
	"lastUnsuccessfulBuild": `(state = 'failed' OR (state = 'finished' AND result <> 'SUCCESS'))`,
}

// IsPermalink reports whether name is one of Jenkins' build permalinks
// (lastBuild, lastSuccessfulBuild, …).
func IsPermalink(name string) bool {
	_, ok := permalinks[name]
	return ok
}

// Permalink returns the number of the build the permalink name selects in
// cluster/job, 0 when none does (Jenkins answers 404 then). "firstBuild"
// is the oldest build.
func (s *Service) Permalink(ctx context.Context, cluster, job, name string) (int64, error) {
	agg, cond := "MAX", permalinks[name]
	switch {
	case name == "firstBuild":
		agg, cond = "MIN", `TRUE`
	case cond == "":
		return 0, fmt.Errorf("permalink %q: %w", name, ErrNotFound)
	}
	if cond == `TRUE` {
		cond = `number IS NOT NULL`
	}
	var n int64
	err := s.st.db.QueryRowContext(ctx, s.st.db.Rebind(`SELECT COALESCE(`+agg+`(number), 0) FROM builds
	WHERE cluster = ? AND job = ? AND number IS NOT NULL AND `+cond), cluster, job).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("resolve %s of %s in cluster %s: %w", name, job, cluster, err)
	}
	return n, nil
}

// NextNumber is the global number the next build of cluster/job to run
// will get (Jenkins' nextBuildNumber).
func (s *Service) NextNumber(ctx context.Context, cluster, job string) (int64, error) {
	var n int64
	err := s.st.db.QueryRowContext(ctx, s.st.db.Rebind(`SELECT next FROM build_numbers WHERE cluster = ? AND job = ?`), cluster, job).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 1, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read the next number of %s in cluster %s: %w", job, cluster, err)
	}
	return n, nil
}
