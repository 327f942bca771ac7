package main

import (
	"bufio"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// TestEngineeringLast: ws.go reads as the RFC first. Parts 1 to 7 hold the
// protocol; everything that exists only for speed or memory (pools,
// atomics, the lore of BENCHMARKS.md's "Memory") is in part 8,
// "Engineering", after them.
func TestEngineeringLast(t *testing.T) {
	src, err := os.ReadFile("ws.go")
	if err != nil {
		t.Fatal(err)
	}
	text := string(src)
	start := strings.Index(text, "\n// 1. Vocabulary\n")
	end := strings.Index(text, "\n// 8. Engineering\n")
	if start < 0 || end < start {
		t.Fatal(`ws.go has no "1. Vocabulary" followed by an "8. Engineering"`)
	}
	for n, line := range strings.Split(text[:end], "\n") {
		if n < strings.Count(text[:start], "\n") {
			continue // the file comment and the imports
		}
		for _, word := range []string{"sync.Pool", "atomic.", ".Load()", ".Store(", "BENCHMARKS.md", `"Memory"`} {
			if strings.Contains(line, word) {
				t.Errorf("ws.go:%d, in parts 1 to 7, has %q, which belongs in part 8:\n%s", n+1, word, line)
			}
		}
	}
}

// connBudget is the most a Conn may take: the runtime's 288-byte size
// class. Every idle connection holds one; the next class is 320 bytes.
const connBudget = 288

// TestConnSize: a Conn fits its budget, so that every idle connection's
// share of the heap stays where BENCHMARKS.md says. It is a size, fixed at
// compile time, not a measurement. A field that grows it past the budget
// belongs, if only frames need it, in something borrowed while they flow
// (part 8 of ws.go); otherwise raise the budget, and say so there.
func TestConnSize(t *testing.T) {
	if size := unsafe.Sizeof(Conn{}); size > connBudget {
		t.Errorf("a Conn is %d bytes, over its budget of %d", size, connBudget)
	}
}

// TestEnding: an ending runs its function once, and its done channel,
// whether asked for before or after, is closed once the function has run
// and not before. Close waits on it (awaitClose) for the end of the TCP
// connection.
func TestEnding(t *testing.T) {
	isClosed := func(ch <-chan struct{}) bool {
		select {
		case <-ch:
			return true
		default:
			return false
		}
	}
	var e ending
	early := e.done()
	if isClosed(early) || isClosed(e.done()) {
		t.Fatal("done is closed before do has run")
	}
	calls := 0
	e.do(func() {
		calls++
		if isClosed(early) {
			t.Error("done is closed while do's function runs")
		}
	})
	e.do(func() { calls++ })
	if calls != 1 {
		t.Errorf("do ran its function %d times, want once", calls)
	}
	if !isClosed(early) {
		t.Error("the channel done gave before do is still open after it")
	}
	if !isClosed(e.done()) {
		t.Error("done, asked after do, is open")
	}
	var fresh ending
	fresh.do(func() {})
	if !isClosed(fresh.done()) {
		t.Error("done, first asked after do, is open")
	}
}

// TestCloseAfterReaderStops (§7.1.2, S-62): Close called while another
// goroutine reads leaves the peer's Close to that reader; if the reader
// stops first, with a message, the rest of the closing handshake is
// still read, by a goroutine that waited for the reader's slot, and Close
// returns once the peer's Close has come, not at the close timeout.
func TestCloseAfterReaderStops(t *testing.T) {
	key := [4]byte{1, 2, 3, 4}
	peer, nc := net.Pipe()
	defer peer.Close()
	peer.SetDeadline(time.Now().Add(testTimeout))
	c := newConn(nc, bufio.NewReader(nc), "", &Options{CloseTimeout: time.Hour})
	read := make(chan string)
	go func() { // reads one message, and stops
		_, msg, _ := c.ReadMessage()
		read <- string(msg)
	}()
	waitIdle(t, "(*Conn).AppendMessage(") // the reader holds the slot
	closed := make(chan error)
	go func() { closed <- c.Close(StatusNormal, "") }()
	ours := make([]byte, 4) // our Close: 0x88, 2, and the code
	if _, err := io.ReadFull(peer, ours); err != nil {
		t.Fatal(err)
	}
	waitBlocked(t, "(*Conn).awaitClose(") // it found the slot taken
	if _, err := peer.Write(encode(text("last"), key)); err != nil {
		t.Fatal(err)
	}
	if got := <-read; got != "last" {
		t.Fatalf("the reader read %q", got)
	}
	if _, err := peer.Write(encode(closeFrame(StatusNormal, ""), key)); err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, peer)
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("Close did not return: nobody read the peer's Close")
	}
}

// waitBlocked waits until a goroutine is blocked (not running) in the
// function named in.
func waitBlocked(t *testing.T, in string) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for buf := make([]byte, 1<<20); ; time.Sleep(time.Millisecond) {
		for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
			if strings.Contains(g, in) && !strings.Contains(g, "[running]") && !strings.Contains(g, "[runnable]") {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no goroutine blocked in " + in)
		}
	}
}
