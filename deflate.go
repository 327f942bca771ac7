// This file is permessage-deflate, RFC 7692: the negotiation of the
// extension in the opening handshake (§5, §7.1) and the transform of one
// message's payload (§7.2), with compress/flate from the standard library.
// It knows nothing of frames or of Conn: ws.go calls it.
//
// The API, in the order a connection uses it:
//
//   - Server: negotiateDeflate(offers, opts) reads the request's
//     Sec-WebSocket-Extensions lines (already checked against RFC 6455 §9.1
//     by validExtensions) and returns the agreed deflateParams and the one
//     element to answer with, or ok=false: decline, answer without the
//     header (§5).
//   - Client: deflateOffer(opts) is the offer to send and what it asked;
//     checkDeflateAnswer(answerLines, offer) checks the server's answer
//     (§7.1) and returns the agreed deflateParams, ok=false if the server
//     declined, or an error naming the rule the answer broke (the caller
//     turns it into a HandshakeError).
//   - Both: newDeflateConn(agreed, client, opts) is the state one Conn
//     keeps. Per message:
//     d.shouldCompress(len(p)) decides whether a message goes out
//     compressed (RSV1 on its first frame, RFC 7692 §6);
//     d.compress(dst, p) appends p's compressed payload (§7.2.1);
//     d.inflate(dst, src, maxSize, maxWire, check) appends the inflated
//     message whose compressed payload src yields (§7.2.2).
//
// src is an io.Reader over the unmasked payload bytes of the message's
// frames in order, io.EOF after the last byte of the FIN frame; the Conn
// reads the frames (and answers control frames) inside its Read. The
// inflater pulls from it only while the message lasts, never past its
// io.EOF. Why pull, not push: compress/flate's reader keeps the first error
// of its source for good, in the middle of a block, so it cannot be paused
// for "more input later" and resumed; it must be given a source that blocks
// the way the Conn already blocks, under the Conn's deadlines.
//
// Names from ws.go used here: StatusTooBig, StatusInvalidData, violation
// (and through it ProtocolError), isToken, unquote.

package main

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
)

// DeflateOptions configures permessage-deflate on one end.
type DeflateOptions struct {
	// ContextTakeover lets both ends keep their LZ77 window from one
	// message to the next (§7.1.1), if the peer allows it. Off by
	// default: the answer then carries server_no_context_takeover and
	// client_no_context_takeover, and an idle connection holds no
	// compression state at all. Takeover compresses small, similar
	// messages better, but mixes secrets with attacker-chosen text in one
	// window (§8: CRIME, BREACH), and a connection then keeps a
	// compress/flate writer, about 1.2 MiB at any level (its hash tables
	// are arrays), where without takeover it keeps about 200 bytes of
	// settings and empty slots (BenchmarkDeflateConnMemory).
	ContextTakeover bool

	// Threshold: messages shorter than this go out uncompressed. Default
	// 512 bytes.
	Threshold int

	// Level is the compress/flate level. Default flate.BestSpeed.
	Level int

	// ServerMaxWindowBits, for a client, asks the server to compress
	// with a window of 2^n bytes, n from 8 to 15 (server_max_window_bits,
	// §7.1.2.1), so that a client can cap what the server's messages may
	// refer back to. 0 asks nothing. Servers ignore it.
	ServerMaxWindowBits int
}

const defaultThreshold = 512

// deflateName is the extension's token (§7).
const deflateName = "permessage-deflate"

// The parameters of §7.1.
const (
	serverNoContextTakeover = "server_no_context_takeover"
	clientNoContextTakeover = "client_no_context_takeover"
	serverMaxWindowBits     = "server_max_window_bits"
	clientMaxWindowBits     = "client_max_window_bits"
)

// deflateParams are the parameters of one permessage-deflate element, an
// offer or an answer.
type deflateParams struct {
	serverNoContextTakeover bool
	clientNoContextTakeover bool
	serverMaxWindowBits     int  // 8..15, or 0 when absent
	clientMaxWindowBits     int  // 8..15, or 0 when absent or without a value
	clientMaxWindowBitsSent bool // client_max_window_bits present, with or without a value
}

