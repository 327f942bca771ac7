package main

// The Conn from the inside: the promises of its Go API, its internals
// (masking, streaming UTF-8 checks), how fast it is (benchmarks), and what
// arbitrary input does to its reader (fuzzing). The protocol itself, on
// the wire, is ws_test.go's.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"
)

// The TestAPI... tests check what the Go API promises, with handlers that
// call Upgrade themselves and pass what they see back to the test over a
// channel. Each is named TestAPI and the method it checks, so that
// -run 'TestAPI/S-67' finds a rule wherever it is.

// TestAPIWriteMessage: what WriteMessage refuses to send (S-54), and that
// two goroutines' messages never interleave (S-42).
func TestAPIWriteMessage(t *testing.T) {
	t.Run("S-54 WriteMessage refuses text that is not UTF-8, and sends nothing", func(t *testing.T) {
		results := make(chan error, 8)
		srv := newHandlerServer(t, Options{}, func(c *Conn) {
			results <- c.WriteMessage(OpText, []byte{0xFF})
			results <- c.WriteMessage(OpText, []byte(invalidAtByte12))
			results <- c.WriteMessage(OpText, []byte("\xce")) // cut off
			for _, op := range []Opcode{OpContinuation, OpClose, OpPing, OpPong, 0x3} {
				results <- c.WriteMessage(op, []byte("x")) // not a message opcode
			}
			// What does go out: the client must see this first.
			if err := c.WriteMessage(OpBinary, []byte{0xFF}); err != nil {
				t.Errorf("WriteMessage(OpBinary, FF): %v", err)
			}
			c.Close(StatusNormal, "") // returns once the client has answered and closed
		})
		c := dial(t, srv, "/")
		for i := range 8 {
			if err := await(t, results); err == nil {
				t.Errorf("refused write %d: got no error", i)
			}
		}
		c.expect(binaryFrame([]byte{0xFF})) // §5.6: FF goes out as binary, opcode 2
		c.answerClose(StatusNormal, "")
	})

	// S-42: frames of two messages never interleave. Two goroutines write
	// at once; the client must read two intact messages, in either order.
	t.Run("S-42 concurrent writers do not interleave", func(t *testing.T) {
		big := make([]byte, 1<<20)
		for i := range big {
			big[i] = byte(i % 251)
		}
		small := []byte("0123456789")
		results := make(chan error, 2)
		srv := newHandlerServer(t, Options{}, func(c *Conn) {
			var wg sync.WaitGroup
			wg.Add(2)
			go func() { defer wg.Done(); results <- c.WriteMessage(OpBinary, big) }()
			go func() { defer wg.Done(); results <- c.WriteMessage(OpText, small) }()
			wg.Wait()
			c.Close(StatusNormal, "") // returns once the client has answered and closed
		})
		c := dial(t, srv, "/")
		var gotBig, gotSmall bool
		for range 2 {
			f, err := c.readMessage()
			switch {
			case err != nil:
				t.Fatalf("reading the two messages: %v", err)
			case f.op == OpBinary && bytes.Equal(f.payload, big) && !gotBig:
				gotBig = true
			case f.op == OpText && bytes.Equal(f.payload, small) && !gotSmall:
				gotSmall = true
			default:
				t.Fatalf("got %v, want the 1 MiB binary and the 10-byte text intact", f)
			}
		}
		for range 2 {
			if err := await(t, results); err != nil {
				t.Errorf("WriteMessage: %v", err)
			}
		}
		c.answerClose(StatusNormal, "")
	})
}

// TestAPIClose: the arguments Close refuses (S-67), and that nothing is
// sent after the Close, by WriteMessage or by a second Close (S-30, S-56,
// S-47).
func TestAPIClose(t *testing.T) {
	// S-67 (§7.4.1, §5.5): Close refuses codes a server may not send and
	// reasons that do not fit, but still closes the connection, with 1011.
	refused := []struct {
		name   string
		code   StatusCode
		reason string
	}{
		{"1005 is reported, never sent", StatusNoStatus, ""},
		{"1006 is reported, never sent", StatusAbnormal, ""},
		{"1015 is reported, never sent", 1015, ""},
		{"0 is not defined", 0, ""},
		{"999 is not defined", 999, ""},
		{"1004 is reserved", 1004, ""},
		{"1016 is not assigned", 1016, ""},
		{"5000 is not defined", 5000, ""},
		{"1010 is a client's code", StatusMissingExtension, ""},
		{"a reason of 124 bytes makes the frame too long", StatusNormal, strings.Repeat("*", 124)},
		{"a reason that is not UTF-8", StatusNormal, invalidAtByte12},
	}
	for _, tc := range refused {
		t.Run("S-67 Close refuses "+tc.name+", and closes with 1011", func(t *testing.T) {
			results := make(chan error, 1)
			srv := newHandlerServer(t, Options{}, func(c *Conn) { results <- c.Close(tc.code, tc.reason) })
			c := dial(t, srv, "/")
			c.answerClose(StatusInternalError, "")
			if err := await(t, results); err == nil || errors.Is(err, ErrClosed) {
				t.Fatalf("Close(%d, %d-byte reason) returned %v, want an error about its arguments", tc.code, len(tc.reason), err)
			}
		})
	}
	t.Run("S-67 Close sends a reason of 123 bytes", func(t *testing.T) {
		srv := newHandlerServer(t, Options{}, func(c *Conn) { c.Close(StatusNormal, strings.Repeat("*", 123)) })
		c := dial(t, srv, "/")
		c.expect(closeFrame(StatusNormal, strings.Repeat("*", 123)))
		c.send(closeFrame(StatusNormal, ""))
		c.expectEOF()
	})

	// S-30, S-56: once the Close is sent, WriteMessage fails with ErrClosed
	// and sends nothing, even while the closing handshake is under way.
	t.Run("S-30 S-56 nothing is sent after Close", func(t *testing.T) {
		results := make(chan error, 3)
		closeSeen := make(chan struct{})
		srv := newHandlerServer(t, Options{CloseTimeout: time.Hour}, func(c *Conn) {
			closed := make(chan error, 1)
			go func() { closed <- c.Close(StatusNormal, "bye") }()
			if !waitFor(closeSeen) {
				return
			}
			results <- c.WriteMessage(OpText, []byte("too late"))
			results <- c.Close(StatusGoingAway, "again")
			results <- <-closed
		})
		c := dial(t, srv, "/")
		c.expect(closeFrame(StatusNormal, "bye"))
		close(closeSeen) // the Close is on the wire; Close is waiting for ours
		if err := await(t, results); !errors.Is(err, ErrClosed) {
			t.Errorf("WriteMessage after Close: got %v, want ErrClosed", err)
		}
		// The second Close sends nothing, and waits for the same end as
		// the first: the client's answer, and then its end of the stream.
		c.send(closeFrame(StatusNormal, ""))
		c.expectEOF() // "too late" and "again" never arrived
		c.nc.Close()  // the server drains until the client closes too
		if err := await(t, results); !errors.Is(err, ErrClosed) {
			t.Errorf("a second Close: got %v, want ErrClosed", err)
		}
		if err := await(t, results); err != nil {
			t.Errorf("Close: %v", err)
		}
	})

	// S-47, S-30: the server's reply to the client's Close is the last
	// frame it sends, even while another goroutine keeps writing.
	t.Run("S-47 no data frame follows the Close reply", func(t *testing.T) {
		results := make(chan error, 2)
		srv := newHandlerServer(t, Options{}, func(c *Conn) {
			writer := make(chan error, 1)
			go func() {
				msg := repeatTo("w", 16<<10)
				for {
					if err := c.WriteMessage(OpText, msg); err != nil {
						writer <- err
						return
					}
				}
			}()
			_, _, err := c.ReadMessage()
			results <- err
			results <- <-writer
		})
		c := dial(t, srv, "/")
		c.expect(text(strings.Repeat("w", 16<<10)))
		c.send(closeFrame(StatusNormal, ""))
		for {
			f, err := c.readFrame()
			if err != nil {
				t.Fatalf("waiting for the Close reply: %v", err)
			}
			if f.op == OpClose {
				if closeCode(f) != StatusNormal {
					t.Fatalf("got Close %d, want 1000", closeCode(f))
				}
				break
			}
			if f.op != OpText {
				t.Fatalf("got %v before the Close reply", f)
			}
		}
		c.expectEOF()
		c.nc.Close()
		var closeErr *CloseError
		if err := await(t, results); !errors.As(err, &closeErr) || closeErr.Code != StatusNormal {
			t.Errorf("ReadMessage: got %v, want CloseError 1000", err)
		}
		if err := await(t, results); !errors.Is(err, ErrClosed) {
			t.Errorf("the writer: got %v, want ErrClosed", err)
		}
	})
}

