package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"
	"unicode/utf8"
)

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

func sizeName(n int) string {
	switch {
	case n >= 1<<20:
		return itoa(n>>20) + "MiB"
	case n >= 1<<10:
		return itoa(n>>10) + "KiB"
	}
	return itoa(n) + "B"
}

func itoa(n int) string { return string(strconvAppend(nil, n)) }

func strconvAppend(b []byte, n int) []byte {
	if n >= 10 {
		b = strconvAppend(b, n/10)
	}
	return append(b, byte('0'+n%10))
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
	in  *bytes.Reader
	out bytes.Buffer
}

func (c *scriptedConn) Read(p []byte) (int, error)       { return c.in.Read(p) }
func (c *scriptedConn) Write(p []byte) (int, error)      { return c.out.Write(p) }
func (c *scriptedConn) Close() error                     { return nil }
func (c *scriptedConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *scriptedConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *scriptedConn) SetDeadline(time.Time) error      { return nil }
func (c *scriptedConn) SetReadDeadline(time.Time) error  { return nil }
func (c *scriptedConn) SetWriteDeadline(time.Time) error { return nil }

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
		c := newConn(nc, bufio.NewReader(nc), "", &Options{MaxMessage: 1 << 16})
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
			if code := closeCode(f); len(f.payload) > 0 && !code.maySend() {
				t.Fatalf("server sent close code %d", code)
			}
		case f.op == OpText && !utf8.Valid(f.payload):
			t.Fatalf("server sent invalid UTF-8 as text")
		}
	}
}

// nopDeadlines lets testClient.readFrame parse a recorded stream.
type nopDeadlines struct{ net.Conn }

func (nopDeadlines) SetReadDeadline(time.Time) error { return nil }
