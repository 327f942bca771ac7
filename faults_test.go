package main

// Faults, at scale, with nothing lost: thousands of clients of this
// package (Dial) talk to the application's /echo at once, each through a
// TCP relay on loopback that breaks its connection in one way: bytes one
// at a time, late, stalled, a half-close, a reset in the middle of a frame,
// a drop in the middle of the handshake.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// A cut is what a relay does to a connection at a chosen byte.
type cut int

const (
	noCut     cut = iota
	halfClose     // end this direction with a FIN, and drop what else comes
	reset         // RST both ways (SO_LINGER 0, then close)
	dropBoth      // close both ways, with FINs
)

// A direction is how a relay passes one direction of a connection on.
// Offsets count bytes after the HTTP head (the handshake) unless
// inHead is set, when they count from the first byte.
type direction struct {
	piece    int           // write at most this many bytes at a time; 0: as read
	maxDelay time.Duration // wait up to this long before each piece
	stallAt  int64         // after this many bytes, stop reading ...
	stall    time.Duration // ... for this long; forever: until the other direction ends
	cutAt    int64         // after this many bytes ...
	cut      cut           // ... do this
	inHead   bool          // cutAt counts from the first byte, not after the head
}

// forever, as a stall, lasts until the other direction has ended.
const forever = -1

// A faultMode is one way of breaking connections, and what the clients
// that meet it must see.
type faultMode struct {
	name          string
	count         int                           // clients that meet it, at full scale
	quick         bool                          // through the server with the short idle timeout
	sizes         []int                         // message sizes, in turn
	inOrder       bool                          // every client sends sizes[0] first
	big           bool                          // one client in a hundred also sends 1 MiB
	cutsHandshake bool                          // no client gets a connection
	up, down      func(i int) direction         // client to server, server to client, for the relay's i-th connection
	expect        func(t *testing.T, o outcome) // the check of each client's outcome
}

// An outcome is how one client's connection went.
type outcome struct {
	dialErr error  // Dial's error, if it failed
	sent    int    // messages sent
	echoed  int    // messages that came back, each checked byte for byte
	corrupt string // what came back that was not what was sent, if anything
	end     error  // the error that ended the connection
}

// The message sizes: every length form of §5.2 (7-bit, 16-bit, 64-bit),
// at their edges, and a 1 MiB message for one client in a hundred.
var (
	tinySizes  = []int{0, 1, 125, 126, 127}
	mixedSizes = []int{0, 125, 126, 65535, 4096, 1, 65536}
	faultSizes = []int{65536, 125, 0} // the first one is being sent when the fault comes
)

const bigMessage = 1 << 20

// The server's timeouts. The main server's idle timeout is far longer
// than anything a client waits for; the quick server's is short enough
// to expire under a stalled client.
const (
	longIdle   = 30 * time.Second
	quickIdle  = time.Second
	closeAfter = 2 * time.Second
)

var faultModes = []faultMode{
	{name: "no-fault", count: 300, sizes: mixedSizes, big: true,
		up: plain, down: plain, expect: echoedAllAndClosed},
	{name: "split-1-byte", count: 200, sizes: tinySizes,
		up:     func(int) direction { return direction{piece: 1, maxDelay: 100 * time.Microsecond} },
		down:   func(int) direction { return direction{piece: 1, maxDelay: 100 * time.Microsecond} },
		expect: echoedAllAndClosed},
	{name: "delayed-pieces", count: 300, sizes: mixedSizes, big: true,
		up:     func(int) direction { return direction{piece: 4096, maxDelay: time.Millisecond} },
		down:   func(int) direction { return direction{piece: 4096, maxDelay: time.Millisecond} },
		expect: echoedAllAndClosed},
	{name: "stalled-reads", count: 300, sizes: mixedSizes, big: true,
		up:     func(int) direction { return direction{stallAt: 100, stall: 300 * time.Millisecond} },
		down:   func(int) direction { return direction{stallAt: 1000, stall: 300 * time.Millisecond} },
		expect: echoedAllAndClosed},
	{name: "stalled-past-idle-timeout", count: 100, quick: true, sizes: faultSizes, inOrder: true,
		up:     func(int) direction { return direction{stallAt: 0, stall: forever} },
		down:   plain,
		expect: endedAbnormally},
	{name: "half-close-from-client", count: 250, sizes: faultSizes, inOrder: true,
		up:     func(i int) direction { return direction{cutAt: midFirstFrame(i), cut: halfClose} },
		down:   plain,
		expect: endedAbnormally},
	{name: "half-close-from-server", count: 250, sizes: faultSizes, inOrder: true,
		up:     plain,
		down:   func(i int) direction { return direction{cutAt: midFirstFrame(i), cut: halfClose} },
		expect: endedAbnormally},
	{name: "reset-mid-frame", count: 400, sizes: faultSizes, inOrder: true,
		up: func(i int) direction {
			if i%2 == 0 {
				return direction{cutAt: midFirstFrame(i), cut: reset}
			}
			return direction{}
		},
		down: func(i int) direction {
			if i%2 == 1 {
				return direction{cutAt: midFirstFrame(i), cut: reset}
			}
			return direction{}
		},
		expect: endedAbnormally},
	{name: "drop-mid-handshake", count: 150, sizes: tinySizes, cutsHandshake: true,
		up:     func(i int) direction { return direction{cutAt: 1 + int64(i%150), cut: dropBoth, inHead: true} },
		down:   plain,
		expect: dialFailed},
	{name: "drop-mid-answer", count: 150, sizes: tinySizes, cutsHandshake: true,
		up:     plain,
		down:   func(i int) direction { return direction{cutAt: 1 + int64(i%120), cut: dropBoth, inHead: true} },
		expect: dialFailed},
}

