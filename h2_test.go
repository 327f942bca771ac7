package main

// WebSockets over HTTP/2 (RFC 8441, rfc8441.go): the server's side through
// net/http's own HTTP/2 client, which sends extended CONNECT, and Dial's.

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestMain runs the tests in a process that started with
// GODEBUG=http2xconnect=1, as main does (tls.go): net/http reads it only
// at start, so the test binary starts itself again with it.
func TestMain(m *testing.M) {
	if !hasExtendedConnect() {
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
	config := srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	config.NextProtos = []string{"h2"}
	tc, err := tls.DialWithDialer(&net.Dialer{Timeout: testTimeout}, "tcp", srv.Listener.Addr().String(), config)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tc.Close() })
	if p := tc.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("ALPN chose %q, want h2", p)
	}
	tr := &http.Transport{ForceAttemptHTTP2: true, DisableCompression: true}
	tr.CloseIdleConnections()
	host := srv.Listener.Addr().String()
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
	s := newStream(resp.Body, out, nil)
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
		c.expectReply(map[string]string{"output": pageReply})
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
