package main

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
)

// TestDeflateServerNegotiation proves RFC 7692 §5 and §7.1 on the server:
// the first acceptable element wins, invalid ones are declined.
func TestDeflateServerNegotiation(t *testing.T) {
	noTakeover := DeflateOptions{}
	takeover := DeflateOptions{ContextTakeover: true}
	tests := []struct {
		name   string
		opts   DeflateOptions
		offer  string
		answer string // "" = declined
	}{
		// §7.1.3's examples.
		{"7.1.3/simplest", takeover, "permessage-deflate", "permessage-deflate"},
		{"7.1.3/client_max_window_bits", takeover, "permessage-deflate; client_max_window_bits", "permessage-deflate"},
		{"7.1.3/server_max_window_bits=10", takeover, "permessage-deflate; client_max_window_bits; server_max_window_bits=10", "permessage-deflate; server_max_window_bits=10"},
		{"7.1.3/fallback", takeover, "permessage-deflate; client_max_window_bits; server_max_window_bits=10, permessage-deflate; client_max_window_bits", "permessage-deflate; server_max_window_bits=10"},
		// Default: no takeover either way.
		{"7.1.1/default_no_takeover", noTakeover, "permessage-deflate", "permessage-deflate; server_no_context_takeover; client_no_context_takeover"},
		{"7.1.1.1/server_no_context_takeover_echoed", takeover, "permessage-deflate; server_no_context_takeover", "permessage-deflate; server_no_context_takeover"},
		{"7.1.1.2/client_no_context_takeover_echoed", takeover, "permessage-deflate; client_no_context_takeover", "permessage-deflate; client_no_context_takeover"},
		{"7.1.2.1/server_max_window_bits=15_echoed", takeover, "permessage-deflate; server_max_window_bits=15", "permessage-deflate; server_max_window_bits=15"},
		{"7.1.2.1/server_max_window_bits=8_honoured", takeover, "permessage-deflate; server_max_window_bits=8", "permessage-deflate; server_max_window_bits=8"},
		{"7.1.2.1/quoted_value", takeover, `permessage-deflate; server_max_window_bits="9"`, "permessage-deflate; server_max_window_bits=9"},
		{"7.1.2.2/client_max_window_bits=10_not_sent", takeover, "permessage-deflate; client_max_window_bits=10", "permessage-deflate"},
		// Declined elements, and the next one accepted.
		{"7.1/unknown_parameter", takeover, "permessage-deflate; foo, permessage-deflate", "permessage-deflate"},
		{"7.1/unknown_only", takeover, "permessage-deflate; foo", ""},
		{"7.1/repeated_parameter", takeover, "permessage-deflate; server_no_context_takeover; server_no_context_takeover", ""},
		{"7.1.1.1/value_on_no_takeover", takeover, "permessage-deflate; server_no_context_takeover=1", ""},
		{"7.1.1.2/value_on_client_no_takeover", takeover, "permessage-deflate; client_no_context_takeover=1", ""},
		{"7.1.2.1/window_7", takeover, "permessage-deflate; server_max_window_bits=7", ""},
		{"7.1.2.1/window_16", takeover, "permessage-deflate; server_max_window_bits=16", ""},
		{"7.1.2.1/leading_zero", takeover, "permessage-deflate; server_max_window_bits=09", ""},
		{"7.1.2.1/no_value", takeover, "permessage-deflate; server_max_window_bits", ""},
		{"7.1.2.2/bad_value", takeover, "permessage-deflate; client_max_window_bits=abc", ""},
		{"7.1.2.2/leading_zero", takeover, "permessage-deflate; client_max_window_bits=010", ""},
		{"5/other_extension_skipped", takeover, "x-webkit-deflate-frame, permessage-deflate", "permessage-deflate"},
		{"5/nothing_offered", takeover, "x-foo", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, answer, ok := negotiateDeflate([]string{tt.offer}, tt.opts)
			if ok != (tt.answer != "") || answer != tt.answer {
				t.Errorf("offer %q: answer %q (ok %v), want %q", tt.offer, answer, ok, tt.answer)
			}
		})
	}
	t.Run("5/several_header_lines", func(t *testing.T) {
		_, answer, ok := negotiateDeflate([]string{"permessage-deflate; bad", "permessage-deflate; server_max_window_bits=12"}, takeover)
		if !ok || answer != "permessage-deflate; server_max_window_bits=12" {
			t.Errorf("answer %q, %v", answer, ok)
		}
	})
}

