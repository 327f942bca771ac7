package main

// The conformance suite: the real server (newTestServer) driven by the raw
// client of rawpeer_test.go over loopback connections, byte for byte.
//
// TestHandshake and TestExamples are organised by the server rules of
// RULES.md (S-nn) and the sections of RFC 6455; the other tests
// mirror the sections of the Autobahn TestSuite (fuzzingclient), one
// subtest per case, named by its case id. Run one case with an anchored
// pattern, since "5.1" also matches "5.10":
//
//	go test -run 'TestFragmentation/^5\.1_'
//	go test -run 'TestUTF8/^6\.4\.1_'
//
// TestTimeouts holds the bad peers that no RFC section names: the silent,
// the slow and the vanished. The other role, the client (§4.1), named by
// the client rules (C-nn), is dial_test.go's.

import (
	"bytes"
	"cmp"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"slices"
	"strings"
	"testing"
	"time"
)

// sampleKey and sampleAccept are the handshake example of §1.3 and
// §4.2.2: the key handshakeRequest sends, and the only right answer to it.
const (
	sampleKey    = "dGhlIHNhbXBsZSBub25jZQ=="
	sampleAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
)

// ---------------------------------------------------------------------------
// The opening handshake (§4.2.1, §4.2.2)
// ---------------------------------------------------------------------------

func TestHandshake(t *testing.T) {
	// Every request here is H (handshakeRequest) for /echo, edited;
	// "{host}" in an edit stands for the server's host:port.
	onlyEcho := Options{Subprotocols: []string{"echo"}}
	appOnly := Options{Origins: []string{"https://app.example"}}

	// S-01: a request that breaks §4.2.1 in any way gets an HTTP error and
	// never a 101. Where a rule allows several statuses, statuses lists
	// them all.
	refusals := []struct {
		name     string
		opts     Options
		edits    []edit
		statuses []int
		// advertise: the answer must list the versions this server speaks,
		// Sec-WebSocket-Version: 13 (§4.2.2 step 4, §4.4). Every 426 must.
		advertise bool
	}{
		{name: "S-02 §4.2.1 method POST", edits: edits(requestLine("POST /echo HTTP/1.1")), statuses: []int{400, 405}},
		{name: "S-03 §4.2.1 HTTP 1.0", edits: edits(requestLine("GET /echo HTTP/1.0")), statuses: []int{400, 426, 505}},
		{name: "S-05 §4.2.1 no Host", edits: edits(drop("Host")), statuses: []int{400}},
		{name: "S-06 §4.2.1 no Upgrade", edits: edits(drop("Upgrade")), statuses: []int{400, 426}},
		{name: "S-06 §4.2.1 Upgrade h2c", edits: edits(set("Upgrade", "h2c")), statuses: []int{400, 426}},
		{name: "S-07 §4.2.1 Connection keep-alive", edits: edits(set("Connection", "keep-alive")), statuses: []int{400}},
		{name: "S-07 §4.2.1 no Connection", edits: edits(drop("Connection")), statuses: []int{400}},
		{name: "S-07 §4.2.1 Connection Upgraded, a substring is not the token", edits: edits(set("Connection", "Upgraded")), statuses: []int{400}},
		{name: "S-08 §4.2.1 no key", edits: edits(drop("Sec-WebSocket-Key")), statuses: []int{400}},
		{name: "S-08 §4.2.1 key of 8 bytes", edits: edits(set("Sec-WebSocket-Key", "MTIzNDU2Nzg=")), statuses: []int{400}},
		{name: "S-08 §4.2.1 key not base64", edits: edits(set("Sec-WebSocket-Key", "!!!!")), statuses: []int{400}},
		{name: "S-08 §4.2.1 key of 20 bytes", edits: edits(set("Sec-WebSocket-Key", "MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=")), statuses: []int{400}},
		{name: "S-09 §11.3.1 two key lines", edits: edits(add("Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==")), statuses: []int{400}},
		{name: "S-10 §4.2.1 no version", edits: edits(drop("Sec-WebSocket-Version")), statuses: []int{400, 426}},
		{name: "S-10 §11.3.5 two version lines", edits: edits(add("Sec-WebSocket-Version: 13")), statuses: []int{400}},
		{name: "S-10 §4.2.1 version 013", edits: edits(set("Sec-WebSocket-Version", "013")), statuses: []int{426, 400}, advertise: true},
		{name: "S-10 §4.2.1 version 8, 13", edits: edits(set("Sec-WebSocket-Version", "8, 13")), statuses: []int{426, 400}, advertise: true},
		{name: "S-18 §4.4 version 8", edits: edits(set("Sec-WebSocket-Version", "8")), statuses: []int{426, 400}, advertise: true},
		{name: "S-18 §4.4 version 25", edits: edits(set("Sec-WebSocket-Version", "25")), statuses: []int{426, 400}, advertise: true},
		{name: "S-01 §4.2.1 Sec-WebSocket-Protocol not a list of tokens", edits: edits(set("Sec-WebSocket-Protocol", "chat echo")), statuses: []int{400}},
		{name: "S-15 §4.2.2 cross-site Origin", edits: edits(set("Origin", "http://evil.example")), statuses: []int{403}},
		{name: "S-15 §4.2.2 Origin on another port of the host", edits: edits(set("Origin", "http://127.0.0.1")), statuses: []int{403}},
		{name: "S-15 §4.2.2 Origin on port 8443, Host with no port", edits: edits(set("Host", "app.example"), set("Origin", "https://app.example:8443")), statuses: []int{403}},
		{name: "S-16 §10.2 allow-list, Origin null", opts: appOnly, edits: edits(set("Origin", "null")), statuses: []int{403}},
		{name: "S-16 §10.2 allow-list, another origin", opts: appOnly, edits: edits(set("Origin", "https://other.example")), statuses: []int{403}},
		{name: "S-16 §10.2 allow-list, same host but http", opts: appOnly, edits: edits(set("Origin", "http://app.example")), statuses: []int{403}},
		{name: "S-17 §4.2.2 unknown resource", edits: edits(requestLine("GET /nope HTTP/1.1")), statuses: []int{404}},
		{name: "S-71 §9.1 Sec-WebSocket-Extensions ;=", edits: edits(set("Sec-WebSocket-Extensions", ";=")), statuses: []int{400}},
		{name: "S-71 §9.1 quoted parameter value not a token", edits: edits(set("Sec-WebSocket-Extensions", `permessage-deflate; client_max_window_bits="1 5"`)), statuses: []int{400}},
		// 1#element: a list of one or more, empty items aside (RFC 2616 §2.1).
		{name: "S-71 §9.1 Sec-WebSocket-Extensions empty", edits: edits(set("Sec-WebSocket-Extensions", "")), statuses: []int{400}},
		{name: "S-71 §9.1 Sec-WebSocket-Extensions only commas", edits: edits(set("Sec-WebSocket-Extensions", " , ,")), statuses: []int{400}},
		{name: "S-01 §4.2.1 Sec-WebSocket-Protocol empty", edits: edits(set("Sec-WebSocket-Protocol", "")), statuses: []int{400}},
		{name: "S-01 §4.2.1 Sec-WebSocket-Protocol only commas", edits: edits(set("Sec-WebSocket-Protocol", ",")), statuses: []int{400}},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			srv := newTestServer(t, tc.opts)
			c := connect(t, srv, buildRequest(srv, tc.edits...))
			c.expectRefused(tc.statuses, tc.advertise)
		})
	}

	// Requests a server must accept: each gets a 101 with the right
	// Accept, the agreed subprotocol (or none, S-20), no extension (S-21,
	// the server implements none), and then a working echo.
	acceptances := []struct {
		name     string
		opts     Options
		edits    []edit
		accept   string   // Sec-WebSocket-Accept; "" means sampleAccept
		protocol []string // the Sec-WebSocket-Protocol lines of the answer
	}{
		{name: "S-04 §4.2.1 absolute Request-URI", edits: edits(requestLine("GET http://{host}/echo HTTP/1.1"))},
		{name: "S-06 §4.2.1 Upgrade WebSocket, any case", edits: edits(set("Upgrade", "WebSocket"))},
		{name: "S-07 §4.2.1 Connection keep-alive, Upgrade", edits: edits(set("Connection", "keep-alive, Upgrade"))},
		{name: "S-07 §4.2.1 Connection upgrade, any case", edits: edits(set("Connection", "upgrade"))},
		// E-1, erratum 3150: the RFC's own example key has nonzero pad
		// bits; ws.go decodes leniently and accepts it.
		{name: "S-08 §4.1 the RFC's example key AQIDBAUGBwgJCgsMDQ4PEC==", edits: edits(set("Sec-WebSocket-Key", "AQIDBAUGBwgJCgsMDQ4PEC==")), accept: "OfS0wDaT5NoxF2gqm7Zj2YtetzM="},
		{name: "S-11 §4.2.1 no Origin, allow-list set", opts: appOnly},
		{name: "S-12 §11.3.4 Protocol on two lines", opts: onlyEcho, edits: edits(add("Sec-WebSocket-Protocol: x", "Sec-WebSocket-Protocol: echo")), protocol: []string{"echo"}},
		{name: "S-13 §4.2.1 lower-case names, any order, unknown header", edits: edits(add("X-Junk: 1"), lowerCaseReversed)},
		{name: "S-15 §4.2.2 same Origin, upper-case scheme", edits: edits(set("Origin", "HTTP://{host}"))},
		// Behind a proxy that ended TLS: the page is https, the request
		// plain, and Host names no port.
		{name: "S-15 §4.2.2 https Origin, Host with no port", edits: edits(set("Host", "app.example"), set("Origin", "https://app.example"))},
		{name: "S-15 §4.2.2 http Origin, Host with no port", edits: edits(set("Host", "app.example"), set("Origin", "http://app.example"))},
		{name: "S-16 §10.2 allow-listed Origin", opts: appOnly, edits: edits(set("Origin", "https://app.example"))},
		{name: "S-16 §10.2 allow-listed Origin, any case", opts: appOnly, edits: edits(set("Origin", "HTTPS://APP.EXAMPLE"))},
		{name: "S-16 §10.2 allow-list keeps the same origin", opts: appOnly, edits: edits(set("Origin", "http://{host}"))},
		{name: "S-19 §4.2.2 offer chat, echo", opts: onlyEcho, edits: edits(set("Sec-WebSocket-Protocol", "chat, echo")), protocol: []string{"echo"}},
		{name: "S-20 §4.2.2 offer x-unknown, no header", opts: onlyEcho, edits: edits(set("Sec-WebSocket-Protocol", "x-unknown"))},
		{name: "S-20 §4.2.2 no offer, no header", opts: onlyEcho},
		{name: "S-21 §9 browser's permessage-deflate offer declined", edits: edits(set("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits"))},
		{name: "S-21 §9 offer x-foo declined", edits: edits(set("Sec-WebSocket-Extensions", "x-foo"))},
		{name: "S-25 §4.2.2 key with surrounding spaces", edits: edits(set("Sec-WebSocket-Key", " \t"+sampleKey+" \t"))},
		// §10.1: a raw client forges any Origin it likes; the check protects
		// browsers and authenticates no one.
		{name: "S-75 §10.1 forged Origin from a non-browser", opts: appOnly, edits: edits(set("Origin", "https://app.example"), set("User-Agent", "curl/8.0"))},
	}
	for _, tc := range acceptances {
		t.Run(tc.name, func(t *testing.T) {
			srv := newTestServer(t, tc.opts)
			c := connect(t, srv, buildRequest(srv, tc.edits...))
			c.expectAccepted(cmp.Or(tc.accept, sampleAccept), tc.protocol)
			c.send(text("Hello"))
			c.expect(text("Hello"))
			c.closeHandshake()
		})
	}

	t.Run("S-22 §4.2.2 status line 101 Switching Protocols", func(t *testing.T) {
		c := dial(t, newTestServer(t, Options{}), "/echo")
		if c.resp.Proto != "HTTP/1.1" || c.resp.Status != "101 Switching Protocols" {
			t.Errorf("status line %s %s, want HTTP/1.1 101 Switching Protocols", c.resp.Proto, c.resp.Status)
		}
		c.closeHandshake()
	})
	t.Run("S-23 §4.2.2 Upgrade websocket", func(t *testing.T) {
		c := dial(t, newTestServer(t, Options{}), "/echo")
		if got := c.resp.Header.Values("Upgrade"); len(got) != 1 || !strings.EqualFold(got[0], "websocket") {
			t.Errorf("Upgrade %q, want websocket", got)
		}
		c.closeHandshake()
	})
	t.Run("S-24 §4.2.2 Connection Upgrade", func(t *testing.T) {
		c := dial(t, newTestServer(t, Options{}), "/echo")
		if got := c.resp.Header.Values("Connection"); !hasListToken(got, "Upgrade") {
			t.Errorf("Connection %q, want the token Upgrade", got)
		}
		c.closeHandshake()
	})
	t.Run("S-25 §1.3 Sec-WebSocket-Accept of the example key, once", func(t *testing.T) {
		c := dial(t, newTestServer(t, Options{}), "/echo")
		if got := c.resp.Header.Values("Sec-WebSocket-Accept"); !slices.Equal(got, []string{sampleAccept}) {
			t.Errorf("Sec-WebSocket-Accept %q, want exactly [%s]", got, sampleAccept)
		}
		c.closeHandshake()
	})
	t.Run("S-26 §4.2.2 no body, frames right after the blank line", func(t *testing.T) {
		c := dial(t, newTestServer(t, Options{}), "/echo")
		for _, h := range []string{"Content-Length", "Transfer-Encoding"} {
			if v := c.resp.Header.Values(h); v != nil {
				t.Errorf("101 carries %s: %q", h, v)
			}
		}
		// The very next bytes after the head must be the pong: not a body,
		// not a chunk header.
		c.send(ping(""))
		c.expectBytes(0x8A, 0x00)
		c.closeHandshake()
	})

	// S-14 (§4.2.2(1), §10.6): on a TLS port, TLS comes first and the
	// WebSocket runs inside it.
	t.Run("S-14 §10.6 wss handshake and echo", func(t *testing.T) {
		c := dialTLS(t, newTLSTestServer(t, Options{}), "/echo")
		c.expectAccepted(sampleAccept, nil)
		c.send(text("Hello"), ping("inside TLS"))
		c.expect(text("Hello"), pong("inside TLS"))
		c.closeHandshake()
	})
	t.Run("S-14 §4.2.2 plain HTTP to the TLS port gets no 101", func(t *testing.T) {
		srv := newTLSTestServer(t, Options{})
		c := connect(t, srv, handshakeRequest(srv.Listener.Addr().String(), "/echo"))
		if c.resp.StatusCode == http.StatusSwitchingProtocols || c.resp.Header.Get("Sec-WebSocket-Accept") != "" {
			t.Fatalf("plain HTTP on the TLS port got %s, Accept %q", c.resp.Status, c.resp.Header.Get("Sec-WebSocket-Accept"))
		}
	})
	// S-74 (§10.7): a TLS ClientHello on the plain port is not HTTP: the
	// server answers 400 or drops it, and keeps serving.
	t.Run("S-74 §10.7 TLS ClientHello to the plain port", func(t *testing.T) {
		srv := newTestServer(t, Options{})
		got := exchangeRaw(t, srv, clientHello(t))
		if len(got) > 0 && !bytes.HasPrefix(got, []byte("HTTP/1.1 400 ")) {
			t.Errorf("the server answered a ClientHello with %q, want 400 or nothing", got)
		}
		c := dial(t, srv, "/echo")
		c.send(text("still serving"))
		c.expect(text("still serving"))
		c.closeHandshake()
	})
}

