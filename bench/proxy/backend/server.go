package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Why not net/http: on this machine net/http spends about 23 µs of CPU per
// request on a fixed answer, as much as the proxies under test; the
// backends share the proxies' core, so they would dilute every ratio. This
// server does only what the benchmark's clients send: HTTP/1.0 and 1.1
// requests without bodies (or with a Content-Length body), keep-alive and
// pipelining. Anything else is answered 400 and the connection closed.

const (
	bufSize = 4 << 10 // a request line or header longer than this is refused
	maxBody = 1 << 10 // bodies are only read for /__sim/
)

// errBadRequest marks a request the server does not parse.
var errBadRequest = errors.New("bad request")

// request is the part of an HTTP request the backend looks at.
type request struct {
	method        string // interned: GET, HEAD, POST, DELETE or OTHER
	path          []byte // without the query; a per-connection buffer
	http10        bool
	close         bool // the connection closes after the answer
	keepAlive10   bool // an HTTP/1.0 client asked for keep-alive
	contentLength int64
	load          bool // carries X-Bench-Load
}

// server is the backend: fixed answers plus the fault state.
type server struct {
	answers *answers
	faults  *faults
	date    atomic.Pointer[[]byte] // "Date: ...\r\n", refreshed every 500 ms
	now     func() time.Time

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

func newServer(name, session string, now func() time.Time) *server {
	s := &server{answers: newAnswers(name, session), faults: newFaults(now), now: now, conns: map[net.Conn]struct{}{}}
	s.tick()
	return s
}

// Serve accepts connections on ln until ctx ends, then closes ln and every
// connection, hung ones included.
func (s *server) Serve(ctx context.Context, ln net.Listener) error {
	go func() {
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				ln.Close()
				s.closeAll()
				return
			case <-t.C:
				s.tick()
			}
		}
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("accept: %w", err)
		}
		s.track(c, true)
		go s.serveConn(ctx, c)
	}
}

func (s *server) tick() {
	b := []byte("Date: " + s.now().UTC().Format(http.TimeFormat) + "\r\n")
	s.date.Store(&b)
}

func (s *server) track(c net.Conn, add bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		s.conns[c] = struct{}{}
	} else {
		delete(s.conns, c)
	}
}

func (s *server) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.Close()
	}
}

// serveConn answers the requests of one connection in order. Answers are
// flushed when no further request is already buffered, so pipelined
// requests share a write.
func (s *server) serveConn(ctx context.Context, c net.Conn) {
	defer s.track(c, false)
	defer c.Close()
	br := bufio.NewReaderSize(c, bufSize)
	bw := bufio.NewWriterSize(c, bufSize)
	req := request{path: make([]byte, 0, 128)}
	for {
		err := readRequest(br, &req)
		if errors.Is(err, errBadRequest) {
			req.close = true
			s.write(bw, &s.answers.badRequest, &req)
			bw.Flush()
			return
		}
		if err != nil {
			return // the client went away
		}
		if !s.handle(ctx, c, br, bw, &req) || req.close {
			bw.Flush()
			return
		}
		if br.Buffered() == 0 && bw.Flush() != nil {
			return
		}
	}
}

// handle answers req; false means close the connection now.
func (s *server) handle(ctx context.Context, c net.Conn, br *bufio.Reader, bw *bufio.Writer, req *request) bool {
	var body []byte
	if req.contentLength > 0 {
		if req.contentLength > maxBody {
			req.close = true
			s.write(bw, &s.answers.badRequest, req)
			return false
		}
		body = make([]byte, req.contentLength)
		if _, err := io.ReadFull(br, body); err != nil {
			return false
		}
	}
	if bytes.HasPrefix(req.path, []byte("/__sim/")) {
		code, ctype, out := s.faults.serve(req.method, string(req.path), body)
		s.writeDynamic(bw, code, ctype, out, req)
		return true
	}
	if g := s.faults.hanging(); g != nil {
		// Answered only if the fault is cleared first. The connection
		// closes after it: the watch for the client going away has read
		// from it.
		req.close = true
		if !s.faults.hold(ctx, c, g, req.load) {
			return false
		}
	}
	a := &s.answers.notAllowed
	if req.method == http.MethodGet || req.method == http.MethodHead {
		a = s.answers.route(req.path)
	}
	s.write(bw, a, req)
	return true
}

