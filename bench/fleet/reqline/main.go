// Command reqline shows what a client really sends: it listens on a
// loopback address, reads the first request that arrives, prints its
// request line exactly as received (so "[" and "]" in a query show whether
// they came raw or percent-encoded), answers it 200 with an empty JSON
// object and exits. Connections that close before sending anything (wrk
// tests its address so) are skipped. bench/fleet/run.sh points wrk at it once per read
// before the measurements. It gives up after -timeout.
//
//	reqline -listen 127.0.0.1:18999 -timeout 5s
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "reqline:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("reqline", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:18999", "loopback address to listen on")
	timeout := fs.Duration("timeout", 5*time.Second, "how long to wait for a request")
	if err := fs.Parse(args); err != nil {
		return err
	}
	host, _, err := net.SplitHostPort(*listen)
	if err != nil {
		return fmt.Errorf("-listen %q: %w", *listen, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("-listen %q: not a loopback address", *listen)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	defer ln.Close()
	deadline := time.Now().Add(*timeout)
	_ = ln.(*net.TCPListener).SetDeadline(deadline)
	for {
		c, err := ln.Accept()
		if err != nil {
			return fmt.Errorf("no request within %s: %w", *timeout, err)
		}
		_ = c.SetDeadline(deadline)
		line, err := readRequestLine(bufio.NewReader(c))
		if errors.Is(err, io.EOF) {
			c.Close() // wrk's test connection: connected, closed, sent nothing
			continue
		}
		if err != nil {
			c.Close()
			return err
		}
		fmt.Println(line)
		_, err = c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"))
		c.Close()
		return err
	}
}

// readRequestLine returns the first line of the request and reads its
// headers up to the blank line.
func readRequestLine(r *bufio.Reader) (string, error) {
	first := ""
	for {
		l, err := r.ReadString('\n')
		if err == io.EOF && first == "" && l == "" {
			return "", io.EOF
		}
		if err != nil {
			return "", fmt.Errorf("read the request: %w", err)
		}
		l = strings.TrimRight(l, "\r\n")
		if first == "" {
			if l == "" {
				return "", errors.New("empty request line")
			}
			first = l
			continue
		}
		if l == "" {
			return first, nil
		}
	}
}
