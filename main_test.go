package main

// The application, tested through real loopback connections: the JSON
// echo the page talks to, the page itself, the routes, the origin check,
// the log, a handler that panics, the graceful shutdown, and the built
// binary with its flags and signals. ws_test.go tests the protocol.

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The message the page's Send button sends, and the tutorial's answer.
const (
	pageMessage = `{"output": "Sent from my browser!"}`
	pageReply   = "I have received this message from you : Sent from my browser!<br>Glad to be your webserver."
)

// replyTo is the reply to a message whose text, once HTML-escaped, is
// escaped: the tutorial's sentence around it.
func replyTo(escaped string) map[string]string {
	return map[string]string{"output": "I have received this message from you : " + escaped + "<br>Glad to be your webserver."}
}

// notJSON is the reply to a message that is not JSON: the decoder's own
// description of the problem.
func notJSON(msg string) map[string]string {
	err := json.Unmarshal([]byte(msg), new(any))
	if err == nil {
		panic("notJSON(" + msg + "): that is JSON")
	}
	return map[string]string{"error": "that is not JSON: " + err.Error()}
}

// jsonMessage is a message of exactly n bytes (n >= 13) that the page
// could have sent: {"output":"xxx..."}.
func jsonMessage(n int) string {
	return `{"output":"` + strings.Repeat("x", n-13) + `"}`
}

// ---------------------------------------------------------------------------
// Test harness: the app with its log captured, and client helpers
// ---------------------------------------------------------------------------

// A logCapture is where a server under test writes its log. It is safe
// for the server's goroutines to write while the test reads, and a test
// can wait for a line to appear.
type logCapture struct {
	mu      sync.Mutex
	text    strings.Builder
	changed chan struct{} // closed, and replaced, at every write
}

func newLogCapture() *logCapture { return &logCapture{changed: make(chan struct{})} }

func (l *logCapture) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.text.Write(p)
	close(l.changed)
	l.changed = make(chan struct{})
	return len(p), nil
}

func (l *logCapture) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.text.String()
}

// lines returns the complete lines written so far.
func (l *logCapture) lines() []string {
	lines := strings.SplitAfter(l.String(), "\n")
	return lines[:len(lines)-1] // the last one is "" or not yet complete
}

// waitFor waits, at most testTimeout, for a line that match accepts and
// returns it; what names the line in the failure message.
func (l *logCapture) waitFor(t testing.TB, what string, match func(line string) bool) string {
	t.Helper()
	timeout := time.NewTimer(testTimeout)
	defer timeout.Stop()
	for {
		l.mu.Lock()
		changed := l.changed
		l.mu.Unlock()
		for _, line := range l.lines() {
			if match(line) {
				return line
			}
		}
		select {
		case <-changed:
		case <-timeout.C:
			t.Fatalf("no %s in the log after %v; the log:\n%s", what, testTimeout, l)
		}
	}
}

// A logEntry is one line of a JSON log, decoded: numbers are float64.
type logEntry map[string]any

// entries decodes the log, written by slog's JSON handler.
func (l *logCapture) entries(t testing.TB) []logEntry {
	t.Helper()
	var entries []logEntry
	for _, line := range l.lines() {
		var e logEntry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("log line %q is not JSON: %v", line, err)
		}
		entries = append(entries, e)
	}
	return entries
}

// A testApp is the application on a loopback port, with its log.
type testApp struct {
	*httptest.Server
	s    *server
	logs *logCapture
}

// startApp starts the application on a loopback port, as newTestServer
// does, but logging to a capture, in JSON, and serving handler(s), by
// default s.routes().
func startApp(t testing.TB, opts Options, handler func(*server) http.Handler) *testApp {
	t.Helper()
	logs := newLogCapture()
	s := newServer(slog.New(slog.NewJSONHandler(logs, nil)), opts)
	if handler == nil {
		handler = (*server).routes
	}
	app := &testApp{Server: startServer(t, s, handler(s), false), s: s, logs: logs}
	return app
}

// waitHandlers waits until every connection handler has returned, and so
// has logged the connection's close.
func (app *testApp) waitHandlers(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if !app.s.wait(ctx) {
		t.Fatalf("a connection handler was still running after %v", testTimeout)
	}
}

// connectAddr is connect for a server that is not an httptest.Server: the
// built binary.
func connectAddr(t testing.TB, addr, request string) *testClient {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	return handshakeOver(t, nc, request)
}

// dialAddr is dial for the built binary.
func dialAddr(t testing.TB, addr, path string, extra ...string) *testClient {
	t.Helper()
	c := connectAddr(t, addr, handshakeRequest(addr, path, extra...))
	if c.resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: got %s, want 101", c.resp.Status)
	}
	return c
}

// readReply reads one message and decodes it as the JSON echo's reply: an
// object of strings, sent as text, besides the frames the server read
// (readReplyFrames).
func (c *testClient) readReply() map[string]string {
	c.t.Helper()
	reply, _ := c.readReplyFrames()
	return reply
}