// TestHandshakeAbort: a refused handshake is answered in HTTP and then
// the connection closes. No WebSocket was opened, so no Close frame
// follows the error (§7.2.2). expectRefused checks the same on every
// refusal of TestHandshake; this test shows the rule on its own.
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

// TestHeaderNames: the names of §11.3 are looked up as net/http keys
// them (hdrKey and the others), so that no lookup respells a name in a
// new string; each must be the RFC's name, in its canonical spelling.
func TestHeaderNames(t *testing.T) {
	for rfc, name := range map[string]string{
		"Sec-WebSocket-Key":        hdrKey,
		"Sec-WebSocket-Extensions": hdrExtensions,
		"Sec-WebSocket-Accept":     hdrAccept,
		"Sec-WebSocket-Protocol":   hdrProtocol,
		"Sec-WebSocket-Version":    hdrVersion,
	} {
		t.Run("§11.3 "+rfc, func(t *testing.T) {
			if want := textproto.CanonicalMIMEHeaderKey(rfc); name != want {
				t.Errorf("looked up as %q, which net/http keys as %q", name, want)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// §5.7: the RFC's frame examples, byte for byte
// ---------------------------------------------------------------------------

func TestExamples(t *testing.T) {
	hello := []byte{0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f} // unmasked "Hello", the server's echo
	cases := []struct {
		name string
		send []byte // written in one write, as it is
		want []byte // exactly the bytes the server sends back
	}{
		// S-37 (§5.3): the masked "Hello" of §5.7, key 37 fa 21 3d.
		{"S-37 §5.7 masked Hello", []byte{0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}, hello},
		// S-38 (§5.4): §5.7's fragmented "Hel" + "lo", masked with the same key.
		{"S-38 §5.7 fragmented Hel lo", []byte{
			0x01, 0x83, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d,
			0x80, 0x82, 0x37, 0xfa, 0x21, 0x3d, 0x5b, 0x95,
		}, hello},
		// S-49, S-50 (§5.5.2, §5.5.3): §5.7's ping, masked as a client
		// must; the pong is §5.7's, unmasked as a server must.
		{"S-50 §5.7 ping Hello", []byte{0x89, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}, []byte{0x8a, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}},
		// S-28 (§5.1): the masking key may be zero; the frame is still masked.
		{"S-28 §5.1 masking key 00 00 00 00", []byte{0x81, 0x85, 0, 0, 0, 0, 0x48, 0x65, 0x6c, 0x6c, 0x6f}, hello},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, newTestServer(t, Options{}), "/echo")
			c.write(tc.send)
			c.expectBytes(tc.want...)
			c.closeHandshake()
		})
	}

	// S-35 (§5.2): §5.7's 256-byte and 64 KiB binary messages; the echo's
	// length takes the shortest form, 16 and 64 bits.
	lengths := []struct {
		name   string
		size   int
		header []byte
	}{
		{"S-35 §5.7 256 bytes binary", 256, []byte{0x82, 0x7e, 0x01, 0x00}},
		{"S-35 §5.7 64KiB binary", 65536, []byte{0x82, 0x7f, 0, 0, 0, 0, 0, 0x01, 0, 0}},
	}
	for _, tc := range lengths {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, newTestServer(t, Options{}), "/echo")
			payload := pattern(tc.size)
			c.send(binaryFrame(payload))
			c.expectBytes(append(slices.Clone(tc.header), payload...)...)
			c.closeHandshake()
		})
	}

	// S-28 (§5.1): §5.7's unmasked "Hello" is a server's frame; from a
	// client it fails the connection, and is not echoed. The same in each
	// length form, since the header's size depends on both.
	unmasked := []struct {
		name    string
		payload string
	}{
		{"S-28 §5.1 unmasked Hello from the client, 7-bit length", "Hello"}, // §5.7's 81 05 48 65 6c 6c 6f
		{"S-28 §5.1 unmasked 200 bytes from the client, 16-bit length", strings.Repeat("x", 200)},
		{"S-28 §5.1 unmasked 65536 bytes from the client, 64-bit length", strings.Repeat("x", 65536)},
	}
	for _, tc := range unmasked {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, newTestServer(t, Options{}), "/echo")
			f := text(tc.payload)
			f.unmasked = true
			c.send(f)
			c.expectClose(StatusProtocolError)
		})
	}
}

// TestCloseExample is the tour's closing handshake, byte for byte: the
// client's Close with code 1000 (03 e8, §7.4.1), masked with §5.7's key:
// 88 82 37 fa 21 3d 34 12. The server answers with a Close of the same
// code, unmasked, 88 02 03 e8 (§5.5.1), and, having both sent and received
// a Close, closes the TCP connection first (§7.1.1): the client reads the
// end of the stream.
func TestCloseExample(t *testing.T) {
	c := dial(t, newTestServer(t, Options{}), "/echo")
	c.write([]byte{0x88, 0x82, 0x37, 0xfa, 0x21, 0x3d, 0x34, 0x12})
	c.expectBytes(0x88, 0x02, 0x03, 0xe8)
	c.expectEOF()
	c.nc.Close()
}

// ---------------------------------------------------------------------------
// Autobahn TestSuite, one test per section
// ---------------------------------------------------------------------------