// TestAPIReadMessage: how ReadMessage reports the end of a connection,
// the peer's Close (S-63) or the server failing it (S-65), and that a
// failure is logged once (S-64).
func TestAPIReadMessage(t *testing.T) {
	// S-63: ReadMessage reports the peer's Close (§7.1.5, §7.1.6): its code
	// and reason; 1005 for an empty body; 1006 if TCP ended without one.
	// Every later call reports the same.
	peerCloses := []struct {
		name       string
		end        func(c *testClient)
		wantCode   StatusCode
		wantReason string
	}{
		{"S-63 an empty Close is 1005", func(c *testClient) {
			c.send(frame{fin: true, op: OpClose}) // 88 00
			c.expectClose(StatusNormal)           // S-46: answered with 1000, never 1005
		}, StatusNoStatus, ""},
		{"S-63 88 03 0B B8 x is 3000 x", func(c *testClient) {
			c.send(closeFrame(3000, "x"))
			c.expectClose(3000)
		}, 3000, "x"},
		{"S-63 a FIN without a Close is 1006", func(c *testClient) {
			c.nc.(*net.TCPConn).CloseWrite()
			c.expectEOF()
		}, StatusAbnormal, ""},
		{"S-63 a FIN in the middle of a message is 1006", func(c *testClient) {
			b := c.encode(text("Hello"))
			c.write(b[:len(b)-2])
			c.nc.(*net.TCPConn).CloseWrite()
			c.expectEOF()
		}, StatusAbnormal, ""},
		{"S-63 a reset is 1006", func(c *testClient) {
			c.nc.(*net.TCPConn).SetLinger(0) // close sends RST
			c.nc.Close()
		}, StatusAbnormal, ""},
	}
	for _, tc := range peerCloses {
		t.Run(tc.name, func(t *testing.T) {
			results := make(chan error, 2)
			srv := newHandlerServer(t, Options{}, func(c *Conn) {
				_, _, err := c.ReadMessage()
				results <- err
				_, _, again := c.ReadMessage()
				results <- again
			})
			c := dial(t, srv, "/")
			tc.end(c)
			c.nc.Close()
			err := await(t, results)
			var closeErr *CloseError
			if !errors.As(err, &closeErr) || closeErr.Code != tc.wantCode || closeErr.Reason != tc.wantReason {
				t.Fatalf("ReadMessage: got %v, want CloseError{%d, %q}", err, tc.wantCode, tc.wantReason)
			}
			if again := await(t, results); again != err {
				t.Errorf("the next ReadMessage: got %v, want the same error again", again)
			}
		})
	}

	// S-65, S-64: once the server fails the connection (§7.1.7), it
	// processes nothing more: the text and the ping that follow the bad
	// frame in the same write get no echo and no pong; the Close and FIN
	// come without waiting for the client's Close (CloseTimeout is longer
	// than the client's deadline). ReadMessage returns a ProtocolError with
	// the code that was sent (S-69).
	failures := []struct {
		name string
		bad  frame
		want StatusCode
	}{
		{"S-65 RSV bits: 1002", frame{fin: true, rsv: 4, op: OpText, payload: []byte("Hello")}, StatusProtocolError}, // m(C1 05 "Hello")
		{"S-65 invalid UTF-8: 1007", text(invalidAtByte12), StatusInvalidData},
		{"S-65 too big: 1009", binaryFrame(make([]byte, 1025)), StatusTooBig},
	}
	for _, tc := range failures {
		t.Run(tc.name, func(t *testing.T) {
			results := make(chan error, 1)
			srv := newHandlerServer(t, Options{MaxMessage: 1024, CloseTimeout: time.Minute}, func(c *Conn) {
				_, _, err := c.ReadMessage()
				results <- err
			})
			c := dial(t, srv, "/")
			c.send(tc.bad, text("x"), ping(""))
			c.expectClose(tc.want)
			c.nc.Close()
			var protoErr *ProtocolError
			if err := await(t, results); !errors.As(err, &protoErr) || protoErr.Code != tc.want {
				t.Fatalf("ReadMessage: got %v, want a ProtocolError with code %d", err, tc.want)
			}
		})
	}

	// S-64: the application logs a failed connection (§7.1.7 SHOULD), once,
	// as a warning with the code.
	t.Run("S-64 a failed connection is logged once", func(t *testing.T) {
		logs := &recordingHandler{}
		s := newServer(slog.New(logs), Options{})
		srv := httptest.NewServer(s.routes())
		defer srv.Close()
		c := dial(t, srv, "/echo")
		c.send(frame{fin: true, op: 0x3}) // a reserved opcode (§5.2)
		c.expectClose(StatusProtocolError)
		c.nc.Close()
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		if !s.wait(ctx) {
			t.Fatal("the connection handler did not return")
		}
		var warnings []string
		for _, r := range logs.all() {
			if r.Level == slog.LevelWarn {
				warnings = append(warnings, fmt.Sprintf("%s code=%v", r.Message, attr(r, "code")))
			}
		}
		if len(warnings) != 1 || warnings[0] != "websocket closed code=1002" {
			t.Errorf("warnings logged: %q, want one: websocket closed code=1002", warnings)
		}
	})
}

// Options: zero or negative means the default; none can make every read
// time out, or every message too big.
func TestOptionDefaults(t *testing.T) {
	nc := &scriptedConn{in: bytes.NewReader(nil)}
	c := newConn(nc, bufio.NewReader(nc), "", &Options{MaxMessage: -1, IdleTimeout: -time.Second, CloseTimeout: -1})
	if c.maxMessage != 1<<20 || c.idleTimeout != time.Minute || c.closeTimeout != 5*time.Second {
		t.Fatalf("got limit %d, idle %v, close %v; want the defaults", c.maxMessage, c.idleTimeout, c.closeTimeout)
	}
}

// maskByByte is §5.3 written as the RFC writes it, one octet at a time: the
// reference that maskBytes, a word at a time, must agree with.
func maskByByte(key [4]byte, pos int, p []byte) int {
	for i := range p {
		p[i] ^= key[(pos+i)%4]
	}
	return (pos + len(p)) % 4
}

// §5.3: maskBytes agrees with the octet-at-a-time definition for every
// length around its 8- and 32-byte strides and every starting key position,
// and masking in two calls equals masking in one (the key position carries
// across reads, S-37).
func TestMask(t *testing.T) {
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	for n := range 100 {
		for pos := range 4 {
			want := make([]byte, n)
			for i := range want {
				want[i] = byte(i * 7)
			}
			got := bytes.Clone(want)
			wantPos := maskByByte(key, pos, want)
			if gotPos := maskBytes(key, pos, got); gotPos != wantPos || !bytes.Equal(got, want) {
				t.Fatalf("len %d pos %d: got % x (next %d), want % x (next %d)", n, pos, got, gotPos, want, wantPos)
			}
			split := bytes.Clone(got)
			next := maskBytes(key, pos, split[:n/3])
			maskBytes(key, next, split[n/3:])
			maskByByte(key, pos, want) // masking twice restores the original
			if !bytes.Equal(split, want) {
				t.Fatalf("len %d pos %d: masking in two calls does not undo the mask", n, pos)
			}
		}
	}
}