func plain(int) direction { return direction{} }

// midFirstFrame is a byte offset inside the first frame, of 65,536 bytes
// and a 10-byte (server) or 14-byte (client) header: in its header for
// some connections, in its payload for most.
func midFirstFrame(i int) int64 { return 1 + int64(i*7919)%65000 }

// TestFaults runs every fault mode at once, 2,400 clients at full scale
// (raceScale under -race), of which 2,000 hold their connections open
// together before any sends a message, while a prober opens a clean
// connection every 20 ms and checks its echo. Each subtest reports on
// that one run: one per fault mode, then the server's answers to the
// prober throughout, memory, and leaks.
func TestFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("thousands of connections; not in -short")
	}
	scale := 1.0
	if raceEnabled {
		scale = raceScale
	}
	counts := make([]int, len(faultModes))
	clients, held := 0, 0
	for m, mode := range faultModes {
		counts[m] = max(1, int(float64(mode.count)*scale))
		clients += counts[m]
		if !mode.quick && !mode.cutsHandshake {
			held += counts[m]
		}
	}
	// Each client holds 4 descriptors: its own socket, the relay's two,
	// the server's.
	raiseFDLimit(t, uint64(4*clients+1000))

	// The baseline: after one connection, as in TestNoLeaks, which leaves
	// the network poller's descriptors open.
	warm := startHardenedApp(t, hardening{})
	if err := probe(context.Background(), warm.Listener.Addr().String()); err != nil {
		t.Fatal(err)
	}
	warm.Close()
	baseGoroutines, baseFDs := runtime.NumGoroutine(), openFDs()

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	runtime.GC()
	baseHeap := heapInuse()
	run := runFaults(t, ctx, counts, held)
	leaks := leftOver(baseGoroutines, baseFDs)

	for m, mode := range faultModes {
		t.Run(mode.name, func(t *testing.T) {
			for _, o := range run.outcomes[m] {
				checkIntact(t, o)
				checkBounded(t, o)
				mode.expect(t, o)
				if t.Failed() {
					return // one client's failure says it; 300 would drown it
				}
			}
		})
	}
	t.Run("held-open-together", func(t *testing.T) {
		if run.heldOpen < held {
			t.Errorf("%d connections open at once on the server, want %d", run.heldOpen, held)
		}
		t.Logf("%d clients, %d connections open at once", clients, run.heldOpen)
	})
	t.Run("new-connections-answered-throughout", func(t *testing.T) {
		if run.probeErr != nil {
			t.Errorf("a clean connection, opened while the faults ran: %v", run.probeErr)
		}
		if run.probes < 2 {
			t.Errorf("%d clean connections answered, want at least one during the run and one with all %d open", run.probes, held)
		}
		t.Logf("%d clean connections answered", run.probes)
	})
	t.Run("memory-bounded", func(t *testing.T) {
		// An idle connection holds, at the client, the relay and the
		// server, two Conns, two 4 KiB relay buffers, and what net/http
		// kept: heldConnHeap in all.
		perConn := (run.heldHeap - min(baseHeap, run.heldHeap)) / uint64(max(run.heldOpen, 1))
		if perConn > heldConnHeap {
			t.Errorf("HeapInuse grew by %d KiB per idle connection, more than %d KiB", perConn>>10, heldConnHeap>>10)
		}
		// Under traffic, a message is in memory at most four times: the
		// client's, the server's buffer, the echo, the client's read.
		bound := baseHeap + uint64(clients)*heldConnHeap + 4*uint64(run.messageBytes)
		if run.maxHeap > bound {
			t.Errorf("HeapInuse peaked at %d MiB, over the bound of %d MiB", run.maxHeap>>20, bound>>20)
		}
		t.Logf("HeapInuse: %d KiB per idle connection; peaked at %d MiB (bound %d MiB) with %d MiB of messages",
			perConn>>10, run.maxHeap>>20, bound>>20, run.messageBytes>>20)
	})
	t.Run("no-leaks", func(t *testing.T) {
		if leaks != "" {
			t.Error(leaks)
		}
	})
}