// readReplyFrames reads one reply, and returns its strings and the frames
// it shows, which must be there: every reply shows the frames of the
// message it answers.
func (c *testClient) readReplyFrames() (map[string]string, inspection) {
	c.t.Helper()
	f, err := c.readMessage()
	if err != nil {
		c.t.Fatalf("waiting for a reply: %v", err)
	}
	if f.op != OpText {
		c.t.Fatalf("got %v, want a text message", f)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(f.payload, &fields); err != nil {
		c.t.Fatalf("reply %q is not a JSON object: %v", f.payload, err)
	}
	var seen inspection
	if err := json.Unmarshal(f.payload, &seen); err != nil || len(seen.Frames) == 0 {
		c.t.Fatalf("reply %q shows no frames: %v", f.payload, err)
	}
	delete(fields, "frames")
	delete(fields, "moreFrames")
	reply := make(map[string]string)
	for name, value := range fields {
		var s string
		if err := json.Unmarshal(value, &s); err != nil {
			c.t.Fatalf("reply %q: %s is not a string", f.payload, name)
		}
		reply[name] = s
	}
	return reply, seen
}

// An inspection is what a reply shows of the frames it answers.
type inspection struct {
	Frames     []inspectedFrame `json:"frames"`
	MoreFrames int              `json:"moreFrames"`
}

// expectReply reads one reply and fails the test unless it is want.
func (c *testClient) expectReply(want map[string]string) {
	c.t.Helper()
	if got := c.readReply(); !maps.Equal(got, want) {
		c.t.Fatalf("got reply %q\nwant       %q", got, want)
	}
}

// bye ends a connection that should still be open: the closing handshake
// started by the client, then the client closes its end.
func (c *testClient) bye() {
	c.t.Helper()
	c.closeHandshake()
	c.nc.Close()
}

// ---------------------------------------------------------------------------
// The JSON echo at /websocket
// ---------------------------------------------------------------------------

// TestJSONEcho sends one message per case and checks the reply, and the
// frame it shows: the one sent, to the byte (§5.2); then the page's own
// message, to show that the connection is still open whatever came before
// it.
func TestJSONEcho(t *testing.T) {
	app := startApp(t, Options{}, nil)
	tests := []struct {
		name string
		send string
		want map[string]string
	}{
		{"the page's message", pageMessage, map[string]string{"output": pageReply}},
		{"no spaces", `{"output":"hi"}`, replyTo("hi")},
		{"empty text", `{"output": ""}`, replyTo("")},
		{"unicode", `{"output": "κόσμε ✓ \u00e9"}`, replyTo("κόσμε ✓ é")},
		{"other fields ignored", `{"output": "hi", "extra": [1]}`, replyTo("hi")},

		// Nothing the user writes may become markup on the page: only the
		// server's own <br> is.
		{"script", `{"output": "<script>alert(1)</script>"}`, replyTo("&lt;script&gt;alert(1)&lt;/script&gt;")},
		{"img onerror", `{"output": "<img src=x onerror=\"window.pwned=1\">"}`, replyTo("&lt;img src=x onerror=&#34;window.pwned=1&#34;&gt;")},
		{"quotes and ampersand", `{"output": "Tom & Jerry's \"show\""}`, replyTo("Tom &amp; Jerry&#39;s &#34;show&#34;")},
		{"already escaped", `{"output": "&lt;b&gt;"}`, replyTo("&amp;lt;b&amp;gt;")},
		{"a br of the user's", `{"output": "a<br>b"}`, replyTo("a&lt;br&gt;b")},

		// Any other JSON value comes back as the JSON text it was sent as,
		// escaped too.
		{"string", `"hello <b>"`, replyTo("&#34;hello &lt;b&gt;&#34;")},
		{"number", `42`, replyTo("42")},
		{"null", `null`, replyTo("null")},
		{"true", `true`, replyTo("true")},
		{"array", `["<i>", "&"]`, replyTo("[&#34;&lt;i&gt;&#34;, &#34;&amp;&#34;]")},
		{"object without output", `{"message": "hi"}`, replyTo("{&#34;message&#34;: &#34;hi&#34;}")},
		{"output not a string", `{"output": 5}`, replyTo("{&#34;output&#34;: 5}")},

		// Not JSON: an error message, and the connection stays open.
		{"not JSON", `not json`, notJSON(`not json`)},
		{"empty message", ``, notJSON(``)},
		{"truncated", `{"output": "hi"`, notJSON(`{"output": "hi"`)},
		{"two values", `{} {}`, notJSON(`{} {}`)},
		{"HTML", `<script>alert(1)</script>`, notJSON(`<script>alert(1)</script>`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, app.Server, "/websocket")
			c.write(encode(text(tt.send), exampleKey))
			got, seen := c.readReplyFrames()
			if !maps.Equal(got, tt.want) {
				t.Errorf("sent %q\ngot reply %q\nwant       %q", tt.send, got, tt.want)
			}
			checkFrames(t, seen, wantFrame(text(tt.send), exampleKey))
			// Whatever the user sent, only the server's <br> is markup.
			if out, ok := got["output"]; ok {
				users := strings.TrimSuffix(strings.TrimPrefix(out, "I have received this message from you : "), "<br>Glad to be your webserver.")
				if strings.ContainsAny(users, `<>"'`) {
					t.Errorf("the user's text %q comes back with markup characters unescaped", users)
				}
			}
			c.send(text(pageMessage))
			c.expectReply(map[string]string{"output": pageReply})
			c.bye()
		})
	}
}

