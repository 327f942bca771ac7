package main

// WebSockets over HTTP/2 (RFC 8441, rfc8441.go): the server's side through
// net/http's own HTTP/2 client, which sends extended CONNECT, and Dial's.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain runs the tests in a process that started with
// GODEBUG=http2xconnect=1, as main does (tls.go): net/http reads it only
// at start, so the test binary starts itself again with it, in its own
// place (the same process id: a signal to stop it, from go test or a
// timeout, reaches the tests), or, where that cannot be, as a child.
func TestMain(m *testing.M) {
	if !hasExtendedConnect() {
		reexec(withExtendedConnect(os.Environ())) // returns only if it failed
		cmd := exec.Command(os.Args[0], os.Args[1:]...)
		cmd.Env = withExtendedConnect(os.Environ())
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
		os.Exit(exitCode(cmd.Run()))
	}
	os.Exit(m.Run())
}

// startH2App is startApp over TLS, offering h2 and http/1.1, with the
// HTTP/2 settings main uses (configureHTTP2).
func startH2App(t testing.TB, opts Options, handler func(*server) http.Handler, configure ...func(*http.Server)) *testApp {
	t.Helper()
	logs := newLogCapture()
	s := newServer(slog.New(slog.NewJSONHandler(logs, nil)), opts)
	if handler == nil {
		handler = (*server).routes
	}
	srv := httptest.NewUnstartedServer(handler(s))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.EnableHTTP2 = true
	srv.TLS = &tls.Config{NextProtos: []string{"h2", "http/1.1"}}
	configureHTTP2(srv.Config, true)
	for _, f := range configure {
		f(srv.Config)
	}
	srv.StartTLS()
	stopAtEnd(t, srv, s)
	return &testApp{Server: srv, s: s, logs: logs}
}

// An h2Client is one HTTP/2 connection to a test server, through
// net/http's client, on which each open is a new stream.
type h2Client struct {
	t    testing.TB
	rt   http.RoundTripper
	tc   *tls.Conn
	host string
}

func newH2Client(t testing.TB, srv *httptest.Server) *h2Client {
	t.Helper()
	return newH2ClientTo(t, srv.Listener.Addr().String(), srv.Client().Transport.(*http.Transport).TLSClientConfig)
}

// newH2ClientTo is newH2Client for the server at addr, trusted by config.
func newH2ClientTo(t testing.TB, addr string, config *tls.Config) *h2Client {
	t.Helper()
	config = config.Clone()
	config.NextProtos = []string{"h2"}
	tc, err := tls.DialWithDialer(&net.Dialer{Timeout: testTimeout}, "tcp", addr, config)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tc.Close() })
	if p := tc.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("ALPN chose %q, want h2", p)
	}
	tr := &http.Transport{ForceAttemptHTTP2: true, DisableCompression: true}
	tr.CloseIdleConnections()
	host := addr
	return &h2Client{t: t, rt: tr.TLSNextProto["h2"](host, tc), tc: tc, host: host}
}

// request sends method on path with :protocol protocol (none if empty)
// and the header lines extra ("Name: value"), and returns the answer and,
// if it is a 200, a testClient over the stream.
func (h *h2Client) request(method, protocol, path string, extra ...string) (*http.Response, *testClient) {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	in, out := io.Pipe()
	req, err := http.NewRequestWithContext(ctx, method, "https://"+h.host+path, in)
	if err != nil {
		h.t.Fatal(err)
	}
	if protocol != "" {
		req.Header.Set(":protocol", protocol)
	}
	for _, line := range extra {
		name, value, _ := strings.Cut(line, ":")
		if name == "Host" {
			req.Host = strings.TrimSpace(value) // :authority
			continue
		}
		req.Header.Add(name, strings.TrimSpace(value))
	}
	timer := time.AfterFunc(testTimeout, cancel)
	resp, err := h.rt.RoundTrip(req)
	timer.Stop()
	if err != nil {
		cancel()
		h.t.Fatalf("%s %s (:protocol %q): %v", method, path, protocol, err)
	}
	if resp.StatusCode != http.StatusOK {
		h.t.Cleanup(cancel)
		return resp, nil
	}
	s := newStream(resp.Body, out, nil, nil)
	s.endOut = out.Close
	s.reset = func() { cancel(); out.CloseWithError(net.ErrClosed) }
	nc := streamConn{s, h.tc}
	h.t.Cleanup(func() { nc.Close(); cancel() })
	return resp, &testClient{t: h.t, nc: nc, br: bufio.NewReader(nc), resp: resp}
}

// open is request for a WebSocket on path, which must be accepted.
func (h *h2Client) open(path string, extra ...string) *testClient {
	h.t.Helper()
	resp, c := h.request(http.MethodConnect, "websocket", path, append([]string{"Sec-WebSocket-Version: 13"}, extra...)...)
	if c == nil {
		body, _ := io.ReadAll(resp.Body)
		h.t.Fatalf("extended CONNECT %s: %s (%s), want 200", path, resp.Status, strings.TrimSpace(string(body)))
	}
	return c
}

// A streamConn is a stream as a net.Conn, for the testClient.
type streamConn struct {
	*stream
	tc *tls.Conn
}

func (s streamConn) LocalAddr() net.Addr  { return s.tc.LocalAddr() }
func (s streamConn) RemoteAddr() net.Addr { return s.tc.RemoteAddr() }
func (s streamConn) SetDeadline(t time.Time) error {
	s.SetReadDeadline(t)
	return s.SetWriteDeadline(t)
}

