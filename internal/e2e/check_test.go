package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jenkinds/jenkinds/internal/dispatch"
	"github.com/jenkinds/jenkinds/internal/server/servertest"
	"github.com/jenkinds/jenkinds/internal/testkit"
)

// chaosCheck verifies a finished chaos run:
//
//  1. the client: every trigger was accepted (201, or 303 for a retry of
//     a trigger whose answer was lost), and every accepted build was
//     followed to building:false with its scripted result, and with its
//     own queue id and number;
//  2. the front door's numbers: each queue id has one number, the job's
//     allBuilds are exactly 1..N, none building, each with the result the
//     client saw first (a result never changes once reported);
//  3. jenkinds' records (GET /api/v1/builds/{id} when the admin API has it,
//     else the Dispatch service): once every attempt has settled (fenced,
//     refused or finished), each build is finished with exactly one
//     finished attempt, the current one, with the build's result; no
//     backend build is held by two attempts; jenkinds holds no build the
//     client did not trigger (no direct build, no duplicate); at least one
//     build was placed again;
//  4. the controllers: every build they ran is an attempt jenkinds knows,
//     and none still runs.
func chaosCheck(ctx context.Context, r *chaosRun, builds []*tracked) {
	t := r.t
	t.Helper()
	get := r.buildGetter(ctx, builds)
	names := r.controllerNames()
	describe := func(b dispatch.Build) string {
		var sb strings.Builder
		fmt.Fprintf(&sb, "build %d #%d %s %q (reason %q), current attempt %d:", b.ID, b.Number, b.State, b.Result, b.Reason, b.CurrentAttempt)
		for _, a := range b.Attempts {
			fmt.Fprintf(&sb, "\n      attempt %d on %s: %s backend queue %d #%d result %q fence %q reason %q triggered +%dms",
				a.Attempt, names[a.ControllerID], a.State, a.BackendQueueID, a.BackendNumber, a.Result, a.Fence, a.Reason,
				a.TriggeredAt.Sub(r.start).Milliseconds())
		}
		return sb.String()
	}

	// 1. What the client saw.
	bySeq := map[int]*tracked{}
	byID := map[int64]*tracked{}
	byNumber := map[int64]*tracked{}
	retried, ambiguous, redirected, status5xx := 0, 0, 0, map[int]int{}
	lost := map[string]int{}
	for _, b := range builds {
		bySeq[b.seq] = b
		retried += b.retried
		for _, s := range b.statuses {
			status5xx[s]++
		}
		if b.ambiguous {
			ambiguous++
			lost[b.lost[strings.LastIndex(b.lost, ": ")+2:]]++
		}
		if b.status == http.StatusSeeOther {
			redirected++
		}
		if b.err != "" {
			msg := fmt.Sprintf("seq %d (queue item %d, #%d): %s", b.seq, b.id, b.number, b.err)
			if b.id != 0 {
				if jb, err := get(b.id); err == nil {
					msg += "\n    jenkinds: " + describe(jb)
				}
			}
			t.Error(msg)
			continue
		}
		_, want := script(b.seq)
		if b.result != want || b.queueID != b.id {
			msg := fmt.Sprintf("seq %d (queue item %d): the client saw #%d end %s with queueId %d, want %s with queueId %d",
				b.seq, b.id, b.number, b.result, b.queueID, want, b.id)
			if jb, err := get(b.id); err == nil {
				msg += "\n    jenkinds: " + describe(jb)
			}
			t.Error(msg)
		}
		if other, dup := byID[b.id]; dup {
			t.Errorf("seq %d and seq %d were both answered with queue item %d", other.seq, b.seq, b.id)
		}
		byID[b.id] = b
		if other, dup := byNumber[b.number]; dup {
			t.Errorf("queue items %d (seq %d) and %d (seq %d) both became #%d", other.id, other.seq, b.id, b.seq, b.number)
		}
		byNumber[b.number] = b
	}
	if t.Failed() {
		return
	}

	// 3 first: let fencing settle, so that nothing runs any more when the
	// controllers are read.
	all := r.allBuilds(ctx)
	var full []dispatch.Build
	testkit.Eventually(t, 20*time.Second, func() bool {
		full = full[:0]
		for _, lb := range all {
			b, err := get(lb.ID)
			if err != nil {
				t.Fatalf("read build %d: %v", lb.ID, err)
			}
			full = append(full, b)
			for _, a := range b.Attempts {
				if a.State != dispatch.AttemptFinished && a.State != dispatch.AttemptFenced && a.State != dispatch.AttemptRefused {
					return false
				}
			}
		}
		return true
	}, testkit.Sayf("every attempt to settle (fenced, refused or finished)"))
	claimed := map[[2]int64]int64{} // (controller, backend number) → build id
	seqBuilds := map[int][]int64{}
	redispatched, attempts, fenced := 0, 0, map[string]int{}
	for _, b := range full {
		seq := -1
		for _, p := range b.Params {
			if p.Name == "SEQ" {
				seq, _ = strconv.Atoi(p.Value)
			}
		}
		if b.Direct() || seq < 0 {
			t.Errorf("jenkinds holds a build no client triggered: %s", describe(b))
			continue
		}
		seqBuilds[seq] = append(seqBuilds[seq], b.ID)
		_, want := script(seq)
		if b.State != dispatch.StateFinished || b.Result != want {
			t.Errorf("seq %d: want finished %s; %s", seq, want, describe(b))
		}
		counted := 0
		for _, a := range b.Attempts {
			attempts++
			switch a.State {
			case dispatch.AttemptFinished:
				counted++
				if a.Attempt != b.CurrentAttempt || a.Result != b.Result {
					t.Errorf("seq %d: the finished attempt is not the current one, or its result is not the build's: %s", seq, describe(b))
				}
			case dispatch.AttemptFenced:
				fenced[a.Fence]++
			}
			if a.BackendNumber != 0 {
				k := [2]int64{a.ControllerID, a.BackendNumber}
				if other, dup := claimed[k]; dup {
					t.Errorf("%s #%d is held by builds %d and %d", names[a.ControllerID], a.BackendNumber, other, b.ID)
				}
				claimed[k] = b.ID
			}
		}
		if counted != 1 {
			t.Errorf("seq %d: %d finished attempts, want exactly 1: %s", seq, counted, describe(b))
		}
		if b.CurrentAttempt > 1 {
			redispatched++
		}
	}
	dups := 0
	for seq, ids := range seqBuilds {
		b := bySeq[seq]
		if len(ids) > 1 {
			dups++
		}
		mine := false
		for _, id := range ids {
			mine = mine || id == b.id
		}
		// A second build of a seq is the client's when one of its trigger
		// attempts may have been accepted without the client hearing so.
		if !mine || len(ids) > 2 || len(ids) == 2 && !b.ambiguous {
			t.Errorf("seq %d: jenkinds holds builds %v, the client was answered with %d (ambiguous trigger: %v)", seq, ids, b.id, b.ambiguous)
		}
	}
	if redispatched == 0 {
		t.Errorf("no build was placed again: the faults missed the run")
	}

	// 2. The front door's numbering of the job.
	var job struct {
		AllBuilds []buildJSON `json:"allBuilds"`
	}
	if _, err := r.c.getJSON(ctx, "/job/build/api/json?tree=allBuilds[number,queueId,building,result]", &job); err != nil {
		t.Fatalf("read the job on the front door: %v", err)
	}
	if len(job.AllBuilds) != len(full) {
		t.Errorf("the front door lists %d builds of the job, jenkinds holds %d", len(job.AllBuilds), len(full))
	}
	numbers := map[int64]int64{}
	for _, fb := range job.AllBuilds {
		if other, dup := numbers[fb.Number]; dup {
			t.Errorf("#%d is listed twice: queue items %d and %d", fb.Number, other, fb.QueueID)
		}
		numbers[fb.Number] = fb.QueueID
		if fb.Building || fb.Result == nil {
			t.Errorf("#%d (queue item %d) is still building on the front door", fb.Number, fb.QueueID)
			continue
		}
		if b, ok := byID[fb.QueueID]; ok && (b.number != fb.Number || b.result != *fb.Result) {
			t.Errorf("queue item %d: the client saw #%d end %s, the job lists #%d %s", fb.QueueID, b.number, b.result, fb.Number, *fb.Result)
		}
	}
	for n := int64(1); n <= int64(len(job.AllBuilds)); n++ {
		if _, ok := numbers[n]; !ok {
			t.Errorf("#%d is missing: the numbers are not 1..%d", n, len(job.AllBuilds))
		}
	}
	// The console is the counted attempt's. Read a few at a time, as
	// clients would: one by one, a loaded machine spends the check's
	// whole budget on them.
	var consoles sync.WaitGroup
	sem := make(chan struct{}, 8)
	for _, b := range builds {
		sem <- struct{}{}
		consoles.Go(func() {
			defer func() { <-sem }()
			path := "/job/build/" + strconv.FormatInt(b.number, 10) + "/consoleText"
			t0 := time.Now()
			res, body, err := r.c.do(ctx, http.MethodGet, path)
			if err == nil && res.StatusCode != http.StatusOK {
				err = fmt.Errorf("HTTP %d: %.200s", res.StatusCode, body)
			}
			if err != nil {
				t.Errorf("GET %s: %v (after %s)", path, err, time.Since(t0).Round(time.Millisecond))
				return
			}
			if _, want := script(b.seq); !strings.HasSuffix(strings.TrimSpace(string(body)), "Finished: "+want) {
				t.Errorf("seq %d: the console of #%d does not end Finished: %s:\n%s", b.seq, b.number, want, body)
			}
		})
	}
	consoles.Wait()

	// 4. The controllers.
	ran := 0
	for _, sim := range r.s.Sims {
		id := int64(0)
		for cid, name := range names {
			if name == sim.Name() {
				id = cid
			}
		}
		var sj struct {
			AllBuilds []struct {
				Number   int64 `json:"number"`
				QueueID  int64 `json:"queueId"`
				Building bool  `json:"building"`
				Actions  []struct {
					Parameters []struct {
						Name  string `json:"name"`
						Value string `json:"value"`
					} `json:"parameters"`
				} `json:"actions"`
			} `json:"allBuilds"`
		}
		sc := &client{front: strings.TrimSuffix(sim.URL(), "/"), hc: r.c.hc}
		if _, err := sc.getJSON(ctx, "/job/build/api/json?tree="+url.QueryEscape("allBuilds[number,queueId,building,actions[parameters[name,value]]]"), &sj); err != nil {
			t.Fatalf("read the job on %s: %v", sim.Name(), err)
		}
		for _, b := range sj.AllBuilds {
			ran++
			if _, ok := claimed[[2]int64{id, b.Number}]; !ok {
				seq := "?"
				for _, a := range b.Actions {
					for _, p := range a.Parameters {
						if p.Name == "SEQ" {
							seq = p.Value
						}
					}
				}
				t.Errorf("%s ran #%d (its queue item %d, seq %s) and no attempt holds it", sim.Name(), b.Number, b.QueueID, seq)
			}
			if b.Building {
				t.Errorf("%s still runs #%d", sim.Name(), b.Number)
			}
		}
	}
	t.Logf("%d builds accepted (%d trigger attempts failed and were retried, of which answered 5xx: %v; %d triggers ambiguous: %v, of which %d made a second build; %d answered 303), "+
		"%d attempts, %d builds placed again, fenced %v, %d backend builds run",
		len(byID), retried, status5xx, ambiguous, lost, dups, redirected, attempts, redispatched, fenced, ran)
}

