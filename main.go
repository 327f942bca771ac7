// Command wsecho serves a page that talks to the server over a WebSocket,
// the RFC 6455 protocol written by hand in ws.go, with permessage-deflate
// (RFC 7692, deflate.go) and, over TLS, WebSockets over HTTP/2 (RFC 8441,
// rfc8441.go). With -connect it is the
// other end instead: a terminal client for any WebSocket server
// (connect.go).
//
//	GET /           the page (index.html, embedded in the binary)
//	GET /websocket  the JSON echo the page talks to
//	GET /echo       a raw echo: every message back verbatim, for
//	                conformance suites and benchmarks
//
// Usage:
//
//	go run . [-addr localhost:5000] [-origins https://app.example,...] [-max-message 16777216] [-trace]
//	go run . -connect ws://localhost:5000/echo [-origin http://localhost:5000] [-subprotocols chat,...] [-linger 1s]
//	go run . -tls-dev | -tls-cert FILE -tls-key FILE [-http2=false]   (https:// and wss://, tls.go;
//	                WebSockets over HTTP/2 too, RFC 8441, rfc8441.go)
//	go run . -connect wss://HOST/echo [-ca FILE] [-pin SHA256] [-http2=false]
//
// and the limits and timeouts that protect it from slow, broken and hostile
// peers: -hosts, -max-conns, -max-fragments, -max-header-bytes,
// -handshake-timeout, -idle-timeout, -ping-interval, -close-timeout, -shutdown-timeout
// (go run . -h lists them with their defaults).
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"
)

//go:embed index.html
var page []byte

// jsonMaxMessage caps what /websocket accepts: the page sends a sentence,
// and the escaped answer can be several times larger than the question.
const jsonMaxMessage = 64 << 10

