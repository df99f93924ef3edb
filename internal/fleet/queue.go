package fleet

import (
	"context"
	"errors"
	"html"
	"net/http"
	"strconv"

	"github.com/jenkinds/jenkinds/internal/dispatch"
	"github.com/jenkinds/jenkinds/internal/jenkins"
	st "github.com/jenkinds/jenkinds/internal/stapler"
)

// newView starts rendering for q.
func (f *Front) newView(q *req) *view { return f.newViewCtx(q.r.Context(), q) }

// newViewCtx starts rendering for q, with ctx for what it reads.
func (f *Front) newViewCtx(ctx context.Context, q *req) *view {
	return &view{ctx: ctx, builds: f.builds, cat: f.cat, base: origin(q.r), cluster: q.cluster,
		classes: map[string]string{}, colors: map[string]string{}, describe: f.controllerName}
}

func (f *Front) controllerName(id int64) string {
	if rt := f.pool.Get(id); rt != nil {
		return rt.Instance().Name
	}
	return "controller-" + strconv.FormatInt(id, 10)
}

// item loads queue item id of q's cluster, after checking the caller may
// read its job; it answers and returns false otherwise.
func (f *Front) item(q *req, id int64) (dispatch.Build, bool) {
	if !f.authenticate(q, "") {
		return dispatch.Build{}, false
	}
	b, err := f.builds.Get(q.r.Context(), id)
	if err == nil && b.Cluster != q.cluster {
		err = dispatch.ErrNotFound // ids of other clusters are not this Jenkins'
	}
	if err != nil {
		writeBuildError(q, err)
		return b, false
	}
	return b, f.authenticate(q, b.Job)
}

// serveQueueItem answers GET /queue/item/N/api/json.
func (f *Front) serveQueueItem(q *req, id int64) {
	b, ok := f.item(q, id)
	if !ok {
		return
	}
	writeJSON(q, f.newView(q).queueItem(b, f.now()))
}

// serveQueueItemPage answers GET /queue/item/N/ as Jenkins ≥ 2.469 does.
func (f *Front) serveQueueItemPage(q *req, id int64) {
	if _, ok := f.item(q, id); !ok {
		return
	}
	q.w.Header()["Content-Type"] = textType
	_, _ = q.w.Write([]byte("Queue item exists. For details check, for example, /queue/item/" +
		strconv.FormatInt(id, 10) + "/api/json?tree=cancelled,executable[url]"))
}

// serveQueue answers GET /queue/api/json: the builds waiting in jenkinds,
// those of jobs the caller may read. The answer is kept while the
// cluster's version holds, at most MaxStaleness.
func (f *Front) serveQueue(q *req) {
	if !f.authenticate(q, "") {
		return
	}
	opts, ok := jsonOptions(q)
	if !ok {
		return
	}
	f.serveRendered(q, source{version: f.cat.Version(q.cluster)}, func(ctx context.Context) *rendered {
		waiting, err := f.builds.Waiting(ctx, q.cluster, "", 0)
		if err != nil {
			return unavailableAnswer("read the queue: " + err.Error())
		}
		v, now := f.newViewCtx(ctx, q), f.now()
		items := make([]*st.Object, 0, len(waiting))
		readable := map[string]bool{}
		for _, b := range waiting {
			if b.Number != 0 { // placed again after it ran: a build, not an item
				continue
			}
			ok, seen := readable[b.Job]
			if !seen {
				ok = f.mayRead(q, b.Job) // Jenkins lists only the items of jobs the caller may read
				readable[b.Job] = ok
			}
			if ok {
				items = append(items, v.queueItem(b, now))
			}
		}
		return &rendered{status: http.StatusOK, body: st.Marshal(st.New("hudson.model.Queue",
			st.PI("discoverableItems", []*st.Object{}),
			st.PI("items", items)), opts)}
	})
}

// serveCancelItem answers POST /queue/cancelItem?id=N: 204, 404 "Provided
// id (N) not found", 422 "Item for id (N) is not cancellable".
func (f *Front) serveCancelItem(q *req) {
	if q.r.Method != http.MethodPost {
		jenkins.RequirePOST(q.w)
		return
	}
	idStr := q.r.URL.Query().Get("id")
	id, err := strconv.ParseInt(idStr, 10, 64)
	if err != nil || id <= 0 {
		jenkins.Page(q.w, http.StatusNotFound, "Error", "Provided id ("+html.EscapeString(idStr)+") not found")
		return
	}
	b, ok := f.item(q, id)
	if !ok {
		return
	}
	if b.Number > 0 || b.State.Terminal() {
		jenkins.Page(q.w, http.StatusUnprocessableEntity, "Error", "Item for id ("+idStr+") is not cancellable")
		return
	}
	if _, err := f.builds.Cancel(q.r.Context(), id); err != nil {
		if errors.Is(err, dispatch.ErrFinished) {
			jenkins.Page(q.w, http.StatusUnprocessableEntity, "Error", "Item for id ("+idStr+") is not cancellable")
			return
		}
		writeBuildError(q, err)
		return
	}
	f.log.Info("queue item cancelled", "cluster", q.cluster, "id", id, "job", b.Job, "user", q.user)
	q.w.WriteHeader(http.StatusNoContent)
}

// serveCancelQueue answers the deprecated POST /queue/item/N/cancelQueue:
// always 204, as Jenkins does.
func (f *Front) serveCancelQueue(q *req, id int64) {
	b, ok := f.item(q, id)
	if !ok {
		return
	}
	if b.Number == 0 && !b.State.Terminal() {
		if _, err := f.builds.Cancel(q.r.Context(), id); err != nil && !errors.Is(err, dispatch.ErrFinished) {
			writeBuildError(q, err)
			return
		}
	}
	q.w.WriteHeader(http.StatusNoContent)
}
