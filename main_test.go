package main

// The application, tested through real loopback connections: the JSON
// echo the page talks to, the page itself, the routes, the origin check,
// the log, a handler that panics, the graceful shutdown, and the built
// binary with its flags and signals. ws_test.go tests the protocol.

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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
		{"64 KiB - 1", Options{}, "/websocket", []frame{text(jsonMessage(k64 - 1))}, replyTo(strings.Repeat("x", k64-14)), 0, ""},
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
		{"same host with a path: no origin (RFC 6454 §6.2)", Options{}, "/websocket", "http://SELF/page", http.StatusForbidden},
		{"same host with a user: no origin (RFC 6454 §6.2)", Options{}, "/websocket", "http://user@SELF", http.StatusForbidden},
		{"no scheme", Options{}, "/websocket", "SELF", http.StatusForbidden},
		{"an empty scheme", Options{}, "/websocket", "://SELF", http.StatusForbidden},
		{"a scheme with a space", Options{}, "/websocket", "h p://SELF", http.StatusForbidden},
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
			"err": "websocket: handshake failed (403 Forbidden): origin \"http://evil.example\" is not allowed",
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

// TestBinary builds the command and runs it as a user would.
func TestBinary(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the test stops the server with SIGTERM")
	}
	bin := buildBinary(t)

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

	testBinaryHardening(t, bin)
}

// An addrString is a net.Addr, for pageURL.
type addrString string

func (a addrString) Network() string { return "tcp" }

func (a addrString) String() string { return string(a) }

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
	p := &process{cmd: exec.Command(bin, args...), stderr: newLogCapture()}
	p.cmd.Stderr = p.stderr
	p.exited = runUntilEnd(t, p.cmd)
	line := p.stderr.waitFor(t, `"listening" line`, func(line string) bool { return strings.Contains(line, "msg=listening") })
	m := regexp.MustCompile(` url=(https?://(\S+)/)\n$`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("the listening line %q has no url", line)
	}
	p.url, p.addr = m[1], m[2]
	return p
}

// wait waits, at most testTimeout, for the process to exit.
func (p *process) wait(t *testing.T) error {
	t.Helper()
	return waitExit(t, p.exited, "the server", p.stderr)
}

// runUntilEnd starts cmd and returns the channel its end arrives on; the
// process is killed when the test ends, if it is still running.
func runUntilEnd(t *testing.T, cmd *exec.Cmd) chan error {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill() // an error if it has exited, as it should have
		<-exited
	})
	return exited
}