func main() {
	addr := flag.String("addr", "localhost:5000", "address to listen on")
	origins := flag.String("origins", "", "comma-separated origins allowed besides the server's own, e.g. https://app.example")
	maxMessage := flag.Int64("max-message", 16<<20, "largest message /echo accepts, in bytes")
	trace := flag.Bool("trace", false, "log every opening handshake, and every frame in and out")
	connectURL := flag.String("connect", "", "instead of serving, talk to the WebSocket server at this ws:// or wss:// URL: each line of input out, each message back printed")
	origin := flag.String("origin", "", "with -connect: the Origin header to send, e.g. http://localhost:5000")
	subprotocols := flag.String("subprotocols", "", "with -connect: comma-separated subprotocols to offer")
	linger := flag.Duration("linger", defaultLinger, "with -connect: at the end of input, wait for the replies still on their way until the server has sent nothing for this long (at most 10 times this in all), then close; 0 closes at once")
	// Limits and timeouts: every wait on a peer is bounded, and so is
	// what a peer can make the server hold (§10.4).
	hosts := flag.String("hosts", "", "comma-separated host names, besides localhost, 127.0.0.1 and ::1, that a handshake's Host may name while listening on loopback (the DNS-rebinding guard; on other addresses, the only names allowed)")
	maxConns := flag.Int("max-conns", 20000, "most WebSocket connections open at once; beyond it a handshake gets 503")
	maxFragments := flag.Int("max-fragments", 1<<17, "most frames one message may come in")
	maxHeaderBytes := flag.Int("max-header-bytes", 16<<10, "largest handshake request head, in bytes; a larger one gets 431")
	handshakeTimeout := flag.Duration("handshake-timeout", 10*time.Second, "time a client has to send its whole request head, and to take the answer")
	idleTimeout := flag.Duration("idle-timeout", time.Minute, "a WebSocket silent for this long is dropped")
	pingEvery := flag.Duration("ping-interval", 0, "a WebSocket silent for this long is pinged, and again each interval (RFC 6455 §5.5.2); 0: half of -idle-timeout, at most 30s, under proxies' 60s")
	closeTimeout := flag.Duration("close-timeout", 5*time.Second, "time a peer has to answer a Close, and then to close TCP")
	shutdownTimeout := flag.Duration("shutdown-timeout", 10*time.Second, "on SIGINT or SIGTERM, time the WebSockets have to close before the process exits")
	// TLS (tls.go): the server's certificate, and whom -connect trusts.
	serverTLS := addServerTLSFlags(flag.CommandLine)
	clientTLS := addClientTLSFlags(flag.CommandLine)
	// permessage-deflate (RFC 7692): on by default, as every browser
	// offers it; -connect offers it too.
	deflate := flag.Bool("deflate", true, "compress messages with permessage-deflate (RFC 7692) when the peer agrees: accepted on /echo and /websocket, offered by -connect")
	deflateTakeover := flag.Bool("deflate-takeover", false, "with -deflate: allow context takeover (RFC 7692 §7.1.1), which compresses similar messages better but keeps a compressor per connection and mixes secrets with attacker-chosen text (§8)")
	deflateThreshold := flag.Int("deflate-threshold", 512, "with -deflate: messages shorter than this many bytes go uncompressed")
	http2 := flag.Bool("http2", true, "with TLS: offer HTTP/2 (ALPN h2), and WebSockets over it (RFC 8441, extended CONNECT; the process restarts itself with GODEBUG=http2xconnect=1 for it); false: HTTP/1.1 only, serving and with -connect wss://")
	trustedProxies := flag.String("trusted-proxies", "", "comma-separated addresses or CIDR prefixes of reverse proxies whose Forwarded and X-Forwarded-* headers are believed, e.g. 127.0.0.1,::1 (proxy.go)")
	flag.Parse()
	compression := compressionOptions(*deflate, *deflateTakeover, *deflateThreshold)

	if *connectURL != "" {
		opts := DialOptions{Origin: *origin, Options: Options{Subprotocols: splitList(*subprotocols), Compression: compression}}
		var err error
		if opts.TLSConfig, err = clientTLS.config(); err != nil {
			fmt.Fprintf(os.Stderr, "wsecho: %v\n", err)
			os.Exit(2)
		}
		if !*http2 {
			opts.TLSConfig = offerOnlyHTTP1(opts.TLSConfig)
		}
		os.Exit(runClient(*connectURL, opts, *linger, os.Stdin, os.Stdout, os.Stderr))
	}

	logw := newLogWriter(os.Stderr)
	defer logw.Flush()
	exit := func(code int) { logw.Flush(); os.Exit(code) } // with every line logged
	log := slog.New(slog.NewTextHandler(logw, nil))
	if *http2 && serverTLS.on() && !extendedConnectChosen() {
		err := reexec(withExtendedConnect(os.Environ())) // returns only if it failed (tls.go)
		log.Warn("websockets over http/2 are off: start with GODEBUG="+extendedConnect+" to have them", "err", err)
	}
	tlsConfig, err := serverTLS.config(log)
	if err != nil {
		log.Error("cannot serve TLS", "err", err)
		exit(2)
	}
	proxies, err := parseProxies(splitList(*trustedProxies))
	if err != nil {
		log.Error("bad -trusted-proxies", "err", err)
		exit(2)
	}
	// Listen before saying so: once "listening" is logged, connections are
	// accepted. With port 0 the line tells which port the system chose. The
	// address listened on decides which Host names are allowed.
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Error("cannot listen", "err", err)
		exit(1)
	}
	s := newServer(log, Options{
		Origins:      splitList(*origins),
		Hosts:        allowedHosts(ln.Addr(), splitList(*hosts)),
		MaxMessage:   *maxMessage,
		MaxFragments: *maxFragments,
		IdleTimeout:  *idleTimeout,
		PingInterval: *pingEvery,
		CloseTimeout: *closeTimeout,
		Compression:  compression,
	})
	s.maxConns, s.maxHeaderBytes = *maxConns, *maxHeaderBytes
	s.textLog = logw // log's handler: slog's text, with no options
	s.trace = *trace
	s.proxies = proxies
	srv := s.httpServer(*handshakeTimeout)
	srv.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	srv.TLSConfig = tlsConfig
	configureHTTP2(srv, *http2)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), *shutdownTimeout)
		defer cancel()
		srv.Shutdown(shutdown)
		s.wait(shutdown)
	}()

	if tlsConfig != nil {
		log.Info("http/2", "offered", *http2, "websockets_over_http2", *http2 && hasExtendedConnect()) // RFC 8441 (tls.go)
	}
	log.Info("listening", "url", pageURL(tlsConfig != nil, *addr, ln.Addr()))
	if err := serve(srv, ln); !errors.Is(err, http.ErrServerClosed) {
		log.Error("server stopped", "err", err)
		exit(1)
	}
	<-stopped
}