// Autobahn section 1, Framing (S-35, S-36, S-37): text and binary messages
// of every length form, echoed byte for byte.
func TestFraming(t *testing.T) {
	sizes := []int{0, 125, 126, 127, 128, 65535, 65536}
	var cases []autobahnCase
	for i, kind := range []struct {
		name string
		make func(n int) frame
	}{
		{"text", func(n int) frame { return text(strings.Repeat("*", n)) }},
		{"binary", func(n int) frame { return binaryFrame(bytes.Repeat([]byte{0xFE}, n)) }},
	} {
		for j, n := range sizes {
			f := kind.make(n)
			cases = append(cases, autobahnCase{
				id:    fmt.Sprintf("1.%d.%d %s of %d bytes", i+1, j+1, kind.name, n),
				steps: []exchange{{send: []frame{f}, want: []frame{f}}},
			})
		}
		// 1.x.8: the same 64 KiB in writes of 997 bytes, which split the
		// header and cut the payload off the 4-byte mask cycle (S-37).
		f := kind.make(65536)
		cases = append(cases, autobahnCase{
			id:    fmt.Sprintf("1.%d.8 %s of 65536 bytes in 997-byte writes", i+1, kind.name),
			steps: []exchange{{send: []frame{f}, pieces: 997, want: []frame{f}}},
		})
	}
	runAutobahn(t, cases)

	// S-36 (§5.2): a length written in a longer form than needed breaks a
	// rule for senders only; this server accepts it (ws.go, readHeader).
	for _, form := range []int{16, 64} {
		t.Run(fmt.Sprintf("S-36 §5.2 Hello with a %d-bit length is accepted", form), func(t *testing.T) {
			c := dial(t, newTestServer(t, Options{}), "/echo")
			c.write(encodeLengthForm(text("Hello"), [4]byte{0x37, 0xfa, 0x21, 0x3d}, form))
			c.expect(text("Hello"))
			c.closeHandshake()
		})
	}
	// S-34 (§5.2): the most significant bit of a 64-bit length must be 0.
	// The rule allows 1002 or 1009 (too big); either way before a byte of
	// payload is awaited.
	t.Run("S-34 §5.2 64-bit length with the most significant bit set", func(t *testing.T) {
		c := dial(t, newTestServer(t, Options{}), "/echo")
		c.write([]byte{0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 0x37, 0xfa, 0x21, 0x3d})
		f, err := c.readFrame()
		if err != nil || f.op != OpClose || (closeCode(f) != StatusProtocolError && closeCode(f) != StatusTooBig) {
			t.Fatalf("got %v (%v), want Close 1002 or 1009", f, err)
		}
		c.expectEOF()
	})
}

// TestServerFrames: the frames a server sends, of every kind and every
// length form, are unmasked (§5.1) and have their RSV bits clear (§5.2).
// readFrame checks both on every frame the server sends; this test reads
// the bytes directly, to show the two rules on their own.
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

// Autobahn section 2, Pings and Pongs (§5.5.2, §5.5.3; S-44, S-49-S-52).
func TestPingPong(t *testing.T) {
	binaryPayload := "\x00\xff\xfe\xfd\xfc\xfb\x00\xff"
	longest := strings.Repeat("\xfe", 125)
	var tenPings, tenPongs []frame
	for i := range 10 {
		tenPings = append(tenPings, ping(fmt.Sprintf("payload-%d", i)))
		tenPongs = append(tenPongs, pong(fmt.Sprintf("payload-%d", i)))
	}
	runAutobahn(t, []autobahnCase{
		{id: "2.1 ping, empty", steps: []exchange{{send: []frame{ping("")}, want: []frame{pong("")}}}},
		{id: "2.2 ping with text", steps: []exchange{{send: []frame{ping("Hello, world!")}, want: []frame{pong("Hello, world!")}}}},
		{id: "2.3 ping with binary", steps: []exchange{{send: []frame{ping(binaryPayload)}, want: []frame{pong(binaryPayload)}}}},
		{id: "2.4 ping of 125 bytes", steps: []exchange{{send: []frame{ping(longest)}, want: []frame{pong(longest)}}}},
		// S-44 (§5.5): a control frame carries at most 125 bytes.
		{id: "2.5 ping of 126 bytes", steps: []exchange{{send: []frame{ping(longest + "\xfe")}}}, fail: StatusProtocolError},
		// S-44 (§5.5): the same limit for a Close: 2 bytes of code and a
		// 124-byte reason are one byte too many (Autobahn 7.3.6).
		{id: "S-44 §5.5 close of 126 bytes", steps: []exchange{{send: []frame{closeFrame(StatusNormal, strings.Repeat("x", 124))}}}, fail: StatusProtocolError},
		{id: "2.6 ping of 125 bytes in 1-byte writes", steps: []exchange{{send: []frame{ping(longest)}, pieces: 1, want: []frame{pong(longest)}}}},
		// S-52 (§5.5.3): an unsolicited pong needs no answer; the close
		// handshake that follows checks that none came.
		{id: "2.7 unsolicited pong, empty", steps: []exchange{{send: []frame{pong("")}}}},
		{id: "2.8 unsolicited pong with payload", steps: []exchange{{send: []frame{pong("unsolicited pong payload")}}}},
		{id: "2.9 unsolicited pong, then ping", steps: []exchange{{send: []frame{pong("unsolicited pong payload"), ping("ping payload")}, want: []frame{pong("ping payload")}}}},
		// S-51 (§5.5.3): each ping answered, in order.
		{id: "2.10 10 pings", steps: []exchange{{send: tenPings, want: tenPongs}}},
		{id: "2.11 10 pings in 1-byte writes", steps: []exchange{{send: tenPings, pieces: 1, want: tenPongs}}},
	})
}

// Autobahn section 3, Reserved Bits (§5.2, §5.8; S-31, S-55): no extension
// was negotiated, so any RSV bit fails the connection, and nothing after
// the bad frame is processed (S-65): no echo, no pong.
func TestReservedBits(t *testing.T) {
	hello := "Hello, world!"
	withRSV := func(f frame, rsv byte) frame { f.rsv = rsv; return f }
	cases := []autobahnCase{
		{id: "3.1 text with RSV=1", steps: []exchange{{send: []frame{withRSV(text(hello), 1)}}}, fail: StatusProtocolError},
		{id: "3.5 binary with RSV=5", steps: []exchange{{send: []frame{withRSV(binaryFrame([]byte("\x00\xff\xfe\xfd\xfc\xfb\x00\xff")), 5)}}}, fail: StatusProtocolError},
		// Autobahn describes 3.6 as "Ping with RSV = 6", but its code sends a
		// binary frame; this is the frame it sends. The ping is S-31 below.
		{id: "3.6 binary with RSV=6", steps: []exchange{{send: []frame{withRSV(binaryFrame([]byte(hello)), 6)}}}, fail: StatusProtocolError},
		{id: "3.7 close with RSV=7", steps: []exchange{{send: []frame{withRSV(frame{fin: true, op: OpClose}, 7)}}}, fail: StatusProtocolError},
		{id: "S-31 §5.2 ping with RSV=6", steps: []exchange{{send: []frame{withRSV(ping(""), 6)}}}, fail: StatusProtocolError},
		// S-55 (§5.8): offering permessage-deflate is not negotiating it:
		// the server declines (runAutobahn checks that the 101 has no
		// Sec-WebSocket-Extensions), so a "compressed" frame, RSV1, is
		// still an error.
		{
			id:        "S-55 §5.8 RSV1 after a declined permessage-deflate",
			handshake: []string{"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"},
			steps:     []exchange{{send: []frame{withRSV(text(hello), 4)}}},
			fail:      StatusProtocolError,
		},
	}
	// 3.2-3.4: a valid text, the same with RSV set, then a ping: the echo
	// of the first, then the Close, and no pong. 3.2 in one write, 3.3
	// frame by frame, 3.4 byte by byte.
	for i, pieces := range []int{oneWrite, frameWise, 1} {
		rsv := byte(i + 2)
		cases = append(cases, autobahnCase{
			id: fmt.Sprintf("3.%d text, text with RSV=%d, ping %s", i+2, rsv, piecesName(pieces)),
			steps: []exchange{{
				send:   []frame{text(hello), withRSV(text(hello), rsv), ping("")},
				pieces: pieces,
				want:   []frame{text(hello)},
			}},
			fail: StatusProtocolError,
		})
	}
	runAutobahn(t, cases)
}

// Autobahn section 4, Opcodes (§5.2; S-33): 3-7 and 11-15 are reserved,
// and no extension gave them a meaning.
func TestOpcodes(t *testing.T) {
	hello := "Hello, world!"
	var cases []autobahnCase
	for i, base := range []Opcode{3, 11} {
		section := fmt.Sprintf("4.%d", i+1)
		kind := []string{"non-control", "control"}[i]
		// x.1: empty; x.2: with a payload.
		cases = append(cases,
			autobahnCase{
				id:    fmt.Sprintf("%s.1 reserved %s opcode %d", section, kind, base),
				steps: []exchange{{send: []frame{{fin: true, op: base}}}},
				fail:  StatusProtocolError,
			},
			autobahnCase{
				id:    fmt.Sprintf("%s.2 reserved %s opcode %d with payload", section, kind, base+1),
				steps: []exchange{{send: []frame{{fin: true, op: base + 1, payload: []byte("reserved opcode payload")}}}},
				fail:  StatusProtocolError,
			})
		// x.3-x.5: a valid text first, which is echoed, then the reserved
		// frame, then a ping that must get no pong. x.5 byte by byte.
		for j, shape := range []struct {
			payload string
			pieces  int
		}{{"", oneWrite}, {hello, oneWrite}, {hello, 1}} {
			op := base + Opcode(j+2)
			cases = append(cases, autobahnCase{
				id: fmt.Sprintf("%s.%d text, reserved %s opcode %d, ping %s", section, j+3, kind, op, piecesName(shape.pieces)),
				steps: []exchange{{
					send:   []frame{text(hello), {fin: true, op: op, payload: []byte(shape.payload)}, ping("")},
					pieces: shape.pieces,
					want:   []frame{text(hello)},
				}},
				fail: StatusProtocolError,
			})
		}
	}
	runAutobahn(t, cases)
}

