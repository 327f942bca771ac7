package main

// BenchmarkServerHandshake: the whole life of a short connection, in
// process, against the floor (testdata/floor: net/http, hijack, 101,
// nothing checked), so that the server's excess over net/http shows in
// go test -bench (BENCHMARKS.md, "Handshake").

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// BenchmarkServerHandshake opens one connection at a time over loopback,
// as a browser would (Host, Origin, a key), and times it from net/http's
// accept to the first frame read and echoed (benchHandshakes). The client is the same lean one for both servers, so the
// difference between the two lines is the server's own:
//
//   - floor: testdata/floor's handler, which hijacks and answers 101
//     without a check, and echoes single frames;
//   - wsecho: main's server, as main builds it with its default flags:
//     s.httpServer, routes, the Host guard, -max-conns and
//     -max-header-bytes, every check of Upgrade, and its two log lines per
//     connection, written to /dev/null (a real write system call each).
//
// ns/op is the time of one opening, end to end; cpu-ns/op the CPU the
// process (client and server) spent on it, as the shared harness counts
// the server's. The "websocket closed" line, logged at the end, is
// outside the timed part, as it is outside the harness's handshakes.
func BenchmarkServerHandshake(b *testing.B) {
	b.Run("floor", func(b *testing.B) {
		var running sync.WaitGroup
		mux := http.NewServeMux()
		mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
			floorHandshake(w, r, &running)
		})
		addr := serveForBench(b, &http.Server{Handler: mux})
		benchHandshakes(b, addr, running.Wait)
	})
	b.Run("wsecho", func(b *testing.B) {
		s, addr := serveAsMain(b)
		benchHandshakes(b, addr, func() {
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			if !s.wait(ctx) {
				b.Fatal("a connection was still open")
			}
		})
	})
}

// serveAsMain serves on a loopback port the application as main builds it
// with its default flags: s.httpServer, routes, the Host guard,
// -max-conns and -max-header-bytes, and main's log, whose lines its
// logWriter writes to /dev/null (a real write system call each batch).
func serveAsMain(b *testing.B) (*server, string) {
	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { devNull.Close() })
	ln := listenForBench(b)
	logw := newLogWriter(devNull)                                     // main's log
	s := newServer(slog.New(slog.NewTextHandler(logw, nil)), Options{ // main's defaults
		Hosts:        allowedHosts(ln.Addr(), nil),
		MaxMessage:   16 << 20,
		MaxFragments: 1 << 17,
		IdleTimeout:  time.Minute,
		CloseTimeout: 5 * time.Second,
	})
	s.maxConns, s.maxHeaderBytes = 20000, 16<<10
	s.textLog = logw
	srv := s.httpServer(10 * time.Second)
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Close() })
	return s, ln.Addr().String()
}

