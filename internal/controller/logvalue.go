package controller

import "log/slog"

// redacted stands in a log line for an API token that was set.
const redacted = "[redacted]"

// LogValue renders an instance in a log line as the few fields that
// identify it, so logging one never spills its configuration, and never a
// token (Instance holds only the sealed one, and no field shows it).
//
//	logger.Info("instance registered", "controller", inst)
//	→ controller.id=3 controller.name=jenkins-1 controller.cluster=prod controller.url=https://…
func (i Instance) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Int64("id", i.ID),
		slog.String("name", i.Name),
		slog.String("cluster", i.ClusterID),
		slog.String("url", i.URL),
	)
}

// LogValue renders a registration in a log line with its API token
// replaced by "[redacted]" (absent when there is none).
func (in CreateInput) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("name", in.Name), slog.String("url", in.URL)}
	if in.ClusterID != nil {
		attrs = append(attrs, slog.String("cluster", *in.ClusterID))
	}
	if in.APIToken != "" {
		attrs = append(attrs, slog.String("apiToken", redacted))
	}
	return slog.GroupValue(attrs...)
}

// LogValue renders the fields a patch sets, by their API names, with an
// API token replaced by "[redacted]" ("" when the patch clears it).
func (p Patch) LogValue() slog.Value {
	attrs := appendSet(nil, "name", p.Name)
	attrs = appendSet(attrs, "url", p.URL)
	attrs = appendSet(attrs, "username", p.Username)
	if p.APIToken != nil {
		token := redacted
		if *p.APIToken == "" {
			token = ""
		}
		attrs = append(attrs, slog.String("apiToken", token))
	}
	attrs = appendSet(attrs, "description", p.Description)
	attrs = appendSet(attrs, "isPrimary", p.IsPrimary)
	attrs = appendSet(attrs, "clusterId", p.ClusterID)
	attrs = appendSet(attrs, "loadBalancerUrl", p.LoadBalancerURL)
	attrs = appendSet(attrs, "priority", p.Priority)
	attrs = appendSet(attrs, "healthCheckUrl", p.HealthCheckURL)
	attrs = appendSet(attrs, "maxConnections", p.MaxConnections)
	attrs = appendSet(attrs, "isActive", p.IsActive)
	return slog.GroupValue(attrs...)
}

// appendSet appends key=*v to attrs when v is set.
func appendSet[T any](attrs []slog.Attr, key string, v *T) []slog.Attr {
	if v == nil {
		return attrs
	}
	return append(attrs, slog.Any(key, *v))
}
