package main

// Tests against a WebSocket implementation nobody here wrote, run as a
// process of its own: Python's websockets (Debian's python3-websockets).
// testdata/pyecho.py is its echo server, for the terminal client and for
// Dial; testdata/pyclient.py is its client, for this server's /echo.
// Without it the tests skip, unless WSECHO_PEERS=required (as in CI):
// then they fail.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"
)

// findPythonWebsockets returns the path of a python3 that can import
// websockets: the one on PATH, or else Debian's, which a python3 of one's
// own (pyenv, a virtualenv) may hide.
func findPythonWebsockets(t *testing.T) string {
	t.Helper()
	var tried []string
	for _, name := range []string{"python3", "/usr/bin/python3"} {
		path, err := exec.LookPath(name)
		if err != nil {
			continue
		}
		out, err := exec.Command(path, "-c", "import websockets; print(websockets.__version__)").Output()
		if err == nil {
			t.Logf("%s has websockets %s", path, bytes.TrimSpace(out))
			return path
		}
		tried = append(tried, path)
	}
	why := fmt.Sprintf("no python3 with websockets (apt-get install python3-websockets); tried %q", tried)
	if os.Getenv("WSECHO_PEERS") == "required" {
		t.Fatal(why + ", and WSECHO_PEERS=required")
	}
	t.Skip(why + " (set WSECHO_PEERS=required to fail instead)")
	return ""
}

// A pyEcho is testdata/pyecho.py, running.
type pyEcho struct {
	url  string // the URL it printed
	stop func() // closes its stdin, which ends it, and waits for its exit
}

// startPyEcho starts testdata/pyecho.py and waits for its URL. It is
// stopped when the test ends, if not before, and killed if it has not
// exited within testTimeout.
func startPyEcho(t *testing.T, python string) *pyEcho {
	t.Helper()
	cmd := exec.Command(python, "testdata/pyecho.py", "120")
	stderr := newLogCapture()
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	exited := runUntilEnd(t, cmd) // its cleanup kills it, if still running
	stop := func() {
		stdin.Close() // the end of its input: pyecho.py exits
		waitExit(t, exited, "pyecho.py", stderr)
	}
	t.Cleanup(stop)

	url := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		url <- strings.TrimSpace(line)
		io.Copy(io.Discard, stdout) // the pipe stays drained until it exits
	}()
	select {
	case u := <-url:
		if !strings.HasPrefix(u, "ws://127.0.0.1:") {
			t.Fatalf("pyecho.py printed %q, want its URL; its stderr:\n%s", u, stderr)
		}
		return &pyEcho{url: u, stop: stop}
	case <-time.After(testTimeout):
		t.Fatalf("pyecho.py printed no URL within %v; its stderr:\n%s", testTimeout, stderr)
		return nil
	}
}

// TestConnectPythonEcho is the terminal client, built, against Python's
// websockets echo server, as in issue 15: three lines piped in must come
// back out. That server answers a Close at once, before the replies its
// handler has still to send (§5.5.1 allows it), so a client that closes
// at the end of its input loses them; -connect lingers until the server
// has gone quiet (connect.go).
func TestConnectPythonEcho(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("python3 -c and pipes as on Unix")
	}
	python := findPythonWebsockets(t)
	url := startPyEcho(t, python).url
	bin := buildBinary(t)

	// The loss is a race that the old client lost two runs in three:
	// three runs, each a new connection.
	for run := 1; run <= 3; run++ {
		t.Run(fmt.Sprintf("§5.5.1 replies on their way at the end of input are printed/run %d", run), func(t *testing.T) {
			p := startClient(t, bin, "-connect", url)
			p.input("one\ntwo\nthree\n")
			if err := p.wait(t); err != nil {
				t.Errorf("exit: %v, want 0; stderr:\n%s", err, p.stderr)
			}
			if got, want := p.stdout.String(), "one\ntwo\nthree\n"; got != want {
				t.Errorf("stdout %q, want %q; stderr:\n%s", got, want, p.stderr)
			}
		})
	}
}