// floorHandshake is testdata/floor's handler: the accept key, the hijack,
// the 101, and a goroutine that echoes single small frames.
func floorHandshake(w http.ResponseWriter, r *http.Request, running *sync.WaitGroup) {
	sum := sha1.Sum([]byte(r.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	nc, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	nc.Write([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: " + base64.StdEncoding.EncodeToString(sum[:]) + "\r\n\r\n"))
	running.Add(1)
	go func() {
		defer running.Done()
		defer nc.Close()
		var in [256]byte
		for {
			n, err := nc.Read(in[:])
			if err != nil || n < 6 || in[1]&0x7F > 125 || n < 6+int(in[1]&0x7F) {
				return
			}
			length, key := int(in[1]&0x7F), in[2:6]
			out := make([]byte, 2+length)
			out[0], out[1] = in[0], byte(length)
			for i := range length {
				out[2+i] = in[6+i] ^ key[i%4]
			}
			if _, err := nc.Write(out); err != nil {
				return
			}
		}
	}()
}

func listenForBench(b *testing.B) net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	return ln
}

func serveForBench(b *testing.B, srv *http.Server) string {
	ln := listenForBench(b)
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// benchHandshakes runs b's loop of connections to addr's /echo and
// reports allocations and the process's CPU per connection. What b times
// is a connection's opening: the handshake and a first message echoed.
// The connections are then held open, as the shared harness holds its
// 10,000, and closed a hundred at a time with the timer stopped; settle
// waits for the server to have ended them all.
func benchHandshakes(b *testing.B, addr string, settle func()) {
	request := []byte("GET /echo HTTP/1.1\r\nHost: " + addr + "\r\n" +
		"Upgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
		"Origin: http://" + addr + "\r\n" +
		"User-Agent: Mozilla/5.0 (X11; Linux x86_64) bench\r\n\r\n")
	hello := encode(text("hello"), [4]byte{1, 2, 3, 4})
	bye := encode(closeFrame(StatusNormal, ""), [4]byte{5, 6, 7, 8})
	buf := make([]byte, 1024)
	var open []net.Conn
	closeAll := func() {
		for _, nc := range open {
			nc.Write(bye)
			readUntil(b, nc, buf, func(got []byte) bool { return len(got) >= 4 }) // the Close in answer
			nc.Close()
		}
		open = open[:0]
		settle()
	}
	b.ReportAllocs()
	var cpu time.Duration
	start := cpuTime()
	n := 0
	for b.Loop() {
		open = append(open, openConnection(b, addr, request, hello, buf))
		n++
		if len(open) == 100 {
			cpu += cpuTime() - start
			b.StopTimer()
			closeAll()
			b.StartTimer()
			start = cpuTime()
		}
	}
	cpu += cpuTime() - start
	b.StopTimer()
	closeAll()
	b.ReportMetric(float64(cpu)/float64(n), "cpu-ns/op")
}

// openConnection opens a WebSocket as a browser does: the handshake, then
// one text message and its echo.
func openConnection(b *testing.B, addr string, request, hello, buf []byte) net.Conn {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(testTimeout))
	nc.Write(request)
	got := readUntil(b, nc, buf, func(got []byte) bool { return bytes.HasSuffix(got, []byte("\r\n\r\n")) })
	if !bytes.HasPrefix(got, []byte("HTTP/1.1 101 ")) {
		b.Fatalf("got %q, want a 101", got)
	}
	nc.Write(hello)
	readUntil(b, nc, buf, func(got []byte) bool { return len(got) >= 2+5 }) // its echo
	return nc
}

// readUntil reads from nc into buf until done says what arrived is enough.
func readUntil(b *testing.B, nc net.Conn, buf []byte, done func([]byte) bool) []byte {
	n := 0
	for !done(buf[:n]) {
		m, err := nc.Read(buf[n:])
		n += m
		if err != nil {
			b.Fatalf("after %q: %v", buf[:n], err)
		}
	}
	return buf[:n]
}

// cpuTime is the CPU time, user and system, this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkHandshakeParts times each step the server adds to the floor's
// handshake, alone, for BENCHMARKS.md's breakdown ("Handshake"): what
// the whole handshake costs is BenchmarkServerHandshake's.
func BenchmarkHandshakeParts(b *testing.B) {
	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer devNull.Close()
	addr := "127.0.0.1:5000"
	ln := addrString(addr)
	logw := newLogWriter(devNull)
	s := newServer(slog.New(slog.NewTextHandler(logw, nil)), Options{Hosts: allowedHosts(ln, nil)})
	s.textLog = logw // as main's
	s.maxConns, s.maxHeaderBytes = 20000, 16<<10
	r := httptestRequest(b, addr)
	part := func(name string, f func()) {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				f()
			}
		})
	}
	part("floor-key", func() { // the floor's: the key, SHA-1 and base64
		sum := sha1.Sum([]byte(r.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
		_ = base64.StdEncoding.EncodeToString(sum[:])
	})
	part("limits", func() { // -max-header-bytes and -max-conns, taken and given back
		if s.checkLimits(r) != nil {
			b.Fatal("refused")
		}
		s.release()
	})
	part("public-request", func() { // -trusted-proxies (none) and the log's peer
		pub := s.publicRequest(r)
		_ = peerOf(r, pub)
	})
	part("readHandshake", func() {
		if _, refusal := readHandshake(r); refusal != nil {
			b.Fatal(refusal)
		}
	})
	part("CheckHost", func() {
		if refusal := CheckHost(r, s.opts.Hosts); refusal != nil {
			b.Fatal(refusal)
		}
	})
	part("checkOrigin", func() {
		if refusal := checkOrigin(r, nil); refusal != nil {
			b.Fatal(refusal)
		}
	})
	part("chooseSubprotocol", func() { chooseSubprotocol(r, nil) })
	part("acceptKey", func() { acceptKey("dGhlIHNhbXBsZSBub25jZQ==") })
	part("log-open", func() {
		s.logLine(slog.LevelInfo, "websocket open", peerOf(r, r).attrs("path", r.URL.Path)...)
	})
	part("log-closed", func() {
		code, reason := closeStatus(nil)
		attrs := peerOf(r, r).attrs("path", r.URL.Path,
			"code", int(code), "reason", reason, "duration", time.Duration(1234567).Round(time.Millisecond))
		s.logLine(slog.LevelInfo, "websocket closed", attrs...)
	})
}

// httptestRequest is the handshake benchHandshakes sends, as net/http
// hands it to a handler.
func httptestRequest(b *testing.B, addr string) *http.Request {
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader("GET /echo HTTP/1.1\r\nHost: " + addr + "\r\n" +
		"Upgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
		"Origin: http://" + addr + "\r\n" +
		"User-Agent: Mozilla/5.0 (X11; Linux x86_64) bench\r\n\r\n")))
	if err != nil {
		b.Fatal(err)
	}
	r.RemoteAddr = "127.0.0.1:43210"
	return r
}
