package main

// The page in a real browser: headless Chromium, driven through the Chrome
// DevTools Protocol (CDP), with no dependency: commands and events are JSON
// text messages on a WebSocket to Chromium's DevTools server
// (--remote-debugging-port), and the client is this project's own, Dial.
// So the test proves both ends against code nobody here wrote: the server
// against Chromium's WebSocket, and Dial against Chromium's server.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// cdpTimeout bounds every wait on the browser: one command, or one page
// condition. A cold start of Chromium on a busy CI machine takes seconds.
const cdpTimeout = 30 * time.Second

// TestBrowser loads the page in Chromium, clicks Send, sends a message of
// its own that tries to inject markup, has the browser's own WebSocket
// echo 1 MiB of text and a binary ArrayBuffer on /echo, and closes the
// page; the browser must report no error on the way, nor ask anything of
// another server, and the server must see each WebSocket closed with a
// closing handshake.
func TestBrowser(t *testing.T) {
	chromium := findBrowser(t)
	var requests requestLog
	// Compression as the binary has it by default (RFC 7692).
	app := startApp(t, Options{Compression: &DeflateOptions{}}, func(s *server) http.Handler { return requests.record(s.routes()) })
	browser, page := openPage(t, chromium, app.URL+"/") // it loads, connects, and says so
	expectExtension(t, page, "permessage-deflate")

	// Before the first message, a line says what to do; the first reply
	// takes its place.
	if hint := page.eval(`hint.hidden ? "" : hint.textContent`); !strings.HasPrefix(hint.(string), "Press Send") {
		t.Errorf("before the first message the hint reads %q, want it to say: press Send", hint)
	}
	// Send: the tutorial's message, and its answer, in two lines.
	page.click("#send")
	entry := page.evalEntry(1)
	if hidden := page.eval(`hint.hidden`); hidden != true {
		t.Error("the hint is still shown after the first reply")
	}
	if want := "I have received this message from you : Sent from my browser!\nGlad to be your webserver."; entry.Text != want {
		t.Errorf("first entry reads %q, want %q", entry.Text, want)
	}
	if want := "I have received this message from you : Sent from my browser!<br>Glad to be your webserver."; entry.HTML != want {
		t.Errorf("first entry is %q, want %q", entry.HTML, want)
	}

	// A message of the user's own that would run script if it became
	// markup: it must come back as the text that was typed.
	const attack = `<img src=x onerror="window.pwned=1">`
	page.click("#message")
	page.call("Input.insertText", map[string]any{"text": attack}, nil)
	page.pressEnter()
	entry = page.evalEntry(2)
	if want := "I have received this message from you : " + attack + "\nGlad to be your webserver."; entry.Text != want {
		t.Errorf("second entry reads %q, want %q", entry.Text, want)
	}
	if n := page.eval(`document.querySelectorAll("#log img").length`); n != float64(0) {
		t.Errorf("#log holds %v img elements, want 0", n)
	}
	if pwned := page.eval(`typeof window.pwned`); pwned != "undefined" {
		t.Errorf("typeof window.pwned is %q: the user's markup ran", pwned)
	}
	if typed := page.eval(`document.getElementById("message").value`); typed != "" {
		t.Errorf("#message still holds %q after sending, want it empty", typed)
	}

	// The browser's own WebSocket, in the same page, on /echo: 1 MiB of
	// text (the server's limit) made of 1- to 4-byte code points, which
	// Chromium may fragment, and a binary ArrayBuffer with every byte
	// value, longer than 64 KiB (the 64-bit length form). The page checks
	// both echoes byte for byte, then closes with 1000 "done".
	var echoed struct {
		TextBytes         int  `json:"textBytes"`
		TextSame          bool `json:"textSame"`
		BinaryArrayBuffer bool `json:"binaryArrayBuffer"`
		BinaryBytes       int  `json:"binaryBytes"`
		BinarySame        bool `json:"binarySame"`
		Code              int  `json:"code"`
		WasClean          bool `json:"wasClean"`
	}
	b, _ := json.Marshal(page.eval(echoInBrowser))
	if err := json.Unmarshal(b, &echoed); err != nil {
		t.Fatalf("the echo check returned %s: %v", b, err)
	}
	if !echoed.TextSame || echoed.TextBytes != 1<<20 {
		t.Errorf("the text echo of %d bytes of UTF-8: same %v, want the 1 MiB sent back", echoed.TextBytes, echoed.TextSame)
	}
	if !echoed.BinaryArrayBuffer || !echoed.BinarySame {
		t.Errorf("the binary echo of %d bytes: an ArrayBuffer %v, same %v, want both", echoed.BinaryBytes, echoed.BinaryArrayBuffer, echoed.BinarySame)
	}
	// The closing handshake: the page saw the server's answer, and the
	// server the page's Close.
	if echoed.Code != int(StatusNormal) || !echoed.WasClean {
		t.Errorf("the page saw /echo close with %d, clean %v; want 1000, clean", echoed.Code, echoed.WasClean)
	}
	line := app.logs.waitFor(t, `"websocket closed" for /echo`, func(line string) bool {
		return strings.Contains(line, `"websocket closed"`) && strings.Contains(line, `"path":"/echo"`)
	})
	var closed logEntry
	if err := json.Unmarshal([]byte(line), &closed); err != nil {
		t.Fatal(err)
	}
	if code, reason := closed["code"], closed["reason"]; code != float64(StatusNormal) || reason != "done" {
		t.Errorf("the server logged /echo closed with %v %q, want 1000 \"done\"", code, reason)
	}

	// Closing the page closes the socket with a closing handshake, which
	// the page starts on pagehide with 1000 "page closed". (Chromium alone
	// would send 1001; 1006 would mean the connection was dropped.)
	page.close()
	line = app.logs.waitFor(t, `"websocket closed" for /websocket`, func(line string) bool {
		return strings.Contains(line, `"websocket closed"`) && strings.Contains(line, `"path":"/websocket"`)
	})
	closed = logEntry{}
	if err := json.Unmarshal([]byte(line), &closed); err != nil {
		t.Fatal(err)
	}
	if code, reason := closed["code"], closed["reason"]; code != float64(StatusNormal) || reason != "page closed" {
		t.Errorf("the server logged the page's WebSocket closed with %v %q, want 1000 \"page closed\"", code, reason)
	}
	app.waitHandlers(t)

	// Nothing went wrong on the way, in the page or on the network, and
	// the page asked the server for nothing but itself and its sockets
	// (not even /favicon.ico: its icon is inline), and nothing of any
	// other server.
	for _, problem := range browser.problems() {
		t.Errorf("browser: %s", problem)
	}
	if want := []string{"GET /", "GET /websocket", "GET /echo"}; !slices.Equal(requests.list(), want) {
		t.Errorf("the browser requested %q, want %q", requests.list(), want)
	}
	server, _ := url.Parse(app.URL)
	for _, requested := range browser.requested() {
		if u, err := url.Parse(requested); err != nil || u.Host != server.Host {
			t.Errorf("the page requested %s, off the server %s", requested, server.Host)
		}
	}
	if opens := strings.Count(app.logs.String(), `"websocket open"`); opens != 2 {
		t.Errorf("%d WebSocket connections, want 2:\n%s", opens, app.logs)
	}
}