// waitExit waits, at most testTimeout, for a process to exit; exited
// carries its end, and is refilled for the test's cleanup.
func waitExit(t *testing.T, exited chan error, who string, stderr *logCapture) error {
	t.Helper()
	select {
	case err := <-exited:
		exited <- err
		return err
	case <-time.After(testTimeout):
		t.Fatalf("%s has not exited after %v; its stderr:\n%s", who, testTimeout, stderr)
		return nil
	}
}

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
	tests := []struct {
		overTLS               bool
		flag, listening, want string
	}{
		{false, "localhost:5000", "127.0.0.1:5000", "http://localhost:5000/"},
		{false, "127.0.0.1:0", "127.0.0.1:43567", "http://127.0.0.1:43567/"},
		{false, ":5000", "[::]:5000", "http://localhost:5000/"},
		{false, "[::1]:0", "[::1]:40000", "http://[::1]:40000/"},
		{true, "localhost:8443", "127.0.0.1:8443", "https://localhost:8443/"},
		{true, "[::1]:0", "[::1]:40000", "https://[::1]:40000/"},
	}
	for _, tt := range tests {
		if got := pageURL(tt.overTLS, tt.flag, addrString(tt.listening)); got != tt.want {
			t.Errorf("pageURL(%v, %q, %q) = %q, want %q", tt.overTLS, tt.flag, tt.listening, got, tt.want)
		}
	}
}

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

	t.Run("control characters from the server are shown, not obeyed", func(t *testing.T) {
		// Retitle the terminal, clear it, return to the start of the
		// line, and a C1 CSI: each comes out as an escape. Newlines, tabs
		// and the rest of the text come out as they are.
		_, srv := newAppServer(t, Options{}, func(c *Conn) error {
			c.WriteMessage(OpText, []byte("a\x1b]0;pwned\a b\x1b[2J c\r d\x7f e\u009b31m\nf\tκόσμε"))
			_, _, err := c.ReadMessage()
			return err
		})
		p := startClient(t, bin, "-connect", wsURL(srv, "/"))
		p.input("")
		if err := p.wait(t); err != nil {
			t.Errorf("exit: %v, want 0; stderr:\n%s", err, p.stderr)
		}
		if want := `a\x1b]0;pwned\x07 b\x1b[2J c\x0d d\x7f e\u009b31m` + "\nf\tκόσμε\n"; p.stdout.String() != want {
			t.Errorf("stdout %q, want %q", p.stdout, want)
		}
	})

	// §7.1.2: once the client has sent its Close, it still reads, and
	// prints, what the server sent before it read that Close, until its
	// answer. Here they are sent after the Close arrived: to the client,
	// the same as messages on their way.
	t.Run("messages on their way when the client closes are printed", func(t *testing.T) {
		srv := newFakeServer(t)
		p := startClient(t, bin, "-connect", srv.url("/"), "-linger", "0") // closes at once
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
		srv := newHandlerServer(t, Options{}, func(c *Conn) { c.t.Close() })
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
	p := &clientProcess{cmd: exec.Command(bin, args...), stdout: newLogCapture(), stderr: newLogCapture()}
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	var err error
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	p.exited = runUntilEnd(t, p.cmd)
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
	return waitExit(t, p.exited, "the client", p.stderr)
}

// A hardening is what main.go's flags set besides Options.
type hardening struct {
	opts             Options
	hosts            []string      // -hosts
	maxConns         int           // -max-conns; 0: no limit
	maxHeaderBytes   int           // -max-header-bytes; 0: net/http's
	handshakeTimeout time.Duration // -handshake-timeout; 0: 10 s
}

// startHardenedApp starts the application as main builds it, on a
// loopback port: the http.Server of s.httpServer, with its handshake
// timeouts, the limits of checkLimits, and the Host check that
// allowedHosts decides for the address listened on. At cleanup every
// conversation must have returned.
func startHardenedApp(t testing.TB, h hardening) *testApp {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	logs := newLogCapture()
	h.opts.Hosts = allowedHosts(srv.Listener.Addr(), h.hosts)
	s := newServer(slog.New(slog.NewJSONHandler(logs, nil)), h.opts)
	s.maxConns, s.maxHeaderBytes = h.maxConns, h.maxHeaderBytes
	srv.Config = s.httpServer(cmp.Or(h.handshakeTimeout, 10*time.Second))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // bad requests are the point
	srv.Start()
	stopAtEnd(t, srv, s)
	return &testApp{Server: srv, s: s, logs: logs}
}

// poll is the tests' one poll, and their one sleep: it checks cond every
// millisecond until cond holds, for at most testTimeout, and reports
// whether it did. Every other wait is on an event: a channel, a frame, a
// log line, a WaitGroup (server.wait), the end of a stream. poll is for
// the few states that announce themselves by no event a test could wait
// on: how many goroutines are left and where one is blocked (the runtime
// says only when asked), how many file descriptors are open, whether
// another process listens yet, and how many places the server holds
// while its other connections stay open (a place is given back after the
// connection's last log line). The sleep only paces the checks; no
// assertion depends on how long anything takes.
func poll(cond func() bool) bool {
	deadline := time.Now().Add(testTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}

// eventually polls (poll) until cond holds, and fails the test if it
// does not within testTimeout.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	if !poll(cond) {
		t.Fatalf("still not %s after %v", what, testTimeout)
	}
}

// allGivenBack waits for every connection of s to end, on s's WaitGroup
// and not by polling, and fails the test unless each gave its place back.
func allGivenBack(t testing.TB, s *server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if !s.wait(ctx) {
		t.Fatalf("connections still running after %v", testTimeout)
	}
	if n := s.openConns(); n != 0 {
		t.Fatalf("%d places still taken once every connection ended", n)
	}
}

// TestHosts is the DNS-rebinding guard. A page of evil.example whose name
// was rebound to 127.0.0.1 reaches a server on loopback with
// "Host: evil.example" and, being that page, "Origin: http://evil.example":
// the origin check (§10.2, S-15) sees its own origin and passes it. On a
// loopback address the server therefore accepts only loopback names in
// Host (§4.2.1 step 2: the server's own authority), and those of -hosts,
// and answers anything else 403 before any upgrade. The check is inside
// Upgrade, so no spelling of a path (/%65cho) gets around it.
func TestHosts(t *testing.T) {
	app := startHardenedApp(t, hardening{hosts: []string{"app.example"}})
	_, port, _ := net.SplitHostPort(app.Listener.Addr().String())
	tests := []struct {
		name   string
		host   string
		path   string
		origin string // "" sends none
		status int
	}{
		{"a rebound page on /echo", "evil.example:" + port, "/echo", "http://evil.example:" + port, http.StatusForbidden},
		{"a rebound page on /websocket", "evil.example:" + port, "/websocket", "http://evil.example:" + port, http.StatusForbidden},
		{"a rebound page on the default port", "evil.example", "/websocket", "http://evil.example", http.StatusForbidden},
		{"no Origin, another host", "evil.example:" + port, "/echo", "", http.StatusForbidden},
		{"a loopback name as a prefix", "localhost.evil.example:" + port, "/echo", "", http.StatusForbidden},
		{"a loopback address as a prefix", "127.0.0.1.evil.example:" + port, "/echo", "", http.StatusForbidden},
		{"another loopback address", "127.0.0.2:" + port, "/echo", "", http.StatusForbidden},
		{"an empty Host", "", "/echo", "", http.StatusForbidden},
		{"/%65cho, another host", "evil.example:" + port, "/%65cho", "", http.StatusForbidden},
		{"/%77ebsocket, another host", "evil.example:" + port, "/%77ebsocket", "", http.StatusForbidden},
		{"/echo?x, another host", "evil.example:" + port, "/echo?x=/", "", http.StatusForbidden},
		{"localhost", "localhost:" + port, "/echo", "", http.StatusSwitchingProtocols},
		{"localhost, the page's own origin", "localhost:" + port, "/websocket", "http://localhost:" + port, http.StatusSwitchingProtocols},
		{"127.0.0.1", "127.0.0.1:" + port, "/websocket", "", http.StatusSwitchingProtocols},
		{"[::1]", "[::1]:" + port, "/echo", "", http.StatusSwitchingProtocols},
		{"LOCALHOST", "LOCALHOST:" + port, "/echo", "", http.StatusSwitchingProtocols},
		{"localhost without a port", "localhost", "/echo", "", http.StatusSwitchingProtocols},
		{"/%65cho, localhost", "localhost:" + port, "/%65cho", "", http.StatusSwitchingProtocols},
		{"a name of -hosts", "app.example", "/echo", "", http.StatusSwitchingProtocols},
		{"a name of -hosts, any port", "app.example:8443", "/websocket", "", http.StatusSwitchingProtocols},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var extra []string
			if tt.origin != "" {
				extra = append(extra, "Origin: "+tt.origin)
			}
			c := connect(t, app.Server, handshakeRequest(tt.host, tt.path, extra...))
			if tt.status == http.StatusSwitchingProtocols {
				c.expectAccepted(sampleAccept, nil)
				c.bye()
				return
			}
			c.expectRefused([]int{tt.status}, false)
		})
	}
}

