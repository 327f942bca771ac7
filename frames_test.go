package main

// The protocol made visible (frames.go): the frames that /websocket's
// replies show the page, and the lines -trace logs, both fed by OnFrame;
// and what OnFrame costs when nobody looks.

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
)

// exampleKey is the masking key of §5.7's examples.
var exampleKey = [4]byte{0x37, 0xfa, 0x21, 0x3d}

// wantFrame is what a reply must show of f sent masked with key: the bytes
// encode wrote, cut into header and payload by the length form that §5.2
// gives a payload of that size, and the first TracedBytes of the payload.
func wantFrame(f frame, key [4]byte) inspectedFrame {
	wire := encode(f, key)
	n := len(f.payload)
	headerLen := 2 + 4 // then the masking key
	switch {
	case n > 0xFFFF:
		headerLen += 8
	case n > 125:
		headerLen += 2
	}
	shown := min(n, TracedBytes)
	return inspectedFrame{
		Fin: f.fin, RSV: f.rsv, Opcode: f.op, Mask: true, Length: int64(n),
		Key: hex.EncodeToString(key[:]), Header: hex.EncodeToString(wire[:headerLen]),
		Masked:   hex.EncodeToString(wire[headerLen : headerLen+shown]),
		Unmasked: hex.EncodeToString(f.payload[:shown]),
	}
}

// checkFrames fails the test unless a reply showed exactly the frames want.
func checkFrames(t *testing.T, seen inspection, want ...inspectedFrame) {
	t.Helper()
	if !slices.Equal(seen.Frames, want) || seen.MoreFrames != 0 {
		t.Errorf("the reply shows the frames\n%+v (and %d more)\nwant\n%+v", seen.Frames, seen.MoreFrames, want)
	}
}

// sendWithKey writes frames, all masked with key, in one write.
func (c *testClient) sendWithKey(key [4]byte, frames ...frame) {
	c.t.Helper()
	var b []byte
	for _, f := range frames {
		b = append(b, encode(f, key)...)
	}
	c.write(b)
}

// TestJSONEchoFrames checks the frames a reply of /websocket shows: each
// frame the server read for the message, in the order read, with every
// field of §5.2 and the payload's first bytes, masked and unmasked (§5.3).
// TestJSONEcho checks the usual one-frame message.
func TestJSONEchoFrames(t *testing.T) {
	app := startApp(t, Options{}, nil)

	t.Run("16-bit length", func(t *testing.T) {
		// §5.2: 126 in the 7-bit length, then the length in 16 bits:
		// 81 fe 00 c8 is a final text frame, masked, of 200 bytes.
		c := dial(t, app.Server, "/websocket")
		msg := text(jsonMessage(200))
		c.sendWithKey(exampleKey, msg)
		_, seen := c.readReplyFrames()
		checkFrames(t, seen, wantFrame(msg, exampleKey))
		if h := seen.Frames[0].Header; !strings.HasPrefix(h, "81fe00c8") {
			t.Errorf("header %s, want 81 fe 00 c8 and the key", h)
		}
		c.bye()
	})

	t.Run("64-bit length", func(t *testing.T) {
		// §5.2: 127, then 64 bits: the largest message /websocket takes.
		c := dial(t, app.Server, "/websocket")
		msg := text(jsonMessage(64 << 10))
		c.sendWithKey(exampleKey, msg)
		_, seen := c.readReplyFrames()
		checkFrames(t, seen, wantFrame(msg, exampleKey))
		if h := seen.Frames[0].Header; !strings.HasPrefix(h, "81ff0000000000010000") {
			t.Errorf("header %s, want 81 ff 00 00 00 00 00 01 00 00 and the key", h)
		}
		c.bye()
	})

	t.Run("fragments and a ping between them", func(t *testing.T) {
		// §5.4: a control frame may come between fragments; the reply
		// shows every frame read for the message, in order. The server's
		// pong is not among them: the reply shows what the server read.
		c := dial(t, app.Server, "/websocket")
		first := fragment(true, false, text(`{"output":`))
		p := ping("are you there?")
		last := fragment(false, true, text(`"hi"}`))
		c.sendWithKey(exampleKey, first, p, last)
		c.expect(pong("are you there?"))
		reply, seen := c.readReplyFrames()
		if !maps.Equal(reply, replyTo("hi")) {
			t.Errorf("reply %q, want %q", reply, replyTo("hi"))
		}
		checkFrames(t, seen, wantFrame(first, exampleKey), wantFrame(p, exampleKey), wantFrame(last, exampleKey))

		// The next reply shows the next message's frame, and only it.
		c.sendWithKey(exampleKey, text(pageMessage))
		_, seen = c.readReplyFrames()
		checkFrames(t, seen, wantFrame(text(pageMessage), exampleKey))
		c.bye()
	})

	t.Run("a pong between messages is not shown", func(t *testing.T) {
		// A browser answers the server's pings by itself (§5.5.2); such a
		// pong, read before the message, belongs to no message.
		c := dial(t, app.Server, "/websocket")
		c.sendWithKey(exampleKey, pong("unsolicited"), text(pageMessage))
		_, seen := c.readReplyFrames()
		checkFrames(t, seen, wantFrame(text(pageMessage), exampleKey))
		c.bye()
	})

	t.Run("more fragments than a reply shows", func(t *testing.T) {
		// A reply shows at most maxInspected frames, and says how many
		// more there were: the reply to a message in thousands of
		// fragments stays small.
		c := dial(t, app.Server, "/websocket")
		frames := inFragmentsOf(OpText, jsonMessage(maxInspected+4), 1)
		c.sendWithKey(exampleKey, frames...)
		_, seen := c.readReplyFrames()
		var want []inspectedFrame
		for _, f := range frames[:maxInspected] {
			want = append(want, wantFrame(f, exampleKey))
		}
		if !slices.Equal(seen.Frames, want) || seen.MoreFrames != 4 {
			t.Errorf("the reply shows %d frames and %d more, want the first %d and 4 more:\n%+v",
				len(seen.Frames), seen.MoreFrames, maxInspected, seen.Frames)
		}
		c.bye()
	})

	t.Run("not JSON", func(t *testing.T) {
		// The frame was fine, its text was not JSON: the error reply
		// shows the frame too.
		c := dial(t, app.Server, "/websocket")
		c.sendWithKey(exampleKey, text("Hello"))
		reply, seen := c.readReplyFrames()
		if !maps.Equal(reply, notJSON("Hello")) {
			t.Errorf("reply %q, want %q", reply, notJSON("Hello"))
		}
		// §5.7's masked "Hello": 81 85, the key, 7f 9f 4d 51 58.
		checkFrames(t, seen, inspectedFrame{Fin: true, Opcode: OpText, Mask: true, Length: 5,
			Key: "37fa213d", Header: "818537fa213d", Masked: "7f9f4d5158", Unmasked: hex.EncodeToString([]byte("Hello"))})
		c.bye()
	})
}