// echoInBrowser is a promise that has the page's own WebSocket echo a
// text of 1 MiB and a binary ArrayBuffer on /echo, and resolves to what
// came back, compared byte for byte, and how the socket closed.
const echoInBrowser = `new Promise((resolve, reject) => {
	// 1, 2, 3 and 4 bytes of UTF-8: 10 bytes, repeated to 1 MiB.
	const text = "aé€😀".repeat(104857) + "x".repeat(6);
	const bytes = new Uint8Array(70000);
	for (let i = 0; i < bytes.length; i++) bytes[i] = (i + (i >> 8)) & 0xff;
	const ws = new WebSocket(location.origin.replace(/^http/, "ws") + "/echo");
	ws.binaryType = "arraybuffer";
	const got = [];
	ws.onopen = () => { ws.send(text); ws.send(bytes.buffer); };
	ws.onmessage = (e) => {
		got.push(e.data);
		if (got.length === 2) ws.close(1000, "done");
	};
	ws.onerror = () => reject(new Error("the WebSocket to /echo failed"));
	ws.onclose = (e) => {
		const [t, b] = got;
		const back = b instanceof ArrayBuffer ? new Uint8Array(b) : new Uint8Array(0);
		resolve({
			textBytes: new TextEncoder().encode(text).length,
			textSame: t === text,
			binaryArrayBuffer: b instanceof ArrayBuffer,
			binaryBytes: back.length,
			binarySame: back.length === bytes.length && back.every((v, i) => v === bytes[i]),
			code: e.code, wasClean: e.wasClean,
		});
	};
})`

// openPage launches Chromium, with flags besides its usual ones, opens url
// in a new page, and waits until the page says its socket is open.
func openPage(t *testing.T, chromium, url string, flags ...string) (*cdpBrowser, *cdpPage) {
	t.Helper()
	browser := launchBrowser(t, chromium, flags...)
	page := browser.newPage()
	page.navigate(url)
	if state := page.eval(untilOpen); state != "open" {
		t.Fatalf("#state reads %q, want %q", state, "open")
	}
	return browser, page
}

// untilOpen is a promise that resolves to #state's data-state once the
// page says the socket is open, or fails if it says closed.
const untilOpen = `new Promise((resolve, reject) => {
	const state = document.getElementById("state");
	const check = () => {
		switch (state.dataset.state) {
		case "open": resolve("open"); return true;
		case "closed": reject(new Error(state.textContent)); return true;
		}
		return false;
	};
	if (!check()) {
		const watch = new MutationObserver(() => { if (check()) watch.disconnect(); });
		watch.observe(state, { attributes: true, attributeFilter: ["data-state"] });
	}
})`

// A logEntryView is one entry of the page's #log, as the user sees it
// (Text, where <br> is a line break) and as markup.
type logEntryView struct {
	Text string `json:"text"`
	HTML string `json:"html"`
}

// evalEntry waits for the page's #log to hold n entries and returns the
// n-th.
func (p *cdpPage) evalEntry(n int) logEntryView {
	p.t.Helper()
	value := p.eval(fmt.Sprintf(`new Promise((resolve) => {
		const log = document.getElementById("log");
		const check = () => {
			if (log.children.length < %d) return false;
			const entry = log.children[%d];
			resolve({ text: entry.innerText, html: entry.innerHTML });
			return true;
		};
		if (!check()) {
			const watch = new MutationObserver(() => { if (check()) watch.disconnect(); });
			watch.observe(log, { childList: true });
		}
	})`, n, n-1))
	b, _ := json.Marshal(value)
	var entry logEntryView
	if err := json.Unmarshal(b, &entry); err != nil {
		p.t.Fatalf("entry %d: %v", n, err)
	}
	return entry
}

// findBrowser returns the path of Chromium or Chrome. Without one the test
// is skipped, unless WSECHO_BROWSER=required (as in CI): then it fails.
func findBrowser(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	if os.Getenv("WSECHO_BROWSER") == "required" {
		t.Fatal("no chromium, chromium-browser or google-chrome on PATH, and WSECHO_BROWSER=required")
	}
	t.Skip("no chromium, chromium-browser or google-chrome on PATH (set WSECHO_BROWSER=required to fail instead)")
	return ""
}

// A requestLog records the method and path of every request a handler
// gets.
type requestLog struct {
	mu       sync.Mutex
	requests []string
}

func (l *requestLog) record(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		l.requests = append(l.requests, r.Method+" "+r.URL.Path)
		l.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

func (l *requestLog) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.requests)
}

// ---------------------------------------------------------------------------
// A tiny CDP client
// ---------------------------------------------------------------------------