// An extensionElement is one element of Sec-WebSocket-Extensions (RFC 6455
// §9.1): a name and its parameters.
type extensionElement struct {
	name   string
	params []extensionParam
}

type extensionParam struct {
	name, value string
	hasValue    bool
}

// parseExtensions splits the header lines into elements. Splitting at every
// "," and ";" is safe because a value that holds either is not a token once
// unquoted, and validExtensions refuses it (server) or parseDeflate does
// (client).
func parseExtensions(lines []string) []extensionElement {
	var elements []extensionElement
	for _, line := range lines {
		for item := range strings.SplitSeq(line, ",") {
			if strings.TrimSpace(item) == "" {
				continue // an empty list item (RFC 2616 §2.1)
			}
			parts := strings.Split(item, ";")
			e := extensionElement{name: strings.TrimSpace(parts[0])}
			for _, p := range parts[1:] {
				name, value, hasValue := strings.Cut(p, "=")
				value = strings.TrimSpace(value)
				if unquoted, ok := unquote(value); ok {
					value = unquoted
				}
				e.params = append(e.params, extensionParam{strings.TrimSpace(name), value, hasValue})
			}
			elements = append(elements, e)
		}
	}
	return elements
}

// parseDeflate reads the parameters of one permessage-deflate element and
// returns an error naming the first rule of §7.1 they break: an unknown or
// repeated parameter, a value on a no-takeover parameter, window bits that
// are not 8..15 written without a leading zero. client_max_window_bits may
// come without a value (§7.1.2.2); whether that is allowed in an answer is
// the client's check.
func parseDeflate(params []extensionParam) (deflateParams, error) {
	var p deflateParams
	seen := map[string]bool{}
	for _, param := range params {
		if seen[param.name] {
			return p, fmt.Errorf("RFC 7692 §7.1: %s repeated", param.name)
		}
		seen[param.name] = true
		if param.hasValue && !isToken(param.value) {
			return p, fmt.Errorf("RFC 6455 §9.1: %s has a value that is not a token", param.name)
		}
		switch param.name {
		case serverNoContextTakeover, clientNoContextTakeover:
			if param.hasValue {
				return p, fmt.Errorf("RFC 7692 §7.1.1: %s takes no value", param.name)
			}
			if param.name == serverNoContextTakeover {
				p.serverNoContextTakeover = true
			} else {
				p.clientNoContextTakeover = true
			}
		case serverMaxWindowBits:
			bits, ok := windowBits(param)
			if !ok {
				return p, fmt.Errorf("RFC 7692 §7.1.2.1: server_max_window_bits must be 8 to 15, got %q", param.value)
			}
			p.serverMaxWindowBits = bits
		case clientMaxWindowBits:
			p.clientMaxWindowBitsSent = true
			if param.hasValue {
				bits, ok := windowBits(param)
				if !ok {
					return p, fmt.Errorf("RFC 7692 §7.1.2.2: client_max_window_bits must be 8 to 15, got %q", param.value)
				}
				p.clientMaxWindowBits = bits
			}
		default:
			return p, fmt.Errorf("RFC 7692 §7.1: unknown parameter %q", param.name)
		}
	}
	return p, nil
}