// TestTrace runs the server with -trace and checks what it logs for one
// connection to /echo: its opening handshake, then each frame, in and out,
// one line each, for §5.7's examples; each line names the client.
func TestTrace(t *testing.T) {
	app := startApp(t, Options{Subprotocols: []string{"chat"}}, func(s *server) http.Handler {
		s.trace = true // as -trace does
		return s.routes()
	})
	c := dial(t, app.Server, "/echo", "Sec-WebSocket-Protocol: chat", "Cookie: session=s3cret", "Authorization: Bearer t0ken")
	remote := c.nc.LocalAddr().String()

	// §5.7: masked "Hello" (S-37), then "Hel" and "lo" in two fragments
	// (§5.4: a continuation is text when its message is), a masked ping
	// (§5.5.2), 256 bytes of binary (the 16-bit length of §5.7), and the
	// closing handshake (§5.5.1, §7.4).
	c.write([]byte{0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58})
	c.expect(text("Hello"))
	c.write([]byte{0x01, 0x83, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x80, 0x82, 0x37, 0xfa, 0x21, 0x3d, 0x5b, 0x95})
	c.expect(text("Hello"))
	c.write([]byte{0x89, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58})
	c.expect(pong("Hello"))
	c.sendWithKey(exampleKey, binaryFrame(pattern(256)))
	c.expect(binaryFrame(pattern(256)))
	c.sendWithKey(exampleKey, closeFrame(StatusNormal, "bye"))
	c.expectClose(StatusNormal)
	c.nc.Close()
	app.waitHandlers(t)

	var lines []logEntry
	for _, e := range app.logs.entries(t) {
		if e["remote"] != remote {
			t.Errorf("log line names remote %v, want %s: %v", e["remote"], remote, e)
		}
		delete(e, "time")
		delete(e, "level")
		delete(e, "remote")
		if e["msg"] != "websocket open" && e["msg"] != "websocket closed" {
			lines = append(lines, e)
		}
	}
	if len(lines) < 2 {
		t.Fatalf("no handshake in the log:\n%s", app.logs)
	}

	// The request, as net/http parsed it: its header names are in Go's
	// canonical form. Credentials are not logged.
	wantRequest := logEntry{"msg": "handshake request", "request": "GET /echo HTTP/1.1", "header": map[string]any{
		"Host": app.Listener.Addr().String(), "Upgrade": "websocket", "Connection": "Upgrade",
		"Sec-Websocket-Key": sampleKey, "Sec-Websocket-Version": "13", "Sec-Websocket-Protocol": "chat",
		"Cookie": "[redacted]", "Authorization": "[redacted]",
	}}
	if fmt.Sprint(lines[0]) != fmt.Sprint(wantRequest) {
		t.Errorf("request logged as\n%v\nwant\n%v", lines[0], wantRequest)
	}
	// The response, as Upgrade wrote it (OnResponse): it must be the one the
	// client received, header for header (§4.2.2 step 5).
	checkTracedResponse(t, lines[1], c.resp, true)

	hello := []byte("Hello")
	frames := []logEntry{
		frameLine("in", 1, "text", 1, 5, "37fa213d", "81 85 37 fa 21 3d", "text", "Hello"),
		frameLine("out", 1, "text", 0, 5, "", "81 05", "text", "Hello"),
		frameLine("in", 0, "text", 1, 3, "37fa213d", "01 83 37 fa 21 3d", "text", "Hel"),
		frameLine("in", 1, "continuation", 1, 2, "37fa213d", "80 82 37 fa 21 3d", "text", "lo"),
		frameLine("out", 1, "text", 0, 5, "", "81 05", "text", "Hello"),
		frameLine("in", 1, "ping", 1, 5, "37fa213d", "89 85 37 fa 21 3d", "hex", spacedHex(hello)),
		frameLine("out", 1, "pong", 0, 5, "", "8a 05", "hex", spacedHex(hello)),
		// Only the first TracedBytes of a payload are shown.
		frameLine("in", 1, "binary", 1, 256, "37fa213d", "82 fe 01 00 37 fa 21 3d", "hex", spacedHex(pattern(TracedBytes))),
		frameLine("out", 1, "binary", 0, 256, "", "82 7e 01 00", "hex", spacedHex(pattern(TracedBytes))),
		frameLine("in", 1, "close", 1, 5, "37fa213d", "88 85 37 fa 21 3d", "code", float64(1000), "reason", "bye"),
		frameLine("out", 1, "close", 0, 2, "", "88 02", "code", float64(1000), "reason", ""),
	}
	if got := lines[2:]; fmt.Sprint(got) != fmt.Sprint(frames) {
		t.Errorf("frames logged as\n%s\nwant\n%s", lineList(got), lineList(frames))
	}

	t.Run("refused", func(t *testing.T) {
		// A refused handshake is logged with the status and headers of
		// the HTTP error it got.
		c := connect(t, app.Server, handshakeRequest(app.Listener.Addr().String(), "/echo", "Origin: http://evil.example"))
		line := app.logs.waitFor(t, "handshake response 403", func(line string) bool {
			return strings.Contains(line, `"handshake response"`) && strings.Contains(line, `"status":"403 Forbidden"`)
		})
		var e logEntry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatal(err)
		}
		checkTracedResponse(t, e, c.resp, false)
	})
}