// A cdpMessage is any message of CDP: a command (ID, Method, Params),
// its answer (ID, Result or Error) or an event (Method, Params). Commands
// to a page, and its events, carry the SessionID of attachToTarget.
type cdpMessage struct {
	ID        int             `json:"id,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
	Method    string          `json:"method,omitempty"`
	Params    json.RawMessage `json:"params,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

// A cdpBrowser is one Chromium process and the WebSocket to its DevTools
// server.
type cdpBrowser struct {
	t      *testing.T
	cmd    *exec.Cmd
	stderr *logCapture
	exited chan error
	conn   *Conn // from Dial; any goroutine may send on it

	mu       sync.Mutex
	nextID   int
	pending  map[int]chan cdpMessage // commands waiting for their answer
	events   []cdpMessage            // every event so far
	newEvent chan struct{}           // closed, and replaced, at every event
	readErr  error                   // why the connection to the browser ended
	gone     chan struct{}           // closed when it has
}

// launchBrowser starts Chromium headless, with a fresh profile and the
// flags extra, connects to its DevTools server with Dial, and closes it
// when the test ends.
func launchBrowser(t *testing.T, path string, extra ...string) *cdpBrowser {
	t.Helper()
	b := &cdpBrowser{
		t:        t,
		cmd:      exec.Command(path, browserFlags(t.TempDir(), extra...)...),
		stderr:   newLogCapture(),
		exited:   make(chan error, 1),
		pending:  make(map[int]chan cdpMessage),
		newEvent: make(chan struct{}),
		gone:     make(chan struct{}),
	}
	b.cmd.Stdout = b.stderr
	b.cmd.Stderr = b.stderr
	b.cmd.WaitDelay = testTimeout // its helpers may hold stderr open a little longer
	if err := b.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", path, err)
	}
	go func() { b.exited <- b.cmd.Wait() }()
	t.Cleanup(func() {
		b.quit()
		if t.Failed() {
			t.Logf("the browser's output:\n%s", b.stderr)
		}
	})

	// No Origin: Chromium refuses a DevTools connection whose Origin it
	// was not told to allow (--remote-allow-origins), and a client that is
	// not a browser sends none (§4.1 step 8). CDP events can be large (a
	// WebSocket frame the page sends is reported whole): 64 MiB.
	ctx, cancel := context.WithTimeout(context.Background(), cdpTimeout)
	defer cancel()
	conn, err := Dial(ctx, b.devToolsURL(), &DialOptions{Options: Options{MaxMessage: 64 << 20}})
	if err != nil {
		t.Fatalf("Dial to Chromium's DevTools server: %v", err)
	}
	b.conn = conn
	go b.read()
	return b
}

// browserFlags are the flags of a headless Chromium that runs as root in a
// container and contacts nothing but the test server. Port 0: its DevTools
// server listens on a port of its choosing, and says which on stderr.
// The page to open comes last, after extra.
func browserFlags(profile string, extra ...string) []string {
	flags := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking",
		"--disable-component-update", "--disable-sync",
		"--user-data-dir=" + profile,
		"--remote-debugging-port=0",
	}
	return append(append(flags, extra...), "about:blank")
}

// devToolsURL waits, at most cdpTimeout, for the line in which Chromium
// says where its DevTools server listens, "DevTools listening on
// ws://127.0.0.1:PORT/devtools/browser/ID", and returns the URL.
func (b *cdpBrowser) devToolsURL() string {
	b.t.Helper()
	const prefix = "DevTools listening on "
	timeout := time.NewTimer(cdpTimeout)
	defer timeout.Stop()
	for {
		b.stderr.mu.Lock()
		changed := b.stderr.changed
		b.stderr.mu.Unlock()
		for _, line := range b.stderr.lines() {
			if url, ok := strings.CutPrefix(strings.TrimSpace(line), prefix); ok {
				return url
			}
		}
		select {
		case <-changed:
		case err := <-b.exited:
			b.exited <- err // for quit
			b.t.Fatalf("the browser exited (%v) before its DevTools server listened", err)
		case <-timeout.C:
			b.t.Fatalf("no %q line from the browser after %v", prefix, cdpTimeout)
		}
	}
}

// quit asks the browser to close, and kills it if it has not exited in
// time; either way it has exited, and the connection to it is closed,
// when quit returns.
func (b *cdpBrowser) quit() {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if b.conn == nil || func() error { _, err := b.send(ctx, "", "Browser.close", nil); return err }() != nil {
		b.cmd.Process.Kill() // it cannot be asked, or it is exiting already
	}
	select {
	case <-b.exited:
	case <-ctx.Done():
		b.cmd.Process.Kill()
		<-b.exited // bounded by WaitDelay
	}
	if b.conn != nil {
		b.conn.Close(StatusGoingAway, "") // at once: the browser is gone
		<-b.gone
	}
}

// read dispatches every message the browser sends: answers to the
// command that waits for them, events to the list.
func (b *cdpBrowser) read() {
	var err error
	for {
		var msg []byte
		if _, msg, err = b.conn.ReadMessage(); err != nil {
			break
		}
		var m cdpMessage
		if err = json.Unmarshal(msg, &m); err != nil {
			break
		}
		b.mu.Lock()
		if m.ID != 0 {
			if ch, ok := b.pending[m.ID]; ok {
				delete(b.pending, m.ID)
				ch <- m
			}
		} else {
			b.events = append(b.events, m)
			close(b.newEvent)
			b.newEvent = make(chan struct{})
		}
		b.mu.Unlock()
	}
	b.mu.Lock()
	b.readErr = err
	b.mu.Unlock()
	close(b.gone)
}