// heldConnHeap bounds the heap an idle connection costs, counting both
// ends and the relay between them.
const heldConnHeap = 32 << 10

// A faultRun is what runFaults saw.
type faultRun struct {
	outcomes     [][]outcome // by mode, by client
	heldOpen     int         // connections open on the server while all were held
	probes       int         // clean connections answered
	probeErr     error       // the first that was not
	maxHeap      uint64      // the highest HeapInuse seen
	messageBytes int         // the size of every message of every client
	heldHeap     uint64      // HeapInuse after a GC, with every held connection open
}

// runFaults starts the servers and a relay for each fault mode, runs
// counts[m] clients of each mode at once, and stops it all, servers
// included, before it returns. Clients of the main server that should
// get through the handshake hold their connections until all held of
// them are open, and only then send.
func runFaults(t *testing.T, ctx context.Context, counts []int, held int) *faultRun {
	run := &faultRun{outcomes: make([][]outcome, len(faultModes))}
	app := startHardenedApp(t, hardening{opts: Options{IdleTimeout: longIdle, CloseTimeout: closeAfter, MaxMessage: 2 * bigMessage}})
	quick := startHardenedApp(t, hardening{opts: Options{IdleTimeout: quickIdle, CloseTimeout: closeAfter}})
	clientOpts := &DialOptions{Options: Options{IdleTimeout: longIdle, CloseTimeout: closeAfter, MaxMessage: 2 * bigMessage}}

	var relays []*relay
	running := make([]atomic.Int32, len(faultModes)) // clients, by mode
	var clients sync.WaitGroup
	var dialed sync.WaitGroup // held clients whose Dial returned
	hold := make(chan struct{})
	dialed.Add(held)
	for m, mode := range faultModes {
		server := app
		if mode.quick {
			server = quick
		}
		r := startRelay(t, ctx, server.Listener.Addr().String(), mode)
		relays = append(relays, r)
		url := "ws://" + r.ln.Addr().String() + "/echo"
		holds := !mode.quick && !mode.cutsHandshake
		run.outcomes[m] = make([]outcome, counts[m])
		for i := range counts[m] {
			sizes := messageSizes(i, mode)
			for _, size := range sizes {
				run.messageBytes += size
			}
			clients.Add(1)
			running[m].Add(1)
			go func() {
				defer clients.Done()
				defer running[m].Add(-1)
				c, err := Dial(ctx, url, clientOpts)
				if holds {
					dialed.Done()
					select {
					case <-hold:
					case <-ctx.Done():
					}
				}
				run.outcomes[m][i] = converse(c, err, messages(m, i, sizes))
			}()
		}
	}

	// The prober: a clean connection every 20 ms, straight to the server,
	// and a look at the heap.
	proberDone, stopProber := make(chan struct{}), make(chan struct{})
	var probes atomic.Int32
	var probeErr error
	var maxHeap atomic.Uint64
	go func() {
		defer close(proberDone)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for n := 0; n < 10_000; n++ { // a bound: 200 s of ticks
			select {
			case <-tick.C:
			case <-stopProber:
				return
			}
			maxHeap.Store(max(maxHeap.Load(), heapInuse()))
			if err := probe(ctx, app.Listener.Addr().String()); err != nil {
				probeErr = err
				return
			}
			probes.Add(1)
		}
	}()

	// Every held connection open at once, then one more, clean, answered.
	if !waitGroupWithin(ctx, &dialed) {
		t.Errorf("the held clients' Dials had not all returned when the test's time ran out")
	}
	run.heldOpen = app.s.openConns()
	runtime.GC()
	run.heldHeap = heapInuse()
	if err := probe(ctx, app.Listener.Addr().String()); err != nil {
		t.Errorf("a clean connection with %d open: %v", run.heldOpen, err)
	} else {
		probes.Add(1)
	}
	maxHeap.Store(max(maxHeap.Load(), heapInuse()))
	close(hold)

	if !waitGroupWithin(ctx, &clients) {
		var still []string
		for m, mode := range faultModes {
			if n := running[m].Load(); n > 0 {
				still = append(still, fmt.Sprintf("%d of %s", n, mode.name))
			}
		}
		t.Fatalf("clients still running when the test's time ran out: %v", still)
	}
	close(stopProber)
	<-proberDone
	run.probes, run.probeErr, run.maxHeap = int(probes.Load()), probeErr, maxHeap.Load()

	// Stop it all: the relays, then the servers, whose conversations
	// must all have ended.
	for _, r := range relays {
		r.stop()
	}
	for _, s := range []*testApp{app, quick} {
		s.Close()
		s.waitHandlers(t)
		if n := s.s.openConns(); n != 0 {
			t.Errorf("%d connections still counted open after every client ended", n)
		}
	}
	return run
}

