package dispatch

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// Policy is a re-dispatch policy: what jenkinds does with a build whose
// controller lost it after it started.
type Policy string

const (
	// PolicyAlways places the build again, as long as it has attempts
	// left (the default): at-least-once start.
	PolicyAlways Policy = "always"
	// PolicyQueuedOnly places the build again only while it has not
	// started; once it has, a lost build fails with the reason instead of
	// running a second time (deploys, migrations).
	PolicyQueuedOnly Policy = "queued-only"
)

// ParsePolicy reads a policy name.
func ParsePolicy(s string) (Policy, error) {
	switch p := Policy(s); p {
	case PolicyAlways, PolicyQueuedOnly:
		return p, nil
	}
	return "", &ValidationError{Field: "policy", Rule: fmt.Sprintf("%q: must be %s or %s", s, PolicyAlways, PolicyQueuedOnly)}
}

// Scan reads a policy from SQL.
func (p *Policy) Scan(src any) error {
	switch v := src.(type) {
	case string:
		*p = Policy(v)
	case []byte:
		*p = Policy(v)
	default:
		return fmt.Errorf("scan policy: unsupported type %T", src)
	}
	return nil
}

// ErrNoPolicy: no re-dispatch policy is set where one was to be cleared.
// It matches ErrNotFound (404).
var ErrNoPolicy error = noPolicy{}

type noPolicy struct{}

func (noPolicy) Error() string        { return "no re-dispatch policy is set" }
func (noPolicy) Is(target error) bool { return target == ErrNotFound }

// PolicyRule is one stored policy: a cluster's (Job "") or a job's, which
// overrides its cluster's.
type PolicyRule struct {
	Cluster string `json:"cluster"`
	Job     string `json:"job,omitempty"`
	Policy  Policy `json:"policy"`
}

// SetPolicy sets the re-dispatch policy of cluster (job "") or of one job
// of it. It applies to attempts placed from then on.
func (s *Service) SetPolicy(ctx context.Context, r PolicyRule) error {
	if strings.TrimSpace(r.Cluster) == "" {
		return &ValidationError{Field: "cluster", Rule: "required"}
	}
	if _, err := ParsePolicy(string(r.Policy)); err != nil {
		return err
	}
	r.Job = strings.Trim(r.Job, "/")
	err := s.st.writeOne(ctx, func() error {
		_, err := s.st.db.ExecContext(ctx, s.st.db.Rebind(`INSERT INTO redispatch_policies (cluster, job, policy, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (cluster, job) DO UPDATE SET policy = excluded.policy, updated_at = excluded.updated_at`),
			r.Cluster, r.Job, string(r.Policy), s.st.clock())
		return err
	})
	if err != nil {
		return fmt.Errorf("set re-dispatch policy of %s: %w", r.where(), err)
	}
	return nil
}

// ClearPolicy removes the policy of cluster (job "") or of one of its
// jobs: the job follows its cluster's again, the cluster the default
// (always). ErrNoPolicy (an ErrNotFound) when none was set.
func (s *Service) ClearPolicy(ctx context.Context, cluster, job string) error {
	r := PolicyRule{Cluster: cluster, Job: strings.Trim(job, "/")}
	var n int64
	err := s.st.writeOne(ctx, func() error {
		res, err := s.st.db.ExecContext(ctx, s.st.db.Rebind(`DELETE FROM redispatch_policies WHERE cluster = ? AND job = ?`), r.Cluster, r.Job)
		if err == nil {
			n, err = res.RowsAffected()
		}
		return err
	})
	switch {
	case err != nil:
		return fmt.Errorf("clear re-dispatch policy of %s: %w", r.where(), err)
	case n == 0:
		return fmt.Errorf("clear re-dispatch policy of %s: %w", r.where(), ErrNoPolicy)
	}
	return nil
}

// Policies lists the stored policies of cluster ("" = all).
func (s *Service) Policies(ctx context.Context, cluster string) ([]PolicyRule, error) {
	q, args := `SELECT cluster, job, policy FROM redispatch_policies`, []any{}
	if cluster != "" {
		q, args = q+` WHERE cluster = ?`, append(args, cluster)
	}
	rows, err := s.st.db.QueryContext(ctx, s.st.db.Rebind(q+` ORDER BY cluster, job`), args...)
	if err != nil {
		return nil, fmt.Errorf("list re-dispatch policies: %w", err)
	}
	defer rows.Close()
	out := []PolicyRule{}
	for rows.Next() {
		var r PolicyRule
		if err := rows.Scan(&r.Cluster, &r.Job, &r.Policy); err != nil {
			return nil, fmt.Errorf("list re-dispatch policies: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// PolicyOf returns the policy that applies to cluster/job now: the job's,
// else its cluster's, else PolicyAlways.
func (s *Service) PolicyOf(ctx context.Context, cluster, job string) (Policy, error) {
	var p Policy
	err := s.st.db.QueryRowContext(ctx, s.st.db.Rebind(`SELECT policy FROM redispatch_policies
	WHERE cluster = ? AND job IN (?, '') ORDER BY job DESC LIMIT 1`), cluster, strings.Trim(job, "/")).Scan(&p)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return PolicyAlways, nil
	case err != nil:
		return "", fmt.Errorf("read the re-dispatch policy of %s in cluster %s: %w", job, cluster, err)
	}
	return p, nil
}

func (r PolicyRule) where() string {
	if r.Job == "" {
		return "cluster " + r.Cluster
	}
	return fmt.Sprintf("job %s of cluster %s", r.Job, r.Cluster)
}

// policies is every stored policy, read once per placement batch.
type policies map[[2]string]Policy

func (c *core) loadPolicies(ctx context.Context) (policies, error) {
	rows, err := c.st.db.QueryContext(ctx, `SELECT cluster, job, policy FROM redispatch_policies`)
	if err != nil {
		return nil, fmt.Errorf("read re-dispatch policies: %w", err)
	}
	defer rows.Close()
	out := policies{}
	for rows.Next() {
		var cluster, job string
		var p Policy
		if err := rows.Scan(&cluster, &job, &p); err != nil {
			return nil, fmt.Errorf("read re-dispatch policies: %w", err)
		}
		out[[2]string{cluster, job}] = p
	}
	return out, rows.Err()
}

// of is the policy of cluster/job.
func (ps policies) of(cluster, job string) Policy {
	if p, ok := ps[[2]string{cluster, job}]; ok {
		return p
	}
	if p, ok := ps[[2]string{cluster, ""}]; ok {
		return p
	}
	return PolicyAlways
}