// §5.3, §5.7: the RFC's example, "Hello" masked with 37 fa 21 3d.
func TestMaskExample(t *testing.T) {
	p := []byte{0x7f, 0x9f, 0x4d, 0x51, 0x58}
	maskBytes([4]byte{0x37, 0xfa, 0x21, 0x3d}, 0, p)
	if string(p) != "Hello" {
		t.Fatalf("got %q", p)
	}
}

// §1.3, §4.2.2: the accept value of the RFC's example key.
func TestAcceptKey(t *testing.T) {
	if got := acceptKey("dGhlIHNhbXBsZSBub25jZQ=="); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("got %q", got)
	}
}

// §5.6, §8.1: text checked as it arrives. A code point cut off at the end
// is not an error yet; a sequence that no continuation could make valid is.
func TestValidUTF8Prefix(t *testing.T) {
	tests := []struct {
		in       string
		complete int
		ok       bool
	}{
		{"", 0, true},
		{"Hello", 5, true},
		{"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", 11, true}, // κόσμε, as Autobahn spells it
		{"κ\xcf", 2, true},             // ό cut after its first byte
		{"\xe2\x82", 0, true},          // € cut after two bytes
		{"a\xf0\x9f\x98", 1, true},     // 😀 cut after three bytes
		{"\xf4\x90", 2, false},         // above U+10FFFF: can never be completed
		{"\xed\xa0", 2, false},         // a UTF-16 surrogate
		{"\xe0\x80", 2, false},         // overlong
		{"\xc0\xaf", 2, false},         // overlong '/'
		{"\xff", 1, false},             // never valid
		{"a\x80", 2, false},            // a continuation byte with no start
		{"\xe2\x82\xac\x80", 4, false}, // € then a stray continuation
		{"ok\xce\xba\xe1", 4, true},    // κ complete, then a start byte
	}
	for _, tt := range tests {
		complete, ok := validUTF8Prefix([]byte(tt.in))
		if ok != tt.ok || ok && complete != tt.complete {
			t.Errorf("validUTF8Prefix(%q) = %d, %v; want %d, %v", tt.in, complete, ok, tt.complete, tt.ok)
		}
	}
}

// S-73, §10.4: a header that announces a large payload costs nothing until
// the payload arrives. The peer announces up to 2^63-1 bytes, the largest
// length §5.2 allows, sends 100 bytes and vanishes: the reader must not
// have allocated anywhere near what was announced, whether the limit lets
// the frame in (1006 when the peer vanishes) or refuses it (1009).
func TestAnnouncedLengthIsNotAllocated(t *testing.T) {
	tests := []struct {
		name       string
		announced  uint64
		maxMessage int64
		want       StatusCode
	}{
		{"16 MiB under a 32 MiB limit", 16 << 20, 32 << 20, StatusAbnormal},
		{"2^63-1 bytes under no limit", math.MaxInt64, math.MaxInt64, StatusAbnormal},
		{"2^63-1 bytes over the default limit", math.MaxInt64, 0, StatusTooBig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			header := binary.BigEndian.AppendUint64([]byte{0x82, 0xFF}, tt.announced) // binary, masked, 64-bit length
			header = append(header, 1, 2, 3, 4)                                       // the masking key
			nc := &scriptedConn{in: bytes.NewReader(append(header, make([]byte, 100)...))}
			c := newConn(nc, bufio.NewReader(nc), "", &Options{MaxMessage: tt.maxMessage})

			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, _, err := c.ReadMessage()
			runtime.ReadMemStats(&after)

			var protoErr *ProtocolError
			if !isClose(err, tt.want) && !(errors.As(err, &protoErr) && protoErr.Code == tt.want) {
				t.Fatalf("got %v, want the connection ended with %d", err, tt.want)
			}
			if allocated := after.TotalAlloc - before.TotalAlloc; allocated > 1<<20 {
				t.Fatalf("reading 100 bytes of an announced %d allocated %d bytes", tt.announced, allocated)
			}
		})
	}
}

// FuzzReadMessage feeds the frame reader arbitrary bytes from a client.
// Whatever arrives, the reader must end (no hang, no panic), and everything
// the server sends must be well-formed frames: echoes, pongs, and at most
// one Close, last, whose code is one a server may send.
func FuzzReadMessage(f *testing.F) {
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	for _, seed := range [][]frame{
		{text("Hello")},
		{fragment(true, false, text("Hel")), ping("p"), fragment(false, true, text("lo"))},
		{text("κόσμε\xed\xa0\x80edited")},
		{closeFrame(StatusNormal, "bye")},
		{{fin: true, op: OpClose, payload: []byte{0x03}}},
		{{fin: true, rsv: 4, op: OpText, payload: []byte("x")}},
		{{fin: false, op: OpPing}},
		{binaryFrame(make([]byte, 300))},
	} {
		var b []byte
		for _, fr := range seed {
			b = append(b, encode(fr, key)...)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		nc := &scriptedConn{in: bytes.NewReader(in)}
		// Limits small enough for short inputs to reach them.
		c := newConn(nc, bufio.NewReader(nc), "", &Options{MaxMessage: 1 << 16, MaxFragments: 64})
		var buf []byte
		for range len(in) + 1 { // every message needs at least one byte
			var err error
			var op Opcode
			if op, buf, err = c.AppendMessage(buf[:0]); err != nil {
				break
			}
			c.WriteMessage(op, buf)
		}
		checkServerFrames(t, nc.out.Bytes())
	})
}

// checkServerFrames parses what a server sent and checks each frame.
func checkServerFrames(t *testing.T, out []byte) {
	r := bufio.NewReader(bytes.NewReader(out))
	c := &testClient{t: t, nc: nopDeadlines{}, br: r}
	sawClose := false
	for {
		f, err := c.readFrame()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("server output is not whole frames: %v", err)
		}
		switch {
		case sawClose:
			t.Fatalf("frame %v after the Close", f)
		case f.op == OpClose:
			sawClose = true
			if code := closeCode(f); len(f.payload) > 0 && !code.maySend(false) {
				t.Fatalf("server sent close code %d", code)
			}
		case f.op == OpText && !utf8.Valid(f.payload):
			t.Fatalf("server sent invalid UTF-8 as text")
		}
	}
}

// Masking a word at a time against the RFC's octet at a time.
func BenchmarkMask(b *testing.B) {
	key := [4]byte{1, 2, 3, 4}
	for _, size := range []int{16, 128, 4 << 10, 64 << 10} {
		p := make([]byte, size)
		b.Run(sizeName(size)+"/word", func(b *testing.B) {
			b.SetBytes(int64(size))
			for b.Loop() {
				maskBytes(key, 1, p)
			}
		})
		b.Run(sizeName(size)+"/byte", func(b *testing.B) {
			b.SetBytes(int64(size))
			for b.Loop() {
				maskByByte(key, 1, p)
			}
		})
	}
}

