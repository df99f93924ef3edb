package dispatch

import (
	"context"
	"fmt"
	"sort"
	"strings"
)

// numberer gives builds their global numbers at the end of a
// transaction: the builds that first ran in it are collected (want), then
// flush takes one range per (cluster, job) from its counter row and writes
// the numbers in one UPDATE. The counter row stays locked from that UPDATE
// to the commit (PostgreSQL; SQLite writes one at a time), which flush
// keeps short by coming last and taking rows in a fixed order (no
// deadlock between rounds). Numbers never collide, and, taken only for
// builds that get them, stay dense.
type numberer struct {
	s    *store
	tx   txn
	want map[[2]string][]int64 // (cluster, job) → build ids, in the order they ran
}

func (s *store) numberer(tx txn) *numberer {
	return &numberer{s: s, tx: tx, want: map[[2]string][]int64{}}
}

// add asks for a number for build id of cluster/job.
func (n *numberer) add(cluster, job string, id int64) {
	k := [2]string{cluster, job}
	n.want[k] = append(n.want[k], id)
}

// flush numbers the builds asked for and returns their numbers.
func (n *numberer) flush(ctx context.Context) (map[int64]int64, error) {
	keys := make([][2]string, 0, len(n.want))
	for k := range n.want {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return keys[i][0] < keys[j][0] || keys[i][0] == keys[j][0] && keys[i][1] < keys[j][1]
	})
	out := map[int64]int64{}
	for _, k := range keys {
		ids := n.want[k]
		if _, err := n.s.execTx(ctx, n.tx, `INSERT INTO build_numbers (cluster, job, next) VALUES (?, ?, 1) ON CONFLICT (cluster, job) DO NOTHING`, k[0], k[1]); err != nil {
			return nil, fmt.Errorf("number builds of %s/%s: %w", k[0], k[1], err)
		}
		var first int64
		err := n.tx.QueryRowContext(ctx, n.s.db.Rebind(`UPDATE build_numbers SET next = next + ? WHERE cluster = ? AND job = ? RETURNING next - ?`),
			len(ids), k[0], k[1], len(ids)).Scan(&first)
		if err != nil {
			return nil, fmt.Errorf("number builds of %s/%s: %w", k[0], k[1], err)
		}
		var cases strings.Builder
		args := make([]any, 0, 3*len(ids))
		for i, id := range ids {
			cases.WriteString(" WHEN ? THEN CAST(? AS BIGINT)")
			args = append(args, id, first+int64(i))
			out[id] = first + int64(i)
		}
		for _, id := range ids {
			args = append(args, id)
		}
		if _, err := n.tx.ExecContext(ctx, n.s.db.Rebind(`UPDATE builds SET number = CASE id`+cases.String()+` END
		WHERE number IS NULL AND id IN (`+marks(len(ids))+`)`), args...); err != nil {
			return nil, fmt.Errorf("number builds of %s/%s: %w", k[0], k[1], err)
		}
	}
	return out, nil
}