// TestAllowedHosts is the decision behind TestHosts: the guard is on
// exactly when the server listens on a loopback address. On any other
// address the server's public names are unknown, so no Host is refused
// unless -hosts names the allowed ones.
func TestAllowedHosts(t *testing.T) {
	loopback := []string{"localhost", "127.0.0.1", "::1"}
	tests := []struct {
		listening string
		extra     []string
		want      []string
	}{
		{"127.0.0.1:5000", nil, loopback},
		{"[::1]:5000", nil, loopback},
		{"127.0.0.1:0", []string{"app.example"}, append(slices.Clone(loopback), "app.example")},
		{"127.0.0.2:5000", nil, append(slices.Clone(loopback), "127.0.0.2")},
		{"0.0.0.0:5000", nil, nil},
		{"[::]:5000", nil, nil},
		{"192.0.2.1:80", nil, nil},
		{"[2001:db8::1]:80", nil, nil},
		{"192.0.2.1:80", []string{"app.example"}, []string{"app.example"}},
	}
	for _, tt := range tests {
		if got := allowedHosts(addrString(tt.listening), tt.extra); !slices.Equal(got, tt.want) {
			t.Errorf("allowedHosts(%s, %q) = %q, want %q", tt.listening, tt.extra, got, tt.want)
		}
	}
}

// TestMaxConns is the cap on concurrent connections (-max-conns, §10.4):
// limit-1 and limit connections open, the next handshake gets 503 before
// any upgrade, and a place comes back whenever a connection ends, however
// it ends. A handshake refused for another reason holds no place.
func TestMaxConns(t *testing.T) {
	const limit = 3
	app := startHardenedApp(t, hardening{maxConns: limit})
	host := app.Listener.Addr().String()
	refused := func(t testing.TB, status int, request string) {
		t.Helper()
		connect(t, app.Server, request).expectRefused([]int{status}, false)
	}
	open := make([]*testClient, 0, limit)
	for range limit - 1 {
		open = append(open, dial(t, app.Server, "/echo"))
	}
	// At limit-1: refused handshakes give their place back at once.
	refused(t, http.StatusForbidden, handshakeRequest("evil.example", "/echo"))
	refused(t, http.StatusBadRequest, strings.Replace(handshakeRequest(host, "/echo"), "Sec-WebSocket-Key", "X-Key", 1))
	refused(t, http.StatusUpgradeRequired, strings.Replace(handshakeRequest(host, "/websocket"), "Version: 13", "Version: 8", 1))
	open = append(open, dial(t, app.Server, "/websocket")) // the limit
	if n := app.s.openConns(); n != limit {
		t.Fatalf("%d connections counted, want %d", n, limit)
	}

	// limit+1, on either endpoint: 503, no upgrade, and the connections
	// already open are untouched.
	refused(t, http.StatusServiceUnavailable, handshakeRequest(host, "/echo"))
	refused(t, http.StatusServiceUnavailable, handshakeRequest(host, "/websocket"))
	for i, c := range open[:limit-1] {
		msg := fmt.Sprintf("still open %d", i)
		c.send(text(msg))
		c.expect(text(msg))
	}

	// Every way a connection ends gives its place back.
	ends := []struct {
		name string
		end  func(c *testClient)
	}{
		{"a closing handshake", func(c *testClient) { c.bye() }},
		{"a dropped TCP connection", func(c *testClient) { c.nc.Close() }},
		{"a protocol error", func(c *testClient) {
			c.send(frame{fin: true, op: OpText, payload: []byte("x"), unmasked: true})
			c.expectClose(StatusProtocolError)
			c.nc.Close()
		}},
	}
	// Not subtests: the connections outlive each step.
	for i, e := range ends {
		e.end(open[i])
		eventually(t, "given back after "+e.name, func() bool { return app.s.openConns() < limit })
		open[i] = dial(t, app.Server, "/echo")
		refused(t, http.StatusServiceUnavailable, handshakeRequest(host, "/echo"))
	}
	for _, c := range open {
		c.bye()
	}
	allGivenBack(t, app.s)

	line := app.logs.waitFor(t, "a 503 logged", func(line string) bool { return strings.Contains(line, "503 Service Unavailable") })
	if !strings.Contains(line, "already 3 connections open") {
		t.Errorf("the refusal is logged as %s", line)
	}
}