// TestHTTP2Handshake: the extended CONNECT of RFC 8441 §4 and §5, accepted
// and refused, on the application's own routes.
func TestHTTP2Handshake(t *testing.T) {
	app := startH2App(t, Options{Subprotocols: []string{"chat"}}, nil)
	h := newH2Client(t, app.Server)

	t.Run("H-05/H-04/200, no key, no accept, and frames flow at once (H-06)", func(t *testing.T) {
		c := h.open("/echo")
		if c.resp.ProtoMajor != 2 {
			t.Errorf("answer over %s, want HTTP/2.0", c.resp.Proto)
		}
		if got := c.resp.Header.Values("Sec-WebSocket-Accept"); got != nil {
			t.Errorf("Sec-WebSocket-Accept %q: RFC 8441 §5 has none", got)
		}
		c.send(text("Hello"))
		c.expect(text("Hello"))
		c.send(binaryFrame(pattern(70000)))
		c.expect(binaryFrame(pattern(70000)))
		c.closeHandshake()
	})
	t.Run("H-02/subprotocol chosen as over HTTP/1.1", func(t *testing.T) {
		c := h.open("/echo", "Sec-WebSocket-Protocol: superchat, chat")
		if got := c.resp.Header.Get("Sec-WebSocket-Protocol"); got != "chat" {
			t.Errorf("Sec-WebSocket-Protocol %q, want chat", got)
		}
		c.closeHandshake()
	})
	t.Run("H-02/the JSON echo on /websocket", func(t *testing.T) {
		c := h.open("/websocket", "Origin: https://"+h.host)
		c.send(text(pageMessage))
		c.expectReply(map[string]string{"output": pageReply, "transport": "HTTP/2.0"})
		c.closeHandshake()
	})
	refusals := []struct {
		name, method, protocol string
		extra                  []string
		status                 int
	}{
		{"H-02/S-18 version 8", "CONNECT", "websocket", []string{"Sec-WebSocket-Version: 8"}, http.StatusUpgradeRequired},
		{"H-02/S-18 no version", "CONNECT", "websocket", nil, http.StatusUpgradeRequired},
		{"H-02/S-15 a foreign origin", "CONNECT", "websocket", []string{"Sec-WebSocket-Version: 13", "Origin: https://evil.example"}, http.StatusForbidden},
		{"H-02/S-71 a bad subprotocol list", "CONNECT", "websocket", []string{"Sec-WebSocket-Version: 13", "Sec-WebSocket-Protocol: a b"}, http.StatusBadRequest},
		{"H-01/an unknown :protocol", "CONNECT", "chat", []string{"Sec-WebSocket-Version: 13"}, http.StatusNotImplemented},
		{"H-03/a GET with the WebSocket headers", "GET", "", []string{"Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="}, http.StatusBadRequest},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			resp, c := h.request(tt.method, tt.protocol, "/echo", tt.extra...)
			if c != nil || resp.StatusCode != tt.status {
				t.Fatalf("got %s, want %d", resp.Status, tt.status)
			}
			if tt.status == http.StatusUpgradeRequired && resp.Header.Get("Sec-WebSocket-Version") != "13" {
				t.Errorf("a 426 without Sec-WebSocket-Version: 13 (§4.4)")
			}
			body, _ := io.ReadAll(resp.Body)
			if cites := strings.Contains(string(body), "RFC 8441 §4"); strings.HasPrefix(tt.name, "H-0") && !strings.HasPrefix(tt.name, "H-02") && !cites {
				t.Errorf("the refusal %q does not cite RFC 8441 §4", body)
			}
		})
	}
	if got := app.logs.String(); !strings.Contains(got, `"proto":"HTTP/2.0"`) {
		t.Errorf("the log never says a WebSocket ran over HTTP/2:\n%s", got)
	}
}

// TestHTTP2Hosts: the DNS-rebinding guard (§4.2.1 step 2, Options.Hosts)
// reads :authority over HTTP/2 as it reads Host over HTTP/1.1 (H-02).
func TestHTTP2Hosts(t *testing.T) {
	app := startH2App(t, Options{Hosts: []string{"127.0.0.1"}}, nil)
	h := newH2Client(t, app.Server)
	_, port, _ := net.SplitHostPort(h.host)
	resp, c := h.request(http.MethodConnect, "websocket", "/echo", "Sec-WebSocket-Version: 13", "Host: evil.example:"+port)
	if c != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("a foreign :authority got %s, want 403", resp.Status)
	}
	h.open("/echo").closeHandshake() // its own name passes
}

// TestHTTP2PlainConnect: a CONNECT without :protocol is a tunnel request
// (RFC 9113 §8.5), not a WebSocket: 400, with a cite (H-01). The
// application's routes never see one (it has no path), so Upgrade is
// asked directly.
func TestHTTP2PlainConnect(t *testing.T) {
	handler := func(s *server) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { Upgrade(w, r, nil) })
	}
	app := startH2App(t, Options{}, handler)
	h := newH2Client(t, app.Server)
	req, _ := http.NewRequest(http.MethodConnect, "https://"+h.host, nil)
	resp, err := h.rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "RFC 8441 §4") {
		t.Errorf("got %s %q, want 400 citing RFC 8441 §4", resp.Status, body)
	}
}

