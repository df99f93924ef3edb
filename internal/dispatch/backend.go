package dispatch

import "github.com/jenkinds/jenkinds/internal/jenkins"

// backend is a controller as dispatch talks to it: its runtime's client
// (package jenkins: every call typed, classified and counted on the
// controller's live record), each call bounded by RequestTimeout.
type backend struct {
	id int64
	*jenkins.Client
}

// toParams and fromParams convert between the controller's parameters
// and the build's.
func toParams(ps []jenkins.Param) []Param {
	out := make([]Param, len(ps))
	for i, p := range ps {
		out[i] = Param{Name: p.Name, Value: p.Value}
	}
	return out
}

func fromParams(ps []Param) []jenkins.Param {
	out := make([]jenkins.Param, len(ps))
	for i, p := range ps {
		out[i] = jenkins.Param{Name: p.Name, Value: p.Value}
	}
	return out
}

// paramsCover reports whether every parameter jenkinds sent has that
// value in got (the controller adds defaults for the ones not sent).
func paramsCover(got, sent []Param) bool {
	for _, s := range sent {
		found := false
		for _, g := range got {
			if g.Name == s.Name {
				found = g.Value == s.Value
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
