package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"
)

// BenchmarkEchoHTTP2 is a 128-byte binary echo over wss://, as a
// WebSocket on an HTTP/2 stream (RFC 8441) and on an HTTP/1.1 connection
// of its own, both through Dial to the application's /echo over TLS on
// loopback. ns/op and allocs/op are per message there and back, both ends
// in this process: the cost of HTTP/2 is the difference.
//
//	go test -run '^$' -bench BenchmarkEchoHTTP2 -benchmem .
func BenchmarkEchoHTTP2(b *testing.B) {
	for _, tt := range []struct {
		name  string
		alpn  []string
		proto string
	}{{"HTTP1.1", []string{"http/1.1"}, "HTTP/1.1"}, {"HTTP2", nil, "HTTP/2.0"}} {
		b.Run(tt.name, func(b *testing.B) {
			app := startH2App(b, Options{}, nil)
			c := dialBench(b, app, tt.alpn, tt.proto)
			msg := pattern(128)
			var buf []byte
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			for b.Loop() {
				if err := c.WriteMessage(OpBinary, msg); err != nil {
					b.Fatal(err)
				}
				var err error
				if _, buf, err = c.AppendMessage(buf[:0]); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			c.Close(StatusNormal, "")
			app.waitHandlers(b)
		})
	}
}

// BenchmarkIdleHTTP2 holds idleH2Conns idle WebSockets to /echo, each on a
// TLS connection of its own, over HTTP/2 streams and over HTTP/1.1, and
// reports the heap and stacks in use (HeapInuse+StackInuse) per
// WebSocket: both ends, as client and server are this process.
//
//	go test -run '^$' -bench BenchmarkIdleHTTP2 -benchtime 1x .
func BenchmarkIdleHTTP2(b *testing.B) {
	const idleH2Conns = 500
	for _, tt := range []struct {
		name  string
		alpn  []string
		proto string
	}{{"HTTP1.1", []string{"http/1.1"}, "HTTP/1.1"}, {"HTTP2", nil, "HTTP/2.0"}} {
		b.Run(tt.name, func(b *testing.B) {
			app := startH2App(b, Options{IdleTimeout: time.Hour}, nil)
			var inUse float64
			for b.Loop() {
				before := memoryNow()
				conns := make([]*Conn, idleH2Conns)
				for i := range conns {
					conns[i] = dialBench(b, app, tt.alpn, tt.proto)
				}
				eventually(b, "all open on the server", func() bool { return app.s.openConns() == idleH2Conns })
				after := memoryNow()
				inUse += float64(after.HeapInuse+after.StackInuse) - float64(before.HeapInuse+before.StackInuse)
				inParallel(len(conns), func(i int) { conns[i].Close(StatusNormal, "") })
				app.waitHandlers(b)
			}
			b.ReportMetric(inUse/float64(b.N)/idleH2Conns/1024, "KiB-in-use/conn")
		})
	}
}

// dialBench dials app's /echo over TLS, offering the protocols alpn (nil:
// Dial's own choice), and checks that the WebSocket runs over proto.
func dialBench(b *testing.B, app *testApp, alpn []string, proto string) *Conn {
	b.Helper()
	roots := app.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c, err := Dial(ctx, "wss://"+app.Listener.Addr().String()+"/echo", &DialOptions{
		TLSConfig: &tls.Config{RootCAs: roots, NextProtos: alpn},
		Options:   Options{IdleTimeout: time.Hour},
	})
	if err != nil {
		b.Fatal(err)
	}
	if c.Proto() != proto {
		b.Fatalf("the WebSocket runs over %s, want %s", c.Proto(), proto)
	}
	return c
}

// BenchmarkIdleHTTP2Server is BenchmarkIdleHTTP2 for the server's side
// alone, its clients in a child process (TestIdleH2Clients), and with
// HTTP/2 used as a browser uses it: idleH2Streams WebSockets as streams
// of connections that carry h2MaxStreams each. It reports the server's
// heap and stacks in use per WebSocket, against as many HTTP/1.1 ones.
//
//	go test -run '^$' -bench BenchmarkIdleHTTP2Server -benchtime 1x .
func BenchmarkIdleHTTP2Server(b *testing.B) {
	for _, proto := range []string{"http/1.1", "h2"} {
		b.Run(proto, func(b *testing.B) {
			app := startH2App(b, Options{IdleTimeout: time.Hour}, nil)
			var inUse float64
			for b.Loop() {
				before := memoryNow()
				clients := exec.Command(os.Args[0], "-test.run", "^TestIdleH2Clients$")
				clients.Env = append(os.Environ(), "WSECHO_IDLE_H2="+proto+" "+app.Listener.Addr().String()+" "+
					base64.StdEncoding.EncodeToString(app.Certificate().Raw))
				clients.Stderr = os.Stderr
				hold, _ := clients.StdinPipe()
				out, _ := clients.StdoutPipe()
				if err := clients.Start(); err != nil {
					b.Fatal(err)
				}
				line, _ := bufio.NewReader(out).ReadString('\n')
				if !strings.HasPrefix(line, "open") {
					hold.Close()
					clients.Wait()
					b.Fatalf("the clients said %q, want \"open\"", line)
				}
				eventually(b, "all open on the server", func() bool { return app.s.openConns() == idleH2Streams })
				after := memoryNow()
				inUse += float64(after.HeapInuse+after.StackInuse) - float64(before.HeapInuse+before.StackInuse)
				hold.Close()
				clients.Wait()
				eventually(b, "every WebSocket given back", func() bool { return app.s.openConns() == 0 })
			}
			b.ReportMetric(inUse/float64(b.N)/idleH2Streams/1024, "KiB-in-use/conn")
		})
	}
}

// idleH2Streams is how many WebSockets BenchmarkIdleHTTP2Server holds.
const idleH2Streams = 20 * h2MaxStreams

// TestIdleH2Clients is BenchmarkIdleHTTP2Server's child process: it opens
// idleH2Streams WebSockets to the server WSECHO_IDLE_H2 names ("h2" or
// "http/1.1", the address, the certificate in base64), says "open", and
// holds them until its standard input ends. Run alone, it skips.
func TestIdleH2Clients(t *testing.T) {
	args := strings.Fields(os.Getenv("WSECHO_IDLE_H2"))
	if len(args) != 3 {
		t.Skip("the child process of BenchmarkIdleHTTP2Server")
	}
	der, _ := base64.StdEncoding.DecodeString(args[2])
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	config := &tls.Config{RootCAs: roots}
	var held []*Conn
	if args[0] == "h2" {
		for range idleH2Streams / h2MaxStreams {
			h := newH2ClientTo(t, args[1], config)
			for range h2MaxStreams {
				h.open("/echo")
			}
		}
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		config.NextProtos = []string{"http/1.1"}
		for range idleH2Streams {
			c, err := Dial(ctx, "wss://"+args[1]+"/echo", &DialOptions{TLSConfig: config, Options: Options{IdleTimeout: time.Hour}})
			if err != nil {
				t.Fatal(err)
			}
			held = append(held, c) // a connection no longer referenced is closed by the collector
		}
	}
	fmt.Println("open")
	io.Copy(io.Discard, os.Stdin)
	runtime.KeepAlive(held)
}