// pageURL is the address of the page: https if it is served over TLS, the
// host as the -addr flag named it (localhost if it named none), and the
// port the listener got.
func pageURL(overTLS bool, addr string, listening net.Addr) string {
	host, _, _ := net.SplitHostPort(addr)
	if host == "" {
		host = "localhost"
	}
	_, port, _ := net.SplitHostPort(listening.String())
	scheme := "http://"
	if overTLS {
		scheme = "https://"
	}
	return scheme + net.JoinHostPort(host, port) + "/"
}

// compressionOptions turns the -deflate flags into Options.Compression:
// nil, no compression, unless on.
func compressionOptions(on, takeover bool, threshold int) *DeflateOptions {
	if !on {
		return nil
	}
	return &DeflateOptions{ContextTakeover: takeover, Threshold: threshold}
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var items []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			items = append(items, item)
		}
	}
	return items
}

// A server holds the application: its routes, its WebSockets, its log.
type server struct {
	log *slog.Logger
	// textLog, if set, is where log's handler writes, a slog.TextHandler
	// with no options: logLine writes the connections' lines there itself.
	textLog *logWriter
	opts    Options // for /echo; /websocket lowers MaxMessage to jsonMaxMessage
	trace   bool    // log each handshake and frame (-trace, frames.go)

	// proxies are the reverse proxies whose forwarding headers are
	// believed (-trusted-proxies, proxy.go); nil: none.
	proxies []netip.Prefix

	// Limits of the WebSocket endpoints, checked before Upgrade; zero
	// means none. main sets them from -max-conns and -max-header-bytes.
	maxConns       int
	maxHeaderBytes int

	mu      sync.Mutex
	conns   map[*Conn]struct{}
	open    int // connections admitted: in their handshake or running
	running sync.WaitGroup
}

func newServer(log *slog.Logger, opts Options) *server {
	return &server{log: log, opts: opts, conns: make(map[*Conn]struct{})}
}

func (s *server) routes() http.Handler {
	jsonOpts := s.opts
	if m := s.opts.MaxMessage; m <= 0 || m > jsonMaxMessage { // unset, or above the JSON echo's own limit
		jsonOpts.MaxMessage = jsonMaxMessage
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", servePage)
	mux.Handle("/websocket", s.inspected(jsonOpts, jsonEcho))
	mux.Handle("/echo", s.websocket(s.opts, echo))
	return s.guardHosts(mux, "/websocket", "/echo")
}

// servePage serves index.html, which must only ever talk to this server.
func servePage(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", pagePolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	w.Write(page)
}

// pagePolicy lets the page load nothing from elsewhere and connect only
// to this server, and run no script and no style but its own inline
// ones, named by hash: were markup ever injected into the page, an
// onerror="..." in it would not run.
var pagePolicy = "default-src 'none'; script-src " + inlineHash(page, "script") +
	"; style-src " + inlineHash(page, "style") + "; img-src data:; connect-src 'self'"

// inlineHash returns the CSP source of the first <tag> element of html:
// the SHA-256 of its content.
func inlineHash(html []byte, tag string) string {
	_, content, _ := bytes.Cut(html, []byte("<"+tag+">"))
	content, _, _ = bytes.Cut(content, []byte("</"+tag+">"))
	sum := sha256.Sum256(content)
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}

// echo sends every message back as it came, text as text and binary as
// binary, reusing one buffer for all of them. The echoes are queued: those
// of messages that arrived together leave together, in one write.
func echo(c *Conn) error {
	var buf []byte
	for {
		op, msg, err := c.AppendMessage(buf[:0])
		if err != nil {
			return err
		}
		if err := c.QueueMessage(op, msg); err != nil {
			return err
		}
		buf = msg
	}
}

// jsonEcho answers each JSON text message the way the tutorial's Flask
// server did. Invalid JSON gets an error message and the connection stays
// open; a binary message is not JSON text, and ends it with 1003. Each
// reply also carries the frames the message came in, as frames recorded
// them, for the page to draw.
func jsonEcho(c *Conn, frames *frameRecorder) error {
	for {
		op, msg, err := c.ReadMessage()
		if err != nil {
			return err
		}
		if op == OpBinary {
			return &ProtocolError{Code: StatusUnsupportedData, Reason: "this endpoint takes JSON text, not binary"}
		}
		if err := c.WriteMessage(OpText, answer(msg, frames, transportOf(c))); err != nil {
			return err
		}
	}
}

// A reply is the JSON the page receives: an output or an error, and the
// frames the server read for the message (frames.go), at most
// maxInspected of them, and how many more there were.
type reply struct {
	Output     string           `json:"output,omitempty"`
	Error      string           `json:"error,omitempty"`
	Frames     []inspectedFrame `json:"frames,omitempty"`
	MoreFrames int              `json:"moreFrames,omitempty"`
	// Transport is "HTTP/2.0" for a socket on an HTTP/2 stream (RFC
	// 8441), for the page to say so; absent for one over HTTP/1.1, whose
	// replies are as they always were.
	Transport string `json:"transport,omitempty"`
}

// transportOf is a reply's Transport for c.
func transportOf(c *Conn) string {
	if p := c.Proto(); p != "HTTP/1.1" {
		return p
	}
	return ""
}

// answer builds the reply to one message. The page sends
// {"output": "..."}, and that text is what it gets back; any other JSON
// value comes back as its JSON text. Either way it is HTML-escaped, so the
// page can show the answer, whose <br> is markup, and nothing the sender
// wrote can become markup. The frames read since the last reply go with it.
func answer(msg []byte, frames *frameRecorder, transport string) []byte {
	seen, more := frames.take()
	var value any
	if err := json.Unmarshal(msg, &value); err != nil {
		return mustJSON(reply{Error: "that is not JSON: " + err.Error(), Frames: seen, MoreFrames: more, Transport: transport})
	}
	text := string(msg)
	if obj, ok := value.(map[string]any); ok {
		if output, ok := obj["output"].(string); ok {
			text = output
		}
	}
	return mustJSON(reply{Output: "I have received this message from you : " + html.EscapeString(text) + "<br>Glad to be your webserver.", Frames: seen, MoreFrames: more, Transport: transport})
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // a reply of strings, numbers and booleans always encodes
	}
	return b
}