// TestHTTP2Traps: what net/http's HTTP/2 server does to a long-lived
// stream, each handled (rfc8441.go, tls.go).
func TestHTTP2Traps(t *testing.T) {
	// H-07: a read deadline that fires ends an HTTP/2 stream for good; the
	// idle ping is driven by one (timedReader). Two pings in a row, each
	// answered, and the stream still echoes.
	t.Run("H-07/idle pings on a stream", func(t *testing.T) {
		app := startH2App(t, Options{PingInterval: 20 * time.Millisecond, IdleTimeout: testTimeout}, nil)
		c := newH2Client(t, app.Server).open("/echo")
		for range 2 {
			c.expect(ping(""))
			c.send(pong(""))
		}
		c.send(text("still here"))
		c.expect(text("still here"))
		c.closeHandshake()
	})
	// H-08: ReadTimeout and WriteTimeout bound every stream from its start:
	// with the handshake's 100 ms, a WebSocket that outlives them (the
	// ping comes after 300 ms) must not be cut.
	t.Run("H-08/the server's ReadTimeout and WriteTimeout", func(t *testing.T) {
		timeouts := func(srv *http.Server) { srv.ReadTimeout, srv.WriteTimeout = 100*time.Millisecond, 100*time.Millisecond }
		app := startH2App(t, Options{PingInterval: 300 * time.Millisecond, IdleTimeout: testTimeout}, nil, timeouts)
		c := newH2Client(t, app.Server).open("/echo")
		c.send(text("before"))
		c.expect(text("before"))
		c.expect(ping(""))
		c.send(pong(""), text("after"))
		c.expect(text("after"))
		c.closeHandshake()
	})
	// H-12: a stream whose handler does not read keeps its whole window
	// unread; another stream of the same connection must still get
	// through. A client of its own, which keeps count of the windows, so
	// that the test sees the connection's window, not a timeout.
	t.Run("H-12/a stalled stream does not stall its connection", func(t *testing.T) {
		release := make(chan struct{})
		handler := func(s *server) http.Handler {
			mux := http.NewServeMux()
			mux.Handle("/echo", s.websocket(s.opts, echo))
			mux.Handle("/stall", s.websocket(s.opts, func(*Conn) error { <-release; return nil }))
			return mux
		}
		app := startH2App(t, Options{CloseTimeout: 100 * time.Millisecond}, handler)
		t.Cleanup(func() { close(release) })
		h := dialRawH2(t, app.Server)
		h.openWebSocket(1, "/stall")
		h.expectHeaders(1)
		h.sendData(1, make([]byte, h.streamWindow)) // all the stream may send: none of it is read
		h.openWebSocket(3, "/echo")
		h.expectHeaders(3)
		// More than the stalled stream's handler has taken in (its pump's
		// one chunk, pumpBuffer), and within stream 3's window and ours.
		msg := binaryFrame(pattern(60 << 10))
		h.sendData(3, encode(msg, [4]byte{1, 2, 3, 4}))
		want := encode(frame{fin: true, op: OpBinary, payload: msg.payload, unmasked: true}, [4]byte{})
		var got []byte
		for len(got) < len(want) {
			got = append(got, h.expectData(3)...)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("stream 3 got %d bytes, not the echo", len(got))
		}
	})
}

// TestStreamDeadlines: a stream's deadlines are a net.Conn's, not
// net/http's (H-07): a read that times out leaves the stream usable, and
// a write deadline resets the stream only when it passes during a write.
func TestStreamDeadlines(t *testing.T) {
	t.Run("H-07/a read deadline is not final", func(t *testing.T) {
		in, out := io.Pipe()
		s := newStream(in, io.Discard, nil, nil)
		defer s.Close()
		s.SetReadDeadline(time.Now().Add(time.Millisecond))
		if _, err := s.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Read: %v, want a deadline exceeded", err)
		}
		s.SetReadDeadline(time.Time{})
		go out.Write([]byte("x"))
		b := make([]byte, 1)
		if n, err := s.Read(b); n != 1 || err != nil || b[0] != 'x' {
			t.Fatalf("Read after the deadline: %d %v, want x", n, err)
		}
	})
	t.Run("H-07/a write past its deadline resets the stream", func(t *testing.T) {
		in, _ := io.Pipe()
		stuck, unstick := io.Pipe() // a peer that takes nothing
		s := newStream(in, unstick, nil, nil)
		reset := make(chan struct{})
		s.reset = func() { close(reset); stuck.CloseWithError(net.ErrClosed) }
		s.SetWriteDeadline(time.Now().Add(time.Millisecond))
		if _, err := s.Write([]byte("x")); err == nil {
			t.Fatal("a write that the peer never took returned no error")
		}
		<-reset
	})
	t.Run("H-07/a passed deadline fails the next write, without a reset", func(t *testing.T) {
		in, _ := io.Pipe()
		s := newStream(in, io.Discard, nil, nil)
		defer s.Close()
		s.reset = func() { t.Error("reset without a write under way") }
		s.writeDue.mu.Lock()
		s.writeDue.at = time.Now().Add(-time.Second) // passed, its timer never armed
		s.writeDue.mu.Unlock()
		if _, err := s.Write([]byte("x")); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Write: %v, want a deadline exceeded", err)
		}
		s.SetWriteDeadline(time.Now().Add(time.Hour))
		if _, err := s.Write([]byte("x")); err != nil {
			t.Fatalf("Write with a new deadline: %v", err)
		}
		s.ended.Store(true) // Close is then not an abort
	})
}

// TestHTTP2Ends: each way a stream can end ends its handler, leaves no
// goroutine behind, and shows on the wire as RFC 8441 §5 says: END_STREAM
// for a clean close (H-09), RST_STREAM for an abort (H-10).
func TestHTTP2Ends(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts Options
		end  func(t *testing.T, c *testClient, h *h2Client)
	}{
		{"H-09/the client closes", Options{}, func(t *testing.T, c *testClient, h *h2Client) {
			c.closeHandshake() // ends with expectEOF: END_STREAM
		}},
		{"H-09/the server closes (1003 for binary)", Options{}, func(t *testing.T, c *testClient, h *h2Client) {
			c.send(binaryFrame([]byte{1}))
			c.answerClose(StatusUnsupportedData, "this endpoint takes JSON text, not binary")
		}},
		{"H-09/the server fails the connection (1002)", Options{}, func(t *testing.T, c *testClient, h *h2Client) {
			c.send(frame{fin: true, op: 3})
			c.expectClose(StatusProtocolError)
		}},
		{"H-10/the server drops a silent peer: RST_STREAM(INTERNAL_ERROR)", Options{IdleTimeout: 100 * time.Millisecond, PingInterval: 100 * time.Millisecond}, func(t *testing.T, c *testClient, h *h2Client) {
			if f, err := c.readFrame(); err == nil || !strings.Contains(err.Error(), "INTERNAL_ERROR") {
				t.Errorf("got %v, %v; want the stream reset with INTERNAL_ERROR", f, err)
			}
		}},
		{"H-10/the client resets the stream", Options{}, func(t *testing.T, c *testClient, h *h2Client) {
			c.nc.Close() // RST_STREAM(CANCEL)
		}},
		{"H-10/the client's connection ends", Options{}, func(t *testing.T, c *testClient, h *h2Client) {
			h.tc.Close()
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			app := startH2App(t, tt.opts, nil)
			before := runtime.NumGoroutine()
			h := newH2Client(t, app.Server)
			c := h.open("/websocket")
			c.send(text(pageMessage))
			c.expectReply(map[string]string{"output": pageReply, "transport": "HTTP/2.0"})
			tt.end(t, c, h)
			app.waitHandlers(t)
			h.tc.Close()
			eventually(t, "back to the goroutines before the connection", func() bool { return runtime.NumGoroutine() <= before })
		})
	}
}

