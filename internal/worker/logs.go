package worker

import (
	"context"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// maxChunk is the most one log upload carries, well under the server's
// body limit even once JSON escapes it.
const maxChunk = 256 << 10

// uploader is how logStream sends a part of the log; *Client.AppendLog
// bound to a job is one.
type uploader func(ctx context.Context, offset int64, data string) error

// logStream is the io.Writer a job's output goes to: it buffers the
// output and uploads it in parts, every interval or as soon as a part is
// full, each at the byte offset where it starts (so a part sent twice
// after a lost answer is stored once). Uploads happen off the job's path:
// a slow server never blocks the build.
type logStream struct {
	upload   uploader
	interval time.Duration
	onLost   func(error) // called when an upload says the lease is lost

	mu      sync.Mutex
	buf     []byte
	partial []byte // the end of a write cut inside a UTF-8 sequence
	offset  int64  // of buf[0] in the log
	kick    chan struct{}
	done    chan struct{}
	closed  bool
}

func newLogStream(upload uploader, interval time.Duration, onLost func(error)) *logStream {
	s := &logStream{upload: upload, interval: interval, onLost: onLost, kick: make(chan struct{}, 1), done: make(chan struct{})}
	go s.run()
	return s
}

// Write buffers p. It never fails: a log that cannot be uploaded must not
// fail the build.
func (s *logStream) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return len(p), nil
	}
	// Keep parts valid UTF-8: a rune cut between two writes waits for
	// its end.
	data := append(s.partial, p...)
	cut := len(data)
	for i := 0; i < utf8.UTFMax && i < len(data); i++ {
		if r := data[len(data)-1-i]; utf8.RuneStart(r) {
			if !utf8.FullRune(data[len(data)-1-i:]) {
				cut = len(data) - 1 - i
			}
			break
		}
	}
	s.buf = append(s.buf, data[:cut]...)
	s.partial = append([]byte(nil), data[cut:]...)
	if len(s.buf) >= maxChunk {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
	return len(p), nil
}

// Close uploads what is left and stops; it returns when the last part is
// sent (or ctx ends).
func (s *logStream) Close(ctx context.Context) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.buf = append(s.buf, s.partial...)
	s.partial = nil
	s.mu.Unlock()
	close(s.kick)
	select {
	case <-s.done:
	case <-ctx.Done():
	}
}

func (s *logStream) run() {
	defer close(s.done)
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		open := true
		select {
		case <-t.C:
		case _, open = <-s.kick:
		}
		s.flush()
		if !open {
			return
		}
	}
}

// flush uploads the buffer in parts of at most maxChunk. A part that
// fails is retried a few times, then dropped: the offsets of the next
// ones stay right, so the log has a gap, never a shift.
func (s *logStream) flush() {
	for {
		s.mu.Lock()
		n := min(len(s.buf), maxChunk)
		for n < len(s.buf) && n > 0 && !utf8.RuneStart(s.buf[n]) {
			n--
		}
		part, offset := strings.ToValidUTF8(string(s.buf[:n]), "\uFFFD"), s.offset
		s.buf, s.offset = s.buf[n:], s.offset+int64(n)
		s.mu.Unlock()
		if n == 0 {
			return
		}
		for try := 0; try < 3; try++ {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			err := s.upload(ctx, offset, part)
			cancel()
			if err == nil {
				break
			}
			if IsLeaseLost(err) {
				s.onLost(err)
				return
			}
			if !Temporary(err) {
				break
			}
			time.Sleep(time.Duration(try+1) * 200 * time.Millisecond)
		}
	}
}
