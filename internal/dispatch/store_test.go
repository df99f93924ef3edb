package dispatch

import (
	"context"
	"database/sql"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/db/dbtest"
	"github.com/jenkinds/jenkinds/internal/jenkins"
)

// The store suite runs on both engines: SQLite always, PostgreSQL too
// (required when CI is set).

func newTestStore(t *testing.T, e dbtest.Engine) *store {
	t.Helper()
	d := e.Open(t)
	if err := d.Migrate(context.Background(), Migrations); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	s := newStore(d, time.Now)
	t.Cleanup(s.close)
	return s
}

func forEngines(t *testing.T, f func(t *testing.T, s *store)) {
	for _, e := range dbtest.Engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			t.Parallel()
			f(t, newTestStore(t, e))
		})
	}
}

func mustWrite(t *testing.T, s *store, f func(tx *sql.Tx) error) {
	t.Helper()
	if err := s.write(context.Background(), f); err != nil {
		t.Fatal(err)
	}
}

// numbered runs f with a numberer and flushes it, in one transaction.
func numbered(t *testing.T, s *store, f func(tx *sql.Tx, nb *numberer) error) map[int64]int64 {
	t.Helper()
	var got map[int64]int64
	mustWrite(t, s, func(tx *sql.Tx) error {
		nb := s.numberer(tx)
		if err := f(tx, nb); err != nil {
			return err
		}
		var err error
		got, err = nb.flush(context.Background())
		return err
	})
	return got
}

