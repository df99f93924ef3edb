package jenkins

import (
	"context"
	"net/url"
)

// This file holds the calls that change the controller's life cycle
// (jenkins-api.md §9). Each needs Overall/Manage (or Administer) and
// answers 302 when done.

// QuietDown stops the controller from starting new builds (new queue
// items wait, "Jenkins is about to shut down"); reason is shown to users
// ("" for none).
func (c *Client) QuietDown(ctx context.Context, reason string) error {
	p := "quietDown"
	if reason != "" {
		p += "?message=" + url.QueryEscape(reason)
	}
	_, err := c.post(ctx, p)
	return err
}

// CancelQuietDown lets the controller start builds again (it also
// cancels a pending safe restart).
func (c *Client) CancelQuietDown(ctx context.Context) error {
	_, err := c.post(ctx, "cancelQuietDown")
	return err
}

// SafeRestart quiets the controller down and restarts it once no build
// runs. The controller then answers 503 until it is up, under a new
// X-Jenkins-Session.
func (c *Client) SafeRestart(ctx context.Context) error {
	_, err := c.post(ctx, "safeRestart")
	return err
}

// Restart restarts the controller now, aborting running builds.
func (c *Client) Restart(ctx context.Context) error {
	_, err := c.post(ctx, "restart")
	return err
}