// websocket turns a function that talks over one connection into an HTTP
// handler: it checks the server's limits, upgrades the request, logs the
// open, and runs talk. Upgrade judges the request as its client sent it,
// through a trusted proxy if it came through one (publicRequest); the
// trace shows it as it arrived.
func (s *server) websocket(opts Options, talk func(*Conn) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pub := s.publicRequest(r)
		conv := &conversation{who: peerOf(r, pub), path: routePath(r)}
		// The limits come first: a request refused here costs no upgrade.
		if refusal := s.checkLimits(r); refusal != nil {
			Refuse(w, refusal)
			s.logRefused(conv, refusal)
			return
		}
		o := &opts
		if s.trace {
			o = s.traced(r, o)
		}
		c, err := Upgrade(w, pub, o)
		if refusal, ok := err.(*HandshakeError); ok && s.trace {
			s.traceRefusal(w, r, refusal)
		}
		if err != nil {
			s.release()
			s.logRefused(conv, err)
			return
		}
		if !s.track(c) {
			c.Close(StatusGoingAway, "server shutting down")
			s.release() // once closed: wait waits for it
			return
		}
		conv.c, conv.start = c, time.Since(began)
		s.logOpen(conv)
		if c.Proto() == "HTTP/2.0" { // RFC 8441: the stream ends when this handler returns
			s.converse(conv, talk)()
			return
		}
		// The connection lives on in a goroutine of its own, so that
		// net/http's goroutine returns and frees what it kept for the
		// request. converse runs here; the function it returns runs there.
		go s.converse(conv, talk)()
	})
}

// routePath is r's path, as the route's own string when it is the same:
// a connection then keeps none of its request (but with -trace, whose
// hooks name it).
func routePath(r *http.Request) string {
	if r.URL.Path == r.Pattern {
		return r.Pattern
	}
	return r.URL.Path
}

// logRefused logs a handshake refused, by the server's limits or by
// Upgrade. Like logOpen, it is a function of its own, so that the handler
// on net/http's goroutine holds no log line's arguments in its frame.
func (s *server) logRefused(conv *conversation, err error) {
	s.logLine(slog.LevelInfo, "handshake refused", conv.who.attrs("path", conv.path, "err", err)...)
}

// logOpen logs a connection's opening, and its protocol if it is not
// HTTP/1.1 (RFC 8441).
func (s *server) logOpen(conv *conversation) {
	if proto := conv.c.Proto(); proto == "HTTP/2.0" {
		s.logLine(slog.LevelInfo, "websocket open", conv.who.attrs("path", conv.path, "proto", proto)...)
		return
	}
	s.logLine(slog.LevelInfo, "websocket open", conv.who.attrs("path", conv.path)...)
}

