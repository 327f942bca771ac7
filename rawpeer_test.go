package main

// The raw peers, the test instrument: not a test of the client, but the
// two ends the tests play by hand. testClient is a raw WebSocket client
// that can send any frame, valid or not, in one write or in pieces, and
// read the server's frames byte for byte; the conformance tests in
// ws_test.go drive the real server (newTestServer) through real loopback
// connections with it. At the end, its mirror image, a raw server
// (fakeServer), plays the server for Dial's tests.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// testTimeout bounds every wait of a test on the server, so that a server
// that hangs fails the test instead of hanging it.
const testTimeout = 10 * time.Second

// newTestServer starts the application, routes and all, on a loopback
// port, and stops it when the test ends.
func newTestServer(t testing.TB, opts Options) *httptest.Server {
	t.Helper()
	s := newServer(slog.New(slog.DiscardHandler), opts)
	return startServer(t, s, s.routes(), false)
}

// newTLSTestServer is newTestServer on a TLS port (S-14).
func newTLSTestServer(t testing.TB, opts Options) *httptest.Server {
	t.Helper()
	s := newServer(slog.New(slog.DiscardHandler), opts)
	return startServer(t, s, s.routes(), true)
}

// newAppServer serves one conversation of the application's own kind
// (server.websocket in main.go) at every path, and also returns the
// server, for tests that shut it down.
func newAppServer(t testing.TB, opts Options, talk func(*Conn) error) (*server, *httptest.Server) {
	t.Helper()
	s := newServer(slog.New(slog.DiscardHandler), opts)
	return s, startServer(t, s, s.websocket(opts, talk), false)
}

// startServer serves h on a loopback port until the test ends. By then,
// once the test's clients have closed their connections, every
// conversation of s must have returned: one still running is a leaked
// goroutine.
func startServer(t testing.TB, s *server, h http.Handler, useTLS bool) *httptest.Server {
	srv := httptest.NewUnstartedServer(h)
	// Many tests send what net/http logs as an error (plain HTTP to the
	// TLS port, say): that is the point of them, not news.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	if useTLS {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	stopAtEnd(t, srv, s)
	return srv
}

// stopAtEnd stops srv when the test ends, and fails the test if one of
// s's conversations is still running by then, once the test's clients
// have closed their connections: that would be a leaked goroutine.
func stopAtEnd(t testing.TB, srv *httptest.Server, s *server) {
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		if !s.wait(ctx) {
			t.Errorf("a conversation was still running %v after the test ended", testTimeout)
		}
	})
}

// A frame is one WebSocket frame as the test client sends or receives it.
// Frames the client sends are masked unless unmasked is set; rsv holds
// RSV1-3 as the number 0-7.
type frame struct {
	fin      bool
	rsv      byte
	op       Opcode
	payload  []byte
	unmasked bool
}

// The frames tests send most, final and masked.
func text(s string) frame        { return frame{fin: true, op: OpText, payload: []byte(s)} }
func binaryFrame(b []byte) frame { return frame{fin: true, op: OpBinary, payload: b} }
func ping(s string) frame        { return frame{fin: true, op: OpPing, payload: []byte(s)} }
func pong(s string) frame        { return frame{fin: true, op: OpPong, payload: []byte(s)} }
func closeFrame(code StatusCode, reason string) frame {
	return frame{fin: true, op: OpClose, payload: append(binary16(uint16(code)), reason...)}
}
func binary16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }

// fragment returns f as a fragment: the first one keeps f's opcode, later
// ones are continuations (first false), and only the last has FIN set.
func fragment(first, last bool, f frame) frame {
	if !first {
		f.op = OpContinuation
	}
	f.fin = last
	return f
}

func (f frame) String() string {
	p := f.payload
	if len(p) > 32 {
		p = p[:32]
	}
	return fmt.Sprintf("{fin=%v rsv=%d op=%#x len=%d payload=%q}", f.fin, f.rsv, byte(f.op), len(f.payload), p)
}