// TestJSONEchoLimits checks what ends a connection to /websocket, and the
// size limits of both endpoints: /websocket takes 64 KiB at most whatever
// -max-message says, since its answer is larger than the question; /echo
// takes up to MaxMessage (S-69, S-73).
func TestJSONEchoLimits(t *testing.T) {
	const k64 = 64 << 10
	tests := []struct {
		name      string
		opts      Options
		path      string
		send      []frame
		wantReply map[string]string // the reply of /websocket; nil for /echo: the message itself
		wantClose StatusCode        // 0: the message is answered, and the connection stays open
		reason    string            // of the Close
	}{
		{"binary to the JSON echo", Options{}, "/websocket", []frame{binaryFrame([]byte(pageMessage))}, nil,
			StatusUnsupportedData, "this endpoint takes JSON text, not binary"},
		{"64 KiB exactly", Options{}, "/websocket", []frame{text(jsonMessage(k64))}, replyTo(strings.Repeat("x", k64-13)), 0, ""},
		{"64 KiB + 1", Options{}, "/websocket", []frame{text(jsonMessage(k64 + 1))}, nil,
			StatusTooBig, "message longer than 65536 bytes"},
		{"64 KiB + 1 in fragments", Options{}, "/websocket", []frame{
			fragment(true, false, text(jsonMessage(k64 + 1)[:40000])),
			fragment(false, true, text(jsonMessage(k64 + 1)[40000:])),
		}, nil, StatusTooBig, "message longer than 65536 bytes"},
		{"64 KiB + 1 with -max-message 16 MiB", Options{MaxMessage: 16 << 20}, "/websocket", []frame{text(jsonMessage(k64 + 1))}, nil,
			StatusTooBig, "message longer than 65536 bytes"},
		{"raw echo, 64 KiB + 1 with -max-message 16 MiB", Options{MaxMessage: 16 << 20}, "/echo", []frame{text(jsonMessage(k64 + 1))}, nil, 0, ""},
		{"-max-message 1000 lowers the JSON echo's limit", Options{MaxMessage: 1000}, "/websocket", []frame{text(jsonMessage(1001))}, nil,
			StatusTooBig, "message longer than 1000 bytes"},
		{"-max-message 1000 at the limit", Options{MaxMessage: 1000}, "/websocket", []frame{text(jsonMessage(1000))}, replyTo(strings.Repeat("x", 1000-13)), 0, ""},
		{"raw echo, -max-message 1000 + 1", Options{MaxMessage: 1000}, "/echo", []frame{text(jsonMessage(1001))}, nil,
			StatusTooBig, "message longer than 1000 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := startApp(t, tt.opts, nil)
			c := dial(t, app.Server, tt.path)
			c.send(tt.send...)
			switch {
			case tt.wantClose != 0:
				c.answerClose(tt.wantClose, tt.reason)
			case tt.path == "/echo":
				c.expect(tt.send...)
				c.bye()
			default:
				c.expectReply(tt.wantReply)
				c.bye()
			}
		})
	}
}

// ---------------------------------------------------------------------------
// The page and the routes
// ---------------------------------------------------------------------------

// TestPage checks GET /: index.html, with headers that keep it from
// talking to anyone but this server, and nothing in it that loads from
// elsewhere.
func TestPage(t *testing.T) {
	app := startApp(t, Options{}, nil)
	client := &http.Client{Timeout: testTimeout}
	resp, err := client.Get(app.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /: %s, want 200", resp.Status)
	}
	for name, want := range map[string]string{
		"Content-Type":           "text/html; charset=utf-8",
		"X-Content-Type-Options": "nosniff",
	} {
		if got := resp.Header.Get(name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	// The policy allows the page's own script and style, by hash, and
	// nothing inline besides; TestBrowser shows a browser agrees.
	policy := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "connect-src 'self'", "img-src data:"} {
		if !strings.Contains(policy, want) {
			t.Errorf("Content-Security-Policy %q lacks %q", policy, want)
		}
	}
	if strings.Contains(policy, "unsafe-inline") {
		t.Errorf("Content-Security-Policy %q allows any inline script or style", policy)
	}
	for _, re := range []string{`(?s)<script>(.*?)</script>`, `(?s)<style>(.*?)</style>`} {
		inline := regexp.MustCompile(re).FindSubmatch(body)
		if inline == nil {
			t.Fatalf("the page has no %s", re)
		}
		sum := sha256.Sum256(inline[1])
		if hash := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; !strings.Contains(policy, hash) {
			t.Errorf("Content-Security-Policy %q does not allow the page's %s (%s)", policy, re, hash)
		}
	}
	if string(body) != string(page) {
		t.Fatalf("GET / is not index.html (%d bytes, want %d)", len(body), len(page))
	}

	// The elements the page is used by (and the browser test clicks).
	for _, element := range []string{`<button id="send"`, `<p id="log">`, `<span id="state"`, `<form id="compose">`, `<input id="message"`} {
		if !strings.Contains(string(body), element) {
			t.Errorf("the page has no %s", element)
		}
	}

	// Nothing is loaded from elsewhere: every src and href is a data: URL,
	// and, those left out, no absolute URL appears anywhere (a CDN, a font).
	attr := regexp.MustCompile(`(?i)\b(?:src|href)\s*=\s*("[^"]*"|'[^']*'|[^\s>]+)`)
	rest := string(body)
	for _, m := range attr.FindAllStringSubmatch(rest, -1) {
		if value := strings.Trim(m[1], `"'`); !strings.HasPrefix(value, "data:") {
			t.Errorf("the page loads %s: only data: URLs are allowed", m[0])
		}
		rest = strings.Replace(rest, m[0], "", 1)
	}
	for _, external := range []string{"http://", "https://", "ws://", "wss://", "url(", "@import"} {
		if i := strings.Index(rest, external); i >= 0 {
			t.Errorf("the page refers to %q outside a data: URL", rest[i:min(len(rest), i+60)])
		}
	}
	if !strings.Contains(string(body), "${location.host}/websocket") {
		t.Error("the page does not open its socket at /websocket on its own host")
	}
}

// TestRoutes checks which requests get which HTTP status: the page, the two
// WebSocket endpoints, and 404 for everything else (S-17).
func TestRoutes(t *testing.T) {
	app := startApp(t, Options{}, nil)
	host := app.Listener.Addr().String()
	plain := func(method, path string) string {
		return method + " " + path + " HTTP/1.1\r\nHost: " + host + "\r\n\r\n"
	}
	handshake := func(method, path string) string {
		return strings.Replace(handshakeRequest(host, path), "GET ", method+" ", 1)
	}
	tests := []struct {
		name    string
		request string
		status  int
		allow   string // the Allow header of a 405
	}{
		{"the page", plain("GET", "/"), http.StatusOK, ""},
		{"HEAD of the page", plain("HEAD", "/"), http.StatusOK, ""},
		{"JSON echo", handshake("GET", "/websocket"), http.StatusSwitchingProtocols, ""},
		{"raw echo", handshake("GET", "/echo"), http.StatusSwitchingProtocols, ""},
		{"unknown path", plain("GET", "/nope"), http.StatusNotFound, ""},
		{"handshake to an unknown path", handshake("GET", "/nope"), http.StatusNotFound, ""},
		{"handshake below websocket", handshake("GET", "/websocket/x"), http.StatusNotFound, ""},
		{"handshake to websocket with a slash", handshake("GET", "/websocket/"), http.StatusNotFound, ""},
		{"no favicon.ico", plain("GET", "/favicon.ico"), http.StatusNotFound, ""},
		{"no index.html", plain("GET", "/index.html"), http.StatusNotFound, ""},
		{"POST handshake to websocket", handshake("POST", "/websocket"), http.StatusMethodNotAllowed, "GET"},
		{"POST handshake to echo", handshake("POST", "/echo"), http.StatusMethodNotAllowed, "GET"},
		{"POST to the page", plain("POST", "/"), http.StatusMethodNotAllowed, "GET, HEAD"},
		{"plain GET of websocket", plain("GET", "/websocket"), http.StatusBadRequest, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := connect(t, app.Server, tt.request)
			if c.resp.StatusCode != tt.status {
				t.Fatalf("got %s, want %d", c.resp.Status, tt.status)
			}
			if got := c.resp.Header.Get("Allow"); got != tt.allow {
				t.Errorf("Allow: %q, want %q", got, tt.allow)
			}
			if tt.status == http.StatusSwitchingProtocols {
				c.bye()
			}
		})
	}
}