// messageSizes returns the sizes of client i's messages: three, those
// that follow the i-th in mode.sizes, or the first three if inOrder; and
// for one client in a hundred, if big, a fourth of 1 MiB.
func messageSizes(i int, mode faultMode) []int {
	var sizes []int
	for j := range 3 {
		if mode.inOrder {
			sizes = append(sizes, mode.sizes[j%len(mode.sizes)])
		} else {
			sizes = append(sizes, mode.sizes[(i+j)%len(mode.sizes)])
		}
	}
	if mode.big && i%100 == 0 {
		sizes = append(sizes, bigMessage)
	}
	return sizes
}

// messages returns messages of the sizes given, each unique to client i
// of mode m, text and binary in turn. They are made only when the client
// is about to send them, so that the heap holds no more of them than the
// clients still sending.
func messages(m, i int, sizes []int) [][]byte {
	var msgs [][]byte
	for j, size := range sizes {
		msgs = append(msgs, faultPattern(size, m*100_000+i*10+j, j%2 == 0))
	}
	return msgs
}

// faultPattern is size bytes that depend on seed: ASCII letters if text.
func faultPattern(size, seed int, text bool) []byte {
	b := make([]byte, size)
	for k := range b {
		b[k] = byte(seed + k*31 + k>>8)
		if text {
			b[k] = 'a' + b[k]%26
		}
	}
	return b
}

// converse echoes msgs over c one at a time, checking each echo, then
// starts the closing handshake and reads the server's Close.
func converse(c *Conn, dialErr error, msgs [][]byte) (o outcome) {
	if dialErr != nil {
		return outcome{dialErr: dialErr}
	}
	defer c.Close(StatusNormal, "") // returns at once if already closed
	for j, msg := range msgs {
		op := OpBinary
		if j%2 == 0 {
			op = OpText
		}
		if o.end = c.WriteMessage(op, msg); o.end != nil {
			return o
		}
		o.sent++
		gotOp, got, err := c.ReadMessage()
		if o.end = err; err != nil {
			return o
		}
		if gotOp != op || !bytes.Equal(got, msg) {
			o.corrupt = fmt.Sprintf("message %d: sent %d bytes of opcode %d, got %d bytes of opcode %d, or other bytes", j, len(msg), op, len(got), gotOp)
			return o
		}
		o.echoed++
	}
	if o.end = c.StartClose(StatusNormal, ""); o.end != nil {
		return o
	}
	_, _, o.end = c.ReadMessage() // the server's Close (§7.1.2)
	return o
}

// checkIntact: every message that came back is the one sent.
func checkIntact(t *testing.T, o outcome) {
	if o.corrupt != "" {
		t.Errorf("an echo was not the message sent: %s", o.corrupt)
	}
}

// checkBounded: no wait ran into a timeout; every connection ended
// because of what its peer or relay did.
func checkBounded(t *testing.T, o outcome) {
	for _, err := range []error{o.dialErr, o.end} {
		if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("a wait ran out of time (a hang): %v", err)
		}
	}
}

