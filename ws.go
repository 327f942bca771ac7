// This file is the WebSocket protocol, RFC 6455, both ends of it, written
// with nothing but Go's standard library.
//
// Read it top to bottom: it follows the life of one connection, which is
// also the order of the RFC.
//
//  1. Vocabulary: opcodes, status codes, errors (§5.2, §7.4).
//  2. The opening handshake. The client's side first, as it speaks first
//     (§4.1): Dial sends the request and checks the answer. Then the
//     server's (§4.2): Upgrade reads the request (§4.2.1), decides whether
//     to accept it (§4.2.2, §9, §10.2), answers 101 Switching Protocols
//     and takes the TCP connection over from net/http.
//  3. The connection: what a Conn holds, and how it waits on the network
//     (deadlines, and the pings that keep a quiet peer talking).
//  4. Reading frames: the header (§5.2), unmasking (§5.3), control frames
//     (§5.5).
//  5. Reading messages: fragments reassembled (§5.4, §6.2), the size limit
//     (§10.4), text checked as UTF-8 as it arrives (§5.6, §8.1).
//  6. Sending frames and messages (§5.1, §5.2, §6.1), masked by a client
//     (§5.3).
//  7. Closing: the closing handshake, failing a connection, closing TCP
//     (§5.5.1, §7).
//  8. Engineering: what makes it cheap and changes nothing on the wire:
//     pools, the idle connection's small footprint, deadlines set
//     sparingly, the write queue. Skip it on a first reading.
//
// One Conn type serves both ends: the rules that differ by role (who
// masks, who closes TCP first) are marked where they apply.
//
// Section numbers in comments (§5.5.1) point into RFC 6455; S-nn and C-nn
// ids point into the table of server and client rules (RULES.md) that the
// tests are named after.
//
// This file is the protocol and nothing else: it builds alone, as a
// package websocket, with only the package line changed (.ci/run proves
// it), and example_test.go shows the first lines to copy.

package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// ---------------------------------------------------------------------------
// 1. Vocabulary
// ---------------------------------------------------------------------------

// acceptGUID is the string a server appends to the client's key to prove
// that it understood the handshake as a WebSocket handshake (§1.3, §4.2.2).
const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// The header fields of §11.3, spelled as net/http's Header keys them
// (textproto.CanonicalMIMEHeaderKey): looked up by the RFC's spelling,
// "Sec-WebSocket-Key", a name is respelled, in a new string, on every
// lookup. Field names are case-insensitive (RFC 9110 §5.1), so this
// changes nothing on the wire; what this end sends keeps the RFC's spelling.
const (
	hdrKey        = "Sec-Websocket-Key"        // §11.3.1
	hdrExtensions = "Sec-Websocket-Extensions" // §11.3.2
	hdrAccept     = "Sec-Websocket-Accept"     // §11.3.3
	hdrProtocol   = "Sec-Websocket-Protocol"   // §11.3.4
	hdrVersion    = "Sec-Websocket-Version"    // §11.3.5
)

// An Opcode is the frame type of §5.2. The two data opcodes, OpText and
// OpBinary, are also the two kinds of message.
type Opcode byte

// The opcodes of §5.2 and §11.8. 0x3-0x7 and 0xB-0xF are reserved.
const (
	OpContinuation Opcode = 0x0 // a later fragment of a message (§5.4)
	OpText         Opcode = 0x1 // a message of UTF-8 text (§5.6)
	OpBinary       Opcode = 0x2 // a message of arbitrary bytes (§5.6)
	OpClose        Opcode = 0x8 // §5.5.1
	OpPing         Opcode = 0x9 // §5.5.2
	OpPong         Opcode = 0xA // §5.5.3
)

// IsControl reports whether op is a control opcode: they all have the most
// significant opcode bit set (§5.5).
func (op Opcode) IsControl() bool { return op&0x8 != 0 }

// isKnown reports whether §5.2 defines op; the other values are reserved
// for extensions, and this server negotiates none.
func (op Opcode) isKnown() bool {
	return op <= OpBinary || (OpClose <= op && op <= OpPong)
}

// maxControlPayload is the largest payload of a control frame (§5.5). A
// close reason therefore fits in 123 bytes, after the 2-byte code.
const maxControlPayload = 125

// A StatusCode says why a connection was closed (§7.4).
type StatusCode uint16

// The status codes of §7.4.1, and 1012-1014, which IANA registered later.
const (
	StatusNormal           StatusCode = 1000
	StatusGoingAway        StatusCode = 1001
	StatusProtocolError    StatusCode = 1002
	StatusUnsupportedData  StatusCode = 1003
	StatusNoStatus         StatusCode = 1005 // reported for a Close without a code; never sent (§7.1.5)
	StatusAbnormal         StatusCode = 1006 // reported when TCP closed without a Close; never sent (§7.1.5)
	StatusInvalidData      StatusCode = 1007
	StatusPolicyViolation  StatusCode = 1008
	StatusTooBig           StatusCode = 1009
	StatusMissingExtension StatusCode = 1010 // sent by clients only
	StatusInternalError    StatusCode = 1011
	StatusServiceRestart   StatusCode = 1012
	StatusTryAgainLater    StatusCode = 1013
	StatusBadGateway       StatusCode = 1014
)

// mayReceive reports whether a peer may send code in a Close frame (§7.4.1,
// §7.4.2, S-68): the codes defined for the wire, and the ranges for
// libraries (3000-3999) and private use (4000-4999). 1004 is reserved;
// 1005, 1006 and 1015 exist only to be reported, never sent.
func (code StatusCode) mayReceive() bool {
	switch {
	case 1000 <= code && code <= 1003, 1007 <= code && code <= 1014:
		return true
	default:
		return 3000 <= code && code <= 4999
	}
}

// maySend reports whether an end may send code: what a peer may send,
// except that 1010 is a client's code only (§7.4.1, S-69).
func (code StatusCode) maySend(client bool) bool {
	return code.mayReceive() && (client || code != StatusMissingExtension)
}

// ErrClosed is returned by WriteMessage and Close once this end has sent
// its Close frame: nothing may follow it (§5.5.1).
var ErrClosed = errors.New("websocket: connection closed")

// A CloseError reports that the connection ended without this end finding
// fault with the peer. Code and Reason are those of the peer's Close frame
// (§7.1.5, §7.1.6): StatusNoStatus if it carried no code; StatusAbnormal
// if the connection was lost without one (the peer vanished, went silent,
// or a write to it failed).
type CloseError struct {
	Code   StatusCode
	Reason string
	err    error // for StatusAbnormal: why the connection was lost
}

func (e *CloseError) Error() string {
	if e.err != nil {
		return fmt.Sprintf("websocket: connection lost (%d): %v", e.Code, e.err)
	}
	return fmt.Sprintf("websocket: peer closed (%d) %q", e.Code, e.Reason)
}

// Unwrap returns the network error behind a StatusAbnormal close.
func (e *CloseError) Unwrap() error { return e.err }

// A ProtocolError reports that the peer broke a rule, and that Code is the
// status code to close with. ReadMessage returns one after it has failed
// the connection (§7.1.7) with that code; an application may return one to
// say the peer broke the application's own rules.
type ProtocolError struct {
	Code   StatusCode
	Reason string
}

func (e *ProtocolError) Error() string {
	return fmt.Sprintf("websocket: failed the connection (%d): %s", e.Code, e.Reason)
}

// violation builds the error for a peer that broke a rule; finish (part 7)
// turns it into §7.1.7 Fail the WebSocket Connection.
func violation(code StatusCode, format string, args ...any) error {
	return &ProtocolError{Code: code, Reason: fmt.Sprintf(format, args...)}
}

// ---------------------------------------------------------------------------
// 2. The opening handshake (§4)
// ---------------------------------------------------------------------------

// Options configures Upgrade, and Dial through DialOptions. The zero value
// is ready to use; a zero or negative field means its default.
type Options struct {
	// Origins lists the origins, besides the server's own, whose pages
	// may open a WebSocket here, as "scheme://host[:port]" (§10.2).
	// Servers only.
	Origins []string

	// Hosts, if set, are the only host names a request's Host header may
	// name, with any port (§4.2.1 step 2: the server's own authority). A
	// server on a loopback address sets it to its loopback names, so that
	// a web page whose host name was rebound to 127.0.0.1 (DNS rebinding)
	// cannot reach it: such a page controls Origin and Host alike, and
	// passes the origin check. Servers only.
	Hosts []string

	// Subprotocols are the application protocols this end speaks, in
	// order of preference (§1.9): a server picks the first the client
	// offers; a client offers them all. Nil: none.
	Subprotocols []string

	// MaxMessage is the largest message, in bytes, that ReadMessage
	// accepts (§10.4). Default 1 MiB.
	MaxMessage int64

	// MaxFragments is the most frames one message may come in (§10.4):
	// each costs work, whatever its size. Default 131,072 (2^17), twice
	// what conformance suites send.
	MaxFragments int

	// IdleTimeout bounds every wait on the peer: when the peer has sent
	// nothing for this long, or has not taken a frame for this long, the
	// connection is dropped. Default one minute.
	IdleTimeout time.Duration

	// PingInterval is how long the peer may be silent before this end
	// pings it (RFC 6455 §5.5.2 allows a ping at any time; a pong, §5.5.3,
	// ends the silence). It pings again each interval until IdleTimeout of
	// silence drops the connection. The pings are also what keeps a
	// reverse proxy from cutting a quiet connection: nginx and AWS ALB
	// drop one after 60 s without a byte from the server, Cloudflare
	// after 100 s. Default: half of IdleTimeout, at most 30 s, under
	// those whatever the idle timeout. An interval not shorter than
	// IdleTimeout means no pings.
	PingInterval time.Duration

	// CloseTimeout bounds the closing handshake: how long to wait for the
	// peer's Close, and then for the peer to close TCP (§7.1.1). Default
	// five seconds.
	CloseTimeout time.Duration

	// OnFrame, if set, sees every frame read or written, as it crossed the
	// wire: to trace a connection, or to show the protocol at work. It is
	// called by the goroutine that reads or writes the frame: for a frame
	// read, before it is acted on; for a frame written, once it was
	// written (a frame that never reached the connection is not shown).
	// Several may call it at once; it must not use the Conn.
	OnFrame func(Frame)

	// OnResponse, if set, sees the server's answer to a handshake it
	// accepted, the 101 response byte for byte as it was written (§4.2.2
	// step 5): to trace the handshake. A refusal is an ordinary HTTP
	// response, whose status and headers the handler can see itself.
	// head is valid only during the call. Servers only.
	OnResponse func(head []byte)

	// Compression, if set, enables permessage-deflate (RFC 7692): a
	// server accepts the first offer it can honour, a client offers it.
	// Nil, the zero value, means no compression. &DeflateOptions{} means
	// its defaults: no context takeover, messages of 512 bytes and more
	// compressed, at flate.BestSpeed.
	Compression *DeflateOptions
}

// defaultIdleTimeout is the IdleTimeout of Options that leave it zero.
const defaultIdleTimeout = time.Minute

// maxDefaultPingInterval caps the default PingInterval: under the 60 s
// after which nginx (proxy_read_timeout) and AWS ALB cut a connection on
// which the server sent nothing.
const maxDefaultPingInterval = 30 * time.Second

// pingInterval is the PingInterval of opts, given the idle timeout in
// force: half of it by default, at most maxDefaultPingInterval.
func pingInterval(opts *Options, idleTimeout time.Duration) time.Duration {
	return orDefault(opts.PingInterval, min(idleTimeout/2, maxDefaultPingInterval))
}

// A HandshakeError reports an opening handshake that failed. Upgrade
// returns one when it refused the request: the client got an HTTP
// response with Status and Reason, and no WebSocket. Dial returns one when
// the server's answer broke a rule of §4.1: Status is the answer's HTTP
// status, and Reason names the rule.
type HandshakeError struct {
	Status int
	Reason string
}

func (e *HandshakeError) Error() string {
	return fmt.Sprintf("websocket: handshake failed (%d %s): %s", e.Status, http.StatusText(e.Status), e.Reason)
}

// The client's side (§4.1) ------------------------------------------------

// DialOptions configures Dial.
type DialOptions struct {
	// Options as for a server; Subprotocols are offered in this order.
	Options

	// Origin, if set, is sent as the Origin header, as a browser would
	// send its page's origin (§4.1 step 8, C-13).
	Origin string

	// TLSConfig is for wss:// URLs; nil means the defaults. Its
	// ServerName, if empty, is the URL's host (C-08).
	TLSConfig *tls.Config
}

