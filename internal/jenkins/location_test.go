package jenkins_test

import (
	"testing"

	"github.com/jenkinds/jenkinds/internal/jenkins"
)

func TestQueueIDFromLocation(t *testing.T) {
	t.Parallel()
	for loc, want := range map[string]int64{
		"http://h:8080/queue/item/12/":             12,
		"http://h:8080/queue/item/12":              12,
		"https://h/jenkins/queue/item/7/":          7,
		"/queue/item/3/":                           3,
		"queue/item/3/":                            3,
		"queue/item/3":                             3,
		"http://h/queue/item/9223372036854775807/": 9223372036854775807,
	} {
		if got, err := jenkins.QueueIDFromLocation(loc); err != nil || got != want {
			t.Errorf("QueueIDFromLocation(%q) = %d, %v; want %d", loc, got, err, want)
		}
	}
	for _, loc := range []string{
		"", "/", "http://h/", "http://h/queue/item/", "http://h/queue/item/x/", "http://h/queue/item/0/",
		"http://h/queue/item/-3/", "http://h/queue/item/+3/", "http://h/queue/item/3//", "http://h/queue/item/3/api/json",
		"http://h/item/3/", "http://h/job/x/3/", "http://h/queue/3/", "ftp://h/queue/item/3/", "item/3",
		"http://h/queue/item/99999999999999999999/", "http://h/queue/item/3%2F/", "::",
	} {
		if id, err := jenkins.QueueIDFromLocation(loc); err == nil {
			t.Errorf("QueueIDFromLocation(%q) = %d, want an error", loc, id)
		}
	}
}