// TestOrigins checks the origin check (§4.2.2 step 4, §10.2): pages of the
// server's own origin may connect, and those of the origins it was told to
// allow; any other page gets 403 (S-15, S-16).
func TestOrigins(t *testing.T) {
	allowList := Options{Origins: []string{"https://app.example"}}
	tests := []struct {
		name   string
		opts   Options
		path   string
		origin string // "" sends no Origin header; "SELF" is the server's own
		status int
	}{
		{"no Origin: not a browser", Options{}, "/websocket", "", http.StatusSwitchingProtocols},
		{"same origin", Options{}, "/websocket", "http://SELF", http.StatusSwitchingProtocols},
		{"same origin, upper case", Options{}, "/websocket", "HTTP://SELF", http.StatusSwitchingProtocols},
		{"same origin on echo", Options{}, "/echo", "http://SELF", http.StatusSwitchingProtocols},
		{"another site", Options{}, "/websocket", "http://evil.example", http.StatusForbidden},
		{"another site on echo", Options{}, "/echo", "http://evil.example", http.StatusForbidden},
		{"same host, other port", Options{}, "/websocket", "http://127.0.0.1:1", http.StatusForbidden},
		{"same host, no port", Options{}, "/websocket", "http://127.0.0.1", http.StatusForbidden},
		{"null", Options{}, "/websocket", "null", http.StatusForbidden},
		{"allowed origin", allowList, "/websocket", "https://app.example", http.StatusSwitchingProtocols},
		{"allowed origin, upper case", allowList, "/websocket", "HTTPS://APP.EXAMPLE", http.StatusSwitchingProtocols},
		{"allowed origin on echo", allowList, "/echo", "https://app.example", http.StatusSwitchingProtocols},
		{"same origin besides the allowed", allowList, "/websocket", "http://SELF", http.StatusSwitchingProtocols},
		{"allowed host, other scheme", allowList, "/websocket", "http://app.example", http.StatusForbidden},
		{"allowed host, other port", allowList, "/websocket", "https://app.example:8443", http.StatusForbidden},
		{"not allowed", allowList, "/websocket", "https://evil.example", http.StatusForbidden},
		{"null with an allow-list", allowList, "/websocket", "null", http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := startApp(t, tt.opts, nil)
			host := app.Listener.Addr().String()
			var extra []string
			if tt.origin != "" {
				extra = append(extra, "Origin: "+strings.Replace(tt.origin, "SELF", host, 1))
			}
			c := connect(t, app.Server, handshakeRequest(host, tt.path, extra...))
			if c.resp.StatusCode != tt.status {
				t.Fatalf("Origin %q: got %s, want %d", tt.origin, c.resp.Status, tt.status)
			}
			if tt.status == http.StatusSwitchingProtocols {
				c.bye()
			}
		})
	}
}

// ---------------------------------------------------------------------------
// The log
// ---------------------------------------------------------------------------

