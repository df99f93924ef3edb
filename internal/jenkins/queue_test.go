package jenkins_test

import (
	"slices"
	"testing"

	"github.com/jenkinds/jenkinds/internal/jenkins"
	"github.com/jenkinds/jenkinds/internal/jenkinssim"
)

// While the controller quiets down, triggered items wait in the queue.
func TestQueueAndCancel(t *testing.T) {
	t.Parallel()
	f := setup(t, jenkinssim.Config{Jobs: []jenkinssim.JobSpec{{Name: "team", Type: "folder"}, withParam}})
	if err := f.client.QuietDown(f.ctx, "maintenance"); err != nil {
		t.Fatal(err)
	}
	params := []jenkins.Param{{Name: "A", Value: "1"}}
	first, err := f.client.Trigger(f.ctx, "team/p", params, true)
	if err != nil || first.Merged {
		t.Fatalf("first trigger: %+v %v", first, err)
	}
	again, err := f.client.Trigger(f.ctx, "team/p", params, true)
	if err != nil || !again.Merged || again.ID != first.ID {
		t.Errorf("an identical trigger is merged (303): %+v %v", again, err)
	}

	items, _, err := f.client.Queue(f.ctx, true)
	want := jenkins.QueueItem{ID: first.ID, Job: "team/p", Params: []jenkins.Param{{Name: "A", Value: "1"}, {Name: "B", Value: "true"}}}
	if err != nil || len(items) != 1 || !sameItem(items[0], want) {
		t.Errorf("full queue: %+v %v", items, err)
	}
	items, _, err = f.client.Queue(f.ctx, false)
	if err != nil || len(items) != 1 || items[0].ID != first.ID || items[0].Job != "" {
		t.Errorf("light queue: %+v %v", items, err)
	}
	it, _, err := f.client.QueueItem(f.ctx, first.ID)
	if err != nil || !sameItem(it, want) {
		t.Errorf("waiting item: %+v %v", it, err)
	}

	if gone, err := f.client.CancelItem(f.ctx, first.ID); err != nil || gone {
		t.Errorf("cancel a waiting item (204): %v %v", gone, err)
	}
	if it, _, err := f.client.QueueItem(f.ctx, first.ID); err != nil || !it.Cancelled || it.Executable != 0 {
		t.Errorf("cancelled item: %+v %v", it, err)
	}
	if gone, err := f.client.CancelItem(f.ctx, first.ID); err != nil || !gone {
		t.Errorf("cancel a left item (422): %v %v", gone, err)
	}
	if gone, err := f.client.CancelItem(f.ctx, 9999); err != nil || !gone {
		t.Errorf("cancel an unknown item (404): %v %v", gone, err)
	}
	if _, _, err := f.client.QueueItem(f.ctx, 9999); !jenkins.IsNotFound(err) {
		t.Errorf("an unknown item: %v", err)
	}
	if err := f.client.CancelQuietDown(f.ctx); err != nil {
		t.Fatal(err)
	}
}

func sameItem(a, b jenkins.QueueItem) bool {
	return a.ID == b.ID && a.Job == b.Job && slices.Equal(a.Params, b.Params) && a.Cancelled == b.Cancelled && a.Executable == b.Executable
}

func TestJobFromURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"http://h/job/a/":                   "a",
		"http://h/jenkins/job/a/job/b%20c/": "a/b c",
		"job/a/job/b/12/":                   "a/b",
		"http://h/job/x/3/console":          "x",
		"http://h/queue/item/3/":            "",
		"":                                  "",
		"http://h/job/%zz/":                 "",
	} {
		if got := jenkins.JobFromURL(in); got != want {
			t.Errorf("JobFromURL(%q) = %q, want %q", in, got, want)
		}
	}
}