// placed inserts a build and places its next attempt on controller c with
// a queue item; it returns the follower's view of that attempt.
func placed(t *testing.T, s *store, b Build, c int64, queueID int64) *watched {
	t.Helper()
	ctx := context.Background()
	took, err := s.claimAll(ctx, NoFence{}, []claim{{build: b, controller: c, session: "s1", floor: 1}})
	if err != nil || len(took) != 1 {
		t.Fatalf("claim build %d: %v (took %d)", b.ID, err, len(took))
	}
	if err := s.recordTriggers(ctx, NoFence{}, []triggerResult{{claim: took[0], queueID: queueID, session: "s1"}}, func(int) time.Duration { return 0 }); err != nil {
		t.Fatal(err)
	}
	ws, err := s.watchList(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	for i := range ws {
		if ws[i].BuildID == b.ID && ws[i].Attempt.Attempt == took[0].build.CurrentAttempt {
			return &ws[i]
		}
	}
	t.Fatalf("attempt of build %d not in the watch list", b.ID)
	return nil
}

func TestStoreRoundTrip(t *testing.T) {
	t.Parallel()
	forEngines(t, func(t *testing.T, s *store) {
		ctx := context.Background()
		params := []Param{{"Z", "1"}, {"A", "two words"}, {"M", ""}}
		b, err := s.insertBuild(ctx, Build{Cluster: "c", Job: "f/j", Params: params, Cause: Cause{Kind: "user", UserID: "ann"}, MaxAttempts: 3})
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.get(ctx, b.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Job != "f/j" || got.State != StateAccepted || got.Cause.UserID != "ann" || len(got.Params) != 3 ||
			got.Params[0] != params[0] || got.Params[1] != params[1] || !got.CreatedAt.Equal(b.CreatedAt) || got.Number != 0 {
			t.Errorf("got %+v, want what was inserted (%+v)", got, b)
		}
		if _, err := s.get(ctx, b.ID+100); err != ErrNotFound {
			t.Errorf("get of a missing id: %v, want ErrNotFound", err)
		}
		twin, err := s.waitingTwin(ctx, "c", "f/j", params)
		if err != nil || twin.ID != b.ID {
			t.Errorf("waitingTwin = %d, %v; want %d", twin.ID, err, b.ID)
		}
		due, err := s.due(ctx, "c", 10)
		if err != nil || len(due) != 1 {
			t.Errorf("due = %d, %v; want 1", len(due), err)
		}
	})
}

func TestStoreClaimIsConditional(t *testing.T) {
	t.Parallel()
	forEngines(t, func(t *testing.T, s *store) {
		ctx := context.Background()
		b, _ := s.insertBuild(ctx, Build{Cluster: "c", Job: "j", MaxAttempts: 3})
		first, err := s.claimAll(ctx, NoFence{}, []claim{{build: b, controller: 1}})
		if err != nil || len(first) != 1 {
			t.Fatalf("first claim: %v %d", err, len(first))
		}
		// A second placer holding the same stale read claims nothing.
		second, err := s.claimAll(ctx, NoFence{}, []claim{{build: b, controller: 2}})
		if err != nil || len(second) != 0 {
			t.Errorf("second claim took %d (%v), want none", len(second), err)
		}
		got, _ := s.get(ctx, b.ID)
		if got.State != StatePlaced || got.CurrentAttempt != 1 || len(got.Attempts) != 1 || got.Attempts[0].ControllerID != 1 {
			t.Errorf("after claims: %+v", got)
		}
	})
}

func TestStoreOnlyTheCurrentAttemptCounts(t *testing.T) {
	t.Parallel()
	forEngines(t, func(t *testing.T, s *store) {
		ctx := context.Background()
		b, _ := s.insertBuild(ctx, Build{Cluster: "c", Job: "j", MaxAttempts: 3})
		w1 := placed(t, s, b, 1, 7)
		numbered(t, s, func(tx *sql.Tx, nb *numberer) error {
			return s.toRunning(ctx, tx, nb, w1, outcome{queueID: 7, number: 3, session: "s1", started: time.Now()})
		})
		b, _ = s.get(ctx, b.ID)
		if b.State != StateRunning || b.Number != 1 {
			t.Fatalf("after running: %s #%d", b.State, b.Number)
		}
		mustWrite(t, s, func(tx *sql.Tx) error {
			to, err := s.lose(ctx, tx, w1, "controller died", false)
			if to != StateAccepted {
				t.Errorf("lose → %s, want accepted", to)
			}
			return err
		})
		b, _ = s.get(ctx, b.ID)
		w2 := placed(t, s, b, 2, 9)
		// The old attempt's late result must not count.
		numbered(t, s, func(tx *sql.Tx, nb *numberer) error {
			return s.toFinished(ctx, tx, nb, w1, outcome{queueID: 7, number: 3, session: "s1", result: "FAILURE", started: time.Now(), finished: time.Now()})
		})
		b, _ = s.get(ctx, b.ID)
		if b.State != StatePlaced || b.Result != "" || b.Attempts[0].State != AttemptFenced || b.Attempts[0].Fence != FenceEnded {
			t.Fatalf("late result of attempt 1 changed the build: %+v", b)
		}
		w2.buildNumber = b.Number
		numbered(t, s, func(tx *sql.Tx, nb *numberer) error {
			return s.toFinished(ctx, tx, nb, w2, outcome{queueID: 9, number: 4, session: "s2", result: "SUCCESS", started: time.Now(), finished: time.Now()})
		})
		// A repeated write changes nothing.
		numbered(t, s, func(tx *sql.Tx, nb *numberer) error {
			return s.toFinished(ctx, tx, nb, w2, outcome{queueID: 9, number: 4, session: "s2", result: "UNSTABLE", started: time.Now(), finished: time.Now()})
		})
		b, _ = s.get(ctx, b.ID)
		if b.State != StateFinished || b.Result != "SUCCESS" || b.Number != 1 || b.Attempts[1].State != AttemptFinished {
			t.Errorf("after attempt 2 finished: %+v", b)
		}
		finished := 0
		for _, a := range b.Attempts {
			if a.State == AttemptFinished {
				finished++
			}
		}
		if finished != 1 {
			t.Errorf("%d finished attempts, want exactly 1", finished)
		}
	})
}

func TestStoreAttemptLimit(t *testing.T) {
	t.Parallel()
	forEngines(t, func(t *testing.T, s *store) {
		ctx := context.Background()
		b, _ := s.insertBuild(ctx, Build{Cluster: "c", Job: "j", MaxAttempts: 2})
		// A refused trigger does not count.
		took, _ := s.claimAll(ctx, NoFence{}, []claim{{build: b, controller: 1}})
		if err := s.recordTriggers(ctx, NoFence{}, []triggerResult{{claim: took[0], refusedBy: "HTTP 503"}}, func(int) time.Duration { return 0 }); err != nil {
			t.Fatal(err)
		}
		for i := range 2 {
			b, _ = s.get(ctx, b.ID)
			w := placed(t, s, b, 1, int64(10+i))
			var to State
			mustWrite(t, s, func(tx *sql.Tx) error {
				var err error
				to, err = s.lose(ctx, tx, w, "lost", false)
				return err
			})
			if want := []State{StateAccepted, StateFailed}[i]; to != want {
				t.Errorf("loss %d → %s, want %s", i+1, to, want)
			}
		}
		b, _ = s.get(ctx, b.ID)
		if b.State != StateFailed || len(b.Attempts) != 3 || b.Attempts[0].State != AttemptRefused || b.Attempts[0].Counts {
			t.Errorf("after two losses: %+v", b)
		}
	})
}

func TestStoreNumbersAreDenseUnderConcurrency(t *testing.T) {
	t.Parallel()
	forEngines(t, func(t *testing.T, s *store) {
		ctx := context.Background()
		var mu sync.Mutex
		var got []int64
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for range 5 {
					var ids []int64
					for range 2 {
						b, err := s.insertBuild(ctx, Build{Cluster: "c", Job: "j", MaxAttempts: 1})
						if err != nil {
							t.Error(err)
							return
						}
						ids = append(ids, b.ID)
					}
					err := s.write(ctx, func(tx *sql.Tx) error {
						nb := s.numberer(tx)
						for _, id := range ids {
							nb.add("c", "j", id)
						}
						nums, err := nb.flush(ctx)
						mu.Lock()
						for _, id := range ids {
							got = append(got, nums[id])
						}
						mu.Unlock()
						return err
					})
					if err != nil {
						t.Error(err)
					}
				}
			})
		}
		wg.Wait()
		sort.Slice(got, func(i, j int) bool { return got[i] < got[j] })
		for i, n := range got {
			if n != int64(i+1) {
				t.Fatalf("numbers %v: want 1..80 each once", got)
			}
		}
	})
}

