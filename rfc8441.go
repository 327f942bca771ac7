package main

// RFC 8441, Bootstrapping WebSockets with HTTP/2: a WebSocket on one stream
// of an HTTP/2 connection, opened by an extended CONNECT instead of a GET
// with Upgrade. The frames of RFC 6455 are the same; only the bootstrap
// (§4, §5) and the transport under them change:
//
//	:method = CONNECT            (RFC 8441 §4, H-01)
//	:protocol = websocket
//	:scheme = https
//	:path = /echo
//	:authority = localhost:8443
//	sec-websocket-version = 13   (§5: the RFC 6455 headers that still apply)
//	origin = https://localhost:8443
//
// and the answer is a 200 (H-05), with no Sec-WebSocket-Key and no
// Sec-WebSocket-Accept: §5 drops them, because an HTTP/2 stream cannot be
// mistaken for anything else, which is all the key was for (RFC 6455
// §1.3).
//
// The server's side is Upgrade, which sends an HTTP/2 request here
// (acceptStream); the client's is Dial, which offers h2 through ALPN for
// wss:// and uses it when the server allows extended CONNECT (dialHTTP2).
// Under both, a stream is a transport (ws.go) like a TCP connection:
// END_STREAM is its FIN, and a reset (RST_STREAM) its RST (RFC 8441 §5).
//
// net/http speaks the HTTP/2 side. Its server accepts extended CONNECT
// only when the process started with GODEBUG=http2xconnect=1 (Go 1.24 and
// later; main re-executes itself with it, tls.go); its client sends one
// for a request whose header ":protocol" is set, a use net/http supports
// only through the RoundTripper of Transport.TLSNextProto["h2"]
// (dialHTTP2). Both depend on net/http's behaviour, which the tests of
// h2_test.go pin down.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ---------------------------------------------------------------------------
// The server's side (RFC 8441 §4, §5)
// ---------------------------------------------------------------------------

// readExtendedConnect checks an HTTP/2 request for a WebSocket (RFC 8441
// §4, §5): a CONNECT whose :protocol is websocket, and the RFC 6455
// headers that still apply, the version (426 otherwise, S-18) and the
// offers. There is no key to check (§5, H-04), and a GET with Upgrade is
// no handshake at all: HTTP/2 has no Upgrade (RFC 9113 §8.6, H-03).
func readExtendedConnect(r *http.Request) *HandshakeError {
	protocol := r.Header.Get(":protocol")
	switch {
	case r.Method != http.MethodConnect:
		return &HandshakeError{Status: http.StatusBadRequest,
			Reason: "over HTTP/2 a WebSocket opens with an extended CONNECT, :protocol websocket (RFC 8441 §4); HTTP/2 has no Upgrade (RFC 9113 §8.6)"}
	case protocol == "":
		return &HandshakeError{Status: http.StatusBadRequest,
			Reason: "a CONNECT without :protocol asks for a TCP tunnel (RFC 9113 §8.5), which this server does not open; a WebSocket names :protocol websocket (RFC 8441 §4)"}
	case protocol != "websocket":
		return &HandshakeError{Status: http.StatusNotImplemented,
			Reason: fmt.Sprintf("this server tunnels only the websocket protocol, not %q (RFC 8441 §4)", protocol)}
	}
	if refusal := checkVersion(r); refusal != nil {
		return refusal
	}
	return checkOffers(r)
}

