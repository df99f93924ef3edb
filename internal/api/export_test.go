package api

import "net/http"

// Patterns returns the "METHOD /path" patterns the handler's mux serves.
func Patterns(h http.Handler) []string { return h.(*handler).patterns }