// Dial opens a WebSocket connection to a ws:// or wss:// URL: the client's
// side of the opening handshake (§4.1). It connects (over TLS for wss,
// §10.6), sends the handshake and checks the server's answer. For wss it
// offers h2 and http/1.1 (unless TLSConfig.NextProtos says otherwise), and
// over HTTP/2 opens the WebSocket as an extended CONNECT (RFC 8441) if the
// server allows it; Conn.Proto tells which. ctx bounds
// all of it, and so does the idle timeout (Options.IdleTimeout), as it
// bounds every wait on the peer. The Conn it returns is a client's: it
// masks what it sends.
func Dial(ctx context.Context, rawURL string, opts *DialOptions) (*Conn, error) {
	if opts == nil {
		opts = &DialOptions{}
	}
	ctx, cancel := context.WithTimeout(ctx, orDefault(opts.IdleTimeout, defaultIdleTimeout))
	defer cancel()
	u, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	for i, p := range opts.Subprotocols {
		if !isToken(p) || slices.Contains(opts.Subprotocols[:i], p) {
			return nil, fmt.Errorf("websocket: subprotocols to offer must be distinct tokens, not %q (§4.1 step 10)", p)
		}
	}
	nc, err := dialTransport(ctx, u, offerHTTP2(opts.TLSConfig))
	if err == nil && negotiatedHTTP2(nc) {
		// RFC 8441: over HTTP/2 if the server allows extended CONNECT,
		// and otherwise over a new connection that offers only HTTP/1.1.
		var c *Conn
		if c, err = dialHTTP2(ctx, nc, u, opts); !errors.Is(err, errNoExtendedConnect) {
			return c, err
		}
		nc, err = dialTransport(ctx, u, onlyHTTP1(opts.TLSConfig))
	}
	if err != nil {
		return nil, err
	}
	// ctx bounds the handshake: when it ends, by its deadline or by
	// cancellation, whatever read or write is waiting is interrupted.
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	c, err := clientHandshake(nc, u, opts)
	if !stop() {
		err = ctx.Err() // ctx ended, and interrupted the handshake
	}
	if err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

// parseURL checks a WebSocket URI (§3, C-01, C-02): the scheme ws or wss,
// a host, and no user information or fragment, which its grammar has no
// room for:
//
//	ws-URI = "ws:" "//" host [ ":" port ] path [ "?" query ]
func parseURL(rawURL string) (*url.URL, error) {
	u, err := url.Parse(rawURL)
	switch {
	case err != nil:
		return nil, err
	case u.Scheme != "ws" && u.Scheme != "wss":
		return nil, fmt.Errorf("websocket: %q is not a ws:// or wss:// URL (§3)", rawURL)
	case u.Host == "" || u.Hostname() == "":
		return nil, fmt.Errorf("websocket: %q names no host (§3)", rawURL)
	case u.User != nil:
		return nil, fmt.Errorf("websocket: %q has user information; a WebSocket URI has none (§3)", rawURL)
	case u.Fragment != "" || strings.Contains(rawURL, "#"):
		return nil, fmt.Errorf("websocket: %q has a fragment; a WebSocket URI has none (§3)", rawURL)
	}
	return u, nil
}

// dialTransport opens the TCP connection, and for wss the TLS session inside it,
// with the URL's host as the TLS server name (§4.1, C-08).
func dialTransport(ctx context.Context, u *url.URL, config *tls.Config) (net.Conn, error) {
	port := u.Port()
	if port == "" {
		port = map[string]string{"ws": "80", "wss": "443"}[u.Scheme]
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", net.JoinHostPort(u.Hostname(), port))
	if err != nil || u.Scheme == "ws" {
		return nc, err
	}
	if config == nil {
		config = &tls.Config{}
	}
	if config.ServerName == "" {
		config = config.Clone()
		config.ServerName = u.Hostname()
	}
	tc := tls.Client(nc, config)
	if err := tc.HandshakeContext(ctx); err != nil {
		nc.Close()
		return nil, err
	}
	return tc, nil
}

// maxResponseHead is the most a client reads of the server's answer to
// its handshake, up to the blank line that ends the headers.
const maxResponseHead = 16 << 10

// clientHandshake sends the client's opening handshake (§4.1) and checks
// the server's answer, rule by rule; any other answer fails the
// connection.
func clientHandshake(nc net.Conn, u *url.URL, opts *DialOptions) (*Conn, error) {
	// A new key for every connection: 16 random bytes, in base64 (C-12).
	var nonce [16]byte
	rand.Read(nonce[:])
	key := base64.StdEncoding.EncodeToString(nonce[:])

	// The request: a GET of the resource name, HTTP/1.1, and the headers
	// of §4.1 steps 4 to 10 (C-03, C-09 to C-15). The port is part of Host
	// exactly when the URL names it.
	request := "GET " + u.RequestURI() + " HTTP/1.1\r\n" +
		"Host: " + u.Host + "\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\n" +
		"Sec-WebSocket-Version: 13\r\n"
	if opts.Origin != "" {
		request += "Origin: " + opts.Origin + "\r\n"
	}
	if len(opts.Subprotocols) > 0 {
		request += "Sec-WebSocket-Protocol: " + strings.Join(opts.Subprotocols, ", ") + "\r\n"
	}
	var offer deflateParams
	if opts.Compression != nil {
		var header string
		offer, header = deflateOffer(*opts.Compression)
		request += "Sec-WebSocket-Extensions: " + header + "\r\n"
	}
	if _, err := io.WriteString(nc, request+"\r\n"); err != nil {
		return nil, err
	}

	// The answer's head is bounded, as the server bounds the request's
	// (§10.4): a server that never ends its headers must not fill memory.
	// Of a refusal's body, only its first bytes are read: they say why.
	head := &io.LimitedReader{R: nc, N: maxResponseHead}
	br := bufio.NewReader(head)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
	if err != nil && head.N == 0 {
		return nil, fmt.Errorf("websocket: the server's answer has more than %d bytes of headers (§10.4)", maxResponseHead)
	}
	if err != nil {
		return nil, err
	}
	failed := func(reason string) (*Conn, error) {
		return nil, &HandshakeError{Status: resp.StatusCode, Reason: reason}
	}
	// §4.1, the checks of the server's answer, in the RFC's order.
	protocols := resp.Header.Values(hdrProtocol)
	extensions := resp.Header.Values(hdrExtensions)
	switch {
	case resp.StatusCode != http.StatusSwitchingProtocols: // C-18
		return failed("the server did not switch protocols" + refusalText(resp))
	case !hasToken(resp.Header, "Upgrade", "websocket"): // C-19
		return failed(`the answer lacks "Upgrade: websocket"`)
	case !hasToken(resp.Header, "Connection", "Upgrade"): // C-20
		return failed(`the answer lacks "Connection: Upgrade"`)
	case len(resp.Header.Values(hdrAccept)) != 1 ||
		strings.TrimSpace(resp.Header.Get(hdrAccept)) != acceptKey(key): // C-21, C-24
		return failed("Sec-WebSocket-Accept is not the one for our key")
	case len(extensions) > 0 && opts.Compression == nil: // C-22: we offered none
		return failed("the server named an extension that was not offered")
	case len(protocols) > 1: // C-24
		return failed("Sec-WebSocket-Protocol appears more than once")
	case len(protocols) == 1 && !slices.Contains(opts.Subprotocols, strings.TrimSpace(protocols[0])): // C-23
		return failed("the server chose a subprotocol that was not offered")
	}
	deflate, err := clientDeflate(extensions, offer, &opts.Options)
	if err != nil {
		return failed(err.Error())
	}
	subprotocol := ""
	if len(protocols) == 1 {
		subprotocol = strings.TrimSpace(protocols[0])
	}
	// The frames begin right after the answer, and br may hold some.
	c := newConn(nc, br, subprotocol, &opts.Options)
	c.client = true
	if deflate != nil {
		c.useDeflate(deflate)
	}
	return c, nil
}

// clientDeflate makes the client's compression state of the server's
// answer to its offer, if it offered permessage-deflate: RFC 7692 §7.1,
// an answer that breaks a rule of the offer fails the connection (D-02);
// no answer declines the offer, and the connection goes on without it.
func clientDeflate(extensions []string, offer deflateParams, opts *Options) (*deflateConn, error) {
	if opts.Compression == nil {
		return nil, nil
	}
	agreed, ok, err := checkDeflateAnswer(extensions, offer)
	if err != nil || !ok {
		return nil, err
	}
	return newDeflateConn(agreed, true, *opts.Compression), nil
}

// maxRefusalText is the most of a refusal's body that a HandshakeError
// quotes: enough for a reason, such as Refuse sends.
const maxRefusalText = 512

// refusalText returns "; it said: " and the start of a refusal's body, if
// its length is declared, so that the user learns why the server refused.
// A body that ends with the connection is not waited for: a server that
// keeps the connection open would hold Dial until its deadline. The
// server's words are untrusted: every byte but printable ASCII is escaped,
// so that they can neither forge a log line nor drive a terminal.
func refusalText(resp *http.Response) string {
	if resp.ContentLength <= 0 && len(resp.TransferEncoding) == 0 {
		return ""
	}
	read, _ := io.ReadAll(io.LimitReader(resp.Body, maxRefusalText+1))
	body := strings.TrimRight(string(read), "\r\n")
	if len(body) == 0 {
		return ""
	}
	cut := ""
	if len(body) > maxRefusalText {
		body, cut = body[:maxRefusalText], "..."
	}
	var b strings.Builder
	b.WriteString("; it said: ")
	for _, c := range []byte(body) {
		if c >= ' ' && c <= '~' && c != '\\' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "\\x%02x", c)
		}
	}
	return b.String() + cut
}

// The server's side (§4.2) ------------------------------------------------

// Upgrade performs the server's side of the opening handshake (§4.2): it
// checks the request, answers 101 Switching Protocols and takes the TCP
// connection over from net/http. If the request is not an acceptable
// WebSocket handshake, Upgrade answers with an HTTP error itself and returns
// a *HandshakeError.
//
// An HTTP/2 request is an extended CONNECT instead (RFC 8441, rfc8441.go):
// Upgrade answers 200 and the WebSocket runs on the request's stream,
// which ends when the handler returns: there, the handler must not return
// before the Conn is closed.
func Upgrade(w http.ResponseWriter, r *http.Request, opts *Options) (*Conn, error) {
	if opts == nil {
		opts = &Options{}
	}
	key, refusal := readHandshake(r)
	if refusal == nil {
		refusal = CheckHost(r, opts.Hosts)
	}
	if refusal == nil {
		refusal = checkOrigin(r, opts.Origins)
	}
	if refusal != nil {
		Refuse(w, refusal)
		return nil, refusal
	}
	subprotocol := chooseSubprotocol(r, opts.Subprotocols)
	deflate, answer := acceptDeflate(r, opts)
	if r.ProtoMajor == 2 {
		return acceptStream(w, r, subprotocol, deflate, answer, opts) // RFC 8441 (rfc8441.go)
	}
	return accept(w, key, subprotocol, deflate, answer, opts)
}

// acceptDeflate negotiates permessage-deflate if this server enables it
// (RFC 7692 §5, §7.1): the connection's compression state and the one
// element to answer with, or nil and "" when the offers hold nothing this
// end can honour. Declining is not failing: the handshake goes on without
// the extension. The offers' grammar (§9.1) was checked by readHandshake.
func acceptDeflate(r *http.Request, opts *Options) (*deflateConn, string) {
	if opts.Compression == nil {
		return nil, ""
	}
	agreed, answer, ok := negotiateDeflate(r.Header.Values(hdrExtensions), *opts.Compression)
	if !ok {
		return nil, ""
	}
	return newDeflateConn(agreed, false, *opts.Compression), answer
}