// acceptStream answers an accepted extended CONNECT (RFC 8441 §5): a 200,
// flushed at once, and the stream stays open both ways as the WebSocket's
// transport. Nothing is hijacked: the stream belongs to the handler, so
// the handler must not return before the Conn is closed (its return ends
// the stream).
func acceptStream(w http.ResponseWriter, r *http.Request, subprotocol string, deflate *deflateConn, answer string, opts *Options) (*Conn, error) {
	rc := http.NewResponseController(w)
	// The server's ReadTimeout and WriteTimeout bound every stream from its
	// start, and a deadline that fires ends an HTTP/2 stream for good: the
	// WebSocket keeps deadlines of its own instead (H-08).
	if err := errors.Join(rc.SetReadDeadline(time.Time{}), rc.SetWriteDeadline(time.Time{})); err != nil {
		http.Error(w, "websocket: cannot clear this stream's deadlines", http.StatusInternalServerError)
		return nil, err
	}
	if subprotocol != "" {
		w.Header().Set("Sec-WebSocket-Protocol", subprotocol) // S-19, S-20
	}
	if deflate != nil {
		w.Header().Set("Sec-WebSocket-Extensions", answer) // RFC 7692 §5, D-01
	}
	w.WriteHeader(http.StatusOK) // H-05
	if err := rc.Flush(); err != nil {
		return nil, err
	}
	if opts.OnResponse != nil {
		head := r.Proto + " 200 OK\r\n" // HPACK has no bytes to show: the fields, as HTTP/1.1 would write them
		if subprotocol != "" {
			head += "Sec-WebSocket-Protocol: " + subprotocol + "\r\n"
		}
		if deflate != nil {
			head += "Sec-WebSocket-Extensions: " + answer + "\r\n"
		}
		opts.OnResponse([]byte(head + "\r\n"))
	}
	s := newStream(r.Body, w, rc.Flush, addrOf(r.RemoteAddr))
	s.reset = func() { rc.SetWriteDeadline(time.Unix(1, 0)) } // RST_STREAM(INTERNAL_ERROR), see stream.Close
	c := newConnOver(s, nil, subprotocol, opts)
	if deflate != nil {
		c.useDeflate(deflate)
	}
	return c, nil
}

// addrOf turns a request's RemoteAddr, "ip:port", back into a net.Addr.
func addrOf(remote string) net.Addr {
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		return net.TCPAddrFromAddrPort(ap)
	}
	return stringAddr(remote)
}

type stringAddr string

func (a stringAddr) Network() string { return "tcp" }
func (a stringAddr) String() string  { return string(a) }

// Proto is how the Conn's WebSocket was bootstrapped: "HTTP/1.1" for the
// upgrade of RFC 6455 §4, "HTTP/2.0" for an extended CONNECT on an HTTP/2
// stream (RFC 8441).
func (c *Conn) Proto() string {
	if _, ok := c.t.(*stream); ok {
		return "HTTP/2.0"
	}
	return "HTTP/1.1"
}

// ---------------------------------------------------------------------------
// A stream as a transport
// ---------------------------------------------------------------------------

// A stream is one HTTP/2 stream made a transport: body is what the peer
// sends, out what this end sends.
//
// Its deadlines are its own. net/http's deadlines on a stream are final,
// where a Conn's are not: a read that times out pings and reads again
// (timedReader), and a write deadline set for the next write must not
// fire on a connection that merely stopped writing. So the stream
// reads body in a goroutine of its own (pump), and a Read waits for it,
// or for the deadline; and a write deadline resets the stream only if it
// passes during a write (H-07).
type stream struct {
	body   io.ReadCloser
	out    io.Writer
	remote net.Addr     // the peer's: the client's address as net/http had it, or the server's
	flush  func() error // sends what out holds, at once: every frame reaches the peer without waiting (H-06)

	endOut func() error // ends this end's half (END_STREAM), or says it cannot
	reset  func()       // resets the stream, for an abort (RST_STREAM)

	chunks  chan chunk    // from pump: what body read
	took    chan struct{} // to pump: the last chunk is used up
	rest    []byte        // of the last chunk, still to be read
	readErr error         // once body has failed or ended
	readDue deadline

	writing  sync.Mutex // held by a write, and by the write deadline's timer when it fires
	writeDue deadline   // resets the stream when a write outlasts it

	ended     atomic.Bool // CloseWrite was called: closing is clean, no reset
	peerEnded atomic.Bool // the peer's half ended (END_STREAM): closing is clean too

	closeOnce sync.Once
	closed    chan struct{}
}

// A chunk is one read of body.
type chunk struct {
	b   []byte
	err error
}

// pumpBuffer is what the pump reads into: a short message's frame whole,
// and little for an idle WebSocket to hold (BenchmarkIdleHTTP2); a longer
// one takes several reads of net/http's buffer, each a copy.
const pumpBuffer = 4 << 10

