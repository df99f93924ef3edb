package jenkinssim

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/jenkinds/jenkinds/internal/jenkins"
)

// AgentSecret returns the secret an agent presents to /wsagents/.
func (c *Controller) AgentSecret(agent string) (string, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	n := c.nodeByName(agent)
	if n == nil || n.builtIn() {
		return "", false
	}
	return n.secret, true
}

const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// wsAgent serves /wsagents/ (WebSocketAgents): it checks the agent headers
// like Jenkins, upgrades, greets with one text message naming the
// controller and the agent, then echoes every message until the agent
// closes or the controller goes down. Remoting's own protocol is not
// simulated: the point is routing and pass-through.
func (c *Controller) wsAgent(w http.ResponseWriter, r *http.Request) {
	name, secret := r.Header.Get("Node-Name"), r.Header.Get("Secret-Key")
	key := r.Header.Get("Sec-WebSocket-Key")
	if name == "" || secret == "" || key == "" || !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		jenkins.Failure(w, http.StatusBadRequest, "This endpoint is only for use from agent.jar in WebSocket mode")
		return
	}
	want, ok := c.AgentSecret(name)
	if !ok {
		jenkins.Failure(w, http.StatusBadRequest, "no such agent: "+name)
		return
	}
	if secret != want {
		jenkins.Page(w, http.StatusForbidden, "Forbidden", "Incorrect secret")
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		jenkins.ServerError(w, "cannot upgrade")
		return
	}
	conn, rw, err := hj.Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	// Keep the hijacked connection where Down can reset it.
	c.srvMu.Lock()
	c.conns[conn] = struct{}{}
	c.srvMu.Unlock()
	defer func() {
		c.srvMu.Lock()
		delete(c.conns, conn)
		c.srvMu.Unlock()
	}()
	sum := sha1.Sum([]byte(key + wsGUID))
	fmt.Fprintf(rw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\nX-Remoting-Capability: 0\r\nX-Remoting-Minimum-Version: 3107.v665000b_51092\r\nConnection-Cookie: %s\r\n\r\n",
		base64.StdEncoding.EncodeToString(sum[:]), randomHex(8))
	if err := WriteWSFrame(rw.Writer, 0x1, []byte("JENKINS-SIM "+c.cfg.Name+" "+name), false); err != nil {
		return
	}
	for {
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Minute))
		op, payload, err := ReadWSFrame(rw.Reader)
		if err != nil || op == 0x8 {
			_ = WriteWSFrame(rw.Writer, 0x8, nil, false)
			return
		}
		if op == 0x9 { // ping
			op = 0xA
		}
		if err := WriteWSFrame(rw.Writer, op, payload, false); err != nil {
			return
		}
	}
}

// WriteWSFrame writes one unfragmented WebSocket frame (masked when mask,
// as clients must) and flushes.
func WriteWSFrame(w *bufio.Writer, op byte, payload []byte, mask bool) error {
	hdr := []byte{0x80 | op}
	mbit := byte(0)
	if mask {
		mbit = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		hdr = append(hdr, mbit|byte(n))
	case n < 1<<16:
		hdr = append(hdr, mbit|126, byte(n>>8), byte(n))
	default:
		hdr = append(hdr, mbit|127)
		hdr = binary.BigEndian.AppendUint64(hdr, uint64(n))
	}
	data := payload
	if mask {
		key := [4]byte{0x12, 0x34, 0x56, 0x78}
		hdr = append(hdr, key[:]...)
		data = make([]byte, len(payload))
		for i, b := range payload {
			data[i] = b ^ key[i%4]
		}
	}
	if _, err := w.Write(hdr); err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		return err
	}
	return w.Flush()
}

// ReadWSFrame reads one unfragmented frame, unmasking it.
func ReadWSFrame(r *bufio.Reader) (op byte, payload []byte, err error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	if h[0]&0x80 == 0 {
		return 0, nil, errors.New("fragmented frames are not supported")
	}
	op = h[0] & 0x0f
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	if n > 1<<20 {
		return 0, nil, errors.New("frame too large")
	}
	var key [4]byte
	masked := h[1]&0x80 != 0
	if masked {
		if _, err := io.ReadFull(r, key[:]); err != nil {
			return 0, nil, err
		}
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return 0, nil, err
	}
	if masked {
		for i := range payload {
			payload[i] ^= key[i%4]
		}
	}
	return op, payload, nil
}
