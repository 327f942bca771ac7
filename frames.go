package main

// Seeing the protocol: the two ways this server shows its frames, both fed
// by the one hook ws.go offers, Options.OnFrame.
//
//   - -trace logs the opening handshake of every connection, and every
//     frame in and out, one line each (traceHandshake, traceFrames).
//   - The JSON echo at /websocket sends back, with each reply, the frames
//     it read for that message (frameRecorder): the page draws them as the
//     diagram of §5.2.
//
// When neither is on, as for /echo without -trace, OnFrame is nil and
// ws.go does no work for it at all (BenchmarkTrace).

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
)

// opcodeName names an opcode as §5.2 does.
func opcodeName(op Opcode) string {
	switch op {
	case OpContinuation:
		return "continuation"
	case OpText:
		return "text"
	case OpBinary:
		return "binary"
	case OpClose:
		return "close"
	case OpPing:
		return "ping"
	case OpPong:
		return "pong"
	}
	return fmt.Sprintf("%#x", byte(op)) // reserved: ws.go fails the connection before OnFrame sees one
}

// spacedHex writes bytes as the RFC's examples do: "81 85 37 fa".
func spacedHex(b []byte) string {
	s := make([]byte, 0, 3*len(b))
	for i, c := range b {
		if i > 0 {
			s = append(s, ' ')
		}
		s = hex.AppendEncode(s, []byte{c})
	}
	return string(s)
}

// bit writes a one-bit field as the RFC draws it: 1 or 0.
func bit(set bool) int {
	if set {
		return 1
	}
	return 0
}

// ---------------------------------------------------------------------------
// -trace
// ---------------------------------------------------------------------------

// traceHandshake logs the client's opening handshake (§4.1, §4.2.1) and
// returns the OnFrame that logs the frames of the connection it opens, then
// passes them on to next, if any.
//
// It logs what net/http parsed: the request line, Host, and the other
// headers with their names in Go's canonical form (Sec-Websocket-Key for
// Sec-WebSocket-Key); HTTP itself ignores the case of header names. The
// values of credentials are left out.
func (s *server) traceHandshake(r *http.Request, next func(Frame)) func(Frame) {
	headers := []any{slog.String("Host", r.Host)}
	for _, name := range slices.Sorted(maps.Keys(r.Header)) {
		for _, value := range r.Header[name] {
			if slices.Contains(credentials, name) {
				value = "[redacted]"
			}
			headers = append(headers, slog.String(name, value))
		}
	}
	s.log.Info("handshake request", "remote", r.RemoteAddr,
		"request", r.Method+" "+r.RequestURI+" "+r.Proto, slog.Group("header", headers...))
	return both(traceFrames(s.log, r.RemoteAddr), next)
}

// credentials are the request headers whose values -trace does not log: a
// log is read by more people, and kept longer, than a visitor's cookies
// and passwords are meant for.
var credentials = []string{"Authorization", "Cookie", "Proxy-Authorization"}

// traceResponse logs the server's answer to the handshake (§4.2.2), the
// 101 response as Upgrade wrote it, which Options.OnResponse hands over:
// its status line, and each header line as "name: value".
func (s *server) traceResponse(r *http.Request, head []byte) {
	lines := strings.Split(strings.TrimSuffix(string(head), "\r\n\r\n"), "\r\n")
	_, status, _ := strings.Cut(lines[0], " ") // HTTP/1.1 101 Switching Protocols
	var headers []any
	for _, line := range lines[1:] {
		name, value, _ := strings.Cut(line, ":")
		headers = append(headers, slog.String(name, strings.TrimSpace(value)))
	}
	s.log.Info("handshake response", "remote", r.RemoteAddr, "status", status, slog.Group("header", headers...))
}

// traceRefusal logs a refused handshake: an ordinary HTTP response, whose
// status and headers are those Upgrade set.
func (s *server) traceRefusal(w http.ResponseWriter, r *http.Request, e *HandshakeError) {
	var headers []any
	for _, name := range slices.Sorted(maps.Keys(w.Header())) {
		headers = append(headers, slog.String(name, w.Header().Get(name)))
	}
	s.log.Info("handshake response", "remote", r.RemoteAddr,
		"status", fmt.Sprintf("%d %s", e.Status, http.StatusText(e.Status)), slog.Group("header", headers...))
}