// TestDeflateClientNegotiation proves the client's offer and its check of
// every invalid answer (§7.1).
func TestDeflateClientNegotiation(t *testing.T) {
	offer, header := deflateOffer(DeflateOptions{})
	if header != "permessage-deflate; client_max_window_bits; server_no_context_takeover; client_no_context_takeover" {
		t.Errorf("offer %q", header)
	}
	_, header = deflateOffer(DeflateOptions{ContextTakeover: true})
	if header != "permessage-deflate; client_max_window_bits" {
		t.Errorf("takeover offer %q", header)
	}
	takeoverOffer, _ := deflateOffer(DeflateOptions{ContextTakeover: true})
	askedWindow := takeoverOffer
	askedWindow.serverMaxWindowBits = 10
	tests := []struct {
		name   string
		offer  deflateParams
		answer []string
		ok     bool
		fails  string // part of the error, "" = valid
	}{
		{"declined", offer, nil, false, ""},
		{"7.1.3/simplest", takeoverOffer, []string{"permessage-deflate"}, true, ""},
		{"7.1.1/no_takeover_echoed", offer, []string{"permessage-deflate; server_no_context_takeover; client_no_context_takeover"}, true, ""},
		{"7.1.2.2/client_max_window_bits=9", takeoverOffer, []string{"permessage-deflate; client_max_window_bits=9"}, true, ""},
		{"7.1.2.1/server_max_window_bits_unasked", takeoverOffer, []string{"permessage-deflate; server_max_window_bits=12"}, true, ""},
		{"7.1.2.1/server_max_window_bits_smaller", askedWindow, []string{"permessage-deflate; server_max_window_bits=9"}, true, ""},
		{"7.1/unknown_parameter", takeoverOffer, []string{"permessage-deflate; foo"}, false, "unknown parameter"},
		{"7.1/repeated_parameter", takeoverOffer, []string{"permessage-deflate; client_no_context_takeover; client_no_context_takeover"}, false, "repeated"},
		{"7.1.2.2/client_max_window_bits_not_offered", deflateParams{}, []string{"permessage-deflate; client_max_window_bits=10"}, false, "not in the offer"},
		{"7.1.2.2/client_max_window_bits_without_value", takeoverOffer, []string{"permessage-deflate; client_max_window_bits"}, false, "without a value"},
		{"7.1.2.1/server_max_window_bits_missing", askedWindow, []string{"permessage-deflate"}, false, "missing"},
		{"7.1.2.1/server_max_window_bits_larger", askedWindow, []string{"permessage-deflate; server_max_window_bits=11"}, false, "larger"},
		{"7.1.2.1/server_max_window_bits_bad", takeoverOffer, []string{"permessage-deflate; server_max_window_bits=16"}, false, "8 to 15"},
		{"7.1.1.1/server_no_context_takeover_not_echoed", offer, []string{"permessage-deflate; client_no_context_takeover"}, false, "server_no_context_takeover"},
		{"7.1.1/value_on_no_takeover", offer, []string{"permessage-deflate; server_no_context_takeover=x"}, false, "takes no value"},
		{"7.1/two_elements", takeoverOffer, []string{"permessage-deflate, permessage-deflate"}, false, "more than one"},
		{"7.1/two_lines", takeoverOffer, []string{"permessage-deflate", "permessage-deflate"}, false, "more than one"},
		{"9.1/not_offered", takeoverOffer, []string{"x-foo"}, false, "did not offer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ok, err := checkDeflateAnswer(tt.answer, tt.offer)
			switch {
			case tt.fails == "" && err != nil:
				t.Errorf("answer %q: %v", tt.answer, err)
			case tt.fails != "" && (err == nil || !strings.Contains(err.Error(), tt.fails)):
				t.Errorf("answer %q: error %v, want one saying %q", tt.answer, err, tt.fails)
			case ok != tt.ok:
				t.Errorf("answer %q: ok %v", tt.answer, ok)
			}
		})
	}
	t.Run("7.1.1.2/own_no_takeover_binds", func(t *testing.T) {
		agreed, _, _ := checkDeflateAnswer([]string{"permessage-deflate; server_no_context_takeover"}, offer)
		if d := newDeflateConn(agreed, true, DeflateOptions{}); d.sendTakeover {
			t.Error("the client takes over its window though it offered client_no_context_takeover")
		}
	})
}