// TestHandshakeDuringShutdown: once the server has begun to shut down
// (goingAway, which Shutdown calls), a handshake that still arrives, on a
// connection net/http has not closed yet, gets 503 rather than a
// WebSocket that would be closed at once.
func TestHandshakeDuringShutdown(t *testing.T) {
	app := startHardenedApp(t, hardening{})
	app.s.goingAway()
	c := connect(t, app.Server, handshakeRequest(app.Listener.Addr().String(), "/echo"))
	c.expectRefused([]int{http.StatusServiceUnavailable}, false)
}

// TestMaxHeaderBytes is the limit on the handshake's request head
// (-max-header-bytes, §10.4): a head of limit-1 or limit bytes is accepted,
// limit+1 gets 431 (RFC 6585 §5). net/http's own MaxHeaderBytes is not
// exact: it reads 4 KiB past the limit before it answers 431, so the
// handler counts the head itself, to the byte; net/http's check remains
// for heads far beyond the limit, which never reach a handler.
func TestMaxHeaderBytes(t *testing.T) {
	// net/http holds a connection it answered 431 half a second before it
	// closes it (rstAvoidanceDelay): let other tests run meanwhile.
	t.Parallel()
	const limit = 2048
	app := startHardenedApp(t, hardening{maxHeaderBytes: limit})
	host := app.Listener.Addr().String()
	// headOf returns a valid handshake for path, with the extra header
	// lines, whose head is exactly n bytes long, padded with X-Pad.
	headOf := func(path string, n int, extra ...string) string {
		base := len(handshakeRequest(host, path, append(extra, "X-Pad: ")...))
		return handshakeRequest(host, path, append(extra, "X-Pad: "+strings.Repeat("p", n-base))...)
	}
	short := slices.Repeat([]string{"X: 1"}, 100)
	tests := []struct {
		name   string
		head   string
		status int
		body   string // of a refusal: who refused it
	}{
		{"limit-1", headOf("/echo", limit-1), http.StatusSwitchingProtocols, ""},
		{"limit", headOf("/echo", limit), http.StatusSwitchingProtocols, ""},
		{"limit on /websocket", headOf("/websocket", limit), http.StatusSwitchingProtocols, ""},
		{"limit+1", headOf("/echo", limit+1), http.StatusRequestHeaderFieldsTooLarge, "request head larger than 2048 bytes\n"},
		{"limit+1 on /websocket", headOf("/websocket", limit+1), http.StatusRequestHeaderFieldsTooLarge, "request head larger than 2048 bytes\n"},
		{"limit in many short lines", headOf("/echo", limit, short...), http.StatusSwitchingProtocols, ""},
		{"limit+1 in many short lines", headOf("/echo", limit+1, short...), http.StatusRequestHeaderFieldsTooLarge, "request head larger than 2048 bytes\n"},
		{"limit + 4 KiB, refused by net/http", headOf("/echo", limit+4096+1024), http.StatusRequestHeaderFieldsTooLarge, "431 Request Header Fields Too Large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := connect(t, app.Server, tt.head)
			if tt.status == http.StatusSwitchingProtocols {
				c.expectAccepted(sampleAccept, nil)
				c.bye()
				return
			}
			if c.resp.StatusCode != tt.status {
				t.Fatalf("a head of %d bytes: %s, want %d", len(tt.head), c.resp.Status, tt.status)
			}
			if body, _ := io.ReadAll(c.resp.Body); string(body) != tt.body {
				t.Errorf("body %q, want %q", body, tt.body)
			}
		})
	}
}

