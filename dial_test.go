package main

// The client's side of the protocol, on the wire: Dial and the client's
// Conn against the real server (round trips, both ways of closing), and
// against a fakeServer (rawpeer_test.go), a listener the test answers byte
// for byte, for what the real server never does: a 101 that breaks a rule,
// a masked frame. ws_test.go is the server's side.
//
// One test per group of client rules, in the order a connection meets
// them: the request (TestDial), the response, what bounds a Dial, TLS,
// what the client sends, what it reads, pings, the closing handshake,
// close codes, and the wait for the server's FIN. All are named
// TestDial..., so that -run 'TestDial/C-21' finds a rule wherever it is.
// Subtests are named by the client rules of RULES.md (C-nn); the receiving
// rules that a client shares with the server (C-29) are named by the
// server rule too (S-nn).

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestDial is the request Dial sends (§4.1, C-01 to C-16): what it refuses
// before it connects, then the request line and headers, byte for byte.
func TestDial(t *testing.T) {
	// C-01, C-02, C-15: what Dial must refuse before it connects at all.
	// "{addr}" stands for the fake server's host:port.
	refusedEarly := []struct {
		name, url string
		offer     []string // subprotocols
	}{
		{name: "C-01 §3 a fragment", url: "ws://{addr}/p#x"},
		{name: "C-01 §3 an empty fragment", url: "ws://{addr}/p#"},
		{name: "C-02 §3 an http URL", url: "http://{addr}/"},
		{name: "C-02 §3 a wss URL without a host", url: "wss://"},
		{name: "C-02 §3 a port without a host", url: "ws://:{port}/"},
		{name: "C-02 §3 not a URL", url: "ws://{addr}/%zz"},
		{name: "C-02 §3 user information", url: "ws://user:pw@{addr}/"},
		{name: "C-15 §4.1 a subprotocol offered twice", url: "ws://{addr}/", offer: []string{"chat", "chat"}},
		{name: "C-15 §4.1 a subprotocol that is not a token", url: "ws://{addr}/", offer: []string{"a b"}},
		{name: "C-15 §4.1 an empty subprotocol", url: "ws://{addr}/", offer: []string{""}},
	}
	for _, tc := range refusedEarly {
		t.Run(tc.name+" is refused before connecting", func(t *testing.T) {
			srv := newFakeServer(t)
			_, port, _ := net.SplitHostPort(srv.ln.Addr().String())
			url := strings.NewReplacer("{addr}", srv.ln.Addr().String(), "{port}", port).Replace(tc.url)
			c, err := Dial(testContext(t), url, &DialOptions{Options: Options{Subprotocols: tc.offer}})
			if err == nil {
				c.abort()
				t.Fatalf("Dial(%q) with subprotocols %q succeeded", url, tc.offer)
			}
			srv.expectNoConnection()
		})
	}

	// C-03, C-09: the request line is a GET of the resource name, the path
	// (or /) and the query, in HTTP/1.1 (§4.1 handshake steps 1-3).
	requestLines := []struct{ name, path, want string }{
		{"C-03 §4.1 no path is /", "", "GET / HTTP/1.1"},
		{"C-03 §4.1 path and query", "/a/b?x=1&y=%20", "GET /a/b?x=1&y=%20 HTTP/1.1"},
		{"C-01 §3 an escaped # is part of the path", "/p%23x", "GET /p%23x HTTP/1.1"},
	}
	for _, tc := range requestLines {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFakeServer(t)
			dialing := dialAsync(testContext(t), srv.url(tc.path), nil)
			sc := srv.accept()
			if got, _, _ := strings.Cut(sc.request, "\r\n"); got != tc.want {
				t.Errorf("request line %q, want %q", got, tc.want)
			}
			sc.nc.Close()
			if r := await(t, dialing); r.err == nil {
				t.Fatal("Dial succeeded without an answer")
			}
		})
	}

	// C-09 to C-16: the headers of §4.1 handshake steps 4-11, each once.
	t.Run("C-09 C-10 C-11 C-13 C-14 C-16 §4.1 the request's headers", func(t *testing.T) {
		srv := newFakeServer(t)
		opts := &DialOptions{Origin: "https://App.example", Options: Options{Subprotocols: []string{"chat", "superchat"}}}
		dialing := dialAsync(testContext(t), srv.url("/chat"), opts)
		sc := srv.accept()
		for name, want := range map[string]string{
			"Host":                   srv.ln.Addr().String(), // C-10: with the port, not the default one
			"Upgrade":                "websocket",            // C-11
			"Connection":             "Upgrade",              // C-11
			"Sec-WebSocket-Version":  "13",                   // C-14
			"Origin":                 "https://App.example",  // C-13: as given
			"Sec-WebSocket-Protocol": "chat, superchat",      // §4.1 step 10: in order of preference
		} {
			if got := sc.header(name); !slices.Equal(got, []string{want}) {
				t.Errorf("%s: %q, want exactly [%s]", name, got, want)
			}
		}
		if got := sc.header("Sec-WebSocket-Extensions"); got != nil {
			t.Errorf("Sec-WebSocket-Extensions %q: Dial offers no extension (C-16)", got)
		}
		if sc.req.Method != http.MethodGet || sc.req.Proto != "HTTP/1.1" { // C-09
			t.Errorf("request %s %s, want GET HTTP/1.1", sc.req.Method, sc.req.Proto)
		}
		sc.accept101("Sec-WebSocket-Protocol: superchat")
		if c := dialed(t, dialing); c.Subprotocol() != "superchat" {
			t.Errorf("Subprotocol() = %q, want the server's choice, superchat", c.Subprotocol())
		}
	})
	t.Run("C-13 §4.1 no Origin unless asked for", func(t *testing.T) {
		srv := newFakeServer(t)
		dialing := dialAsync(testContext(t), srv.url("/"), nil)
		sc := srv.accept()
		for _, name := range []string{"Origin", "Sec-WebSocket-Protocol", "Sec-WebSocket-Extensions"} {
			if got := sc.header(name); got != nil {
				t.Errorf("%s: %q, want none", name, got)
			}
		}
		sc.accept101()
		if c := dialed(t, dialing); c.Subprotocol() != "" {
			t.Errorf("Subprotocol() = %q with none offered", c.Subprotocol())
		}
	})
	// C-12: each connection's key is new: base64 of 16 random bytes, sent
	// once. Strict decoding also proves the pad bits are zero, so the
	// character before "==" is one of A, Q, g, w (E-1).
	t.Run("C-12 §4.1 a new 16-byte key for every connection", func(t *testing.T) {
		srv := newFakeServer(t)
		keys := make(map[string]bool)
		for range 100 {
			dialing := dialAsync(testContext(t), srv.url("/"), nil)
			sc := srv.accept()
			got := sc.header("Sec-WebSocket-Key")
			if len(got) != 1 {
				t.Fatalf("Sec-WebSocket-Key: %q, want one", got)
			}
			if raw, err := base64.StdEncoding.Strict().DecodeString(got[0]); err != nil || len(raw) != 16 {
				t.Fatalf("Sec-WebSocket-Key %q is not base64 of 16 bytes (%d bytes, %v)", got[0], len(raw), err)
			}
			if keys[got[0]] {
				t.Fatalf("Sec-WebSocket-Key %q again", got[0])
			}
			keys[got[0]] = true
			sc.nc.Close()
			await(t, dialing)
		}
	})
}