// traced returns opts with this connection's own hooks, which log its
// handshake and frames (-trace). The copy of opts is made here rather than
// in the handler, whose frame would otherwise hold it on every handshake.
func (s *server) traced(r *http.Request, opts *Options) *Options {
	traced := *opts
	traced.OnFrame = s.traceHandshake(r, opts.OnFrame)
	traced.OnResponse = func(head []byte) { s.traceResponse(r, head) }
	return &traced
}

// A conversation is one connection as the server keeps it: its Conn, and
// what its last log line names, who was at the other end, on which
// route, since when.
type conversation struct {
	c     *Conn
	who   peer
	path  string
	start time.Duration // since began: 8 bytes where a time.Time takes 24, and still monotonic
}

// began is when the process started, the origin of conversation.start.
var began = time.Now()

// converse returns the function that runs one connection's conversation,
// then hangs up; err is there for the deferred hangUp to read, and to set
// if talk panics.
//
// An idle connection's goroutine waits for the next message with that
// function at the bottom of its stack, so it is the goroutine's first
// frame (go f(), with no arguments, needs no wrapper to start f), and it
// keeps little in its frame, a pointer to the conversation rather than
// its fields. Every frame counts twice. A goroutine that waits in about a
// kilobyte of stack keeps the 2 KiB stack it started with, where a deeper
// one's stack doubles (ws.go, "The idle connection";
// BenchmarkIdleConnections fails when it has). And the collector walks
// every frame of every waiting goroutine's stack in each cycle: with
// 10,000 idle connections, one frame less made a collection 8 % cheaper.
func (s *server) converse(conv *conversation, talk func(*Conn) error) func() {
	return func() {
		var err error
		defer s.hangUp(conv, &err)
		err = talk(conv.c)
	}
}

// hangUp closes a connection with the status code that fits how its
// conversation ended, and logs the close, naming the peer as the open did
// (peer, proxy.go). A conversation that panicked
// ends with 1011, so that the peer still gets a Close frame and the
// connection is not leaked: net/http's own recovery does not close a
// hijacked connection.
func (s *server) hangUp(conv *conversation, err *error) {
	c := conv.c
	defer s.untrack(c)
	if p := recover(); p != nil {
		*err = fmt.Errorf("panic: %v", p)
	}
	code, reason := closeStatus(*err)
	c.Close(code, reason) // does nothing if the connection is already closed
	level := slog.LevelInfo
	var protoErr *ProtocolError
	if errors.As(*err, &protoErr) || code == StatusInternalError {
		level = slog.LevelWarn // §7.1.7: a failed connection SHOULD be logged
	}
	attrs := conv.who.attrs("path", conv.path,
		"code", int(code), "reason", reason, "duration", (time.Since(began) - conv.start).Round(time.Millisecond))
	if code == StatusInternalError {
		// The peer was told only "internal error": the log says what.
		attrs = append(attrs, "err", (*err).Error())
	}
	s.logLine(level, "websocket closed", attrs...)
}

// logLine logs msg with args, as s.log.Log does, less the search for
// the caller's source line, which the log does not show and which costs
// a walk of the stack. It logs two lines per connection, every
// connection: when it can, it leaves them to the logWriter to format,
// byte for byte as slog's TextHandler would (appendTextLine), so that
// the goroutine that logs needs no more stack, where formatting them
// here grew the stack of net/http's goroutine, a copy of it for every
// handshake (BENCHMARKS.md, "Handshake"). args must not change after the
// call.
func (s *server) logLine(level slog.Level, msg string, args ...any) {
	if s.textLog != nil && textKinds(args) && s.log.Enabled(context.Background(), level) {
		s.textLog.WriteRecord(logRecord{t: time.Now(), level: level, msg: msg, args: args})
		return
	}
	s.logRecord(level, msg, args)
}

// logRecord logs a line through slog's handler. It is logLine's other
// branch, a function of its own because its slog.Record takes 300 bytes
// of stack, which logLine would otherwise take on every call, on
// net/http's goroutine too (BENCHMARKS.md, "Handshake").
func (s *server) logRecord(level slog.Level, msg string, args []any) {
	h := s.log.Handler()
	if !h.Enabled(context.Background(), level) {
		return
	}
	r := slog.NewRecord(time.Now(), level, msg, 0)
	r.Add(args...)
	h.Handle(context.Background(), r)
}