// encode serialises f with the shortest length and, unless f.unmasked,
// the masking key key (§5.2, §5.3).
func encode(f frame, key [4]byte) []byte {
	b0 := f.rsv<<4 | byte(f.op)
	if f.fin {
		b0 |= 0x80
	}
	var mask byte
	if !f.unmasked {
		mask = 0x80
	}
	b := []byte{b0}
	switch n := len(f.payload); {
	case n <= 125:
		b = append(b, mask|byte(n))
	case n <= 0xFFFF:
		b = append(b, mask|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, mask|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	if f.unmasked {
		return append(b, f.payload...)
	}
	b = append(b, key[:]...)
	start := len(b)
	b = append(b, f.payload...)
	for i := range b[start:] {
		b[start+i] ^= key[i%4]
	}
	return b
}

// A testClient is one raw connection to the test server.
type testClient struct {
	t    testing.TB
	nc   net.Conn
	br   *bufio.Reader
	resp *http.Response // the server's answer to the handshake
}

// handshakeRequest is the request H of the server rules: valid for path,
// with extra header lines appended ("Name: value").
func handshakeRequest(host, path string, extra ...string) string {
	return "GET " + path + " HTTP/1.1\r\n" +
		"Host: " + host + "\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
		"Sec-WebSocket-Version: 13\r\n" +
		strings.Join(append(extra, ""), "\r\n") + "\r\n"
}

// connect opens a TCP connection to srv, writes request as it is and reads
// the response head. The connection is closed when the test ends.
func connect(t testing.TB, srv *httptest.Server, request string) *testClient {
	t.Helper()
	return connectAddr(t, srv.Listener.Addr().String(), request)
}

// connectAddr is connect for a server that is not an httptest.Server: the
// built binary.
func connectAddr(t testing.TB, addr, request string) *testClient {
	t.Helper()
	c := connectRaw(t, addr)
	c.handshake(request)
	return c
}

// dialTLS is dial over TLS, trusting the test server's certificate.
func dialTLS(t testing.TB, srv *httptest.Server, path string) *testClient {
	t.Helper()
	cfg := srv.Client().Transport.(*http.Transport).TLSClientConfig
	nc, err := tls.DialWithDialer(&net.Dialer{Timeout: testTimeout}, "tcp", srv.Listener.Addr().String(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return handshakeOver(t, nc, handshakeRequest(srv.Listener.Addr().String(), path))
}

// handshakeOver writes request on nc and reads the response head.
func handshakeOver(t testing.TB, nc net.Conn, request string) *testClient {
	t.Helper()
	c := rawOver(t, nc)
	c.handshake(request)
	return c
}

// handshake writes request as it is and reads the response head.
func (c *testClient) handshake(request string) {
	c.t.Helper()
	c.write([]byte(request))
	c.nc.SetReadDeadline(time.Now().Add(testTimeout))
	var err error
	if c.resp, err = http.ReadResponse(c.br, nil); err != nil {
		c.t.Fatalf("reading the handshake response: %v", err)
	}
}

// dial performs a valid handshake on path and fails the test unless the
// server accepts it with 101.
func dial(t testing.TB, srv *httptest.Server, path string, extra ...string) *testClient {
	t.Helper()
	return dialAddr(t, srv.Listener.Addr().String(), path, extra...)
}

// dialAddr is dial for a server that is not an httptest.Server: the built
// binary.
func dialAddr(t testing.TB, addr, path string, extra ...string) *testClient {
	t.Helper()
	c := connectAddr(t, addr, handshakeRequest(addr, path, extra...))
	if c.resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(c.resp.Body)
		t.Fatalf("handshake: got %s (%s), want 101", c.resp.Status, bytes.TrimSpace(body))
	}
	return c
}

// rawClient opens a TCP connection to srv for a test that writes its own
// bytes, handshake included; it is closed when the test ends.
func rawClient(t testing.TB, srv *httptest.Server) *testClient {
	t.Helper()
	return connectRaw(t, srv.Listener.Addr().String())
}

// connectRaw is rawClient for a server that is not an httptest.Server.
func connectRaw(t testing.TB, addr string) *testClient {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	return rawOver(t, nc)
}

// rawOver is a testClient on nc, which is closed when the test ends.
func rawOver(t testing.TB, nc net.Conn) *testClient {
	t.Helper()
	t.Cleanup(func() { nc.Close() })
	return &testClient{t: t, nc: nc, br: bufio.NewReader(nc)}
}

// write sends b in one write.
func (c *testClient) write(b []byte) {
	c.t.Helper()
	c.nc.SetWriteDeadline(time.Now().Add(testTimeout))
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// send writes frames, each masked with a fresh random key, in one write.
func (c *testClient) send(frames ...frame) {
	c.t.Helper()
	c.write(c.encode(frames...))
}

// sendInPieces writes frames in writes of at most size bytes each, the way
// Autobahn's "chopped" cases do, so the server sees them split anywhere.
func (c *testClient) sendInPieces(size int, frames ...frame) {
	c.t.Helper()
	b := c.encode(frames...)
	for len(b) > 0 {
		n := min(size, len(b))
		c.write(b[:n])
		b = b[n:]
	}
}

func (c *testClient) encode(frames ...frame) []byte {
	var b []byte
	for _, f := range frames {
		var key [4]byte
		rand.Read(key[:])
		b = append(b, encode(f, key)...)
	}
	return b
}

// readFrame reads one frame from the server, checking what §5.1 and §5.2
// ask of every server frame: unmasked (S-29), RSV bits clear (S-32), the
// length in its shortest form (S-35).
func (c *testClient) readFrame() (frame, error) {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(testTimeout))
	var head [2]byte
	if _, err := io.ReadFull(c.br, head[:]); err != nil {
		return frame{}, err
	}
	f := frame{fin: head[0]&0x80 != 0, rsv: head[0] >> 4 & 7, op: Opcode(head[0] & 0x0F)}
	if head[1]&0x80 != 0 {
		c.t.Errorf("server frame is masked (§5.1): % x", head)
	}
	if f.rsv != 0 {
		c.t.Errorf("server frame has RSV bits %d (§5.2)", f.rsv)
	}
	n := uint64(head[1] & 0x7F)
	var ext []byte
	switch n {
	case 126:
		ext = make([]byte, 2)
	case 127:
		ext = make([]byte, 8)
	}
	if _, err := io.ReadFull(c.br, ext); err != nil {
		return frame{}, err
	}
	switch n {
	case 126:
		n = uint64(binary.BigEndian.Uint16(ext))
		if n < 126 {
			c.t.Errorf("length %d sent in 16 bits (§5.2: shortest form)", n)
		}
	case 127:
		n = binary.BigEndian.Uint64(ext)
		if n <= 0xFFFF {
			c.t.Errorf("length %d sent in 64 bits (§5.2: shortest form)", n)
		}
	}
	f.payload = make([]byte, n)
	if _, err := io.ReadFull(c.br, f.payload); err != nil {
		return frame{}, err
	}
	return f, nil
}

// expect reads frames and fails the test unless they are want, in order.
// The server may answer in any fragmentation (§5.4), so data frames are
// compared as whole messages: fragments are joined before comparing.
func (c *testClient) expect(want ...frame) {
	c.t.Helper()
	for _, w := range want {
		got, err := c.readMessage()
		if err != nil {
			c.t.Fatalf("waiting for %v: %v", w, err)
		}
		if got.op != w.op || !bytes.Equal(got.payload, w.payload) {
			c.t.Fatalf("got %v, want %v", got, w)
		}
	}
}

// readMessage reads the next frame; if it starts a fragmented message, it
// reads the continuations and returns the message as one frame. Control
// frames between fragments are returned first only if the test asks for
// them, which none does: they are reported as errors.
func (c *testClient) readMessage() (frame, error) {
	c.t.Helper()
	f, err := c.readFrame()
	if err != nil || f.fin {
		return f, err
	}
	for !f.fin {
		next, err := c.readFrame()
		if err != nil {
			return f, err
		}
		if next.op != OpContinuation {
			return f, fmt.Errorf("frame %v inside a fragmented message", next)
		}
		f.payload = append(f.payload, next.payload...)
		f.fin = next.fin
	}
	return f, nil
}

// expectClose fails the test unless the next frame is a Close with code,
// and the server then closes TCP (§7.1.1). Data frames before the Close
// are an error: the tests that expect echoes first say so with expect.
func (c *testClient) expectClose(code StatusCode) {
	c.t.Helper()
	c.readClose(code)
	c.expectEOF()
}

// readClose fails the test unless the next frame is a Close with code, and
// returns its reason.
func (c *testClient) readClose(code StatusCode) string {
	c.t.Helper()
	f, err := c.readFrame()
	if err != nil {
		c.t.Fatalf("waiting for Close %d: %v", code, err)
	}
	reason := string(f.payload[min(2, len(f.payload)):])
	if f.op != OpClose || closeCode(f) != code {
		c.t.Fatalf("got %v, want Close %d", f, code)
	}
	return reason
}

// closeCode is the status code in a Close frame, or StatusNoStatus.
func closeCode(f frame) StatusCode {
	if len(f.payload) < 2 {
		return StatusNoStatus
	}
	return StatusCode(binary.BigEndian.Uint16(f.payload))
}

// expectEOF fails the test unless the server closes the connection, with
// a FIN and not a reset (§7.1.1), and sends nothing more before it.
func (c *testClient) expectEOF() {
	c.t.Helper()
	f, err := c.readFrame()
	switch {
	case err == nil:
		c.t.Fatalf("got %v, want the server to close the connection", f)
	case errors.Is(err, io.EOF):
	default:
		c.t.Fatalf("want a clean end of stream (FIN), got %v", err)
	}
}

// closeHandshake is how a test that expects the connection to still be
// open ends: it sends Close 1000 and expects the same back, then EOF.
func (c *testClient) closeHandshake() {
	c.t.Helper()
	c.send(closeFrame(StatusNormal, ""))
	c.expectClose(StatusNormal)
}

// readToEOF closes the client's sending side and returns everything the
// server sends until it closes the connection.
func (c *testClient) readToEOF() []byte {
	c.t.Helper()
	if err := c.nc.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		c.t.Fatalf("CloseWrite: %v", err)
	}
	c.nc.SetReadDeadline(time.Now().Add(testTimeout))
	rest, err := io.ReadAll(c.br)
	if err != nil {
		c.t.Fatalf("waiting for the server to close the connection: %v (after % x)", err, rest)
	}
	return rest
}

// expectBytes fails the test unless the next bytes from the server are
// exactly want.
func (c *testClient) expectBytes(want ...byte) {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(testTimeout))
	got := make([]byte, len(want))
	n, err := io.ReadFull(c.br, got)
	if err != nil || !bytes.Equal(got, want) {
		c.t.Fatalf("got % x (%v), want % x", shorten(got[:n]), err, shorten(want))
	}
}

// shorten keeps byte dumps of long frames readable.
func shorten(b []byte) []byte {
	if len(b) > 48 {
		return b[:48]
	}
	return b
}

// answerClose is how a well-behaved client ends when the server closes:
// it reads the server's Close, fails the test unless its code and reason
// are code and reason, echoes the code (§5.5.1), expects the server to
// close TCP first (§7.1.1) and then closes its own end.
func (c *testClient) answerClose(code StatusCode, reason string) {
	c.t.Helper()
	if got := c.readClose(code); got != reason {
		c.t.Fatalf("got Close %d %q, want reason %q", code, got, reason)
	}
	c.send(closeFrame(code, ""))
	c.expectEOF()
	c.nc.Close()
}

// newHandlerServer starts a server that upgrades every request with opts
// and runs talk on the connection; at cleanup, after the clients closed,
// every talk must have returned.
func newHandlerServer(t *testing.T, opts Options, talk func(*Conn)) *httptest.Server {
	t.Helper()
	var running sync.WaitGroup
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		running.Add(1) // before Upgrade hijacks: srv.Close waits for this
		defer running.Done()
		c, err := Upgrade(w, r, &opts)
		if err != nil {
			t.Errorf("Upgrade: %v", err)
			return
		}
		talk(c)
	}))
	t.Cleanup(func() {
		srv.Close()
		done := make(chan struct{})
		go func() {
			running.Wait()
			close(done)
		}()
		if !waitFor(done) {
			t.Errorf("a handler was still running %v after the test ended", testTimeout)
		}
	})
	return srv
}

