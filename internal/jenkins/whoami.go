package jenkins

import (
	"context"
	"net/http"
)

// This file holds the permission probes the front door makes with a
// caller's own credentials (Client.As): who the caller is, and whether
// the caller may read a job (jenkins-api.md §1.4, §2.1).

// Me returns the id of the user c's credentials authenticate
// (me/api/json?tree=id). Jenkins answers 401 for wrong credentials and
// 403 for none (anonymous); both are StatusErrors carrying Jenkins'
// answer (CredentialsRejected), for the front door to pass on.
func (c *Client) Me(ctx context.Context) (user string, r *Response, err error) {
	var me struct {
		ID string `json:"id"`
	}
	r, err = c.GetJSON(ctx, "me/api/json?tree=id", &me)
	if err != nil {
		return "", r, err
	}
	return me.ID, r, nil
}

// CanRead reports whether c's credentials may read job
// (job/…/api/json?tree=name). A 404 is false with no error: Jenkins
// answers 404 both for a job that does not exist and for one the caller
// may not discover. A 401 or 403 is false with the StatusError (see
// CredentialsRejected), whose Header and Body are Jenkins' answer to pass
// on.
func (c *Client) CanRead(ctx context.Context, job string) (bool, *Response, error) {
	r, _, err := c.Do(ctx, http.MethodGet, withTree(JobPath(job), "name"), nil, "")
	switch {
	case IsNotFound(err):
		return false, r, nil
	case err != nil:
		return false, r, err
	}
	return true, r, nil
}
