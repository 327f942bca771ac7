package main

// Tests of permessage-deflate (RFC 7692) on a whole Conn: the handshake on
// both ends, the RSV1 rules of §6, the bytes of §7.2.3 on the wire both
// ways, and the limits of §7.2.2 as the Close a peer gets.

import (
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"
)

// deflateEchoServer starts a server that upgrades with opts and echoes
// every message, and returns its ws:// URL. Each connection's last
// read error goes to errs, if not nil.
func deflateEchoServer(t testing.TB, opts Options, errs chan<- error) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Upgrade(w, r, &opts)
		if err != nil {
			return
		}
		var buf []byte
		for {
			op, msg, err := c.AppendMessage(buf[:0])
			if err != nil {
				if errs != nil {
					errs <- err
				}
				c.Close(StatusNormal, "")
				return
			}
			buf = msg
			if c.WriteMessage(op, msg) != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

// rawDeflateClient opens a connection to url and sends a handshake that
// offers extensions, and returns the connection past the 101 and the
// answer's Sec-WebSocket-Extensions.
func rawDeflateClient(t *testing.T, url, extensions string) (net.Conn, *bufio.Reader, string) {
	t.Helper()
	addr := strings.TrimPrefix(url, "ws://")
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(time.Minute))
	req := "GET /echo HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
	if extensions != "" {
		req += "Sec-WebSocket-Extensions: " + extensions + "\r\n"
	}
	io.WriteString(nc, req+"\r\n")
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", resp.StatusCode)
	}
	return nc, br, strings.Join(resp.Header.Values("Sec-WebSocket-Extensions"), ", ")
}

// clientFrame is a masked frame as a client sends it, with the first
// byte b0 (FIN, RSV, opcode) given whole.
func clientFrame(b0 byte, payload []byte) []byte {
	key := [4]byte{1, 2, 3, 4}
	f := appendHeader(nil, b0&0x80 != 0, b0&0x70, Opcode(b0&0x0f), len(payload), &key)
	start := len(f)
	f = append(f, payload...)
	maskBytes(key, 0, f[start:])
	return f
}

// readServerFrame reads one unmasked frame: its first byte and payload.
func readServerFrame(t *testing.T, br *bufio.Reader) (byte, []byte) {
	t.Helper()
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		t.Fatalf("reading a frame: %v", err)
	}
	n := int(h[1] & 0x7f)
	switch n {
	case 126:
		var l [2]byte
		io.ReadFull(br, l[:])
		n = int(l[0])<<8 | int(l[1])
	case 127:
		var l [8]byte
		io.ReadFull(br, l[:])
		n = 0
		for _, b := range l {
			n = n<<8 | int(b)
		}
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(br, p); err != nil {
		t.Fatalf("reading a payload: %v", err)
	}
	return h[0], p
}

// expectClose reads frames until a Close and checks its code.
func expectClose(t *testing.T, br *bufio.Reader, code StatusCode) {
	t.Helper()
	for {
		b0, p := readServerFrame(t, br)
		if Opcode(b0&0x0f) != OpClose {
			continue
		}
		if len(p) < 2 || StatusCode(p[0])<<8|StatusCode(p[1]) != code {
			t.Fatalf("Close % x, want code %d", p, code)
		}
		return
	}
}

func dialDeflate(t testing.TB, url string, d *DeflateOptions) *Conn {
	t.Helper()
	c, err := Dial(context.Background(), url, &DialOptions{Options: Options{Compression: d}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(StatusNormal, "") })
	return c
}

// TestDeflateConn proves a Dial'd client and an Upgrade'd server agree on
// permessage-deflate and echo messages below and above the threshold,
// with and without context takeover.
func TestDeflateConn(t *testing.T) {
	for _, takeover := range []bool{false, true} {
		t.Run(fmt.Sprint("takeover=", takeover), func(t *testing.T) {
			d := &DeflateOptions{ContextTakeover: takeover}
			url := deflateEchoServer(t, Options{Compression: d}, nil)
			c := dialDeflate(t, url, d)
			if !c.Compressed() {
				t.Fatal("no compression negotiated")
			}
			for i, n := range []int{0, 10, 511, 512, 3000, 3000, 70000, 1 << 20} {
				msg := testText(n, uint64(i%5))
				if err := c.WriteMessage(OpText, msg); err != nil {
					t.Fatal(err)
				}
				op, got, err := c.ReadMessage()
				if err != nil || op != OpText || !bytes.Equal(got, msg) {
					t.Fatalf("%d bytes: got %d bytes, %v", n, len(got), err)
				}
			}
		})
	}
}