// closeStatus picks the close code and reason for the way a connection's
// handler ended (§7.4.1).
func closeStatus(err error) (StatusCode, string) {
	var closeErr *CloseError
	var protoErr *ProtocolError
	switch {
	case err == nil:
		return StatusNormal, ""
	case errors.As(err, &closeErr):
		return closeErr.Code, closeErr.Reason
	case errors.As(err, &protoErr):
		return protoErr.Code, protoErr.Reason
	case errors.Is(err, ErrClosed):
		// Only goingAway closes a connection under a running handler.
		return StatusGoingAway, "server shutting down"
	default:
		return StatusInternalError, "internal error"
	}
}

// track records a live connection, unless the server is shutting down.
// Its handler was counted as running by checkLimits, before the upgrade.
func (s *server) track(c *Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conns == nil {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *server) untrack(c *Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
	s.open--
	s.running.Done()
}

// goingAway starts the closing handshake on every connection (§7.3), and
// refuses new ones.
func (s *server) goingAway() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		go c.Close(StatusGoingAway, "server shutting down")
	}
	s.conns = nil
}

// wait waits for every connection's handler to finish, or for ctx, and
// reports whether they all did.
func (s *server) wait(ctx context.Context) bool {
	return waitGroupWithin(ctx, &s.running)
}

// waitGroupWithin waits for wg, at most until ctx ends, and reports
// whether wg was done.
func waitGroupWithin(ctx context.Context, wg *sync.WaitGroup) bool {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}

// ---------------------------------------------------------------------------
// Limits against hostile peers: the handshake's size and time, the number
// of connections, the host names (§10.4, and §4.2.1 step 2 for Host)
// ---------------------------------------------------------------------------

// httpServer returns the http.Server for s. handshakeTimeout bounds the
// handshake as a whole: the request head must arrive within it, however
// slowly it trickles in (ReadHeaderTimeout, then ReadTimeout for all of
// the request), and the answer must be taken within it (WriteTimeout). A
// WebSocket, once open, keeps deadlines of its own (IdleTimeout). On
// Shutdown, every WebSocket is closed with 1001 Going Away (§7.4.1):
// net/http does not track hijacked connections, so s does.
func (s *server) httpServer(handshakeTimeout time.Duration) *http.Server {
	srv := &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: handshakeTimeout,
		ReadTimeout:       handshakeTimeout,
		WriteTimeout:      handshakeTimeout,
		// net/http reads up to 4 KiB beyond this before it answers 431:
		// checkLimits holds handshakes to the exact number.
		MaxHeaderBytes: s.maxHeaderBytes,
	}
	srv.RegisterOnShutdown(s.goingAway)
	return srv
}

// checkLimits refuses a handshake whose request head is larger than
// maxHeaderBytes (431), or that would open more than maxConns connections
// (503), or that comes while the server shuts down (503). A request it
// lets through holds one of the maxConns places until release, or until
// its connection ends (untrack), and counts as running for wait from now
// on: before Upgrade hands the connection over, while net/http still
// counts it as active, so that Shutdown, and then wait, cannot miss it.
func (s *server) checkLimits(r *http.Request) *HandshakeError {
	if s.maxHeaderBytes > 0 && headerSize(r) > s.maxHeaderBytes {
		return &HandshakeError{Status: http.StatusRequestHeaderFieldsTooLarge,
			Reason: fmt.Sprintf("request head larger than %d bytes", s.maxHeaderBytes)}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.conns == nil:
		return &HandshakeError{Status: http.StatusServiceUnavailable, Reason: "server shutting down"}
	case s.maxConns > 0 && s.open >= s.maxConns:
		return &HandshakeError{Status: http.StatusServiceUnavailable,
			Reason: fmt.Sprintf("already %d connections open", s.maxConns)}
	}
	s.open++
	s.running.Add(1)
	return nil
}

// release gives back what checkLimits took, for a handshake that did not
// become a connection.
func (s *server) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.open--
	s.running.Done()
}

// openConns is how many places are taken.
func (s *server) openConns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.open
}