// Autobahn section 5, Fragmentation (§5.4; S-38-S-41).
func TestFragmentation(t *testing.T) {
	first := func(f frame) frame { return fragment(true, false, f) }
	middle := func(s string) frame { return fragment(false, false, text(s)) }
	last := func(s string) frame { return fragment(false, true, text(s)) }
	// A continuation frame with nothing to continue, FIN set or not.
	stray := func(fin bool, s string) frame { return frame{fin: fin, op: OpContinuation, payload: []byte(s)} }
	fragmentsText := text("fragment1fragment2")

	cases := []autobahnCase{
		// S-40 (§5.5): control frames are never fragmented.
		{id: "5.1 ping in 2 fragments", steps: []exchange{{send: []frame{first(ping("fragment1")), last("fragment2")}}}, fail: StatusProtocolError},
		{id: "5.2 pong in 2 fragments", steps: []exchange{{send: []frame{first(pong("fragment1")), last("fragment2")}}}, fail: StatusProtocolError},
		// S-41: a complete fragmented message, then a stray continuation:
		// the message is echoed, then the connection fails.
		{id: "5.15 text in 2 fragments, stray continuation, text", steps: []exchange{{
			send: []frame{first(text("fragment1")), last("fragment2"), stray(false, "fragment3"), text("fragment4")},
			want: []frame{fragmentsText},
		}}, fail: StatusProtocolError},
		{id: "5.16 twice: stray continuation, text in 2 fragments", steps: []exchange{{send: []frame{
			stray(false, "fragment1"), first(text("fragment2")), last("fragment3"),
			stray(false, "fragment1"), first(text("fragment2")), last("fragment3"),
		}}}, fail: StatusProtocolError},
		{id: "5.17 twice: stray final continuation, text in 2 fragments", steps: []exchange{{send: []frame{
			stray(true, "fragment1"), first(text("fragment2")), last("fragment3"),
			stray(true, "fragment1"), first(text("fragment2")), last("fragment3"),
		}}}, fail: StatusProtocolError},
		// S-41: only the first frame of a message carries its opcode.
		{id: "5.18 text in 2 fragments, both with opcode text", steps: []exchange{{send: []frame{first(text("fragment1")), text("fragment2")}}}, fail: StatusProtocolError},
	}
	for i, pieces := range []int{oneWrite, frameWise, 1} {
		// S-38: 5.3-5.5, one text in two fragments.
		cases = append(cases, autobahnCase{
			id:    fmt.Sprintf("5.%d text in 2 fragments %s", i+3, piecesName(pieces)),
			steps: []exchange{{send: []frame{first(text("fragment1")), last("fragment2")}, pieces: pieces, want: []frame{fragmentsText}}},
		})
		// S-39: 5.6-5.8, a ping between the fragments is answered first.
		cases = append(cases, autobahnCase{
			id: fmt.Sprintf("5.%d text in 2 fragments, ping between %s", i+6, piecesName(pieces)),
			steps: []exchange{{
				send:   []frame{first(text("fragment1")), ping("ping payload"), last("fragment2")},
				pieces: pieces,
				want:   []frame{pong("ping payload"), fragmentsText},
			}},
		})
		// S-41: 5.9-5.14, a continuation with no message to continue,
		// FIN set (5.9-5.11) or not (5.12-5.14), then a text.
		for j, fin := range []bool{true, false} {
			cases = append(cases, autobahnCase{
				id: fmt.Sprintf("5.%d continuation FIN=%v with nothing to continue %s", 9+3*j+i, fin, piecesName(pieces)),
				steps: []exchange{{
					send:   []frame{stray(fin, "non-continuation payload"), text("Hello, world!")},
					pieces: pieces,
				}},
				fail: StatusProtocolError,
			})
		}
	}
	// S-39: 5.19-5.20, five fragments with a ping after the second and
	// after the fourth. The first pong must come before the message is
	// complete, so the client waits for it before sending the rest.
	for i, pieces := range []int{oneWrite, frameWise} {
		cases = append(cases, autobahnCase{
			id: fmt.Sprintf("5.%d text in 5 fragments, 2 pings between %s", 19+i, piecesName(pieces)),
			steps: []exchange{
				{
					send:   []frame{first(text("fragment1")), middle("fragment2"), ping("pongme 1!")},
					pieces: pieces,
					want:   []frame{pong("pongme 1!")},
				},
				{
					send:   []frame{middle("fragment3"), middle("fragment4"), ping("pongme 2!"), last("fragment5")},
					pieces: pieces,
					want:   []frame{pong("pongme 2!"), text("fragment1fragment2fragment3fragment4fragment5")},
				},
			},
		})
	}
	runAutobahn(t, cases)
}

// kosme is κόσμε, the Greek word Markus Kuhn's UTF-8 test file and
// Autobahn open with: 2-, 3-, 2-, 2- and 2-byte code points.
const kosme = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"

// invalidAtByte12 is Autobahn's 6.3.1 payload: κόσμε, then ED A0 80 (the
// surrogate U+D800, which UTF-8 may not encode: RFC 3629 §3), then
// "edited". The first bad byte is A0, the 13th.
const invalidAtByte12 = kosme + "\xed\xa0\x80" + "edited"

// TestUTF8 is Autobahn section 6: text messages must be valid UTF-8 as a
// whole, a frame may end in the middle of a code point, and invalid text
// fails the connection with 1007 (RFC 6455 §5.6, §8.1; S-53, S-70).
//
// Subtests are named by Autobahn case id first: go test -run
// 'TestUTF8/6.4.1_' runs one case (the trailing _ stands for the space, so
// that 6.6.1 does not also select 6.6.10 and 6.6.11).
func TestUTF8(t *testing.T) {
	srv := newTestServer(t, Options{})

	// 6.1.x, 6.2.x: valid text, whole or in fragments of any size, even
	// fragments that end in the middle of a code point (§5.6: the message
	// as a whole must be valid), comes back byte for byte (S-38, S-53).
	const hello = "Hello-µ@ßöäüàá-UTF-8!!" // 6.2.1's PAYLOAD
	valid := []struct {
		name   string
		frames []frame
		want   string
	}{
		{"6.1.1 empty text", []frame{text("")}, ""},
		{"6.1.2 three empty fragments", inFragments(OpText, "", "", ""), ""},
		{"6.1.3 empty, non-empty, empty fragment", inFragments(OpText, "", "middle frame payload", ""), "middle frame payload"},
		{"6.2.1 valid text in one frame", []frame{text(hello)}, hello},
		{"6.2.2 fragmented on a code point boundary", inFragments(OpText, "Hello-µ@ßöä", "üàá-UTF-8!!"), hello},
		{"6.2.3 in 1-byte fragments", inFragmentsOf(OpText, hello, 1), hello},
		{"6.2.4 kosme in 1-byte fragments", inFragmentsOf(OpText, kosme, 1), kosme},
		{"S-53 a code point split across two fragments", inFragments(OpText, "\xce", "\xba"), "κ"},
		{"S-53 a 4-byte code point split 1+3 across fragments", inFragments(OpText, "a\xf0", "\x9f\x98\x80b"), "a😀b"},
	}
	for _, tc := range valid {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, srv, "/echo")
			c.send(tc.frames...)
			c.expect(text(tc.want))
			c.closeHandshake()
		})
	}
	// The same valid text in one frame, written a byte per write, so that
	// every read of the server ends inside a code point (§6.2).
	t.Run("S-53 valid text in one frame written 1 byte per write", func(t *testing.T) {
		c := dial(t, srv, "/echo")
		c.sendInPieces(1, text(hello+kosme))
		c.expect(text(hello + kosme))
		c.closeHandshake()
	})

	// 6.3.x and the rest: invalid text → 1007, however it is split (§8.1).
	invalid := []struct {
		name   string
		frames []frame
		pieces int // write the frames this many bytes per write; 0: in one write
	}{
		{"6.3.1 invalid text in one frame", []frame{text(invalidAtByte12)}, 0},
		{"6.3.2 invalid text in 1-byte fragments", inFragmentsOf(OpText, invalidAtByte12, 1), 0},
		{"S-70 invalid text in one frame written 1 byte per write", []frame{text(invalidAtByte12)}, 1},
		{"S-53 a code point cut off at the end of the final frame", []frame{text("κόσμ\xce")}, 0},
		{"S-53 a code point cut off at the end of the last fragment", inFragments(OpText, "κό", "σμ\xce"), 0},
		{"S-53 a 4-byte code point cut off after 3 bytes", []frame{text("a\xf0\x9f\x98")}, 0},
	}
	for _, tc := range invalid {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, srv, "/echo")
			if tc.pieces > 0 {
				c.sendInPieces(tc.pieces, tc.frames...)
			} else {
				c.send(tc.frames...)
			}
			c.expectClose(StatusInvalidData)
		})
	}

	// 6.4.x: fail fast (S-70, §8.1 "as soon as"). The message is sent up to
	// and including the bytes that make it invalid, and the rest is never
	// sent: a server that waited for the end of the message or of the frame
	// would leave the client waiting until its read deadline, and the test
	// would fail. Autobahn's 6.4.1 payload: κόσμε, F4 90 80 80 (U+110000,
	// beyond Unicode: invalid at its second byte, 90), "edited".
	const part1, part2 = kosme, "\xf4\x90\x80\x80"
	// In frames: the valid part, then a ping whose pong proves the server
	// read the valid part and kept the connection open; then the bad part,
	// in a frame that is not final.
	failFastFrames := []struct{ name, valid, bad string }{
		{"6.4.1 invalid in the 2nd of 3 fragments", part1, part2},
		{"6.4.2 invalid at the one byte of the 2nd fragment", part1 + part2[:1], part2[1:2]},
	}
	for _, tc := range failFastFrames {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, srv, "/echo")
			c.send(fragment(true, false, text(tc.valid)), ping("A"))
			c.expect(pong("A"))
			c.send(fragment(false, false, text(tc.bad)))
			c.expectClose(StatusInvalidData) // and the 3rd fragment never sent
		})
	}
	// In chops of one frame: its header announces the whole payload, then
	// the valid part and the bad part arrive in separate writes.
	failFastChops := []struct {
		name string
		cut1 int // the first write ends after this many payload bytes
		cut2 int // the second after this many; the rest is never sent
	}{
		{"6.4.3 invalid in the 2nd of 3 chops of one frame", len(part1), len(part1 + part2)},
		{"6.4.4 invalid at the one byte of the 2nd chop", len(part1) + 1, len(part1) + 2},
	}
	for _, tc := range failFastChops {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, srv, "/echo")
			payload := part1 + part2 + "edited"
			b := c.encode(text(payload))
			head := len(b) - len(payload)
			c.write(b[:head+tc.cut1])
			c.write(b[head+tc.cut1 : head+tc.cut2])
			c.expectClose(StatusInvalidData)
		})
	}

	// 6.5.x-6.23.x: Markus Kuhn's UTF-8 decoder stress test, as Autobahn
	// sends it: each sequence alone, in one frame. Valid → echoed byte for
	// byte; invalid → 1007.
	for _, tc := range autobahnUTF8Cases() {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, srv, "/echo")
			c.send(text(tc.payload))
			if tc.valid {
				c.expect(text(tc.payload))
				c.closeHandshake()
			} else {
				c.expectClose(StatusInvalidData)
			}
		})
	}
}