// TestDeflateHandshake proves the negotiation on the wire (RFC 7692 §5,
// §7.1): the server's one answer, declining without failing, and the
// client's HandshakeError for every answer that breaks a rule.
func TestDeflateHandshake(t *testing.T) {
	on := Options{Compression: &DeflateOptions{}}
	t.Run("D-01/one_element_answered", func(t *testing.T) {
		url := deflateEchoServer(t, on, nil)
		_, _, answer := rawDeflateClient(t, url, "permessage-deflate; server_max_window_bits=10, permessage-deflate")
		if answer != "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10" {
			t.Errorf("answer %q", answer)
		}
	})
	t.Run("D-01/decline_is_101_without_header", func(t *testing.T) {
		url := deflateEchoServer(t, on, nil)
		_, _, answer := rawDeflateClient(t, url, "permessage-deflate; server_max_window_bits=7, x-foo")
		if answer != "" {
			t.Errorf("answer %q, want none", answer)
		}
	})
	t.Run("D-01/off_answers_nothing", func(t *testing.T) {
		url := deflateEchoServer(t, Options{}, nil)
		_, _, answer := rawDeflateClient(t, url, "permessage-deflate")
		if answer != "" {
			t.Errorf("answer %q, want none", answer)
		}
	})
	t.Run("9.1/grammar_400", func(t *testing.T) {
		url := deflateEchoServer(t, on, nil)
		resp, err := http.Get(strings.Replace(url, "ws://", "http://", 1))
		if err == nil {
			resp.Body.Close()
		}
		req, _ := http.NewRequest("GET", strings.Replace(url, "ws://", "http://", 1), nil)
		req.Header.Set("Upgrade", "websocket")
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		req.Header.Set("Sec-WebSocket-Version", "13")
		req.Header.Set("Sec-WebSocket-Extensions", "permessage-deflate; a=b c")
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("status %d, want 400", resp.StatusCode)
		}
	})
	// The client's side: a fake server answers each with a 101 and the
	// given Sec-WebSocket-Extensions.
	answers := []struct{ name, answer, fails string }{
		{"D-02/unknown_parameter", "permessage-deflate; foo", "unknown parameter"},
		{"D-02/repeated_parameter", "permessage-deflate; server_no_context_takeover; server_no_context_takeover", "repeated"},
		{"D-02/client_max_window_bits_without_value", "permessage-deflate; server_no_context_takeover; client_max_window_bits", "without a value"},
		{"D-02/server_no_context_takeover_not_echoed", "permessage-deflate; client_no_context_takeover", "server_no_context_takeover"},
		{"D-02/two_elements", "permessage-deflate; server_no_context_takeover, permessage-deflate; server_no_context_takeover", "more than one"},
		{"D-02/not_offered", "x-foo", "did not offer"},
		{"D-02/bad_window", "permessage-deflate; server_no_context_takeover; server_max_window_bits=16", "8 to 15"},
	}
	for _, a := range answers {
		t.Run(a.name, func(t *testing.T) {
			url := fakeAnswerServer(t, a.answer)
			_, err := Dial(context.Background(), url, &DialOptions{Options: Options{Compression: &DeflateOptions{}}})
			var he *HandshakeError
			if !errors.As(err, &he) || !strings.Contains(he.Reason, a.fails) {
				t.Errorf("answer %q: %v, want a HandshakeError saying %q", a.answer, err, a.fails)
			}
		})
	}
	t.Run("C-22/not_offered_when_off", func(t *testing.T) {
		url := fakeAnswerServer(t, "permessage-deflate")
		_, err := Dial(context.Background(), url, nil)
		var he *HandshakeError
		if !errors.As(err, &he) {
			t.Errorf("got %v, want a HandshakeError", err)
		}
	})
	t.Run("D-02/declined_is_uncompressed", func(t *testing.T) {
		url := deflateEchoServer(t, Options{}, nil)
		c := dialDeflate(t, url, &DeflateOptions{})
		if c.Compressed() {
			t.Error("compressed, though the server declined")
		}
	})
}

