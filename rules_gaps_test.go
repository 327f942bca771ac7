package main

// Tests for the rows of RULES.md that every conversation proves in passing,
// inside a helper, but that no test named until now: S-27 (expectRefused
// checks it on each refusal) and S-29 and S-32 (readFrame checks them on
// every server frame). Here each has a test of its own, which checks the
// bytes directly, so that `go test -run 'TestServerFrames/S-29'` shows
// the rule.

import (
	"encoding/binary"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestHandshakeAbort: a refused handshake is answered in HTTP and then
// the connection closes. No WebSocket was opened, so no Close frame
// follows the error (§7.2.2).
func TestHandshakeAbort(t *testing.T) {
	refusals := []struct {
		name   string
		path   string
		extra  []string
		status int
	}{
		{"S-27 §7.2.2 no Close frame after 403", "/echo", []string{"Origin: http://evil.example"}, http.StatusForbidden},
		{"S-27 §7.2.2 no Close frame after 404", "/nope", nil, http.StatusNotFound},
		{"S-27 §7.2.2 no Close frame after 400", "/echo", []string{"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="}, http.StatusBadRequest},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			srv := newTestServer(t, Options{})
			c := connect(t, srv, handshakeRequest(srv.Listener.Addr().String(), tc.path, tc.extra...))
			if c.resp.StatusCode != tc.status {
				t.Fatalf("status %s, want %d", c.resp.Status, tc.status)
			}
			if _, err := io.ReadAll(c.resp.Body); err != nil {
				t.Fatalf("reading the error's body: %v", err)
			}
			if rest := c.readToEOF(); len(rest) > 0 {
				t.Errorf("after its %d the server sent % x, want the connection closed", tc.status, shorten(rest))
			}
		})
	}
}

// TestServerFrames: the frames a server sends, of every kind and every
// length form, are unmasked (§5.1) and have their RSV bits clear (§5.2).
func TestServerFrames(t *testing.T) {
	srv := newTestServer(t, Options{})
	c := dial(t, srv, "/echo")
	c.send(text(""), binaryFrame(make([]byte, 125)), text(strings.Repeat("x", 126)),
		binaryFrame(make([]byte, 65536)), ping("ping"), closeFrame(StatusNormal, ""))
	heads := frameHeads(t, c.readToEOF())
	if len(heads) != 6 { // 4 echoes, a pong, a Close
		t.Fatalf("the server sent %d frames, want 6", len(heads))
	}

	t.Run("S-29 §5.1 no server frame is masked", func(t *testing.T) {
		for i, head := range heads {
			if head[1]&0x80 != 0 {
				t.Errorf("frame %d has the MASK bit set: % x", i, head)
			}
		}
	})
	t.Run("S-32 §5.2 no server frame sets an RSV bit", func(t *testing.T) {
		for i, head := range heads {
			if head[0]&0x70 != 0 {
				t.Errorf("frame %d has RSV bits %d: % x", i, head[0]>>4&7, head)
			}
		}
	})
}

// frameHeads cuts the bytes a server sent into frames (§5.2), and returns
// the first two bytes of each: FIN, RSV, opcode, MASK and the 7-bit length.
func frameHeads(t *testing.T, b []byte) [][2]byte {
	t.Helper()
	var heads [][2]byte
	for len(b) > 0 {
		if len(b) < 2 {
			t.Fatalf("a frame cut off after % x", b)
		}
		head := [2]byte{b[0], b[1]}
		lengthBytes, keyBytes := map[byte]int{126: 2, 127: 8}[b[1]&0x7F], 0
		if head[1]&0x80 != 0 {
			keyBytes = 4 // the masking key, if a broken server sent one
		}
		extra := lengthBytes + keyBytes
		if len(b) < 2+extra {
			t.Fatalf("a frame header cut off: % x", b)
		}
		n := uint64(b[1] & 0x7F)
		switch lengthBytes {
		case 2:
			n = uint64(binary.BigEndian.Uint16(b[2:]))
		case 8:
			n = binary.BigEndian.Uint64(b[2:])
		}
		b = b[2+extra:]
		if uint64(len(b)) < n {
			t.Fatalf("a frame of %d bytes cut off after %d", n, len(b))
		}
		b = b[n:]
		heads = append(heads, head)
	}
	return heads
}
