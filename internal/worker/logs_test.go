package worker

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

// parts records what a logStream uploads.
type parts struct {
	mu   sync.Mutex
	got  []string
	offs []int64
}

func (p *parts) upload(_ context.Context, offset int64, data string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.got, p.offs = append(p.got, data), append(p.offs, offset)
	return nil
}

func TestLogStreamKeepsRunesWholeAndOffsetsRight(t *testing.T) {
	t.Parallel()
	var p parts
	s := newLogStream(p.upload, time.Hour, func(error) { t.Error("lease lost") })
	text := "héllo wörld ✓ " + strings.Repeat("x", maxChunk) + " end"
	b := []byte(text)
	// Write byte by byte around the multi-byte runes: each write may cut one.
	for i := range b[:20] {
		s.Write(b[i : i+1])
	}
	s.Write(b[20:])
	s.Close(context.Background())

	var joined strings.Builder
	var next int64
	for i, part := range p.got {
		if p.offs[i] != next {
			t.Errorf("part %d at offset %d, want %d", i, p.offs[i], next)
		}
		if len(part) > maxChunk {
			t.Errorf("part %d is %d bytes, over %d", i, len(part), maxChunk)
		}
		if strings.ContainsRune(part, '\uFFFD') {
			t.Errorf("part %d has a cut rune", i)
		}
		joined.WriteString(part)
		next += int64(len(part))
	}
	if joined.String() != text {
		t.Errorf("uploaded %d bytes, want the %d written, in order", joined.Len(), len(text))
	}
	if len(p.got) < 2 {
		t.Errorf("got %d parts, want the text split at %d bytes", len(p.got), maxChunk)
	}
}

func TestLogStreamStopsOnALostLease(t *testing.T) {
	t.Parallel()
	lost := make(chan error, 1)
	calls := 0
	s := newLogStream(func(context.Context, int64, string) error {
		calls++
		return &Error{Status: 409, Code: "lease_lost", Message: "lease of job 1 lost"}
	}, time.Hour, func(err error) { lost <- err })
	s.Write([]byte("a"))
	s.Close(context.Background())
	if err := <-lost; !IsLeaseLost(err) {
		t.Errorf("onLost got %v", err)
	}
	if calls != 1 {
		t.Errorf("uploads: got %d, want 1 (a lost lease is not retried)", calls)
	}
}