// readHandshake checks the client's opening handshake against §4.2.1 and
// returns its key. Any deviation is answered with an HTTP error (S-01).
func readHandshake(r *http.Request) (key string, refusal *HandshakeError) {
	refused := func(status int, reason string) (string, *HandshakeError) {
		return "", &HandshakeError{Status: status, Reason: reason}
	}
	if r.ProtoMajor == 2 {
		return "", readExtendedConnect(r) // RFC 8441 (rfc8441.go): no key
	}
	// Step 1: an HTTP/1.1 or later GET (S-02, S-03). Step 2, the Host
	// header (S-05), net/http enforces before a handler ever runs.
	if r.Method != http.MethodGet {
		return refused(http.StatusMethodNotAllowed, "a WebSocket handshake is a GET request")
	}
	if !r.ProtoAtLeast(1, 1) {
		return refused(http.StatusBadRequest, "a WebSocket handshake needs HTTP/1.1 or later")
	}
	// Steps 3 and 4: Upgrade names websocket and Connection names Upgrade,
	// each as a whole token of a comma-separated list, in any case (S-06,
	// S-07).
	if !hasToken(r.Header, "Upgrade", "websocket") {
		return refused(http.StatusBadRequest, `not a WebSocket handshake: "Upgrade: websocket" is missing`)
	}
	if !hasToken(r.Header, "Connection", "Upgrade") {
		return refused(http.StatusBadRequest, `not a WebSocket handshake: "Connection: Upgrade" is missing`)
	}
	// Step 6, before step 5: a client of an older draft sends another
	// version, or none, and often no key; it should learn which version
	// this server speaks (426, see Refuse) rather than get a plain 400.
	// Exactly one version line, and it must say 13 (S-10, S-18).
	if refusal := checkVersion(r); refusal != nil {
		return "", refusal
	}
	// Step 5: a key that is base64 for 16 bytes, sent once (S-08, S-09,
	// §11.3.1).
	keys := r.Header.Values(hdrKey)
	if len(keys) != 1 {
		return refused(http.StatusBadRequest, "Sec-WebSocket-Key must appear exactly once")
	}
	key = strings.TrimSpace(keys[0])
	if !isKey(key) {
		return refused(http.StatusBadRequest, "Sec-WebSocket-Key is not base64 for 16 bytes")
	}
	return key, checkOffers(r)
}

// isKey reports whether key is base64 for 16 bytes (§4.1: "a randomly
// selected 16-byte value that has been base64-encoded"): 24 characters,
// the last two "==". Decoding ignores the unused bits of the last
// character, so that the RFC's own example key, whose pad bits are not
// zero (erratum 3150), is accepted too.
func isKey(key string) bool {
	if len(key) != 24 {
		return false
	}
	var raw [18]byte // what 24 characters decode to at most
	n, err := base64.StdEncoding.Decode(raw[:], []byte(key))
	return err == nil && n == 16
}

// checkVersion is step 6 of §4.2.1: exactly one version line, and it must
// say 13 (S-10, S-18).
func checkVersion(r *http.Request) *HandshakeError {
	switch versions := r.Header.Values(hdrVersion); {
	case len(versions) > 1:
		return &HandshakeError{Status: http.StatusBadRequest, Reason: "Sec-WebSocket-Version appears more than once"}
	case len(versions) == 0 || strings.TrimSpace(versions[0]) != "13":
		return &HandshakeError{Status: http.StatusUpgradeRequired, Reason: "this server speaks WebSocket version 13"}
	}
	return nil
}

// checkOffers is steps 8 and 9 of §4.2.1: the offered subprotocols and
// extensions must follow their grammar (§4.3, §9.1, S-71), whether or not
// this server uses an extension: a grammar error is a 400, an offer it
// cannot honour is merely declined (RFC 7692 §5, acceptDeflate). Each line
// is a list of one or more (1#token).
func checkOffers(r *http.Request) *HandshakeError {
	for _, line := range r.Header.Values(hdrProtocol) {
		if !isTokenList(line) {
			return &HandshakeError{Status: http.StatusBadRequest, Reason: "Sec-WebSocket-Protocol is not a list of tokens"}
		}
	}
	if !validExtensions(r.Header.Values(hdrExtensions)) {
		return &HandshakeError{Status: http.StatusBadRequest, Reason: "Sec-WebSocket-Extensions does not follow the grammar of §9.1"}
	}
	return nil
}

// CheckHost checks that the Host header names one of hosts, if any are
// set (§4.2.1 step 2; see Options.Hosts). Upgrade calls it; a server
// calls it too on its other routes, so that a page of a rebound name
// (DNS rebinding) can read none of them.
func CheckHost(r *http.Request, hosts []string) *HandshakeError {
	if len(hosts) == 0 {
		return nil
	}
	name := r.Host
	if h, _, err := net.SplitHostPort(r.Host); err == nil {
		name = h
	}
	name = strings.Trim(name, "[]")
	for _, h := range hosts {
		if strings.EqualFold(name, strings.Trim(h, "[]")) {
			return nil
		}
	}
	// The reason goes back in the 403's body and into logs: the peer's
	// value is quoted, so that it can neither forge a line nor pass for
	// the server's own words.
	return &HandshakeError{Status: http.StatusForbidden, Reason: fmt.Sprintf("host %q is not this server", r.Host)}
}

// checkOrigin is the origin check of §4.2.2 step 4 and §10.2 (S-15, S-16).
// A browser always says which page opened the socket, and a page from
// another site must not reach this server with the visitor's cookies
// (cross-site WebSocket hijacking): only the server's own origin and those
// in allowed pass. A request without Origin does not come from a browser
// (§4.2.1 step 7, S-11) and passes; such clients can forge Origin anyway
// (§10.1, S-75), so this check protects browsers and authenticates no one.
func checkOrigin(r *http.Request, allowed []string) *HandshakeError {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	for _, a := range allowed {
		if strings.EqualFold(origin, strings.TrimSuffix(a, "/")) {
			return nil
		}
	}
	if isOwnOrigin(origin, r.Host) {
		return nil
	}
	return &HandshakeError{Status: http.StatusForbidden, Reason: fmt.Sprintf("origin %q is not allowed", origin)} // quoted, as in CheckHost
}

// isOwnOrigin reports whether origin is the server's own: the host and
// port of host, the request's Host header. The scheme is not compared, as
// a proxy may have ended TLS before us; for the same reason, a Host with
// no port is on the default port of whichever scheme the client used, and
// an origin on its own scheme's default port matches it.
//
// An origin is a scheme, a host and maybe a port, and nothing else (RFC
// 6454 §6.2: scheme "://" host [":" port]); anything more (a path, a
// user) is no browser's origin, and not this server's. Splitting it by
// hand is all it needs, and cheaper than url.Parse, which accepts those.
func isOwnOrigin(origin, host string) bool {
	scheme, originHost, ok := strings.Cut(origin, "://")
	if !ok || !isScheme(scheme) || originHost == "" || strings.ContainsAny(originHost, "/?#@") {
		return false // "null" too, a page of no origin (RFC 6454 §7.3)
	}
	scheme = strings.ToLower(scheme)
	return strings.EqualFold(withPort(originHost, scheme), withPort(host, scheme))
}

// isScheme reports whether s is a URI scheme: a letter, then letters,
// digits, "+", "-" or "." (RFC 3986 §3.1).
func isScheme(s string) bool {
	for i, c := range []byte(s) {
		letter := 'a' <= c|0x20 && c|0x20 <= 'z'
		if !letter && (i == 0 || !('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return false
		}
	}
	return s != ""
}

// withPort returns host with its port: the scheme's default if it has none
// (§3: 80 for ws and http, 443 for wss and https), as browsers leave the
// default port out of Origin (RFC 6454 §6.2) and Host.
func withPort(host, scheme string) string {
	if _, _, err := net.SplitHostPort(host); err == nil {
		return host
	}
	port := "80"
	if scheme == "https" || scheme == "wss" {
		port = "443"
	}
	return net.JoinHostPort(strings.Trim(host, "[]"), port)
}

// chooseSubprotocol picks the first subprotocol of the server's list that
// the client offered, copied exactly (S-19), or "" (the RFC's null) when
// there is none, and then the response carries no such header (§4.2.2
// step 4, S-20).
func chooseSubprotocol(r *http.Request, supported []string) string {
	offered := listTokens(r.Header, hdrProtocol)
	for _, p := range supported {
		if slices.Contains(offered, p) {
			return p
		}
	}
	return ""
}

// Refuse answers a refused handshake with e's HTTP error (§4.2.1, §10.7),
// and nothing else: no WebSocket exists, so no Close frame (§7.2.2, S-27).
// Upgrade calls it for the requests it refuses; a server that refuses one
// for reasons of its own (too many connections) calls it too.
func Refuse(w http.ResponseWriter, e *HandshakeError) {
	switch e.Status {
	case http.StatusUpgradeRequired:
		w.Header().Set("Sec-WebSocket-Version", "13") // §4.2.2 step 4, §4.4
	case http.StatusMethodNotAllowed:
		w.Header().Set("Allow", http.MethodGet) // a 405 says what is allowed (RFC 9110 §15.5.6)
	}
	http.Error(w, e.Reason, e.Status)
}

// accept sends the server's handshake (§4.2.2 step 5, S-22 to S-26) and
// takes over the TCP connection.
//
// The only extension ever accepted is permessage-deflate, when deflate is
// not nil, with answer as its one element (RFC 7692 §7.1, D-01); otherwise
// no Sec-WebSocket-Extensions header goes back (§9, S-21), and any RSV bit
// or reserved opcode that arrives later is an error (§5.8, S-55).
func accept(w http.ResponseWriter, key, subprotocol string, deflate *deflateConn, answer string, opts *Options) (*Conn, error) {
	nc, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, "websocket: cannot take over this connection", http.StatusInternalServerError)
		return nil, err
	}
	c := newConn(nc, rw.Reader, subprotocol, opts)
	// The answer is written through the buffered writer net/http hands
	// over with the connection, built in place in its buffer; no frame
	// is written through it after.
	response := rw.Writer.AvailableBuffer()
	response = append(response, "HTTP/1.1 101 Switching Protocols\r\n"+
		"Upgrade: websocket\r\n"+
		"Connection: Upgrade\r\n"+
		"Sec-WebSocket-Accept: "...)
	response = append(appendAcceptKey(response, key), "\r\n"...)
	if subprotocol != "" {
		response = append(append(append(response, "Sec-WebSocket-Protocol: "...), subprotocol...), "\r\n"...)
	}
	if deflate != nil {
		response = append(append(append(response, "Sec-WebSocket-Extensions: "...), answer...), "\r\n"...)
		c.useDeflate(deflate)
	}
	response = append(response, "\r\n"...) // no body: frames start right after this line
	// The answer's write has a deadline of its own, which no later write
	// needs: the first frame written sets its own.
	nc.SetWriteDeadline(time.Now().Add(c.idleTimeout))
	_, err = rw.Writer.Write(response)
	if err == nil {
		err = rw.Writer.Flush()
	}
	if err != nil {
		nc.Close()
		return nil, err
	}
	nc.SetWriteDeadline(time.Time{})
	if opts.OnResponse != nil {
		opts.OnResponse(response)
	}
	return c, nil
}

// acceptKey computes Sec-WebSocket-Accept: base64(SHA-1(key + GUID)), with
// the key exactly as the client sent it, not decoded (§4.2.2 step 5.4).
func acceptKey(key string) string { return string(appendAcceptKey(nil, key)) }

// appendAcceptKey appends acceptKey(key) to dst.
func appendAcceptKey(dst []byte, key string) []byte {
	var buf [64]byte // on the stack: a key Upgrade accepts has 24 bytes, the GUID 36
	sum := sha1.Sum(append(append(buf[:0], key...), acceptGUID...))
	return base64.StdEncoding.AppendEncode(dst, sum[:])
}