// await receives one value from ch, or fails the test after testTimeout.
func await[T any](t testing.TB, ch <-chan T) T {
	t.Helper()
	timer := time.NewTimer(testTimeout)
	defer timer.Stop()
	select {
	case v := <-ch:
		return v
	case <-timer.C:
		t.Fatalf("nothing from the handler within %v", testTimeout)
		panic("unreachable")
	}
}

// waitFor reports whether ch was closed within testTimeout.
func waitFor(ch <-chan struct{}) bool {
	timer := time.NewTimer(testTimeout)
	defer timer.Stop()
	select {
	case <-ch:
		return true
	case <-timer.C:
		return false
	}
}

// A recordingHandler is a slog.Handler that keeps every record.
type recordingHandler struct {
	mu      sync.Mutex
	records []slog.Record
}

func (h *recordingHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *recordingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }

func (h *recordingHandler) WithGroup(string) slog.Handler { return h }

func (h *recordingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, r.Clone())
	return nil
}

func (h *recordingHandler) all() []slog.Record {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.records
}

// attr returns the value of the record's attribute key, or nil.
func attr(r slog.Record, key string) any {
	var v any
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v = a.Value.Any()
			return false
		}
		return true
	})
	return v
}

// ---------------------------------------------------------------------------
// The other way round: a raw server, to test Dial
// ---------------------------------------------------------------------------