// TestHandshakeTimeout: a client has -handshake-timeout for its whole
// request head, however it trickles in, and no longer (§10.4: a slowloris
// holds a connection and a goroutine for as long as it is let). The server
// closes the connection, with no answer or net/http's 400, depending on
// where in the head the deadline struck. Each case would hold the
// connection past the client's own deadline (testTimeout) if the timeout
// were not enforced; nothing is timed. The cases run side by side.
func TestHandshakeTimeout(t *testing.T) {
	const timeout = 200 * time.Millisecond
	// The WebSocket's first ping comes after half its idle timeout: later
	// than the handshake timeout.
	app := startHardenedApp(t, hardening{handshakeTimeout: timeout, opts: Options{IdleTimeout: 3 * timeout}})
	head := handshakeRequest(app.Listener.Addr().String(), "/echo")

	t.Run("a head that stops halfway", func(t *testing.T) {
		t.Parallel()
		c := rawClient(t, app.Server)
		c.write([]byte(head[:len(head)/2]))
		checkDropped(t, c.readAll())
	})
	t.Run("a head of one byte every 10 ms", func(t *testing.T) {
		t.Parallel()
		// A deadline per read would never expire: the head must be whole
		// within the timeout. Its X-Pad makes it take 100 s at this pace.
		c := rawClient(t, app.Server)
		slow := []byte(strings.Replace(head, "\r\n\r\n", "\r\nX-Pad: "+strings.Repeat("p", 10000)+"\r\n\r\n", 1))
		closed := make(chan []byte, 1)
		go func() { closed <- c.readAllQuietly() }()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case rest := <-closed:
				checkDropped(t, rest)
				return
			case <-tick.C:
				if i == len(slow) {
					t.Fatal("the whole head was sent, slowly, and the server waited for it")
				}
				c.nc.Write(slow[i : i+1]) // fails once the server has closed
			}
		}
	})
	t.Run("a silent keep-alive connection", func(t *testing.T) {
		t.Parallel()
		// After a request, the next one has the same time to arrive.
		c := rawClient(t, app.Server)
		c.write([]byte("GET / HTTP/1.1\r\nHost: " + app.Listener.Addr().String() + "\r\n\r\n"))
		resp, err := http.ReadResponse(c.br, nil)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /: %v %v", resp, err)
		}
		io.Copy(io.Discard, resp.Body)
		if rest := c.readAll(); len(rest) > 0 {
			t.Errorf("the server sent %q", rest)
		}
	})
	t.Run("a WebSocket outlives the handshake timeout", func(t *testing.T) {
		t.Parallel()
		// Upgrade lifts the handshake's deadlines: the connection is still
		// open when the server pings, after 1.5 handshake timeouts.
		c := dial(t, app.Server, "/echo")
		c.expect(ping(""))
		c.send(pong(""), text("after the handshake timeout"))
		c.expect(text("after the handshake timeout"))
		c.closeHandshake()
	})
}

// checkDropped fails the test unless rest, what a server sent before it
// closed a connection whose request head was never complete, is nothing,
// or net/http's 400: never a 101, nor any other answer.
func checkDropped(t *testing.T, rest []byte) {
	t.Helper()
	if len(rest) > 0 && !strings.HasPrefix(string(rest), "HTTP/1.1 400 Bad Request\r\n") {
		t.Errorf("the server answered %q", rest)
	}
}

// readAll returns what the server sends until it closes the connection,
// and fails the test if that takes longer than testTimeout.
func (c *testClient) readAll() []byte {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(testTimeout))
	rest, err := io.ReadAll(c.br)
	if err != nil {
		c.t.Fatalf("waiting for the server to close the connection: %v (after %q)", err, rest)
	}
	return rest
}

// readAllQuietly is readAll for another goroutine than the test's: on
// error it reports nil, and the test's own bound ends the wait.
func (c *testClient) readAllQuietly() []byte {
	c.nc.SetReadDeadline(time.Now().Add(testTimeout))
	rest, _ := io.ReadAll(c.br)
	return rest
}