// frameLine is a frame line of the trace, decoded from JSON, without its
// time, level and remote.
func frameLine(dir string, fin int, op string, mask int, length int, key, header string, payload ...any) logEntry {
	e := logEntry{"msg": "frame", "dir": dir, "fin": float64(fin), "rsv": "000", "op": op,
		"mask": float64(mask), "len": float64(length), "header": header}
	if key != "" {
		e["key"] = key
	}
	for i := 0; i < len(payload); i += 2 {
		e[payload[i].(string)] = payload[i+1]
	}
	return e
}

func lineList(lines []logEntry) string {
	var b strings.Builder
	for _, l := range lines {
		fmt.Fprintln(&b, l)
	}
	return b.String()
}

// checkTracedResponse fails the test unless the traced response e is the
// response resp the client received: its status, and its headers, all of
// them for a 101, or, for a refusal, those Upgrade set (net/http adds Date
// and Content-Length as it writes).
func checkTracedResponse(t *testing.T, e logEntry, resp *http.Response, all bool) {
	t.Helper()
	if e["msg"] != "handshake response" || e["status"] != resp.Status {
		t.Errorf("response logged as %v, want status %q", e, resp.Status)
	}
	logged, _ := e["header"].(map[string]any)
	names := make(map[string]bool)
	for name, value := range logged {
		names[http.CanonicalHeaderKey(name)] = true
		if got := resp.Header.Values(name); len(got) != 1 || got[0] != value {
			t.Errorf("trace says %s: %v; the client got %q", name, value, got)
		}
	}
	for name := range resp.Header {
		if all && !names[name] {
			t.Errorf("the client got %s: %q; the trace does not say so", name, resp.Header.Values(name))
		}
	}
	if len(logged) == 0 {
		t.Errorf("response logged with no headers: %v", e)
	}
}