func hexBytes(s string) []byte {
	var b []byte
	for f := range strings.FieldsSeq(s) {
		var x byte
		fmt.Sscanf(f, "%x", &x)
		b = append(b, x)
	}
	return b
}

// pieces is a src that yields its chunks one Read at a time, as frames
// and network reads would.
type pieces struct{ chunks [][]byte }

func (p *pieces) Read(b []byte) (int, error) {
	for len(p.chunks) > 0 && len(p.chunks[0]) == 0 {
		p.chunks = p.chunks[1:]
	}
	if len(p.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(b, p.chunks[0])
	p.chunks[0] = p.chunks[0][n:]
	return n, nil
}

func src(chunks ...[]byte) io.Reader { return &pieces{chunks} }

// conns returns a sending and a receiving deflateConn as agreed.
func conns(p deflateParams, opts DeflateOptions) (server, client *deflateConn) {
	return newDeflateConn(p, false, opts), newDeflateConn(p, true, opts)
}

var takeoverParams = deflateParams{}
var noTakeoverParams = deflateParams{serverNoContextTakeover: true, clientNoContextTakeover: true}

func inflateAll(t *testing.T, d *deflateConn, chunks ...[]byte) []byte {
	t.Helper()
	out, err := d.inflate(nil, src(chunks...), 1<<20, 1<<21, nil)
	if err != nil {
		t.Fatalf("inflate % x: %v", bytes.Join(chunks, nil), err)
	}
	return out
}

// TestDeflateExamples proves §7.2.3's examples as bytes, both ways.
func TestDeflateExamples(t *testing.T) {
	hello := []byte("Hello")
	t.Run("7.2.3.1/inflate", func(t *testing.T) {
		_, c := conns(noTakeoverParams, DeflateOptions{})
		if got := inflateAll(t, c, hexBytes("f2 48 cd c9 c9 07 00")); string(got) != "Hello" {
			t.Errorf("got %q", got)
		}
	})
	t.Run("7.2.3.1/fragmented", func(t *testing.T) {
		_, c := conns(noTakeoverParams, DeflateOptions{})
		if got := inflateAll(t, c, hexBytes("f2 48 cd"), hexBytes("c9 c9 07 00")); string(got) != "Hello" {
			t.Errorf("got %q", got)
		}
	})
	t.Run("7.2.3.1/compress", func(t *testing.T) {
		s, _ := conns(noTakeoverParams, DeflateOptions{Level: flate.DefaultCompression})
		if got := s.compress(nil, hello); !bytes.Equal(got, hexBytes("f2 48 cd c9 c9 07 00")) {
			t.Errorf("got % x", got)
		}
	})
	t.Run("7.2.3.2/inflate", func(t *testing.T) {
		_, c := conns(takeoverParams, DeflateOptions{})
		inflateAll(t, c, hexBytes("f2 48 cd c9 c9 07 00"))
		if got := inflateAll(t, c, hexBytes("f2 00 11 00 00")); string(got) != "Hello" {
			t.Errorf("got %q", got)
		}
	})
	t.Run("7.2.3.2/compress", func(t *testing.T) {
		// compress/flate writes its own valid bytes for the second
		// "Hello": a 4-byte back-reference to the first, which only an
		// inflater that kept the first message's window can read.
		s, c := conns(takeoverParams, DeflateOptions{Level: flate.DefaultCompression})
		inflateAll(t, c, s.compress(nil, hello))
		second := s.compress(nil, hello)
		if len(second) >= 7 {
			t.Errorf("the second Hello takes % x: no back-reference", second)
		}
		if got := inflateAll(t, c, second); string(got) != "Hello" {
			t.Errorf("got %q", got)
		}
	})
	t.Run("7.2.3.3/inflate", func(t *testing.T) {
		_, c := conns(noTakeoverParams, DeflateOptions{})
		if got := inflateAll(t, c, hexBytes("00 05 00 fa ff 48 65 6c 6c 6f 00")); string(got) != "Hello" {
			t.Errorf("got %q", got)
		}
	})
	t.Run("7.2.3.3/compress", func(t *testing.T) {
		// BestSpeed stores a message of 16 bytes or less: this example.
		s, _ := conns(noTakeoverParams, DeflateOptions{})
		if got := s.compress(nil, hello); !bytes.Equal(got, hexBytes("00 05 00 fa ff 48 65 6c 6c 6f 00")) {
			t.Errorf("got % x", got)
		}
	})
	t.Run("7.2.3.4/inflate", func(t *testing.T) {
		_, c := conns(noTakeoverParams, DeflateOptions{})
		if got := inflateAll(t, c, hexBytes("f3 48 cd c9 c9 07 00 00")); string(got) != "Hello" {
			t.Errorf("got %q", got)
		}
	})
	t.Run("7.2.3.5/inflate", func(t *testing.T) {
		_, c := conns(noTakeoverParams, DeflateOptions{})
		if got := inflateAll(t, c, hexBytes("f2 48 05 00 00 00 ff ff ca c9 c9 07 00")); string(got) != "Hello" {
			t.Errorf("got %q", got)
		}
	})
	t.Run("7.2.3.6/inflate", func(t *testing.T) {
		_, c := conns(noTakeoverParams, DeflateOptions{})
		if got := inflateAll(t, c, hexBytes("00")); len(got) != 0 {
			t.Errorf("got %q", got)
		}
	})
	t.Run("7.2.3.6/compress_empty", func(t *testing.T) {
		for _, p := range []deflateParams{noTakeoverParams, takeoverParams} {
			s, _ := conns(p, DeflateOptions{})
			if got := s.compress(nil, nil); !bytes.Equal(got, []byte{0}) {
				t.Errorf("got % x", got)
			}
		}
	})
	t.Run("7.2.2/zero_byte_payload", func(t *testing.T) {
		_, c := conns(takeoverParams, DeflateOptions{})
		inflateAll(t, c, hexBytes("f2 48 cd c9 c9 07 00"))
		if got := inflateAll(t, c); len(got) != 0 {
			t.Errorf("got %q", got)
		}
		// The window is as it was: the takeover example still works.
		if got := inflateAll(t, c, hexBytes("f2 00 11 00 00")); string(got) != "Hello" {
			t.Errorf("after the empty payload: %q", got)
		}
	})
}

// TestDeflateBFINAL proves §7.2.1: blocks after a BFINAL block start a new
// stream in the same message.
func TestDeflateBFINAL(t *testing.T) {
	var first bytes.Buffer
	w, _ := flate.NewWriter(&first, flate.BestSpeed)
	w.Write([]byte("Hello, "))
	w.Close() // a BFINAL block, padded to a byte
	s, c := conns(noTakeoverParams, DeflateOptions{})
	second := s.compress(nil, []byte("World"))
	for _, split := range []int{0, first.Len() - 1, first.Len(), first.Len() + 1} {
		msg := append(append([]byte{}, first.Bytes()...), second...)
		got := inflateAll(t, c, msg[:split], msg[split:])
		if string(got) != "Hello, World" {
			t.Errorf("split at %d: got %q", split, got)
		}
	}
	t.Run("7.2.1/junk_after_BFINAL", func(t *testing.T) {
		msg := append(append([]byte{}, first.Bytes()...), 0xff)
		_, err := c.inflate(nil, src(msg), 1<<20, 1<<21, nil)
		if code := statusOf(err); code != StatusInvalidData {
			t.Errorf("got %v, want 1007", err)
		}
	})
}

func statusOf(err error) StatusCode {
	var pe *ProtocolError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return 0
}

// testText is compressible text with repeats near and far.
func testText(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	words := []string{`{"output": `, `"Sent from my browser!"`, "}", " the", " WebSocket", " message", " deflate", "\n", " 12345", " window"}
	var b []byte
	for len(b) < n {
		if len(b) > 4000 && r.IntN(8) == 0 {
			at := r.IntN(len(b) - 300)
			b = append(b, b[at:at+200+r.IntN(100)]...)
			continue
		}
		b = append(b, words[r.IntN(len(words))]...)
	}
	return b[:n]
}

// TestDeflateTakeover proves §7.2.3.2's rule over three messages each
// way, with an uncompressed message (not compressed, not inflated) in
// between, which must not enter the window.
func TestDeflateTakeover(t *testing.T) {
	for _, p := range []deflateParams{takeoverParams, noTakeoverParams} {
		s, c := conns(p, DeflateOptions{})
		msgs := [][]byte{testText(3000, 1), testText(3000, 1), testText(100, 2), testText(3000, 1)}
		var sizes []int
		for _, m := range msgs {
			payload := s.compress(nil, m)
			sizes = append(sizes, len(payload))
			if got := inflateAll(t, c, payload); !bytes.Equal(got, m) {
				t.Fatalf("takeover %v: message differs", !p.serverNoContextTakeover)
			}
		}
		repeatedSmaller := sizes[1] < sizes[0]*2/3
		if repeatedSmaller != !p.serverNoContextTakeover {
			t.Errorf("takeover %v: sizes %v", !p.serverNoContextTakeover, sizes)
		}
		if p.serverNoContextTakeover && (s.writer != nil || c.history != nil) {
			t.Error("without takeover the connection keeps compression state between messages")
		}
	}
}

// TestDeflateLimits proves the caps of §7.2.2 with RFC 6455 §10.4: the
// inflated size at limit-1, limit and limit+1; the bomb; the compressed
// bytes; corrupt data.
func TestDeflateLimits(t *testing.T) {
	s, c := conns(noTakeoverParams, DeflateOptions{})
	const limit = 4096
	for _, n := range []int{limit - 1, limit, limit + 1} {
		t.Run(fmt.Sprintf("10.4/inflated_%d", n), func(t *testing.T) {
			payload := s.compress(nil, testText(n, 3))
			out, err := c.inflate(nil, src(payload), limit, compressedLimit(limit), nil)
			if n <= limit && (err != nil || len(out) != n) {
				t.Errorf("%d bytes: %d, %v", n, len(out), err)
			}
			if n > limit && (statusOf(err) != StatusTooBig || len(out) > limit) {
				t.Errorf("%d bytes: %d, %v; want 1009 with at most %d", n, len(out), err, limit)
			}
		})
	}
	t.Run("10.4/bomb", func(t *testing.T) {
		const limit = 1 << 20
		bomb := s.compress(nil, make([]byte, 16<<20))
		c.inflate(nil, src(bomb), limit, compressedLimit(limit), nil) // warm the pools
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		out, err := c.inflate(nil, src(bomb), limit, compressedLimit(limit), nil)
		runtime.ReadMemStats(&after)
		if statusOf(err) != StatusTooBig || len(out) != limit {
			t.Fatalf("got %d bytes, %v; want 1009 at %d", len(out), err, limit)
		}
		// Doubling growth allocates at most twice the limit.
		bound := uint64(2*limit + 128<<10)
		if raceEnabled {
			// The race detector makes sync.Pool drop items at random, so
			// the inflater may be built afresh: its window and tables.
			bound += 1 << 20
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > bound {
			t.Errorf("a %d-byte bomb allocated %d bytes against a %d-byte limit", len(bomb), alloc, limit)
		}
	})
	t.Run("10.4/compressed_cap", func(t *testing.T) {
		// Empty stored blocks inflate to nothing, forever.
		empty := bytes.Repeat(hexBytes("00 00 00 ff ff"), 1000)
		empty = empty[:len(empty)-4] // §7.2.1
		_, err := c.inflate(nil, src(empty), limit, 4000, nil)
		if statusOf(err) != StatusTooBig {
			t.Errorf("got %v, want 1009", err)
		}
		if _, err := c.inflate(nil, src(empty), limit, 4996, nil); err != nil {
			t.Errorf("at the cap: %v", err)
		}
	})
	t.Run("7.2.2/corrupt", func(t *testing.T) {
		for _, bad := range []string{"ff", "f2 48 cd", "00 05 00 00 00 48"} {
			_, err := c.inflate(nil, src(hexBytes(bad)), limit, compressedLimit(limit), nil)
			if statusOf(err) != StatusInvalidData {
				t.Errorf("% s: got %v, want 1007", bad, err)
			}
		}
	})
	t.Run("check_sees_output", func(t *testing.T) {
		stop := errors.New("stop")
		_, err := c.inflate(nil, src(s.compress(nil, testText(3000, 4))), limit, compressedLimit(limit), func([]byte) error { return stop })
		if err != stop {
			t.Errorf("got %v", err)
		}
	})
}

func BenchmarkDeflate(b *testing.B) {
	for _, n := range []int{128, 1 << 10, 16 << 10, 128 << 10} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			msg := testText(n, 5)
			s, c := conns(noTakeoverParams, DeflateOptions{})
			s.threshold = 0
			var wire, out []byte
			b.ReportAllocs()
			b.SetBytes(int64(n))
			for b.Loop() {
				wire = s.compress(wire[:0], msg)
				out, _ = c.inflate(out[:0], src(wire), 1<<20, 1<<21, nil)
			}
			b.ReportMetric(float64(len(wire))/float64(n), "ratio")
		})
	}
}

