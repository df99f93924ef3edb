package dispatch

import (
	"context"
	"fmt"
	"strings"
)

// Job returns what the catalog knows of cluster/job (catalog.Job).
func (s *Service) Job(ctx context.Context, cluster, job string) (JobInfo, error) {
	return s.cat.Job(ctx, cluster, job)
}

// JobsChanged tells the catalog that jobs of cluster were written through
// jenkinds (catalog.JobsChanged).
func (s *Service) JobsChanged(cluster string) { s.cat.JobsChanged(cluster) }

func joinIDs(ids []int64) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = fmt.Sprint(id)
	}
	return strings.Join(s, ", ")
}