// TestHTTP2Shutdown: Server.Shutdown waits for the handlers of HTTP/2
// WebSockets, as they are its own, and each gets a Close with 1001 first
// (H-13, §7.4.1); two on one connection.
func TestHTTP2Shutdown(t *testing.T) {
	app := startH2App(t, Options{}, nil)
	app.Config.RegisterOnShutdown(app.s.goingAway) // as main does
	h := newH2Client(t, app.Server)
	jsonClient, echoClient := h.open("/websocket"), h.open("/echo")
	jsonClient.send(text(pageMessage))
	jsonClient.expectReply(map[string]string{"output": pageReply, "transport": "HTTP/2.0"})
	echoClient.send(text("hello"))
	echoClient.expect(text("hello"))

	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	shutdown := make(chan error, 1)
	go func() { shutdown <- app.Config.Shutdown(ctx) }()
	jsonClient.answerClose(StatusGoingAway, "server shutting down")
	echoClient.answerClose(StatusGoingAway, "server shutting down")
	if err := <-shutdown; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	app.waitHandlers(t)
	var codes []float64
	for _, e := range app.logs.entries(t) {
		if e["msg"] == "websocket closed" {
			codes = append(codes, e["code"].(float64))
		}
	}
	if len(codes) != 2 || codes[0] != 1001 || codes[1] != 1001 {
		t.Errorf("logged close codes %v, want 1001 twice", codes)
	}
}

// TestDialHTTP2: Dial over HTTP/2 (H-11). It depends on net/http's client:
// that its Transport.TLSNextProto["h2"] gives a RoundTripper that sends
// a ":protocol" header as the pseudo-header, which these tests pin down.
func TestDialHTTP2(t *testing.T) {
	app := startH2App(t, Options{Subprotocols: []string{"chat"}}, nil)
	roots := app.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	url := "wss://" + app.Listener.Addr().String()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	t.Run("H-11/extended CONNECT to a server that allows it", func(t *testing.T) {
		before := runtime.NumGoroutine()
		defer eventually(t, "back to the goroutines before Dial", func() bool { return runtime.NumGoroutine() <= before })
		verified := 0
		config := &tls.Config{RootCAs: roots, VerifyConnection: func(tls.ConnectionState) error { verified++; return nil }}
		c, err := Dial(ctx, url+"/echo", &DialOptions{TLSConfig: config, Options: Options{Subprotocols: []string{"chat"}}})
		if err != nil {
			t.Fatal(err)
		}
		if c.Proto() != "HTTP/2.0" || c.Subprotocol() != "chat" || verified != 1 {
			t.Errorf("Proto %s, subprotocol %q, VerifyConnection called %d times; want HTTP/2.0, chat, once", c.Proto(), c.Subprotocol(), verified)
		}
		echoOnce(t, c, "over a stream")
		if err := c.Close(StatusNormal, ""); err != nil {
			t.Errorf("Close: %v", err)
		}
		app.waitHandlers(t)
	})
	t.Run("H-09/the server closes: Dial reads until END_STREAM", func(t *testing.T) {
		before := runtime.NumGoroutine()
		c, err := Dial(ctx, url+"/websocket", &DialOptions{TLSConfig: &tls.Config{RootCAs: roots}})
		if err != nil {
			t.Fatal(err)
		}
		c.WriteMessage(OpBinary, []byte{1})
		var closeErr *CloseError
		if _, _, err := c.ReadMessage(); !errors.As(err, &closeErr) || closeErr.Code != StatusUnsupportedData {
			t.Errorf("ReadMessage: %v, want the server's Close 1003", err)
		}
		app.waitHandlers(t)
		eventually(t, "back to the goroutines before Dial", func() bool { return runtime.NumGoroutine() <= before })
	})
	t.Run("H-11/the caller's ALPN choice stands", func(t *testing.T) {
		c, err := Dial(ctx, url+"/echo", &DialOptions{TLSConfig: &tls.Config{RootCAs: roots, NextProtos: []string{"http/1.1"}}})
		if err != nil {
			t.Fatal(err)
		}
		if c.Proto() != "HTTP/1.1" {
			t.Errorf("Proto %s, want HTTP/1.1", c.Proto())
		}
		echoOnce(t, c, "over HTTP/1.1")
		c.Close(StatusNormal, "")
	})
	t.Run("H-05/a refusal over HTTP/2 is a HandshakeError", func(t *testing.T) {
		_, err := Dial(ctx, url+"/echo", &DialOptions{TLSConfig: &tls.Config{RootCAs: roots}, Origin: "https://evil.example"})
		var refusal *HandshakeError
		if !errors.As(err, &refusal) || refusal.Status != http.StatusForbidden {
			t.Errorf("Dial: %v, want a HandshakeError with 403", err)
		}
	})
	t.Run("H-11/an HTTP/2 server without extended CONNECT gets HTTP/1.1", func(t *testing.T) {
		s := newServer(slog.New(slog.DiscardHandler), Options{})
		srv := httptest.NewUnstartedServer(s.routes())
		srv.Config.ErrorLog = log.New(io.Discard, "", 0)
		h2conns := 0
		srv.TLS = &tls.Config{NextProtos: []string{"h2", "http/1.1"}}
		// An HTTP/2 server whose SETTINGS do not allow extended CONNECT:
		// the first frame it sends says so (RFC 8441 §3).
		srv.Config.TLSNextProto = map[string]func(*http.Server, *tls.Conn, http.Handler){
			"h2": func(_ *http.Server, tc *tls.Conn, _ http.Handler) {
				h2conns++
				tc.Write([]byte{0, 0, 0, 4, 0, 0, 0, 0, 0}) // SETTINGS, empty
				io.Copy(io.Discard, tc)
			},
		}
		srv.StartTLS()
		stopAtEnd(t, srv, s)
		c, err := Dial(ctx, "wss://"+srv.Listener.Addr().String()+"/echo", &DialOptions{TLSConfig: &tls.Config{RootCAs: roots}})
		if err != nil {
			t.Fatal(err)
		}
		if c.Proto() != "HTTP/1.1" || h2conns != 1 {
			t.Errorf("Proto %s after %d HTTP/2 connections, want HTTP/1.1 after one", c.Proto(), h2conns)
		}
		echoOnce(t, c, "after a fallback")
		c.Close(StatusNormal, "")
	})
}