// send sends a command and waits for its answer, at most until ctx ends.
func (b *cdpBrowser) send(ctx context.Context, session, method string, params any) (json.RawMessage, error) {
	b.mu.Lock()
	b.nextID++
	id := b.nextID
	answer := make(chan cdpMessage, 1)
	b.pending[id] = answer
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.pending, id)
		b.mu.Unlock()
	}()

	rawParams, err := json.Marshal(params)
	if err != nil {
		return nil, err
	}
	if params == nil {
		rawParams = nil
	}
	msg, err := json.Marshal(cdpMessage{ID: id, SessionID: session, Method: method, Params: rawParams})
	if err != nil {
		return nil, err
	}
	if err := b.conn.WriteMessage(OpText, msg); err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	select {
	case m := <-answer:
		if m.Error != nil {
			return nil, fmt.Errorf("%s: error %d: %s", method, m.Error.Code, m.Error.Message)
		}
		return m.Result, nil
	case <-b.gone:
		return nil, fmt.Errorf("%s: the browser is gone: %v", method, b.readErr)
	case <-ctx.Done():
		return nil, fmt.Errorf("%s: no answer: %w", method, ctx.Err())
	}
}

// call sends a command, fails the test unless it succeeds within
// cdpTimeout, and decodes its result into result, unless nil.
func (b *cdpBrowser) call(session, method string, params, result any) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cdpTimeout)
	defer cancel()
	raw, err := b.send(ctx, session, method, params)
	if err != nil {
		b.t.Fatal(err)
	}
	if result != nil {
		if err := json.Unmarshal(raw, result); err != nil {
			b.t.Fatalf("%s: %v in %s", method, err, raw)
		}
	}
}

// waitEvent waits, at most cdpTimeout, for an event of a session.
func (b *cdpBrowser) waitEvent(session, method string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cdpTimeout)
	defer cancel()
	for {
		b.mu.Lock()
		found := slices.ContainsFunc(b.events, func(m cdpMessage) bool { return m.SessionID == session && m.Method == method })
		newEvent := b.newEvent
		b.mu.Unlock()
		if found {
			return
		}
		select {
		case <-newEvent:
		case <-b.gone:
			b.t.Fatalf("waiting for %s: the browser is gone: %v", method, b.readErr)
		case <-ctx.Done():
			b.t.Fatalf("no %s after %v", method, cdpTimeout)
		}
	}
}

// problems lists what the browser reported as going wrong: console
// output, uncaught exceptions, log entries (CSP violations, failed
// loads), failed requests and HTTP errors.
func (b *cdpBrowser) problems() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var problems []string
	urls := make(map[string]string) // of each request, by id
	for _, e := range b.events {
		var p struct {
			RequestID string `json:"requestId"`
			Request   struct {
				URL string `json:"url"`
			} `json:"request"`
			Type             string `json:"type"`
			Args             []any  `json:"args"`
			ExceptionDetails any    `json:"exceptionDetails"`
			Entry            any    `json:"entry"`
			ErrorText        string `json:"errorText"`
			BlockedReason    string `json:"blockedReason"`
			ErrorMessage     string `json:"errorMessage"`
			Response         struct {
				URL    string `json:"url"`
				Status int    `json:"status"`
			} `json:"response"`
		}
		json.Unmarshal(e.Params, &p)
		switch e.Method {
		case "Network.requestWillBeSent":
			urls[p.RequestID] = p.Request.URL
		case "Runtime.consoleAPICalled":
			problems = append(problems, fmt.Sprintf("console.%s %v", p.Type, p.Args))
		case "Runtime.exceptionThrown":
			problems = append(problems, fmt.Sprintf("exception %v", p.ExceptionDetails))
		case "Log.entryAdded":
			problems = append(problems, fmt.Sprintf("log %v", p.Entry))
		case "Network.loadingFailed":
			problems = append(problems, fmt.Sprintf("loading %s %s failed: %q, blocked: %q", p.Type, urls[p.RequestID], p.ErrorText, p.BlockedReason))
		case "Network.webSocketFrameError":
			problems = append(problems, "WebSocket frame error: "+p.ErrorMessage)
		case "Network.responseReceived":
			if p.Response.Status >= 400 {
				problems = append(problems, fmt.Sprintf("%s: HTTP %d", p.Response.URL, p.Response.Status))
			}
		}
	}
	return problems
}

// requested lists the URL of every request the browser reported, HTTP
// and WebSocket alike.
func (b *cdpBrowser) requested() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var urls []string
	for _, e := range b.events {
		var p struct {
			URL     string `json:"url"` // Network.webSocketCreated
			Request struct {
				URL string `json:"url"`
			} `json:"request"`
		}
		json.Unmarshal(e.Params, &p)
		switch e.Method {
		case "Network.requestWillBeSent":
			urls = append(urls, p.Request.URL)
		case "Network.webSocketCreated":
			urls = append(urls, p.URL)
		}
	}
	return urls
}

// A cdpPage is one tab, attached in flat mode: its commands go over the
// browser's connection with its session id.
type cdpPage struct {
	*cdpBrowser
	targetID, session string
}

// newPage opens a blank tab, attaches to it and enables the events the
// test collects.
func (b *cdpBrowser) newPage() *cdpPage {
	b.t.Helper()
	var target struct {
		TargetID string `json:"targetId"`
	}
	b.call("", "Target.createTarget", map[string]any{"url": "about:blank"}, &target)
	var attached struct {
		SessionID string `json:"sessionId"`
	}
	b.call("", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &attached)
	p := &cdpPage{cdpBrowser: b, targetID: target.TargetID, session: attached.SessionID}
	for _, domain := range []string{"Runtime", "Log", "Network", "Page"} {
		p.call(domain+".enable", nil, nil)
	}
	return p
}

func (p *cdpPage) call(method string, params, result any) {
	p.t.Helper()
	p.cdpBrowser.call(p.session, method, params, result)
}

// navigate loads url and waits for its load event.
func (p *cdpPage) navigate(url string) {
	p.t.Helper()
	var nav struct {
		ErrorText string `json:"errorText"`
	}
	p.call("Page.navigate", map[string]any{"url": url}, &nav)
	if nav.ErrorText != "" {
		p.t.Fatalf("navigating to %s: %s", url, nav.ErrorText)
	}
	p.waitEvent(p.session, "Page.loadEventFired")
}

