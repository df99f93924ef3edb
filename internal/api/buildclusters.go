package api

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/jenkinds/jenkinds/internal/buildcluster"
)

// BuildClusters is the build cluster registry the API manages.
// *buildcluster.Store is one. A record is addressed by name and
// scmContext; scmContext "" is enough while the name has records for one
// scmContext only (else *buildcluster.AmbiguousError).
type BuildClusters interface {
	Create(ctx context.Context, in buildcluster.CreateInput) (buildcluster.Cluster, error)
	List(ctx context.Context, f buildcluster.ListFilter) ([]buildcluster.Cluster, error)
	Get(ctx context.Context, name, scmContext string) (buildcluster.Cluster, error)
	Update(ctx context.Context, name, scmContext string, p buildcluster.Patch) (buildcluster.Cluster, error)
	Delete(ctx context.Context, name, scmContext string) error
	AddKey(ctx context.Context, name, scmContext string, k buildcluster.PublicKey) (buildcluster.Cluster, error)
	RemoveKey(ctx context.Context, name, scmContext, kid string) (buildcluster.Cluster, error)
}

var _ BuildClusters = (*buildcluster.Store)(nil)

// buildClusterRoutes are the routes of the build cluster registry, pipeline
// builds and their queue jobs (pipelines.go).
func (h *handler) buildClusterRoutes() []route {
	return []route{
		{"POST", "/api/v1/buildClusters", h.handle(h.createBuildCluster)},
		{"GET", "/api/v1/buildClusters", h.handle(h.listBuildClusters)},
		{"GET", "/api/v1/buildClusters/{name}", h.handle(h.getBuildCluster)},
		{"PUT", "/api/v1/buildClusters/{name}", h.handle(h.updateBuildCluster)},
		{"DELETE", "/api/v1/buildClusters/{name}", h.handle(h.deleteBuildCluster)},
		{"POST", "/api/v1/buildClusters/{name}/keys", h.handle(h.addBuildClusterKey)},
		{"DELETE", "/api/v1/buildClusters/{name}/keys/{kid}", h.handle(h.removeBuildClusterKey)},
		{"POST", "/api/v1/builds", h.handle(h.createBuild)},
		{"GET", "/api/v1/queue/jobs/{id}", h.handle(h.getQueueJob)},
		{"GET", "/api/v1/queue/jobs/{id}/log", h.handle(h.queueJobLog)},
	}
}

// notEnabled is the answer of a route whose service the server was built
// without.
func notEnabled(what string) *problem {
	return &problem{http.StatusNotImplemented, CodeNotEnabled, what + " are not enabled on this server", ""}
}

// buildClusters returns the registry, or not_enabled.
func (h *handler) buildClusters() (BuildClusters, error) {
	if h.clusters == nil {
		return nil, notEnabled("build clusters")
	}
	return h.clusters, nil
}

// clusterRef returns the registry and the record r addresses: the {name}
// path parameter and the optional scmContext query parameter, refusing
// any other query parameter.
func (h *handler) clusterRef(r *http.Request) (reg BuildClusters, name, scmContext string, err error) {
	if reg, err = h.buildClusters(); err != nil {
		return nil, "", "", err
	}
	q, err := query(r, "scmContext")
	if err != nil {
		return nil, "", "", err
	}
	return reg, r.PathValue("name"), q.Get("scmContext"), nil
}

// buildClusterPath is the address of a record: the path the other routes
// take, with its scmContext (not an id, which no route takes).
func buildClusterPath(c buildcluster.Cluster) string {
	return Prefix + "buildClusters/" + url.PathEscape(c.Name) + "?scmContext=" + url.QueryEscape(c.SCMContext)
}

// POST /api/v1/buildClusters
func (h *handler) createBuildCluster(w http.ResponseWriter, r *http.Request) error {
	reg, err := h.buildClusters()
	if err != nil {
		return err
	}
	var in buildcluster.CreateInput
	if err := h.decode(w, r, &in); err != nil {
		return err
	}
	c, err := reg.Create(r.Context(), in)
	if err != nil {
		return err
	}
	h.log.InfoContext(r.Context(), "build cluster registered", "cluster", c.Name, "scm_context", c.SCMContext,
		"active", c.IsActive, "managed_by", c.ManagedBy, "keys", len(c.PublicKeys))
	w.Header().Set("Location", buildClusterPath(c))
	return h.reply(w, http.StatusCreated, c)
}