// echoOnce sends msg on c and expects it back.
func echoOnce(t *testing.T, c *Conn, msg string) {
	t.Helper()
	if err := c.WriteMessage(OpText, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	if op, got, err := c.ReadMessage(); err != nil || op != OpText || string(got) != msg {
		t.Fatalf("ReadMessage: %v %q %v, want %q", op, got, err, msg)
	}
}

// A rawH2 is an HTTP/2 client written out frame by frame (RFC 9113 §4,
// §6), that keeps count of the flow-control windows the server grants
// (§5.2): enough to open WebSockets and send DATA within its rights.
type rawH2 struct {
	t            testing.TB
	nc           *tls.Conn
	br           *bufio.Reader
	host         string
	connWindow   int         // what the connection may still send
	streamWindow int         // the server's SETTINGS_INITIAL_WINDOW_SIZE
	sent         map[int]int // DATA sent per stream
}

// The frame types of RFC 9113 §6 that rawH2 uses.
const (
	h2Data         = 0x0
	h2Headers      = 0x1
	h2Settings     = 0x4
	h2Ping         = 0x6
	h2WindowUpdate = 0x8
)

func dialRawH2(t testing.TB, srv *httptest.Server) *rawH2 {
	t.Helper()
	config := srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	config.NextProtos = []string{"h2"}
	nc, err := tls.Dial("tcp", srv.Listener.Addr().String(), config)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	h := &rawH2{t: t, nc: nc, br: bufio.NewReader(nc), host: srv.Listener.Addr().String(),
		connWindow: 65535, streamWindow: 65535, sent: map[int]int{}}
	nc.SetDeadline(time.Now().Add(testTimeout))
	io.WriteString(nc, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") // the preface (§3.4)
	h.writeFrame(h2Settings, 0, 0, nil)
	return h
}

func (h *rawH2) writeFrame(typ, flags byte, stream int, payload []byte) {
	h.t.Helper()
	head := []byte{byte(len(payload) >> 16), byte(len(payload) >> 8), byte(len(payload)), typ, flags,
		byte(stream >> 24), byte(stream >> 16), byte(stream >> 8), byte(stream)}
	if _, err := h.nc.Write(append(head, payload...)); err != nil {
		h.t.Fatal(err)
	}
}

// readFrame reads the next frame that is not about the connection:
// SETTINGS (acknowledged), WINDOW_UPDATE (counted) and PING are taken
// care of on the way.
func (h *rawH2) readFrame() (typ, flags byte, stream int, payload []byte) {
	h.t.Helper()
	for {
		var head [9]byte
		if _, err := io.ReadFull(h.br, head[:]); err != nil {
			h.t.Fatalf("reading a frame: %v", err)
		}
		payload = make([]byte, int(head[0])<<16|int(head[1])<<8|int(head[2]))
		if _, err := io.ReadFull(h.br, payload); err != nil {
			h.t.Fatalf("reading a frame: %v", err)
		}
		typ, flags = head[3], head[4]
		stream = int(head[5]&0x7f)<<24 | int(head[6])<<16 | int(head[7])<<8 | int(head[8])
		switch {
		case typ == h2Settings && flags&1 == 0:
			for p := payload; len(p) >= 6; p = p[6:] {
				if id := int(p[0])<<8 | int(p[1]); id == 0x4 { // SETTINGS_INITIAL_WINDOW_SIZE
					h.streamWindow = int(p[2])<<24 | int(p[3])<<16 | int(p[4])<<8 | int(p[5])
				}
			}
			h.writeFrame(h2Settings, 1, 0, nil)
		case typ == h2WindowUpdate && stream == 0:
			h.connWindow += int(payload[0]&0x7f)<<24 | int(payload[1])<<16 | int(payload[2])<<8 | int(payload[3])
		case typ == h2Settings, typ == h2WindowUpdate, typ == h2Ping:
		default:
			return typ, flags, stream, payload
		}
	}
}

// openWebSocket sends the extended CONNECT of RFC 8441 §5 on stream, its
// fields as HPACK literals without indexing (RFC 7541 §6.2.2).
func (h *rawH2) openWebSocket(stream int, path string) {
	var block []byte
	for _, f := range [][2]string{{":method", "CONNECT"}, {":protocol", "websocket"}, {":scheme", "https"},
		{":path", path}, {":authority", h.host}, {"sec-websocket-version", "13"}} {
		block = append(block, 0, byte(len(f[0])))
		block = append(append(block, f[0]...), byte(len(f[1])))
		block = append(block, f[1]...)
	}
	h.writeFrame(h2Headers, 0x4, stream, block) // END_HEADERS
}

// expectHeaders reads the answer's HEADERS on stream: a 200, which HPACK
// sends as entry 8 of its static table (0x88).
func (h *rawH2) expectHeaders(stream int) {
	h.t.Helper()
	typ, _, id, payload := h.readFrame()
	if typ != h2Headers || id != stream || len(payload) == 0 || payload[0] != 0x88 {
		h.t.Fatalf("got frame type %d on stream %d (% x), want HEADERS with :status 200 on stream %d", typ, id, payload, stream)
	}
}

// sendData sends b on stream in DATA frames of at most 16 KiB, within the
// windows the server granted: a client may send no more (RFC 9113 §5.2).
func (h *rawH2) sendData(stream int, b []byte) {
	h.t.Helper()
	if len(b) > h.connWindow || h.sent[stream]+len(b) > h.streamWindow {
		h.t.Fatalf("%d bytes on stream %d: the connection's window has %d, the stream's %d: a stalled stream has used up the connection", len(b), stream, h.connWindow, h.streamWindow-h.sent[stream])
	}
	h.connWindow -= len(b)
	h.sent[stream] += len(b)
	for len(b) > 0 {
		n := min(len(b), 16<<10)
		h.writeFrame(h2Data, 0, stream, b[:n])
		b = b[n:]
	}
}

// expectData reads the next DATA on stream.
func (h *rawH2) expectData(stream int) []byte {
	h.t.Helper()
	for {
		typ, _, id, payload := h.readFrame()
		if typ == h2Data && id == stream {
			return payload
		}
	}
}

// TestAutobahnHTTP2 runs Autobahn's cases of sections 1 to 7, 9 and 10, as
// the tests of ws_test.go run them over HTTP/1.1, over streams of one
// HTTP/2 connection: the same Conn serves both bootstraps, and what a
// stream changes under it (reads in DATA-sized pieces, a flush per write,
// END_STREAM for the FIN) must change nothing a peer can see.
func TestAutobahnHTTP2(t *testing.T) {
	app := startH2App(t, Options{MaxMessage: 16 << 20}, nil)
	h := newH2Client(t, app.Server)
	cases := autobahnOverHTTP2()
	for _, tc := range cases {
		t.Run(tc.id, func(t *testing.T) {
			c := h.open("/echo", tc.handshake...)
			c.t = t
			c.play(tc)
		})
	}
	t.Logf("%d Autobahn cases over HTTP/2 streams", len(cases))
}

// autobahnOverHTTP2 is the table of TestAutobahnHTTP2: the cases of
// ws_test.go's sections, with their ids.
func autobahnOverHTTP2() []autobahnCase {
	var cases []autobahnCase
	echoes := func(id string, pieces int, send ...frame) autobahnCase {
		var want []frame
		for _, f := range send {
			if !f.op.IsControl() {
				want = append(want, f)
			}
		}
		return autobahnCase{id: id, steps: []exchange{{send: send, pieces: pieces, want: want}}}
	}
	fails := func(id string, code StatusCode, send ...frame) autobahnCase {
		return autobahnCase{id: id, steps: []exchange{{send: send}}, fail: code}
	}
	// 1: framing, every length form.
	for i, kind := range []func(n int) frame{
		func(n int) frame { return text(strings.Repeat("*", n)) },
		func(n int) frame { return binaryFrame(bytesOf(0xFE, n)) },
	} {
		for j, n := range []int{0, 125, 126, 127, 128, 65535, 65536} {
			cases = append(cases, echoes(fmt.Sprintf("1.%d.%d %d bytes", i+1, j+1, n), oneWrite, kind(n)))
		}
		cases = append(cases, echoes(fmt.Sprintf("1.%d.8 65536 bytes in 997-byte writes", i+1), 997, kind(65536)))
	}
	// 2: pings and pongs.
	longest := strings.Repeat("\xfe", 125)
	var tenPings, tenPongs []frame
	for i := range 10 {
		tenPings = append(tenPings, ping(fmt.Sprintf("payload-%d", i)))
		tenPongs = append(tenPongs, pong(fmt.Sprintf("payload-%d", i)))
	}
	cases = append(cases,
		autobahnCase{id: "2.1 ping, empty", steps: []exchange{{send: []frame{ping("")}, want: []frame{pong("")}}}},
		autobahnCase{id: "2.2 ping with text", steps: []exchange{{send: []frame{ping("Hello, world!")}, want: []frame{pong("Hello, world!")}}}},
		autobahnCase{id: "2.4 ping of 125 bytes", steps: []exchange{{send: []frame{ping(longest)}, want: []frame{pong(longest)}}}},
		fails("2.5 ping of 126 bytes", StatusProtocolError, ping(longest+"\xfe")),
		autobahnCase{id: "2.6 ping of 125 bytes in 1-byte writes", steps: []exchange{{send: []frame{ping(longest)}, pieces: 1, want: []frame{pong(longest)}}}},
		autobahnCase{id: "2.7 unsolicited pong", steps: []exchange{{send: []frame{pong("")}}}},
		autobahnCase{id: "2.10 10 pings", steps: []exchange{{send: tenPings, want: tenPongs}}},
		autobahnCase{id: "2.11 10 pings in 1-byte writes", steps: []exchange{{send: tenPings, pieces: 1, want: tenPongs}}},
	)
	// 3: reserved bits; 4: reserved opcodes.
	withRSV := func(f frame, rsv byte) frame { f.rsv = rsv; return f }
	for rsv := byte(1); rsv <= 7; rsv++ {
		cases = append(cases, fails(fmt.Sprintf("3.%d RSV=%d", rsv, rsv), StatusProtocolError, text("Hello"), withRSV(text("Hello"), rsv)))
		cases[len(cases)-1].steps[0].want = []frame{text("Hello")}
	}
	for _, op := range []Opcode{3, 4, 5, 6, 7, 11, 12, 13, 14, 15} {
		section := "4.1"
		if op > 10 {
			section = "4.2"
		}
		cases = append(cases, fails(fmt.Sprintf("%s reserved opcode %d", section, op), StatusProtocolError, frame{fin: true, op: op}))
	}
	// 5: fragmentation.
	cases = append(cases,
		fails("5.1 ping in 2 fragments", StatusProtocolError, fragment(true, false, ping("fragment1")), fragment(false, true, text("fragment2"))),
		autobahnCase{id: "5.3 text in 2 fragments", steps: []exchange{{send: inFragments(OpText, "fragment1", "fragment2"), want: []frame{text("fragment1fragment2")}}}},
		autobahnCase{id: "5.5 text in 2 fragments, 1-byte writes", steps: []exchange{{send: inFragments(OpText, "fragment1", "fragment2"), pieces: 1, want: []frame{text("fragment1fragment2")}}}},
		autobahnCase{id: "5.6 text in 2 fragments, ping between", steps: []exchange{{
			send: []frame{fragment(true, false, text("fragment1")), ping("pong, please"), fragment(false, true, text("fragment2"))},
			want: []frame{pong("pong, please"), text("fragment1fragment2")}}}},
		fails("5.9 continuation with nothing to continue", StatusProtocolError, fragment(false, true, text("fragment"))),
		fails("5.18 text in 2 fragments, both with opcode text", StatusProtocolError, fragment(true, false, text("fragment1")), text("fragment2")),
	)
	// 6: UTF-8, every sequence of Autobahn's 6.5 to 6.23.
	for _, u := range autobahnUTF8Cases() {
		if u.valid {
			cases = append(cases, echoes("6 valid "+u.name, oneWrite, text(u.payload)))
		} else {
			cases = append(cases, fails("6 invalid "+u.name, StatusInvalidData, text(u.payload)))
		}
	}
	// 7: the closing handshake, and the close codes.
	cases = append(cases,
		autobahnCase{id: "7.1.1 echo, then close", steps: []exchange{{send: []frame{text("Hello World!")}, want: []frame{text("Hello World!")}}}},
		fails("7.1.3 no pong for a ping after close", StatusNormal, closeFrame(StatusNormal, ""), ping("")),
		fails("7.3.2 a 1-byte close body", StatusProtocolError, frame{fin: true, op: OpClose, payload: []byte("a")}),
		fails("7.3.4 close 1000 with a reason", StatusNormal, closeFrame(StatusNormal, "Hello World!")),
		fails("7.5.1 a reason that is not UTF-8", StatusInvalidData, closeFrame(StatusNormal, invalidAtByte12)),
	)
	for i, code := range []StatusCode{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1011, 3000, 3999, 4000, 4999} {
		cases = append(cases, fails(fmt.Sprintf("7.7.%d close code %d", i+1, code), code, closeFrame(code, "")))
	}
	for i, code := range []StatusCode{0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999} {
		cases = append(cases, fails(fmt.Sprintf("7.9.%d close code %d", i+1, code), StatusProtocolError, closeFrame(code, "")))
	}
	// 9: large messages; 10: a large message in fragments.
	for i, size := range []int{64 << 10, 256 << 10, 1 << 20, 4 << 20} {
		cases = append(cases,
			echoes(fmt.Sprintf("9.1.%d text of %d bytes", i+1, size), oneWrite, text(strings.Repeat("BAsd7&jh23", size/10))),
			echoes(fmt.Sprintf("9.2.%d binary of %d bytes", i+1, size), oneWrite, binaryFrame(pattern(size))))
	}
	cases = append(cases, autobahnCase{id: "10.1.1 text of 65536 bytes in 1300-byte fragments", steps: []exchange{{
		send: fragments(text(strings.Repeat("*", 65536)), 1300), want: []frame{text(strings.Repeat("*", 65536))}}}})
	return cases
}

// bytesOf is n bytes of b.
func bytesOf(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }

// TestHTTP2Trace: -trace shows the extended CONNECT as net/http parsed it,
// method, :protocol and HTTP/2.0, and the 200 (H-05), then the frames, as
// it shows an upgrade.
func TestHTTP2Trace(t *testing.T) {
	app := startH2App(t, Options{}, func(s *server) http.Handler { s.trace = true; return s.routes() })
	c := newH2Client(t, app.Server).open("/echo")
	c.send(text("traced"))
	c.expect(text("traced"))
	c.closeHandshake()
	app.waitHandlers(t)
	var request, response logEntry
	for _, e := range app.logs.entries(t) {
		switch e["msg"] {
		case "handshake request":
			request = e
		case "handshake response":
			response = e
		}
	}
	header, _ := request["header"].(map[string]any)
	if request["request"] != "CONNECT /echo HTTP/2.0" || header[":protocol"] != "websocket" {
		t.Errorf("the request traced as %v, want CONNECT /echo HTTP/2.0 with :protocol websocket", request)
	}
	if response["status"] != "200 OK" {
		t.Errorf("the response traced as %v, want 200 OK", response)
	}
	if got := strings.Count(app.logs.String(), `"msg":"frame"`); got != 4 {
		t.Errorf("%d frames traced, want 4 (the text and the Close, each way):\n%s", got, app.logs)
	}
}

// TestConnectHTTP2: -connect says which bootstrap it used (H-11): an
// extended CONNECT to the binary with -tls-dev, which turns RFC 8441 on
// by itself; with -http2=false on either end, the upgrade.
func TestConnectHTTP2(t *testing.T) {
	bin := buildBinary(t)
	const overHTTP2 = "opened over HTTP/2: extended CONNECT, :protocol websocket (RFC 8441)"
	const overHTTP1 = "opened over HTTP/1.1: GET with Upgrade, 101 Switching Protocols (RFC 6455 §4)"
	for _, tt := range []struct{ godebug, server, flag, says string }{
		{"", "-http2=true", "-http2=true", overHTTP2},
		{"", "-http2=true", "-http2=false", overHTTP1},
		{"", "-http2=false", "-http2=true", overHTTP1},
		// The user's GODEBUG stands: an HTTP/2 server that does not allow
		// extended CONNECT, and Dial falls back to HTTP/1.1.
		{"http2xconnect=0", "-http2=true", "-http2=true", overHTTP1},
	} {
		t.Run("H-11/GODEBUG="+tt.godebug+" server "+tt.server+", client "+tt.flag, func(t *testing.T) {
			t.Setenv("GODEBUG", tt.godebug)
			p := startBinary(t, bin, "-addr", "127.0.0.1:0", "-tls-dev", tt.server)
			if on := tt.godebug == ""; tt.server == "-http2=true" && !strings.Contains(p.stderr.String(), fmt.Sprint("websockets_over_http2=", on)) {
				t.Errorf("the server's log does not say websockets_over_http2=%v:\n%s", on, p.stderr)
			}
			_, port, _ := net.SplitHostPort(p.addr)
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, "-connect", "wss://localhost:"+port+"/echo", "-pin", loggedFingerprints(t, p).spki, tt.flag)
			cmd.Stdin = strings.NewReader("hello\n")
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), tt.says) || !strings.Contains(string(out), "hello") {
				t.Errorf("-connect: %v\n%s\nwant %q and the echo", err, out, tt.says)
			}
		})
	}
}

