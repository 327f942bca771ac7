// Command wsecho serves a page that talks to the server over a WebSocket,
// the RFC 6455 protocol written by hand in ws.go. With -connect it is the
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
//	go run . -connect ws://localhost:5000/echo [-origin http://localhost:5000] [-subprotocols chat,...]
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
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"
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
	flag.Parse()

	if *connectURL != "" {
		opts := DialOptions{Origin: *origin, Options: Options{Subprotocols: splitList(*subprotocols)}}
		os.Exit(runClient(*connectURL, opts, os.Stdin, os.Stdout, os.Stderr))
	}

	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	s := newServer(log, Options{Origins: splitList(*origins), MaxMessage: *maxMessage})
	s.trace = *trace
	srv := &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	// net/http does not track hijacked connections: the server says
	// goodbye to its WebSockets itself, with 1001 Going Away (§7.4.1).
	srv.RegisterOnShutdown(s.goingAway)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
		s.wait(shutdown)
	}()

	// Listen before saying so: once "listening" is logged, connections are
	// accepted. With port 0 the line tells which port the system chose.
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Error("cannot listen", "err", err)
		os.Exit(1)
	}
	log.Info("listening", "url", pageURL(*addr, ln.Addr()))
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		log.Error("server stopped", "err", err)
		os.Exit(1)
	}
	<-stopped
}

// pageURL is the address of the page: the host as the -addr flag named it
// (localhost if it named none), and the port the listener got.
func pageURL(addr string, listening net.Addr) string {
	host, _, _ := net.SplitHostPort(addr)
	if host == "" {
		host = "localhost"
	}
	_, port, _ := net.SplitHostPort(listening.String())
	return "http://" + net.JoinHostPort(host, port) + "/"
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
	log   *slog.Logger
	opts  Options // for /echo; /websocket lowers MaxMessage to jsonMaxMessage
	trace bool    // log each handshake and frame (-trace, frames.go)

	mu      sync.Mutex
	conns   map[*Conn]struct{}
	running sync.WaitGroup
}

func newServer(log *slog.Logger, opts Options) *server {
	return &server{log: log, opts: opts, conns: make(map[*Conn]struct{})}
}

func (s *server) routes() http.Handler {
	jsonOpts := s.opts
	jsonOpts.MaxMessage = min(orDefault(s.opts.MaxMessage, jsonMaxMessage), jsonMaxMessage)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", servePage)
	mux.Handle("/websocket", s.inspected(jsonOpts, jsonEcho))
	mux.Handle("/echo", s.websocket(s.opts, echo))
	return mux
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
		if err := c.WriteMessage(OpText, answer(msg, frames)); err != nil {
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
}

// answer builds the reply to one message. The page sends
// {"output": "..."}, and that text is what it gets back; any other JSON
// value comes back as its JSON text. Either way it is HTML-escaped, so the
// page can show the answer, whose <br> is markup, and nothing the sender
// wrote can become markup. The frames read since the last reply go with it.
func answer(msg []byte, frames *frameRecorder) []byte {
	seen, more := frames.take()
	var value any
	if err := json.Unmarshal(msg, &value); err != nil {
		return mustJSON(reply{Error: "that is not JSON: " + err.Error(), Frames: seen, MoreFrames: more})
	}
	text := string(msg)
	if obj, ok := value.(map[string]any); ok {
		if output, ok := obj["output"].(string); ok {
			text = output
		}
	}
	return mustJSON(reply{Output: "I have received this message from you : " + html.EscapeString(text) + "<br>Glad to be your webserver.", Frames: seen, MoreFrames: more})
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // a reply of strings, numbers and booleans always encodes
	}
	return b
}

// websocket turns a function that talks over one connection into an HTTP
// handler: it upgrades the request, logs the open, and runs talk.
func (s *server) websocket(opts Options, talk func(*Conn) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o := &opts
		if s.trace { // this connection's own OnFrame, which logs its frames
			traced := opts
			traced.OnFrame = s.traceHandshake(r, opts.OnFrame)
			o = &traced
		}
		c, err := Upgrade(w, r, o)
		if s.trace {
			s.traceResponse(w, r, c, err)
		}
		if err != nil {
			s.log.Info("handshake refused", "remote", r.RemoteAddr, "path", r.URL.Path, "err", err)
			return
		}
		if !s.track(c) {
			c.Close(StatusGoingAway, "server shutting down")
			return
		}
		s.log.Info("websocket open", "remote", r.RemoteAddr, "path", r.URL.Path)
		// The connection lives on in a goroutine of its own, so that
		// net/http's goroutine returns and frees what it kept for the request.
		go s.talk(c, r.RemoteAddr, r.URL.Path, talk)
	})
}

// talk runs one connection's conversation, then closes it with the status
// code that fits how the conversation ended, and logs the close.
func (s *server) talk(c *Conn, remote, path string, talk func(*Conn) error) {
	defer s.untrack(c)
	start := time.Now()
	err := talkSafely(c, talk)
	code, reason := closeStatus(err)
	c.Close(code, reason) // does nothing if the connection is already closed
	level := slog.LevelInfo
	var protoErr *ProtocolError
	if errors.As(err, &protoErr) || code == StatusInternalError {
		level = slog.LevelWarn // §7.1.7: a failed connection SHOULD be logged
	}
	attrs := []any{"remote", remote, "path", path,
		"code", int(code), "reason", reason, "duration", time.Since(start).Round(time.Millisecond)}
	if code == StatusInternalError {
		// The peer was told only "internal error": the log says what.
		attrs = append(attrs, "err", err.Error())
	}
	s.log.Log(context.Background(), level, "websocket closed", attrs...)
}

// talkSafely runs talk, turning a panic into an error, so that the peer
// still gets a Close frame (1011) and the connection is not leaked:
// net/http's own recovery does not close a hijacked connection.
func talkSafely(c *Conn, talk func(*Conn) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return talk(c)
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
func (s *server) track(c *Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conns == nil {
		return false
	}
	s.conns[c] = struct{}{}
	s.running.Add(1)
	return true
}

func (s *server) untrack(c *Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
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
	done := make(chan struct{})
	go func() {
		s.running.Wait()
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}