// A fakeServer is a loopback listener whose connections the test answers
// by hand, byte for byte: with a 101 that breaks a rule, or with frames a
// server must not send. The test runs Dial in the background (dialAsync)
// and plays the server itself, so that its checks may stop it (t.Fatal).
type fakeServer struct {
	t  testing.TB
	ln *net.TCPListener
}

func newFakeServer(t testing.TB) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return &fakeServer{t: t, ln: ln.(*net.TCPListener)}
}

// url returns the ws:// URL of path (and query) on s.
func (s *fakeServer) url(path string) string { return "ws://" + s.ln.Addr().String() + path }

// accept waits for the client's connection and reads its request.
func (s *fakeServer) accept() *fakeConn {
	s.t.Helper()
	s.ln.SetDeadline(time.Now().Add(testTimeout))
	nc, err := s.ln.Accept()
	if err != nil {
		s.t.Fatalf("waiting for the client to connect: %v", err)
	}
	s.t.Cleanup(func() { nc.Close() })
	c := &fakeConn{t: s.t, nc: nc, br: bufio.NewReader(nc)}
	c.readRequest()
	return c
}

// expectNoConnection fails the test unless no client has connected to s.
func (s *fakeServer) expectNoConnection() {
	s.t.Helper()
	if nc := s.clientConn(); nc != nil {
		s.t.Fatalf("the client connected (from %v), and should not have", nc.RemoteAddr())
	}
}

