package jenkins

import (
	"errors"
	"fmt"
	"strings"
)

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

// CheckGoodName applies Jenkins' rule for item names
// (Jenkins.checkGoodName); its messages are Jenkins' own, shown to clients
// in X-Error.
func CheckGoodName(name string) error {
	if strings.TrimSpace(name) == "" {
		return errors.New("No name is specified")
	}
	if name == "." || name == ".." {
		return fmt.Errorf("“%s” is not an allowed name", name)
	}
	for _, c := range name {
		if c < 0x20 || strings.ContainsRune("?*/\\%!@#$^&|<>[]:;", c) {
			return fmt.Errorf("‘%c’ is an unsafe character", c)
		}
	}
	return nil
}