// echoedAllAndClosed: every message came back, and the server answered
// the client's Close with 1000 (§7.1.2, §7.4.1).
func echoedAllAndClosed(t *testing.T, o outcome) {
	var closed *CloseError
	switch {
	case o.dialErr != nil:
		t.Errorf("Dial: %v", o.dialErr)
	case o.echoed != o.sent || o.end == nil:
		t.Errorf("%d of %d messages came back, then %v", o.echoed, o.sent, o.end)
	case !errors.As(o.end, &closed) || closed.Code != StatusNormal:
		t.Errorf("the connection ended with %v, want the server's Close with 1000", o.end)
	}
}

// endedAbnormally: the connection opened, and ended with a close code or
// a reported 1006, a CloseError either way (§7.1.5).
func endedAbnormally(t *testing.T, o outcome) {
	var closed *CloseError
	switch {
	case o.dialErr != nil:
		t.Errorf("Dial: %v", o.dialErr)
	case !errors.As(o.end, &closed):
		t.Errorf("after %d of %d messages came back, the connection ended with %v, want a CloseError", o.echoed, o.sent, o.end)
	}
}

// dialFailed: Dial saw the handshake cut short and failed; it did not
// return a connection, and did not wait for its timeout (checkBounded).
func dialFailed(t *testing.T, o outcome) {
	if o.dialErr == nil {
		t.Errorf("Dial succeeded though the handshake was cut; then %d messages came back and %v", o.echoed, o.end)
	}
}

// probe opens a clean connection to addr's /echo, checks one echo and
// closes it with 1000 answered.
func probe(ctx context.Context, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, testTimeout)
	defer cancel()
	c, err := Dial(ctx, "ws://"+addr+"/echo", &DialOptions{Options: Options{IdleTimeout: testTimeout}})
	o := converse(c, err, [][]byte{[]byte("probe")})
	var closed *CloseError
	switch {
	case o.dialErr != nil:
		return o.dialErr
	case o.echoed != 1:
		return fmt.Errorf("no echo: %v %s", o.end, o.corrupt)
	case !errors.As(o.end, &closed) || closed.Code != StatusNormal:
		return fmt.Errorf("ended with %v, want the server's Close with 1000", o.end)
	}
	return nil
}

func heapInuse() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// raiseFDLimit raises this process's limit on open files to at least n,
// the hard limit too if it is lower and the test may (root), and puts it
// back when the test ends.
func raiseFDLimit(t testing.TB, n uint64) {
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Skipf("cannot read the limit on open files: %v", err)
	}
	if old.Cur >= n {
		return
	}
	raised := syscall.Rlimit{Cur: n, Max: max(old.Max, n)}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err != nil {
		t.Skipf("needs %d open files, the limit is %d and cannot be raised: %v", n, old.Cur, err)
	}
	t.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old) })
}

// ---------------------------------------------------------------------------
// The relay
// ---------------------------------------------------------------------------

// A relay listens on loopback and connects each client to the server
// through two forwarders, one each way, which break the connection as
// the fault mode says. ctx ending closes every connection, so that a
// relay never outlives a test that failed.
type relay struct {
	ln       net.Listener
	upstream string
	mode     faultMode
	ctx      context.Context
	conns    sync.WaitGroup
}

func startRelay(t testing.TB, ctx context.Context, upstream string, mode faultMode) *relay {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{ln: ln, upstream: upstream, mode: mode, ctx: ctx}
	r.conns.Add(1)
	go r.accept()
	t.Cleanup(r.stop)
	return r
}

// stop closes the listener and waits for every connection's forwarders.
func (r *relay) stop() {
	r.ln.Close()
	r.conns.Wait()
}

func (r *relay) accept() {
	defer r.conns.Done()
	for i := 0; ; i++ {
		nc, err := r.ln.Accept()
		if err != nil {
			return // stopped
		}
		r.conns.Add(1)
		go r.serve(nc.(*net.TCPConn), i)
	}
}

// A pair is one client's connection through the relay: the client's
// side and the server's.
type pair struct {
	client, server *net.TCPConn
	closing        sync.Once
}

// close closes both sides, with a reset if asked.
func (p *pair) close(withReset bool) {
	p.closing.Do(func() {
		if withReset {
			p.client.SetLinger(0)
			p.server.SetLinger(0)
		}
		p.client.Close()
		p.server.Close()
	})
}