// clientConn returns the connection a client made to s, or nil if it
// made none: s connects to itself, and accepts first whichever connection
// came first. The connection is closed when the test ends.
func (s *fakeServer) clientConn() net.Conn {
	s.t.Helper()
	probe, err := net.DialTimeout("tcp", s.ln.Addr().String(), testTimeout)
	if err != nil {
		s.t.Fatal(err)
	}
	defer probe.Close()
	s.ln.SetDeadline(time.Now().Add(testTimeout))
	nc, err := s.ln.Accept()
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { nc.Close() })
	if nc.RemoteAddr().String() == probe.LocalAddr().String() {
		return nil
	}
	return nc
}

// A fakeConn is the server's end of one connection to a fakeServer.
type fakeConn struct {
	t       testing.TB
	nc      net.Conn
	br      *bufio.Reader
	request string        // the request head, byte for byte
	req     *http.Request // the same, parsed
}

// readRequest reads the request head, up to its blank line, and nothing
// more: whatever follows is the client's.
func (c *fakeConn) readRequest() {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(testTimeout))
	var head strings.Builder
	for !strings.HasSuffix(head.String(), "\r\n\r\n") {
		line, err := c.br.ReadString('\n')
		head.WriteString(line)
		if err != nil {
			c.t.Fatalf("reading the request: %v (after %q)", err, head.String())
		}
	}
	c.request = head.String()
	var err error
	if c.req, err = http.ReadRequest(bufio.NewReader(strings.NewReader(c.request))); err != nil {
		c.t.Fatalf("the request is not HTTP: %v\n%s", err, c.request)
	}
}