// headerSize is the size of r's head as a client sends it that writes each
// header line as "Name: value": the request line, the header lines, Host
// among them, and the empty line that ends the head. net/http keeps no
// count of the bytes it read, so this counts what it parsed. Two things go
// uncounted: the spaces a client may add around values, and the Host line
// of a request whose target is an absolute URL (GET http://host/echo),
// which net/http drops unseen (RFC 9112 §3.2.2); net/http's own
// MaxHeaderBytes bounds both.
func headerSize(r *http.Request) int {
	n := len(r.Method) + len(" ") + len(r.RequestURI) + len(" ") + len(r.Proto) + len("\r\n")
	if r.Host != "" {
		n += len("Host: ") + len(r.Host) + len("\r\n") // net/http moves Host out of r.Header
	}
	for name, values := range r.Header {
		for _, v := range values {
			n += len(name) + len(": ") + len(v) + len("\r\n")
		}
	}
	return n + len("\r\n")
}

// loopbackHosts are the names of the loopback address (RFC 6761 §6.3 for
// localhost): a browser sends one of them in Host for a page of this
// machine.
var loopbackHosts = []string{"localhost", "127.0.0.1", "::1"}

// allowedHosts decides Options.Hosts, the DNS-rebinding guard, from the
// address the server listens on and the -hosts flag. On a loopback
// address, a request may name only the loopback names, the address
// itself and extra: a page of evil.example whose name was rebound to
// 127.0.0.1 sends "Host: evil.example", and controls Origin too, so
// only the Host check stops it. On any other address the server's public
// names are not known: extra, if given, are the only names allowed, and
// otherwise any name is.
func allowedHosts(listening net.Addr, extra []string) []string {
	host, _, err := net.SplitHostPort(listening.String())
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return extra
	}
	hosts := append(slices.Clone(loopbackHosts), extra...)
	if !slices.Contains(hosts, host) {
		hosts = append(hosts, host) // 127.0.0.2, say
	}
	return hosts
}

// ---------------------------------------------------------------------------
// The log's writer
// ---------------------------------------------------------------------------

// maxPendingLog is how much of the log a logWriter holds before its
// loggers wait for the write, in bytes and in lines to format: a stderr
// that blocks (a full pipe, a paused terminal) slows the server rather
// than filling memory.
const (
	maxPendingLog     = 1 << 20
	maxPendingRecords = 1 << 13
)

// logBatchWindow is how long a line waits for others to share its write:
// the log lags by no more than this.
const logBatchWindow = 2 * time.Millisecond

// A logWriter writes the log to w from a goroutine of its own. A line
// costs its logger a copy, and the lines that arrive while a write is
// under way leave together in the next one. A write system call costs
// more than formatting the line it carries (BENCHMARKS.md, "Handshake"),
// and the server logs two lines per connection: when thousands of clients
// connect at once, after a deploy or a network blip, they take a few
// writes instead of one each. The connections' lines (WriteRecord) are
// even formatted there, off the goroutine that logs them. Every line is
// written, whole and in order; Flush writes those still pending, before
// the process exits.
type logWriter struct {
	w       io.Writer
	wake    chan struct{} // a token while lines are pending for the goroutine
	writing sync.Mutex    // held while a batch is written: batches go out in order
	// The buffers of the last batch, for reuse; under writing.
	spare        []byte
	spareRecords []logRecord
	out          []byte

	mu      sync.Mutex
	pending []byte      // lines formatted
	records []logRecord // lines to format, each at its place in pending
}

// A logRecord is a line for a logWriter to format (appendTextLine), at
// offset at of its pending lines.
type logRecord struct {
	at    int
	t     time.Time
	level slog.Level
	msg   string
	args  []any
}

func newLogWriter(w io.Writer) *logWriter {
	l := &logWriter{w: w, wake: make(chan struct{}, 1)}
	go func() {
		for range l.wake {
			time.Sleep(logBatchWindow) // for the lines that come with this one
			l.Flush()
		}
	}()
	return l
}

// Write queues p, a line the handler formatted whole, for the next write.
func (l *logWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.pending = append(l.pending, p...)
	full := len(l.pending) >= maxPendingLog
	l.mu.Unlock()
	return len(p), l.queued(full)
}

// WriteRecord queues a line to format as appendTextLine does; its args
// must be of the kinds that appendTextLine writes (textKinds), and must
// not change after the call.
func (l *logWriter) WriteRecord(r logRecord) error {
	l.mu.Lock()
	r.at = len(l.pending)
	l.records = append(l.records, r)
	full := len(l.records) >= maxPendingRecords
	l.mu.Unlock()
	return l.queued(full)
}

