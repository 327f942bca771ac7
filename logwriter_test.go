package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestLogWriter: the log's writer batches lines (main.go, logWriter), and
// must write every line whole, each logger's lines in their order, those
// it formats itself (WriteRecord) among the others, and all of them once
// Flush returns, as main calls it before the process exits. The loggers
// reuse their buffer, as slog's handlers do, so a writer that kept it
// rather than copying would write garbage. The first write waits until
// every logger has written 300 lines, so that a batch of over 64 KiB and
// 1,024 records builds up meanwhile: its buffers are dropped, not reused, and
// the writes after it, as frequent as can be, must still not share a
// buffer with the lines that keep coming.
func TestLogWriter(t *testing.T) {
	out := &gatedWriter{entered: make(chan struct{})}
	out.gate.Lock()
	l := newLogWriter(out)
	// The first batch, one line, waits in the write for the loggers.
	l.Write([]byte("first\n"))
	go l.Flush()
	<-out.entered
	// Fewer lines in all than a logWriter holds before its loggers wait
	// (maxPendingLog, maxPendingRecords): a logger that waited for the
	// gated write before all had written early lines would never let it
	// open, whichever order the scheduler runs them in.
	const loggers, perLogger, early = 8, 1600, 300
	x := func(i int) string { return strings.Repeat("x", 1+i%200) }
	var wg, halfway sync.WaitGroup
	for g := range loggers {
		wg.Add(1)
		halfway.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			for i := range perLogger {
				if i == early {
					halfway.Done()
				}
				if i%2 == 0 { // a line for the writer to format
					l.WriteRecord(logRecord{t: time.Now(), level: slog.LevelInfo, msg: "m",
						args: []any{"logger", g, "line", i, "x", x(i)}})
					continue
				}
				buf = fmt.Appendf(buf[:0], "logger=%d line=%d x=%s\n", g, i, x(i))
				l.Write(buf)
			}
		}()
	}
	halfway.Wait()
	out.gate.Unlock()
	// Flushes as often as can be, as the lines keep coming: the buffers
	// of each batch are reused by the next but one.
	stop := make(chan struct{})
	flushing := make(chan struct{})
	go func() {
		defer close(flushing)
		for {
			select {
			case <-stop:
				return
			default:
				l.Flush()
			}
		}
	}()
	wg.Wait()
	close(stop)
	<-flushing
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	next := make([]int, loggers) // the line each logger's next one must be
	written, found := strings.CutPrefix(out.buf.String(), "first\n")
	if !found {
		t.Fatalf("the first line is not first: %.100q", written)
	}
	lines := strings.Split(strings.TrimSuffix(written, "\n"), "\n")
	formatted := regexp.MustCompile(`^time=\S+ level=INFO msg=m (logger=\d+ line=\d+ x=x*)$`)
	for _, line := range lines {
		if m := formatted.FindStringSubmatch(line); m != nil {
			line = m[1]
		}
		var g, i int
		if _, err := fmt.Sscanf(line, "logger=%d line=%d", &g, &i); err != nil || g < 0 || g >= loggers ||
			line != fmt.Sprintf("logger=%d line=%d x=%s", g, i, x(i)) {
			t.Fatalf("a line that no logger wrote: %.100q", line)
		}
		if i != next[g] {
			t.Fatalf("logger %d: line %d came where line %d should have", g, i, next[g])
		}
		next[g]++
	}
	if len(lines) != loggers*perLogger {
		t.Fatalf("%d lines written, want %d", len(lines), loggers*perLogger)
	}
}