// TestLog checks that every connection is logged twice, when it opens and
// when it closes, with who, where, how it ended and how long it lasted;
// and that a connection failed for the peer's fault is logged as a
// warning (§7.1.7: it SHOULD be logged).
func TestLog(t *testing.T) {
	tests := []struct {
		name   string
		end    func(c *testClient)
		level  string
		code   StatusCode
		reason string
	}{
		{"closing handshake", func(c *testClient) { c.bye() }, "INFO", StatusNormal, ""},
		{"client going away", func(c *testClient) {
			c.send(closeFrame(StatusGoingAway, "tab closed"))
			c.expectClose(StatusGoingAway)
			c.nc.Close()
		}, "INFO", StatusGoingAway, "tab closed"},
		{"connection dropped", func(c *testClient) { c.nc.Close() }, "INFO", StatusAbnormal, ""},
		{"unmasked frame", func(c *testClient) {
			c.send(frame{fin: true, op: OpText, payload: []byte(pageMessage), unmasked: true})
			c.answerClose(StatusProtocolError, "client frame is not masked")
		}, "WARN", StatusProtocolError, "client frame is not masked"},
		{"binary message", func(c *testClient) {
			c.send(binaryFrame([]byte(pageMessage)))
			c.answerClose(StatusUnsupportedData, "this endpoint takes JSON text, not binary")
		}, "WARN", StatusUnsupportedData, "this endpoint takes JSON text, not binary"},
		{"too big", func(c *testClient) {
			c.send(text(jsonMessage(64<<10 + 1)))
			c.answerClose(StatusTooBig, "message longer than 65536 bytes")
		}, "WARN", StatusTooBig, "message longer than 65536 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := startApp(t, Options{}, nil)
			c := dial(t, app.Server, "/websocket")
			remote := c.nc.LocalAddr().String()
			// One exchange first: the handler is then surely running, so
			// that waitHandlers waits for it.
			c.send(text(pageMessage))
			c.expectReply(map[string]string{"output": pageReply})
			tt.end(c)
			app.waitHandlers(t)

			entries := app.logs.entries(t)
			if len(entries) != 2 {
				t.Fatalf("got %d log lines, want 2 (open, closed):\n%s", len(entries), app.logs)
			}
			checkEntry(t, entries[0], map[string]any{
				"level": "INFO", "msg": "websocket open", "remote": remote, "path": "/websocket",
			})
			closed := entries[1]
			duration, ok := closed["duration"].(float64) // nanoseconds
			if !ok || duration < 0 {
				t.Errorf("duration %v, want a number of nanoseconds >= 0", closed["duration"])
			}
			delete(closed, "duration")
			checkEntry(t, closed, map[string]any{
				"level": tt.level, "msg": "websocket closed", "remote": remote, "path": "/websocket",
				"code": float64(tt.code), "reason": tt.reason,
			})
		})
	}

	t.Run("handshake refused", func(t *testing.T) {
		app := startApp(t, Options{}, nil)
		c := connect(t, app.Server, handshakeRequest(app.Listener.Addr().String(), "/websocket", "Origin: http://evil.example"))
		if c.resp.StatusCode != http.StatusForbidden {
			t.Fatalf("got %s, want 403", c.resp.Status)
		}
		line := app.logs.waitFor(t, "handshake refused", func(line string) bool { return strings.Contains(line, "handshake refused") })
		var e logEntry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatal(err)
		}
		checkEntry(t, e, map[string]any{
			"level": "INFO", "msg": "handshake refused", "remote": c.nc.LocalAddr().String(), "path": "/websocket",
			"err": "websocket: handshake failed (403 Forbidden): origin http://evil.example is not allowed",
		})
	})
}

// checkEntry fails the test unless the log entry e has exactly the fields
// of want, besides its time.
func checkEntry(t *testing.T, e logEntry, want map[string]any) {
	t.Helper()
	if _, ok := e["time"].(string); !ok {
		t.Errorf("log entry without a time: %v", e)
	}
	delete(e, "time")
	if !maps.Equal(map[string]any(e), want) {
		t.Errorf("log entry\n%v\nwant\n%v", e, want)
	}
}

// ---------------------------------------------------------------------------
// A panicking handler, and the graceful shutdown
// ---------------------------------------------------------------------------

// TestHandlerPanic checks that a handler that panics does not leave its
// client hanging: the client gets 1011 (§7.4.1, S-69), the connection is
// closed, the handler's goroutine ends, the panic is logged, and the server
// goes on serving.
func TestHandlerPanic(t *testing.T) {
	app := startApp(t, Options{}, func(s *server) http.Handler {
		return s.websocket(Options{}, func(c *Conn) error {
			if _, msg, _ := c.ReadMessage(); string(msg) == "panic" {
				panic("boom")
			}
			return nil
		})
	})
	c := dial(t, app.Server, "/panic")
	remote := c.nc.LocalAddr().String()
	c.send(text("panic"))
	c.answerClose(StatusInternalError, "internal error")
	app.waitHandlers(t)

	entries := app.logs.entries(t)
	if len(entries) != 2 {
		t.Fatalf("got %d log lines, want 2 (open, closed):\n%s", len(entries), app.logs)
	}
	closed := entries[1]
	delete(closed, "duration")
	checkEntry(t, closed, map[string]any{
		"level": "WARN", "msg": "websocket closed", "remote": remote, "path": "/panic",
		"code": float64(StatusInternalError), "reason": "internal error", "err": "panic: boom",
	})

	// The server still serves: the next handler returns nil, which is 1000.
	c = dial(t, app.Server, "/panic")
	c.send(text("no panic"))
	c.answerClose(StatusNormal, "")
}

// TestShutdown checks the graceful shutdown (§7.3, S-66): the server ends
// each WebSocket with a closing handshake, 1001 Going Away, and closes TCP
// once the client has answered; then every handler has returned.
func TestShutdown(t *testing.T) {
	app := startApp(t, Options{}, nil)
	app.Config.RegisterOnShutdown(app.s.goingAway) // as main does
	jsonClient := dial(t, app.Server, "/websocket")
	echoClient := dial(t, app.Server, "/echo")
	// Both handlers are running once each has answered.
	jsonClient.send(text(pageMessage))
	jsonClient.expectReply(map[string]string{"output": pageReply})
	echoClient.send(text("hello"))
	echoClient.expect(text("hello"))

	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := app.Config.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	waited := make(chan bool, 1)
	go func() { waited <- app.s.wait(ctx) }()

	jsonClient.answerClose(StatusGoingAway, "server shutting down")
	echoClient.answerClose(StatusGoingAway, "server shutting down")
	if !<-waited { // bounded by ctx
		t.Fatalf("a handler was still running %v after the clients answered", testTimeout)
	}

	var codes []float64
	for _, e := range app.logs.entries(t) {
		if e["msg"] == "websocket closed" {
			codes = append(codes, e["code"].(float64))
		}
	}
	if want := []float64{1001, 1001}; !slices.Equal(codes, want) {
		t.Errorf("logged close codes %v, want %v", codes, want)
	}
	// The listener is closed: no new connection.
	if nc, err := net.DialTimeout("tcp", app.Listener.Addr().String(), testTimeout); err == nil {
		nc.Close()
		t.Error("the server still accepts connections after Shutdown")
	}
}

