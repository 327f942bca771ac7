package main

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// TestLogWriter: the log's writer batches lines (main.go, logWriter), and
// must write every line whole, each logger's lines in their order, and
// all of them once Flush returns, as main calls it before the process
// exits. The loggers reuse their buffer, as slog's handlers do, so a
// writer that kept it rather than copying would write garbage.
func TestLogWriter(t *testing.T) {
	var out syncBuffer
	l := newLogWriter(&out)
	const loggers, lines = 8, 500
	var wg sync.WaitGroup
	for g := range loggers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			for i := range lines {
				buf = fmt.Appendf(buf[:0], "logger=%d line=%d %s\n", g, i, strings.Repeat("x", i%50))
				l.Write(buf)
			}
		}()
	}
	wg.Wait()
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	next := make([]int, loggers) // the line each logger's next one must be
	written := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	for _, line := range written {
		var g, i int
		if _, err := fmt.Sscanf(line, "logger=%d line=%d", &g, &i); err != nil || g < 0 || g >= loggers ||
			line != fmt.Sprintf("logger=%d line=%d %s", g, i, strings.Repeat("x", i%50)) {
			t.Fatalf("a line that no logger wrote: %q", line)
		}
		if i != next[g] {
			t.Fatalf("logger %d: line %d came where line %d should have", g, i, next[g])
		}
		next[g]++
	}
	if len(written) != loggers*lines {
		t.Fatalf("%d lines written, want %d", len(written), loggers*lines)
	}
}

// syncBuffer is a bytes.Buffer that may be written and read at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