// TestDialResponse is how Dial reads the server's answer (§4.1, C-17 to
// C-24): a fakeServer answers byte for byte, breaking one rule at a time,
// and Dial must refuse every answer but a conforming 101.
func TestDialResponse(t *testing.T) {
	// C-18 to C-24: every answer but a conforming 101 fails the handshake
	// with a HandshakeError whose Status is the answer's and whose Reason
	// names the rule; the client then closes the connection without
	// sending a byte more, so no frame either (C-17, §4.1).
	refusals := []struct {
		name   string
		offer  []string                        // subprotocols
		answer func(key, accept string) string // the server's answer, given the key and the right Accept
		status int
		reason string // in HandshakeError.Reason
	}{
		{name: "C-18 §4.1 403 Forbidden", status: 403, reason: "did not switch protocols", answer: func(_, _ string) string {
			return response("403 Forbidden", "Content-Length: 9") + "forbidden"
		}},
		{name: "C-18 §4.1 200 OK", status: 200, reason: "did not switch protocols", answer: func(_, _ string) string {
			return response("200 OK", "Content-Length: 0")
		}},
		{name: "C-18 §4.1 a redirect is not followed", status: 302, reason: "did not switch protocols", answer: func(_, _ string) string {
			return response("302 Found", "Location: /elsewhere", "Content-Length: 0")
		}},
		{name: "C-19 §4.1 no Upgrade", status: 101, reason: "Upgrade: websocket", answer: func(_, accept string) string {
			return response("101 Switching Protocols", "Connection: Upgrade", "Sec-WebSocket-Accept: "+accept)
		}},
		{name: "C-19 §4.1 Upgrade h2c", status: 101, reason: "Upgrade: websocket", answer: func(_, accept string) string {
			return response("101 Switching Protocols", "Upgrade: h2c", "Connection: Upgrade", "Sec-WebSocket-Accept: "+accept)
		}},
		{name: "C-20 §4.1 no Connection", status: 101, reason: "Connection: Upgrade", answer: func(_, accept string) string {
			return response("101 Switching Protocols", "Upgrade: websocket", "Sec-WebSocket-Accept: "+accept)
		}},
		{name: "C-20 §4.1 Connection keep-alive", status: 101, reason: "Connection: Upgrade", answer: func(_, accept string) string {
			return response("101 Switching Protocols", "Upgrade: websocket", "Connection: keep-alive", "Sec-WebSocket-Accept: "+accept)
		}},
		{name: "C-21 §4.1 no Accept", status: 101, reason: "Sec-WebSocket-Accept", answer: func(_, _ string) string {
			return response("101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade")
		}},
		{name: "C-21 §4.1 the Accept of another key", status: 101, reason: "Sec-WebSocket-Accept", answer: func(_, _ string) string {
			return response("101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Accept: "+sampleAccept)
		}},
		{name: "C-21 §4.1 the Accept of the decoded key", status: 101, reason: "Sec-WebSocket-Accept", answer: func(key, _ string) string {
			// The key is hashed as sent, in base64; a server that hashed
			// the 16 bytes it stands for answers something else.
			raw, _ := base64.StdEncoding.DecodeString(key)
			sum := sha1.Sum(append(raw, "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"...))
			return response("101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Accept: "+base64.StdEncoding.EncodeToString(sum[:]))
		}},
		{name: "C-24 §11.3.3 two Accept lines", status: 101, reason: "Sec-WebSocket-Accept", answer: func(_, accept string) string {
			return response("101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Accept: "+accept, "Sec-WebSocket-Accept: "+accept)
		}},
		{name: "C-22 §4.1 an extension that was not offered", status: 101, reason: "extension", answer: func(_, accept string) string {
			return response("101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Accept: "+accept, "Sec-WebSocket-Extensions: permessage-deflate")
		}},
		{name: "C-23 §4.1 a subprotocol that was not offered", offer: []string{"chat"}, status: 101, reason: "subprotocol", answer: func(_, accept string) string {
			return response("101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Accept: "+accept, "Sec-WebSocket-Protocol: other")
		}},
		{name: "C-23 §4.1 a subprotocol when none was offered", status: 101, reason: "subprotocol", answer: func(_, accept string) string {
			return response("101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Accept: "+accept, "Sec-WebSocket-Protocol: chat")
		}},
		{name: "C-24 §11.3.4 two Sec-WebSocket-Protocol lines", offer: []string{"chat", "superchat"}, status: 101, reason: "more than once", answer: func(_, accept string) string {
			return response("101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Accept: "+accept, "Sec-WebSocket-Protocol: chat", "Sec-WebSocket-Protocol: chat")
		}},
		// Not HTTP at all: any error will do.
		{name: "C-18 §4.1 an answer that is not HTTP", answer: func(_, _ string) string { return "SSH-2.0-OpenSSH_9.2\r\n\r\n" }},
		{name: "C-18 §4.1 no answer, the connection closed", answer: func(_, _ string) string { return "" }},
	}
	for _, tc := range refusals {
		t.Run(tc.name+" fails the handshake", func(t *testing.T) {
			srv := newFakeServer(t)
			dialing := dialAsync(testContext(t), srv.url("/"), &DialOptions{Options: Options{Subprotocols: tc.offer}})
			sc := srv.accept()
			key := sc.req.Header.Get("Sec-WebSocket-Key")
			if answer := tc.answer(key, acceptFor(key)); answer != "" {
				sc.write([]byte(answer))
			} else {
				sc.nc.(*net.TCPConn).CloseWrite()
			}
			r := await(t, dialing)
			if r.err == nil {
				r.c.abort()
				t.Fatal("Dial succeeded")
			}
			if tc.status != 0 {
				var he *HandshakeError
				if !errors.As(r.err, &he) || he.Status != tc.status || !strings.Contains(he.Reason, tc.reason) {
					t.Errorf("Dial: %v, want a HandshakeError with status %d and %q in its reason", r.err, tc.status, tc.reason)
				}
			}
			sc.expectEOF()
		})
	}
	// Answers that conform, if not in the most usual way, and what Dial
	// makes of their subprotocol.
	acceptances := []struct {
		name  string
		offer []string
		lines []string // the 101's header lines; {accept} is the right Accept
		want  string   // Subprotocol()
	}{
		{name: "C-19 §4.1 Upgrade WebSocket, any case", lines: []string{"Upgrade: WebSocket", "Connection: upgrade", "Sec-WebSocket-Accept: {accept}"}},
		{name: "C-20 §4.1 Connection as a list", lines: []string{"Upgrade: websocket", "Connection: keep-alive, Upgrade", "Sec-WebSocket-Accept: {accept}"}},
		{name: "C-21 §4.1 the Accept with spaces around it", lines: []string{"Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Accept:   {accept}  "}},
		{name: "§4.1 header names in any case, unknown headers ignored", lines: []string{"server: fake", "sec-websocket-accept: {accept}", "connection: Upgrade", "upgrade: websocket", "X-Junk: 1"}},
		{name: "C-23 §4.1 no subprotocol chosen is null", offer: []string{"chat"}, lines: []string{"Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Accept: {accept}"}},
		{name: "C-23 §4.1 the second offer chosen", offer: []string{"chat", "superchat"}, lines: []string{"Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Accept: {accept}", "Sec-WebSocket-Protocol: superchat"}, want: "superchat"},
	}
	for _, tc := range acceptances {
		t.Run(tc.name+" is accepted", func(t *testing.T) {
			srv := newFakeServer(t)
			dialing := dialAsync(testContext(t), srv.url("/"), &DialOptions{Options: Options{Subprotocols: tc.offer}})
			sc := srv.accept()
			accept := acceptFor(sc.req.Header.Get("Sec-WebSocket-Key"))
			var lines []string
			for _, l := range tc.lines {
				lines = append(lines, strings.ReplaceAll(l, "{accept}", accept))
			}
			// A frame in the same write as the 101: §4.1, "the server's
			// first frames may follow it at once" (the S-58 of the client).
			sc.write(append([]byte(response("101 Switching Protocols", lines...)), serverFrames(text("Hello"))...))
			c := dialed(t, dialing)
			if c.Subprotocol() != tc.want {
				t.Errorf("Subprotocol() = %q, want %q", c.Subprotocol(), tc.want)
			}
			if r := readMessage(t, c); r.op != OpText || string(r.msg) != "Hello" || r.err != nil {
				t.Errorf("ReadMessage: %s %q %v, want the text Hello sent with the 101", opName(r.op), r.msg, r.err)
			}
		})
	}
}