// traceFrames returns an OnFrame that logs each frame of the connection to
// remote, one line each:
//
//	msg=frame remote=127.0.0.1:50312 dir=in fin=1 rsv=000 op=text mask=1 len=5 key=37fa213d header="81 85 37 fa 21 3d" text=Hello
//
// dir is in (read from the peer) or out (sent); fin, rsv (RSV1-3) and mask
// are the bits of §5.2; len is the payload length, whatever form the
// header gave it in; key is the masking key, if mask is 1; header is the
// header byte for byte. Then the first bytes of the payload (at most
// TracedBytes), unmasked: text as text, a Close as its code and reason
// (§5.5.1), anything else in hex. A frame of a compressed message (RSV1
// on its first frame, RFC 7692 §6) shows its payload as compressed=, in
// hex, and the last one read, or one sent, also the message uncompressed,
// as text= or hex=.
func traceFrames(log *slog.Logger, remote string) func(Frame) {
	// A continuation frame is text or binary as the message's first frame
	// was (§5.4): remember that, for each direction. OnFrame may be
	// called by a reader and a writer at once.
	var mu sync.Mutex
	var message [2]Opcode  // in, out
	var compressed [2]bool // the message's first frame had RSV1 (RFC 7692 §6)
	return func(f Frame) {
		dir := 0
		if f.Sent {
			dir = 1
		}
		mu.Lock()
		kind := f.Opcode
		switch {
		case f.Opcode == OpContinuation:
			kind = message[dir]
		case !f.Opcode.IsControl():
			message[dir] = f.Opcode
			compressed[dir] = f.RSV&4 != 0
		}
		deflated := compressed[dir] && !f.Opcode.IsControl()
		mu.Unlock()

		attrs := make([]slog.Attr, 0, 11)
		attrs = append(attrs,
			slog.String("remote", remote),
			slog.String("dir", [2]string{"in", "out"}[dir]),
			slog.Int("fin", bit(f.Fin)),
			slog.String("rsv", fmt.Sprintf("%03b", f.RSV)),
			slog.String("op", opcodeName(f.Opcode)),
			slog.Int("mask", bit(f.Masked)),
			slog.Int64("len", f.Length),
		)
		if f.Masked {
			attrs = append(attrs, slog.String("key", hex.EncodeToString(f.Key[:])))
		}
		attrs = append(attrs, slog.String("header", spacedHex(f.Header)))
		if deflated {
			// RFC 7692: the payload is DEFLATE data; the last frame read
			// of the message, and a frame sent, also show the message
			// uncompressed.
			attrs = append(attrs, slog.String("compressed", spacedHex(f.Payload)))
			f.Payload = f.Inflated
		}
		switch {
		case deflated && f.Inflated == nil:
			// a frame before the last: the message is not inflated yet
		case kind == OpText:
			attrs = append(attrs, slog.String("text", string(f.Payload)))
		case kind == OpClose && len(f.Payload) >= 2:
			attrs = append(attrs, slog.Int("code", int(binary.BigEndian.Uint16(f.Payload))), slog.String("reason", string(f.Payload[2:])))
		case len(f.Payload) > 0:
			attrs = append(attrs, slog.String("hex", spacedHex(f.Payload)))
		}
		log.LogAttrs(context.Background(), slog.LevelInfo, "frame", attrs...)
	}
}

// ---------------------------------------------------------------------------
// The frame inspector of /websocket
// ---------------------------------------------------------------------------

// maxInspected is the most frames a reply shows: a message may come in
// thousands of fragments (Options.MaxFragments), and a reply must stay
// small. The page sends every message in one frame.
const maxInspected = 16

// An inspectedFrame is one frame the server read, as a reply to the page
// shows it: every field of §5.2, and the bytes in hex.
type inspectedFrame struct {
	Fin      bool   `json:"fin"`
	RSV      byte   `json:"rsv"` // RSV1-3 as the number 0-7: RSV1 is 4
	Opcode   Opcode `json:"opcode"`
	Mask     bool   `json:"mask"`
	Length   int64  `json:"length"`             // the payload length
	Key      string `json:"key,omitempty"`      // the masking key, if Mask
	Header   string `json:"header"`             // the whole header, byte for byte
	Masked   string `json:"masked,omitempty"`   // the payload's first bytes as on the wire, if Mask
	Unmasked string `json:"unmasked"`           // the same bytes, unmasked (§5.3)
	Inflated string `json:"inflated,omitempty"` // the last frame of a compressed message: the message's first bytes, inflated (RFC 7692)
}

// inspect copies what OnFrame showed of f, whose slices do not outlive the
// call.
func inspect(f Frame) inspectedFrame {
	i := inspectedFrame{
		Fin: f.Fin, RSV: f.RSV, Opcode: f.Opcode, Mask: f.Masked, Length: f.Length,
		Header: hex.EncodeToString(f.Header), Unmasked: hex.EncodeToString(f.Payload),
		Inflated: hex.EncodeToString(f.Inflated),
	}
	if f.Masked {
		i.Key = hex.EncodeToString(f.Key[:])
		i.Masked = hex.EncodeToString(f.Wire)
	}
	return i
}

// A frameRecorder keeps the frames one connection has read since a
// conversation last took them: its record method is the connection's
// OnFrame.
type frameRecorder struct {
	mu      sync.Mutex
	frames  []inspectedFrame
	dropped int // frames read beyond maxInspected
}

// record keeps a frame read from the peer. Frames this end sends are not
// kept: the page sees those as the messages they are. A message's first
// frame starts the record afresh: control frames read before it, such as
// the pongs a browser sends to this server's pings, belong to no message.
func (r *frameRecorder) record(f Frame) {
	if f.Sent {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if f.Opcode == OpText || f.Opcode == OpBinary {
		r.frames, r.dropped = r.frames[:0], 0
	}
	if len(r.frames) < maxInspected {
		r.frames = append(r.frames, inspect(f))
	} else {
		r.dropped++
	}
}

// take returns the frames read since the last call, and how many more
// there were than it kept.
func (r *frameRecorder) take() (frames []inspectedFrame, dropped int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	frames, dropped = r.frames, r.dropped
	r.frames, r.dropped = nil, 0
	return frames, dropped
}

// inspected is websocket for a conversation that is shown the frames it
// reads: each connection gets a frameRecorder of its own, as its OnFrame.
func (s *server) inspected(opts Options, talk func(*Conn, *frameRecorder) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		frames := new(frameRecorder)
		opts := opts
		opts.OnFrame = both(frames.record, opts.OnFrame)
		s.websocket(opts, func(c *Conn) error { return talk(c, frames) }).ServeHTTP(w, r)
	})
}

// both returns an OnFrame that calls first, then second if it is set.
func both(first, second func(Frame)) func(Frame) {
	if second == nil {
		return first
	}
	return func(f Frame) {
		first(f)
		second(f)
	}
}