// TestClose is Autobahn section 7: the closing handshake (RFC 6455 §5.5.1,
// §7), close codes (§7.4) and close reasons (§5.5.1, §8.1).
//
// Every case ends in expectEOF without the client ever closing its side,
// so each one also proves S-61: the server closes TCP first.
func TestClose(t *testing.T) {
	srv := newTestServer(t, Options{})

	t.Run("7.1.1 echo, then close", func(t *testing.T) {
		c := dial(t, srv, "/echo")
		c.send(text("Hello World!"), closeFrame(StatusNormal, ""))
		c.expect(text("Hello World!"))
		c.expectClose(StatusNormal)
	})
	// S-46: one Close per connection, whatever the peer sends after its own.
	// S-49: once the peer's Close has arrived, nothing else it sends is
	// processed: no second Close, no pong, no echo.
	afterClose := []struct {
		name  string
		after frame
	}{
		{"7.1.2 two closes get one reply", frame{fin: true, op: OpClose}},
		{"7.1.3 no pong for a ping after close", ping("")},
		{"7.1.4 no echo for a text after close", text("Hello World!")},
	}
	for _, tc := range afterClose {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, srv, "/echo")
			c.send(closeFrame(StatusNormal, ""), tc.after)
			c.expectClose(StatusNormal)
		})
	}
	t.Run("7.1.5 fragment, close, the rest of the message", func(t *testing.T) {
		c := dial(t, srv, "/echo")
		c.send(fragment(true, false, text("fragment1")), closeFrame(StatusNormal, ""), fragment(false, true, text("fragment2")))
		c.expectClose(StatusNormal)
	})
	// S-60: the ping after the Close is still unread when the server is
	// done; closing the socket then would send a reset. The server must
	// half-close and drain instead, so the client reads a clean EOF.
	t.Run("7.1.6 256 KiB text, close and ping in one write", func(t *testing.T) {
		c := dial(t, srv, "/echo")
		big := string(repeatTo("BAsd7&jh23", 256<<10))
		c.send(text(big), text("Hello World!"), closeFrame(StatusNormal, ""), ping(""))
		c.expect(text(big), text("Hello World!"))
		c.expectClose(StatusNormal)
	})
	// S-60 again, with more trailing bytes than the server's read buffer
	// holds: in 7.1.6 the ping may already sit in the server's bufio.Reader,
	// where closing the socket does not notice it; 256 KiB after the Close
	// are still in the kernel, and a socket closed over unread bytes sends
	// a reset (RFC 1122 §4.2.2.13). Both ways to end: the client's Close,
	// and a frame that fails the connection.
	trailing := []struct {
		name string
		end  frame
		want StatusCode
	}{
		{"S-60 Close, then 256 KiB in the same write", closeFrame(StatusNormal, ""), StatusNormal},
		{"S-60 a reserved opcode, then 256 KiB in the same write", frame{fin: true, op: 0xB}, StatusProtocolError},
	}
	for _, tc := range trailing {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, srv, "/echo")
			c.send(tc.end, binaryFrame(make([]byte, 256<<10)))
			c.expectClose(tc.want)
		})
	}

	t.Run("7.3.1 empty close gets an empty close or 1000, never 1005", func(t *testing.T) {
		c := dial(t, srv, "/echo")
		c.send(frame{fin: true, op: OpClose})
		f, err := c.readFrame()
		if err != nil {
			t.Fatalf("waiting for the Close reply: %v", err)
		}
		// §7.4.1: 1005 is never sent; S-46, S-67.
		if f.op != OpClose || !(len(f.payload) == 0 || bytes.Equal(f.payload, []byte{0x03, 0xE8})) {
			t.Fatalf("got %v, want an empty Close or Close 1000", f)
		}
		c.expectEOF()
	})
	// §5.5.1: a Close body is empty or a 2-byte code and a UTF-8 reason; a
	// control frame carries at most 125 bytes (§5.5).
	bodies := []struct {
		name string
		send frame
		want StatusCode
	}{
		{"7.3.2 a 1-byte close body", frame{fin: true, op: OpClose, payload: []byte("a")}, StatusProtocolError}, // S-45
		{"7.3.3 close 1000", closeFrame(StatusNormal, ""), StatusNormal},
		{"7.3.4 close 1000 with a reason", closeFrame(StatusNormal, "Hello World!"), StatusNormal},
		{"7.3.5 a 123-byte reason", closeFrame(StatusNormal, strings.Repeat("*", 123)), StatusNormal},
		{"7.3.6 a 124-byte reason is a control frame too long", closeFrame(StatusNormal, strings.Repeat("*", 124)), StatusProtocolError}, // S-44
		{"7.5.1 a reason that is not UTF-8", closeFrame(StatusNormal, invalidAtByte12), StatusInvalidData},                               // S-70
	}
	for _, tc := range bodies {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, srv, "/echo")
			c.send(tc.send)
			c.expectClose(tc.want)
		})
	}

	// S-68: codes a peer may send are echoed (S-46); any other code fails
	// the connection with 1002 (§7.4.2, §10.7).
	type codeCase struct {
		id   string
		code StatusCode
		want StatusCode
	}
	var codes []codeCase
	for i, code := range []StatusCode{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999} {
		want := code
		if code == StatusMissingExtension {
			want = StatusNormal // 1010 is a client's code: a server never sends it (§7.4.1, S-67)
		}
		codes = append(codes, codeCase{fmt.Sprintf("7.7.%d", i+1), code, want})
	}
	for _, code := range []StatusCode{1012, 1013, 1014} { // IANA, after the RFC; Autobahn skips them
		codes = append(codes, codeCase{"S-68", code, code})
	}
	for i, code := range []StatusCode{0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999} {
		codes = append(codes, codeCase{fmt.Sprintf("7.9.%d", i+1), code, StatusProtocolError})
	}
	codes = append(codes, codeCase{"S-68", 1015, StatusProtocolError}) // reported only, never sent (§7.4.1)
	codes = append(codes, codeCase{"7.13.1", 5000, StatusProtocolError}, codeCase{"7.13.2", 65535, StatusProtocolError})
	for _, tc := range codes {
		t.Run(fmt.Sprintf("%s close code %d gets %d", tc.id, tc.code, tc.want), func(t *testing.T) {
			c := dial(t, srv, "/echo")
			c.send(closeFrame(tc.code, ""))
			c.expectClose(tc.want)
		})
	}

	// Server-initiated closes through the application's wrapper (main.go):
	// the server sends its Close, the client answers, the server closes TCP.
	t.Run("S-62 a handler that returns closes with 1000", func(t *testing.T) {
		_, srv := newAppServer(t, Options{}, func(*Conn) error { return nil })
		c := dial(t, srv, "/")
		c.expect(closeFrame(StatusNormal, "")) // exactly 88 02 03 E8
		c.send(closeFrame(StatusNormal, ""))
		c.expectEOF()
	})
	t.Run("S-69 a handler that panics closes with 1011", func(t *testing.T) {
		_, srv := newAppServer(t, Options{}, func(*Conn) error { panic("boom") })
		c := dial(t, srv, "/")
		c.expect(closeFrame(StatusInternalError, "internal error"))
		c.send(closeFrame(StatusInternalError, ""))
		c.expectEOF()
	})
	t.Run("S-66 shutdown closes every connection with 1001", func(t *testing.T) {
		s, srv := newAppServer(t, Options{}, echo)
		c := dial(t, srv, "/")
		c.send(text("hi"))
		c.expect(text("hi")) // the connection is tracked by now
		s.goingAway()
		c.expect(closeFrame(StatusGoingAway, "server shutting down"))
		c.send(closeFrame(StatusGoingAway, ""))
		c.expectEOF()
	})

	// S-66 (§7.1.2): shutdown's Close(1001) comes from another goroutine.
	// The reader gets one more message, its echo fails (ErrClosed), and the
	// handler returns; someone must still read the client's Close and
	// close TCP at once, cleanly (S-48, S-60): the close timeout here is an
	// hour, so only a clean close ends the test in time.
	t.Run("S-66 shutdown while the reader stops reading", func(t *testing.T) {
		s, srv := newAppServer(t, Options{CloseTimeout: time.Hour}, echo)
		c := dial(t, srv, "/")
		s.goingAway()
		c.expect(closeFrame(StatusGoingAway, "server shutting down"))
		c.send(text("one more"), closeFrame(StatusGoingAway, ""))
		c.expectEOF()
		c.nc.Close() // §7.1.1: the client closes after the server
	})

	// S-48, S-61 over TLS (§7.1.1): the server closes TCP first. A TLS
	// CloseWrite sends only close_notify; without the TCP FIN the client
	// would wait for the close timeout, here an hour.
	t.Run("S-61 over TLS the server sends the FIN first", func(t *testing.T) {
		c := dialTLS(t, newTLSTestServer(t, Options{CloseTimeout: time.Hour}), "/echo")
		c.closeHandshake()
	})
}