// windowBits reads a window size: a decimal integer from 8 to 15, without
// leading zeros (§7.1.2.1, §7.1.2.2).
func windowBits(param extensionParam) (int, bool) {
	v := param.value
	if !param.hasValue || v == "" || v[0] == '0' || len(v) > 2 {
		return 0, false
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 8 || n > 15 {
		return 0, false
	}
	return n, true
}

// negotiateDeflate is the server's side (§5, §7.1): it accepts the first
// permessage-deflate element it can honour, in the client's order, and
// declines (skips) the others. It returns the agreed parameters and the
// one element to answer with; ok is false if nothing was acceptable, and
// the answer then goes without the header (declining is not failing).
func negotiateDeflate(offers []string, opts DeflateOptions) (agreed deflateParams, answer string, ok bool) {
	for _, e := range parseExtensions(offers) {
		if e.name != deflateName {
			continue
		}
		offer, err := parseDeflate(e.params)
		if err != nil {
			continue // §7.1: decline an offer with an invalid parameter
		}
		agreed = offer
		if !opts.ContextTakeover {
			// §7.1.1.1, §7.1.1.2: a server may ask for no takeover in
			// either direction, whatever the offer.
			agreed.serverNoContextTakeover = true
			agreed.clientNoContextTakeover = true
		}
		// Every valid offer is one this end can honour: the small windows
		// of server_max_window_bits are kept for real (see deflater), and
		// the inflater accepts any window the client uses. We never limit
		// the client's window, so client_max_window_bits is never sent.
		agreed.clientMaxWindowBitsSent = false
		agreed.clientMaxWindowBits = offer.clientMaxWindowBits // the client's own limit, if it gave one
		return agreed, formatAnswer(agreed), true
	}
	return deflateParams{}, "", false
}

// formatAnswer writes the server's one element (§7.1): the no-takeover
// parameters it asks or agrees to, and server_max_window_bits whenever the
// client offered it, 15 included (§7.1.2.1).
func formatAnswer(p deflateParams) string {
	var b strings.Builder
	b.WriteString(deflateName)
	if p.serverNoContextTakeover {
		b.WriteString("; " + serverNoContextTakeover)
	}
	if p.clientNoContextTakeover {
		b.WriteString("; " + clientNoContextTakeover)
	}
	if p.serverMaxWindowBits != 0 {
		fmt.Fprintf(&b, "; %s=%d", serverMaxWindowBits, p.serverMaxWindowBits)
	}
	return b.String()
}

// deflateOffer is the client's offer (§7.1): it says it can take a
// client_max_window_bits in the answer, and, without takeover, asks for
// none in either direction.
func deflateOffer(opts DeflateOptions) (offer deflateParams, header string) {
	offer.clientMaxWindowBitsSent = true
	header = deflateName + "; " + clientMaxWindowBits
	if bits := opts.ServerMaxWindowBits; bits >= 8 && bits <= 15 {
		offer.serverMaxWindowBits = bits
		header += "; " + serverMaxWindowBits + "=" + strconv.Itoa(bits)
	}
	if !opts.ContextTakeover {
		offer.serverNoContextTakeover = true
		offer.clientNoContextTakeover = true
		header += "; " + serverNoContextTakeover + "; " + clientNoContextTakeover
	}
	return offer, header
}

// checkDeflateAnswer is the client's check of the server's answer (§7.1):
// ok is false if the server declined (no header); an error names the rule
// an invalid answer broke, and the client must then fail the connection.
func checkDeflateAnswer(lines []string, offer deflateParams) (agreed deflateParams, ok bool, err error) {
	elements := parseExtensions(lines)
	switch {
	case len(elements) == 0:
		return deflateParams{}, false, nil
	case len(elements) > 1:
		return agreed, false, errors.New("RFC 7692 §7.1: the answer has more than one extension element")
	case elements[0].name != deflateName:
		return agreed, false, fmt.Errorf("RFC 6455 §9.1: the answer names %q, an extension we did not offer", elements[0].name)
	}
	answer, err := parseDeflate(elements[0].params)
	if err != nil {
		return agreed, false, err
	}
	switch {
	case answer.clientMaxWindowBitsSent && !offer.clientMaxWindowBitsSent:
		return agreed, false, errors.New("RFC 7692 §7.1.2.2: client_max_window_bits in the answer, but not in the offer")
	case answer.clientMaxWindowBitsSent && answer.clientMaxWindowBits == 0:
		return agreed, false, errors.New("RFC 7692 §7.1.2.2: client_max_window_bits in the answer without a value")
	case offer.clientMaxWindowBits != 0 && answer.clientMaxWindowBits > offer.clientMaxWindowBits:
		return agreed, false, errors.New("RFC 7692 §7.1.2.2: client_max_window_bits larger than offered")
	case offer.serverMaxWindowBits != 0 && answer.serverMaxWindowBits == 0:
		return agreed, false, errors.New("RFC 7692 §7.1.2.1: server_max_window_bits offered but missing from the answer")
	case offer.serverMaxWindowBits != 0 && answer.serverMaxWindowBits > offer.serverMaxWindowBits:
		return agreed, false, errors.New("RFC 7692 §7.1.2.1: server_max_window_bits larger than offered")
	case offer.serverNoContextTakeover && !answer.serverNoContextTakeover:
		return agreed, false, errors.New("RFC 7692 §7.1.1.1: server_no_context_takeover offered but not in the answer")
	}
	agreed = answer
	// Our own no-takeover wish binds us whatever the answer (§7.1.1.2).
	agreed.clientNoContextTakeover = answer.clientNoContextTakeover || offer.clientNoContextTakeover
	return agreed, true, nil
}

// ---------------------------------------------------------------------------
// One connection's state
// ---------------------------------------------------------------------------

// A deflateConn is what one Conn keeps for permessage-deflate. Without
// takeover it keeps nothing but settings: writers and readers come from
// pools for one message each. With takeover it keeps its writer, and the
// last window of what it inflated.
type deflateConn struct {
	threshold int
	level     int

	sendTakeover bool
	sendWindow   int       // 2^bits of the window our peer's inflater keeps
	writer       *deflater // sendTakeover only

	recvTakeover bool
	recvWindow   int    // 2^bits of the window the peer compresses with
	history      []byte // recvTakeover only: the last recvWindow bytes inflated
	seen         int    // bytes of the current message already in history

	// The message being inflated and the Conn's reader of its frames
	// (ws.go), kept here so that a message costs no allocation; empty
	// between messages.
	msg message
	src frameSource
}

// newDeflateConn sets up one Conn's compression from what was agreed. A
// server sends with the server_* parameters and receives with the
// client_* ones; a client the other way round.
func newDeflateConn(p deflateParams, client bool, opts DeflateOptions) *deflateConn {
	d := &deflateConn{threshold: opts.Threshold, level: opts.Level}
	if d.threshold <= 0 {
		d.threshold = defaultThreshold
	}
	if d.level == 0 || d.level < flate.HuffmanOnly || d.level > flate.BestCompression {
		d.level = flate.BestSpeed
	}
	sendNo, sendBits, recvNo, recvBits := p.serverNoContextTakeover, p.serverMaxWindowBits, p.clientNoContextTakeover, p.clientMaxWindowBits
	if client {
		sendNo, sendBits, recvNo, recvBits = recvNo, recvBits, sendNo, sendBits
	}
	d.sendTakeover, d.sendWindow = !sendNo, 1<<orFifteen(sendBits)
	d.recvTakeover, d.recvWindow = !recvNo, 1<<orFifteen(recvBits)
	return d
}

// orFifteen: an absent window size means the largest, 2^15 (§7.1.2).
func orFifteen(bits int) int {
	if bits == 0 {
		return 15
	}
	return bits
}

// shouldCompress reports whether a message of n bytes goes out compressed:
// below the threshold, compression costs more than it saves.
func (d *deflateConn) shouldCompress(n int) bool { return n >= d.threshold }

// compress appends to dst the compressed payload of the message p (§7.2.1):
// DEFLATE blocks ending in a sync flush, without its final 00 00 ff ff.
func (d *deflateConn) compress(dst, p []byte) []byte {
	w := d.writer
	if w == nil {
		w = getDeflater(d.level, d.sendWindow)
	}
	dst = w.compress(dst, p)
	if d.sendTakeover {
		d.writer = w
	} else {
		putDeflater(w)
	}
	return dst
}

// A deflater is a flate.Writer that writes into a buffer, and keeps a
// window smaller than compress/flate's 32 KiB honestly.
//
// compress/flate has no window setting: its matches reach back 32 KiB.
// When the peer allows a window of 2^w < 2^15 bytes, the deflater resets
// the writer (after a sync flush) before every 2^w bytes of input, so that
// no match can reach back further than the input since the last reset:
// less than 2^w. Under takeover the count runs across messages, so the
// window holds between them too; a reset only ever makes the next
// message start without history, which is always valid. Resets are
// cheap at BestSpeed (a counter bump) and cost a 640 KiB clear at other
// levels, so a small window always compresses at BestSpeed. Resets beat
// flate.HuffmanOnly (no back-references at all) at every window: on 16 KiB
// of JSON-like text, 0.49 of the size at w=8 and 0.25 at w=10, against
// 0.59 for Huffman only.
type deflater struct {
	fw     *flate.Writer
	out    sink
	level  int
	window int // 2^w; less than 2^15 means reset before every window bytes
	since  int // input bytes since the last reset
}

// A sink appends what a flate.Writer writes; it never fails.
type sink struct{ buf []byte }

func (s *sink) Write(p []byte) (int, error) {
	s.buf = append(s.buf, p...)
	return len(p), nil
}

// deflaters pools writers per level: index level+2 (HuffmanOnly is -2).
var deflaters [flate.BestCompression + 3]sync.Pool

func getDeflater(level, window int) *deflater {
	if window < 1<<15 {
		level = flate.BestSpeed
	}
	w, _ := deflaters[level+2].Get().(*deflater)
	if w == nil {
		w = &deflater{level: level}
		w.fw, _ = flate.NewWriter(&w.out, level) // level is valid: newDeflateConn checked it
	} else {
		w.fw.Reset(&w.out) // forget the last message: no takeover (§7.1.1)
	}
	w.window, w.since = window, 0
	return w
}

func putDeflater(w *deflater) {
	w.out.buf = nil
	deflaters[w.level+2].Put(w)
}

// syncMarker ends a sync flush: the LEN and NLEN of an empty stored block.
var syncMarker = []byte{0x00, 0x00, 0xff, 0xff}

func (w *deflater) compress(dst, p []byte) []byte {
	w.out.buf = dst
	for len(p) > 0 {
		chunk := p
		if w.window < 1<<15 {
			if w.since == w.window {
				w.fw.Flush()
				w.fw.Reset(&w.out)
				w.since = 0
			}
			chunk = p[:min(len(p), w.window-w.since)]
			w.since += len(chunk)
		}
		w.fw.Write(chunk) // writes to a sink never fail
		p = p[len(chunk):]
	}
	w.fw.Flush()
	out := w.out.buf
	w.out.buf = nil
	// §7.2.1: remove the 00 00 ff ff the sync flush ended with. What
	// remains ends in the empty stored block's header bits: an empty
	// message is the single byte 00 (§7.2.3.6).
	if bytes.HasSuffix(out, syncMarker) {
		out = out[:len(out)-len(syncMarker)]
	}
	return out
}

// ---------------------------------------------------------------------------
// Inflating (§7.2.2)
// ---------------------------------------------------------------------------

// deflateTail is appended to every compressed message: the 00 00 ff ff of
// §7.2.2, then a final empty stored block, so that a well-formed message
// ends compress/flate's stream with io.EOF, and one that runs past the
// tail is known to be cut in the middle of a block.
var deflateTail = []byte{0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff}

// errPastTail is what the feeder answers once the whole tail is read.
var errPastTail = errors.New("compressed data ends in the middle of a block")

// compressedLimit is the default cap on the compressed bytes of one
// message whose inflated size is capped at maxMessage: empty stored blocks
// inflate to nothing, so the inflated cap alone does not bound the work.
// An eighth more, and a kilobyte, covers the stored blocks of
// incompressible data and a sync flush per fragment.
func compressedLimit(maxMessage int64) int64 { return maxMessage + maxMessage/8 + 1024 }

// An inflater is a pooled flate reader and the feeder it reads from.
type inflater struct {
	fr   io.ReadCloser // also a flate.Resetter
	feed feeder
	one  [1]byte // to find out whether output goes on past the limit
}

var inflaters = sync.Pool{New: func() any {
	in := new(inflater)
	in.fr = flate.NewReader(&in.feed)
	return in
}}

// inflate appends to dst the message whose compressed payload src yields
// (§7.2.2), inflated as it arrives. maxSize caps the inflated bytes: the
// byte past it gets 1009 before memory for it exists (RFC 6455 §10.4).
// maxWire caps the compressed bytes read from src (1009 too). Data that is
// not DEFLATE gets 1007. check, if not nil, sees dst after every piece of
// output (to check UTF-8 as it comes out); its error ends the inflation.
// Errors from src come back as they are.
func (d *deflateConn) inflate(dst []byte, src io.Reader, maxSize, maxWire int64, check func([]byte) error) ([]byte, error) {
	in := inflaters.Get().(*inflater)
	defer func() {
		in.feed.start(nil, 0) // the pool keeps no reference to src
		inflaters.Put(in)
	}()
	in.feed.start(src, maxWire)
	start := len(dst)
	d.seen = 0
	// The zero-byte payload holds no DEFLATE block at all: the empty
	// message, and the window stays as it was.
	if empty, err := in.feed.payloadConsumed(); err != nil || empty {
		return dst, err
	}
	in.fr.(flate.Resetter).Reset(&in.feed, d.history)
	for {
		out, err := in.read(dst, start, maxSize)
		if len(out) > len(dst) && check != nil {
			if cerr := check(out); cerr != nil {
				return out, cerr
			}
		}
		dst = out
		switch {
		case err == nil:
			continue
		case err != io.EOF:
			return dst, inflateError(err, maxWire)
		}
		// A block with BFINAL set ends a DEFLATE stream; the next block,
		// if any, follows the padding (§7.2.1) and starts a new stream.
		// The window is kept across it: a conforming sender does not
		// reach back past the stream's start, so this only accepts more.
		done, err := in.feed.payloadConsumed()
		if err != nil {
			return dst, err
		}
		if done {
			d.remember(dst[start:])
			return dst, nil
		}
		in.fr.(flate.Resetter).Reset(&in.feed, d.window(dst[start:]))
	}
}

// read appends what the flate reader has next to dst, never letting
// dst[start:] grow past maxSize: at the limit it reads into a single
// spare byte, and one byte there is one too many.
func (in *inflater) read(dst []byte, start int, maxSize int64) ([]byte, error) {
	limit := start + int(min(maxSize, int64(1<<62)))
	if len(dst) == limit {
		n, err := in.fr.Read(in.one[:])
		if n > 0 {
			return dst, violation(StatusTooBig, "message longer than %d bytes once inflated", maxSize)
		}
		return dst, err
	}
	if len(dst) == cap(dst) {
		// Grow with what arrives: twice the message so far, or four
		// times the compressed bytes read, never past the limit.
		grow := max(2*(len(dst)-start), 4*int(min(in.feed.wire, 1<<30)), 512)
		dst = growExactly(dst, min(grow, limit-len(dst)))
	}
	room := dst[len(dst):min(cap(dst), limit)]
	n, err := in.fr.Read(room)
	return dst[:len(dst)+n], err
}

// growExactly returns dst with room for n more bytes, and no more: append
// would round a capacity near the limit up by a quarter, past the limit
// whose memory must never exist.
func growExactly(dst []byte, n int) []byte {
	grown := make([]byte, len(dst), len(dst)+n)
	copy(grown, dst)
	return grown
}

// inflateError turns what the flate reader failed with into the answer.
func inflateError(err error, maxWire int64) error {
	var corrupt flate.CorruptInputError
	switch {
	case errors.As(err, &corrupt):
		return violation(StatusInvalidData, "compressed data is not valid DEFLATE (byte %d)", int64(corrupt))
	case err == errPastTail:
		return violation(StatusInvalidData, "%v", errPastTail)
	}
	return err
}

// window returns the history a new DEFLATE stream in the middle of a
// message starts with: what the peer's window can hold of all that was
// inflated so far.
func (d *deflateConn) window(out []byte) []byte {
	if d.recvTakeover {
		d.remember(out)
		return d.history
	}
	return out[max(0, len(out)-d.recvWindow):]
}

// remember keeps, under takeover, the last recvWindow bytes inflated, for
// the next message (§7.2.2). It may be called several times in a message;
// it only keeps the bytes it has not seen.
func (d *deflateConn) remember(out []byte) {
	if !d.recvTakeover {
		return
	}
	if d.history == nil {
		d.history = make([]byte, 0, d.recvWindow)
	}
	// Not seen yet: after a mid-message reset, the first part of out is
	// already in history; the caller passes the whole message each time.
	seen := d.seen
	d.seen = len(out)
	out = out[min(seen, len(out)):]
	if len(out) >= d.recvWindow {
		d.history = append(d.history[:0], out[len(out)-d.recvWindow:]...)
		return
	}
	if keep := d.recvWindow - len(out); len(d.history) > keep {
		d.history = d.history[:copy(d.history, d.history[len(d.history)-keep:])]
	}
	d.history = append(d.history, out...)
}

// A feeder gives the flate reader the compressed bytes of one message,
// then deflateTail, then errPastTail. It is a flate.Reader (it has
// ReadByte), so compress/flate reads exactly the bytes it needs and never
// past a BFINAL block.
type feeder struct {
	src     io.Reader
	buf     [4096]byte
	r, w    int
	srcDone bool // src said io.EOF: the tail comes next
	tailed  bool // the tail is in buf
	wire    int64
	maxWire int64
	empty   int // reads in a row that returned nothing
}

// start readies f for a message, keeping its buffer: clearing 4 KiB per
// message would cost more than the small messages it serves.
func (f *feeder) start(src io.Reader, maxWire int64) {
	f.src, f.maxWire = src, maxWire
	f.r, f.w, f.srcDone, f.tailed, f.wire, f.empty = 0, 0, false, false, 0, 0
}

func (f *feeder) ReadByte() (byte, error) {
	for f.r == f.w {
		if err := f.fill(); err != nil {
			return 0, err
		}
	}
	b := f.buf[f.r]
	f.r++
	return b, nil
}

func (f *feeder) Read(p []byte) (int, error) {
	for f.r == f.w {
		if err := f.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, f.buf[f.r:f.w])
	f.r += n
	return n, nil
}

func (f *feeder) fill() error {
	switch {
	case !f.srcDone:
		return f.readSource()
	case !f.tailed:
		f.r, f.w, f.tailed = 0, copy(f.buf[:], deflateTail), true
		return nil
	}
	return errPastTail
}

// readSource reads the next piece of the message, and caps the compressed
// bytes of one message at maxWire (§10.4 of RFC 6455).
func (f *feeder) readSource() error {
	n, err := f.src.Read(f.buf[:])
	f.r, f.w = 0, n
	f.wire += int64(n)
	if f.maxWire > 0 && f.wire > f.maxWire {
		return violation(StatusTooBig, "compressed message longer than %d bytes", f.maxWire)
	}
	switch {
	case err == io.EOF:
		f.srcDone = true
	case err != nil:
		return err
	case n == 0:
		if f.empty++; f.empty > 100 {
			return io.ErrNoProgress
		}
	default:
		f.empty = 0
	}
	return nil
}

// payloadConsumed reports whether every byte src had has been read by
// the flate reader: only the tail (or part of it) is left.
func (f *feeder) payloadConsumed() (bool, error) {
	for f.r == f.w && !f.srcDone {
		if err := f.readSource(); err != nil {
			return false, err
		}
	}
	return f.srcDone && (f.tailed || f.r == f.w), nil
}

// compressBuffers lends the buffers messages are compressed into; one
// larger than maxPooledCompressBuffer is left to the garbage collector.
var compressBuffers = sync.Pool{New: func() any { return new([]byte) }}

const maxPooledCompressBuffer = 256 << 10