func newStream(body io.ReadCloser, out io.Writer, flush func() error, remote net.Addr) *stream {
	s := &stream{
		body: body, out: out, flush: flush, remote: remote,
		endOut: func() error { return errNoHalfClose },
		reset:  func() {},
		chunks: make(chan chunk, 1),
		took:   make(chan struct{}),
		closed: make(chan struct{}),
	}
	s.readDue.init(nil)
	s.writeDue.init(s.writeTimedOut)
	go s.pump()
	return s
}

// errNoHalfClose: net/http offers a handler no way to end its response
// while it still reads the request ("no mechanism for closing a
// ResponseWriter while still reading data", h2_bundle.go); the server's
// half of the stream ends (END_STREAM) when the handler returns, and then
// net/http asks the client to stop sending with RST_STREAM(NO_ERROR), as
// RFC 9113 §8.1 allows.
var errNoHalfClose = errors.New("websocket: net/http ends a server's HTTP/2 stream only when its handler returns")

// pump reads body until it fails or ends (END_STREAM, H-09), one chunk at
// a time, each handed to Read and used up before the next is read: what
// the peer sends beyond it waits in net/http's buffer, within the
// stream's flow-control window.
func (s *stream) pump() {
	buf := make([]byte, pumpBuffer)
	for {
		n, err := s.body.Read(buf)
		if err == io.EOF {
			s.peerEnded.Store(true)
		}
		select {
		case s.chunks <- chunk{buf[:n], err}:
		case <-s.closed:
			return
		}
		if err != nil {
			return
		}
		select {
		case <-s.took:
		case <-s.closed:
			return
		}
	}
}

func (s *stream) Read(p []byte) (int, error) {
	for len(s.rest) == 0 {
		if s.readErr != nil {
			return 0, s.readErr
		}
		select {
		case c := <-s.chunks:
			s.rest, s.readErr = c.b, c.err
			if s.readErr == nil && len(s.rest) == 0 {
				s.tookAll()
			}
		case <-s.readDue.C():
			return 0, os.ErrDeadlineExceeded // and the stream stays usable
		case <-s.closed:
			return 0, net.ErrClosed
		}
	}
	n := copy(p, s.rest)
	s.rest = s.rest[n:]
	if len(s.rest) == 0 && s.readErr == nil {
		s.tookAll()
	}
	return n, nil
}

// tookAll tells the pump that its chunk is used up, so it reads the next.
func (s *stream) tookAll() {
	select {
	case s.took <- struct{}{}:
	case <-s.closed:
	}
}

// Write sends p and flushes it: a frame goes out as a DATA frame at once,
// not when a buffer fills (H-06).
func (s *stream) Write(p []byte) (int, error) {
	s.writing.Lock()
	defer s.writing.Unlock()
	select {
	case <-s.closed:
		return 0, net.ErrClosed
	default:
	}
	if s.writeDue.passed() {
		return 0, os.ErrDeadlineExceeded
	}
	n, err := s.out.Write(p)
	if err == nil && s.flush != nil {
		err = s.flush()
	}
	return n, err
}

func (s *stream) SetReadDeadline(t time.Time) error { s.readDue.set(t); return nil }

// SetWriteDeadline sets the deadline of writes; when it passes during one,
// the stream is reset (writeTimedOut), as only that stops a write that
// waits for the peer's flow control.
func (s *stream) SetWriteDeadline(t time.Time) error { s.writeDue.set(t); return nil }

// writeTimedOut resets the stream if a write is under way past its
// deadline. A write not under way leaves the lock free: then the next
// write sees the deadline passed by itself.
func (s *stream) writeTimedOut() {
	if s.writing.TryLock() {
		s.writing.Unlock()
		return
	}
	if s.writeDue.passed() {
		s.Close()
	}
}

// RemoteAddr returns the peer's address.
func (s *stream) RemoteAddr() net.Addr { return s.remote }

// CloseWrite ends this end's half of the stream with END_STREAM, RFC
// 8441's FIN (§5).
func (s *stream) CloseWrite() error {
	s.ended.Store(true)
	return s.endOut()
}

