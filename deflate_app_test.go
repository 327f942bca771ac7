package main

// The application's permessage-deflate: on by default for /echo and
// /websocket and for -connect, the -deflate flags, and what -trace shows
// of a compressed frame.

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

// TestDeflateFlags runs the built binary as server and as client: both
// agree on permessage-deflate by default; -deflate=false on either end
// turns it off; -deflate-takeover answers without the no-takeover
// parameters; -deflate-threshold sets the threshold.
func TestDeflateFlags(t *testing.T) {
	bin := buildBinary(t)
	long := strings.Repeat("compressible ", 100)
	talk := func(t *testing.T, addr string, args ...string) string {
		p := startClient(t, bin, append([]string{"-connect", "ws://" + addr + "/echo"}, args...)...)
		p.input("hello\n" + long + "\n")
		if err := p.wait(t); err != nil {
			t.Fatalf("client: %v\n%s", err, p.stderr)
		}
		if out := p.stdout.String(); !strings.Contains(out, "hello\n"+long+"\n") {
			t.Errorf("the client printed %q", out)
		}
		return p.stderr.String()
	}
	t.Run("default_on_both_ends", func(t *testing.T) {
		srv := startBinary(t, bin, "-addr", "127.0.0.1:0")
		if stderr := talk(t, srv.addr); !strings.Contains(stderr, "(permessage-deflate)") {
			t.Errorf("not negotiated by default: %s", stderr)
		}
		_, _, answer := rawDeflateClient(t, "ws://"+srv.addr, "permessage-deflate")
		if answer != "permessage-deflate; server_no_context_takeover; client_no_context_takeover" {
			t.Errorf("answer %q", answer)
		}
	})
	t.Run("-deflate=false_client", func(t *testing.T) {
		srv := startBinary(t, bin, "-addr", "127.0.0.1:0")
		if stderr := talk(t, srv.addr, "-deflate=false"); strings.Contains(stderr, "permessage-deflate") {
			t.Errorf("negotiated though off: %s", stderr)
		}
	})
	t.Run("-deflate=false_server", func(t *testing.T) {
		srv := startBinary(t, bin, "-addr", "127.0.0.1:0", "-deflate=false")
		if stderr := talk(t, srv.addr); strings.Contains(stderr, "permessage-deflate") {
			t.Errorf("negotiated though off: %s", stderr)
		}
	})
	t.Run("-deflate-takeover", func(t *testing.T) {
		srv := startBinary(t, bin, "-addr", "127.0.0.1:0", "-deflate-takeover")
		if _, _, answer := rawDeflateClient(t, "ws://"+srv.addr, "permessage-deflate"); answer != "permessage-deflate" {
			t.Errorf("answer %q, want takeover allowed", answer)
		}
		if stderr := talk(t, srv.addr, "-deflate-takeover"); !strings.Contains(stderr, "(permessage-deflate)") {
			t.Errorf("not negotiated: %s", stderr)
		}
	})
	t.Run("-deflate-threshold", func(t *testing.T) {
		srv := startBinary(t, bin, "-addr", "127.0.0.1:0", "-deflate-threshold", "3")
		nc, br, _ := rawDeflateClient(t, "ws://"+srv.addr, "permessage-deflate")
		nc.Write(clientFrame(0x81, []byte("abc")))
		if b0, _ := readServerFrame(t, br); b0 != 0xc1 {
			t.Errorf("a 3-byte message went out as %#x, want compressed (c1)", b0)
		}
	})
}

// TestDeflateTrace proves that -trace shows a compressed frame's RSV1,
// its compressed bytes on the wire, and the text it inflated to.
func TestDeflateTrace(t *testing.T) {
	app := startApp(t, Options{Compression: &DeflateOptions{}}, func(s *server) http.Handler {
		s.trace = true // as -trace does
		return s.routes()
	})
	url := "ws" + strings.TrimPrefix(app.URL, "http") + "/echo"
	c, err := Dial(context.Background(), url, &DialOptions{Options: Options{Compression: &DeflateOptions{}}})
	if err != nil {
		t.Fatal(err)
	}
	msg := strings.Repeat("Hello, deflate! ", 64)
	c.WriteMessage(OpText, []byte(msg))
	if _, got, err := c.ReadMessage(); err != nil || string(got) != msg {
		t.Fatalf("echo: %v", err)
	}
	c.Close(StatusNormal, "")
	app.waitHandlers(t)
	var in, out logEntry
	for _, e := range app.logs.entries(t) {
		if e["msg"] == "frame" && e["op"] == "text" {
			if e["dir"] == "in" {
				in = e
			} else {
				out = e
			}
		}
	}
	for _, e := range []logEntry{in, out} {
		if e["rsv"] != "100" || e["compressed"] == nil || len(e["compressed"].(string)) < 2 {
			t.Errorf("frame line %v: want rsv=100 and compressed=", e)
		}
	}
	for _, e := range []logEntry{in, out} {
		if e["text"] != msg[:TracedBytes] {
			t.Errorf("the frame %s shows text=%q, want the message's %q", e["dir"], e["text"], msg[:TracedBytes])
		}
	}
}