// write sends a fixed answer.
func (s *server) write(bw *bufio.Writer, a *answer, req *request) {
	bw.Write(a.head)
	s.tail(bw, req)
	if req.method != http.MethodHead {
		bw.Write(a.body)
	}
}

// writeDynamic sends an answer built for this request (the /__sim/ API).
func (s *server) writeDynamic(bw *bufio.Writer, code int, ctype string, body []byte, req *request) {
	fmt.Fprintf(bw, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n", code, http.StatusText(code), ctype, len(body))
	s.tail(bw, req)
	bw.Write(body)
}

// tail writes Date, Connection and the blank line.
func (s *server) tail(bw *bufio.Writer, req *request) {
	bw.Write(*s.date.Load())
	switch {
	case req.close:
		bw.WriteString("Connection: close\r\n")
	case req.keepAlive10:
		bw.WriteString("Connection: keep-alive\r\n")
	}
	bw.WriteString("\r\n")
}

// readRequest reads one request head into req (reusing its path buffer).
// io errors mean the connection is gone; errBadRequest that the request
// could not be parsed.
func readRequest(br *bufio.Reader, req *request) error {
	*req = request{path: req.path[:0]}
	line, err := readLine(br)
	for err == nil && len(line) == 0 { // tolerate blank lines between requests (RFC 9112 §2.2)
		line, err = readLine(br)
	}
	if err != nil {
		return err
	}
	sp1 := bytes.IndexByte(line, ' ')
	sp2 := bytes.LastIndexByte(line, ' ')
	if sp1 <= 0 || sp2 <= sp1+1 {
		return fmt.Errorf("%w: request line %q", errBadRequest, line)
	}
	switch proto := line[sp2+1:]; string(proto) {
	case "HTTP/1.1":
	case "HTTP/1.0":
		req.http10 = true
	default:
		return fmt.Errorf("%w: protocol %q", errBadRequest, proto)
	}
	switch m := line[:sp1]; string(m) {
	case http.MethodGet:
		req.method = http.MethodGet
	case http.MethodHead:
		req.method = http.MethodHead
	case http.MethodPost:
		req.method = http.MethodPost
	case http.MethodDelete:
		req.method = http.MethodDelete
	default:
		req.method = "OTHER"
	}
	target := line[sp1+1 : sp2]
	if q := bytes.IndexByte(target, '?'); q >= 0 {
		target = target[:q]
	}
	req.path = append(req.path, target...)

	var connection []byte
	for {
		line, err := readLine(br)
		if err != nil {
			return err
		}
		if len(line) == 0 {
			break
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return fmt.Errorf("%w: header line %q", errBadRequest, line)
		}
		name, value := line[:colon], bytes.TrimSpace(line[colon+1:])
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			n, err := strconv.ParseInt(string(value), 10, 64)
			if err != nil || n < 0 {
				return fmt.Errorf("%w: Content-Length %q", errBadRequest, value)
			}
			req.contentLength = n
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			return fmt.Errorf("%w: Transfer-Encoding is not supported", errBadRequest)
		case bytes.EqualFold(name, []byte("Connection")):
			connection = append(connection, value...)
			connection = append(connection, ',')
		case bytes.EqualFold(name, []byte("X-Bench-Load")):
			req.load = true
		}
	}
	for tok := range bytes.SplitSeq(connection, []byte(",")) {
		tok = bytes.TrimSpace(tok)
		switch {
		case bytes.EqualFold(tok, []byte("close")):
			req.close = true
		case bytes.EqualFold(tok, []byte("keep-alive")) && req.http10:
			req.keepAlive10 = true
		}
	}
	if req.http10 && !req.keepAlive10 {
		req.close = true
	}
	return nil
}

// readLine returns one line without its CR LF, valid until the next read.
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return nil, fmt.Errorf("%w: line longer than %d bytes", errBadRequest, bufSize)
	}
	if err != nil {
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}