// Close ends the stream. After the closing handshake, when this end's half
// was ended (CloseWrite), the stream simply ends; otherwise it is an
// abort, RFC 8441 §5's TCP RST, and the stream is reset. §5 names the
// code CANCEL; a server can only send INTERNAL_ERROR, as net/http resets
// a stream for a handler with no other (a known deviation, H-10).
func (s *stream) Close() error {
	s.closeOnce.Do(func() {
		if !s.ended.Load() && !s.peerEnded.Load() {
			s.reset()
		}
		close(s.closed)
		s.readDue.stop()
		s.writeDue.stop()
		s.body.Close()
	})
	return nil
}

// A deadline is a net.Conn's deadline, for a stream: once it passes, its
// timer fires (then C receives, or the function given to init runs), and
// setting it anew rearms it. A timer's Stop or Reset leaves no stale tick
// behind (Go 1.23 timers, which go.mod's go line selects).
type deadline struct {
	mu    sync.Mutex
	at    time.Time
	timer *time.Timer
}

func (d *deadline) init(f func()) {
	if f == nil {
		d.timer = time.NewTimer(time.Hour)
	} else {
		d.timer = time.AfterFunc(time.Hour, f)
	}
	d.timer.Stop()
}

// C receives once the deadline has passed (init(nil) only).
func (d *deadline) C() <-chan time.Time { return d.timer.C }

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.at = t
	if t.IsZero() {
		d.timer.Stop()
	} else {
		d.timer.Reset(time.Until(t))
	}
}

func (d *deadline) passed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return !d.at.IsZero() && !time.Now().Before(d.at)
}

func (d *deadline) stop() { d.timer.Stop() }

// ---------------------------------------------------------------------------
// The client's side (RFC 8441 §4, §5)
// ---------------------------------------------------------------------------

// errNoExtendedConnect is dialHTTP2's answer when the server spoke HTTP/2
// but did not allow extended CONNECT (SETTINGS_ENABLE_CONNECT_PROTOCOL,
// RFC 8441 §3, H-11): Dial then uses HTTP/1.1.
var errNoExtendedConnect = errors.New("websocket: the server does not allow extended CONNECT (RFC 8441 §3)")

// offerHTTP2 returns config for a wss:// connection that offers h2, then
// http/1.1, through ALPN (RFC 7301), unless the caller chose protocols of
// its own. Clone keeps the rest: RootCAs, VerifyConnection and all.
func offerHTTP2(config *tls.Config) *tls.Config {
	if config != nil && len(config.NextProtos) > 0 {
		return config
	}
	return withProtocols(config, "h2", "http/1.1")
}

// onlyHTTP1 returns config for a connection that offers http/1.1 alone.
func onlyHTTP1(config *tls.Config) *tls.Config {
	return withProtocols(config, "http/1.1")
}

func withProtocols(config *tls.Config, protos ...string) *tls.Config {
	if config == nil {
		config = &tls.Config{}
	}
	config = config.Clone()
	config.NextProtos = protos
	return config
}

// negotiatedHTTP2 reports whether nc is a TLS connection on which the
// server chose h2.
func negotiatedHTTP2(nc net.Conn) bool {
	tc, ok := nc.(*tls.Conn)
	return ok && tc.ConnectionState().NegotiatedProtocol == "h2"
}