// TestHTTP2ShutdownBinary: the built binary, on SIGTERM, sends 1001 to a
// WebSocket on an HTTP/2 stream, waits for its handler, and exits 0
// (H-13), having restarted itself with GODEBUG=http2xconnect=1 (same
// process id: the signal reaches the server).
func TestHTTP2ShutdownBinary(t *testing.T) {
	bin := buildBinary(t)
	t.Setenv("GODEBUG", "")
	p := startBinary(t, bin, "-addr", "127.0.0.1:0", "-tls-dev")
	pins, err := parsePins(loggedFingerprints(t, p).spki)
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(p.addr)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c, err := Dial(ctx, "wss://localhost:"+port+"/echo", &DialOptions{TLSConfig: &tls.Config{InsecureSkipVerify: true, VerifyConnection: pins.verify}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Proto() != "HTTP/2.0" {
		t.Fatalf("the WebSocket runs over %s, want HTTP/2.0", c.Proto())
	}
	echoOnce(t, c, "before the signal")
	p.cmd.Process.Signal(syscall.SIGTERM)
	var closeErr *CloseError
	if _, _, err := c.ReadMessage(); !errors.As(err, &closeErr) || closeErr.Code != StatusGoingAway {
		t.Errorf("ReadMessage: %v, want the server's Close 1001", err)
	}
	if err := p.wait(t); err != nil {
		t.Errorf("the server exited with %v, want 0; its log:\n%s", err, p.stderr)
	}
	if !strings.Contains(p.stderr.String(), "code=1001") {
		t.Errorf("the server logged no close with 1001:\n%s", p.stderr)
	}
}

// TestAutobahnDeflateHTTP2 runs TestAutobahnDeflate's cases over streams
// of HTTP/2 connections, through Dial (RFC 8441 §5, with RFC 7692
// negotiated in the CONNECT and its 200): section 12's data sets and
// section 13's offers, takeover off and on. 13.7, whose offer Dial cannot
// send (three elements), runs over HTTP/1.1 only.
func TestAutobahnDeflateHTTP2(t *testing.T) {
	sets := autobahnDeflateData()
	for _, takeover := range []bool{false, true} {
		t.Run(fmt.Sprint("takeover=", takeover), func(t *testing.T) {
			app := startH2App(t, Options{MaxMessage: 1 << 20, Compression: &DeflateOptions{ContextTakeover: takeover}}, nil)
			roots := app.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
			url := "wss://" + app.Listener.Addr().String() + "/echo"
			dial := func(t *testing.T, d *DeflateOptions) *Conn {
				c, err := Dial(testContext(t), url, &DialOptions{TLSConfig: &tls.Config{RootCAs: roots}, Options: Options{Compression: d}})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { c.Close(StatusNormal, "") })
				if c.Proto() != "HTTP/2.0" || !c.Compressed() {
					t.Fatalf("Proto %s, compressed %v: want HTTP/2.0 with permessage-deflate", c.Proto(), c.Compressed())
				}
				return c
			}
			for _, set := range sets {
				for j, row := range autobahnDeflateRows {
					t.Run(fmt.Sprintf("%s.%d", strings.Fields(set.name)[0], j+1), func(t *testing.T) {
						c := dial(t, &DeflateOptions{ContextTakeover: takeover, Threshold: 1})
						autobahnDeflateCase(t, c, set, row.size, row.fragment)
					})
				}
			}
			for i, offer := range autobahnDeflateOffers {
				if offer.raw != "" {
					continue
				}
				set := sets[i%len(sets)]
				for j, row := range autobahnDeflateRows {
					t.Run(fmt.Sprintf("%s.%d", offer.name, j+1), func(t *testing.T) {
						c := dial(t, &DeflateOptions{ContextTakeover: takeover && !offer.noTakeov, Threshold: 1, ServerMaxWindowBits: offer.bits})
						autobahnDeflateCase(t, c, set, row.size, row.fragment)
					})
				}
			}
		})
	}
}