// ---------------------------------------------------------------------------
// The binary: flags, the listening line, signals
// ---------------------------------------------------------------------------

// TestBinary builds the command and runs it as a user would.
func TestBinary(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the test stops the server with SIGTERM")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go is not on PATH: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "wsecho")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, goTool, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	t.Run("help", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		out, err := exec.CommandContext(ctx, bin, "-h").CombinedOutput()
		if err != nil {
			t.Fatalf("-h: %v, want exit status 0\n%s", err, out)
		}
		for _, line := range []string{
			"  -addr string\n    \taddress to listen on (default \"localhost:5000\")\n",
			"  -max-message int\n    \tlargest message /echo accepts, in bytes (default 16777216)\n",
			"  -origins string\n    \tcomma-separated origins allowed besides the server's own, e.g. https://app.example\n",
		} {
			if !strings.Contains(string(out), line) {
				t.Errorf("-h does not show\n%s\nit shows\n%s", line, out)
			}
		}
	})

	t.Run("serve and stop", func(t *testing.T) {
		p := startBinary(t, bin, "-addr", "127.0.0.1:0")
		client := &http.Client{Timeout: testTimeout}
		resp, err := client.Get(p.url)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || string(body) != string(page) {
			t.Fatalf("GET %s: %s, %d bytes, %v; want 200 and index.html", p.url, resp.Status, len(body), err)
		}

		c := dialAddr(t, p.addr, "/websocket", "Origin: http://"+p.addr)
		c.send(text(pageMessage))
		c.expectReply(map[string]string{"output": pageReply})

		// SIGTERM, as a service manager stops it: the open WebSocket gets
		// 1001, and the process exits 0 once it has closed.
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		c.answerClose(StatusGoingAway, "server shutting down")
		if err := p.wait(t); err != nil {
			t.Fatalf("after SIGTERM: %v, want exit status 0; the log:\n%s", err, p.stderr)
		}
		p.stderr.waitFor(t, "close with code 1001", func(line string) bool {
			return strings.Contains(line, `msg="websocket closed"`) && strings.Contains(line, " code=1001 ")
		})
	})

	t.Run("flags", func(t *testing.T) {
		p := startBinary(t, bin, "-addr", "127.0.0.1:0", "-origins", " https://app.example, ,https://b.example", "-max-message", "100")
		for _, origin := range []string{"https://app.example", "https://b.example"} {
			c := dialAddr(t, p.addr, "/echo", "Origin: "+origin)
			c.send(text(strings.Repeat("x", 100)))
			c.expect(text(strings.Repeat("x", 100)))
			c.send(text(strings.Repeat("x", 101)))
			c.answerClose(StatusTooBig, "message longer than 100 bytes")
		}
		c := connectAddr(t, p.addr, handshakeRequest(p.addr, "/echo", "Origin: https://c.example"))
		if c.resp.StatusCode != http.StatusForbidden {
			t.Errorf("an origin not in -origins: %s, want 403", c.resp.Status)
		}
	})

	t.Run("trace", func(t *testing.T) {
		// -trace: the handshake, then one line a frame, in slog's text
		// format, each naming the client (frames.go, TestTrace).
		p := startBinary(t, bin, "-addr", "127.0.0.1:0", "-trace")
		c := dialAddr(t, p.addr, "/websocket")
		remote := " remote=" + c.nc.LocalAddr().String() + " "
		c.send(text(pageMessage))
		c.expectReply(map[string]string{"output": pageReply})
		c.bye()
		for _, want := range []string{
			`msg="handshake request"` + remote + `request="GET /websocket HTTP/1.1" header.Host=` + p.addr,
			`msg="handshake response"` + remote + `status="101 Switching Protocols" header.Upgrade=websocket header.Connection=Upgrade header.Sec-WebSocket-Accept="` + sampleAccept + "\"\n",
			`msg=frame` + remote + `dir=in fin=1 rsv=000 op=text mask=1 len=35 key=`,
			`msg=frame` + remote + `dir=out fin=1 rsv=000 op=text mask=0 len=`,
			`msg=frame` + remote + `dir=in fin=1 rsv=000 op=close mask=1 len=2 key=`,
		} {
			p.stderr.waitFor(t, want, func(line string) bool { return strings.Contains(line, want) })
		}
	})

	t.Run("address in use", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		out, err := exec.CommandContext(ctx, bin, "-addr", ln.Addr().String()).CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 {
			t.Fatalf("got %v, want exit status 1\n%s", err, out)
		}
		if !strings.Contains(string(out), `msg="cannot listen"`) || strings.Contains(string(out), "listening") {
			t.Errorf("the log says\n%s\nwant \"cannot listen\", and no \"listening\"", out)
		}
	})
}

// An addrString is a net.Addr, for pageURL.
type addrString string

func (a addrString) Network() string { return "tcp" }
func (a addrString) String() string  { return string(a) }

// A process is the built binary, running.
type process struct {
	cmd    *exec.Cmd
	stderr *logCapture
	exited chan error
	url    string // from its "listening" line
	addr   string // host:port of url
}

// startBinary starts bin with args and waits for its "listening" line.
// The process is killed when the test ends, if it is still running.
func startBinary(t *testing.T, bin string, args ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(bin, args...), stderr: newLogCapture(), exited: make(chan error, 1)}
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	t.Cleanup(func() {
		p.cmd.Process.Kill() // an error if it has exited, as it should have
		<-p.exited
	})
	line := p.stderr.waitFor(t, `"listening" line`, func(line string) bool { return strings.Contains(line, "msg=listening") })
	m := regexp.MustCompile(` url=(http://(\S+)/)\n$`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("the listening line %q has no url", line)
	}
	p.url, p.addr = m[1], m[2]
	return p
}