// GET /api/v1/buildClusters[?name=&scmContext=&active=]
func (h *handler) listBuildClusters(w http.ResponseWriter, r *http.Request) error {
	reg, err := h.buildClusters()
	if err != nil {
		return err
	}
	q, err := query(r, "name", "scmContext", "active")
	if err != nil {
		return err
	}
	f := buildcluster.ListFilter{Name: q.Get("name"), SCMContext: q.Get("scmContext")}
	if s := q.Get("active"); s != "" {
		active, err := strconv.ParseBool(s)
		if err != nil || !active {
			return &problem{http.StatusBadRequest, CodeInvalidParameter, "active must be true (only active records) or absent (every record)", "active"}
		}
		f.ActiveOnly = true
	}
	list, err := reg.List(r.Context(), f)
	if err != nil {
		return err
	}
	return h.reply(w, http.StatusOK, nonNil(list))
}

// GET /api/v1/buildClusters/{name}[?scmContext=]
func (h *handler) getBuildCluster(w http.ResponseWriter, r *http.Request) error {
	reg, name, scm, err := h.clusterRef(r)
	if err != nil {
		return err
	}
	c, err := reg.Get(r.Context(), name, scm)
	if err != nil {
		return err
	}
	return h.reply(w, http.StatusOK, c)
}

// PUT /api/v1/buildClusters/{name}[?scmContext=]
func (h *handler) updateBuildCluster(w http.ResponseWriter, r *http.Request) error {
	reg, name, scm, err := h.clusterRef(r)
	if err != nil {
		return err
	}
	var p buildcluster.Patch
	if err := h.decode(w, r, &p); err != nil {
		return err
	}
	c, err := reg.Update(r.Context(), name, scm, p)
	if err != nil {
		return err
	}
	h.log.InfoContext(r.Context(), "build cluster updated", "cluster", c.Name, "scm_context", c.SCMContext,
		"active", c.IsActive, "weight", c.Weight, "keys", len(c.PublicKeys))
	return h.reply(w, http.StatusOK, c)
}

// DELETE /api/v1/buildClusters/{name}[?scmContext=]
func (h *handler) deleteBuildCluster(w http.ResponseWriter, r *http.Request) error {
	reg, name, scm, err := h.clusterRef(r)
	if err != nil {
		return err
	}
	if err := reg.Delete(r.Context(), name, scm); err != nil {
		return err
	}
	h.log.InfoContext(r.Context(), "build cluster removed", "cluster", name, "scm_context", scm)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// POST /api/v1/buildClusters/{name}/keys[?scmContext=]
func (h *handler) addBuildClusterKey(w http.ResponseWriter, r *http.Request) error {
	reg, name, scm, err := h.clusterRef(r)
	if err != nil {
		return err
	}
	var k buildcluster.PublicKey
	if err := h.decode(w, r, &k); err != nil {
		return err
	}
	c, err := reg.AddKey(r.Context(), name, scm, k)
	if err != nil {
		return err
	}
	h.log.InfoContext(r.Context(), "build cluster key added", "cluster", c.Name, "scm_context", c.SCMContext, "kid", k.KID, "algorithm", k.Algorithm)
	return h.reply(w, http.StatusOK, c)
}

// DELETE /api/v1/buildClusters/{name}/keys/{kid}[?scmContext=]
func (h *handler) removeBuildClusterKey(w http.ResponseWriter, r *http.Request) error {
	reg, name, scm, err := h.clusterRef(r)
	if err != nil {
		return err
	}
	kid := r.PathValue("kid")
	c, err := reg.RemoveKey(r.Context(), name, scm, kid)
	if err != nil {
		return err
	}
	h.log.InfoContext(r.Context(), "build cluster key removed", "cluster", c.Name, "scm_context", c.SCMContext, "kid", kid)
	return h.reply(w, http.StatusOK, c)
}
