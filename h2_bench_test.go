package main

import (
	"context"
	"crypto/tls"
	"net/http"
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