// fakeAnswerServer answers any handshake with a 101 that carries the
// given Sec-WebSocket-Extensions, and then closes.
func fakeAnswerServer(t *testing.T, extensions string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		nc, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer nc.Close()
		fmt.Fprintf(rw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
			"Sec-WebSocket-Accept: %s\r\nSec-WebSocket-Extensions: %s\r\n\r\n", acceptKey(r.Header.Get("Sec-WebSocket-Key")), extensions)
		rw.Flush()
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

// TestDeflateFrames proves RFC 7692 §6 and §7.2 on the wire, against the
// server: the bytes of §7.2.3 both ways, and the Close for each rule a
// compressed message can break.
func TestDeflateFrames(t *testing.T) {
	on := Options{Compression: &DeflateOptions{Threshold: 1}, MaxMessage: 4096}
	hello := hexBytes("f2 48 cd c9 c9 07 00")
	open := func(t *testing.T, opts Options) (net.Conn, *bufio.Reader) {
		nc, br, _ := rawDeflateClient(t, deflateEchoServer(t, opts, nil), "permessage-deflate")
		return nc, br
	}
	// At flate.DefaultCompression, compress/flate writes "Hello" as
	// §7.2.3.1 does; at BestSpeed, the default, as §7.2.3.3 does.
	level6 := Options{Compression: &DeflateOptions{Threshold: 1, Level: flate.DefaultCompression}}
	t.Run("7.2.3.1/both_ways", func(t *testing.T) {
		nc, br := open(t, level6)
		nc.Write(clientFrame(0xc1, hello))
		b0, p := readServerFrame(t, br)
		if b0 != 0xc1 || !bytes.Equal(p, hello) {
			t.Errorf("echo %#x % x, want c1 % x", b0, p, hello)
		}
	})
	t.Run("7.2.3.1/fragmented", func(t *testing.T) {
		nc, br := open(t, level6)
		nc.Write(append(append(clientFrame(0x41, hello[:3]), clientFrame(0x89, []byte("p"))...), clientFrame(0x80, hello[3:])...))
		if b0, p := readServerFrame(t, br); b0 != 0x8a || string(p) != "p" {
			t.Errorf("got %#x %q, want the pong first", b0, p)
		}
		if b0, p := readServerFrame(t, br); b0 != 0xc1 || !bytes.Equal(p, hello) {
			t.Errorf("echo %#x % x", b0, p)
		}
	})
	t.Run("7.2.3.3/both_ways", func(t *testing.T) {
		nc, br := open(t, on)
		nc.Write(clientFrame(0xc1, hello))
		if b0, p := readServerFrame(t, br); b0 != 0xc1 || !bytes.Equal(p, hexBytes("00 05 00 fa ff 48 65 6c 6c 6f 00")) {
			t.Errorf("echo %#x % x", b0, p)
		}
	})
	t.Run("7.2.3.2/takeover_both_ways", func(t *testing.T) {
		opts := Options{Compression: &DeflateOptions{Threshold: 1, Level: flate.DefaultCompression, ContextTakeover: true}}
		nc, br, answer := rawDeflateClient(t, deflateEchoServer(t, opts, nil), "permessage-deflate")
		if answer != "permessage-deflate" {
			t.Fatalf("answer %q", answer)
		}
		nc.Write(clientFrame(0xc1, hello))
		nc.Write(clientFrame(0xc1, hexBytes("f2 00 11 00 00")))
		if b0, p := readServerFrame(t, br); b0 != 0xc1 || !bytes.Equal(p, hello) {
			t.Errorf("first echo %#x % x", b0, p)
		}
		// The server's second "Hello" refers back into the first.
		if b0, p := readServerFrame(t, br); b0 != 0xc1 || len(p) >= len(hello) {
			t.Errorf("second echo %#x % x: no back-reference", b0, p)
		}
	})
	for _, ex := range []struct{ name, bytes string }{
		{"7.2.3.4/bfinal_set", "f3 48 cd c9 c9 07 00 00"},
		{"7.2.3.5/two_blocks", "f2 48 05 00 00 00 ff ff ca c9 c9 07 00"},
	} {
		t.Run(ex.name, func(t *testing.T) {
			nc, br := open(t, level6)
			nc.Write(clientFrame(0xc1, hexBytes(ex.bytes)))
			if b0, p := readServerFrame(t, br); b0 != 0xc1 || !bytes.Equal(p, hello) {
				t.Errorf("echo %#x % x, want Hello as §7.2.3.1", b0, p)
			}
		})
	}
	t.Run("7.2.3.3/stored_block", func(t *testing.T) {
		nc, br := open(t, Options{Compression: &DeflateOptions{Threshold: 100}})
		nc.Write(clientFrame(0xc1, hexBytes("00 05 00 fa ff 48 65 6c 6c 6f 00")))
		if b0, p := readServerFrame(t, br); b0 != 0x81 || string(p) != "Hello" {
			t.Errorf("echo %#x %q, want Hello uncompressed (below the threshold)", b0, p)
		}
	})
	t.Run("7.2.3.6/empty_message", func(t *testing.T) {
		nc, br := open(t, on)
		nc.Write(clientFrame(0xc2, hexBytes("00")))
		nc.Write(clientFrame(0xc2, nil))
		for range 2 {
			if b0, p := readServerFrame(t, br); b0 != 0x82 || len(p) != 0 {
				t.Errorf("echo %#x % x, want an empty binary message", b0, p)
			}
		}
	})
	refusals := []struct {
		name   string
		opts   Options
		frames [][]byte
		code   StatusCode
	}{
		{"D-03/rsv1_not_negotiated", Options{}, [][]byte{clientFrame(0xc1, hello)}, StatusProtocolError},
		{"D-10/rsv1_on_control", on, [][]byte{clientFrame(0xc9, nil)}, StatusProtocolError},
		{"D-11/rsv1_on_continuation", on, [][]byte{clientFrame(0x41, hello[:3]), clientFrame(0xc0, hello[3:])}, StatusProtocolError},
		{"D-06/corrupt", on, [][]byte{clientFrame(0xc1, hexBytes("ff ff ff"))}, StatusInvalidData},
		{"D-08/invalid_utf8", on, [][]byte{clientFrame(0xc1, deflateRaw([]byte("ok \xed\xa0\x80 no")))}, StatusInvalidData},
		// The first frame of a message that never ends, whose sender
		// flushed after it (a whole 00 00 ff ff, §7.2.1): 1007 comes as
		// the inflater yields the bad byte, not at a FIN that never
		// arrives. (compress/flate yields output at a sync flush, a full
		// 32 KiB window, or the final block.)
		{"D-08/invalid_utf8_before_fin", on, [][]byte{clientFrame(0x41, append(deflateRaw([]byte("ok \xed\xa0\x80 no")), 0x00, 0x00, 0xff, 0xff))}, StatusInvalidData},
		{"D-08/utf8_cut_at_end", on, [][]byte{clientFrame(0xc1, deflateRaw([]byte("ok \xe2\x82")))}, StatusInvalidData},
		{"D-07/inflated_limit", on, [][]byte{clientFrame(0xc2, deflateRaw(make([]byte, 4097)))}, StatusTooBig},
		{"D-07/wire_limit", on, [][]byte{clientFrame(0xc2, bytes.Repeat(hexBytes("00 00 00 ff ff"), 1200))}, StatusTooBig},
	}
	for _, r := range refusals {
		t.Run(r.name, func(t *testing.T) {
			nc, br, _ := rawDeflateClient(t, deflateEchoServer(t, r.opts, nil), "permessage-deflate")
			for _, f := range r.frames {
				nc.Write(f)
			}
			expectClose(t, br, r.code)
		})
	}
	for _, n := range []int{4095, 4096} {
		t.Run(fmt.Sprintf("D-07/inflated_%d_of_4096", n), func(t *testing.T) {
			nc, br := open(t, on)
			nc.Write(clientFrame(0xc2, deflateRaw(make([]byte, n))))
			if b0, p := readServerFrame(t, br); b0 != 0xc2 {
				t.Errorf("echo %#x % x", b0, p)
			}
		})
	}
}

// deflateRaw compresses p as one message of §7.2.1, with no takeover.
func deflateRaw(p []byte) []byte {
	d := newDeflateConn(noTakeoverParams, true, DeflateOptions{})
	return d.compress(nil, p)
}

// TestDeflateConnTakeover proves context takeover through Dial and
// Upgrade (§7.1.1, §7.2.3.2): three repeats of a message, the later ones
// smaller on the wire both ways as they refer back into the window, with
// an uncompressed message (below the threshold, no RSV1) between them
// that enters neither window; and without takeover, no shrinking.
func TestDeflateConnTakeover(t *testing.T) {
	for _, takeover := range []bool{true, false} {
		t.Run(fmt.Sprint("takeover=", takeover), func(t *testing.T) {
			d := &DeflateOptions{ContextTakeover: takeover}
			var sent, received []Frame
			url := deflateEchoServer(t, Options{Compression: d}, nil)
			c, err := Dial(context.Background(), url, &DialOptions{Options: Options{Compression: d, OnFrame: func(f Frame) {
				f.Header, f.Payload, f.Wire, f.Inflated = nil, nil, nil, nil
				if f.Opcode.IsControl() {
					return
				}
				if f.Sent {
					sent = append(sent, f)
				} else {
					received = append(received, f)
				}
			}}})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close(StatusNormal, "")
			msg := testText(2000, 7)
			for _, m := range [][]byte{msg, msg, []byte("small, between"), msg} {
				c.WriteMessage(OpText, m)
				if _, got, err := c.ReadMessage(); err != nil || !bytes.Equal(got, m) {
					t.Fatalf("echo: %d bytes, %v", len(got), err)
				}
			}
			// D-13: between messages, without takeover, the connection
			// keeps no compressor, no window, and no message.
			if d := c.deflate; !takeover && (d.writer != nil || d.history != nil || d.msg.buf != nil || d.src.m != nil) {
				t.Error("an idle connection without takeover holds compression state")
			}
			if d := c.deflate; takeover && (d.writer == nil || d.history == nil) {
				t.Error("with takeover the connection keeps no window")
			}
			for _, frames := range [][]Frame{sent, received} {
				if len(frames) != 4 || frames[2].RSV != 0 || frames[0].RSV != 4 || frames[3].RSV != 4 {
					t.Fatalf("frames %+v: want RSV1 on all but the small one", frames)
				}
				shrinks := frames[1].Length < frames[0].Length/2 && frames[3].Length < frames[0].Length/2
				if shrinks != takeover {
					t.Errorf("wire sizes %d, %d, %d with takeover %v", frames[0].Length, frames[1].Length, frames[3].Length, takeover)
				}
			}
		})
	}
}

// scriptTransport feeds a Conn the bytes of in and drops what it writes.
type scriptTransport struct{ in io.Reader }

func (s *scriptTransport) Read(p []byte) (int, error)       { return s.in.Read(p) }
func (s *scriptTransport) Write(p []byte) (int, error)      { return len(p), nil }
func (s *scriptTransport) SetReadDeadline(time.Time) error  { return nil }
func (s *scriptTransport) SetWriteDeadline(time.Time) error { return nil }
func (s *scriptTransport) CloseWrite() error                { return nil }
func (s *scriptTransport) Close() error                     { return nil }
func (s *scriptTransport) RemoteAddr() net.Addr             { return &net.TCPAddr{} }

// deflateServerConn is a server's Conn, with deflate agreed as p, that
// reads the bytes of in.
func deflateServerConn(in io.Reader, p deflateParams, opts Options) *Conn {
	c := newConnOver(&scriptTransport{in}, nil, "", &opts)
	c.useDeflate(newDeflateConn(p, false, DeflateOptions{}))
	return c
}

// TestDeflateBomb proves D-07 on a Conn: 16 MiB of zeros, compressed to
// about 16 KiB, against a 1 MiB limit, fails with 1009 having allocated
// about the limit, not the bomb.
func TestDeflateBomb(t *testing.T) {
	const limit = 1 << 20
	frame := clientFrame(0xc2, deflateRaw(make([]byte, 16<<20)))
	read := func() error {
		c := deflateServerConn(bytes.NewReader(frame), noTakeoverParams, Options{MaxMessage: limit, CloseTimeout: time.Millisecond})
		_, _, err := c.ReadMessage()
		return err
	}
	read() // warm the pools
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	err := read()
	runtime.ReadMemStats(&after)
	if statusOf(err) != StatusTooBig {
		t.Fatalf("got %v, want 1009", err)
	}
	bound := uint64(2*limit + 256<<10) // doubling growth: at most twice the limit
	if raceEnabled {
		bound += 1 << 20 // sync.Pool drops items at random under -race
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > bound {
		t.Errorf("a %d-byte bomb of 16 MiB allocated %d bytes against a %d-byte limit", len(frame), alloc, limit)
	}
}

// loopTransport yields the same bytes over and over, for benchmarks.
type loopTransport struct {
	scriptTransport
	data []byte
	r    bytes.Reader
}

func (l *loopTransport) Read(p []byte) (int, error) {
	if l.r.Len() == 0 {
		l.r.Reset(l.data)
	}
	return l.r.Read(p)
}

// BenchmarkDeflateRead reads compressed messages through a server's Conn:
// unmask, inflate, UTF-8, append. ratio is compressed/original bytes.
func BenchmarkDeflateRead(b *testing.B) {
	for _, n := range []int{128, 1 << 10, 16 << 10, 128 << 10} {
		b.Run(sizeLabel(n), func(b *testing.B) {
			msg := testText(n, 9)
			payload := deflateRaw(msg)
			l := &loopTransport{data: clientFrame(0xc1, payload)}
			c := newConnOver(l, nil, "", &Options{})
			c.useDeflate(newDeflateConn(noTakeoverParams, false, DeflateOptions{}))
			b.ReportAllocs()
			b.SetBytes(int64(n))
			var buf []byte
			for b.Loop() {
				_, got, err := c.AppendMessage(buf[:0])
				if err != nil || len(got) != n {
					b.Fatalf("%d bytes, %v", len(got), err)
				}
				buf = got
			}
			b.ReportMetric(float64(len(payload))/float64(n), "ratio")
		})
	}
}

// BenchmarkDeflateWrite writes compressed messages through a server's
// Conn, without and with context takeover.
func BenchmarkDeflateWrite(b *testing.B) {
	for _, takeover := range []bool{false, true} {
		for _, n := range []int{128, 1 << 10, 16 << 10, 128 << 10} {
			b.Run(fmt.Sprintf("takeover=%v/%s", takeover, sizeLabel(n)), func(b *testing.B) {
				msg := testText(n, 9)
				p := noTakeoverParams
				if takeover {
					p = takeoverParams
				}
				w := &countingTransport{}
				c := newConnOver(w, nil, "", &Options{})
				c.useDeflate(newDeflateConn(p, false, DeflateOptions{Threshold: 1}))
				b.ReportAllocs()
				b.SetBytes(int64(n))
				for b.Loop() {
					if err := c.WriteMessage(OpText, msg); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(w.n)/float64(b.N)/float64(n), "ratio")
			})
		}
	}
}

type countingTransport struct {
	scriptTransport
	n int
}

func (c *countingTransport) Write(p []byte) (int, error) { c.n += len(p); return len(p), nil }

func sizeLabel(n int) string {
	if n >= 1<<10 {
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

// FuzzDeflateReadMessage reads any bytes as a client's frames on a server
// Conn that agreed permessage-deflate, with and without takeover: it
// must never panic, hang or exceed the limits, whatever the DEFLATE data.
func FuzzDeflateReadMessage(f *testing.F) {
	hello := hexBytes("f2 48 cd c9 c9 07 00")
	f.Add(clientFrame(0xc1, hello), false)
	f.Add(append(clientFrame(0xc1, hello), clientFrame(0xc1, hexBytes("f2 00 11 00 00"))...), true)
	f.Add(append(clientFrame(0x41, hello[:3]), clientFrame(0x80, hello[3:])...), false)
	f.Add(clientFrame(0xc2, hexBytes("f3 48 cd c9 c9 07 00 00")), true)
	f.Add(clientFrame(0xc2, hexBytes("00")), false)
	f.Add(clientFrame(0xc1, deflateRaw([]byte("ok \xed\xa0\x80"))), false)
	f.Fuzz(func(t *testing.T, in []byte, takeover bool) {
		p := noTakeoverParams
		if takeover {
			p = takeoverParams
		}
		const limit = 1 << 16
		c := deflateServerConn(bytes.NewReader(in), p, Options{MaxMessage: limit, CloseTimeout: time.Millisecond})
		for {
			_, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			if len(msg) > limit {
				t.Fatalf("a message of %d bytes passed a limit of %d", len(msg), limit)
			}
		}
	})
}
