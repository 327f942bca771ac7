package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// idleConns is how many connections BenchmarkIdleConnections holds.
const idleConns = 10_000

// BenchmarkIdleConnections holds 10,000 idle WebSockets open at once to
// /echo of the application as main builds it (serveAsMain), on loopback,
// and reports what each costs the server: the heap (HeapInuse) and the
// goroutine stacks (StackInuse) in use, and the memory taken from the
// system (Sys), per connection. The clients, Dial's, live in a child
// process (this test binary again, running TestIdleClients), so that only
// the server's side is measured, and so that each process keeps 10,000
// sockets, within the usual limit on open files. Each iteration opens and
// drops all of them; run it once:
//
//	go test -run '^$' -bench BenchmarkIdleConnections -benchtime 1x .
//
// An idle connection's goroutine waits in the 2 KiB stack it started with
// (ws.go, "The idle connection"), which no test can see: the benchmark
// fails when the stacks held per connection say it has doubled.
func BenchmarkIdleConnections(b *testing.B) {
	raiseFDLimit(b, idleConns+1000)
	s, addr := serveAsMain(b)
	var heap, stacks, sys float64
	for b.Loop() {
		before := memoryNow()
		goroutines := runtime.NumGoroutine()
		clients := exec.Command(os.Args[0], "-test.run", "^TestIdleClients$")
		clients.Env = append(os.Environ(), "WSECHO_IDLE_CLIENTS=ws://"+addr+"/echo")
		clients.Stderr = os.Stderr
		hold, _ := clients.StdinPipe()
		out, _ := clients.StdoutPipe()
		if err := clients.Start(); err != nil {
			b.Fatal(err)
		}
		line, _ := bufio.NewReader(out).ReadString('\n') // ends with the child, at worst
		if !strings.HasPrefix(line, "open") {
			hold.Close()
			clients.Wait()
			b.Fatalf("the clients said %q, want \"open\"", line)
		}
		eventually(b, "all 10,000 open on the server", func() bool { return s.openConns() == idleConns })
		// and net/http's goroutines, whose stacks grew, gone
		eventually(b, "one goroutine per connection", func() bool { return runtime.NumGoroutine() <= goroutines+idleConns })
		after := memoryNow()
		heap += float64(after.HeapInuse) - float64(before.HeapInuse)
		stacks += float64(after.StackInuse) - float64(before.StackInuse)
		sys += float64(after.Sys) - float64(before.Sys)
		hold.Close() // the child drops them all and exits
		if err := clients.Wait(); err != nil {
			b.Fatal(err)
		}
		allGivenBack(b, s)
	}
	perConn := float64(b.N) * idleConns
	b.ReportMetric(heap/perConn, "heap-B/conn")
	b.ReportMetric(stacks/perConn, "stack-B/conn")
	b.ReportMetric(sys/perConn/1024, "KiB-sys/conn")
	if stack := stacks / perConn; stack > 3<<10 {
		b.Errorf("an idle connection holds %.0f bytes of stack: its goroutine's wait has outgrown the 2 KiB stack it started with, which the runtime doubled (ws.go, \"The idle connection\")", stack)
	}
}

// TestIdleClients is BenchmarkIdleConnections's child process: it opens
// idleConns connections to the URL in WSECHO_IDLE_CLIENTS, says "open",
// and holds them until its standard input ends. Run alone, it skips.
func TestIdleClients(t *testing.T) {
	url := os.Getenv("WSECHO_IDLE_CLIENTS")
	if url == "" {
		t.Skip("the child process of BenchmarkIdleConnections")
	}
	raiseFDLimit(t, idleConns+1000)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	opts := &DialOptions{Options: Options{IdleTimeout: time.Hour}}
	conns := make([]*Conn, idleConns)
	inParallel(idleConns, func(i int) {
		c, err := Dial(ctx, url, opts)
		if err != nil {
			t.Errorf("connection %d: %v", i, err)
			return
		}
		conns[i] = c
	})
	if t.Failed() {
		return
	}
	fmt.Println("open")
	io.Copy(io.Discard, os.Stdin) // until the benchmark says
}

// memoryNow is the runtime's memory statistics after a collection.
func memoryNow() runtime.MemStats {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m
}

// inParallel calls f(0) to f(n-1), 100 at a time.
func inParallel(n int, f func(i int)) {
	var wg sync.WaitGroup
	slots := make(chan struct{}, 100)
	for i := range n {
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			f(i)
		}()
	}
	wg.Wait()
}