// queued sees that what was just queued gets written: now, if too much
// is pending, or else by the goroutine.
func (l *logWriter) queued(full bool) error {
	if full {
		return l.Flush()
	}
	select {
	case l.wake <- struct{}{}:
	default: // the goroutine is already due to write
	}
	return nil
}

// Flush writes the pending lines, and returns once they are written.
func (l *logWriter) Flush() error {
	l.writing.Lock()
	defer l.writing.Unlock()
	l.mu.Lock()
	raw, records := l.pending, l.records
	if len(raw) == 0 && len(records) == 0 {
		l.mu.Unlock()
		return nil // and the spare buffers stay spare (TestLogWriterEmptyFlush)
	}
	l.pending, l.records = l.spare[:0], l.spareRecords[:0]
	l.spare, l.spareRecords = nil, nil // in use now, as pending and records
	l.mu.Unlock()
	batch := raw
	if len(records) > 0 {
		batch = l.out[:0]
		from := 0
		for _, r := range records {
			batch = append(batch, raw[from:r.at]...)
			batch, _ = appendTextLine(batch, r.t, r.level, r.msg, r.args)
			from = r.at
		}
		batch = append(batch, raw[from:]...)
		l.out = nil
		if cap(batch) <= 64<<10 {
			l.out = batch
		}
	}
	_, err := l.w.Write(batch)
	// This batch's buffers are the next one's, unless a burst made them
	// large: those go back to the collector. Either way the buffers of the
	// last batch are in use again, as pending and records.
	clear(records) // the values logged
	if cap(raw) <= 64<<10 {
		l.spare = raw
	}
	if cap(records) <= maxPendingRecords/8 {
		l.spareRecords = records
	}
	return err
}

// textKinds reports whether appendTextLine can write args: pairs of a
// string key and a value that is a string, an int or a time.Duration.
func textKinds(args []any) bool {
	if len(args)%2 != 0 {
		return false
	}
	for i := 0; i < len(args); i += 2 {
		if _, ok := args[i].(string); !ok {
			return false
		}
		switch args[i+1].(type) {
		case string, int, time.Duration:
		default:
			return false
		}
	}
	return true
}

// appendTextLine appends the line that slog.NewTextHandler(w, nil) writes
// for a record, and reports true; or reports false if args holds a key
// that is not a string, or a value that is not a string, an int or a
// time.Duration (see textKinds). TestAppendTextLine compares the two on
// every kind of string.
func appendTextLine(b []byte, t time.Time, level slog.Level, msg string, args []any) ([]byte, bool) {
	b = append(b, "time="...)
	b = appendRFC3339Millis(b, t.Round(0))
	b = append(b, " level="...)
	b = appendTextString(b, level.String())
	b = append(b, " msg="...)
	b = appendTextString(b, msg)
	for i := 0; i+1 < len(args); i += 2 {
		key, ok := args[i].(string)
		if !ok {
			return b, false
		}
		b = append(b, ' ')
		b = appendTextString(b, key)
		b = append(b, '=')
		switch v := args[i+1].(type) {
		case string:
			b = appendTextString(b, v)
		case int:
			b = strconv.AppendInt(b, int64(v), 10)
		case time.Duration:
			b = append(b, v.String()...)
		default:
			return b, false
		}
	}
	if len(args)%2 != 0 {
		return b, false
	}
	return append(b, '\n'), true
}

// appendRFC3339Millis is slog's: RFC 3339 with exactly three digits of
// the second's fraction.
func appendRFC3339Millis(b []byte, t time.Time) []byte {
	const prefixLen = len("2006-01-02T15:04:05.000")
	n := len(b)
	t = t.Truncate(time.Millisecond).Add(time.Millisecond / 10) // a 4th digit, so none is trimmed
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b[:n+prefixLen], b[n+prefixLen+1:]...) // less the 4th digit
}

// appendTextString appends s as slog's text handler does: quoted (Go
// syntax) if it is empty, or holds a space, '=', '"', a control
// character, or a rune that is not valid UTF-8, a space or unprintable.
func appendTextString(b []byte, s string) []byte {
	if textNeedsQuoting(s) {
		return strconv.AppendQuote(b, s)
	}
	return append(b, s...)
}

func textNeedsQuoting(s string) bool {
	if s == "" {
		return true
	}
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c < ' ' || c == ' ' || c == '=' || c == '"' {
				return true
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return true
		}
		i += size
	}
	return false
}
