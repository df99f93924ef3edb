package jenkins

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// QueueIDFromLocation reads the queue item id N from the Location of a
// trigger's answer. Jenkins sends it absolute with a trailing slash
// (http://h/jenkins/queue/item/N/, jenkins-api.md §3.1); a relative
// Location and one without the trailing slash are accepted too. Anything
// else is an error: another path (a build, a job, …/queue/item/N/api/json),
// an id that is not a positive decimal number, or a scheme other than http
// and https.
func QueueIDFromLocation(loc string) (int64, error) {
	bad := fmt.Errorf("no queue item in Location %q", loc)
	u, err := url.Parse(loc)
	if err != nil || loc == "" || (u.Scheme != "" && u.Scheme != "http" && u.Scheme != "https") {
		return 0, bad
	}
	segs := strings.Split(strings.TrimSuffix(u.Path, "/"), "/")
	n := len(segs)
	if n < 3 || segs[n-3] != "queue" || segs[n-2] != "item" || !digits(segs[n-1]) {
		return 0, bad
	}
	id, err := strconv.ParseInt(segs[n-1], 10, 64)
	if err != nil || id <= 0 {
		return 0, bad
	}
	return id, nil
}

// digits reports a non-empty string of ASCII digits only (ParseInt would
// take a sign).
func digits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
