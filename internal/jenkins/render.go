package jenkins

import "strings"

// BallColor is the color of a job whose newest completed build has
// result (Jenkins' BallColor): blue, yellow, red, aborted or notbuilt.
func BallColor(result string) string {
	switch result {
	case "SUCCESS":
		return "blue"
	case "UNSTABLE":
		return "yellow"
	case "FAILURE":
		return "red"
	case "ABORTED":
		return "aborted"
	}
	return "notbuilt"
}

// HeaderSafe keeps a message usable as a header value (X-Error).
func HeaderSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}