// testBinaryHardening runs the built binary with the flags of its limits
// and timeouts, and stops it with SIGTERM while connections of every kind
// are open: each that still reads gets 1001 (§7.4.1, S-66), and the
// process exits 0 (TestBinary's subtests).
func testBinaryHardening(t *testing.T, bin string) {
	// Each runs its own process: side by side, once TestBinary's own
	// subtests are done.
	t.Run("help lists the limits and timeouts", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		out, _ := exec.CommandContext(ctx, bin, "-h").CombinedOutput()
		for _, flag := range []string{
			"-close-timeout duration", "(default 5s)",
			"-handshake-timeout duration", "(default 10s)",
			"-hosts string",
			"-idle-timeout duration", "(default 1m0s)",
			"-max-conns int", "(default 20000)",
			"-max-fragments int", "(default 131072)",
			"-max-header-bytes int", "(default 16384)",
			"-shutdown-timeout duration",
		} {
			if !strings.Contains(string(out), flag) {
				t.Errorf("-h does not show %q; it shows\n%s", flag, out)
			}
		}
	})

	t.Run("limits", func(t *testing.T) {
		t.Parallel()
		p := startBinary(t, bin, "-addr", "127.0.0.1:0", "-max-conns", "2", "-max-fragments", "3",
			"-max-header-bytes", "2000", "-hosts", "app.example", "-handshake-timeout", "300ms")
		status := func(request string) int {
			t.Helper()
			c := connectAddr(t, p.addr, request)
			c.nc.Close()
			return c.resp.StatusCode
		}
		if got := status(handshakeRequest("evil.example:80", "/echo")); got != http.StatusForbidden {
			t.Errorf("Host evil.example: %d, want 403 (the server listens on loopback)", got)
		}
		padded := handshakeRequest(p.addr, "/echo", "X-Pad: ")
		padded = handshakeRequest(p.addr, "/echo", "X-Pad: "+strings.Repeat("p", 2001-len(padded)))
		if got := status(padded); got != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("a head of 2001 bytes: %d, want 431 (-max-header-bytes 2000)", got)
		}
		slow := connectRaw(t, p.addr)
		slow.write([]byte("GET /echo HTTP/1.1\r\n"))
		checkDropped(t, slow.readAll()) // -handshake-timeout 300ms

		a := connectAddr(t, p.addr, handshakeRequest("app.example", "/echo")) // -hosts
		a.expectAccepted(sampleAccept, nil)
		b := connectAddr(t, p.addr, handshakeRequest("app.example:8080", "/websocket"))
		if b.resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("Host app.example:8080 with -hosts app.example: %s, want 101", b.resp.Status)
		}
		if got := status(handshakeRequest(p.addr, "/echo")); got != http.StatusServiceUnavailable {
			t.Errorf("a third connection: %d, want 503 (-max-conns 2)", got)
		}
		a.send(inFragments(OpText, "a", "b", "c")...)
		a.expect(text("abc"))
		a.send(inFragments(OpText, "a", "b", "c", "d")...)
		a.answerClose(StatusTooBig, "message in more than 3 fragments") // -max-fragments 3
		b.bye()
	})

	t.Run("idle timeout", func(t *testing.T) {
		t.Parallel()
		// A silent client is pinged, then dropped.
		p := startBinary(t, bin, "-addr", "127.0.0.1:0", "-idle-timeout", "300ms", "-close-timeout", "1h")
		c := dialAddr(t, p.addr, "/echo")
		c.expect(ping(""))
		c.expectEOF()
	})
	t.Run("close timeout", func(t *testing.T) {
		t.Parallel()
		// A Close that is never answered; the idle timeout is an hour, so
		// only the close timeout can end the connection.
		p := startBinary(t, bin, "-addr", "127.0.0.1:0", "-idle-timeout", "1h", "-close-timeout", "300ms")
		c := dialAddr(t, p.addr, "/websocket")
		c.send(binaryFrame([]byte{1}))
		c.readClose(StatusUnsupportedData)
		c.expectEOF()
	})

	t.Run("SIGTERM with connections of every kind", func(t *testing.T) {
		t.Parallel()
		p := startBinary(t, bin, "-addr", "127.0.0.1:0", "-close-timeout", "500ms", "-shutdown-timeout", "3s")
		idle := dialAddr(t, p.addr, "/echo")
		jsonClient := dialAddr(t, p.addr, "/websocket")
		jsonClient.send(text(pageMessage))
		jsonClient.expectReply(map[string]string{"output": pageReply})
		halfway := dialAddr(t, p.addr, "/echo") // in the middle of a message
		halfway.send(fragment(true, false, text("half")))
		silent := dialAddr(t, p.addr, "/echo") // will not answer the Close
		deaf := dialAddr(t, p.addr, "/echo")   // reads nothing: its echo blocks
		deaf.send(binaryFrame(make([]byte, 8<<20)))
		// Every handler is running once one of them has answered after the
		// others connected: the server handles connections independently,
		// so wait for each to show it is open.
		for _, c := range []*testClient{idle, halfway, silent} {
			c.send(ping("open?"))
			c.expect(pong("open?"))
		}
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		for _, c := range []*testClient{idle, jsonClient, halfway} {
			c.answerClose(StatusGoingAway, "server shutting down")
		}
		silent.readClose(StatusGoingAway)
		silent.expectEOF() // after -close-timeout
		if err := p.wait(t); err != nil {
			t.Fatalf("after SIGTERM: %v, want exit status 0; the log:\n%s", err, p.stderr)
		}
		// Stopped: nothing listens any more.
		if nc, err := net.DialTimeout("tcp", p.addr, testTimeout); err == nil {
			nc.Close()
			t.Error("the port still accepts connections after the process exited")
		}
		// The log tells each connection's end: 1001 for those that answered,
		// 1006 for the one that did not (§7.1.5); the deaf one, 1006 if its
		// echo was cut off, 1001 if the Close came first.
		codes := map[string]string{}
		for _, line := range p.stderr.lines() {
			if m := regexp.MustCompile(`msg="websocket closed" remote=(\S+) .* code=(\d+) `).FindStringSubmatch(line); m != nil {
				codes[m[1]] = m[2]
			}
		}
		for c, want := range map[*testClient]string{idle: "1001", jsonClient: "1001", halfway: "1001", silent: "1006"} {
			if got := codes[c.nc.LocalAddr().String()]; got != want {
				t.Errorf("the connection from %s closed with %q, want %s; the log:\n%s", c.nc.LocalAddr(), got, want, p.stderr)
			}
		}
		if got := codes[deaf.nc.LocalAddr().String()]; got != "1001" && got != "1006" {
			t.Errorf("the deaf connection closed with %q, want 1001 or 1006", got)
		}
	})
}