func TestStoreDirectBuildsAndMarks(t *testing.T) {
	t.Parallel()
	forEngines(t, func(t *testing.T, s *store) {
		ctx := context.Background()
		var id int64
		numbered(t, s, func(tx *sql.Tx, nb *numberer) error {
			var err error
			id, err = s.insertDirect(ctx, tx, nb, direct{cluster: "c", job: "j", controller: 3, session: "s",
				b: jenkins.Build{Number: 41, QueueID: 5, Result: "SUCCESS", Timestamp: time.Now().UnixMilli()}})
			if err != nil {
				return err
			}
			if err := s.setMark(ctx, tx, 3, "j", 41); err != nil {
				return err
			}
			return s.setMark(ctx, tx, 3, "j", 12) // never goes down
		})
		b, err := s.get(ctx, id)
		if err != nil || !b.Direct() || b.State != StateFinished || b.Number != 1 || b.Attempts[0].BackendNumber != 41 {
			t.Errorf("direct build: %+v, %v", b, err)
		}
		marks, err := s.scanMarks(ctx, 3)
		if err != nil || marks["j"] != 41 {
			t.Errorf("marks %v, %v; want j at 41", marks, err)
		}
		var claimed map[int64]bool
		mustWrite(t, s, func(tx *sql.Tx) error {
			claimed, err = s.claimedNumbers(ctx, tx, 3, "j", 40, 50)
			return err
		})
		if !claimed[41] || len(claimed) != 1 {
			t.Errorf("claimed %v, want 41", claimed)
		}
	})
}