// hasToken reports whether any line of header name lists token, compared
// case-insensitively (§4.2.1 steps 3 and 4: Firefox sends
// "Connection: keep-alive, Upgrade").
func hasToken(h http.Header, name, token string) bool {
	for _, line := range h.Values(name) {
		for t := range strings.SplitSeq(line, ",") { // as listTokens, without its slice
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// listTokens returns the items of every line of header name: a header
// that may repeat is one comma-separated list (§4.2.1 step 8, §11.3.4,
// S-12), whose empty items do not count (RFC 2616 §2.1, "#rule").
func listTokens(h http.Header, name string) []string {
	var tokens []string
	for _, line := range h.Values(name) {
		for t := range strings.SplitSeq(line, ",") {
			if t = strings.TrimSpace(t); t != "" {
				tokens = append(tokens, t)
			}
		}
	}
	return tokens
}

// isTokenList reports whether line is a list of one or more tokens
// (1#token), whose empty items do not count (RFC 2616 §2.1, "#rule").
func isTokenList(line string) bool {
	n := 0
	for t := range strings.SplitSeq(line, ",") {
		if t = strings.TrimSpace(t); t != "" {
			if !isToken(t) {
				return false
			}
			n++
		}
	}
	return n > 0
}

// validExtensions checks the extension offers against the grammar of §9.1:
//
//	extension-list  = 1#extension
//	extension       = extension-token *( ";" extension-param )
//	extension-param = token [ "=" (token | quoted-string) ]
//
// where a quoted value must still be a token once unquoted. Splitting at
// every "," and ";" before unquoting is therefore safe: a value that holds
// either is not a token, and is refused either way.
func validExtensions(lines []string) bool {
	for _, line := range lines {
		n := 0 // extensions on this line: one or more (1#extension)
		for ext := range strings.SplitSeq(line, ",") {
			if strings.TrimSpace(ext) == "" {
				continue // an empty list item (RFC 2616 §2.1)
			}
			n++
			parts := strings.Split(ext, ";")
			if !isToken(strings.TrimSpace(parts[0])) {
				return false
			}
			for _, param := range parts[1:] {
				name, value, hasValue := strings.Cut(param, "=")
				value = strings.TrimSpace(value)
				if unquoted, ok := unquote(value); ok {
					value = unquoted
				}
				if !isToken(strings.TrimSpace(name)) || hasValue && !isToken(value) {
					return false
				}
			}
		}
		if n == 0 {
			return false
		}
	}
	return true
}

// unquote undoes an HTTP quoted-string (RFC 2616 §2.2), which §9.1 allows
// for an extension parameter's value: "..." with backslash escapes.
func unquote(s string) (string, bool) {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return "", false
	}
	var b strings.Builder
	for i := 1; i < len(s)-1; i++ {
		if s[i] == '\\' && i+1 < len(s)-1 {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String(), true
}

// isToken reports whether s is an HTTP token: one or more of the visible
// ASCII characters that are not separators (RFC 2616 §2.2, RFC 9110 §5.6.2).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7F || strings.IndexByte(`()<>@,;:\"/[]?={}`, c) >= 0 {
			return false
		}
	}
	return true
}

// ---------------------------------------------------------------------------
// 3. The connection
// ---------------------------------------------------------------------------

// A Conn is one WebSocket connection, open once Upgrade or Dial returns it.
//
// One goroutine at a time reads (ReadMessage, AppendMessage); any number
// may write (WriteMessage, Close), and their frames never interleave.
// While reading, the Conn answers pings and Close frames by itself.
type Conn struct {
	// The protocol state. Each field's invariant is written on it; a
	// field under a lock or a slot is touched only by its holder.

	// Settled by the handshake, and fixed from then on.
	t            transport     // the hijacked (server) or dialled (client) byte stream
	endpoint                   // this end's role, and the RSV bits its extensions allow
	closeSent    bool          // the writer's, under writeMu (below, beside endpoint to share its word)
	subprotocol  string        // agreed in the handshake (§1.9); "" for none
	maxMessage   int64         // §10.4: the longest message a read accepts; > 0
	maxFragments int           // §10.4: the most frames one message may come in; > 0
	idleTimeout  time.Duration // bounds every wait on the peer; > 0
	closeTimeout time.Duration // bounds the closing handshake (§7.1.1); > 0

	// The reader's: one goroutine at a time holds reading, the slot of
	// the reader, and only that goroutine touches these.
	reading sync.Mutex
	in      timedReader // the network, with deadlines and keepalive pings
	readErr error       // nil until the reader stops; then what every later read returns

	// The writer's, under writeMu: one frame at a time (§5.4, S-42). And
	// closeSent, above: set once a Close was sent (or a write failed);
	// nothing may follow (§5.5.1).
	writeMu sync.Mutex

	// The end: abort closes t, once, and end.done() is closed once it is.
	end ending

	// What Options.OnFrame watches, and OnFrame itself; nil without
	// OnFrame, so an idle connection nobody watches holds none of it.
	trace *traceState

	// permessage-deflate (RFC 7692), if negotiated; nil otherwise. Without
	// context takeover it holds settings only: its writers and readers
	// are pooled, so an idle connection holds nothing for compression.
	deflate *deflateConn

	// The machinery: what makes the above cheap and changes nothing on
	// the wire (part 8).
	machinery
}

// A traceState is what OnFrame is shown of the frames besides their
// header fields: the last header read, and its payload's first bytes as
// they arrived; the first bytes of a frame written, as sent. Only a Conn
// with OnFrame has one: an idle connection that nobody watches carries
// none of it.
type traceState struct {
	onFrame func(Frame) // Options.OnFrame; not nil

	headerIn []byte
	wireIn   []byte
	in       [maxHeaderSize + TracedBytes]byte
	out      [TracedBytes]byte // the writer's

	// A compressed frame read, or a dropped one: its payload's first
	// bytes, unmasked.
	payloadIn  []byte
	payloadBuf [TracedBytes]byte

	// A compressed message being sent: its first bytes, uncompressed.
	inflatedOut []byte
	inflatedBuf [TracedBytes]byte
}

// newConn makes a server's Conn of a connection taken over from net/http,
// and of br, the buffered reader that read the handshake (Dial then makes
// it a client's).
func newConn(nc net.Conn, br *bufio.Reader, subprotocol string, opts *Options) *Conn {
	return newConnOver(asTransport(nc), br, subprotocol, opts)
}

// newConnOver makes a server's Conn of any transport; br, if not nil,
// holds what was read past the handshake.
func newConnOver(t transport, br *bufio.Reader, subprotocol string, opts *Options) *Conn {
	c := &Conn{
		t:            t,
		subprotocol:  subprotocol,
		maxMessage:   min(orDefault(opts.MaxMessage, 1<<20), math.MaxInt),
		maxFragments: orDefault(opts.MaxFragments, 1<<17),
		idleTimeout:  orDefault(opts.IdleTimeout, defaultIdleTimeout),
		closeTimeout: orDefault(opts.CloseTimeout, 5*time.Second),
	}
	if opts.OnFrame != nil {
		c.trace = &traceState{onFrame: opts.OnFrame}
	}
	c.in = timedReader{c: c, interval: pingInterval(opts, c.idleTimeout)}
	// Every read and every write sets its own deadline; the first read's
	// is set here, on the goroutine that did the handshake (part 8, "The
	// idle connection", says why).
	c.in.setDeadline()
	// §6.2, S-58: frames start with the first byte after the handshake,
	// and br may have read some of them already with it. Keep those bytes;
	// br itself, and its 4 KiB buffer, go back to whoever lent them.
	if br != nil && br.Buffered() > 0 {
		ahead, _ := br.Peek(br.Buffered())
		c.in.ahead = slices.Clone(ahead)
	}
	return c
}

// orDefault returns v, or def when v is zero or negative.
func orDefault[T int | int64 | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// useDeflate turns permessage-deflate on, as agreed in the handshake: its
// frames may carry RSV1 (RFC 7692 §6).
func (c *Conn) useDeflate(d *deflateConn) {
	c.deflate = d
	c.rsvAllowed |= rsv1
}

// Compressed reports whether permessage-deflate (RFC 7692) was agreed in
// the handshake.
func (c *Conn) Compressed() bool { return c.deflate != nil }

// Subprotocol returns the subprotocol agreed in the handshake, or "".
func (c *Conn) Subprotocol() string { return c.subprotocol }

// RemoteAddr returns the peer's network address.
func (c *Conn) RemoteAddr() net.Addr { return c.t.RemoteAddr() }

// A transport is the byte stream a Conn runs over: a TCP connection, a TLS
// session inside one, or (RFC 8441) a stream of an HTTP/2 connection. It
// is what a Conn needs of net.Conn, and CloseWrite, which §7.1.1 needs to
// close cleanly. A read or write that passes its deadline returns an error
// that wraps os.ErrDeadlineExceeded, and the transport stays usable: a
// reader that times out pings (timedReader) and reads again.
type transport interface {
	io.Reader
	io.Writer
	SetReadDeadline(t time.Time) error
	SetWriteDeadline(t time.Time) error
	RemoteAddr() net.Addr // the peer's address
	// CloseWrite ends the stream this end sends, and only that one (a
	// TCP FIN; over TLS, close_notify first), so that the peer reads the
	// end of it while this end still reads (§7.1.1). It returns an error
	// if the transport cannot do that.
	CloseWrite() error
	Close() error
}

// asTransport returns nc as a transport. A TCP connection is one as it is,
// so that a frame's header and payload still go out in one writev
// (net.Buffers does that for a *net.TCPConn only); any other net.Conn (TLS,
// or a net.Pipe in tests) is given shutdownWrite as its CloseWrite.
func asTransport(nc net.Conn) transport {
	if tc, ok := nc.(*net.TCPConn); ok {
		return tc
	}
	return netConn{nc}
}

// netConn is a net.Conn made a transport.
type netConn struct{ net.Conn }

func (nc netConn) CloseWrite() error { return shutdownWrite(nc.Conn) }

// A timedReader puts a deadline on every read of the network, so that no
// wait on the peer is unbounded (writes have theirs in writeFrame).
//
// It also keeps a healthy but quiet peer talking: after about a ping
// interval (Options.PingInterval) of silence it pings, and any compliant
// peer's pong ends the silence (§5.5.2 allows a ping at any time; what to
// do about silence is this server's choice). It pings again each interval
// until the idle timeout of silence (Options.IdleTimeout) is reached, and
// then gives up. This is where the pings of this server come from.
//
// And before every read of the network, which may wait, it sends what
// QueueMessage queued: the peer may be waiting for those answers before it
// sends anything more (§6.1, S-57). How the deadline is set cheaply, and
// the queue, are in part 8.
type timedReader struct {
	c        *Conn         // whose connection it reads, and who pings and sends
	ahead    []byte        // bytes read already (past the handshake, or while idle), returned first
	deadline int64         // of the latest read, in Unix ns (setDeadline, part 8)
	interval time.Duration // Options.PingInterval; > 0
}

func (t *timedReader) Read(p []byte) (int, error) {
	if len(t.ahead) > 0 {
		n := copy(p, t.ahead)
		t.ahead = t.ahead[n:]
		return n, nil
	}
	t.c.flushBeforeWait()
	t.setDeadline()
	n, err := t.c.t.Read(p)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return t.keepAlive(p, err)
	}
	return n, err
}

// keepAlive goes on with a read that waited a ping interval for nothing:
// it pings, and reads again, each interval, until the peer sends a byte
// or has been silent for the idle timeout. The silence began about an
// interval ago (7/8 of it at the least, see setDeadline); counting from a
// whole interval ago, the connection is dropped no later than the idle
// timeout after the last byte. It is a function of its own to keep Read,
// on the stack of every idle wait, small.
//
//go:noinline
func (t *timedReader) keepAlive(p []byte, err error) (int, error) {
	dropAt := time.Now().Add(t.c.idleTimeout - t.interval)
	for {
		now := time.Now()
		if !now.Before(dropAt) {
			return 0, err
		}
		t.c.ping()
		deadline := now.Add(t.interval)
		if dropAt.Before(deadline) {
			deadline = dropAt
		}
		t.deadline = deadline.UnixNano()
		t.c.t.SetReadDeadline(deadline)
		var n int
		n, err = t.c.t.Read(p)
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return n, err
		}
	}
}

// ---------------------------------------------------------------------------
// 4. Reading frames (§5.2, §5.3, §5.5)
// ---------------------------------------------------------------------------

// A frameHeader is everything in a frame before its payload (§5.2):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-------+-+-------------+-------------------------------+
//	|F|R|R|R| opcode|M| Payload len |    Extended payload length    |
//	|I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
//	|N|V|V|V|       |S|             |   (if payload len==126/127)   |
//	| |1|2|3|       |K|             |                               |
//	+-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
//	|     Extended payload length continued, if payload len == 127  |
//	+ - - - - - - - - - - - - - - - +-------------------------------+
//	|                               |Masking-key, if MASK set to 1  |
//	+-------------------------------+-------------------------------+
//	| Masking-key (continued)       |          Payload Data         |
//	+-------------------------------- - - - - - - - - - - - - - - - +
type frameHeader struct {
	fin    bool
	rsv    byte // RSV1-3, in place (0x70)
	opcode Opcode
	masked bool
	length int64
	key    [4]byte
}

// An endpoint is what the frame codec must know of the end that reads a
// frame, besides the frame itself: its role, since a client's frames are
// masked and a server's are not (§5.1), and the RSV bits that the
// extensions negotiated in the handshake allow (§5.2, §9): RSV1 once
// permessage-deflate is agreed (RFC 7692 §6), none otherwise.
type endpoint struct {
	client     bool // this end is the client: it masks what it sends (§5.1)
	rsvAllowed byte // RSV bits, in place (0x70), that frames may carry
}

// rsv1 is the RSV1 bit in place: permessage-deflate's "Per-Message
// Compressed" bit (RFC 7692 §6).
const rsv1 = 0x40

// nextHeader reads the next frame's header, borrowing a buffered reader
// first if the connection was idle.
func (c *Conn) nextHeader() (frameHeader, error) {
	if err := c.awaitFrame(); err != nil {
		return frameHeader{}, err
	}
	return c.readHeader()
}

// readHeader reads one frame header (§5.2) and checks every rule that the
// header alone can break (parseHeader). However TCP splits the bytes, Peek
// waits for them all (S-36).
func (c *Conn) readHeader() (h frameHeader, err error) {
	b, err := c.br.Peek(2)
	if err != nil {
		return h, err
	}
	if b, err = c.br.Peek(frameHeaderSize(b)); err != nil {
		return h, err
	}
	if err = decodeHeader(b, &h); err != nil {
		return h, err
	}
	if c.trace != nil {
		c.trace.headerIn = append(c.trace.in[:0], b...)
	}
	c.br.Discard(len(b))
	err = checkHeader(&h, c.endpoint)
	if err != nil {
		c.traceRefused(h)
	}
	return h, err
}