// TestLimits is Autobahn section 9, scaled down, and the size limits of
// RFC 6455 §10.4 and §5.2 (S-73, S-34).
//
// The real section 9 sends messages of up to 16 MiB. Here every message
// size is divided by 16, and so is every fragment size, which keeps
// Autobahn's fragment counts (9.3.1 is still 65,536 fragments); chop sizes
// (9.5, 9.6) and message sizes of 9.7 and 9.8 are Autobahn's, and the
// number of round trips is divided by 10. The whole test takes a few
// seconds under -race.
func TestLimits(t *testing.T) {
	// A messageKind is one of the two halves of a section 9 case: text
	// (9.1, 9.3, ...) or binary (9.2, 9.4, ...), with Autobahn's payload.
	type messageKind struct {
		section int
		op      Opcode
		pattern string
	}
	srv := newTestServer(t, Options{MaxMessage: 16 << 20}) // main.go's default

	// 9.1.x, 9.2.x: one frame, growing sizes.
	sizes := []int{64 << 10, 256 << 10, 1 << 20, 4 << 20, 8 << 20, 16 << 20}
	for i, size := range sizes {
		size /= 16
		for _, kind := range []messageKind{{1, OpText, "BAsd7&jh23"}, {2, OpBinary, "\x00\xfe\x23\xfa\xf0"}} {
			t.Run(fmt.Sprintf("9.%d.%d %s of %d bytes", kind.section, i+1, opName(kind.op), size), func(t *testing.T) {
				c := dial(t, srv, "/echo")
				msg := frame{fin: true, op: kind.op, payload: repeatTo(kind.pattern, size)}
				c.send(msg)
				c.expect(msg)
				c.closeHandshake()
			})
		}
	}

	// 9.3.x, 9.4.x: one message of 4 MiB (here 256 KiB) in fragments of
	// 64 B (here 4 B) up to the whole message (S-43).
	fragSizes := []int{64, 256, 1 << 10, 4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20}
	for i, fragSize := range fragSizes {
		fragSize /= 16
		for _, kind := range []messageKind{{3, OpText, "*"}, {4, OpBinary, "\xfe"}} {
			size := (4 << 20) / 16
			t.Run(fmt.Sprintf("9.%d.%d %s of %d bytes in %d-byte fragments", kind.section, i+1, opName(kind.op), size, fragSize), func(t *testing.T) {
				c := dial(t, srv, "/echo")
				msg := string(repeatTo(kind.pattern, size))
				c.send(inFragmentsOf(kind.op, msg, fragSize)...)
				c.expect(frame{fin: true, op: kind.op, payload: []byte(msg)})
				c.closeHandshake()
			})
		}
	}

	// 9.5.x, 9.6.x: one frame of 1 MiB (here 64 KiB) written in chops of
	// 64 B to 2 KiB, so the server's reads end anywhere (S-36, S-37).
	for i, chop := range []int{64, 128, 256, 512, 1024, 2048} {
		for _, kind := range []messageKind{{5, OpText, "BAsd7&jh23"}, {6, OpBinary, "\x00\xfe\x23\xfa\xf0"}} {
			size := (1 << 20) / 16
			t.Run(fmt.Sprintf("9.%d.%d %s of %d bytes in %d-byte writes", kind.section, i+1, opName(kind.op), size, chop), func(t *testing.T) {
				c := dial(t, srv, "/echo")
				msg := frame{fin: true, op: kind.op, payload: repeatTo(kind.pattern, size)}
				c.sendInPieces(chop, msg)
				c.expect(msg)
				c.closeHandshake()
			})
		}
	}

	// 9.7.x, 9.8.x: round trips of small messages, each sent only once the
	// previous one came back (Autobahn: 1000 of each size; here 100).
	for i, size := range []int{0, 16, 64, 256, 1024, 4096} {
		for _, kind := range []messageKind{{7, OpText, "*"}, {8, OpBinary, "\xfe"}} {
			t.Run(fmt.Sprintf("9.%d.%d 100 round trips of %d-byte %s", kind.section, i+1, size, opName(kind.op)), func(t *testing.T) {
				c := dial(t, srv, "/echo")
				msg := frame{fin: true, op: kind.op, payload: repeatTo(kind.pattern, size)}
				for range 100 {
					c.send(msg)
					c.expect(msg)
				}
				c.closeHandshake()
			})
		}
	}

	// S-73, S-34: a 1 KiB limit, checked against the length in each header
	// before any payload is read (§10.4). Most cases send only a header:
	// the payload never comes, so only a server that judges the header
	// alone answers before the client's read deadline.
	const limit = 1024
	small := newTestServer(t, Options{MaxMessage: limit})
	refused := []struct {
		name      string
		send      []byte  // raw bytes: a header only
		sendFirst []frame // whole frames, written before send in the same write
		want      StatusCode
	}{
		{"S-73 a header announcing 2^36 bytes, and no payload", maskedHeader(0x82, 1<<36), nil, StatusTooBig},
		// The largest length §5.2 allows: refused from the header, before
		// a byte is allocated (TestAnnouncedLengthIsNotAllocated).
		{"S-73 a header announcing 2^63-1 bytes, and no payload", maskedHeader(0x82, 1<<63-1), nil, StatusTooBig},
		{"S-73 a header announcing limit+1 bytes, and no payload", maskedHeader(0x82, limit+1), nil, StatusTooBig},
		{"S-34 a 64-bit length with the top bit set", maskedHeader(0x82, 1<<63), nil, StatusProtocolError},
		{"S-73 fragments that add up past the limit by 1, the last one only announced",
			maskedHeader(0x80, 1), []frame{fragment(true, false, binaryFrame(make([]byte, limit)))}, StatusTooBig},
		{"S-73 fragments that add up past the limit, the 3rd only announced",
			maskedHeader(0x80, 25), inFragments(OpBinary, strings.Repeat("a", 500), strings.Repeat("b", 500), "")[:2], StatusTooBig},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, small, "/echo")
			first := c.encode(tc.sendFirst...)
			c.write(append(first, tc.send...))
			c.expectClose(tc.want)
		})
	}
	accepted := []struct {
		name   string
		frames []frame
		want   []frame
	}{
		{"S-73 the limit-1 in one frame", []frame{binaryFrame(repeatTo("\xfe", limit-1))}, []frame{binaryFrame(repeatTo("\xfe", limit-1))}},
		{"S-73 the limit-1 in fragments", inFragmentsOf(OpText, strings.Repeat("*", limit-1), 100), []frame{text(strings.Repeat("*", limit-1))}},
		{"S-73 exactly the limit in one frame", []frame{binaryFrame(repeatTo("\xfe", limit))}, []frame{binaryFrame(repeatTo("\xfe", limit))}},
		{"S-73 exactly the limit in fragments", inFragmentsOf(OpText, strings.Repeat("*", limit), 100), []frame{text(strings.Repeat("*", limit))}},
		// Control frames between fragments are not part of the message.
		{"S-73 the limit in fragments with a ping between them",
			[]frame{fragment(true, false, text(strings.Repeat("x", limit-24))), ping(strings.Repeat("p", 125)), fragment(false, true, text(strings.Repeat("y", 24)))},
			[]frame{pong(strings.Repeat("p", 125)), text(strings.Repeat("x", limit-24) + strings.Repeat("y", 24))}},
	}
	for _, tc := range accepted {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, small, "/echo")
			c.send(tc.frames...)
			c.expect(tc.want...)
			c.closeHandshake()
		})
	}

	// §10.4: every frame costs work, whatever its size, so a message may
	// come in at most MaxFragments frames; a peer that sends one empty
	// fragment after another would otherwise hold the reader forever.
	// Control frames between the fragments are not fragments (§5.4). The
	// frame past the limit is refused from its header: its payload never
	// comes. The default, 2^17, is twice the 65,536 fragments of Autobahn
	// 9.3.1; Options.MaxFragments (-max-fragments) sets another.
	// At the default, limit-1 would only repeat the small case, slowly.
	fragmentLimits := []struct {
		name     string
		opts     Options
		limit    int
		accepted []int
	}{
		{"-max-fragments 4", Options{MaxFragments: 4}, 4, []int{3, 4}},
		{"the default", Options{}, 1 << 17, []int{1 << 17}},
	}
	for _, fl := range fragmentLimits {
		srv := newTestServer(t, fl.opts)
		for _, n := range fl.accepted {
			t.Run(fmt.Sprintf("%s: %d fragments and a ping among them are one message", fl.name, n), func(t *testing.T) {
				c := dial(t, srv, "/echo")
				msg := make([]byte, n)
				parts := make([]frame, 0, n+1)
				for i := range n {
					msg[i] = byte(i)
					parts = append(parts, fragment(i == 0, i == n-1, binaryFrame(msg[i:i+1])))
					if i == 0 {
						parts = append(parts, ping("between"))
					}
				}
				c.send(parts...)
				c.expect(pong("between"), binaryFrame(msg))
				c.closeHandshake()
			})
		}
		t.Run(fmt.Sprintf("%s: fragment %d is refused from its header: 1009", fl.name, fl.limit+1), func(t *testing.T) {
			c := dial(t, srv, "/echo")
			parts := make([]frame, fl.limit)
			for i := range parts {
				parts[i] = fragment(i == 0, false, binaryFrame(nil))
			}
			c.write(append(c.encode(parts...), maskedHeader(0x80, 1)...)) // the last fragment announces 1 byte, never sent
			if reason := c.readClose(StatusTooBig); reason != fmt.Sprintf("message in more than %d fragments", fl.limit) {
				t.Errorf("Close 1009 with reason %q", reason)
			}
			c.expectEOF()
		})
	}
}

// Autobahn 10.1.1, and the rules of §5.4 and §6.2 about how frames may be
// cut and packed.
func TestMisc(t *testing.T) {
	long := strings.Repeat("*", 65536)
	var packed []frame // firstRead bytes in all, in masked frames of 16 (a 6-byte header)
	for i := range firstRead / 16 {
		packed = append(packed, text(strings.Repeat(string(rune('1'+i)), 10)))
	}
	// exact is the payload of a masked frame of firstRead bytes: a 6-byte
	// header up to 125 bytes of payload, 8 bytes beyond (§5.2).
	exact := firstRead - 6
	if exact > 125 {
		exact = firstRead - 8
	}
	runAutobahn(t, []autobahnCase{
		// S-43 (§5.4): 65536 bytes as 50 fragments of 1300 bytes and one of 536.
		{id: "10.1.1 text of 65536 bytes in 1300-byte fragments", steps: []exchange{{
			send: fragments(text(long), 1300),
			want: []frame{text(long)},
		}}},
		// S-43 (§5.4): a fragment may be empty, first, middle or last.
		{id: "S-43 §5.4 text in 3 empty fragments", steps: []exchange{{
			send: []frame{fragment(true, false, text("")), fragment(false, false, text("")), fragment(false, true, text(""))},
			want: []frame{text("")},
		}}},
		{id: "S-43 §5.4 binary with empty fragments around the data", steps: []exchange{{
			send: []frame{
				fragment(true, false, binaryFrame(nil)), fragment(false, false, binaryFrame([]byte{1, 2, 3})),
				fragment(false, false, binaryFrame(nil)), fragment(false, true, binaryFrame([]byte{4})),
			},
			want: []frame{binaryFrame([]byte{1, 2, 3, 4})},
		}}},
		// S-59 (§6.2): FIN ends a message; the next frame, in the same
		// write, starts the next one.
		{id: "S-59 §6.2 two messages in one write", steps: []exchange{{
			send: []frame{text("first"), binaryFrame([]byte{0xFF, 0xFE})},
			want: []frame{text("first"), binaryFrame([]byte{0xFF, 0xFE})},
		}}},
		// S-57 (§6.1): the echo is queued, and must leave before the
		// reader waits for more, however the bytes that came fill the
		// reader's buffer: here exactly the firstRead bytes an idle
		// connection reads first (one masked frame; then frames of 16
		// bytes).
		{id: "S-57 §6.1 a frame as long as the first read", steps: []exchange{{
			send: []frame{text(strings.Repeat("a", exact))},
			want: []frame{text(strings.Repeat("a", exact))},
		}}},
		{id: "S-57 §6.1 frames of 16 bytes, as long as the first read, in one write", steps: []exchange{{
			send: packed,
			want: packed,
		}}},
		// S-36, S-37 (§5.3, §6.2): a 64 KiB frame one byte per write: the
		// header arrives in pieces, and the mask index keeps counting
		// across reads.
		{id: "S-37 §5.3 binary of 65536 bytes in 1-byte writes", steps: []exchange{{
			send:   []frame{binaryFrame(pattern(65536))},
			pieces: 1,
			want:   []frame{binaryFrame(pattern(65536))},
		}}},
	})

	// S-58 (§6.2): frames start at the first byte after the request, even
	// when they arrive in the same write as the request, and net/http has
	// read them already.
	afterRequest := []struct {
		name   string
		frames []frame
	}{
		{"S-58 §6.2 handshake and a frame in one write", []frame{text("Hello")}},
		// A frame longer than net/http's 4 KiB buffer: part of it was read
		// ahead with the request, the rest is still on the wire.
		{"S-58 §6.2 handshake, a 5000-byte frame and a ping in one write", []frame{text(strings.Repeat("x", 5000)), ping("after")}},
	}
	for _, tc := range afterRequest {
		t.Run(tc.name, func(t *testing.T) {
			srv := newTestServer(t, Options{})
			var raw []byte
			raw = append(raw, handshakeRequest(srv.Listener.Addr().String(), "/echo")...)
			for _, f := range tc.frames {
				raw = append(raw, encode(f, [4]byte{0x37, 0xfa, 0x21, 0x3d})...)
			}
			c := connect(t, srv, string(raw))
			c.expectAccepted(sampleAccept, nil)
			var want []frame
			for _, f := range tc.frames {
				if f.op == OpPing {
					f.op = OpPong
				}
				want = append(want, f)
			}
			c.expect(want...)
			c.closeHandshake()
		})
	}
}

// ---------------------------------------------------------------------------
// Bad peers: silent, slow, vanished
// ---------------------------------------------------------------------------