// strictInflater is a minimal DEFLATE decoder (RFC 1951) for one purpose:
// it fails on any back-reference longer than its window, as zlib with
// windowBits w does. It keeps its output across messages, as takeover does.
type strictInflater struct {
	window int
	out    []byte
	in     []byte
	pos    int // in bits
}

var errStrict = errors.New("strict inflater")

func (s *strictInflater) bits(n int) int {
	v := 0
	for i := 0; i < n; i++ {
		if s.pos/8 >= len(s.in) {
			panic(errStrict)
		}
		v |= int(s.in[s.pos/8]>>(s.pos%8)&1) << i
		s.pos++
	}
	return v
}

// huffman maps (length, code) to a symbol, per RFC 1951 §3.2.2.
type huffman map[[2]int]int

func newHuffman(lengths []int) huffman {
	var count [16]int
	for _, l := range lengths {
		count[l]++
	}
	count[0] = 0
	var next [16]int
	for code, l := 0, 1; l < 16; l++ {
		code = (code + count[l-1]) << 1
		next[l] = code
	}
	h := huffman{}
	for sym, l := range lengths {
		if l > 0 {
			h[[2]int{l, next[l]}] = sym
			next[l]++
		}
	}
	return h
}

func (s *strictInflater) symbol(h huffman) int {
	code := 0
	for l := 1; l < 16; l++ {
		code = code<<1 | s.bits(1)
		if sym, ok := h[[2]int{l, code}]; ok {
			return sym
		}
	}
	panic(errStrict)
}

