package main

import "testing"

// §1.3: the handshake example, end to end.
func TestSmoke(t *testing.T) {
	srv := newTestServer(t, Options{MaxMessage: 16 << 20})
	c := dial(t, srv, "/echo")
	if got := c.resp.Header.Get("Sec-WebSocket-Accept"); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("accept %q", got)
	}
	c.send(text("Hello"), ping("p"), fragment(true, false, text("Hel")), fragment(false, true, text("lo")))
	c.expect(text("Hello"), pong("p"), text("Hello"))
	c.send(binaryFrame(make([]byte, 70000)))
	c.expect(binaryFrame(make([]byte, 70000)))
	c.closeHandshake()
}