// wait waits, at most testTimeout, for the process to exit.
func (p *process) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-p.exited:
		p.exited <- err // for the cleanup
		return err
	case <-time.After(testTimeout):
		t.Fatalf("the process has not exited %v after SIGTERM; the log:\n%s", testTimeout, p.stderr)
		return nil
	}
}

// ---------------------------------------------------------------------------
// Small functions of main.go
// ---------------------------------------------------------------------------

func TestSplitList(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{" , ,", nil},
		{"https://a.example", []string{"https://a.example"}},
		{" https://a.example, ,https://b.example ,", []string{"https://a.example", "https://b.example"}},
	}
	for _, tt := range tests {
		if got := splitList(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("splitList(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestPageURL(t *testing.T) {
	tests := []struct{ flag, listening, want string }{
		{"localhost:5000", "127.0.0.1:5000", "http://localhost:5000/"},
		{"127.0.0.1:0", "127.0.0.1:43567", "http://127.0.0.1:43567/"},
		{":5000", "[::]:5000", "http://localhost:5000/"},
		{"[::1]:0", "[::1]:40000", "http://[::1]:40000/"},
	}
	for _, tt := range tests {
		if got := pageURL(tt.flag, addrString(tt.listening)); got != tt.want {
			t.Errorf("pageURL(%q, %q) = %q, want %q", tt.flag, tt.listening, got, tt.want)
		}
	}
}

// ---------------------------------------------------------------------------
// The terminal client: -connect
// ---------------------------------------------------------------------------

// TestConnect runs the terminal client (connect.go), built, as a user
// would: lines on its standard input, messages on its standard output, the
// reason on standard error when it fails, and its exit status.
func TestConnect(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the test interrupts the client with SIGINT")
	}
	bin := buildBinary(t)

	t.Run("lines out, messages back, 1000 at the end of input", func(t *testing.T) {
		app := startApp(t, Options{}, nil)
		long := strings.Repeat("x", 100<<10)           // longer than bufio.Scanner's default line
		input := "hello\nκόσμε\n\n" + long + "\nlast"  // the last line has no newline
		want := "hello\nκόσμε\n\n" + long + "\nlast\n" // each message on a line of its own
		p := startClient(t, bin, "-connect", wsURL(app.Server, "/echo"))
		p.input(input)
		if err := p.wait(t); err != nil {
			t.Errorf("exit: %v, want 0; stderr:\n%s", err, p.stderr)
		}
		if got := p.stdout.String(); got != want {
			t.Errorf("stdout is %d bytes %q, want %d bytes %q", len(got), shorten([]byte(got)), len(want), shorten([]byte(want)))
		}
		if !strings.HasPrefix(p.stderr.String(), "connected to "+wsURL(app.Server, "/echo")+":") {
			t.Errorf("stderr says %q, want it to say where it connected", p.stderr)
		}
		app.waitHandlers(t)
		if entries := app.logs.entries(t); entries[len(entries)-1]["code"] != float64(StatusNormal) {
			t.Errorf("the server logged %v, want the client's close with 1000", entries[len(entries)-1])
		}
	})

	t.Run("text and binary from the server", func(t *testing.T) {
		binary := []byte{0x00, 0x01, 0x02, 'w', 's', 0xfe, 0xff}
		_, srv := newAppServer(t, Options{}, func(c *Conn) error {
			c.WriteMessage(OpText, []byte("welcome"))
			c.WriteMessage(OpBinary, binary)
			_, _, err := c.ReadMessage()
			return err
		})
		p := startClient(t, bin, "-connect", wsURL(srv, "/"))
		p.input("") // at once: what the server sent before our Close is still printed
		if err := p.wait(t); err != nil {
			t.Errorf("exit: %v, want 0; stderr:\n%s", err, p.stderr)
		}
		if want := "welcome\n[binary message, 7 bytes]\n" + hex.Dump(binary); p.stdout.String() != want {
			t.Errorf("stdout:\n%s\nwant:\n%s", p.stdout, want)
		}
	})

	// §7.1.2: once the client has sent its Close, it still reads, and
	// prints, what the server sent before it read that Close, until its
	// answer. Here they are sent after the Close arrived: to the client,
	// the same as messages on their way.
	t.Run("messages on their way when the client closes are printed", func(t *testing.T) {
		srv := newFakeServer(t)
		p := startClient(t, bin, "-connect", srv.url("/"))
		sc := srv.accept()
		sc.accept101()
		p.input("")
		sc.expectClose(StatusNormal)
		sc.send(text("one"), text("two"), text("three"), closeFrame(StatusNormal, ""))
		sc.closeFirst()
		if err := p.wait(t); err != nil {
			t.Errorf("exit: %v, want 0; stderr:\n%s", err, p.stderr)
		}
		if got, want := p.stdout.String(), "one\ntwo\nthree\n"; got != want {
			t.Errorf("stdout %q, want %q", got, want)
		}
	})

	t.Run("-origin and -subprotocols are offered", func(t *testing.T) {
		_, srv := newAppServer(t, Options{Origins: []string{"https://app.example"}, Subprotocols: []string{"chat"}}, func(c *Conn) error {
			return c.WriteMessage(OpText, []byte("agreed on "+c.Subprotocol()))
		})
		p := startClient(t, bin, "-connect", wsURL(srv, "/"), "-origin", "https://app.example", "-subprotocols", "superchat, chat")
		if err := p.wait(t); err != nil { // the server closes with 1000: exit 0
			t.Errorf("exit: %v, want 0; stderr:\n%s", err, p.stderr)
		}
		if got := p.stdout.String(); got != "agreed on chat\n" {
			t.Errorf("stdout %q, want %q", got, "agreed on chat\n")
		}
		if !strings.Contains(p.stderr.String(), "(subprotocol chat)") {
			t.Errorf("stderr %q does not name the subprotocol", p.stderr)
		}
	})

	// A handshake the server refuses, or that Dial refuses: exit 1, the
	// reason on stderr, and nothing on stdout.
	srv := newTestServer(t, Options{})
	refused := []struct {
		name   string
		args   []string
		reason string
	}{
		{"an unknown path", []string{"-connect", wsURL(srv, "/nope")}, "404 Not Found"},
		{"an origin the server refuses", []string{"-connect", wsURL(srv, "/echo"), "-origin", "https://evil.example"}, "403 Forbidden"},
		{"not a WebSocket URL", []string{"-connect", srv.URL + "/echo"}, "is not a ws:// or wss:// URL"},
		{"nothing listening", []string{"-connect", "ws://" + closedPort(t) + "/"}, "connection refused"},
	}
	for _, tc := range refused {
		t.Run("the handshake fails: "+tc.name, func(t *testing.T) {
			p := startClient(t, bin, tc.args...)
			if err := p.wait(t); exitCode(err) != 1 {
				t.Errorf("exit: %v, want exit status 1", err)
			}
			if !strings.Contains(p.stderr.String(), tc.reason) {
				t.Errorf("stderr %q does not say %q", p.stderr, tc.reason)
			}
			if p.stdout.String() != "" {
				t.Errorf("stdout %q, want nothing", p.stdout)
			}
		})
	}

	// The server ends the conversation while the user is still typing
	// (stdin stays open): with 1000, exit 0; any other way, exit 1 and the
	// reason.
	t.Run("the server closes with 1000", func(t *testing.T) {
		_, srv := newAppServer(t, Options{}, func(*Conn) error { return nil })
		p := startClient(t, bin, "-connect", wsURL(srv, "/"))
		if err := p.wait(t); err != nil {
			t.Errorf("exit: %v, want 0; stderr:\n%s", err, p.stderr)
		}
	})
	t.Run("the server fails the connection", func(t *testing.T) {
		_, srv := newAppServer(t, Options{}, func(*Conn) error {
			return &ProtocolError{Code: StatusPolicyViolation, Reason: "no entry"}
		})
		p := startClient(t, bin, "-connect", wsURL(srv, "/"))
		if err := p.wait(t); exitCode(err) != 1 {
			t.Errorf("exit: %v, want exit status 1", err)
		}
		if want := `(1008) "no entry"`; !strings.Contains(p.stderr.String(), want) {
			t.Errorf("stderr %q does not say %s", p.stderr, want)
		}
	})
	t.Run("the server vanishes", func(t *testing.T) {
		srv := newHandlerServer(t, Options{}, func(c *Conn) { c.nc.Close() })
		p := startClient(t, bin, "-connect", wsURL(srv, "/"))
		if err := p.wait(t); exitCode(err) != 1 {
			t.Errorf("exit: %v, want exit status 1", err)
		}
		if want := "connection lost (1006)"; !strings.Contains(p.stderr.String(), want) {
			t.Errorf("stderr %q does not say %s", p.stderr, want)
		}
	})

	// Ctrl-C: the client closes with 1000 and exits 0.
	t.Run("SIGINT closes with 1000", func(t *testing.T) {
		ends := make(chan error, 1)
		srv := newHandlerServer(t, Options{}, func(c *Conn) { ends <- echo(c) })
		p := startClient(t, bin, "-connect", wsURL(srv, "/"))
		p.write("hi\n")
		p.stdout.waitFor(t, "the echo of hi", func(line string) bool { return line == "hi\n" })
		if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		if err := await(t, ends); !isClose(err, StatusNormal) {
			t.Errorf("the server read %v, want Close 1000", err)
		}
		if err := p.wait(t); err != nil {
			t.Errorf("exit: %v, want 0; stderr:\n%s", err, p.stderr)
		}
	})
}

// buildBinary builds the command into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go is not on PATH: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "wsecho")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, goTool, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// wsURL is the ws:// URL of path on srv.
func wsURL(srv *httptest.Server, path string) string {
	return "ws://" + srv.Listener.Addr().String() + path
}

// closedPort returns a loopback host:port where nothing listens.
func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	return ln.Addr().String()
}