// TestDialContext is what bounds a Dial: a connection that cannot be
// opened (C-07), a context that ends, an idle timeout, and a response head
// too long to read (§10.4).
func TestDialContext(t *testing.T) {
	// C-07 and the context: a connection that fails, and a handshake that
	// never ends, each end in an error, and the client closes TCP.
	t.Run("C-07 §4.1 nothing listening", func(t *testing.T) {
		srv := newFakeServer(t)
		url := srv.url("/")
		srv.ln.Close()
		if c, err := Dial(testContext(t), url, nil); err == nil {
			c.abort()
			t.Fatal("Dial succeeded with nothing listening")
		}
	})
	t.Run("§4.1 the context's deadline bounds a server that never answers", func(t *testing.T) {
		srv := newFakeServer(t)
		ctx, cancel := context.WithTimeout(testContext(t), 100*time.Millisecond)
		defer cancel()
		if r := await(t, dialAsync(ctx, srv.url("/"), nil)); r.err == nil {
			t.Fatal("Dial succeeded without an answer")
		}
		// Whatever the deadline cut short, the connection, the request or
		// the wait for the answer, the client has let go of it.
		if nc := srv.clientConn(); nc != nil {
			nc.SetReadDeadline(time.Now().Add(testTimeout))
			if _, err := io.ReadAll(nc); err != nil {
				t.Errorf("the client's connection is still open: %v", err)
			}
		}
	})
	t.Run("§4.1 the idle timeout bounds a handshake whose context has no deadline", func(t *testing.T) {
		srv := newFakeServer(t)
		dialing := dialAsync(context.Background(), srv.url("/"), &DialOptions{Options: Options{IdleTimeout: 100 * time.Millisecond}})
		sc := srv.accept()
		if r := await(t, dialing); !errors.Is(r.err, context.DeadlineExceeded) {
			t.Errorf("Dial: %v, want an error that is context.DeadlineExceeded", r.err)
		}
		sc.expectEOF()
	})
	// §10.4: the answer's head, up to its blank line, is read up to
	// maxResponseHead bytes and no further, like the server's request head.
	for _, tc := range []struct {
		size int // of the answer's head
		ok   bool
	}{{maxResponseHead - 1, true}, {maxResponseHead, true}, {maxResponseHead + 1, false}} {
		t.Run(fmt.Sprintf("§10.4 an answer with a head of %d bytes", tc.size), func(t *testing.T) {
			srv := newFakeServer(t)
			dialing := dialAsync(testContext(t), srv.url("/"), nil)
			sc := srv.accept()
			lines := []string{"Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Accept: " + acceptFor(sc.req.Header.Get("Sec-WebSocket-Key")), "X-Pad: "}
			lines[3] += strings.Repeat("a", tc.size-len(response("101 Switching Protocols", lines...)))
			sc.write([]byte(response("101 Switching Protocols", lines...)))
			r := await(t, dialing)
			switch {
			case tc.ok && r.err != nil:
				t.Fatalf("Dial: %v", r.err)
			case tc.ok:
				r.c.abort()
			case r.err == nil:
				r.c.abort()
				t.Fatal("Dial succeeded")
			case !strings.Contains(r.err.Error(), "bytes of headers"):
				t.Fatalf("Dial: %v, want the answer refused for its size", r.err)
			}
		})
	}
	t.Run("§4.1 cancelling the context stops the handshake", func(t *testing.T) {
		srv := newFakeServer(t)
		ctx, cancel := context.WithCancel(testContext(t))
		dialing := dialAsync(ctx, srv.url("/"), nil)
		sc := srv.accept()
		cancel()
		r := await(t, dialing)
		if r.err == nil {
			t.Fatal("Dial succeeded without an answer")
		}
		sc.expectEOF()
	})
	// As net.Dialer's: the error says that the context ended, and how.
	t.Run("§4.1 a Dial stopped by its context says so", func(t *testing.T) {
		srv := newFakeServer(t)
		ctx, cancel := context.WithCancel(testContext(t))
		dialing := dialAsync(ctx, srv.url("/"), nil)
		srv.accept()
		cancel()
		if r := await(t, dialing); !errors.Is(r.err, context.Canceled) {
			t.Errorf("Dial: %v, want an error that is context.Canceled", r.err)
		}
	})
}