// TestNoLeaks opens connections and ends them every way a connection can
// end, then checks that the server left nothing behind: the goroutine
// count back at its baseline, and on Linux every file descriptor closed
// (/proc/self/fd, which counts the clients' sockets and the servers'
// listeners too, all of which the test closes). Each way has its own
// server, stopped before the count.
func TestNoLeaks(t *testing.T) {
	// The network poller keeps a descriptor or two from the first
	// connection on: open one before the baseline.
	rawClient(t, startHardenedApp(t, hardening{}).Server).nc.Close()
	baseGoroutines, baseFDs := runtime.NumGoroutine(), openFDs()

	const short, long = 200 * time.Millisecond, time.Hour
	quick := hardening{opts: Options{IdleTimeout: short, CloseTimeout: short}}
	patient := hardening{opts: Options{IdleTimeout: long, CloseTimeout: long}}
	ways := []struct {
		name string
		h    hardening
		end  func(t *testing.T, app *testApp)
	}{
		{"a Close from the client", patient, func(t *testing.T, app *testApp) {
			c := dial(t, app.Server, "/echo")
			c.send(text("hello"))
			c.expect(text("hello"))
			c.closeHandshake()
		}},
		{"a Close from the server, answered", patient, func(t *testing.T, app *testApp) {
			c := dial(t, app.Server, "/websocket")
			c.send(binaryFrame([]byte{1}))
			c.answerClose(StatusUnsupportedData, "this endpoint takes JSON text, not binary")
		}},
		{"a Close from the server, never answered", quick, func(t *testing.T, app *testApp) {
			c := dial(t, app.Server, "/websocket")
			c.send(binaryFrame([]byte{1}))
			c.expectClose(StatusUnsupportedData)
		}},
		{"TCP dropped in the middle of a frame", patient, func(t *testing.T, app *testApp) {
			c := dial(t, app.Server, "/echo")
			b := c.encode(text("0123456789"))
			c.write(b[:len(b)-4])
			c.nc.Close()
		}},
		{"TCP reset in the middle of a frame", patient, func(t *testing.T, app *testApp) {
			c := dial(t, app.Server, "/echo")
			b := c.encode(binaryFrame(make([]byte, 1000)))
			c.write(b[:500])
			c.nc.(*net.TCPConn).SetLinger(0)
			c.nc.Close()
		}},
		{"a protocol error", patient, func(t *testing.T, app *testApp) {
			c := dial(t, app.Server, "/echo")
			c.send(frame{fin: true, op: OpText, payload: []byte("x"), unmasked: true})
			c.expectClose(StatusProtocolError)
		}},
		{"a message too big", patient, func(t *testing.T, app *testApp) {
			c := dial(t, app.Server, "/websocket")
			c.write(maskedHeader(0x82, 1<<40))
			c.expectClose(StatusTooBig)
		}},
		{"an idle timeout", quick, func(t *testing.T, app *testApp) {
			c := dial(t, app.Server, "/echo")
			c.expect(ping(""))
			c.expectEOF()
		}},
		{"a peer that stops reading", quick, func(t *testing.T, app *testApp) {
			c := dial(t, app.Server, "/echo")
			msg := c.encode(binaryFrame(make([]byte, 1<<20)))
			c.nc.SetWriteDeadline(time.Now().Add(testTimeout))
			for {
				if _, err := c.nc.Write(msg); err != nil {
					break // the server gave up on the echo, and closed
				}
			}
		}},
		{"a handshake refused", patient, func(t *testing.T, app *testApp) {
			connect(t, app.Server, handshakeRequest("evil.example", "/echo")).expectRefused([]int{http.StatusForbidden}, false)
		}},
		{"a handshake too slow", hardening{handshakeTimeout: short}, func(t *testing.T, app *testApp) {
			c := rawClient(t, app.Server)
			c.write([]byte("GET /echo HTTP/1.1\r\n"))
			checkDropped(t, c.readAll())
		}},
		{"a handshake over the connection limit", hardening{maxConns: 1}, func(t *testing.T, app *testApp) {
			c := dial(t, app.Server, "/echo")
			connect(t, app.Server, handshakeRequest(app.Listener.Addr().String(), "/echo")).expectRefused([]int{http.StatusServiceUnavailable}, false)
			c.closeHandshake()
		}},
		{"shutdown", hardening{opts: Options{IdleTimeout: long, CloseTimeout: short}}, func(t *testing.T, app *testApp) {
			answers, silent := dial(t, app.Server, "/echo"), dial(t, app.Server, "/websocket")
			for _, c := range []*testClient{answers, silent} { // both handlers are running
				c.send(ping(""))
				c.expect(pong(""))
			}
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			if err := app.Config.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			answers.answerClose(StatusGoingAway, "server shutting down")
			silent.expectClose(StatusGoingAway) // dropped after the close timeout
			if !app.s.wait(ctx) {
				t.Fatal("a handler still running after Shutdown")
			}
		}},
	}
	// Side by side, each with its own server; the group returns once all
	// have ended and their servers stopped.
	t.Run("every way", func(t *testing.T) {
		for _, way := range ways {
			t.Run(way.name, func(t *testing.T) {
				t.Parallel()
				app := startHardenedApp(t, way.h)
				way.end(t, app)
				// Cleanup stops the server and waits for its conversations.
			})
		}
	})

	// Leaks take a moment to show: a goroutine may still be returning,
	// a descriptor still closing. Wait for the counts to come back, and
	// show what is left if they do not.
	if leaks := leftOver(baseGoroutines, baseFDs); leaks != "" {
		t.Fatal(leaks)
	}
}