// BenchmarkEcho measures the server's side of one echo: a Conn reads a
// message with AppendMessage and writes it back with WriteMessage, over a
// real loopback TCP connection. The client side writes a prepared frame and
// reads the echo into a fixed buffer, so allocations per op are the
// server's: there should be none.
func BenchmarkEcho(b *testing.B) {
	for _, tt := range []struct {
		op   Opcode
		size int
	}{{OpText, 16}, {OpText, 128}, {OpBinary, 4 << 10}, {OpBinary, 64 << 10}, {OpBinary, 1 << 20}} {
		b.Run(sizeName(tt.size), func(b *testing.B) {
			client, server := tcpPair(b)
			c := newConn(server, bufio.NewReader(server), "", &Options{MaxMessage: 16 << 20})
			done := make(chan error, 1)
			go func() { done <- echo(c) }()

			request := encode(frame{fin: true, op: tt.op, payload: bytes.Repeat([]byte("x"), tt.size)}, [4]byte{1, 2, 3, 4})
			reply := make([]byte, tt.size+10)
			replyLen := tt.size + 2
			switch {
			case tt.size > 0xFFFF:
				replyLen += 8
			case tt.size > 125:
				replyLen += 2
			}
			b.SetBytes(int64(tt.size))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := client.Write(request); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(client, reply[:replyLen]); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			client.Write(encode(closeFrame(StatusNormal, ""), [4]byte{}))
			if err := <-done; !isClose(err, StatusNormal) {
				b.Fatalf("echo ended with %v", err)
			}
		})
	}
}

func isClose(err error, code StatusCode) bool {
	var ce *CloseError
	return errors.As(err, &ce) && ce.Code == code
}

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(tb testing.TB) (client, server net.Conn) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// A scriptedConn is a peer that has already sent everything it will ever
// send: reads come from in, then EOF; writes go to out.
type scriptedConn struct {
	nopConn
	in  *bytes.Reader
	out bytes.Buffer
}

func (c *scriptedConn) Read(p []byte) (int, error) { return c.in.Read(p) }

func (c *scriptedConn) Write(p []byte) (int, error) { return c.out.Write(p) }

// nopConn is the rest of a net.Conn, for a peer in memory that has only a
// Read and a Write of its own: closing does nothing, the addresses are
// empty, and deadlines never come, since nothing it does blocks.
type nopConn struct{}

func (nopConn) Close() error { return nil }

func (nopConn) LocalAddr() net.Addr { return &net.TCPAddr{} }

func (nopConn) RemoteAddr() net.Addr { return &net.TCPAddr{} }

func (nopConn) SetDeadline(time.Time) error { return nil }

func (nopConn) SetReadDeadline(time.Time) error { return nil }

func (nopConn) SetWriteDeadline(time.Time) error { return nil }

// nopDeadlines lets testClient.readFrame parse a recorded stream.
type nopDeadlines struct{ net.Conn }

func (nopDeadlines) SetReadDeadline(time.Time) error { return nil }

// sizeName names a size for a benchmark: 128B, 4KiB, 1MiB.
func sizeName(n int) string {
	switch {
	case n >= 1<<20:
		return strconv.Itoa(n>>20) + "MiB"
	case n >= 1<<10:
		return strconv.Itoa(n>>10) + "KiB"
	}
	return strconv.Itoa(n) + "B"
}

// OnFrame sees each frame as it crossed the wire: §5.7's masked "Hello"
// arrives as header 81 85, key 37 fa 21 3d and the bytes 7f 9f 4d 51 58,
// which unmask to "Hello"; the echo leaves as 81 05 and "Hello", unmasked.
func TestOnFrame(t *testing.T) {
	frames := make(chan Frame, 4)
	record := func(f Frame) {
		f.Header, f.Payload, f.Wire = bytes.Clone(f.Header), bytes.Clone(f.Payload), bytes.Clone(f.Wire)
		frames <- f
	}
	srv := newHandlerServer(t, Options{OnFrame: record}, func(c *Conn) { echo(c) })
	c := dial(t, srv, "/")
	c.write([]byte{0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58})
	c.expect(text("Hello"))

	in, out := await(t, frames), await(t, frames)
	wantIn := Frame{Header: []byte{0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d}, Fin: true, Opcode: OpText, Masked: true,
		Key: [4]byte{0x37, 0xfa, 0x21, 0x3d}, Length: 5, Payload: []byte("Hello"), Wire: []byte{0x7f, 0x9f, 0x4d, 0x51, 0x58}}
	wantOut := Frame{Sent: true, Header: []byte{0x81, 0x05}, Fin: true, Opcode: OpText, Length: 5, Payload: []byte("Hello"), Wire: []byte("Hello")}
	for _, tc := range []struct{ got, want Frame }{{in, wantIn}, {out, wantOut}} {
		if fmt.Sprint(tc.got) != fmt.Sprint(tc.want) {
			t.Errorf("OnFrame saw\n%+v\nwant\n%+v", tc.got, tc.want)
		}
	}
	c.closeHandshake()
}

// QueueMessage's promise (§6.1, S-57): queued frames leave together, in
// one write, and no later than when the reader has to wait for the
// network, so an answer never waits for the peer's next message.
func TestQueueMessage(t *testing.T) {
	t.Run("queued frames leave in one write", func(t *testing.T) {
		nc := &countingConn{scriptedConn: scriptedConn{in: bytes.NewReader(nil)}}
		c := newConn(nc, bufio.NewReader(nc), "", &Options{})
		for _, m := range []string{"one", "two", "three"} {
			if err := c.QueueMessage(OpText, []byte(m)); err != nil {
				t.Fatal(err)
			}
		}
		if nc.writes != 0 {
			t.Fatalf("%d writes before Flush, want 0", nc.writes)
		}
		if err := c.Flush(); err != nil {
			t.Fatal(err)
		}
		want := []byte("\x81\x03one\x81\x03two\x81\x05three")
		if nc.writes != 1 || !bytes.Equal(nc.out.Bytes(), want) {
			t.Fatalf("%d writes of % x, want 1 of % x", nc.writes, nc.out.Bytes(), want)
		}
	})
	t.Run("the reader sends the queue before it waits", func(t *testing.T) {
		srv := newHandlerServer(t, Options{}, func(c *Conn) {
			c.QueueMessage(OpText, []byte("queued"))
			c.ReadMessage() // waits for the client, who waits for "queued"
		})
		c := dial(t, srv, "/")
		c.expect(text("queued"))
		c.closeHandshake()
	})
	t.Run("Close sends the queue first", func(t *testing.T) {
		srv := newHandlerServer(t, Options{}, func(c *Conn) {
			c.QueueMessage(OpText, []byte("last words"))
			c.Close(StatusNormal, "")
		})
		c := dial(t, srv, "/")
		c.expect(text("last words"))
		c.answerClose(StatusNormal, "")
	})
}

// A countingConn counts the writes made to it.
type countingConn struct {
	scriptedConn
	writes int
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes++
	return c.scriptedConn.Write(p)
}