// serve connects the relay's i-th client to the server and forwards both
// ways until both have ended.
func (r *relay) serve(client *net.TCPConn, i int) {
	defer r.conns.Done()
	d := net.Dialer{Timeout: testTimeout}
	nc, err := d.DialContext(r.ctx, "tcp", r.upstream)
	if err != nil {
		client.Close()
		return
	}
	p := &pair{client: client, server: nc.(*net.TCPConn)}
	stop := context.AfterFunc(r.ctx, func() { p.close(true) })
	defer stop()
	upDone, downDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(upDone)
		forward(p, p.client, p.server, r.mode.up(i), downDone, uint64(i))
	}()
	forward(p, p.server, p.client, r.mode.down(i), upDone, uint64(i)+1<<32)
	close(downDone)
	<-upDone
	p.close(false)
}

// forward passes src on to dst as d says, until src ends or d cuts it.
// An end of src (a FIN) is passed on as a half-close; an error closes
// both sides. other is closed when the other direction has ended.
func forward(p *pair, src, dst *net.TCPConn, d direction, other <-chan struct{}, seed uint64) {
	random := rand.New(rand.NewPCG(seed, 0))
	buf := make([]byte, 4096)
	var total int64
	head := headEnd{at: -1}
	stalled := false
	for {
		if !stalled && head.at >= 0 && total >= head.at+d.stallAt && d.stall != 0 {
			stalled = true
			stallFor(d.stall, other)
		}
		n, err := src.Read(buf)
		if n > 0 {
			data := buf[:n]
			head.scan(total, data)
			cutNow := false
			if at := cutOffset(d, head); at >= 0 && total+int64(len(data)) >= at {
				data, cutNow = data[:at-total], true
			}
			if !writePieces(dst, data, d, random) {
				p.close(false)
				return
			}
			total += int64(len(data))
			if cutNow {
				doCut(p, src, dst, d.cut)
				return
			}
		}
		if err == io.EOF {
			dst.CloseWrite()
			return
		}
		if err != nil {
			p.close(false)
			return
		}
	}
}

// stallFor stops reading for d, or until the other direction ends.
func stallFor(d time.Duration, other <-chan struct{}) {
	if d == forever {
		<-other
		return
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-other:
	}
}

// cutOffset is the stream offset at which d cuts, or -1: none, or not
// known until the head has been seen.
func cutOffset(d direction, head headEnd) int64 {
	switch {
	case d.cut == noCut:
		return -1
	case d.inHead:
		return d.cutAt
	case head.at < 0:
		return -1
	}
	return head.at + d.cutAt
}

// writePieces writes data to dst in pieces of at most d.piece bytes (of
// a random size up to it when d.maxDelay is set), each after a random
// wait up to d.maxDelay, and reports whether every write succeeded.
func writePieces(dst *net.TCPConn, data []byte, d direction, random *rand.Rand) bool {
	for len(data) > 0 {
		n := len(data)
		if d.piece > 0 {
			n = min(n, d.piece)
		}
		if d.maxDelay > 0 {
			n = 1 + random.IntN(n)
			if wait := time.Duration(random.Int64N(int64(d.maxDelay))); wait > 0 {
				<-time.After(wait)
			}
		}
		dst.SetWriteDeadline(time.Now().Add(testTimeout))
		if _, err := dst.Write(data[:n]); err != nil {
			return false
		}
		data = data[n:]
	}
	return true
}

// doCut breaks the connection as c says, in the direction src to dst.
func doCut(p *pair, src, dst *net.TCPConn, c cut) {
	switch c {
	case halfClose:
		// A FIN where a frame should go on; whatever else comes is
		// dropped, as a peer that is gone would drop it.
		dst.CloseWrite()
		io.Copy(io.Discard, src)
	case reset:
		p.close(true)
	case dropBoth:
		p.close(false)
	}
}

// headEnd finds where an HTTP head ends, "\r\n\r\n", in a stream read in
// pieces.
type headEnd struct {
	at   int64 // the offset of the first byte after the head, or -1
	last [4]byte
}

func (h *headEnd) scan(offset int64, data []byte) {
	for k, b := range data {
		if h.at >= 0 {
			return
		}
		h.last = [4]byte{h.last[1], h.last[2], h.last[3], b}
		if h.last == [4]byte{'\r', '\n', '\r', '\n'} {
			h.at = offset + int64(k) + 1
		}
	}
}
