package jenkins

import (
	"io"
	"strings"
	"testing"
)

func TestOnCloseCallsOnceAfterClose(t *testing.T) {
	calls := 0
	body := OnClose(io.NopCloser(strings.NewReader("x")), func() { calls++ })
	if _, err := io.ReadAll(body); err != nil {
		t.Fatal(err)
	}
	if calls != 0 {
		t.Fatalf("called %d times before Close, want 0", calls)
	}
	_ = body.Close()
	_ = body.Close()
	if calls != 1 {
		t.Errorf("called %d times after two Closes, want 1", calls)
	}
}
