package jenkinssim

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// DialAgent opens a /wsagents/ WebSocket the way agent.jar does and
// returns the greeting; used by this package's and the proxy's tests.
func dialAgent(t *testing.T, addr, node, secret string) (net.Conn, *bufio.ReadWriter, string, int) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	req, _ := http.NewRequest("GET", "http://"+addr+"/wsagents/", nil)
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Node-Name", node)
	req.Header.Set("Secret-Key", secret)
	req.Header.Set("X-Remoting-Capability", "0")
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	rw := bufio.NewReadWriter(bufio.NewReader(conn), bufio.NewWriter(conn))
	resp, err := http.ReadResponse(rw.Reader, req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return conn, rw, "", resp.StatusCode
	}
	if resp.Header.Get("Sec-WebSocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" || resp.Header.Get("X-Remoting-Capability") == "" {
		t.Errorf("upgrade headers: %v", resp.Header)
	}
	_, greeting, err := ReadWSFrame(rw.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return conn, rw, string(greeting), resp.StatusCode
}

func TestWebSocketAgents(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.Agents = 1 })
	secret, _ := b.c.AgentSecret("agent-1")
	_, rw, greeting, code := dialAgent(t, b.c.Addr(), "agent-1", secret)
	if code != 101 || greeting != "JENKINS-SIM jenkins agent-1" {
		t.Fatalf("upgrade: %d %q", code, greeting)
	}
	if err := WriteWSFrame(rw.Writer, 0x1, []byte("hello"), true); err != nil {
		t.Fatal(err)
	}
	op, echo, err := ReadWSFrame(rw.Reader)
	if err != nil || op != 0x1 || string(echo) != "hello" {
		t.Errorf("echo: %d %q %v", op, echo, err)
	}
	if _, _, _, code := dialAgent(t, b.c.Addr(), "agent-1", "wrong"); code != 403 {
		t.Errorf("bad secret: %d", code)
	}
	if _, _, _, code := dialAgent(t, b.c.Addr(), "nope", secret); code != 400 {
		t.Errorf("unknown agent: %d", code)
	}
	_, body := b.status("GET", "/wsagents/", "", 400, anon)
	if !strings.Contains(body, "only for use from agent.jar") {
		t.Errorf("plain GET: %s", body)
	}
	// Down resets the agent's connection.
	b.c.Down()
	if _, _, err := ReadWSFrame(rw.Reader); err == nil {
		t.Errorf("agent connection survived Down")
	}
}