// TestTimeouts: every wait on a peer is bounded (RFC 6455 §10.4, §7.1.1,
// §7.1.2), and a quiet but healthy peer is kept alive with pings (§5.5.2).
// Each case uses a short timeout for what it tests and a long one
// (longer than the client's testTimeout) for the rest, so that the event
// the client sees can only come from the timeout under test. Nothing is
// timed: the client waits for frames and EOF, within its deadline.
func TestTimeouts(t *testing.T) {
	const short, long = 200 * time.Millisecond, time.Minute

	t.Run("a silent client is pinged, then dropped", func(t *testing.T) {
		srv := newTestServer(t, Options{IdleTimeout: short, CloseTimeout: long})
		c := dial(t, srv, "/echo")
		c.expect(ping("")) // §5.5.2, after IdleTimeout/2 of silence
		c.expectEOF()      // and after the other half, the connection is gone
	})
	t.Run("a client that answers every ping stays connected", func(t *testing.T) {
		srv := newTestServer(t, Options{IdleTimeout: short, CloseTimeout: long})
		c := dial(t, srv, "/echo")
		for range 3 {
			c.expect(ping(""))
			c.send(pong("")) // §5.5.3
		}
		c.send(text("still here"))
		c.expect(text("still here"))
		c.closeHandshake()
	})
	t.Run("a client that stops in the middle of a frame is dropped", func(t *testing.T) {
		srv := newTestServer(t, Options{IdleTimeout: short, CloseTimeout: long})
		c := dial(t, srv, "/echo")
		b := c.encode(text("0123456789"))
		c.write(b[:len(b)-7]) // the header and 3 of 10 payload bytes
		c.expect(ping(""))
		c.expectEOF()
	})
	t.Run("a client that stops in the middle of a header is dropped", func(t *testing.T) {
		srv := newTestServer(t, Options{IdleTimeout: short, CloseTimeout: long})
		c := dial(t, srv, "/echo")
		c.write(c.encode(binaryFrame(make([]byte, 300)))[:3]) // 3 of 8 header bytes
		c.expect(ping(""))
		c.expectEOF()
	})
	// S-62: the server closes (/websocket takes no binary: 1003); the client
	// never answers its Close; the server closes TCP after CloseTimeout.
	t.Run("S-62 a server Close that is never answered", func(t *testing.T) {
		srv := newTestServer(t, Options{IdleTimeout: long, CloseTimeout: short})
		c := dial(t, srv, "/websocket")
		c.send(binaryFrame([]byte{1, 2, 3}))
		c.expectClose(StatusUnsupportedData)
	})
	// S-62: the client never answers the server's Close, but is not
	// silent either: it keeps sending data and pings, which the server
	// reads and drops (S-30). Reads that succeed never hit the idle
	// timeout (an hour here): the close timeout bounds the closing
	// handshake as a whole, and the server drops the client.
	t.Run("S-62 a server Close that is never answered, the client still sending", func(t *testing.T) {
		srv := newTestServer(t, Options{IdleTimeout: time.Hour, CloseTimeout: short})
		c := dial(t, srv, "/websocket")
		c.send(binaryFrame([]byte{1, 2, 3}))
		c.readClose(StatusUnsupportedData)
		c.writeUntilDropped(c.encode(text(`{"output": "still here"}`), ping("and here")), "had not answered its Close")
	})
	// S-48: the client answers, and with both Closes seen the server closes
	// TCP at once: with a one-minute CloseTimeout, the EOF can only arrive
	// within the client's deadline if the server does not wait for it.
	t.Run("S-48 a server Close that is answered", func(t *testing.T) {
		srv := newTestServer(t, Options{IdleTimeout: long, CloseTimeout: long})
		c := dial(t, srv, "/websocket")
		c.send(binaryFrame([]byte{1, 2, 3}))
		c.readClose(StatusUnsupportedData)
		c.send(closeFrame(StatusUnsupportedData, ""))
		c.expectEOF()
	})
	// S-30, S-49: what the client sends between the server's Close and its
	// own is read and dropped: no answer, no pong, and the Close still
	// ends the handshake.
	t.Run("S-62 data before the client answers a server Close is dropped", func(t *testing.T) {
		srv := newTestServer(t, Options{IdleTimeout: long, CloseTimeout: long})
		c := dial(t, srv, "/websocket")
		c.send(binaryFrame([]byte{1, 2, 3}))
		c.readClose(StatusUnsupportedData)
		c.send(text(`{"output": "late"}`), ping("late"), closeFrame(StatusUnsupportedData, ""))
		c.expectEOF()
	})
	// A client that stops reading: the server's echo stalls, and after
	// IdleTimeout without the client accepting a byte the server gives up
	// (Options.IdleTimeout; §10.4 on resource exhaustion). The event is the
	// client's own write failing with a reset or broken pipe once the server
	// closed the socket, instead of blocking until the client's deadline.
	t.Run("a client that stops reading is dropped", func(t *testing.T) {
		srv := newTestServer(t, Options{IdleTimeout: short, CloseTimeout: long})
		c := dial(t, srv, "/echo")
		c.writeUntilDropped(c.encode(binaryFrame(make([]byte, 1<<20))), "had not read")
	})
	// S-48 from the other side: the client closes, the server answers and
	// closes TCP at once, without waiting CloseTimeout for the client.
	t.Run("S-48 a client Close", func(t *testing.T) {
		srv := newTestServer(t, Options{IdleTimeout: long, CloseTimeout: long})
		c := dial(t, srv, "/echo")
		c.closeHandshake()
	})
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

// An autobahnCase is one case of the Autobahn TestSuite, played against
// /echo: its steps in order, then either a clean close handshake started
// by the client (fail == 0: the connection must still be open), or the
// server failing the connection with Close fail and closing TCP, with no
// frame in between (§7.1.7, S-64, S-65).
type autobahnCase struct {
	id        string
	handshake []string // extra header lines for the handshake
	steps     []exchange
	fail      StatusCode
}

// An exchange sends frames the way the case does, then reads exactly want.
type exchange struct {
	send   []frame
	pieces int // oneWrite, frameWise, or writes of at most this many bytes
	want   []frame
}

// How an exchange cuts its bytes into writes; a positive number is a
// maximum write size (Autobahn's chopsize).
const (
	oneWrite  = 0  // every frame in one write
	frameWise = -1 // each frame in its own write (Autobahn's sync=True)
)

func piecesName(pieces int) string {
	switch pieces {
	case oneWrite:
		return "in one write"
	case frameWise:
		return "frame by frame"
	default:
		return fmt.Sprintf("in %d-byte writes", pieces)
	}
}

// play runs the case tc's exchanges on c, then ends as the case says: a
// closing handshake, or the server's Close with tc.fail.
func (c *testClient) play(tc autobahnCase) {
	for _, x := range tc.steps {
		switch x.pieces {
		case oneWrite:
			c.send(x.send...)
		case frameWise:
			for _, f := range x.send {
				c.send(f)
			}
		default:
			c.sendInPieces(x.pieces, x.send...)
		}
		c.expect(x.want...)
	}
	if tc.fail == 0 {
		c.closeHandshake()
	} else {
		c.expectClose(tc.fail)
	}
}

// runAutobahn runs each case as a subtest named by its id, each with its
// own server, so that one case can run alone (-run) and a handler leaked
// by a case is blamed on it.
func runAutobahn(t *testing.T, cases []autobahnCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.id, func(t *testing.T) {
			srv := newTestServer(t, Options{})
			c := dial(t, srv, "/echo", tc.handshake...)
			if got := c.resp.Header.Values("Sec-WebSocket-Extensions"); got != nil {
				t.Fatalf("the server accepted extensions %q, and implements none (S-21)", got)
			}
			c.play(tc)
		})
	}
}

// fragments cuts f's payload into fragments of size bytes, the last one
// shorter (Autobahn's autoFragmentSize).
func fragments(f frame, size int) []frame {
	var out []frame
	for start := 0; start < len(f.payload); start += size {
		part := f
		part.payload = f.payload[start:min(start+size, len(f.payload))]
		out = append(out, fragment(start == 0, start+size >= len(f.payload), part))
	}
	return out
}

// encodeLengthForm encodes f masked with key, like encode, but with its
// length in the 16-bit or 64-bit form (bits), whatever the payload's size.
func encodeLengthForm(f frame, key [4]byte, bits int) []byte {
	b := []byte{0x80 | byte(f.op)}
	if bits == 16 {
		b = binary.BigEndian.AppendUint16(append(b, 0x80|126), uint16(len(f.payload)))
	} else {
		b = binary.BigEndian.AppendUint64(append(b, 0x80|127), uint64(len(f.payload)))
	}
	minimal := encode(f, key)
	return append(append(b, key[:]...), minimal[len(minimal)-len(f.payload):]...)
}

// pattern returns n bytes that are not all alike, so that a byte moved or
// unmasked with the wrong key index shows.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}

// inFragments returns one message of type op in len(parts) frames: the first
// with op, the others continuations, the last final (§5.4).
func inFragments(op Opcode, parts ...string) []frame {
	var fs []frame
	for i, p := range parts {
		fs = append(fs, fragment(i == 0, i == len(parts)-1, frame{op: op, payload: []byte(p)}))
	}
	return fs
}

// inFragmentsOf returns msg as one message of type op in fragments of size
// bytes (the last may be shorter).
func inFragmentsOf(op Opcode, msg string, size int) []frame {
	var parts []string
	for len(msg) > size {
		parts = append(parts, msg[:size])
		msg = msg[size:]
	}
	return inFragments(op, append(parts, msg)...)
}

// repeatTo returns pattern repeated and cut to n bytes, the way Autobahn
// builds payload_len payloads.
func repeatTo(pattern string, n int) []byte {
	return []byte(strings.Repeat(pattern, n/len(pattern)+1)[:n])
}

// maskedHeader is a frame header with first byte b0, a 64-bit length and
// a masking key, and no payload: a frame only announced (§5.2).
func maskedHeader(b0 byte, length uint64) []byte {
	b := []byte{b0, 0x80 | 127}
	for shift := 56; shift >= 0; shift -= 8 {
		b = append(b, byte(length>>shift))
	}
	return append(b, 0x12, 0x34, 0x56, 0x78)
}

// opName names a data opcode, for test names.
func opName(op Opcode) string {
	if op == OpText {
		return "text"
	}
	return "binary"
}

// A utf8Case is one of Autobahn's cases 6.5.1-6.23.7.
type utf8Case struct {
	name    string
	payload string
	valid   bool
}