// buildGetter returns how to read a build with its attempts: GET
// /api/v1/builds/{id} on the admin API.
func (r *chaosRun) buildGetter(ctx context.Context, builds []*tracked) func(int64) (dispatch.Build, error) {
	admin := func(id int64) (dispatch.Build, int, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.s.Admin+"/api/v1/builds/"+strconv.FormatInt(id, 10), nil)
		if err != nil {
			return dispatch.Build{}, 0, err
		}
		req.Header.Set("Authorization", "Bearer "+servertest.AdminToken)
		res, err := r.c.hc.Do(req)
		if err != nil {
			return dispatch.Build{}, 0, err
		}
		defer res.Body.Close()
		var b dispatch.Build // api.Build: dispatch.Build's fields, attempts with theirs
		if res.StatusCode != http.StatusOK {
			return b, res.StatusCode, fmt.Errorf("GET /api/v1/builds/%d: HTTP %d", id, res.StatusCode)
		}
		return b, res.StatusCode, json.NewDecoder(res.Body).Decode(&b)
	}
	return func(id int64) (dispatch.Build, error) {
		b, _, err := admin(id)
		return b, err
	}
}

// allBuilds lists every build jenkinds holds, attempts not included.
func (r *chaosRun) allBuilds(ctx context.Context) []dispatch.Build {
	var all []dispatch.Build
	var after int64
	for {
		page, err := r.s.Jenkinds().Dispatch.List(ctx, dispatch.Filter{AfterID: after, Limit: 1000})
		if err != nil {
			r.t.Fatalf("list builds: %v", err)
		}
		all = append(all, page...)
		if len(page) < 1000 {
			break
		}
		after = page[len(page)-1].ID
	}
	sort.Slice(all, func(i, j int) bool { return all[i].ID < all[j].ID })
	return all
}

// controllerNames maps the registered controllers' ids to their names.
func (r *chaosRun) controllerNames() map[int64]string {
	var list []struct {
		ID   int64  `json:"id"`
		Name string `json:"name"`
	}
	if err := json.Unmarshal(r.s.API("GET", "/api/v1/instances", nil, http.StatusOK), &list); err != nil {
		r.t.Fatalf("list instances: %v", err)
	}
	names := map[int64]string{}
	for _, in := range list {
		names[in.ID] = in.Name
	}
	return names
}