// TestLogWriterEmptyFlush: a Flush with nothing pending leaves the
// buffers as they were. One that swapped them all the same left the
// records of the next batch and those of the lines logged meanwhile in one
// array: a line logged while that batch was being written was cleared
// with it, and came out as a line of no time and no message.
func TestLogWriterEmptyFlush(t *testing.T) {
	w := &pausingWriter{}
	l := newLogWriter(w)
	line := func(msg string) logRecord { return logRecord{t: time.Now(), level: slog.LevelInfo, msg: msg} }
	l.WriteRecord(line("one"))
	l.Flush()
	l.Flush() // nothing pending
	paused, resume := w.pauseNext()
	l.WriteRecord(line("two"))
	flushed := make(chan error)
	go func() { flushed <- l.Flush() }()
	<-paused // "two" is being written
	l.WriteRecord(line("three"))
	close(resume)
	if err := <-flushed; err != nil {
		t.Fatal(err)
	}
	l.Flush()
	var msgs []string
	for _, line := range strings.Split(strings.TrimSuffix(w.String(), "\n"), "\n") {
		_, msg, _ := strings.Cut(line, " level=INFO ")
		msgs = append(msgs, msg)
	}
	if want := []string{"msg=one", "msg=two", "msg=three"}; !slices.Equal(msgs, want) {
		t.Fatalf("written:\n%s\nwant the messages %q", w.String(), want)
	}
}

// A pausingWriter writes to its buffer; the write after pauseNext says
// when it has begun, and waits to be resumed.
type pausingWriter struct {
	syncBuffer
	mu             sync.Mutex
	paused, resume chan struct{}
}

func (w *pausingWriter) pauseNext() (paused, resume chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.paused, w.resume = make(chan struct{}), make(chan struct{})
	return w.paused, w.resume
}

func (w *pausingWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	paused, resume := w.paused, w.resume
	w.paused, w.resume = nil, nil
	w.mu.Unlock()
	if paused != nil {
		close(paused)
		<-resume
	}
	return w.syncBuffer.Write(p)
}

// A gatedWriter writes to buf once gate is unlocked; entered is closed
// when its first write begins.
type gatedWriter struct {
	gate    sync.Mutex
	buf     syncBuffer
	entered chan struct{}
	once    sync.Once
}

func (w *gatedWriter) Write(p []byte) (int, error) {
	w.once.Do(func() { close(w.entered) })
	w.gate.Lock()
	defer w.gate.Unlock()
	return w.buf.Write(p)
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

// TestAppendTextLine: the connections' lines that logLine formats itself
// are byte for byte those of slog.NewTextHandler, for every value a
// client can put in them (its address through a proxy's headers, the
// path it asks for) and every other kind logLine writes.
func TestAppendTextLine(t *testing.T) {
	values := []any{
		"", "plain", "/echo", "127.0.0.1:43210", "[::1]:443", "a b", "a=b", `a"b`, `a\b`, "\x00", "\x1b[31m",
		"\x7f", "tab\there", "line\nbreak", "é", "\u00a0", "\u2028", "\ufffd", "\xff", "ok\xe2\x9c", "✓ done",
		"\U0001F600", "\u200b", 0, -1, 1011, 1 << 40, time.Duration(0), 1500 * time.Millisecond, 1234567 * time.Microsecond,
	}
	random := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", " ", "=", `"`, `\`, "\x00", "\x7f", "é", "\u00a0", "\xff", "\xe2", "/", ":", "\u2028"}
	for range 2000 {
		var s strings.Builder
		for range random.IntN(8) {
			s.WriteString(alphabet[random.IntN(len(alphabet))])
		}
		values = append(values, s.String())
	}
	zones := []*time.Location{time.UTC, time.FixedZone("", 5*3600+1800), time.FixedZone("", -7*3600)}
	for i, v := range values {
		when := time.Date(2026, 12, 6, 1, 2, 3, i*999_999, zones[i%len(zones)])
		level := []slog.Level{slog.LevelInfo, slog.LevelWarn}[i%2]
		args := []any{"remote", "127.0.0.1:1", "value", v, "path", "/echo"}
		var want bytes.Buffer
		r := slog.NewRecord(when, level, "websocket open", 0)
		r.Add(args...)
		slog.NewTextHandler(&want, nil).Handle(context.Background(), r)
		got, ok := appendTextLine(nil, when, level, "websocket open", args)
		if !ok || string(got) != want.String() {
			t.Fatalf("value %q (%T): appendTextLine wrote %q (%v), slog %q", v, v, got, ok, want.String())
		}
	}
	if _, ok := appendTextLine(nil, time.Now(), slog.LevelInfo, "m", []any{"err", errors.New("x")}); ok {
		t.Error("appendTextLine took a value it cannot write as slog would")
	}
}