var (
	lengthBase  = []int{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	lengthExtra = []int{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	distBase    = []int{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
	distExtra   = []int{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}
)

// message inflates one message's payload with the tail of §7.2.2, and
// returns an error for a distance beyond the window or a broken stream.
func (s *strictInflater) message(payload []byte) (msg []byte, err error) {
	start := len(s.out)
	s.in, s.pos = append(append([]byte{}, payload...), 0, 0, 0xff, 0xff), 0
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(error); ok && (e == errStrict || strings.Contains(e.Error(), "distance")) {
				err = e
				return
			}
			panic(r)
		}
	}()
	for s.pos/8 < len(s.in)-1 || s.pos%8 == 0 && s.pos/8 < len(s.in) {
		s.bits(1) // BFINAL: a new stream may follow (§7.2.1)
		switch s.bits(2) {
		case 0:
			s.pos = (s.pos + 7) / 8 * 8
			n := s.bits(16)
			s.bits(16)
			for range n {
				s.out = append(s.out, byte(s.bits(8)))
			}
		case 1:
			lit := make([]int, 288)
			for i := range lit {
				lit[i] = [4]int{8, 9, 7, 8}[btoi(i >= 144)+btoi(i >= 256)+btoi(i >= 280)]
			}
			s.block(newHuffman(lit), newHuffman(slicesRepeat(5, 30)))
		case 2:
			hlit, hdist, hclen := s.bits(5)+257, s.bits(5)+1, s.bits(4)+4
			order := []int{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}
			cl := make([]int, 19)
			for i := range hclen {
				cl[order[i]] = s.bits(3)
			}
			ch := newHuffman(cl)
			var lengths []int
			for len(lengths) < hlit+hdist {
				switch sym := s.symbol(ch); {
				case sym < 16:
					lengths = append(lengths, sym)
				case sym == 16:
					prev := lengths[len(lengths)-1]
					lengths = append(lengths, slicesRepeatN(prev, 3+s.bits(2))...)
				case sym == 17:
					lengths = append(lengths, make([]int, 3+s.bits(3))...)
				default:
					lengths = append(lengths, make([]int, 11+s.bits(7))...)
				}
			}
			s.block(newHuffman(lengths[:hlit]), newHuffman(lengths[hlit:]))
		default:
			panic(errStrict)
		}
	}
	return s.out[start:], nil
}

func (s *strictInflater) block(lit, dist huffman) {
	for {
		sym := s.symbol(lit)
		switch {
		case sym < 256:
			s.out = append(s.out, byte(sym))
			continue
		case sym == 256:
			return
		}
		length := lengthBase[sym-257] + s.bits(lengthExtra[sym-257])
		d := s.symbol(dist)
		distance := distBase[d] + s.bits(distExtra[d])
		if distance > s.window || distance > len(s.out) {
			panic(fmt.Errorf("distance %d beyond a window of %d", distance, s.window))
		}
		for range length {
			s.out = append(s.out, s.out[len(s.out)-distance])
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func slicesRepeat(v, n int) []int { return slicesRepeatN(v, n) }

func slicesRepeatN(v, n int) []int {
	r := make([]int, n)
	for i := range r {
		r[i] = v
	}
	return r
}

// TestDeflateWindow proves §7.1.2.1 for the sender: with a window of 2^w,
// w from 8 to 15, every message inflates under a strict history of 2^w
// bytes, with and without takeover, and the window holds across messages.
func TestDeflateWindow(t *testing.T) {
	t.Run("strict_inflater_reads_the_examples", func(t *testing.T) {
		s := &strictInflater{window: 1 << 15}
		for _, ex := range []string{"f2 48 cd c9 c9 07 00", "f2 00 11 00 00", "00 05 00 fa ff 48 65 6c 6c 6f 00", "f2 48 05 00 00 00 ff ff ca c9 c9 07 00"} {
			if got, err := s.message(hexBytes(ex)); err != nil || string(got) != "Hello" {
				t.Errorf("% s: %q, %v", ex, got, err)
			}
		}
		tight := &strictInflater{window: 4}
		tight.message(hexBytes("f2 48 cd c9 c9 07 00"))
		if _, err := tight.message(hexBytes("f2 00 11 00 00")); err == nil {
			t.Error("a distance of 5 passed a window of 4")
		}
	})
	for bits := 8; bits <= 15; bits++ {
		for _, takeover := range []bool{false, true} {
			t.Run(fmt.Sprintf("7.1.2.1/w=%d/takeover=%v", bits, takeover), func(t *testing.T) {
				p := deflateParams{serverMaxWindowBits: bits, serverNoContextTakeover: !takeover, clientNoContextTakeover: !takeover}
				s, _ := conns(p, DeflateOptions{})
				strict := &strictInflater{window: 1 << bits}
				for i, n := range []int{300, 5000, 40000, 1000} {
					if !takeover {
						strict.out = nil
					}
					msg := testText(n, uint64(i))
					got, err := strict.message(s.compress(nil, msg))
					if err != nil || !bytes.Equal(got, msg) {
						t.Fatalf("message %d (%d bytes): %v", i, n, err)
					}
				}
			})
		}
	}
}

// BenchmarkDeflateConnMemory reports what one connection keeps between
// messages, after one message each way: nothing without takeover; the
// writer and the receive window with it.
func BenchmarkDeflateConnMemory(b *testing.B) {
	for _, p := range []deflateParams{noTakeoverParams, takeoverParams} {
		b.Run(fmt.Sprintf("takeover=%v", !p.serverNoContextTakeover), func(b *testing.B) {
			msg := testText(4096, 6)
			const n = 200
			kept := make([]*deflateConn, n)
			for b.Loop() {
				var before, after runtime.MemStats
				clear(kept)
				runtime.GC()
				runtime.GC() // and the pools' victims

				runtime.ReadMemStats(&before)
				for i := range kept {
					s, c := conns(p, DeflateOptions{})
					c.inflate(nil, src(s.compress(nil, msg)), 1<<20, 1<<21, nil)
					s.history = c.history // one end's send and receive state together
					kept[i] = s
				}
				runtime.GC()
				runtime.GC()
				runtime.ReadMemStats(&after)
				b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/n, "B/conn")
			}
			runtime.KeepAlive(kept)
		})
	}
}