// TestDialTLS is wss (C-08, C-39): TLS first, then the handshake.
func TestDialTLS(t *testing.T) {
	// C-08, C-39 (§4.1, §10.6): wss is TLS first, with the URL's host as
	// the server name, and a certificate that fails verification fails the
	// connection before a byte of the request is sent.
	t.Run("C-39 §10.6 wss round trip", func(t *testing.T) {
		srv := newTLSTestServer(t, Options{})
		c := dialServer(t, srv, "/echo", &DialOptions{TLSConfig: srv.Client().Transport.(*http.Transport).TLSClientConfig})
		roundTrip(t, c, OpText, []byte("over TLS"))
		if err := c.Close(StatusNormal, ""); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	tlsRefusals := []struct {
		name, host string
		trusted    bool
		wantErr    any // a pointer to the certificate error Dial must return
	}{
		{"C-08 §4.1 an untrusted certificate", "127.0.0.1", false, new(x509.UnknownAuthorityError)},
		{"C-08 §4.1 a certificate for another host", "localhost", true, new(x509.HostnameError)},
	}
	for _, tc := range tlsRefusals {
		t.Run(tc.name+" fails before the request", func(t *testing.T) {
			requests := make(chan string, 1)
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { requests <- r.URL.Path }))
			names := make(chan string, 1)
			srv.TLS = &tls.Config{GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
				names <- hello.ServerName
				return nil, nil
			}}
			srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the TLS handshake error
			srv.StartTLS()
			defer srv.Close()
			var config *tls.Config
			if tc.trusted {
				config = srv.Client().Transport.(*http.Transport).TLSClientConfig
			}
			_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
			c, err := Dial(testContext(t), "wss://"+net.JoinHostPort(tc.host, port)+"/", &DialOptions{TLSConfig: config})
			if err == nil {
				c.abort()
				t.Fatal("Dial succeeded")
			}
			if !errors.As(err, tc.wantErr) {
				t.Errorf("Dial: %v, want %T", err, tc.wantErr)
			}
			// SNI is sent for host names, never for IP addresses (RFC 6066 §3).
			if name := await(t, names); tc.host != "127.0.0.1" && name != tc.host {
				t.Errorf("the server name sent is %q, want %q", name, tc.host)
			}
			srv.Close() // waits for the connection: no request came through
			select {
			case path := <-requests:
				t.Errorf("the server received a request for %s", path)
			default:
			}
		})
	}
}