// header returns the values of the request's header lines called name,
// as sent (net/http's parser would move Host out of the header).
func (c *fakeConn) header(name string) []string {
	var values []string
	for _, line := range strings.Split(strings.TrimSuffix(c.request, "\r\n\r\n"), "\r\n")[1:] {
		if n, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(n, name) {
			values = append(values, strings.TrimSpace(v))
		}
	}
	return values
}

// accept101 answers with a valid 101 for the client's key (§4.2.2 step
// 5), plus extra header lines.
func (c *fakeConn) accept101(extra ...string) {
	c.t.Helper()
	c.write([]byte(response("101 Switching Protocols", append([]string{
		"Upgrade: websocket",
		"Connection: Upgrade",
		"Sec-WebSocket-Accept: " + acceptFor(c.req.Header.Get("Sec-WebSocket-Key")),
	}, extra...)...)))
}

// response is an HTTP/1.1 response head with status and header lines.
func response(status string, lines ...string) string {
	return "HTTP/1.1 " + status + "\r\n" + strings.Join(append(lines, ""), "\r\n") + "\r\n"
}

// acceptFor is Sec-WebSocket-Accept for key, computed here from §4.2.2
// step 5.4 rather than by ws.go, so that a mistake there cannot hide.
func acceptFor(key string) string {
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// write sends b in one write.
func (c *fakeConn) write(b []byte) {
	c.t.Helper()
	c.nc.SetWriteDeadline(time.Now().Add(testTimeout))
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// send writes frames as a server sends them, unmasked, in one write.
func (c *fakeConn) send(frames ...frame) {
	c.t.Helper()
	c.write(serverFrames(frames...))
}

// serverFrames encodes frames as a server sends them: unmasked (§5.1).
func serverFrames(frames ...frame) []byte {
	var b []byte
	for _, f := range frames {
		f.unmasked = true
		b = append(b, encode(f, [4]byte{})...)
	}
	return b
}

// readFrame reads one frame from the client and unmasks it, checking what
// §5 asks of every client frame: masked (§5.1, §5.3, C-25), RSV bits clear
// (§5.2, C-30), the length in its shortest form (§5.2, C-30). It returns
// the frame and its masking key.
func (c *fakeConn) readFrame() (frame, [4]byte, error) {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(testTimeout))
	var key [4]byte
	var head [2]byte
	if _, err := io.ReadFull(c.br, head[:]); err != nil {
		return frame{}, key, err
	}
	f := frame{fin: head[0]&0x80 != 0, rsv: head[0] >> 4 & 7, op: Opcode(head[0] & 0x0F)}
	if head[1]&0x80 == 0 {
		c.t.Errorf("client frame is not masked (§5.1, C-25): % x", head)
	}
	if f.rsv != 0 {
		c.t.Errorf("client frame has RSV bits %d (§5.2)", f.rsv)
	}
	n := uint64(head[1] & 0x7F)
	ext := make([]byte, map[uint64]int{126: 2, 127: 8}[n]+4)
	if _, err := io.ReadFull(c.br, ext); err != nil {
		return frame{}, key, err
	}
	switch n {
	case 126:
		if n = uint64(binary.BigEndian.Uint16(ext)); n < 126 {
			c.t.Errorf("length %d sent in 16 bits (§5.2: shortest form)", n)
		}
	case 127:
		if n = binary.BigEndian.Uint64(ext); n <= 0xFFFF {
			c.t.Errorf("length %d sent in 64 bits (§5.2: shortest form)", n)
		}
	}
	copy(key[:], ext[len(ext)-4:])
	f.payload = make([]byte, n)
	if _, err := io.ReadFull(c.br, f.payload); err != nil {
		return frame{}, key, err
	}
	for i := range f.payload {
		f.payload[i] ^= key[i%4] // §5.3
	}
	return f, key, nil
}

// expect reads frames from the client and fails the test unless they are
// want, frame for frame.
func (c *fakeConn) expect(want ...frame) {
	c.t.Helper()
	for _, w := range want {
		got, _, err := c.readFrame()
		if err != nil {
			c.t.Fatalf("waiting for %v from the client: %v", w, err)
		}
		if got.fin != w.fin || got.op != w.op || !bytes.Equal(got.payload, w.payload) {
			c.t.Fatalf("the client sent %v, want %v", got, w)
		}
	}
}

// expectClose fails the test unless the client's next frame is a Close
// with code.
func (c *fakeConn) expectClose(code StatusCode) {
	c.t.Helper()
	f, _, err := c.readFrame()
	if err != nil {
		c.t.Fatalf("waiting for the client's Close %d: %v", code, err)
	}
	if f.op != OpClose || closeCode(f) != code {
		c.t.Fatalf("the client sent %v, want Close %d", f, code)
	}
}

// closeFirst is §7.1.1 for the server: it sends its FIN, and fails the
// test unless the client then closes too, sending nothing more.
func (c *fakeConn) closeFirst() {
	c.t.Helper()
	if err := c.nc.(*net.TCPConn).CloseWrite(); err != nil {
		c.t.Fatal(err)
	}
	c.expectEOF()
}

// expectEOF fails the test unless the client closes the connection
// without sending another byte.
func (c *fakeConn) expectEOF() {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(testTimeout))
	rest, err := io.ReadAll(c.br)
	if err != nil || len(rest) > 0 {
		c.t.Fatalf("the client sent % x (%v), want it to close the connection", shorten(rest), err)
	}
}