// traceRefused shows OnFrame a frame refused by its header alone, as far as
// it was read: the header, and none of its payload. It is the frame that
// caused the Close, the one a learner most wants to see.
func (c *Conn) traceRefused(h frameHeader) {
	if c.trace != nil {
		c.trace.wireIn = nil
		c.traceIn(h, nil, nil)
	}
}

// The frame codec: a header from bytes, and bytes from a header, with no
// I/O, so that each rule of §5.2 can be tested on bytes alone.

// parseHeader decodes the frame header at the start of b and checks every
// rule that the header alone can break, for a frame that e reads. It
// returns the header's size; if b holds less than that, it returns
// io.ErrUnexpectedEOF.
func parseHeader(b []byte, e endpoint) (h frameHeader, size int, err error) {
	if len(b) < 2 || len(b) < frameHeaderSize(b) {
		return h, 0, io.ErrUnexpectedEOF
	}
	size = frameHeaderSize(b)
	if err = decodeHeader(b[:size], &h); err == nil {
		err = checkHeader(&h, e)
	}
	return h, size, err
}

// frameHeaderSize returns the size of the header whose first two bytes are b:
// 2, 4 or 10 bytes as the length takes 7, 7+16 or 7+64 bits, then 4 for
// the masking key if the MASK bit is set (§5.2).
func frameHeaderSize(b []byte) int {
	size := 2
	switch b[1] & 0x7F {
	case 126:
		size += 2
	case 127:
		size += 8
	}
	if b[1]&0x80 != 0 {
		size += 4
	}
	return size
}

// decodeHeader decodes the header that b is, whole (frameHeaderSize bytes).
// The only rule it checks is the one without which there is no length.
func decodeHeader(b []byte, h *frameHeader) error {
	h.fin = b[0]&0x80 != 0
	h.rsv = b[0] & 0x70
	h.opcode = Opcode(b[0] & 0x0F)
	h.masked = b[1]&0x80 != 0
	// The length: 7 bits, or 126 and then 16 bits, or 127 and then 64 bits
	// whose most significant bit must be 0 (S-34). A length that could have
	// been written shorter is accepted: §5.2 asks senders, not receivers
	// (S-36).
	switch n := b[1] & 0x7F; n {
	case 126:
		h.length = int64(binary.BigEndian.Uint16(b[2:]))
	case 127:
		n64 := binary.BigEndian.Uint64(b[2:])
		if n64 > math.MaxInt64 {
			return violation(StatusProtocolError, "64-bit payload length with the most significant bit set")
		}
		h.length = int64(n64)
	default:
		h.length = int64(n)
	}
	if h.masked {
		copy(h.key[:], b[len(b)-4:]) // the key ends the header
	}
	return nil
}

// checkHeader checks the rules that a frame's header alone can break, for
// a frame that e reads.
func checkHeader(h *frameHeader, e endpoint) error {
	switch {
	case h.rsv&^e.rsvAllowed != 0: // §5.2, §5.8: only a negotiated extension may set RSV bits (S-31, S-55)
		return violation(StatusProtocolError, "reserved bits set (%#x) that no negotiated extension allows", h.rsv>>4)
	case h.rsv&rsv1 != 0 && h.opcode.IsControl(): // RFC 7692 §6.1: control frames are never compressed (D-10)
		return violation(StatusProtocolError, "RSV1 set on a control frame")
	case h.rsv&rsv1 != 0 && h.opcode == OpContinuation: // RFC 7692 §6.1: RSV1 only on a message's first frame (D-11)
		return violation(StatusProtocolError, "RSV1 set on a continuation frame")
	case !h.opcode.isKnown(): // §5.2: reserved opcodes (S-33)
		return violation(StatusProtocolError, "reserved opcode %#x", byte(h.opcode))
	case !e.client && !h.masked: // §5.1: a client masks every frame (S-28)
		return violation(StatusProtocolError, "client frame is not masked")
	case e.client && h.masked: // §5.1: a server masks none (C-28)
		return violation(StatusProtocolError, "server frame is masked")
	case h.opcode.IsControl() && !h.fin: // §5.5: control frames are never fragmented (S-40)
		return violation(StatusProtocolError, "fragmented control frame")
	case h.opcode.IsControl() && h.length > maxControlPayload: // §5.5 (S-44)
		return violation(StatusProtocolError, "control frame payload of %d bytes (at most 125)", h.length)
	}
	return nil
}

// maskBytes XORs p with the masking key, starting at key[pos%4], and
// returns the key position for the byte after p (§5.3, S-37):
//
//	transformed-octet-i = original-octet-i XOR masking-key-octet-(i MOD 4)
//
// Masking and unmasking are the same operation. Eight bytes at a time: the
// key, rotated to start at pos and repeated twice, is one 64-bit word.
func maskBytes(key [4]byte, pos int, p []byte) int {
	rotated := [4]byte{key[pos&3], key[(pos+1)&3], key[(pos+2)&3], key[(pos+3)&3]}
	word := uint64(binary.LittleEndian.Uint32(rotated[:]))
	word |= word << 32
	n := len(p)
	for len(p) >= 32 {
		binary.LittleEndian.PutUint64(p, binary.LittleEndian.Uint64(p)^word)
		binary.LittleEndian.PutUint64(p[8:], binary.LittleEndian.Uint64(p[8:])^word)
		binary.LittleEndian.PutUint64(p[16:], binary.LittleEndian.Uint64(p[16:])^word)
		binary.LittleEndian.PutUint64(p[24:], binary.LittleEndian.Uint64(p[24:])^word)
		p = p[32:]
	}
	for len(p) >= 8 {
		binary.LittleEndian.PutUint64(p, binary.LittleEndian.Uint64(p)^word)
		p = p[8:]
	}
	for i := range p {
		p[i] ^= rotated[i&3]
	}
	return (pos + n) & 3
}

// handleControl reads a control frame's payload and acts on it (§5.5). It
// returns a *CloseError when the peer's Close frame arrives. The payload,
// at most 125 bytes (§5.5), is read in place, in the buffered reader,
// and dropped from it once acted on.
func (c *Conn) handleControl(h frameHeader) error {
	p, err := c.br.Peek(int(h.length))
	if err != nil {
		return err
	}
	defer c.br.Discard(len(p))
	if c.trace != nil {
		c.trace.wireIn = append(c.trace.headerIn[len(c.trace.headerIn):], p[:min(len(p), TracedBytes)]...)
	}
	if h.masked {
		maskBytes(h.key, 0, p)
	}
	if c.trace != nil {
		c.traceIn(h, p, nil)
	}
	switch h.opcode {
	case OpPing:
		// §5.5.2, §5.5.3: answer with a pong carrying the same payload
		// (S-49, S-50), each ping in turn (S-51), unless this end has
		// already sent its Close.
		if err := c.writeControl(OpPong, p); err != nil && err != ErrClosed {
			return err
		}
		return nil
	case OpPong:
		return nil // §5.5.3: an unsolicited pong needs no answer (S-52)
	default:
		return parseClose(p)
	}
}

// parseClose reads the body of a Close frame (§5.5.1): empty, or a 2-byte
// status code (§7.4) followed by a UTF-8 reason (§8.1).
func parseClose(p []byte) error {
	switch {
	case len(p) == 0:
		return &CloseError{Code: StatusNoStatus} // §7.1.5, S-63
	case len(p) == 1:
		return violation(StatusProtocolError, "close frame with a 1-byte body") // S-45
	}
	code := StatusCode(binary.BigEndian.Uint16(p))
	if !code.mayReceive() {
		return violation(StatusProtocolError, "close code %d may not be sent", code) // S-68
	}
	if !utf8.Valid(p[2:]) {
		return violation(StatusInvalidData, "close reason is not valid UTF-8") // S-70
	}
	return &CloseError{Code: code, Reason: string(p[2:])}
}

// A Frame is one frame as OnFrame sees it (§5.2). Its slices are valid only
// during the call.
type Frame struct {
	Sent    bool    // written by this end; false: read from the peer
	Header  []byte  // the header, byte for byte as on the wire
	Fin     bool    // the last frame of its message
	RSV     byte    // RSV1-3, as the number 0-7
	Opcode  Opcode  //
	Masked  bool    // the MASK bit
	Key     [4]byte // the masking key, if Masked
	Length  int64   // the payload length
	Payload []byte  // the first bytes of the payload (at most TracedBytes), unmasked
	Wire    []byte  // the same bytes as they were on the wire: masked, if Masked

	// Inflated, on the last frame read of a compressed message (RSV1 on
	// its first frame, RFC 7692 §6), or on a compressed frame sent, is the first bytes of
	// the message as inflated (at most TracedBytes): Payload is then
	// compressed data.
	Inflated []byte
}

// TracedBytes is how much of a payload a Frame shows.
const TracedBytes = 64

// traceIn shows OnFrame a frame that was read, with its payload, and for
// the last frame of a compressed message, the message inflated.
func (c *Conn) traceIn(h frameHeader, payload, inflated []byte) {
	c.trace.onFrame(Frame{
		Header: c.trace.headerIn, Fin: h.fin, RSV: h.rsv >> 4, Opcode: h.opcode,
		Masked: h.masked, Key: h.key, Length: h.length,
		Payload: payload[:min(len(payload), TracedBytes)], Wire: c.trace.wireIn,
		Inflated: inflated[:min(len(inflated), TracedBytes)],
	})
}

// ---------------------------------------------------------------------------
// 5. Reading messages (§5.4, §5.6, §6.2, §8.1, §10.4)
// ---------------------------------------------------------------------------

// ReadMessage reads the next data message, OpText or OpBinary, into a new
// slice. It answers control frames that arrive meanwhile. When the
// connection ends it returns a *CloseError (the peer closed, or vanished),
// or a *ProtocolError (the peer broke the protocol, and this end failed
// the connection); every later call returns the same error. When the peer
// closes, ReadMessage returns once the closing handshake is over: it
// answers the Close, then waits, at most the close timeout, for the peer
// to close TCP after the server (§7.1.1).
func (c *Conn) ReadMessage() (Opcode, []byte, error) {
	return c.AppendMessage(nil)
}

// AppendMessage is ReadMessage into a buffer the caller reuses: it appends
// the next message to dst and returns the extended slice, so that a
// connection that echoes messages allocates nothing per message. Its
// rules are ReadMessage's (§5.4, §5.6, §6.2).
func (c *Conn) AppendMessage(dst []byte) (op Opcode, msg []byte, err error) {
	c.reading.Lock()
	defer c.endRead(&err)
	if c.readErr != nil {
		return 0, dst, c.readErr
	}
	// An idle connection waits here, in awaitFrame (part 8), and not deep
	// in the frame reader. Control frames between messages, a pong to this
	// end's keepalive ping above all, bring it back here to wait.
	for {
		gotMessage := false
		err = c.awaitFrame()
		if err == nil {
			op, msg, gotMessage, err = c.readMessage(dst)
		}
		if err != nil {
			c.readErr = c.finish(err)
			return 0, dst, c.readErr
		}
		if gotMessage {
			return op, msg, nil
		}
	}
}

// endRead gives the slot of reading back. It also turns a panic in the
// reader, which would be a bug in this file or in OnFrame, into the
// reader's last error, and drops the connection: one connection's bug
// must neither crash the server nor leave the connection open for Close
// to read the same bytes again.
func (c *Conn) endRead(err *error) {
	if p := recover(); p != nil {
		c.readErr = fmt.Errorf("websocket: bug in the reader: %v\n%s", p, debug.Stack())
		c.abort()
		*err = c.readErr
	}
	c.reading.Unlock()
}

// readMessage reads the message whose first bytes awaitFrame saw arrive;
// gotMessage is false when control frames came and no message began.
// Either way it gives the buffered reader back once nothing more has
// arrived.
func (c *Conn) readMessage(dst []byte) (op Opcode, msg []byte, gotMessage bool, err error) {
	m := message{buf: dst, start: len(dst), checked: len(dst)}
	if gotMessage, err = c.assemble(&m); err != nil {
		return 0, dst, false, err
	}
	c.idle()
	return m.op, m.buf, gotMessage, nil
}

// A message is a data message being reassembled from its frames (§5.4).
type message struct {
	op         Opcode // of the first frame; 0 until it has arrived
	compressed bool   // RSV1 on the first frame: permessage-deflate (RFC 7692 §6)
	frames     int    // data frames so far
	wire       int64  // payload bytes on the wire so far
	buf        []byte // buf[start:] is the message so far
	start      int
	checked    int // buf[:checked] is known to be valid UTF-8, to the end of a code point
}