// dialHTTP2 opens the WebSocket as an extended CONNECT on a new HTTP/2
// connection nc (RFC 8441 §4, §5), and checks the answer: a 2xx, and the
// §4.1 rules that still apply (C-22, C-23). ctx bounds the handshake.
//
// net/http's Transport refuses a ":protocol" header on its public path
// (RoundTrip checks header names); the RoundTripper that its
// TLSNextProto["h2"] returns for one connection sends it, as net/http's
// own HTTP/2 client supports extended CONNECT since Go 1.24. This depends
// on that behaviour of net/http (TestDialHTTP2 pins it down).
func dialHTTP2(ctx context.Context, nc net.Conn, u *url.URL, opts *DialOptions) (*Conn, error) {
	tc := nc.(*tls.Conn)
	t := &http.Transport{ForceAttemptHTTP2: true, DisableCompression: true}
	t.CloseIdleConnections() // has net/http set up its HTTP/2 client in t.TLSNextProto
	h2 := t.TLSNextProto["h2"]
	if h2 == nil {
		nc.Close()
		return nil, errors.New("websocket: net/http offers no HTTP/2 client (GODEBUG http2client=0?)")
	}
	rt := h2(u.Host, tc)

	streamCtx, cancel := context.WithCancel(context.Background()) // the stream lives past Dial
	in, out := io.Pipe()
	req := (&http.Request{
		Method: http.MethodConnect,
		URL:    &url.URL{Scheme: "https", Host: u.Host, Path: u.Path, RawPath: u.RawPath, RawQuery: u.RawQuery},
		Host:   u.Host,
		Header: http.Header{
			":protocol":             {"websocket"}, // H-01
			"Sec-WebSocket-Version": {"13"},        // C-14
		},
		Body: in,
	}).WithContext(streamCtx)
	if opts.Origin != "" {
		req.Header.Set("Origin", opts.Origin) // C-13
	}
	if len(opts.Subprotocols) > 0 {
		req.Header.Set("Sec-WebSocket-Protocol", strings.Join(opts.Subprotocols, ", "))
	}
	var offer deflateParams
	if opts.Compression != nil {
		var header string
		offer, header = deflateOffer(*opts.Compression) // RFC 7692 §5, as over HTTP/1.1
		req.Header.Set("Sec-WebSocket-Extensions", header)
	}
	fail := func(err error) (*Conn, error) {
		cancel()
		out.Close()
		nc.Close()
		return nil, err
	}
	stop := context.AfterFunc(ctx, cancel) // ctx bounds the handshake
	resp, err := rt.RoundTrip(req)
	if !stop() {
		err = errors.Join(ctx.Err(), err)
	}
	if err != nil {
		if strings.Contains(err.Error(), "extended connect not supported by peer") {
			err = errNoExtendedConnect // net/http's error has no exported name
		}
		return fail(err)
	}
	subprotocol, refusal := checkStreamAnswer(resp, opts)
	if refusal != nil {
		resp.Body.Close()
		return fail(refusal)
	}
	deflate, err := clientDeflate(resp.Header.Values(hdrExtensions), offer, &opts.Options)
	if err != nil {
		resp.Body.Close()
		return fail(&HandshakeError{Status: resp.StatusCode, Reason: err.Error()})
	}
	s := newStream(resp.Body, out, nil, nc.RemoteAddr())
	s.endOut = out.Close // END_STREAM
	s.reset = func() {
		cancel() // RST_STREAM(CANCEL), RFC 8441 §5
		out.CloseWithError(net.ErrClosed)
		nc.Close() // the connection is this WebSocket's alone
	}
	c := newConnOver(s, nil, subprotocol, &opts.Options)
	c.client = true
	if deflate != nil {
		c.useDeflate(deflate)
	}
	go func() { // once the stream is over, so is its connection
		<-s.closed
		cancel()
		out.Close()
		nc.Close()
	}()
	return c, nil
}

// checkStreamAnswer checks the server's answer to an extended CONNECT: a
// 2xx accepts it (RFC 8441 §5, H-05), and the subprotocol and extensions
// follow §4.1's rules, as after a 101 (C-22, C-23, C-24).
func checkStreamAnswer(resp *http.Response, opts *DialOptions) (string, *HandshakeError) {
	failed := func(reason string) (string, *HandshakeError) {
		return "", &HandshakeError{Status: resp.StatusCode, Reason: reason}
	}
	protocols := resp.Header.Values(hdrProtocol)
	switch {
	case resp.StatusCode/100 != 2:
		return failed("the server refused the extended CONNECT")
	case len(resp.Header.Values(hdrExtensions)) > 0 && opts.Compression == nil: // C-22
		return failed("the server named an extension that was not offered")
	case len(protocols) > 1:
		return failed("Sec-WebSocket-Protocol appears more than once")
	case len(protocols) == 1 && !containsString(opts.Subprotocols, strings.TrimSpace(protocols[0])):
		return failed("the server chose a subprotocol that was not offered")
	case len(protocols) == 1:
		return strings.TrimSpace(protocols[0]), nil
	}
	return "", nil
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