// autobahnUTF8Cases mirrors createUtf8TestSequences in Autobahn's
// case/case6_x_x.py, itself Markus Kuhn's UTF-8-test.txt: the k-th
// category (from 0) is section 6.(k+5), and its sequences are cases
// 6.(k+5).1, 6.(k+5).2, ... in this order. Validity is written out, not
// computed, so the test does not share the server's validator.
func autobahnUTF8Cases() []utf8Case {
	type seq struct {
		valid bool
		s     string
	}
	all := func(valid bool, ss ...string) []seq {
		var out []seq
		for _, s := range ss {
			out = append(out, seq{valid, s})
		}
		return out
	}
	const yes, no = true, false

	var prefixes []seq // every prefix of κόσμε: valid where a code point ends
	for i, v := range []bool{no, yes, no, no, yes, no, yes, no, yes, no, yes} {
		prefixes = append(prefixes, seq{v, kosme[:i+1]})
	}
	var allContinuations []byte // 0x80-0xBE: Python's xrange(0x80, 0xbf)
	for b := 0x80; b < 0xbf; b++ {
		allContinuations = append(allContinuations, byte(b))
	}
	var lonely []string // each start byte of a range, followed by a space
	for _, r := range [][2]int{{0xc0, 0xdf}, {0xe0, 0xef}, {0xf0, 0xf7}, {0xf8, 0xfb}, {0xfc, 0xfd}} {
		var s []byte
		for b := r[0]; b < r[1]; b++ {
			s = append(s, byte(b), 0x20)
		}
		lonely = append(lonely, string(s))
	}
	missingLast := []string{"\xc0", "\xe0\x80", "\xf0\x80\x80", "\xf8\x80\x80\x80", "\xfc\x80\x80\x80\x80",
		"\xdf", "\xef\xbf", "\xf7\xbf\xbf", "\xfb\xbf\xbf\xbf", "\xfd\xbf\xbf\xbf\xbf"}
	nonCharacters := all(yes, "\xef\xbf\xbe", "\xef\xbf\xbf")
	for _, z1 := range []string{"\xf0", "\xf1", "\xf2", "\xf3", "\xf4"} {
		for _, z2 := range []string{"\x8f", "\x9f", "\xaf", "\xbf"} {
			if z1 == "\xf4" && z2 != "\x8f" {
				continue // beyond U+10FFFF
			}
			for _, z3 := range []string{"\xbe", "\xbf"} {
				if zz := z1 + z2 + "\xbf" + z3; zz != "\xf0\x8f\xbf\xbe" && zz != "\xf0\x8f\xbf\xbf" { // overlong
					nonCharacters = append(nonCharacters, seq{yes, zz})
				}
			}
		}
	}

	categories := []struct {
		name string
		seqs []seq
	}{
		{"some valid UTF-8", all(yes, "hello\x24world", "hello\xc2\xa2world", "hello\xe2\x82\xacworld", "hello\xf0\xa4\xad\xa2world", kosme)},
		{"a prefix of kosme", prefixes},
		{"first sequence of a length", all(yes, "\x00", "\xc2\x80", "\xe0\xa0\x80", "\xf0\x90\x80\x80")},
		{"first 5- or 6-byte sequence", all(no, "\xf8\x88\x80\x80\x80", "\xfc\x84\x80\x80\x80\x80")},
		{"last sequence of a length", all(yes, "\x7f", "\xdf\xbf", "\xef\xbf\xbf", "\xf4\x8f\xbf\xbf")},
		{"last 4-, 5- or 6-byte sequence", all(no, "\xf7\xbf\xbf\xbf", "\xfb\xbf\xbf\xbf\xbf", "\xfd\xbf\xbf\xbf\xbf\xbf")},
		{"other boundary", append(all(yes, "\xed\x9f\xbf", "\xee\x80\x80", "\xef\xbf\xbd", "\xf4\x8f\xbf\xbf"), seq{no, "\xf4\x90\x80\x80"})},
		{"unexpected continuation bytes", all(no, "\x80", "\xbf", "\x80\xbf", "\x80\xbf\x80", "\x80\xbf\x80\xbf",
			"\x80\xbf\x80\xbf\x80", "\x80\xbf\x80\xbf\x80\xbf", string(allContinuations))},
		{"lonely start bytes", all(no, lonely...)},
		{"last continuation byte missing", all(no, missingLast...)},
		{"concatenated incomplete sequences", all(no, strings.Join(missingLast, ""))},
		{"impossible bytes", all(no, "\xfe", "\xff", "\xfe\xfe\xff\xff")},
		{"overlong ASCII", all(no, "\xc0\xaf", "\xe0\x80\xaf", "\xf0\x80\x80\xaf", "\xf8\x80\x80\x80\xaf", "\xfc\x80\x80\x80\x80\xaf")},
		{"maximum overlong", all(no, "\xc1\xbf", "\xe0\x9f\xbf", "\xf0\x8f\xbf\xbf", "\xf8\x87\xbf\xbf\xbf", "\xfc\x83\xbf\xbf\xbf\xbf")},
		{"overlong NUL", all(no, "\xc0\x80", "\xe0\x80\x80", "\xf0\x80\x80\x80", "\xf8\x80\x80\x80\x80", "\xfc\x80\x80\x80\x80\x80")},
		{"single UTF-16 surrogate", all(no, "\xed\xa0\x80", "\xed\xad\xbf", "\xed\xae\x80", "\xed\xaf\xbf", "\xed\xb0\x80", "\xed\xbe\x80", "\xed\xbf\xbf")},
		{"paired UTF-16 surrogates", all(no, "\xed\xa0\x80\xed\xb0\x80", "\xed\xa0\x80\xed\xbf\xbf", "\xed\xad\xbf\xed\xb0\x80", "\xed\xad\xbf\xed\xbf\xbf",
			"\xed\xae\x80\xed\xb0\x80", "\xed\xae\x80\xed\xbf\xbf", "\xed\xaf\xbf\xed\xb0\x80", "\xed\xaf\xbf\xed\xbf\xbf")},
		{"non-character (valid UTF-8)", nonCharacters},
		{"Unicode specials", all(yes, "\xef\xbf\xb9", "\xef\xbf\xba", "\xef\xbf\xbb", "\xef\xbf\xbc", "\xef\xbf\xbd", "\xef\xbf\xbe", "\xef\xbf\xbf")},
	}
	var cases []utf8Case
	for k, cat := range categories {
		for j, s := range cat.seqs {
			verdict := "invalid"
			if s.valid {
				verdict = "valid"
			}
			cases = append(cases, utf8Case{
				name:    fmt.Sprintf("6.%d.%d %s: %s %s", k+5, j+1, verdict, cat.name, hexPrefix(s.s, 12)),
				payload: s.s,
				valid:   s.valid,
			})
		}
	}
	return cases
}

// hexPrefix returns up to n bytes of s in hex, for test names.
func hexPrefix(s string, n int) string {
	if len(s) > n {
		return fmt.Sprintf("% x ...", s[:n])
	}
	return fmt.Sprintf("% x", s)
}

// An edit changes the request H; buildRequest applies edits in order and
// then puts the server's address in place of "{host}".
type edit func(request string) string

func edits(e ...edit) []edit { return e }

func buildRequest(srv *httptest.Server, edits ...edit) string {
	req := handshakeRequest("{host}", "/echo")
	for _, e := range edits {
		req = e(req)
	}
	return strings.ReplaceAll(req, "{host}", srv.Listener.Addr().String())
}

// requestLine replaces the request line.
func requestLine(line string) edit {
	return func(req string) string {
		_, rest, _ := strings.Cut(req, "\r\n")
		return line + "\r\n" + rest
	}
}

// drop removes every line of header name.
func drop(name string) edit {
	return func(req string) string {
		lines := strings.Split(req, "\r\n")
		kept := []string{lines[0]} // the request line
		for _, l := range lines[1:] {
			if n, _, ok := strings.Cut(l, ":"); !ok || !strings.EqualFold(n, name) {
				kept = append(kept, l)
			}
		}
		return strings.Join(kept, "\r\n")
	}
}

// add appends header lines after the others.
func add(lines ...string) edit {
	return func(req string) string {
		return strings.TrimSuffix(req, "\r\n") + strings.Join(lines, "\r\n") + "\r\n\r\n"
	}
}

// set replaces every line of header name with one line "name: value".
func set(name, value string) edit {
	return func(req string) string { return add(name + ": " + value)(drop(name)(req)) }
}

// lowerCaseReversed writes every header name in lower case and reverses
// the order of the header lines (§4.2.1(10), S-13).
func lowerCaseReversed(req string) string {
	head, _ := strings.CutSuffix(req, "\r\n\r\n")
	lines := strings.Split(head, "\r\n")
	headers := lines[1:]
	for i, l := range headers {
		name, value, _ := strings.Cut(l, ":")
		headers[i] = strings.ToLower(name) + ":" + value
	}
	slices.Reverse(headers)
	return strings.Join(lines, "\r\n") + "\r\n\r\n"
}

// hasListToken reports whether the comma-separated header lines list
// token, compared case-insensitively.
func hasListToken(lines []string, token string) bool {
	for _, l := range lines {
		for t := range strings.SplitSeq(l, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// expectAccepted fails the test unless the handshake was accepted (S-22,
// S-25) with exactly the Sec-WebSocket-Protocol lines protocol (none when
// nil, S-20) and no Sec-WebSocket-Extensions (S-21).
func (c *testClient) expectAccepted(accept string, protocol []string) {
	c.t.Helper()
	if c.resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(c.resp.Body)
		c.t.Fatalf("handshake: got %s (%s), want 101", c.resp.Status, bytes.TrimSpace(body))
	}
	h := c.resp.Header
	if got := h.Values("Sec-WebSocket-Accept"); !slices.Equal(got, []string{accept}) {
		c.t.Errorf("Sec-WebSocket-Accept %q, want exactly [%s]", got, accept)
	}
	if got := h.Values("Sec-WebSocket-Protocol"); !slices.Equal(got, protocol) {
		c.t.Errorf("Sec-WebSocket-Protocol %q, want %q", got, protocol)
	}
	if got := h.Values("Sec-WebSocket-Extensions"); got != nil {
		c.t.Errorf("Sec-WebSocket-Extensions %q, but the server implements no extension", got)
	}
}

// expectRefused fails the test unless the handshake was refused (S-01)
// with one of statuses, without Sec-WebSocket-Accept, and with
// Sec-WebSocket-Version: 13 if advertise or if the status is 426 (§4.4,
// S-18). Then the client stops sending: the server must close the
// connection without a byte after its HTTP response, so no frame, and no
// Close frame either (§7.2.2, S-27).
func (c *testClient) expectRefused(statuses []int, advertise bool) {
	c.t.Helper()
	if !slices.Contains(statuses, c.resp.StatusCode) {
		c.t.Errorf("status %s, want one of %v", c.resp.Status, statuses)
	}
	h := c.resp.Header
	if got := h.Values("Sec-WebSocket-Accept"); got != nil {
		c.t.Errorf("a refusal carries Sec-WebSocket-Accept %q", got)
	}
	if advertise || c.resp.StatusCode == http.StatusUpgradeRequired {
		if got := h.Values("Sec-WebSocket-Version"); !slices.Equal(got, []string{"13"}) {
			c.t.Errorf("Sec-WebSocket-Version %q, want [13]", got)
		}
	}
	if _, err := io.ReadAll(c.resp.Body); err != nil {
		c.t.Fatalf("reading the response body: %v", err)
	}
	if rest := c.readToEOF(); len(rest) > 0 {
		c.t.Errorf("after the %d response the server sent % x", c.resp.StatusCode, rest)
	}
}

// clientHello returns the first record a TLS client sends: its ClientHello.
func clientHello(t testing.TB) []byte {
	t.Helper()
	client, server := net.Pipe()
	defer server.Close()
	go func() {
		tls.Client(client, &tls.Config{ServerName: "example.com"}).Handshake()
		client.Close()
	}()
	server.SetReadDeadline(time.Now().Add(testTimeout))
	header := make([]byte, 5) // type 0x16, version, length
	if _, err := io.ReadFull(server, header); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, binary.BigEndian.Uint16(header[3:]))
	if _, err := io.ReadFull(server, body); err != nil {
		t.Fatal(err)
	}
	return append(header, body...)
}

// exchangeRaw writes b to a new connection to srv, stops sending, and
// returns everything the server answers until it closes the connection.
func exchangeRaw(t testing.TB, srv *httptest.Server, b []byte) []byte {
	t.Helper()
	c := rawClient(t, srv)
	c.write(b)
	return c.readToEOF()
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