// A dialResult is what Dial returned.
type dialResult struct {
	c   *Conn
	err error
}

// dialAsync runs Dial in the background, bounded by ctx, while the test
// plays the server.
func dialAsync(ctx context.Context, url string, opts *DialOptions) <-chan dialResult {
	result := make(chan dialResult, 1)
	go func() {
		c, err := Dial(ctx, url, opts)
		result <- dialResult{c, err}
	}()
	return result
}

// dialFake dials a new fakeServer, which accepts with a valid 101: the
// test then plays the server's part, byte for byte.
func dialFake(t testing.TB, opts *DialOptions) (*fakeConn, *Conn) {
	t.Helper()
	srv := newFakeServer(t)
	dialing := dialAsync(testContext(t), srv.url("/"), opts)
	sc := srv.accept()
	sc.accept101()
	return sc, dialed(t, dialing)
}

// dialed waits for dialAsync's Conn and fails the test unless Dial
// succeeded. The connection is dropped when the test ends.
func dialed(t testing.TB, result <-chan dialResult) *Conn {
	t.Helper()
	r := await(t, result)
	if r.err != nil {
		t.Fatalf("Dial: %v", r.err)
	}
	t.Cleanup(r.c.abort)
	return r.c
}

// A readResult is what one ReadMessage returned.
type readResult struct {
	op  Opcode
	msg []byte
	err error
}

// readAsync calls ReadMessage in the background until it fails, and
// passes on every result: the messages, then the error.
func readAsync(c *Conn) <-chan readResult {
	results := make(chan readResult, 64)
	go func() {
		for {
			op, msg, err := c.ReadMessage()
			results <- readResult{op, msg, err}
			if err != nil {
				return
			}
		}
	}()
	return results
}

// writeUntilDropped writes b again and again until the server drops the
// connection, and fails the test if the server still reads after
// testTimeout: a client that what says why it should have been dropped.
func (c *testClient) writeUntilDropped(b []byte, what string) {
	c.t.Helper()
	c.nc.SetWriteDeadline(time.Now().Add(testTimeout))
	for {
		_, err := c.nc.Write(b)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			c.t.Fatalf("the server still read from a client that %s for %v", what, testTimeout)
		}
		if err != nil {
			return // the server closed the connection
		}
	}
}