// leftOver waits, at most testTimeout, for the goroutine count and the
// open file descriptors to come back to their baseline, and if they do
// not, says what is left. It runs on the test's own goroutine: a
// subtest's would count one more.
func leftOver(baseGoroutines, baseFDs int) string {
	var goroutines, fds int
	if poll(func() bool {
		goroutines, fds = runtime.NumGoroutine(), openFDs()
		return goroutines <= baseGoroutines && fds <= baseFDs
	}) {
		return ""
	}
	stacks := make([]byte, 1<<20)
	stacks = stacks[:runtime.Stack(stacks, true)]
	return fmt.Sprintf("after %v: %d goroutines (baseline %d), %d file descriptors (baseline %d): %s\n%s",
		testTimeout, goroutines, baseGoroutines, fds, baseFDs, listFDs(), stacks)
}

// openFDs is the number of this process's open file descriptors on Linux,
// and 0 elsewhere.
func openFDs() int {
	entries, _ := os.ReadDir("/proc/self/fd")
	return len(entries)
}

// listFDs says what each open file descriptor is, for a failure message.
func listFDs() string {
	entries, _ := os.ReadDir("/proc/self/fd")
	var b strings.Builder
	for _, e := range entries {
		target, _ := os.Readlink("/proc/self/fd/" + e.Name())
		fmt.Fprintf(&b, "%s -> %s\n", e.Name(), target)
	}
	return b.String()
}

// TestLoad holds 1,000 WebSockets open at once on loopback, each a client
// of this package's own (Dial, which masks as §5.3 asks), then has every
// one echo messages of mixed sizes, all at the same time: text and
// binary, of each length form of §5.2 (7-bit, 16-bit and 64-bit), and
// checks every byte that comes back. Then every client closes (§7.1.2)
// and every connection is given back. The whole test is bounded.
func TestLoad(t *testing.T) {
	const conns, messages = 1000, 4
	sizes := []int{0, 1, 125, 126, 1000, 200, 20, 300, 65536, 4096, 100, 7, 2000, 127, 16, 50}
	app := startHardenedApp(t, hardening{maxConns: conns})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	url := "ws://" + app.Listener.Addr().String() + "/echo"

	// All open at once.
	clients := make([]*Conn, conns)
	errs := make(chan error, conns)
	for i := range clients {
		go func() {
			var err error
			clients[i], err = Dial(ctx, url, nil)
			errs <- err
		}()
	}
	for range conns {
		if err := <-errs; err != nil { // Dial is bounded by ctx
			t.Fatalf("Dial: %v", err)
		}
	}
	defer func() {
		for _, c := range clients {
			c.t.Close() // if the test failed before they closed
		}
	}()
	if n := app.s.openConns(); n != conns {
		t.Fatalf("%d connections open, want %d", n, conns)
	}

	// All echo at once; each message is unique to its connection.
	var bytesEchoed atomic.Int64
	for i, c := range clients {
		go func() {
			stop := context.AfterFunc(ctx, func() { c.t.Close() })
			defer stop()
			for j := range messages {
				size := sizes[(i*3+j)%len(sizes)]
				op, msg := OpBinary, make([]byte, size)
				for k := range msg {
					msg[k] = byte(i + j + k)
				}
				if j%2 == 0 {
					op = OpText
					for k := range msg {
						msg[k] = 'a' + msg[k]%26
					}
				}
				if err := c.WriteMessage(op, msg); err != nil {
					errs <- fmt.Errorf("connection %d, message %d: %v", i, j, err)
					return
				}
				gotOp, got, err := c.ReadMessage()
				switch {
				case err != nil:
					errs <- fmt.Errorf("connection %d, message %d: %v", i, j, err)
					return
				case gotOp != op || !bytes.Equal(got, msg):
					errs <- fmt.Errorf("connection %d, message %d: sent %d bytes of opcode %d, got %d bytes of opcode %d back, or other bytes", i, j, len(msg), op, len(got), gotOp)
					return
				}
				bytesEchoed.Add(int64(size))
			}
			errs <- c.Close(StatusNormal, "")
		}()
	}
	for range conns {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d connections echoed %d messages, %d bytes", conns, conns*messages, bytesEchoed.Load())
	allGivenBack(t, app.s)
}
