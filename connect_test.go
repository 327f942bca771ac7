package main

// The terminal client (connect.go, -connect) as a user runs it: the built
// binary against a fakeServer (rawpeer_test.go) that plays the server by
// hand. Dial itself, on the wire, is dial_test.go's.

import (
	"errors"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// silenceProbe is how long expectSilence listens. It can only prove a
// client wrong: a right one sends nothing however long the probe, so a
// slow machine cannot fail a right client, and a client that closes at
// the end of its input does so within microseconds.
const silenceProbe = 500 * time.Millisecond

// expectSilence fails the test if the client sends anything within d.
func (c *fakeConn) expectSilence(d time.Duration, why string) {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(d))
	_, err := c.br.Peek(1)
	switch {
	case err == nil:
		f, _, _ := c.readFrame()
		c.t.Fatalf("the client sent %v; want nothing yet: %s", f, why)
	case !errors.Is(err, os.ErrDeadlineExceeded):
		c.t.Fatalf("the client ended the connection (%v); want nothing yet: %s", err, why)
	}
}

// lingeringClient runs the terminal client with -linger linger, connected
// to a fakeServer that has accepted its handshake.
func lingeringClient(t *testing.T, bin, linger string) (*clientProcess, *fakeConn) {
	t.Helper()
	srv := newFakeServer(t)
	p := startClient(t, bin, "-connect", srv.url("/"), "-linger", linger)
	sc := srv.accept()
	sc.accept101()
	return p, sc
}

// answerAndExit is the end of a clean conversation, once the client has
// sent its Close 1000: the server answers, closes TCP first (§7.1.1), and
// the client exits with status 0.
func answerAndExit(t *testing.T, sc *fakeConn, p *clientProcess) {
	t.Helper()
	sc.send(closeFrame(StatusNormal, ""))
	sc.closeFirst()
	if err := p.wait(t); err != nil {
		t.Errorf("exit: %v, want 0; stderr:\n%s", err, p.stderr)
	}
}

// TestConnectLinger is the terminal client's wait at the end of input
// (-linger, connect.go), against a scripted server: the replies still on
// their way are let in before the client closes.
func TestConnectLinger(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the test interrupts the client with SIGINT")
	}
	bin := buildBinary(t)

	// §5.5.1: a peer that has sent a Close need not process any more
	// data, and a server may answer a Close before its handler's replies
	// (Python's websockets does). So the client must not close first
	// while replies may come. Here the linger outlasts the test: the
	// server's own Close, with 1001, ends the conversation, and the
	// client's Close is the answer to it, echoing 1001, not a 1000 of its
	// own sent at the end of input.
	t.Run("§5.5.1 no Close while the replies may be on their way", func(t *testing.T) {
		p, sc := lingeringClient(t, bin, "1h")
		p.write("one\ntwo\nthree\n")
		sc.expect(text("one"), text("two"), text("three"))
		p.stdin.Close() // the end of input
		sc.expectSilence(silenceProbe, "the replies have not been sent")
		sc.send(text("one"), text("two"), text("three"), closeFrame(StatusGoingAway, "bye"))
		sc.expectClose(StatusGoingAway)
		sc.closeFirst()
		if err := p.wait(t); exitCode(err) != 1 { // not 1000
			t.Errorf("exit: %v, want exit status 1; stderr:\n%s", err, p.stderr)
		}
		if got, want := p.stdout.String(), "one\ntwo\nthree\n"; got != want {
			t.Errorf("stdout %q, want %q", got, want)
		}
		if want := `peer closed (1001) "bye"`; !strings.Contains(p.stderr.String(), want) {
			t.Errorf("stderr %q does not say %s", p.stderr, want)
		}
	})

	// A server that never falls quiet still gets its Close: after at
	// most lingerRounds lingers. Without that bound the client would wait
	// for as long as the server talks, and this test would time out.
	t.Run("a server that never falls quiet is closed with 1000", func(t *testing.T) {
		p, sc := lingeringClient(t, bin, "100ms")
		p.input("")
		clientFrame := make(chan frame, 1)
		go func() {
			f, _, err := sc.readFrame() // at most testTimeout
			if err != nil {
				f = frame{op: 0xFF, payload: []byte(err.Error())} // no frame: why
			}
			clientFrame <- f
		}()
		tick := time.NewTicker(10 * time.Millisecond) // ten messages a linger
		defer tick.Stop()
		var f frame
	talking:
		for {
			select {
			case <-tick.C:
				sc.send(text("tick"))
			case f = <-clientFrame:
				break talking
			}
		}
		if f.op == 0xFF {
			t.Fatalf("no Close from the client in %v of talk: %s", testTimeout, f.payload)
		}
		if f.op != OpClose || closeCode(f) != StatusNormal {
			t.Fatalf("the client sent %v, want Close 1000", f)
		}
		answerAndExit(t, sc, p)
	})

	// -linger 0 closes at the end of input, before any reply.
	t.Run("-linger 0 closes at the end of input", func(t *testing.T) {
		p, sc := lingeringClient(t, bin, "0")
		p.input("one\n")
		sc.expect(text("one"))
		sc.expectClose(StatusNormal)
		answerAndExit(t, sc, p)
		if got := p.stdout.String(); got != "" {
			t.Errorf("stdout %q, want nothing", got)
		}
	})

	// Ctrl-C during the wait closes at once, as it does at any time.
	t.Run("SIGINT during the wait closes with 1000", func(t *testing.T) {
		p, sc := lingeringClient(t, bin, "1h")
		p.input("one\n")
		sc.expect(text("one"))
		sc.expectSilence(silenceProbe, "the client lingers")
		if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		sc.expectClose(StatusNormal)
		answerAndExit(t, sc, p)
	})
}