// TestDialPythonEcho is Dial, the Go client, against Python's websockets
// echo server: messages of each kind come back as they went, and both
// closing handshakes end cleanly. Dial offers permessage-deflate (RFC
// 7692), which websockets accepts by default: both sides must say it was
// agreed, and the messages cross compressed (above the threshold) and
// not (below it).
func TestDialPythonEcho(t *testing.T) {
	python := findPythonWebsockets(t)
	url := startPyEcho(t, python).url

	t.Run("RFC 7692 permessage-deflate agreed on both sides", func(t *testing.T) {
		c := dialBounded(t, url)
		if !c.Compressed() {
			t.Fatal("Dial's Conn did not agree permessage-deflate with websockets")
		}
		c.WriteMessage(OpText, []byte("?extensions"))
		if _, msg, err := c.ReadMessage(); err != nil || string(msg) != "permessage-deflate" {
			t.Errorf("pyecho.py agreed %q (%v), want permessage-deflate", msg, err)
		}
		closeNormally(t, c)
	})
	t.Run("RFC 7692 §7.1.1 context takeover both ways", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		c, err := Dial(ctx, url, &DialOptions{Options: Options{Compression: &DeflateOptions{ContextTakeover: true}}})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 5 {
			msg := testText(3000+i, 12) // alike: each refers back into the last
			c.WriteMessage(OpText, msg)
			if _, got, err := c.ReadMessage(); err != nil || !bytes.Equal(got, msg) {
				t.Fatalf("message %d: %d bytes back, %v", i, len(got), err)
			}
		}
		closeNormally(t, c)
	})

	roundTrips := []struct {
		name string
		op   Opcode
		msg  []byte
	}{
		{"§5.6 text", OpText, []byte("κόσμε ✓")},
		{"§5.6 binary", OpBinary, []byte{0x00, 0x01, 'w', 's', 0xfe, 0xff}},
		{"§5.6 empty text", OpText, nil},
		{"§5.2 64-bit length", OpBinary, bytes.Repeat([]byte{0xa5}, 1<<20)},
		{"RFC 7692 compressed text", OpText, testText(100<<10, 11)},
	}
	for _, rt := range roundTrips {
		t.Run(rt.name, func(t *testing.T) {
			c := dialBounded(t, url)
			if err := c.WriteMessage(rt.op, rt.msg); err != nil {
				t.Fatalf("WriteMessage: %v", err)
			}
			op, msg, err := c.ReadMessage()
			if err != nil {
				t.Fatalf("ReadMessage: %v", err)
			}
			if op != rt.op || !bytes.Equal(msg, rt.msg) {
				t.Errorf("got back opcode %d, %d bytes %q; want opcode %d, %d bytes %q", op, len(msg), shorten(msg), rt.op, len(rt.msg), shorten(rt.msg))
			}
			closeNormally(t, c)
		})
	}

	t.Run("§7.1.2 the client closes with 1000, the server answers 1000", func(t *testing.T) {
		closeNormally(t, dialBounded(t, url))
	})

	// The server going away (its stdin closed: pyecho.py exits) closes
	// with 1001 (§7.4.1), and Dial's Conn reads it.
	t.Run("§7.4.1 1001 when the server goes away", func(t *testing.T) {
		server := startPyEcho(t, python)
		c := dialBounded(t, server.url)
		ended := make(chan error, 1)
		go func() {
			_, _, err := c.ReadMessage()
			ended <- err
		}()
		server.stop()
		if err := await(t, ended); !isClose(err, StatusGoingAway) {
			t.Errorf("ReadMessage: %v, want the server's Close with 1001", err)
		}
	})
}

// dialBounded dials url, bounded by testTimeout; the connection is closed
// when the test ends, if it is still open.
func dialBounded(t *testing.T, url string) *Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c, err := Dial(ctx, url, &DialOptions{Options: Options{MaxMessage: 16 << 20, Compression: &DeflateOptions{}}})
	if err != nil {
		t.Fatalf("Dial %s: %v", url, err)
	}
	t.Cleanup(func() { c.Close(StatusNormal, "") }) // ErrClosed once closed
	return c
}

// closeNormally starts the closing handshake with 1000 and reads until
// the server's answer, which must be 1000 too (§7.1.2, §5.5.1).
func closeNormally(t *testing.T, c *Conn) {
	t.Helper()
	if err := c.StartClose(StatusNormal, ""); err != nil {
		t.Fatalf("StartClose: %v", err)
	}
	_, _, err := c.ReadMessage()
	var closeErr *CloseError
	if !errors.As(err, &closeErr) || closeErr.Code != StatusNormal {
		t.Errorf("after our Close, ReadMessage returned %v, want the server's Close with 1000", err)
	}
}

// TestPythonClient is this server's /echo against Python's websockets
// client (testdata/pyclient.py): each case is a connection of its own,
// which the client checks message by message, and which must end with
// 1000 on both sides.
func TestPythonClient(t *testing.T) {
	python := findPythonWebsockets(t)
	cases := []struct{ name, pyCase string }{
		{"§5.6 text", "text"},
		{"§5.6 binary", "binary"},
		{"§5.2 1 MiB text and binary", "1MiB"},
		{"§5.4 fragmented", "fragmented"},
		{"§5.5.2 ping, §5.5.3 pong", "ping"},
		{"§7.1.2 close 1000", "close"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			app := startApp(t, Options{MaxMessage: 16 << 20, Compression: &DeflateOptions{}}, nil) // /echo as main.go serves it
			ctx, cancel := context.WithTimeout(context.Background(), 2*testTimeout)
			defer cancel()
			out, err := exec.CommandContext(ctx, python, "testdata/pyclient.py", wsURL(app.Server, "/echo"), tc.pyCase).CombinedOutput()
			if err != nil {
				t.Fatalf("pyclient.py %s: %v\n%s", tc.pyCase, err, out)
			}
			t.Logf("pyclient.py: %s", bytes.TrimSpace(out))
			// RFC 7692: websockets offers permessage-deflate by default,
			// and /echo, as main.go serves it, accepts it.
			if !bytes.Contains(out, []byte("extensions: permessage-deflate)")) {
				t.Errorf("pyclient.py agreed no permessage-deflate: %s", out)
			}
			app.waitHandlers(t)
			entries := app.logs.entries(t)
			if last := entries[len(entries)-1]; last["code"] != float64(StatusNormal) {
				t.Errorf("the server logged %v, want the client's close with 1000", last)
			}
		})
	}
}