// TestTraceOff checks that without -trace nothing is logged of frames and
// handshakes, and that /echo's connections have no OnFrame at all: ws.go
// then does no work for it (see BenchmarkTrace). /websocket's have one,
// for the frames its replies show.
func TestTraceOff(t *testing.T) {
	app := startApp(t, Options{}, nil)
	echoClient := dial(t, app.Server, "/echo")
	echoClient.send(text("hello"))
	echoClient.expect(text("hello"))
	jsonClient := dial(t, app.Server, "/websocket")
	jsonClient.send(text(pageMessage))
	jsonClient.expectReply(map[string]string{"output": pageReply})

	// Both conversations are running, so both Conns are tracked.
	app.s.mu.Lock()
	withHook := 0
	for c := range app.s.conns {
		if c.trace != nil {
			withHook++
		}
	}
	conns := len(app.s.conns)
	app.s.mu.Unlock()
	if conns != 2 || withHook != 1 {
		t.Errorf("%d connections, %d with an OnFrame; want 2, and 1 (/websocket's)", conns, withHook)
	}

	echoClient.bye()
	jsonClient.bye()
	app.waitHandlers(t)
	for _, e := range app.logs.entries(t) {
		if msg := e["msg"]; msg != "websocket open" && msg != "websocket closed" {
			t.Errorf("without -trace the log says %v", e)
		}
	}
}

// TestOnFrameWhileClosing: after this end has sent its Close, Close reads
// until the peer's Close arrives (drainUntilClose) and drops the data
// frames on the way (§5.5.1), but OnFrame, and so -trace, still sees them.
func TestOnFrameWhileClosing(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	record := func(f Frame) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, fmt.Sprintf("sent=%v %s %q", f.Sent, opcodeName(f.Opcode), f.Payload))
	}
	srv := newHandlerServer(t, Options{OnFrame: record}, func(c *Conn) { c.Close(StatusNormal, "") })
	c := dial(t, srv, "/")
	// The server's Close first: the server is now in Close, reading.
	if reason := c.readClose(StatusNormal); reason != "" {
		t.Fatalf("Close reason %q", reason)
	}
	// §5.5.1: a peer may still send data before its Close; the server
	// drops it, but read it it did.
	c.send(text("late"), closeFrame(StatusNormal, ""))
	c.expectEOF()
	c.nc.Close()
	srv.Close() // waits for the handler, and so for Close to return

	mu.Lock()
	defer mu.Unlock()
	want := []string{`sent=true close "\x03\xe8"`, `sent=false text "late"`, `sent=false close "\x03\xe8"`}
	if !slices.Equal(seen, want) {
		t.Errorf("OnFrame saw\n%q\nwant\n%q", seen, want)
	}
}

// TestOnFrameSeesRejectedFrames: a frame that breaks a rule of its header
// (§5.1: a client's frame must be masked) is shown to OnFrame as far as it
// was read, so -trace logs the frame that caused the Close 1002, the one a
// learner most wants to see, before the Close itself.
func TestOnFrameSeesRejectedFrames(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	record := func(f Frame) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, fmt.Sprintf("sent=%v %s % x", f.Sent, opcodeName(f.Opcode), f.Header))
	}
	srv := newHandlerServer(t, Options{OnFrame: record}, func(c *Conn) { c.ReadMessage() })
	c := dial(t, srv, "/")
	c.write([]byte{0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}) // §5.7's unmasked "Hello": a server's frame
	c.answerClose(StatusProtocolError, "client frame is not masked")
	srv.Close() // waits for the handler

	mu.Lock()
	defer mu.Unlock()
	want := []string{"sent=false text 81 05", "sent=true close 88 1c"}
	if !slices.Equal(seen, want) {
		t.Errorf("OnFrame saw\n%q\nwant\n%q", seen, want)
	}
}