// assemble reads frames until the message m is complete (§6.2, S-59).
// Control frames may arrive between its fragments, and are answered at
// once (§5.4, S-39). One that arrives before the message begins is
// answered, and assemble returns with complete false.
//
// A frame's payload goes through stages: unmask (§5.3), an optional
// transform (inflating, RFC 7692 §7.2.2), the UTF-8 check of text (§8.1),
// and the append to the message. Without a transform, readPayload does
// all of them in one pass over the bytes as they arrive; a compressed
// message is read by the inflater, which pulls its frames' unmasked
// payload through a frameSource.
func (c *Conn) assemble(m *message) (complete bool, err error) {
	for {
		h, started, err := c.nextDataFrame(m)
		if err != nil || !started {
			return false, err
		}
		if m.compressed {
			return true, c.inflateMessage(h, m)
		}
		frameStart := len(m.buf)
		if err := c.readPayload(h, m); err != nil {
			return false, err
		}
		if c.trace != nil {
			c.traceIn(h, m.buf[frameStart:], nil)
		}
		if h.fin {
			return true, m.checkEnd()
		}
	}
}

// checkEnd checks what only the end of a message can break: text that
// stops in the middle of a UTF-8 sequence (§8.1).
func (m *message) checkEnd() error {
	if m.op == OpText && m.checked != len(m.buf) {
		return violation(StatusInvalidData, "text ends in the middle of a UTF-8 sequence")
	}
	return nil
}

// nextDataFrame reads frames until the next data frame of m arrives,
// answering the control frames before it, and checks it against the
// message so far and the limits. started is false when a control frame
// came before any message began.
func (c *Conn) nextDataFrame(m *message) (h frameHeader, started bool, err error) {
	for {
		h, err = c.nextHeader()
		if err != nil {
			return h, false, err
		}
		if !h.opcode.IsControl() {
			break
		}
		if err := c.handleControl(h); err != nil {
			return h, false, err
		}
		if m.op == 0 {
			return h, false, nil // no message yet: AppendMessage waits again
		}
	}
	// §5.4: a message is one frame with FIN set, or a first frame
	// without FIN, then continuations, the last with FIN set (S-38,
	// S-41).
	switch {
	case h.opcode == OpContinuation && m.op == 0:
		return h, false, violation(StatusProtocolError, "continuation frame with no message to continue")
	case h.opcode != OpContinuation && m.op != 0:
		return h, false, violation(StatusProtocolError, "new message before the fragmented one ended")
	case h.opcode != OpContinuation:
		m.op = h.opcode
		// RFC 7692 §6: RSV1 on the first frame marks a compressed
		// message; checkHeader allowed it only if deflate was agreed.
		m.compressed = h.rsv&rsv1 != 0
	}
	// §10.4: the limits are checked against the header, before a byte of
	// the payload is read, and count the whole message, not just this
	// frame (S-73). A compressed message's wire bytes have their own cap
	// (RFC 7692 §7.2.2, D-07); its inflated size is capped as it inflates.
	if err := c.checkLimits(h, m); err != nil {
		c.traceRefused(h)
		return h, false, err
	}
	return h, true, nil
}

// checkLimits counts the data frame h into m, and checks the message's
// limits (§10.4, S-73; RFC 7692 §7.2.2, D-07).
func (c *Conn) checkLimits(h frameHeader, m *message) error {
	limit, sofar := c.maxMessage, int64(len(m.buf)-m.start)
	if m.compressed {
		limit, sofar = compressedLimit(c.maxMessage), m.wire
	}
	if h.length > limit-sofar {
		return violation(StatusTooBig, "message longer than %d bytes", limit)
	}
	if m.frames++; m.frames > c.maxFragments {
		return violation(StatusTooBig, "message in more than %d fragments", c.maxFragments)
	}
	m.wire += h.length
	return nil
}

// inflateMessage reads the compressed message m whose first frame's header
// is h (RFC 7692 §7.2.2): the inflater pulls the frames' payloads through
// a frameSource and appends what it inflates to m, capped at the message
// limit before the memory exists (1009), its text checked as UTF-8 as it
// comes out (1007).
func (c *Conn) inflateMessage(h frameHeader, m *message) error {
	// The message and its frameSource live in deflateConn while the
	// inflater reads: were the frameSource to point at m, m would escape
	// to the heap, and every message, compressed or not, would cost an
	// allocation.
	d := c.deflate
	d.msg = *m
	d.src = frameSource{c: c, m: &d.msg, h: h, remaining: h.length}
	defer func() { *m, d.msg, d.src = d.msg, message{}, frameSource{} }()
	c.startTrace()
	var check func([]byte) error
	if m.op == OpText {
		check = d.msg.checkUTF8
	}
	var err error
	d.msg.buf, err = d.inflate(d.msg.buf, &d.src, c.maxMessage, compressedLimit(c.maxMessage), check)
	if err != nil {
		return err
	}
	c.traceCompressed(d.src.h, d.msg.buf[d.msg.start:])
	return d.msg.checkEnd()
}

// traceCompressed shows OnFrame a frame of a compressed message, read
// whole: its compressed payload, and, on the last, the message inflated.
func (c *Conn) traceCompressed(h frameHeader, inflated []byte) {
	if c.trace != nil {
		c.traceIn(h, c.trace.payloadIn, inflated)
	}
}

// checkUTF8 checks the text appended to m.buf since the last check (§8.1),
// as far as its code points are complete.
func (m *message) checkUTF8(buf []byte) error {
	valid, ok := validUTF8Prefix(buf[m.checked:])
	if !ok {
		return violation(StatusInvalidData, "text is not valid UTF-8")
	}
	m.checked += valid
	return nil
}

// A frameSource is the io.Reader an inflater pulls a compressed message
// from: the unmasked payloads of its frames in order, reading the next
// frame's header (and answering control frames between them) when one
// ends, and io.EOF after the FIN frame's last byte.
type frameSource struct {
	c         *Conn
	m         *message
	h         frameHeader // the frame being read
	remaining int64
	pos       int // in the masking key
}