// TestDialMessages is what the client sends (C-25 to C-27, C-30): every
// length form through the real server's /echo and back, every frame
// masked with a key of its own.
func TestDialMessages(t *testing.T) {
	// Round trips through the real server's /echo: text and binary of
	// every length form (§5.2), one frame each (S-36 on the server's side,
	// S-35 on the client's), masked (C-25). C-27: WriteMessage leaves its
	// argument unchanged, though it masks the frame: small frames are
	// masked in a buffer, large ones piece by piece, 1 MiB is the server's
	// default limit.
	echoSrv := newTestServer(t, Options{})
	for _, n := range []int{0, 125, 126, 127, 128, 4096, 65535, 65536, 1 << 20} {
		for _, op := range []Opcode{OpText, OpBinary} {
			t.Run(fmt.Sprintf("§5.2 C-27 %s of %d bytes, there and back", opName(op), n), func(t *testing.T) {
				c := dialServer(t, echoSrv, "/echo", nil)
				p := pattern(n)
				if op == OpText {
					p = utf8Text(n)
				}
				roundTrip(t, c, op, p)
				if err := c.Close(StatusNormal, ""); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
		}
	}

	// C-25, C-26, C-30 (§5.1, §5.2, §5.3, §10.3): every frame the client
	// sends is masked (readFrame checks the bit), each with a key of its
	// own, and its length is in the shortest form. Text that is not UTF-8
	// is refused and sends nothing (S-54).
	t.Run("C-25 C-26 C-30 §5.3 every client frame masked with a new key", func(t *testing.T) {
		sc, c := dialFake(t, nil)
		if err := c.WriteMessage(OpText, []byte(invalidAtByte12)); err == nil {
			t.Error("WriteMessage sent text that is not UTF-8 (§5.6, S-54)")
		}
		var want []frame
		// Every length form; from 4096 bytes on, the frame is masked
		// piece by piece (writeMasked).
		for _, n := range []int{0, 1, 125, 126, 4096, 4097, 65535, 65536} {
			want = append(want, binaryFrame(pattern(n)))
		}
		for i := range 256 {
			want = append(want, text(fmt.Sprintf("message %d", i)))
		}
		written := make(chan error, 1)
		go func() {
			for _, f := range want {
				if err := c.WriteMessage(f.op, f.payload); err != nil {
					written <- err
					return
				}
			}
			c.ping() // what the idle timer sends (§5.5.2); there is no Ping method
			written <- nil
		}()
		keys := make(map[[4]byte]bool)
		var steps [2]map[uint32]bool // key minus the key before, as a big- and a little-endian number
		var previous [4]byte
		steps[0], steps[1] = make(map[uint32]bool), make(map[uint32]bool)
		for i, w := range append(want, ping("")) {
			f, key, err := sc.readFrame()
			if err != nil {
				t.Fatalf("frame %d: %v", i, err)
			}
			if !f.fin || f.op != w.op || !bytes.Equal(f.payload, w.payload) {
				t.Fatalf("frame %d: got %v, want %v", i, f, w)
			}
			keys[key] = true
			if i > 0 {
				steps[0][binary.BigEndian.Uint32(key[:])-binary.BigEndian.Uint32(previous[:])] = true
				steps[1][binary.LittleEndian.Uint32(key[:])-binary.LittleEndian.Uint32(previous[:])] = true
			}
			previous = key
		}
		if err := await(t, written); err != nil {
			t.Fatalf("WriteMessage: %v", err)
		}
		// Among 265 random 32-bit keys, one repeats with a chance of one
		// in 120,000: that is let pass; two, with a chance too small to
		// matter.
		if len(keys) < len(want) {
			t.Errorf("%d frames were masked with only %d distinct keys", len(want)+1, len(keys))
		}
		// C-26: no key may follow from the one before, as a counter's
		// would: the difference between keys must change.
		if len(steps[0]) == 1 || len(steps[1]) == 1 {
			t.Error("each masking key is the one before plus a constant")
		}
		// The client answers a ping with a masked pong, and closes with a
		// masked Close.
		msgs := readAsync(c)
		sc.send(ping("are you there?"))
		sc.expect(pong("are you there?"))
		closed := make(chan error, 1)
		go func() { closed <- c.Close(StatusNormal, "") }()
		sc.expectClose(StatusNormal)
		sc.send(closeFrame(StatusNormal, ""))
		sc.closeFirst()
		if err := await(t, closed); err != nil {
			t.Errorf("Close: %v", err)
		}
		if r := await(t, msgs); !isClose(r.err, StatusNormal) {
			t.Errorf("ReadMessage: %v, want the server's Close 1000", r.err)
		}
	})
}

// TestDialReads is what the client reads (C-28, C-29): scripts a
// fakeServer writes after its 101, read by the server's rules (S-nn) with
// the roles swapped.
func TestDialReads(t *testing.T) {
	// C-28, C-29: what the client reads, by the server's rules with the
	// roles swapped. Each script is what a server writes after its 101; the
	// client must deliver the messages want, answer with the frames
	// answers, then send its Close with code close, and report err: the
	// server's Close (a *CloseError) or the rule it broke (a
	// *ProtocolError). The server then closes TCP, first (§7.1.1), and the
	// client must close too.
	bye := closeFrame(StatusNormal, "")
	type script struct {
		name    string
		send    []byte
		want    []frame
		answers []frame
		close   StatusCode
		err     error
	}
	scripts := []script{
		{name: "S-38 §5.4 a text in two fragments", send: serverFrames(append(inFragments(OpText, "Hel", "lo"), bye)...),
			want: []frame{text("Hello")}},
		{name: "S-38 §5.4 three empty fragments", send: serverFrames(append(inFragments(OpText, "", "", ""), bye)...),
			want: []frame{text("")}},
		{name: "S-43 §5.4 64 KiB of binary in 1300-byte fragments", send: serverFrames(append(fragments(binaryFrame(pattern(65536)), 1300), bye)...),
			want: []frame{binaryFrame(pattern(65536))}},
		{name: "S-53 §5.6 κόσμε in 1-byte fragments, code points cut", send: serverFrames(append(inFragmentsOf(OpText, "κόσμε", 1), bye)...),
			want: []frame{text("κόσμε")}},
		{name: "S-39 §5.4 a ping between fragments", send: serverFrames(fragment(true, false, text("fragment1")), ping("ping"), fragment(false, true, text("fragment2")), bye),
			answers: []frame{pong("ping")}, want: []frame{text("fragment1fragment2")}},
		{name: "S-49 S-50 §5.5.2 a ping of 125 bytes gets the same pong", send: serverFrames(ping(strings.Repeat("\xfe", 125)), bye),
			answers: []frame{pong(strings.Repeat("\xfe", 125))}},
		{name: "S-51 §5.5.3 10 pings get 10 pongs, in order", send: serverFrames(append(slices.Repeat([]frame{ping("1"), ping("2")}, 5), bye)...),
			answers: slices.Repeat([]frame{pong("1"), pong("2")}, 5)},
		{name: "S-52 §5.5.3 an unsolicited pong gets no answer", send: serverFrames(pong("unsolicited"), text("after"), bye),
			want: []frame{text("after")}},
		{name: "S-59 §6.2 two messages in one write", send: serverFrames(text("one"), binaryFrame([]byte("two")), bye),
			want: []frame{text("one"), binaryFrame([]byte("two"))}},
		{name: "S-36 §5.2 a 64-bit length for 5 bytes is accepted", send: append([]byte{0x81, 0x7F, 0, 0, 0, 0, 0, 0, 0, 5, 'H', 'e', 'l', 'l', 'o'}, serverFrames(bye)...),
			want: []frame{text("Hello")}},
		{name: "S-49 §5.5.2 no pong for a ping after the server's Close", send: serverFrames(bye, ping("late"), text("late"))},
		// C-28: §5.7's masked Hello, as a client would send it.
		{name: "C-28 §5.1 a masked frame", send: []byte{0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58},
			close: StatusProtocolError},
		{name: "S-31 §5.2 RSV1 set", send: serverFrames(frame{fin: true, rsv: 4, op: OpText, payload: []byte("Hello")}), close: StatusProtocolError},
		{name: "S-33 §5.2 a reserved data opcode", send: serverFrames(frame{fin: true, op: 0x3}), close: StatusProtocolError},
		{name: "S-33 §5.2 a reserved control opcode", send: serverFrames(frame{fin: true, op: 0xB}), close: StatusProtocolError},
		{name: "S-34 §5.2 a 64-bit length with the top bit set", send: []byte{0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0}, close: StatusProtocolError},
		{name: "S-40 §5.5 a fragmented ping", send: serverFrames(frame{op: OpPing, payload: []byte("fr")}, frame{fin: true, op: OpContinuation, payload: []byte("ag")}),
			close: StatusProtocolError},
		{name: "S-41 §5.4 a continuation with nothing to continue", send: serverFrames(frame{fin: true, op: OpContinuation, payload: []byte("x")}),
			close: StatusProtocolError},
		{name: "S-41 §5.4 a new message inside a fragmented one", send: serverFrames(fragment(true, false, text("one")), text("two")),
			close: StatusProtocolError},
		{name: "S-44 §5.5 a ping of 126 bytes", send: serverFrames(ping(strings.Repeat("x", 126))), close: StatusProtocolError},
		{name: "S-45 §5.5.1 a Close with a 1-byte body", send: serverFrames(frame{fin: true, op: OpClose, payload: []byte("a")}),
			close: StatusProtocolError},
		{name: "S-53 §8.1 text that is not UTF-8", send: serverFrames(text(invalidAtByte12)), close: StatusInvalidData},
		{name: "S-70 §8.1 a close reason that is not UTF-8", send: serverFrames(closeFrame(StatusNormal, invalidAtByte12)), close: StatusInvalidData},
		{name: "S-73 §10.4 a message longer than MaxMessage, by its header", send: []byte{0x82, 0x7F, 0, 0, 0, 0, 0, 0x10, 0, 1}, close: StatusTooBig},
	}
	// S-68 (§7.4): the codes a server may send end the connection with
	// that code, echoed (S-46), and ReadMessage reports it with the
	// reason. 1010 is not among them: only a client sends it (§7.4.1).
	for _, code := range []StatusCode{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999} {
		scripts = append(scripts, script{name: fmt.Sprintf("S-46 S-68 §7.4 the server closes with %d", code), send: serverFrames(closeFrame(code, "reason")),
			close: code, err: &CloseError{Code: code, Reason: "reason"}})
	}
	// Any other code fails the connection with 1002 (§7.4.2, S-68).
	for _, code := range []StatusCode{0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535} {
		scripts = append(scripts, script{name: fmt.Sprintf("S-68 §7.4.2 the server closes with %d", code), send: serverFrames(closeFrame(code, "")), close: StatusProtocolError})
	}
	for _, tc := range scripts {
		t.Run("C-29 "+tc.name, func(t *testing.T) {
			sc, c := dialFake(t, nil)
			msgs := readAsync(c)
			sc.write(tc.send)
			sc.expect(tc.answers...)
			code, wantErr := cmp.Or(tc.close, StatusNormal), tc.err
			if wantErr == nil && tc.close == 0 {
				wantErr = &CloseError{Code: StatusNormal}
			} else if wantErr == nil {
				wantErr = &ProtocolError{Code: tc.close}
			}
			sc.expectClose(code)
			sc.closeFirst()
			for _, w := range tc.want {
				r := await(t, msgs)
				if r.err != nil || r.op != w.op || !bytes.Equal(r.msg, w.payload) {
					t.Fatalf("ReadMessage: %s %q %v, want %v", opName(r.op), shorten(r.msg), r.err, w)
				}
			}
			if r := await(t, msgs); !sameEnd(r.err, wantErr) {
				t.Errorf("ReadMessage: %s %q %v, want the error %v", opName(r.op), shorten(r.msg), r.err, wantErr)
			}
		})
	}
}

// TestDialPings is §5.5.2 from the client's side: the client pings, and a
// silent server is pinged, then dropped.
func TestDialPings(t *testing.T) {
	// Pings the other way (§5.5.2): the client pings, and the server's
	// pong carries the ping's payload. Conn has no Ping method: ping is
	// what the idle timer calls, here called at once.
	t.Run("§5.5.2 the client pings, the server pongs", func(t *testing.T) {
		pongs := make(chan []byte, 4)
		c := dialServer(t, newTestServer(t, Options{}), "/echo", &DialOptions{Options: Options{OnFrame: func(f Frame) {
			if !f.Sent && f.Opcode == OpPong {
				pongs <- bytes.Clone(f.Payload)
			}
		}}})
		msgs := readAsync(c)
		c.ping()
		if p := await(t, pongs); len(p) != 0 {
			t.Errorf("the pong carries %q, want the ping's empty payload", p)
		}
		if err := c.WriteMessage(OpText, []byte("still here")); err != nil {
			t.Fatal(err)
		}
		if r := await(t, msgs); r.err != nil || string(r.msg) != "still here" {
			t.Errorf("ReadMessage: %q %v, want the echo", r.msg, r.err)
		}
		if err := c.Close(StatusNormal, ""); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	// Every wait on the server is bounded (§10.4): a silent server is
	// pinged after half the idle timeout, then dropped without a Close:
	// 1006 (§7.1.5).
	t.Run("§5.5.2 a silent server is pinged, then dropped", func(t *testing.T) {
		sc, c := dialFake(t, &DialOptions{Options: Options{IdleTimeout: 100 * time.Millisecond, CloseTimeout: time.Hour}})
		msgs := readAsync(c)
		sc.expect(ping(""))
		sc.expectEOF()
		if r := await(t, msgs); !isClose(r.err, StatusAbnormal) {
			t.Errorf("ReadMessage: %v, want 1006", r.err)
		}
	})
}

// TestDialClose is the closing handshake from the client's side (§7):
// either end may start it, no message on its way is lost, and a server
// that vanishes is 1006 (C-34).
func TestDialClose(t *testing.T) {
	bye := closeFrame(StatusNormal, "")
	// C-34 (§7.2.1): the connection lost in the middle of a frame is 1006.
	t.Run("C-34 §7.2.1 the server vanishes in the middle of a frame", func(t *testing.T) {
		sc, c := dialFake(t, nil)
		msgs := readAsync(c)
		sc.write(serverFrames(text("Hello"))[:4]) // the header and 2 of 5 bytes
		sc.nc.Close()
		if r := await(t, msgs); !isClose(r.err, StatusAbnormal) {
			t.Errorf("ReadMessage: %v, want 1006", r.err)
		}
	})

	// §7.1.2: either end may start the closing handshake; the other
	// answers, and the server closes TCP first. After its Close, the
	// client sends nothing more (S-30, S-56 for a client: C-30).
	t.Run("§7.1.2 the client starts the closing handshake", func(t *testing.T) {
		ends := make(chan error, 1)
		srv := newHandlerServer(t, Options{}, func(c *Conn) {
			_, _, err := c.ReadMessage()
			ends <- err
		})
		c := dialServer(t, srv, "/", nil)
		if err := c.Close(StatusNormal, "bye"); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := await(t, ends); !sameEnd(err, &CloseError{Code: StatusNormal, Reason: "bye"}) {
			t.Errorf("the server read %v, want Close 1000 bye", err)
		}
		if err := c.WriteMessage(OpText, []byte("late")); !errors.Is(err, ErrClosed) {
			t.Errorf("WriteMessage after Close: %v, want ErrClosed", err)
		}
		if r := readMessage(t, c); !isClose(r.err, StatusNormal) {
			t.Errorf("ReadMessage after Close: %v, want the server's answer, 1000", r.err)
		}
	})
	t.Run("§7.1.2 the server starts the closing handshake", func(t *testing.T) {
		ends := make(chan error, 1)
		srv := newHandlerServer(t, Options{}, func(c *Conn) { ends <- c.Close(StatusGoingAway, "bye") })
		c := dialServer(t, srv, "/", nil)
		if r := readMessage(t, c); !sameEnd(r.err, &CloseError{Code: StatusGoingAway, Reason: "bye"}) {
			t.Errorf("ReadMessage: %v, want Close 1001 bye", r.err)
		}
		if err := await(t, ends); err != nil {
			t.Errorf("the server's Close: %v, want the client's answer", err)
		}
		if err := c.WriteMessage(OpText, []byte("late")); !errors.Is(err, ErrClosed) {
			t.Errorf("WriteMessage after the closing handshake: %v, want ErrClosed", err)
		}
	})

	// §1.4, §7.1.2: the closing handshake exists so that no data is lost:
	// after StartClose, what the server sent before it read the client's
	// Close still reaches the goroutine that reads, however its loop is
	// timed, and then the server's Close does.
	t.Run("§7.1.2 StartClose leaves the messages still on their way to the reader", func(t *testing.T) {
		sc, c := dialFake(t, nil)
		sc.send(text("one"))
		if r := readMessage(t, c); string(r.msg) != "one" {
			t.Fatalf("ReadMessage: %q %v, want one", r.msg, r.err)
		}
		if err := c.StartClose(StatusNormal, ""); err != nil {
			t.Fatal(err)
		}
		sc.expectClose(StatusNormal)
		sc.send(text("two"), bye)
		if r := readMessage(t, c); string(r.msg) != "two" {
			t.Errorf("ReadMessage: %q %v, want two, sent before the server's Close", r.msg, r.err)
		}
		// The next read gets the server's Close, then waits for the
		// server to close TCP first (§7.1.1).
		last := readAsync(c)
		sc.closeFirst()
		if r := await(t, last); !isClose(r.err, StatusNormal) {
			t.Errorf("ReadMessage: %v, want the server's Close 1000", r.err)
		}
	})
}

// TestDialCloseCodes is §7.4 for a client: the codes it may send reach
// the server as sent, and the others are refused (C-30).
func TestDialCloseCodes(t *testing.T) {
	// §7.4.1: every code a client may send reaches the server as sent,
	// with its reason; 1010 is a client's code.
	reads := make(chan error, 1)
	readSrv := newHandlerServer(t, Options{}, func(c *Conn) {
		_, _, err := c.ReadMessage()
		reads <- err
	})
	for _, code := range []StatusCode{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999} {
		t.Run(fmt.Sprintf("§7.4.1 the client closes with %d", code), func(t *testing.T) {
			if code == StatusMissingExtension {
			}
			c := dialServer(t, readSrv, "/", nil)
			if err := c.Close(code, "reason"); err != nil {
				t.Errorf("Close(%d): %v", code, err)
			}
			if err := await(t, reads); !sameEnd(err, &CloseError{Code: code, Reason: "reason"}) {
				t.Errorf("the server read %v, want Close %d reason", err, code)
			}
		})
	}
	// S-67 for a client (C-30): Close refuses codes that are never sent
	// and reasons that do not fit, and closes with 1011 instead.
	for _, tc := range []struct {
		code   StatusCode
		reason string
	}{{1005, ""}, {1006, ""}, {1015, ""}, {0, ""}, {999, ""}, {1004, ""}, {1016, ""}, {5000, ""}, {1000, strings.Repeat("*", 124)}, {1000, invalidAtByte12}} {
		t.Run(fmt.Sprintf("§7.4.1 the client refuses to close with %d and a %d-byte reason", tc.code, len(tc.reason)), func(t *testing.T) {
			c := dialServer(t, readSrv, "/", nil)
			if err := c.Close(tc.code, tc.reason); err == nil || errors.Is(err, ErrClosed) {
				t.Errorf("Close(%d, %q): %v, want an error about its arguments", tc.code, shorten([]byte(tc.reason)), err)
			}
			if err := await(t, reads); !sameEnd(err, &CloseError{Code: StatusInternalError}) {
				t.Errorf("the server read %v, want Close 1011", err)
			}
		})
	}
}

// TestDialWaitsForFIN is C-32 (§7.1.1): after the closing handshake the
// client leaves closing TCP to the server, up to its close timeout.
func TestDialWaitsForFIN(t *testing.T) {
	bye := closeFrame(StatusNormal, "")
	// C-32 (§7.1.1): once both Closes are sent, the client waits for the
	// server to close TCP, reading and dropping whatever still comes; its
	// CloseTimeout here is an hour, so only the server's FIN ends the wait
	// in time. 16 MiB sent after the Close cannot fit in the buffers
	// between the two ends: they go through only if the client still
	// reads, and a client that had closed its socket would answer them
	// with a reset.
	t.Run("C-32 §7.1.1 after a client Close, the client waits for the server's FIN", func(t *testing.T) {
		sc, c := dialFake(t, &DialOptions{Options: Options{CloseTimeout: time.Hour}})
		closed := make(chan error, 1)
		go func() { closed <- c.Close(StatusNormal, "") }()
		sc.expectClose(StatusNormal)
		sc.send(bye)
		sc.writeAfterClose(16 << 20)
		sc.closeFirst()
		if err := await(t, closed); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	t.Run("C-32 §7.1.1 after a server Close, the client waits for the server's FIN", func(t *testing.T) {
		sc, c := dialFake(t, &DialOptions{Options: Options{CloseTimeout: time.Hour}})
		msgs := readAsync(c)
		sc.send(closeFrame(StatusGoingAway, ""))
		sc.expectClose(StatusGoingAway)
		sc.writeAfterClose(16 << 20)
		sc.closeFirst()
		if r := await(t, msgs); !isClose(r.err, StatusGoingAway) {
			t.Errorf("ReadMessage: %v, want Close 1001", r.err)
		}
	})
	// C-32: a server that never closes TCP is closed on at the client's
	// CloseTimeout. On a slow machine that timeout may even pass before
	// the server's answer arrives: then the client closes all the same,
	// and the answer may meet a closed socket, so a reset counts as a
	// close too. Only a connection left open fails.
	t.Run("C-32 §7.1.1 a server that keeps TCP open is closed on at the close timeout", func(t *testing.T) {
		sc, c := dialFake(t, &DialOptions{Options: Options{CloseTimeout: 100 * time.Millisecond}})
		closed := make(chan error, 1)
		go func() { closed <- c.Close(StatusNormal, "") }()
		sc.expectClose(StatusNormal)
		sc.nc.Write(serverFrames(bye))
		sc.nc.SetReadDeadline(time.Now().Add(testTimeout))
		if _, err := io.ReadAll(sc.nc); errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("the client kept the connection open for %v", testTimeout)
		}
		await(t, closed)
	})
}

// dialServer dials path on srv, an httptest server, over ws or, if srv
// has TLS, wss; the connection is dropped when the test ends.
func dialServer(t testing.TB, srv *httptest.Server, path string, opts *DialOptions) *Conn {
	t.Helper()
	scheme := "ws://"
	if srv.TLS != nil {
		scheme = "wss://"
	}
	c, err := Dial(testContext(t), scheme+srv.Listener.Addr().String()+path, opts)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(c.abort)
	return c
}

// testContext is a context for Dial that ends with the test, or after
// testTimeout.
func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// roundTrip sends p as a message of type op through an echo, and fails the
// test unless the same message comes back and p is unchanged (C-27: the
// client masks a copy, §10.3).
func roundTrip(t testing.TB, c *Conn, op Opcode, p []byte) {
	t.Helper()
	sent := slices.Clone(p)
	if err := c.WriteMessage(op, p); err != nil {
		t.Fatalf("WriteMessage: %v", err)
	}
	if !bytes.Equal(p, sent) {
		t.Errorf("WriteMessage changed the message it sent (C-27)")
	}
	r := readMessage(t, c)
	if r.err != nil || r.op != op || !bytes.Equal(r.msg, sent) {
		t.Fatalf("ReadMessage: %s of %d bytes %q, %v; want the %s of %d bytes sent", opName(r.op), len(r.msg), shorten(r.msg), r.err, opName(op), len(sent))
	}
}

// readMessage is c.ReadMessage, bounded by testTimeout rather than by the
// Conn's idle timeout, a minute.
func readMessage(t testing.TB, c *Conn) readResult {
	t.Helper()
	result := make(chan readResult, 1)
	go func() {
		op, msg, err := c.ReadMessage()
		result <- readResult{op, msg, err}
	}()
	return await(t, result)
}

// utf8Text returns n bytes of valid UTF-8 text with 2-byte code points.
func utf8Text(n int) []byte {
	const word = "κόσμε " // 11 bytes
	return []byte(strings.Repeat(word, n/len(word)) + strings.Repeat("*", n%len(word)))
}

// writeAfterClose writes n bytes of junk after the server's Close: what a
// client must read and drop until the server closes TCP (§7.1.1, C-32).
func (c *fakeConn) writeAfterClose(n int) {
	c.t.Helper()
	c.nc.SetWriteDeadline(time.Now().Add(testTimeout))
	if _, err := c.nc.Write(make([]byte, n)); err != nil {
		c.t.Fatalf("the client stopped reading before the server closed TCP (§7.1.1, C-32): %v", err)
	}
}

// sameEnd reports whether err ends a connection the way want does: a
// *CloseError with the same code and reason, or a *ProtocolError with the
// same code.
func sameEnd(err, want error) bool {
	var closeErr, wantClose *CloseError
	var protoErr, wantProto *ProtocolError
	switch {
	case errors.As(want, &wantClose):
		return errors.As(err, &closeErr) && closeErr.Code == wantClose.Code && closeErr.Reason == wantClose.Reason
	case errors.As(want, &wantProto):
		return errors.As(err, &protoErr) && protoErr.Code == wantProto.Code
	}
	return false
}