// BenchmarkTrace measures what OnFrame costs: one 128-byte echo, read with
// AppendMessage and written back with WriteMessage, as /echo does, over a
// peer in memory (loopConn), so that only the Conn's own work is timed,
// not the network's. With no OnFrame (what /echo runs without -trace), an
// OnFrame that does nothing (the hook itself: two calls a message), and
// -trace's, logging to a text handler that discards its output (the cost
// of formatting two lines). "off" allocates nothing: OnFrame costs nothing
// unless it is set.
func BenchmarkTrace(b *testing.B) {
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tt := range []struct {
		name    string
		onFrame func(Frame)
	}{
		{"off", nil},
		{"noop", func(Frame) {}},
		{"trace", traceFrames(discard, "127.0.0.1:50000")},
	} {
		b.Run(tt.name, func(b *testing.B) {
			const size = 128
			peer := &loopConn{frame: encode(text(strings.Repeat("x", size)), exampleKey)}
			c := newConn(peer, bufio.NewReader(peer), "", &Options{OnFrame: tt.onFrame})
			var buf []byte
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				op, msg, err := c.AppendMessage(buf[:0])
				if err != nil {
					b.Fatal(err)
				}
				if err := c.WriteMessage(op, msg); err != nil {
					b.Fatal(err)
				}
				buf = msg
			}
			if len(buf) != size {
				b.Fatalf("read a message of %d bytes, want %d", len(buf), size)
			}
		})
	}
}

// TestOnFrameSeesRejectedFrames/10.4: a frame refused by its length (§10.4,
// S-73), before a byte of its payload is read, is shown as far as it was
// read, its header, before the Close 1009 it caused.
func TestOnFrameSeesFramesRefusedByLength(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
		send [][]byte
		want []string
	}{
		{"10.4/length", Options{MaxMessage: 4}, [][]byte{{0x81, 0x85, 0, 0, 0, 0, 'H', 'e', 'l', 'l', 'o'}},
			[]string{"sent=false text 81 85 00 00 00 00", "sent=true close 88 1d"}},
		{"10.4/fragments", Options{MaxFragments: 1}, [][]byte{{0x01, 0x81, 0, 0, 0, 0, 'H'}, {0x80, 0x81, 0, 0, 0, 0, 'i'}},
			[]string{"sent=false text 01 81 00 00 00 00", "sent=false continuation 80 81 00 00 00 00", "sent=true close 88 22"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var seen []string
			record := func(f Frame) {
				mu.Lock()
				defer mu.Unlock()
				seen = append(seen, fmt.Sprintf("sent=%v %s % x", f.Sent, opcodeName(f.Opcode), f.Header))
			}
			tc.opts.OnFrame = record
			done := make(chan struct{})
			srv := newHandlerServer(t, tc.opts, func(c *Conn) {
				defer close(done)
				c.ReadMessage()
			})
			c := dial(t, srv, "/")
			for _, b := range tc.send {
				c.write(b)
			}
			c.readClose(StatusTooBig)
			c.nc.Close()
			// The Close is shown once written, which may be after the
			// client has read it: wait for the reader to be done.
			await(t, done)

			mu.Lock()
			defer mu.Unlock()
			if !slices.Equal(seen, tc.want) {
				t.Errorf("OnFrame saw\n%q\nwant\n%q", seen, tc.want)
			}
		})
	}
}

// TestTraceShowsOnlyWrittenFrames: the trace shows what crossed the wire
// and nothing else. A peer that vanishes without a Close (§7.1.5: 1006)
// gets no Close from the server, which finds the TCP connection gone when
// it tries: no "dir=out op=close" line may claim one was sent. The echo
// before it, which was written, is shown.
func TestTraceShowsOnlyWrittenFrames(t *testing.T) {
	for _, tc := range []struct {
		name string
		end  func(c *testClient)
	}{
		{"7.1.5/dropped", func(c *testClient) { c.nc.Close() }},
		{"7.1.5/half-closed", func(c *testClient) { c.nc.(*net.TCPConn).CloseWrite() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := startApp(t, Options{}, func(s *server) http.Handler {
				s.trace = true // as -trace does
				return s.routes()
			})
			c := dial(t, app.Server, "/echo")
			c.send(text("Hello"))
			c.expect(text("Hello"))
			tc.end(c)
			app.waitHandlers(t)
			c.nc.Close()

			var sent []logEntry
			for _, e := range app.logs.entries(t) {
				if e["msg"] == "frame" && e["dir"] == "out" {
					delete(e, "time")
					delete(e, "level")
					delete(e, "remote")
					sent = append(sent, e)
				}
			}
			want := []logEntry{frameLine("out", 1, "text", 0, 5, "", "81 05", "text", "Hello")}
			if fmt.Sprint(sent) != fmt.Sprint(want) {
				t.Errorf("frames traced as sent:\n%s\nwant\n%s", lineList(sent), lineList(want))
			}
		})
	}
}