func (s *frameSource) Read(p []byte) (int, error) {
	for s.remaining == 0 {
		if s.h.fin {
			return 0, io.EOF
		}
		if err := s.nextFrame(); err != nil {
			return 0, err
		}
	}
	n, err := s.c.br.Read(p[:min(int64(len(p)), s.remaining)])
	s.remaining -= int64(n)
	s.c.traceWire(p[:n])
	if s.h.masked {
		s.pos = maskBytes(s.h.key, s.pos, p[:n])
	}
	s.c.tracePayload(p[:n])
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// nextFrame shows OnFrame the frame just read, and reads the next one.
func (s *frameSource) nextFrame() error {
	s.c.traceCompressed(s.h, nil)
	h, _, err := s.c.nextDataFrame(s.m)
	if err != nil {
		return err
	}
	s.h, s.remaining, s.pos = h, h.length, 0
	s.c.startTrace()
	return nil
}

// startTrace, traceWire and tracePayload keep the first bytes of a
// compressed frame as on the wire and unmasked, for OnFrame.
func (c *Conn) startTrace() {
	if c.trace != nil {
		c.trace.wireIn = c.trace.headerIn[len(c.trace.headerIn):]
		c.trace.payloadIn = c.trace.payloadBuf[:0]
	}
}

func (c *Conn) traceWire(p []byte) {
	if c.trace != nil && len(c.trace.wireIn) < TracedBytes {
		c.trace.wireIn = append(c.trace.wireIn, p[:min(len(p), TracedBytes-len(c.trace.wireIn))]...)
	}
}

func (c *Conn) tracePayload(p []byte) {
	if c.trace != nil && len(c.trace.payloadIn) < TracedBytes {
		c.trace.payloadIn = append(c.trace.payloadIn, p[:min(len(p), TracedBytes-len(c.trace.payloadIn))]...)
	}
}

// minGrowth is the least a message buffer grows by while a payload arrives.
const minGrowth = 64 << 10

// readPayload appends a data frame's payload to m as it arrives, unmasking
// it (§5.3) and, for text, checking it as UTF-8 (§5.6, §8.1, S-53). Each
// piece is checked as soon as it is read, so a peer that sends invalid text
// is failed at the first bad byte, not at the end of a message that may
// never end (S-70).
func (c *Conn) readPayload(h frameHeader, m *message) error {
	pos := 0 // in the masking key
	if c.trace != nil {
		c.trace.wireIn = c.trace.headerIn[len(c.trace.headerIn):]
	}
	for remaining := int(h.length); remaining > 0; {
		if len(m.buf) == cap(m.buf) {
			// Grow with what arrives, never to what the header merely
			// announces: a peer that announces 16 MiB and sends one byte
			// must not cost 16 MiB (§10.4). Doubling keeps copying linear.
			m.buf = slices.Grow(m.buf, min(remaining, max(len(m.buf)-m.start, minGrowth)))
		}
		room := m.buf[len(m.buf):min(cap(m.buf), len(m.buf)+remaining)]
		n, err := c.br.Read(room)
		if c.trace != nil && len(c.trace.wireIn) < TracedBytes {
			c.trace.wireIn = append(c.trace.wireIn, room[:min(n, TracedBytes-len(c.trace.wireIn))]...)
		}
		if h.masked {
			pos = maskBytes(h.key, pos, room[:n])
		}
		m.buf = m.buf[:len(m.buf)+n]
		remaining -= n
		if m.op == OpText {
			valid, ok := validUTF8Prefix(m.buf[m.checked:])
			if !ok {
				return violation(StatusInvalidData, "text is not valid UTF-8")
			}
			m.checked += valid
		}
		if err == io.EOF {
			return io.ErrUnexpectedEOF
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// validUTF8Prefix checks text that may end in the middle of a code point,
// as text split across frames and reads does (§5.6). It reports how many
// bytes of p form complete, valid code points, and whether the rest could
// still become one: "ED A0" or "F4 90" can never be completed, and fail at
// once.
func validUTF8Prefix(p []byte) (complete int, ok bool) {
	// The last code point starts at most 3 bytes before the end; if it is
	// cut short, leave it out of the check.
	complete = len(p)
	for i := len(p) - 1; i >= 0 && i > len(p)-utf8.UTFMax; i-- {
		if utf8.RuneStart(p[i]) {
			if !utf8.FullRune(p[i:]) {
				complete = i // a valid start of a code point, not yet complete
			}
			break
		}
	}
	return complete, utf8.Valid(p[:complete])
}

// ---------------------------------------------------------------------------
// 6. Sending (§5.1, §5.2, §6.1)
// ---------------------------------------------------------------------------

// WriteMessage sends p as one message of type op, OpText or OpBinary, in a
// single frame, at once. Text must be valid UTF-8 (§5.6, S-54). It returns
// ErrClosed once this end has sent its Close (S-30, S-56).
func (c *Conn) WriteMessage(op Opcode, p []byte) error {
	return c.sendMessage(op, p, true)
}

// QueueMessage is WriteMessage for a conversation that answers what it
// reads: the frame joins a queue that goes out in one write with the next
// WriteMessage or Flush, or as soon as the goroutine that reads goes to the
// network for more. A peer that sends several messages at once then gets
// its answers in one write, not one write each. Queue from the goroutine
// that reads, or Flush.
func (c *Conn) QueueMessage(op Opcode, p []byte) error {
	return c.sendMessage(op, p, false)
}

// Flush sends what QueueMessage queued.
func (c *Conn) Flush() error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	return c.flushQueue()
}

func (c *Conn) sendMessage(op Opcode, p []byte, now bool) error {
	switch {
	case op != OpText && op != OpBinary:
		return fmt.Errorf("websocket: %#x is not a message opcode", byte(op))
	case op == OpText && !utf8.Valid(p):
		return errors.New("websocket: text message is not valid UTF-8")
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if c.deflate != nil && c.deflate.shouldCompress(len(p)) {
		return c.writeCompressed(op, p, now)
	}
	// RFC 7692 §7.2.1: a message below the threshold goes out as it is,
	// without RSV1, and never enters the compressor's window (D-05).
	return c.writeFrame(true, 0, op, p, now)
}

// writeCompressed sends p compressed (RFC 7692 §7.2.1) as one frame with
// RSV1 set (§6, D-04). The compressed bytes live in a pooled buffer only
// while the frame is written. The caller holds writeMu, which also guards
// the compressor's window under context takeover.
func (c *Conn) writeCompressed(op Opcode, p []byte, now bool) error {
	if c.closeSent {
		return ErrClosed // before spending a compression on it
	}
	if c.trace != nil {
		// The trace shows the message with its compressed frame: the
		// frame goes out at once, not queued with others.
		c.trace.inflatedOut = append(c.trace.inflatedBuf[:0], p[:min(len(p), TracedBytes)]...)
		defer func() { c.trace.inflatedOut = nil }()
		now = true
	}
	buf := compressBuffers.Get().(*[]byte)
	*buf = c.deflate.compress((*buf)[:0], p)
	err := c.writeFrame(true, rsv1, op, *buf, now)
	if cap(*buf) <= maxPooledCompressBuffer {
		compressBuffers.Put(buf)
	}
	return err
}

// writeControl sends a control frame (§5.5), at once.
func (c *Conn) writeControl(op Opcode, p []byte) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	return c.writeFrame(true, 0, op, p, true)
}

// ping asks a quiet peer for a sign of life (§5.5.2); timedReader calls it.
// If it cannot be sent, the wait that follows times out anyway.
func (c *Conn) ping() { c.writeControl(OpPing, nil) }

// Flush, and writeFrame, send through the write queue; it and the
// deadlines of writes are in part 8.

// maxHeaderSize is the size of the longest frame header: 2 bytes, a
// 64-bit length and a masking key (§5.2).
const maxHeaderSize = 14

// writeFrame sends p as one frame, the last of its message if fin is set,
// with the RSV bits rsv: clear unless an extension negotiated them (§5.2,
// S-32). Its length takes its shortest form (§5.2, S-35). A server's frame is not masked
// (§5.1, S-29); a client's is, with a new key that nobody can predict
// (§5.3, §10.3, C-25, C-26), applied to a copy so that p itself is never
// changed (C-27). A small frame joins the queue, which goes out now if
// now is set (§6.1, S-57); a large one goes out at once, after the queue.
// The caller holds writeMu: a frame is never interleaved with another
// (§5.4, S-42).
func (c *Conn) writeFrame(fin bool, rsv byte, op Opcode, p []byte, now bool) error {
	if c.closeSent {
		return ErrClosed
	}
	if op == OpClose {
		c.closeSent, now = true, true
	}
	var key *[4]byte
	if c.client {
		key = new([4]byte)
		rand.Read(key[:])
	}
	header := appendHeader(c.header[:0], fin, rsv, op, len(p), key)
	if len(c.queue)+len(header)+len(p) <= smallFrame {
		c.enqueue(header, p, key)
		if now {
			return c.flushQueue()
		}
		return nil
	}
	if err := c.flushQueue(); err != nil {
		return err
	}
	c.setWriteDeadline()
	var err error
	if key != nil {
		err = c.writeMasked(header, p, *key)
	} else {
		err = c.writev(header, p) // one write on TCP, without copying (part 8)
	}
	if err != nil {
		return c.checkWrite(err)
	}
	if c.trace != nil {
		c.traceOut(fin, rsv, op, header, p, key)
	}
	return nil
}

// checkWrite turns a failed write into the end of the connection: a frame
// may be half sent, and nothing can follow it.
func (c *Conn) checkWrite(err error) error {
	if err == nil {
		return nil
	}
	c.closeSent = true
	c.abort()
	return &CloseError{Code: StatusAbnormal, err: err}
}

// The trace shows what crossed the wire and nothing else: a frame is shown
// to OnFrame once it was written, never before, so that a write that fails
// (a Close to a peer already gone) leaves no line that says it was sent.

// traceOut shows OnFrame a large frame, written alone.
func (c *Conn) traceOut(fin bool, rsv byte, op Opcode, header, p []byte, key *[4]byte) {
	f := Frame{Sent: true, Header: header, Fin: fin, RSV: rsv >> 4, Opcode: op, Length: int64(len(p)), Payload: p[:min(len(p), TracedBytes)]}
	if rsv&rsv1 != 0 {
		f.Inflated = c.trace.inflatedOut
	}
	f.Wire = f.Payload
	if key != nil {
		f.Masked, f.Key = true, *key
		f.Wire = append(c.trace.out[:0], f.Payload...)
		maskBytes(*key, 0, f.Wire)
	}
	c.trace.onFrame(f)
}

// appendHeader appends a frame header (§5.2): FIN if fin, the RSV bits rsv
// (in place, 0x70), the opcode, the length in its shortest form (S-35),
// and the masking key if key is not nil.
func appendHeader(b []byte, fin bool, rsv byte, op Opcode, length int, key *[4]byte) []byte {
	first := rsv | byte(op)
	if fin {
		first |= 0x80
	}
	b = append(b, first)
	var mask byte
	if key != nil {
		mask = 0x80
	}
	switch {
	case length <= 125:
		b = append(b, mask|byte(length))
	case length <= math.MaxUint16:
		b = binary.BigEndian.AppendUint16(append(b, mask|126), uint16(length))
	default:
		b = binary.BigEndian.AppendUint64(append(b, mask|127), uint64(length))
	}
	if key != nil {
		b = append(b, key[:]...)
	}
	return b
}

// ---------------------------------------------------------------------------
// 7. Closing (§5.5.1, §7)
// ---------------------------------------------------------------------------

// StartClose is §7.1.2 Start the WebSocket Closing Handshake: it sends a
// Close frame with code and reason, and returns. The goroutine that reads
// then receives whatever the peer still sends, and at last the peer's own
// Close (as a *CloseError), and the connection is closed (§7.1.1). If the
// peer's Close has not come within the close timeout, the connection is
// dropped. A conversation that reads in a loop ends this way without
// losing a message.
//
// A code this end may not send (1005, 1006, 999..., and for a server
// 1010) or a reason that is not UTF-8 or longer than 123 bytes (§5.5) is
// an error: the Close then carries 1011, and the error is returned. If a
// Close was sent already, StartClose returns ErrClosed.
func (c *Conn) StartClose(code StatusCode, reason string) error {
	var bad error
	switch {
	case !code.maySend(c.client):
		bad = fmt.Errorf("websocket: close code %d may not be sent", code)
	case len(reason) > maxControlPayload-2:
		bad = errors.New("websocket: close reason longer than 123 bytes")
	case !utf8.ValidString(reason):
		bad = errors.New("websocket: close reason is not valid UTF-8")
	}
	if bad != nil {
		code, reason = StatusInternalError, ""
	}
	// A write blocked on a peer that does not read would hold the Close
	// back: give it, and any write that starts now, only the close timeout
	// to finish (boundWrites, part 8).
	c.boundWrites(time.Now().Add(c.closeTimeout))
	sent := c.writeClose(code, reason)
	if sent == nil {
		time.AfterFunc(c.closeTimeout, c.abort) // a peer that never answers
	}
	if bad != nil {
		return bad
	}
	return sent
}

// Close is StartClose, then the rest of the closing handshake (§7.1.2,
// S-62): it waits, at most the close timeout, for the peer's Close, and
// the connection is closed when it returns. If another goroutine is
// reading, that reader receives the messages still on their way and the
// peer's Close; if none is, Close reads, and drops them. A conversation
// that reads in a loop and must not lose a message uses StartClose.
//
// If a Close was sent already, by another call or in answer to the peer's,
// Close waits for the same end and returns ErrClosed.
func (c *Conn) Close(code StatusCode, reason string) error {
	err := c.StartClose(code, reason)
	c.awaitClose()
	return err
}

// awaitClose waits until the TCP connection is closed, at most the close
// timeout (§7.1.1, §7.1.2): for the goroutine that reads to receive the
// peer's Close, or, when no goroutine reads, for this one to do it. A
// reader may also stop before the peer's Close arrives, with a message;
// then a goroutine that waited for its slot goes on reading in its place.
func (c *Conn) awaitClose() {
	timer := time.AfterFunc(c.closeTimeout, c.abort)
	defer timer.Stop()
	if c.reading.TryLock() {
		c.drainUntilClose() // and gives the slot back
	} else {
		go c.drainAfterReader()
	}
	<-c.end.done()
}

// drainAfterReader waits for the goroutine that reads to give its slot
// back, then reads until the peer's Close, unless the connection has ended
// meanwhile. It ends, at the latest, soon after the connection does.
func (c *Conn) drainAfterReader() {
	c.reading.Lock()
	c.drainUntilClose()
}

// drainUntilClose reads until the peer's Close arrives, answering pings and
// dropping data frames: this end has said goodbye, so no message will be
// delivered, but the peer may still send some before its Close (§5.5.1,
// §7.1.2). It returns the reader's last error. The caller has taken the
// slot of reading; drainUntilClose gives it back.
func (c *Conn) drainUntilClose() (err error) {
	defer c.endRead(&err)
	for c.readErr == nil {
		h, err := c.nextHeader()
		if err == nil && h.opcode.IsControl() {
			err = c.handleControl(h)
		} else if err == nil {
			err = c.dropPayload(h)
		}
		if err != nil {
			c.readErr = c.finish(err)
		}
	}
	return c.readErr
}

// dropPayload reads a data frame's payload and drops it, after showing its
// first bytes to OnFrame, if set.
func (c *Conn) dropPayload(h frameHeader) error {
	shown := 0
	if c.trace != nil {
		shown = int(min(h.length, TracedBytes))
		c.trace.wireIn = c.trace.headerIn[len(c.trace.headerIn):][:shown]
		if _, err := io.ReadFull(c.br, c.trace.wireIn); err != nil {
			return err
		}
		payload := append(c.trace.payloadBuf[:0], c.trace.wireIn...)
		if h.masked {
			maskBytes(h.key, 0, payload)
		}
		c.traceIn(h, payload, nil)
	}
	_, err := c.br.Discard(int(h.length) - shown)
	return err
}

// writeClose sends a Close frame with code and reason (§5.5.1).
func (c *Conn) writeClose(code StatusCode, reason string) error {
	body := binary.BigEndian.AppendUint16(nil, uint16(code))
	return c.writeControl(OpClose, append(body, reason...))
}

// finish ends the connection in the way the error that stopped the reader
// calls for (§7), and returns the error to report.
func (c *Conn) finish(err error) error {
	var closeErr *CloseError
	var protoErr *ProtocolError
	switch {
	case errors.As(err, &protoErr):
		c.fail(protoErr)
	case errors.As(err, &closeErr) && closeErr.Code != StatusAbnormal:
		// §5.5.1: answer the peer's Close with one of our own, echoing its
		// code where a server may send it (S-46), unless ours was already
		// sent, and then this was the answer. Either way both Closes have
		// now been seen: close TCP (§7.1.2, S-48).
		reply := closeErr.Code
		if !reply.maySend(c.client) {
			reply = StatusNormal // for an empty Close (1005), or a client's 1010
		}
		c.writeClose(reply, "")
		c.closeTCP()
	case errors.As(err, &closeErr):
		c.abort() // a write already found the connection broken
	default:
		// §7.1.5: the TCP connection ended, or went silent, without a Close.
		c.abort()
		err = &CloseError{Code: StatusAbnormal, err: err}
	}
	return err
}

// fail is §7.1.7 Fail the WebSocket Connection, the single exit for a peer
// that broke the protocol (S-64): send a Close frame with the fitting code
// (1002, 1007 or 1009, S-69) and the reason, then close the connection,
// processing nothing more from the peer: no echo, no pong, no waiting for
// its Close (S-65).
func (c *Conn) fail(e *ProtocolError) {
	reason := e.Reason // ASCII, written by this file
	if len(reason) > maxControlPayload-2 {
		reason = reason[:maxControlPayload-2] // a Close is a control frame (§5.5)
	}
	c.writeClose(e.Code, reason)
	c.closeTCP()
}

// closeTCP is §7.1.1 Close the WebSocket Connection, done cleanly. The
// server closes TCP first, so that it and not the client holds TIME_WAIT
// (S-61): it shuts down its sending side, so the peer reads the end of the
// stream, then discards whatever still arrives until the peer closes too,
// since closing a socket with unread bytes would send the peer a reset
// instead (S-60). A client only waits, discarding, for the server to close
// first (C-32). Either waits at most the close timeout. Only the reader
// calls it: the discarding reads the connection.
func (c *Conn) closeTCP() {
	if c.client || c.t.CloseWrite() == nil {
		c.t.SetReadDeadline(time.Now().Add(c.closeTimeout))
		io.Copy(io.Discard, c.t)
	}
	c.abort()
}

// shutdownWrite ends the stream this side sends (§7.1.1): over TLS, with
// the TLS close_notify, then, over TCP, with a FIN.
func shutdownWrite(nc net.Conn) error {
	if tc, ok := nc.(*tls.Conn); ok {
		if err := tc.CloseWrite(); err != nil {
			return err
		}
		nc = tc.NetConn()
	}
	if cw, ok := nc.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

// abort closes the TCP connection at once, for a peer that is gone or
// does not answer.
func (c *Conn) abort() {
	c.end.do(func() { c.t.Close() })
}

// ---------------------------------------------------------------------------
// §10 in short: every input is checked (§10.7, S-74) and every bad one
// answered: an HTTP status during the handshake, a Close frame with a code
// after it. Origins are checked for browsers (§10.2, checkOrigin), messages
// have a size limit checked before their payload is read, and buffers grow
// only with what arrives (§10.4, assemble and readPayload), and every wait
// on the peer has a deadline (timedReader, writeFrame, awaitClose,
// closeTCP).
// ---------------------------------------------------------------------------

// ---------------------------------------------------------------------------
// 8. Engineering
// ---------------------------------------------------------------------------

// Nothing in this part changes what goes over the wire: parts 1 to 7 are
// the protocol, and would be correct without it. This part makes them
// cheap where a server pays most: memory for each of many idle
// connections, and system calls and timers for each message. Each piece
// says what it saves. BENCHMARKS.md has the measurements.

// machinery is the part of a Conn that exists for speed and memory only.
// Its fields follow the Conn's own discipline: the reader's under
// reading, the writer's under writeMu, except the two atomics, which
// the other side reads.
type machinery struct {
	// The reader's.
	br    *bufio.Reader   // borrowed from readers while frames arrive; nil when idle
	first [firstRead]byte // where an idle connection waits; in.ahead may hold a slice of it

	// The writer's.
	header        [maxHeaderSize]byte // the header of the frame being written
	writeDeadline int64               // of the latest write, in Unix ns (setWriteDeadline)
	queue         []byte              // small frames waiting to go out together, in a buffer of smallFrames; nil if none

	// Shared between the reader and the writers.
	queued  atomic.Bool  // queue != nil, for the reader to see without writeMu (flushBeforeWait)
	closeBy atomic.Int64 // 0; once StartClose runs, the deadline of every write, in Unix ns (boundWrites)
}

// The idle connection --------------------------------------------------
//
// Most connections are idle most of the time, so an idle Conn holds only
// what it needs to notice the next frame: a goroutine, its Conn, and the
// few bytes it waits in (first). The 4 KiB buffered reader that frames are
// read through is borrowed from a pool when bytes arrive, and given back
// once none are left (TestIdleConnectionHoldsNoBuffer). Nothing else that
// only frames need is held either: a control frame's payload is read in
// place, in the borrowed reader (handleControl); a large frame's writev
// borrows its vector (below); the reader's slot is a mutex, and the
// channel Close waits on is made only when it waits (ending, at the end).
// TestConnSize keeps the Conn in its size class.
//
// The goroutine's stack stays at 2 KiB, the least a goroutine gets, as
// long as the idle wait is shallow: the runtime doubles a stack when a
// call would come within about 928 bytes of its end, and never shrinks a
// waiting one. Three choices keep the wait shallow. AppendMessage waits in
// awaitFrame, before any of the frame reader is on the stack (TestIdleWait
// checks the shape). timedReader.Read leaves the pinging to keepAlive, not
// inlined. And the first wait's deadline, the deepest call of all (into
// the runtime's timers), is set by newConn, on net/http's goroutine, whose
// stack is big anyway. With Go 1.26 on amd64 the wait is about 970 bytes
// deep, some 150 short of where the runtime would double the stack (a
// 160-byte array in the frame of main's converse doubles it; 130 bytes do
// not). This depends on Go's frame sizes, and on the application's: a
// later Go, or a deeper handler, can double it. BenchmarkIdleConnections measures it
// (stack-B/conn, 2 KiB, or 4 when it has doubled) and fails when it has
// doubled; .ci/run runs it.

// firstRead is the size of the buffer in which an idle connection waits
// for its next frame: a short message fits whole (26 bytes of payload,
// masked), read in one system call; the rest of a longer one, and what
// follows it, the borrowed reader reads in one more. Small is cheap twice
// over: each idle Conn holds the buffer, and a bigger one made busy
// connections slower. The bench's 128-byte messages, 16 in flight,
// took 1.15 µs of server CPU each with 32 bytes, 1.35 with 96, and 1.8
// with 160, which fit one such frame whole (three rounds each,
// 2026-12-06).
const firstRead = 32

// readers lends the 4 KiB buffered readers a connection holds only while
// frames arrive: most connections are idle most of the time, and an idle
// one holds no buffer but its own few bytes (first).
var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}

// awaitFrame, on an idle connection, waits for the first bytes of the next
// frame, then borrows a buffered reader to read the rest through.
func (c *Conn) awaitFrame() error {
	if c.br != nil {
		return nil
	}
	if len(c.in.ahead) == 0 {
		n, err := c.in.Read(c.first[:])
		if n == 0 {
			return err
		}
		c.in.ahead = c.first[:n]
	}
	c.borrowReader()
	return nil
}

// borrowReader takes a buffered reader from the pool, to read the frames
// now arriving through it. It is a function of its own to keep
// awaitFrame, on the stack of every idle wait, small (below).
func (c *Conn) borrowReader() {
	c.br = readers.Get().(*bufio.Reader)
	c.br.Reset(&c.in)
}

// idle gives the buffered reader back once it holds nothing more.
func (c *Conn) idle() {
	if c.br.Buffered() == 0 && len(c.in.ahead) == 0 {
		c.br.Reset(nil)
		readers.Put(c.br)
		c.br = nil
	}
}

// Deadlines -----------------------------------------------------------
//
// Setting a deadline is a trip through the runtime's timers, a tenth of a
// round trip on loopback. A deadline set less than an eighth of its
// interval ago is kept: a read's ping then comes after 7/8 to all of the
// ping interval, and a write may have up to 1/8 less than the idle timeout.

// setDeadline sets the next read's deadline a ping interval ahead,
// unless one was set less than an eighth of the interval ago.
func (t *timedReader) setDeadline() {
	if now := time.Now(); time.Duration(t.deadline-now.UnixNano()) < t.interval*7/8 {
		deadline := now.Add(t.interval)
		t.deadline = deadline.UnixNano()
		t.c.t.SetReadDeadline(deadline)
	}
}

// setWriteDeadline bounds the next write: by the idle timeout, or by the
// close timeout once the Close is sent, as goodbyes are short.
func (c *Conn) setWriteDeadline() {
	now := time.Now()
	if !c.closeSent && time.Duration(c.writeDeadline-now.UnixNano()) > c.idleTimeout*7/8 {
		return // set less than an eighth of the timeout ago (see setDeadline)
	}
	timeout := c.idleTimeout
	if c.closeSent {
		timeout = c.closeTimeout
	}
	deadline := now.Add(timeout)
	c.writeDeadline = deadline.UnixNano()
	c.t.SetWriteDeadline(deadline)
	// A Close under way bounds every write by the close timeout, even one
	// whose own deadline, set just now, would outlast it. The order
	// matters: this end sets its deadline and then looks, StartClose
	// records its deadline and then sets it, so whichever runs first, the
	// earlier deadline is set last.
	if by := c.closeBy.Load(); by != 0 && by < deadline.UnixNano() {
		c.t.SetWriteDeadline(time.Unix(0, by))
	}
}

// boundWrites bounds every write, from now on, by the deadline by: the
// one a write in progress has, and the one each later write sets itself
// (setWriteDeadline). StartClose calls it, so that a write blocked on a
// peer that does not read cannot hold the Close back. closeBy is atomic
// because the write in progress holds writeMu, which StartClose must not
// wait for.
func (c *Conn) boundWrites(by time.Time) {
	c.closeBy.Store(by.UnixNano())
	c.t.SetWriteDeadline(by)
}

// The write queue ------------------------------------------------------
//
// Small frames (QueueMessage's, pongs, Closes) are copied into a buffer
// borrowed from a pool and leave together in one write: a peer that sends
// ten messages at once gets its ten answers in one system call. The
// buffer goes back as soon as it is written, so an idle connection holds
// none. A large frame goes out at once, its header and payload in one
// writev on TCP (writeFrame), after the queue.

// smallFrame is the size of the buffers in which small frames are queued
// and go out in one write. smallFrames lends them, so that an idle
// connection holds none.
const smallFrame = 4096

var smallFrames = sync.Pool{New: func() any { return new([smallFrame]byte) }}

// enqueue appends a small frame to the queue, masking the copy for a
// client.
func (c *Conn) enqueue(header, p []byte, key *[4]byte) {
	if c.queue == nil {
		c.queue = smallFrames.Get().(*[smallFrame]byte)[:0]
		c.queued.Store(true)
	}
	start := len(c.queue) + len(header)
	c.queue = append(append(c.queue, header...), p...)
	if key != nil {
		maskBytes(*key, 0, c.queue[start:])
	}
}

// flushQueue writes the queued frames, and gives the buffer back.
func (c *Conn) flushQueue() error {
	if c.queue == nil {
		return nil
	}
	c.setWriteDeadline()
	_, err := c.t.Write(c.queue)
	if err == nil && c.trace != nil {
		c.traceQueued(c.queue)
	}
	smallFrames.Put((*[smallFrame]byte)(c.queue[:smallFrame]))
	c.queue = nil
	c.queued.Store(false)
	return c.checkWrite(err)
}

// flushBeforeWait sends the queue before the reader goes to the network,
// where it may wait: what is queued answers what was read, and the peer
// may be waiting for it. timedReader calls it.
func (c *Conn) flushBeforeWait() {
	if c.queued.Load() {
		c.Flush()
	}
}

// traceQueued shows OnFrame the frames of the queue q, just written. They
// are this end's own frames, so their headers need no checking; a client's
// payloads are unmasked again, as far as they are shown.
func (c *Conn) traceQueued(q []byte) {
	for len(q) > 0 {
		var h frameHeader
		size := frameHeaderSize(q)
		decodeHeader(q[:size], &h)
		wire := q[size:][:min(int(h.length), TracedBytes)]
		payload := wire
		if h.masked {
			payload = append(c.trace.out[:0], wire...)
			maskBytes(h.key, 0, payload)
		}
		var inflated []byte
		if h.rsv&rsv1 != 0 {
			inflated = c.trace.inflatedOut // writeCompressed flushes at once when traced
		}
		c.trace.onFrame(Frame{
			Sent: true, Header: q[:size], Fin: h.fin, RSV: h.rsv >> 4, Opcode: h.opcode,
			Masked: h.masked, Key: h.key, Length: h.length, Payload: payload, Wire: wire,
			Inflated: inflated,
		})
		q = q[size+int(h.length):]
	}
}

// writeMasked writes a client's large frame: its payload masked piece by
// piece in a borrowed buffer, as the mask (§5.3) applies to a copy (C-27).
func (c *Conn) writeMasked(header, p []byte, key [4]byte) error {
	buf := smallFrames.Get().(*[smallFrame]byte)
	defer smallFrames.Put(buf)
	piece, pos := append(buf[:0], header...), 0
	for len(p) > 0 {
		n := min(len(p), smallFrame-len(piece))
		piece = append(piece, p[:n]...)
		pos = maskBytes(key, pos, piece[len(piece)-n:])
		if _, err := c.t.Write(piece); err != nil {
			return err
		}
		p, piece = p[n:], buf[:0]
	}
	return nil
}

// writev writes a large frame's header and payload together without
// copying them: one writev on a TCP connection (TLS writes them one after
// the other). The net.Buffers that says so is borrowed: a local one would
// escape to the heap, an allocation per frame, and one in the Conn would
// be 72 bytes that every idle connection holds.
func (c *Conn) writev(header, p []byte) error {
	v := vectors.Get().(*vector)
	v.iovec = [2][]byte{header, p}
	v.buffers = v.iovec[:]
	_, err := v.buffers.WriteTo(c.t)
	v.iovec = [2][]byte{}
	vectors.Put(v)
	return err
}

// A vector is a frame's header and payload, as one write (writev).
type vector struct {
	iovec   [2][]byte
	buffers net.Buffers
}

var vectors = sync.Pool{New: func() any { return new(vector) }}

// The end ----------------------------------------------------------------

// An ending is a sync.Once whose end can be waited for: do runs its
// function once, and done's channel is closed once it has. The channel is
// made only when someone waits, at the end of a connection: an idle one
// does not hold one, 112 bytes of the runtime's, for nothing.
type ending struct {
	mu sync.Mutex
	ch chan struct{} // nil; or made by done; or, once do has run, ended
}

// ended is the channel of every ending whose function has run.
var ended = func() chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}()

// do calls f, unless an earlier call did; a call that comes while f runs
// returns once it has.
func (e *ending) do(f func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ch == ended {
		return
	}
	f()
	if e.ch != nil {
		close(e.ch)
	}
	e.ch = ended
}

// done returns a channel that is closed once do's function has run.
func (e *ending) done() <-chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ch == nil {
		e.ch = make(chan struct{})
	}
	return e.ch
}