// eval evaluates a JavaScript expression in the page, waits for it if it
// is a promise, and returns its value, decoded from JSON.
func (p *cdpPage) eval(expression string) any {
	p.t.Helper()
	var r struct {
		Result struct {
			Value any `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	p.call("Runtime.evaluate", map[string]any{"expression": expression, "awaitPromise": true, "returnByValue": true}, &r)
	if e := r.ExceptionDetails; e != nil {
		p.t.Fatalf("evaluating %s: %s %s", expression, e.Text, e.Exception.Description)
	}
	return r.Result.Value
}

// click clicks the middle of the element selector names with the mouse,
// as a user would: it must be visible and enabled for the click to count.
func (p *cdpPage) click(selector string) {
	p.t.Helper()
	var at struct{ X, Y float64 }
	b, _ := json.Marshal(p.eval(fmt.Sprintf(`(() => {
		const box = document.querySelector(%q).getBoundingClientRect();
		return { x: box.x + box.width / 2, y: box.y + box.height / 2 };
	})()`, selector)))
	if err := json.Unmarshal(b, &at); err != nil {
		p.t.Fatal(err)
	}
	for _, event := range []string{"mousePressed", "mouseReleased"} {
		p.call("Input.dispatchMouseEvent", map[string]any{"type": event, "x": at.X, "y": at.Y, "button": "left", "clickCount": 1}, nil)
	}
}

// pressEnter presses and releases the Enter key in the focused element.
func (p *cdpPage) pressEnter() {
	p.t.Helper()
	p.call("Input.dispatchKeyEvent", map[string]any{"type": "keyDown", "key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13, "text": "\r"}, nil)
	p.call("Input.dispatchKeyEvent", map[string]any{"type": "keyUp", "key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13}, nil)
}

// close closes the tab, the way a user closes it: pagehide runs.
func (p *cdpPage) close() {
	p.t.Helper()
	var r struct {
		Success bool `json:"success"`
	}
	p.cdpBrowser.call("", "Target.closeTarget", map[string]any{"targetId": p.targetID}, &r)
	if !r.Success {
		p.t.Fatal("Target.closeTarget: no success")
	}
}

// TestBrowserReplacedSocket: a page back from the back/forward cache
// connects again while its old socket's close is still on its way. That
// close must not make the page say "closed" over the new socket, which
// goes on working.
func TestBrowserReplacedSocket(t *testing.T) {
	chromium := findBrowser(t)
	app := startApp(t, Options{}, nil)
	_, page := openPage(t, chromium, app.URL+"/")

	state := page.eval(`new Promise((resolve) => {
		const old = socket;
		connect();
		old.addEventListener("close", () => setTimeout(() => resolve(stateEl.dataset.state), 0));
		old.close(1000, "replaced");
	})`)
	if state == "closed" {
		t.Fatalf("after the replaced socket closed, #state is %q, want the new socket's", state)
	}
	if state := page.eval(untilOpen); state != "open" {
		t.Fatalf("#state reads %q, want %q", state, "open")
	}
	page.click("#send")
	if entry := page.evalEntry(1); !strings.HasPrefix(entry.Text, "I have received this message from you : Sent from my browser!") {
		t.Errorf("the new socket's first answer reads %q", entry.Text)
	}
}

// TestBrowserFrameInspector sends from the page a short message and one of
// 200 bytes, and finds each frame drawn as the diagram of §5.2, every field
// in its place: the opcode, the MASK bit a browser must set (§5.1, §5.3),
// the 7-bit length, and for 200 bytes the 16-bit extended length after 126
// (§5.2: 126 to 65535 bytes). The payload drawn must unmask, with the key
// drawn, to the bytes the page sent. Then the server says goodbye, and the
// page shows the code and reason of its Close frame (§7.4.1: 1001).
func TestBrowserFrameInspector(t *testing.T) {
	chromium := findBrowser(t)
	app := startApp(t, Options{}, nil) // no compression: the frames are the message's bytes
	browser, page := openPage(t, chromium, app.URL+"/")
	expectExtension(t, page, "none")

	// The Send button: 34 bytes, in one frame whose 7-bit length says 34
	// (0100010), so the masking key follows at once, from bit 16, and
	// wraps to the second row (§5.2's own picture).
	page.click("#send")
	short := readDrawnFrame(t, page, 1)
	short.expect(t, "fin", 0, 0, 1, "1")
	for i, rsv := range []string{"rsv1", "rsv2", "rsv3"} {
		short.expect(t, rsv, 0, 1+i, 1, "0")
	}
	short.expect(t, "opcode", 0, 4, 4, "0001") // text (§5.2, §11.8)
	short.expect(t, "mask", 0, 8, 1, "1")
	short.expect(t, "payload-len", 0, 9, 7, "0100010")
	short.expect(t, "masking-key", 0, 16, 16, "")
	short.expectPiece(t, "masking-key", 1, 1, 0, 16)
	short.expect(t, "payload", 1, 16, 8, "")
	if len(short.Fields["extended-payload-len"]) != 0 {
		t.Errorf("a 34-byte frame drawn with an extended length: %+v", short.Fields["extended-payload-len"])
	}
	short.expectPayload(t, `{"output":"Sent from my browser!"}`, 34)

	// The 200-byte button: 126 in the 7-bit length (1111110), then 200 in
	// the next 16 bits (00 c8); the key takes the whole second row.
	page.click("#send-long")
	long := readDrawnFrame(t, page, 2)
	long.expect(t, "opcode", 0, 4, 4, "0001")
	long.expect(t, "mask", 0, 8, 1, "1")
	long.expect(t, "payload-len", 0, 9, 7, "1111110")
	long.expect(t, "extended-payload-len", 0, 16, 16, "00c8")
	long.expect(t, "masking-key", 1, 0, 32, "")
	long.expect(t, "payload", 2, 0, 8, "")
	if !strings.HasPrefix(long.Text, `{"output":"This message is 200 bytes long`) {
		t.Errorf("the 200-byte message drawn reads %q", long.Text)
	}
	long.expectPayload(t, long.Text, TracedBytes) // the first 64 bytes of 200 are shown

	// A message whose "✓" (e2 9c 93) the 64-byte cut splits after its
	// second byte: the text shown stops before it, rather than show "�".
	page.click("#message")
	page.call("Input.insertText", map[string]any{"text": strings.Repeat("x", 51) + "✓ after the cut"}, nil)
	page.pressEnter()
	cut := readDrawnFrame(t, page, 3)
	if want := `{"output":"` + strings.Repeat("x", 51) + " …"; cut.Text != want {
		t.Errorf("the payload cut inside ✓ reads %q, want %q", cut.Text, want)
	}

	// Replies and diagrams in one order, oldest first.
	if order := page.eval(`[...framesEl.querySelectorAll("figure")].map((f) => f.dataset.message).join()`); order != "1,2,3" {
		t.Errorf("the diagrams are of messages %q, in that order; want 1,2,3, oldest first as the replies", order)
	}
	if first := page.evalEntry(1); !strings.Contains(first.Text, "Sent from my browser!") {
		t.Errorf("the first reply listed reads %q, want the first message's", first.Text)
	}

	// The server starts shutting down (what Shutdown calls, without the
	// wait for Chromium's spare idle connection): it sends Close 1001
	// "server shutting down", and the page shows both.
	app.s.goingAway()
	closed := page.eval(`new Promise((resolve) => {
		const frames = document.getElementById("frames");
		const check = () => {
			const note = frames.querySelector(".closed");
			if (note) resolve(note.textContent);
			return note !== null;
		};
		if (!check()) {
			const watch = new MutationObserver(() => { if (check()) watch.disconnect(); });
			watch.observe(frames, { childList: true });
		}
	})`)
	if s, _ := closed.(string); !strings.Contains(s, "code 1001 (Going Away)") || !strings.Contains(s, `reason "server shutting down"`) {
		t.Errorf("the page says %q, want the code 1001 (Going Away) and the reason", closed)
	}
	if last := page.eval(`framesEl.lastElementChild.className`); last != "closed" {
		t.Errorf("the last element of the diagrams is %q, want the close, the newest", last)
	}
	app.waitHandlers(t)

	for _, problem := range browser.problems() {
		t.Errorf("browser: %s", problem)
	}
}

// A drawnCell is one cell of a frame diagram: where it is (row, first bit,
// width in bits) and what it says.
type drawnCell struct {
	Row, Col, Width    int
	Value, Note, Title string   // Title: a bit's note, too long for its cell
	Bytes              []string // a byte field's bytes, in hex
}

// A drawnFrame is a frame diagram as the page drew it: its cells by field,
// its payload bytes, its payload as text, and for a compressed message
// the line that says RSV1 means so and the message inflated (RFC 7692).
type drawnFrame struct {
	Caption  string
	Fields   map[string][]drawnCell
	Text     string
	RSV1     string // the line under the diagram that says what RSV1 1 means
	Inflated string // the line "Inflated (RFC 7692 §7.2.2): ..."
}

// readDrawnFrame waits for the page to draw the frames of its n-th message and
// reads the first: every cell's place, computed from the table itself, as a
// reader sees it.
func readDrawnFrame(t *testing.T, page *cdpPage, n int) drawnFrame {
	t.Helper()
	value := page.eval(fmt.Sprintf(`new Promise((resolve) => {
		const frames = document.getElementById("frames");
		const read = (figure) => {
			const fields = {};
			figure.querySelectorAll("tbody tr").forEach((tr, row) => {
				let col = 0;
				for (const td of tr.cells) {
					const field = td.dataset.field;
					const value = td.querySelector(".value");
					const note = td.querySelector(".note");
					if (field) (fields[field] ||= []).push({
						row, col, width: td.colSpan,
						value: value ? value.textContent : "",
						note: note ? note.textContent : "", title: td.title,
						bytes: value ? [...value.children].map((span) => span.textContent) : [],
					});
					col += td.colSpan;
				}
			});
			const lines = [...figure.querySelectorAll(".bytes")].map((p) => p.textContent);
			const text = lines.find((line) => line.startsWith("Payload as text: ")) || "";
			return {
				caption: figure.querySelector("figcaption").textContent, fields, text: text.slice(17),
				rsv1: lines.find((line) => line.startsWith("RSV1 ")) || "",
				inflated: lines.find((line) => line.startsWith("Inflated ")) || "",
			};
		};
		const check = () => {
			const figure = frames.querySelector('figure[data-message="%d"]');
			if (figure) resolve(read(figure));
			return figure !== null;
		};
		if (!check()) {
			const watch = new MutationObserver(() => { if (check()) watch.disconnect(); });
			watch.observe(frames, { childList: true });
		}
	})`, n))
	b, _ := json.Marshal(value)
	var f drawnFrame
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("frame of message %d: %v", n, err)
	}
	return f
}

// expect fails the test unless the first cell of field is at row, bit col,
// width bits wide, and, unless value is "", shows value.
func (f drawnFrame) expect(t *testing.T, field string, row, col, width int, value string) {
	t.Helper()
	f.expectPiece(t, field, 0, row, col, width)
	if cells := f.Fields[field]; len(cells) > 0 && value != "" && cells[0].Value != value {
		t.Errorf("%s: %s shows %q, want %q", f.Caption, field, cells[0].Value, value)
	}
}

// expectPiece is expect for the i-th piece of a field split across rows.
func (f drawnFrame) expectPiece(t *testing.T, field string, i, row, col, width int) {
	t.Helper()
	cells := f.Fields[field]
	if len(cells) <= i {
		t.Errorf("%s: no piece %d of %s drawn; the cells: %+v", f.Caption, i, field, f.Fields)
		return
	}
	if c := cells[i]; c.Row != row || c.Col != col || c.Width != width {
		t.Errorf("%s: %s drawn at row %d, bit %d, %d bits wide; want row %d, bit %d, %d bits", f.Caption, field, c.Row, c.Col, c.Width, row, col, width)
	}
}

// key returns the masking key the diagram shows, as bytes.
func (f drawnFrame) key() []byte {
	var key []byte
	for _, piece := range f.Fields["masking-key"] {
		for _, b := range piece.Bytes {
			k, _ := strconv.ParseUint(b, 16, 8)
			key = append(key, byte(k))
		}
	}
	return key
}

// expectPayload fails the test unless the diagram shows shown payload
// bytes that, unmasked with the key it shows (§5.3), are the first bytes
// of sent, and say so next to each masked byte.
func (f drawnFrame) expectPayload(t *testing.T, sent string, shown int) {
	t.Helper()
	key := f.key()
	if len(key) != 4 {
		t.Fatalf("%s: masking key drawn as %d bytes, want 4", f.Caption, len(key))
	}
	payload := f.Fields["payload"]
	if len(payload) != shown {
		t.Fatalf("%s: %d payload bytes drawn, want %d", f.Caption, len(payload), shown)
	}
	for i, c := range payload {
		masked, err := strconv.ParseUint(c.Value, 16, 8)
		want := sent[i]
		if err != nil || byte(masked)^key[i%4] != want || !strings.HasPrefix(c.Note, fmt.Sprintf("→ %02x", want)) {
			t.Errorf("%s: payload byte %d drawn as %q %q; want %02x masked with key byte %02x, → %02x", f.Caption, i, c.Value, c.Note, want^key[i%4], key[i%4], want)
		}
	}
}

// TestBrowserDeflate is the frame inspector with permessage-deflate (RFC
// 7692) agreed, as the binary agrees it by default: the page says so, and
// draws each compressed frame with RSV1 set (§6) and noted, "compressed"
// in its caption, the compressed payload as on the wire and unmasked
// (§5.3), and the message inflated (§7.2.2). The 200-byte message's
// 16-bit length counts its compressed payload, not its 200 bytes. The
// server compresses only replies of its threshold or more (512 bytes):
// the short reply goes out uncompressed, the long one compressed.
func TestBrowserDeflate(t *testing.T) {
	chromium := findBrowser(t)
	app := startApp(t, Options{Compression: &DeflateOptions{}}, func(s *server) http.Handler {
		s.trace = true // set before it serves: the frames it sends, logged
		return s.routes()
	})
	browser, page := openPage(t, chromium, app.URL+"/")
	expectExtension(t, page, "permessage-deflate")

	// The short message: whether a browser compresses it is its own
	// choice (§6: per message); what is drawn must say which it made.
	page.click("#send")
	short := readDrawnFrame(t, page, 1)
	short.expectMessage(t, `{"output":"Sent from my browser!"}`)

	// The 200-byte message, compressed: RSV1, and a 16-bit length that
	// counts the compressed bytes, fewer than 200 but more than 125.
	page.click("#send-long")
	long := readDrawnFrame(t, page, 2)
	long.expectCompressed(t)
	long.expectMessage(t, `{"output":"This message is 200 bytes long`)
	long.expect(t, "payload-len", 0, 9, 7, "1111110")
	long.expect(t, "extended-payload-len", 0, 16, 16, "")
	if cells := long.Fields["extended-payload-len"]; len(cells) > 0 {
		var n int
		fmt.Sscanf(cells[0].Note, "%d bytes", &n)
		if cells[0].Value != fmt.Sprintf("%04x", n) || n <= 125 || n >= 200 {
			t.Errorf("the compressed 200-byte message's extended length shows %q, %q; want its compressed length, 126 to 199, in 16 bits", cells[0].Value, cells[0].Note)
		}
	}

	var sent []sentFrame
	for _, line := range app.logs.lines() {
		var f struct {
			Msg, Dir, RSV, Op string
			Len               int
		}
		if json.Unmarshal([]byte(line), &f) == nil && f.Msg == "frame" && f.Dir == "out" && f.Op == "text" {
			sent = append(sent, sentFrame{RSV: f.RSV, Len: f.Len})
		}
	}
	expectRepliesCompressed(t, sent, defaultThreshold)

	for _, problem := range browser.problems() {
		t.Errorf("browser: %s", problem)
	}
}

// expectExtension fails the test unless the page says the handshake
// agreed on want, with its parameters if any: "none" for none.
func expectExtension(t *testing.T, page *cdpPage, want string) {
	t.Helper()
	says := fmt.Sprint(page.eval(`document.getElementById("extensions").textContent`))
	if says != want && !strings.HasPrefix(says, want+";") {
		t.Errorf("the page says the extension agreed is %q, want %s", says, want)
	}
}

// expectCompressed fails the test unless f is drawn as the first frame of
// a compressed message (RFC 7692 §6): RSV1 1, noted as such, and
// "compressed" in the caption.
func (f drawnFrame) expectCompressed(t *testing.T) {
	t.Helper()
	const note = "1: compressed (permessage-deflate, RFC 7692 §6)"
	f.expect(t, "rsv1", 0, 1, 1, "1")
	if cells := f.Fields["rsv1"]; len(cells) > 0 && cells[0].Title != note {
		t.Errorf("%s: RSV1's cell notes %q, want %q", f.Caption, cells[0].Title, note)
	}
	if f.RSV1 != "RSV1 is "+note {
		t.Errorf("%s: the line under the diagram reads %q, want RSV1 is %s", f.Caption, f.RSV1, note)
	}
	if !strings.Contains(f.Caption, ", compressed, ") {
		t.Errorf("the caption %q does not say compressed", f.Caption)
	}
}

// expectMessage fails the test unless f, the frame of a message that
// starts with sent, shows it: inflated if RSV1 says it is compressed
// (RFC 7692 §7.2.2), as the payload's text if not. Either way the payload
// drawn unmasks, with the key drawn, to the bytes the server read (§5.3).
func (f drawnFrame) expectMessage(t *testing.T, sent string) {
	t.Helper()
	f.expectUnmasked(t)
	if cells := f.Fields["rsv1"]; len(cells) == 0 || cells[0].Value != "1" {
		if f.RSV1 != "" || f.Inflated != "" || strings.Contains(f.Caption, "compressed") {
			t.Errorf("%s: RSV1 is 0, yet the frame is drawn as compressed: %q, %q", f.Caption, f.RSV1, f.Inflated)
		}
		if !strings.HasPrefix(f.Text, sent) {
			t.Errorf("%s: the payload as text reads %q, want %q", f.Caption, f.Text, sent)
		}
		return
	}
	f.expectCompressed(t)
	_, inflated, _ := strings.Cut(f.Inflated, ": ")
	if !strings.HasPrefix(f.Inflated, "Inflated (RFC 7692 §7.2.2)") || !strings.HasPrefix(inflated, sent) {
		t.Errorf("%s: the message inflated reads %q, want %q", f.Caption, f.Inflated, sent)
	}
	if f.Text != "" {
		t.Errorf("%s: compressed data shown as text: %q", f.Caption, f.Text)
	}
}

// expectUnmasked fails the test unless each payload byte drawn is noted
// with its unmasking: the byte XOR the key byte of its colour (§5.3).
func (f drawnFrame) expectUnmasked(t *testing.T) {
	t.Helper()
	key := f.key()
	if len(key) != 4 || len(f.Fields["payload"]) == 0 {
		t.Fatalf("%s: masking key drawn as %d bytes, payload as %d; want 4, and some", f.Caption, len(key), len(f.Fields["payload"]))
	}
	for i, c := range f.Fields["payload"] {
		masked, err := strconv.ParseUint(c.Value, 16, 8)
		if want := fmt.Sprintf("→ %02x", byte(masked)^key[i%4]); err != nil || !strings.HasPrefix(c.Note, want) {
			t.Errorf("%s: payload byte %d drawn as %q %q, want %s", f.Caption, i, c.Value, c.Note, want)
		}
	}
}

// A sentFrame is a text frame the server sent, as -trace logged it: its
// RSV bits and its payload length.
type sentFrame struct {
	RSV string
	Len int
}

// expectRepliesCompressed fails the test unless the server sent its
// replies as DeflateOptions.Threshold says: the first, short reply
// uncompressed, the second, long one compressed (RSV1, RFC 7692 §6), and
// none uncompressed that is threshold bytes or more.
func expectRepliesCompressed(t *testing.T, sent []sentFrame, threshold int) {
	t.Helper()
	if len(sent) < 2 || sent[0].RSV != "000" || sent[1].RSV != "100" {
		t.Errorf("the server sent the replies as %+v; want the short one uncompressed (rsv 000), the long one compressed (100)", sent)
	}
	for _, f := range sent {
		if f.RSV == "000" && f.Len >= threshold {
			t.Errorf("the server sent a reply of %d bytes uncompressed, at least the threshold %d", f.Len, threshold)
		}
	}
}

// TestConnectToBrowser is the terminal client (-connect) against a server
// nobody here wrote: Chromium's DevTools server, which speaks JSON over a
// WebSocket. A line typed is a command; its answer comes back printed; the
// end of input then closes the connection with 1000 (exit 0).
func TestConnectToBrowser(t *testing.T) {
	browser := launchBrowser(t, findBrowser(t))
	stdin, typing := io.Pipe()
	stdout, stderr := newLogCapture(), newLogCapture()
	exit := make(chan int, 1)
	go func() { exit <- runClient(browser.devToolsURL(), DialOptions{}, defaultLinger, stdin, stdout, stderr) }()

	io.WriteString(typing, `{"id": 1, "method": "Browser.getVersion"}`+"\n")
	answer := stdout.waitFor(t, "the answer to Browser.getVersion", func(line string) bool {
		return strings.Contains(line, `"id":1`)
	})
	if !strings.Contains(answer, `"product":"`) {
		t.Errorf("the client printed %q, want the browser's version", answer)
	}
	typing.Close() // the end of input
	if status := await(t, exit); status != 0 {
		t.Fatalf("the client exited with %d: %s", status, stderr)
	}
}

// TestBrowserRefusedHandshake: a browser is told nothing of a refused
// handshake, only that the connection closed with 1006 before it opened
// (§4.1). The page then says the server may have refused it, and that the
// server's log says why. Here the server refuses (503) because it is
// shutting down, and the page's Reconnect meets the refusal.
func TestBrowserRefusedHandshake(t *testing.T) {
	chromium := findBrowser(t)
	app := startApp(t, Options{}, nil)
	_, page := openPage(t, chromium, app.URL+"/")
	app.s.goingAway() // 1001 to the open socket; new handshakes get 503
	hint := page.eval(`new Promise((resolve) => {
		const check = () => {
			if (hint.className !== "error") return false;
			resolve(hint.hidden ? "" : hint.textContent);
			return true;
		};
		new MutationObserver((_, watch) => { if (check()) watch.disconnect(); })
			.observe(hint, { attributes: true, childList: true });
		// Reconnect once the Going Away has closed the open socket.
		const reconnect = () => {
			if (stateEl.dataset.state !== "closed") return false;
			document.getElementById("reconnect").click();
			return true;
		};
		if (!reconnect()) {
			new MutationObserver((_, watch) => { if (reconnect()) watch.disconnect(); })
				.observe(stateEl, { attributes: true, attributeFilter: ["data-state"] });
		}
	})`)
	if s, _ := hint.(string); !strings.Contains(s, "refused the handshake") || !strings.Contains(s, "log") {
		t.Errorf("after a refused handshake the hint reads %q, want it to say the server may have refused it and to read its log", hint)
	}
	app.waitHandlers(t)
}