// exitCode is the exit status of a process that ended with err.
func exitCode(err error) int {
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// A clientProcess is the built binary running as a terminal client.
type clientProcess struct {
	cmd            *exec.Cmd
	stdin          io.WriteCloser
	stdout, stderr *logCapture
	exited         chan error
}

// startClient starts bin with args; its stdin stays open until input
// closes it. The process is killed when the test ends, if it still runs.
func startClient(t *testing.T, bin string, args ...string) *clientProcess {
	t.Helper()
	p := &clientProcess{cmd: exec.Command(bin, args...), stdout: newLogCapture(), stderr: newLogCapture(), exited: make(chan error, 1)}
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	var err error
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	t.Cleanup(func() {
		p.cmd.Process.Kill() // an error if it has exited, as it should have
		<-p.exited
	})
	return p
}

// write types s: it writes s to the client's stdin.
func (p *clientProcess) write(s string) {
	io.WriteString(p.stdin, s) // an error means the client has exited: wait says how
}

// input writes s to the client's stdin, then ends its input (Ctrl-D).
func (p *clientProcess) input(s string) {
	p.write(s)
	p.stdin.Close()
}

// wait waits, at most testTimeout, for the client to exit.
func (p *clientProcess) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-p.exited:
		p.exited <- err // for the cleanup
		return err
	case <-time.After(testTimeout):
		t.Fatalf("the client has not exited after %v; stderr:\n%s", testTimeout, p.stderr)
		return nil
	}
}
