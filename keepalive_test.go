package main

import (
	"errors"
	"io"
	"testing"
	"time"
)

// TestKeepalive: Options.PingInterval, kept apart from IdleTimeout, so
// that pings stay under a proxy's timeout whatever the idle timeout
// (RFC 6455 §5.5.2: a ping may be sent at any time). Nothing is timed:
// the peer counts the pings it reads, within bounded waits.
func TestKeepalive(t *testing.T) {
	// With a 10 s idle timeout, a 100 ms interval: the pings come every
	// interval, and a peer that answers them is never dropped.
	t.Run("§5.5.2 a silent peer that answers is pinged each interval and stays", func(t *testing.T) {
		sc, c := dialFake(t, &DialOptions{Options: Options{IdleTimeout: 10 * time.Second, PingInterval: 100 * time.Millisecond, CloseTimeout: time.Hour}})
		msgs := readAsync(c)
		for range 5 {
			sc.expect(ping(""))
			sc.send(pong("")) // §5.5.3
		}
		sc.send(text("still here"))
		if r := await(t, msgs); r.err != nil || string(r.msg) != "still here" {
			t.Fatalf("after 5 pings: %q, %v; want the message", r.msg, r.err)
		}
	})
	// A peer that answers nothing gets a ping each interval, and is
	// dropped after IdleTimeout of silence: 1006 locally (§7.1.5).
	t.Run("§5.5.2 a peer that answers nothing is dropped after IdleTimeout", func(t *testing.T) {
		sc, c := dialFake(t, &DialOptions{Options: Options{IdleTimeout: 300 * time.Millisecond, PingInterval: 50 * time.Millisecond, CloseTimeout: time.Hour}})
		msgs := readAsync(c)
		pings := 0
		for {
			f, _, err := sc.readFrame()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil || f.op != OpPing {
				t.Fatalf("read %v, %v; want pings, then EOF", f, err)
			}
			pings++
		}
		if pings < 3 {
			t.Errorf("%d pings before the drop, want at least 3 (one each interval)", pings)
		}
		if r := await(t, msgs); !isClose(r.err, StatusAbnormal) {
			t.Errorf("ReadMessage: %v, want 1006", r.err)
		}
	})
}

// TestPingIntervalDefault: half the idle timeout, at most 30 s (under the
// 60 s of nginx and AWS ALB), unless set.
func TestPingIntervalDefault(t *testing.T) {
	for _, tt := range []struct{ set, idle, want time.Duration }{
		{0, time.Minute, 30 * time.Second},
		{0, 10 * time.Second, 5 * time.Second},
		{0, 10 * time.Minute, 30 * time.Second},
		{-1, 10 * time.Minute, 30 * time.Second},
		{2 * time.Minute, 10 * time.Minute, 2 * time.Minute},
	} {
		if got := pingInterval(&Options{PingInterval: tt.set}, tt.idle); got != tt.want {
			t.Errorf("PingInterval %v, IdleTimeout %v: %v, want %v", tt.set, tt.idle, got, tt.want)
		}
	}
}