// BenchmarkReadMessage measures the reader alone: one masked frame, again
// and again, from memory (a loopConn), read with AppendMessage into a
// reused buffer, so what is left is parsing, unmasking and, for text, the
// UTF-8 check. Steady state allocates nothing.
func BenchmarkReadMessage(b *testing.B) {
	for _, op := range []Opcode{OpText, OpBinary} {
		for _, size := range []int{16, 128, 4 << 10, 64 << 10} {
			b.Run(opName(op)+"/"+sizeName(size), func(b *testing.B) {
				frame := encode(frame{fin: true, op: op, payload: bytes.Repeat([]byte("x"), size)}, [4]byte{1, 2, 3, 4})
				nc := &loopConn{frame: frame}
				c := newConn(nc, bufio.NewReader(nc), "", &Options{})
				var buf []byte
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					var err error
					if _, buf, err = c.AppendMessage(buf[:0]); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkWriteMessage measures the writer alone, into a connection that
// discards: the header, the copy into the pooled buffer for small frames,
// writev for large ones. Steady state allocates nothing.
func BenchmarkWriteMessage(b *testing.B) {
	for _, size := range []int{16, 128, 4 << 10, 64 << 10} {
		p := bytes.Repeat([]byte("x"), size)
		b.Run(sizeName(size), func(b *testing.B) {
			nc := &loopConn{}
			c := newConn(nc, bufio.NewReader(nc), "", &Options{})
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if err := c.WriteMessage(OpBinary, p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkUTF8 measures the streaming UTF-8 check against the standard
// library's, on ASCII and on Greek text: the price of checking text as it
// arrives (§8.1) over checking it once.
func BenchmarkUTF8(b *testing.B) {
	for _, tt := range []struct {
		name string
		text []byte
	}{
		{"ASCII", bytes.Repeat([]byte("Hello, world! "), 300)},
		{"Greek", bytes.Repeat([]byte(kosme+" "), 350)},
	} {
		b.Run(tt.name+"/validUTF8Prefix", func(b *testing.B) {
			b.SetBytes(int64(len(tt.text)))
			for b.Loop() {
				if _, ok := validUTF8Prefix(tt.text); !ok {
					b.Fatal("invalid")
				}
			}
		})
		b.Run(tt.name+"/utf8.Valid", func(b *testing.B) {
			b.SetBytes(int64(len(tt.text)))
			for b.Loop() {
				if !utf8.Valid(tt.text) {
					b.Fatal("invalid")
				}
			}
		})
	}
}

// BenchmarkHandshake measures one opening handshake over loopback, from
// the client's request to the server's 101, and the TCP connection's end.
func BenchmarkHandshake(b *testing.B) {
	srv := newTestServer(b, Options{})
	request := []byte(handshakeRequest(srv.Listener.Addr().String(), "/echo"))
	b.ReportAllocs()
	for b.Loop() {
		nc, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		nc.Write(request)
		resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
		if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
			b.Fatalf("%v %v", resp, err)
		}
		nc.Close()
	}
}

// A loopConn is a peer in memory: its reads return frame over and over,
// and what is written to it is discarded.
type loopConn struct {
	nopConn
	frame []byte
	off   int
}

func (c *loopConn) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m := copy(p[n:], c.frame[c.off:])
		n += m
		c.off = (c.off + m) % len(c.frame)
	}
	return n, nil
}

func (c *loopConn) Write(p []byte) (int, error) { return len(p), nil }

// An idle connection holds no read buffer: it borrows one while frames
// arrive, and gives it back once nothing is left in it, so that ten
// thousand idle connections do not hold ten thousand buffers.
func TestIdleConnectionHoldsNoBuffer(t *testing.T) {
	key := [4]byte{1, 2, 3, 4}
	in := append(encode(text("one"), key), encode(binaryFrame(make([]byte, 1000)), key)...)
	nc := &scriptedConn{in: bytes.NewReader(in)}
	c := newConn(nc, bufio.NewReader(nc), "", &Options{})
	if c.br != nil {
		t.Fatal("a new connection holds a read buffer")
	}
	if _, _, err := c.ReadMessage(); err != nil {
		t.Fatal(err)
	}
	if c.br == nil {
		t.Fatal("the buffer was given back with a frame still in it")
	}
	if _, msg, err := c.ReadMessage(); err != nil || len(msg) != 1000 {
		t.Fatalf("second message: %d bytes, %v", len(msg), err)
	}
	if c.br != nil {
		t.Fatal("the connection holds a read buffer with nothing in it")
	}
}

// TestIdleWait: an idle connection waits in awaitFrame, called by
// AppendMessage itself, and not deep in the frame reader: before its
// first message, after a message, and after control frames between
// messages, a pong to this end's keepalive ping above all. Waiting there,
// it holds no read buffer, and its goroutine waits shallow enough to keep
// a 2 KiB stack (BENCHMARKS.md, "Memory").
func TestIdleWait(t *testing.T) {
	key := [4]byte{1, 2, 3, 4}
	peer, nc := net.Pipe()
	defer peer.Close()
	peer.SetWriteDeadline(time.Now().Add(testTimeout))
	c := newConn(nc, bufio.NewReader(nc), "", &Options{})
	messages := make(chan string)
	go func() {
		defer close(messages)
		for {
			_, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			messages <- string(msg)
		}
	}()
	go io.Copy(io.Discard, peer) // the pong that answers the ping
	for _, tt := range []struct {
		name string
		send []frame
	}{
		{"before the first message", nil},
		{"after a message", []frame{text("one")}},
		{"after a pong", []frame{pong("")}},
		{"after a ping", []frame{ping("are you there")}},
		{"after a message in fragments with a ping between", []frame{
			{op: OpText, payload: []byte("tw")}, ping(""), {fin: true, op: OpContinuation, payload: []byte("o")}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, f := range tt.send {
				if _, err := peer.Write(encode(f, key)); err != nil {
					t.Fatal(err)
				}
				if f.fin && !f.op.IsControl() {
					select {
					case <-messages:
					case <-time.After(testTimeout):
						t.Fatal("the message did not arrive")
					}
				}
			}
			waitIdle(t, "(*Conn).AppendMessage(")
		})
	}
}

// waitIdle waits until the goroutine that runs in the function named in
// is blocked on the network in awaitFrame, called from AppendMessage, and
// fails with its stack if it is blocked anywhere else. Where a goroutine
// waits, the runtime says only when asked: this polls (poll).
func waitIdle(t *testing.T, in string) {
	t.Helper()
	var elsewhere string // the goroutine's stack, blocked elsewhere
	buf := make([]byte, 1<<20)
	if poll(func() bool {
		var idle bool
		idle, elsewhere = blockedIdle(string(buf[:runtime.Stack(buf, true)]), in)
		return idle
	}) {
		return
	}
	if elsewhere == "" {
		t.Fatal("no goroutine in " + in)
	}
	t.Fatalf("the idle connection waits elsewhere:\n%s", elsewhere)
}

// blockedIdle looks in stacks, the dump of every goroutine, for one that
// runs in the function named in and is blocked: idle if it waits in
// timedReader.Read, called by awaitFrame, called by AppendMessage; if not,
// its stack.
func blockedIdle(stacks, in string) (idle bool, elsewhere string) {
	shape := []string{"(*timedReader).Read(", "(*Conn).awaitFrame(", "(*Conn).AppendMessage("}
	for _, g := range strings.Split(stacks, "\n\n") {
		if !strings.Contains(g, in) || strings.Contains(g, "[running]") || strings.Contains(g, "[runnable]") {
			continue
		}
		// Callees come first: after timedReader.Read, only awaitFrame,
		// and then AppendMessage.
		var calls []string
		for _, line := range strings.Split(g, "\n") {
			if i := strings.Index(line, "(*"); i >= 0 && !strings.HasPrefix(line, "\t") {
				calls = append(calls, line[i:])
			}
		}
		i := slices.IndexFunc(calls, func(call string) bool { return strings.HasPrefix(call, shape[0]) })
		if i >= 0 && i+len(shape) <= len(calls) && strings.HasPrefix(calls[i+1], shape[1]) && strings.HasPrefix(calls[i+2], shape[2]) {
			return true, ""
		}
		elsewhere = g
	}
	return false, elsewhere
}

// TestReaderPanic: a panic in the reader, a bug in ws.go or in OnFrame,
// ends the connection, not the program: ReadMessage returns it as an
// error, and so does every later call, at once; Close returns; and the
// slot of reading is free again.
func TestReaderPanic(t *testing.T) {
	key := [4]byte{1, 2, 3, 4}
	for _, tt := range []struct {
		name string
		f    frame
	}{{"in a message", text("one")}, {"in a ping", ping("")}} {
		t.Run(tt.name, func(t *testing.T) {
			peer, nc := net.Pipe()
			defer peer.Close()
			go io.Copy(io.Discard, peer)
			panics := func(f Frame) {
				if !f.Sent {
					panic("a bug")
				}
			}
			// The idle timeout bounds the first read, should the panic
			// not end it.
			c := newConn(nc, bufio.NewReader(nc), "", &Options{OnFrame: panics, IdleTimeout: testTimeout})
			go peer.Write(encode(tt.f, key))
			_, _, err := c.ReadMessage()
			if err == nil || !strings.Contains(err.Error(), "bug in the reader: a bug") {
				t.Fatalf("ReadMessage: %v, want the panic as an error", err)
			}
			// Checked first: every call below would wait for the slot.
			if !c.reading.TryLock() {
				t.Fatal("the slot of reading was not given back")
			}
			c.reading.Unlock()
			if _, _, again := c.ReadMessage(); again != err {
				t.Fatalf("the next ReadMessage: %v, want the same error", again)
			}
			closed := make(chan error)
			go func() { closed <- c.Close(StatusNormal, "") }()
			select {
			case <-closed:
			case <-time.After(testTimeout):
				t.Fatal("Close did not return")
			}
		})
	}
}

// TestConcurrency: any number of goroutines may call WriteMessage and
// Close on one Conn at once (run it with -race), and Close never waits on
// the peer longer than the close timeout, whatever the other goroutines
// are blocked in (§7.1.1, §7.1.2, S-62).
func TestConcurrency(t *testing.T) {
	t.Run("S-42 S-30 writers and closers at once", func(t *testing.T) {
		const writers, messages, closers = 32, 40, 4
		type result struct {
			writer int
			sent   int   // messages WriteMessage accepted
			err    error // what ended the writer
		}
		results := make(chan result, writers)
		closes := make(chan error, closers)
		closeNow := make(chan struct{}) // once messages are flowing
		srv := newHandlerServer(t, Options{}, func(c *Conn) {
			start := make(chan struct{})
			var wg sync.WaitGroup
			wg.Add(writers + closers)
			for w := range writers {
				go func() {
					defer wg.Done()
					<-start
					r := result{writer: w}
					for ; r.sent < messages; r.sent++ {
						if r.err = c.WriteMessage(OpBinary, concurrentMessage(w, r.sent)); r.err != nil {
							break
						}
					}
					results <- r
				}()
			}
			for range closers {
				go func() {
					defer wg.Done()
					waitFor(closeNow)
					closes <- c.Close(StatusNormal, "")
				}()
			}
			close(start)
			wg.Wait()
		})
		c := dial(t, srv, "/")
		// Every message arrives whole, each writer's in the order written;
		// then one Close, and nothing after it.
		received, total := make([]int, writers), 0
		for {
			f, err := c.readFrame()
			if err != nil {
				t.Fatalf("after %v messages: %v", received, err)
			}
			if f.op == OpClose {
				if closeCode(f) != StatusNormal {
					t.Fatalf("got Close %d, want 1000", closeCode(f))
				}
				break
			}
			w, seq, ok := parseConcurrentMessage(f)
			if !ok || seq != received[w] {
				t.Fatalf("got %v, want message %d of a writer, whole", f, received[min(w, writers-1)])
			}
			received[w]++
			if total++; total == writers*messages/4 {
				close(closeNow)
			}
		}
		t.Logf("%d of %d messages sent before the Close", total, writers*messages)
		c.send(closeFrame(StatusNormal, ""))
		c.expectEOF()
		c.nc.Close()
		// One Close sent the frame; the others waited for the same end.
		var sent int
		for range closers {
			switch err := await(t, closes); {
			case err == nil:
				sent++
			case !errors.Is(err, ErrClosed):
				t.Errorf("Close: %v, want nil or ErrClosed", err)
			}
		}
		if sent != 1 {
			t.Errorf("%d Close calls sent the Close frame, want 1", sent)
		}
		// A write the peer did not get was refused: ErrClosed, never lost.
		for range writers {
			r := await(t, results)
			if r.sent != received[r.writer] {
				t.Errorf("writer %d: WriteMessage accepted %d messages, the peer got %d", r.writer, r.sent, received[r.writer])
			}
			if r.err != nil && !errors.Is(r.err, ErrClosed) {
				t.Errorf("writer %d: %v, want ErrClosed after the Close", r.writer, r.err)
			}
		}
	})

	// Close during a blocked read: the reader finishes the closing
	// handshake for it (§7.1.2), as soon as the peer answers; both return.
	// The timeouts are an hour: only the peer's answer can end the wait.
	t.Run("S-62 Close during a blocked read returns once the peer answers", func(t *testing.T) {
		t.Parallel()
		closed, read := make(chan error, 1), make(chan error, 2)
		srv := newHandlerServer(t, Options{IdleTimeout: time.Hour, CloseTimeout: time.Hour}, func(c *Conn) {
			go func() {
				for {
					if _, _, err := c.ReadMessage(); err != nil {
						read <- err
						return
					}
					read <- nil
				}
			}()
			if await(t, read) == nil { // the reader is back in ReadMessage, or about to be
				closed <- c.Close(StatusGoingAway, "bye")
			}
		})
		c := dial(t, srv, "/")
		c.send(text("hello"))
		c.readClose(StatusGoingAway)
		c.send(closeFrame(StatusGoingAway, ""))
		c.expectEOF()
		c.nc.Close()
		if err := await(t, closed); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := await(t, read); !isClose(err, StatusGoingAway) {
			t.Errorf("the blocked ReadMessage: %v, want the peer's Close 1001", err)
		}
	})
	t.Run("S-62 Close during a blocked read, the peer silent, returns after the close timeout", func(t *testing.T) {
		t.Parallel()
		closed, read := make(chan error, 1), make(chan error, 2)
		srv := newHandlerServer(t, Options{IdleTimeout: time.Hour, CloseTimeout: 100 * time.Millisecond}, func(c *Conn) {
			go func() {
				_, _, err := c.ReadMessage()
				read <- err
			}()
			closed <- c.Close(StatusGoingAway, "bye")
		})
		c := dial(t, srv, "/")
		c.readClose(StatusGoingAway) // and no answer
		await(t, closed)
		if err := await(t, read); !isClose(err, StatusAbnormal) {
			t.Errorf("the blocked ReadMessage: %v, want 1006", err)
		}
		c.nc.Close()
	})

	// Close during a blocked write: the peer reads nothing, so a 32 MiB
	// message fills both sockets' buffers and WriteMessage blocks. Close
	// gives that write the close timeout, not the hour of IdleTimeout.
	t.Run("Close during a blocked write returns after the close timeout", func(t *testing.T) {
		t.Parallel()
		client, server := tcpPair(t)
		nc := &watchedConn{Conn: server, writing: make(chan struct{})}
		c := newConn(nc, bufio.NewReader(nc), "", &Options{IdleTimeout: time.Hour, CloseTimeout: 100 * time.Millisecond})
		written, closed := make(chan error, 1), make(chan error, 1)
		go func() { written <- c.WriteMessage(OpBinary, make([]byte, 32<<20)) }()
		await(t, nc.writing) // its write deadline is set: the write has begun
		go func() { closed <- c.Close(StatusGoingAway, "") }()
		if err := await(t, closed); err != nil && !errors.Is(err, ErrClosed) {
			t.Errorf("Close: %v", err)
		}
		if err := await(t, written); !isClose(err, StatusAbnormal) {
			t.Errorf("the blocked WriteMessage: %v, want the connection lost (1006)", err)
		}
		client.Close()
	})

	// The same, with Close called a moment earlier: the writer holds the
	// write lock but its write deadline is not yet in force. The
	// connection holds the writer inside its SetWriteDeadline until Close
	// has set its own, so the writer's idle timeout, an hour, lands over
	// Close's deadline, and Close, waiting for the lock, would wait the
	// hour: Close must bound every write that begins before its Close
	// frame, not only one already on the wire.
	t.Run("Close just before a write blocks returns after the close timeout", func(t *testing.T) {
		client, server := tcpPair(t)
		nc := &pausingConn{Conn: server, paused: make(chan struct{}), resume: make(chan struct{})}
		inFrame := nc.paused
		c := newConn(nc, bufio.NewReader(nc), "", &Options{IdleTimeout: time.Hour, CloseTimeout: 100 * time.Millisecond})
		written, closed := make(chan error, 1), make(chan error, 1)
		go func() { written <- c.WriteMessage(OpBinary, make([]byte, 32<<20)) }()
		await(t, inFrame)
		go func() { closed <- c.Close(StatusGoingAway, "") }()
		timer := time.NewTimer(testTimeout)
		defer timer.Stop()
		select {
		case <-closed:
		case <-timer.C:
			t.Fatalf("Close has not returned %v after it was called, with a close timeout of 100ms: "+
				"the writer it waits for set its write deadline to IdleTimeout after Close set it to the close timeout", testTimeout)
		}
		if err := await(t, written); !isClose(err, StatusAbnormal) {
			t.Errorf("the blocked WriteMessage: %v, want the connection lost (1006)", err)
		}
		client.Close()
	})
}

// A pausingConn holds its first SetWriteDeadline, the writer's, before it
// takes effect, until a second (Close's) has taken effect.
type pausingConn struct {
	net.Conn
	calls  atomic.Int32
	paused chan struct{} // closed once the first call waits
	resume chan struct{} // closed once the second call's deadline is set
}

func (c *pausingConn) SetWriteDeadline(t time.Time) error {
	switch c.calls.Add(1) {
	case 1:
		close(c.paused)
		waitFor(c.resume)
	case 2:
		defer close(c.resume)
	}
	return c.Conn.SetWriteDeadline(t)
}

// concurrentMessage is message seq of writer w: its numbers, then a
// pattern of a length that varies from a few bytes to more than 64 KiB
// (the three length forms of §5.2), so that an interleaved frame shows.
func concurrentMessage(w, seq int) []byte {
	msg := fmt.Appendf(nil, "%03d %05d ", w, seq)
	size := []int{0, 100, 1000, 70000}[(w+seq)%4]
	for i := range size {
		msg = append(msg, byte(w+i))
	}
	return msg
}

// parseConcurrentMessage undoes concurrentMessage, and reports whether f
// is one, whole.
func parseConcurrentMessage(f frame) (w, seq int, ok bool) {
	if f.op != OpBinary || len(f.payload) < 10 {
		return 0, 0, false
	}
	if _, err := fmt.Sscanf(string(f.payload[:10]), "%03d %05d ", &w, &seq); err != nil || w < 0 {
		return 0, 0, false
	}
	return w, seq, bytes.Equal(f.payload, concurrentMessage(w, seq))
}

// A watchedConn tells when a write begins: writing is closed at the first
// Write, which writeFrame calls only once it has set its write deadline.
type watchedConn struct {
	net.Conn
	once    sync.Once
	writing chan struct{}
}

func (c *watchedConn) Write(p []byte) (int, error) {
	c.once.Do(func() { close(c.writing) })
	return c.Conn.Write(p)
}

// FuzzHandshake sends arbitrary bytes to the application as main builds it
// (s.httpServer: the routes, the limits, the Host check of a loopback
// server), as what one client sends on one connection, and then ends the
// client's side of it. Whatever the bytes are (no request, a broken one,
// several in a row, a handshake with frames after it), the server must
// answer only with whole HTTP responses, a 101 only to a valid handshake
// for one of its WebSocket paths and with that request's accept key, then
// only well-formed frames; it must close the connection once the input
// ends; and it must neither panic nor leave a conversation running (S-01,
// S-25, S-26, S-74). A request cut short gets no answer: the server closes.
// The connection is in memory (memListener): no ports, and fast.
func FuzzHandshake(f *testing.F) {
	for _, seed := range []string{
		handshakeRequest("localhost", "/echo"),
		handshakeRequest("127.0.0.1:5000", "/websocket", "Origin: http://127.0.0.1:5000") + string(encode(text(`{"output": "hi"}`), [4]byte{1, 2, 3, 4})),
		handshakeRequest("[::1]:5000", "/echo") + string(encode(ping("p"), [4]byte{})) + string(encode(closeFrame(StatusNormal, ""), [4]byte{9, 8, 7, 6})),
		handshakeRequest("evil.example", "/echo"),
		"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n" + handshakeRequest("localhost", "/%65cho"),
	} {
		f.Add([]byte(seed))
	}

	ln := newMemListener()
	panics := &panicWatch{}
	s := newServer(slog.New(slog.DiscardHandler), Options{
		Hosts:      allowedHosts(ln.Addr(), nil),
		MaxMessage: 1 << 16,
		// Long timeouts: the input's end, not a timeout, must end every
		// connection, or the client's deadline calls it a hang.
		IdleTimeout: time.Hour, CloseTimeout: time.Hour,
	})
	s.maxConns, s.maxHeaderBytes = 4, 2048
	srv := s.httpServer(time.Hour)
	srv.ErrorLog = log.New(panics, "", 0) // net/http recovers a handler's panic, and logs it
	go srv.Serve(ln)
	f.Cleanup(func() { srv.Close() })

	f.Fuzz(func(t *testing.T, in []byte) {
		client := ln.dial()
		defer client.Close()
		client.Write(in)
		client.CloseWrite()
		client.SetReadDeadline(time.Now().Add(testTimeout))
		out, err := io.ReadAll(client)
		if err != nil {
			t.Fatalf("the server neither closed the connection nor answered within %v: %v (after %q)", testTimeout, err, out)
		}
		checkHTTPAnswers(t, in, out)

		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		if !s.wait(ctx) || s.openConns() != 0 {
			t.Fatalf("%d connections still counted %v after the connection closed", s.openConns(), testTimeout)
		}
		if p := panics.String(); p != "" {
			t.Fatalf("a handler panicked: %s", p)
		}
	})
}

// checkHTTPAnswers checks what a server answered, out, to what a client
// sent, in: one HTTP response to each request, in order, until the server
// closed the connection. A 101 must answer a valid handshake to /echo or
// /websocket with a loopback Host, with that request's accept key (§4.2.2,
// S-22 to S-26), and only well-formed frames may follow it.
func checkHTTPAnswers(t *testing.T, in, out []byte) {
	requests := bufio.NewReader(bytes.NewReader(in))
	answers := bufio.NewReader(bytes.NewReader(out))
	for {
		if _, err := answers.Peek(1); err == io.EOF {
			return // closed: after the last answer, or for a request cut short
		}
		// The request this answers, read by the parser net/http used; nil
		// if it cannot be read, and then the answer must refuse it.
		req, _ := http.ReadRequest(requests)
		resp, err := http.ReadResponse(answers, req)
		if err != nil {
			t.Fatalf("the answer is not an HTTP response: %v\n%q", err, out)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("the body of the %d answer: %v\n%q", resp.StatusCode, err, out)
		}
		switch {
		case resp.StatusCode == http.StatusSwitchingProtocols:
			checkAccepted(t, req, resp)
			rest, _ := answers.Peek(answers.Buffered())
			checkServerFrames(t, slices.Concat(body, rest))
			return
		case resp.StatusCode < 200 && resp.StatusCode != http.StatusContinue:
			t.Fatalf("answered %s", resp.Status)
		case req == nil && resp.StatusCode < 400:
			t.Fatalf("answered %s to a request that cannot be read", resp.Status)
		case resp.Close:
			// The server closes after this answer. (net/http's answers to
			// requests it refuses itself carry their text even for HEAD,
			// which is why what follows is not read as another answer.)
			return
		}
	}
}

// checkAccepted fails the test unless resp, a 101, accepts req, which must
// be a valid handshake this server accepts.
func checkAccepted(t *testing.T, req *http.Request, resp *http.Response) {
	if req == nil {
		t.Fatal("101 to a request that cannot be read")
	}
	host := req.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	key := req.Header.Values("Sec-WebSocket-Key")
	switch {
	case req.Method != http.MethodGet || !req.ProtoAtLeast(1, 1):
		t.Fatalf("101 to %s %s", req.Method, req.Proto)
	case req.URL.Path != "/echo" && req.URL.Path != "/websocket":
		t.Fatalf("101 to path %q", req.URL.Path)
	case !slices.Contains(loopbackHosts, strings.Trim(strings.ToLower(host), "[]")):
		t.Fatalf("101 to Host %q on a loopback server", req.Host)
	case len(key) != 1:
		t.Fatalf("101 to a request with %d keys", len(key))
	case resp.Header.Get("Sec-WebSocket-Accept") != acceptKey(strings.TrimSpace(key[0])):
		t.Fatalf("Sec-WebSocket-Accept %q for key %q", resp.Header.Get("Sec-WebSocket-Accept"), key[0])
	case !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") || !strings.EqualFold(resp.Header.Get("Connection"), "Upgrade"):
		t.Fatalf("101 without Upgrade: websocket and Connection: Upgrade: %v", resp.Header)
	case resp.Header.Get("Sec-WebSocket-Extensions") != "" || resp.Header.Get("Sec-WebSocket-Protocol") != "":
		t.Fatalf("101 with an extension or subprotocol nobody agreed to: %v", resp.Header)
	}
}

// A panicWatch is an http.Server's error log that keeps what it says of
// panics.
type panicWatch struct {
	mu    sync.Mutex
	panic strings.Builder
}

func (w *panicWatch) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte("panic")) {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.panic.Write(p)
	}
	return len(p), nil
}

func (w *panicWatch) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.panic.String()
}

// A memListener is a net.Listener of in-memory connections: dial returns
// the client's end of a new one. Unlike net.Pipe, they buffer what is
// written and can be half closed, as TCP can.
type memListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newMemListener() *memListener {
	return &memListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *memListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *memListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

// Addr is a loopback address: the server behind it guards its Host.
func (l *memListener) Addr() net.Addr { return memAddr }

var memAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 80}

func (l *memListener) dial() *memConn {
	toServer, toClient := newHalfPipe(), newHalfPipe()
	l.conns <- &memConn{in: toServer, out: toClient}
	return &memConn{in: toClient, out: toServer}
}

// A memConn is one end of an in-memory connection: it reads in and
// writes out, the halfPipes its peer writes and reads.
type memConn struct {
	in, out       *halfPipe
	mu            sync.Mutex
	writeDeadline time.Time
}

func (c *memConn) Read(p []byte) (int, error) { return c.in.read(p) }

func (c *memConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	deadline := c.writeDeadline
	c.mu.Unlock()
	if !deadline.IsZero() && !time.Now().Before(deadline) {
		return 0, os.ErrDeadlineExceeded
	}
	return c.out.write(p)
}

// CloseWrite ends what this end sends: the peer reads io.EOF, as after a
// TCP FIN.
func (c *memConn) CloseWrite() error { c.out.end(); return nil }

func (c *memConn) Close() error {
	c.out.end()
	c.in.abandon()
	return nil
}

func (c *memConn) LocalAddr() net.Addr { return memAddr }

func (c *memConn) RemoteAddr() net.Addr { return memAddr }

func (c *memConn) SetDeadline(t time.Time) error {
	c.SetReadDeadline(t)
	return c.SetWriteDeadline(t)
}

func (c *memConn) SetReadDeadline(t time.Time) error { c.in.setDeadline(t); return nil }

func (c *memConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writeDeadline = t
	return nil
}

// A halfPipe carries bytes one way. Writes never block; a read waits for
// bytes, the writer's end, the reader's close, or its deadline.
type halfPipe struct {
	mu        sync.Mutex
	buf       []byte
	ended     bool // the writer is done: io.EOF once buf is read
	abandoned bool // the reader closed: reads and writes fail
	deadline  time.Time
	changed   chan struct{} // closed, and replaced, at every change
}

func newHalfPipe() *halfPipe { return &halfPipe{changed: make(chan struct{})} }

// update changes the pipe under its lock and wakes a waiting reader.
func (p *halfPipe) update(change func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	change()
	close(p.changed)
	p.changed = make(chan struct{})
}

func (p *halfPipe) write(b []byte) (n int, err error) {
	p.update(func() {
		switch {
		case p.ended:
			err = net.ErrClosed
		case p.abandoned:
			err = io.ErrClosedPipe // the peer is gone: a reset, for TCP
		default:
			p.buf = append(p.buf, b...)
			n = len(b)
		}
	})
	return n, err
}

func (p *halfPipe) end() { p.update(func() { p.ended = true }) }

func (p *halfPipe) abandon() { p.update(func() { p.abandoned, p.buf = true, nil }) }

func (p *halfPipe) setDeadline(t time.Time) { p.update(func() { p.deadline = t }) }

func (p *halfPipe) read(b []byte) (int, error) {
	for {
		p.mu.Lock()
		changed, deadline := p.changed, p.deadline
		switch {
		case p.abandoned:
			p.mu.Unlock()
			return 0, net.ErrClosed
		case len(p.buf) > 0 || len(b) == 0:
			n := copy(b, p.buf)
			p.buf = p.buf[n:]
			p.mu.Unlock()
			return n, nil
		case p.ended:
			p.mu.Unlock()
			return 0, io.EOF
		case !deadline.IsZero() && !time.Now().Before(deadline):
			p.mu.Unlock()
			return 0, os.ErrDeadlineExceeded
		}
		p.mu.Unlock()
		if deadline.IsZero() {
			<-changed
			continue
		}
		timer := time.NewTimer(time.Until(deadline))
		select {
		case <-changed:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// BenchmarkIdleConn reports what the server holds for each idle
// WebSocket: the heap in use once 1,000 connections have done their
// handshake and wait for a message, less what was in use before, per
// connection. The clients are raw TCP connections, so besides the
// server's side of each connection (its goroutine, the Conn) only their
// socket is counted. Stacks it does not report: with the clients in the
// same process, and only 1,000 connections, the stacks the runtime keeps
// for reuse swamp the 2 KiB of each; BenchmarkIdleConnections measures
// them. ns/op is the time to open and close the 1,000.
func BenchmarkIdleConn(b *testing.B) {
	const conns = 1000
	s, srv := newAppServer(b, Options{}, echo)
	addr := srv.Listener.Addr().String()
	request := []byte(handshakeRequest(addr, "/"))
	response := make([]byte, 256)
	var heap float64
	clients := make([]net.Conn, conns)
	base := runtime.NumGoroutine()
	for b.Loop() {
		before := memInUse()
		for i := range clients {
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			// The 101 is read whole: it ends in the empty line, and no
			// frame follows it.
			nc.SetDeadline(time.Now().Add(testTimeout))
			if _, err := nc.Write(request); err != nil {
				b.Fatal(err)
			}
			for n := 0; !bytes.HasSuffix(response[:n], []byte("\r\n\r\n")); {
				m, err := nc.Read(response[n:])
				if err != nil {
					b.Fatal(err)
				}
				n += m
			}
			clients[i] = nc
		}
		// net/http's goroutines have ended; the conversations wait.
		eventually(b, fmt.Sprintf("down to %d goroutines", base+conns), func() bool { return runtime.NumGoroutine() <= base+conns })
		after := memInUse()
		heap += float64(after.HeapAlloc) - float64(before.HeapAlloc)
		for _, nc := range clients {
			nc.Close()
		}
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		if !s.wait(ctx) {
			b.Fatal("the conversations did not end")
		}
		cancel()
	}
	b.ReportMetric(heap/float64(b.N*conns), "heap-B/conn")
}

// memInUse reads the memory statistics after a collection.
func memInUse() runtime.MemStats {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m
}
