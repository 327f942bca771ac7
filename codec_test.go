package main

// The frame codec on bytes alone (§5.2): parseHeader and appendHeader, with
// no connection, no reader and no writer.

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

var (
	asServer = endpoint{}
	asClient = endpoint{client: true}
)

func TestParseHeader(t *testing.T) {
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	tests := []struct {
		name string
		e    endpoint
		b    []byte
		want frameHeader // if code is 0
		size int
		code StatusCode // of the violation, or 0
	}{
		// §5.7's examples.
		{"§5.7 unmasked Hello", asClient, []byte{0x81, 0x05, 'H'},
			frameHeader{fin: true, opcode: OpText, length: 5}, 2, 0},
		{"§5.7 masked Hello", asServer, []byte{0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d},
			frameHeader{fin: true, opcode: OpText, masked: true, length: 5, key: key}, 6, 0},
		{"§5.7 first fragment", asServer, []byte{0x01, 0x83, 0x37, 0xfa, 0x21, 0x3d},
			frameHeader{opcode: OpText, masked: true, length: 3, key: key}, 6, 0},
		{"§5.7 256 bytes, 16-bit length", asClient, []byte{0x82, 0x7e, 0x01, 0x00},
			frameHeader{fin: true, opcode: OpBinary, length: 256}, 4, 0},
		{"§5.7 64 KiB, 64-bit length", asClient, []byte{0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0},
			frameHeader{fin: true, opcode: OpBinary, length: 65536}, 10, 0},
		{"S-36 a length longer than it need be", asClient, []byte{0x82, 0x7e, 0x00, 0x05},
			frameHeader{fin: true, opcode: OpBinary, length: 5}, 4, 0},
		{"§9 RSV1 an extension allows", endpoint{client: true, rsvAllowed: 0x40}, []byte{0xc1, 0x05},
			frameHeader{fin: true, rsv: 0x40, opcode: OpText, length: 5}, 2, 0},

		{"S-34 64-bit length with its top bit set", asClient, []byte{0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0}, frameHeader{}, 10, StatusProtocolError},
		{"S-31 RSV1 with no extension", asClient, []byte{0xc1, 0x05}, frameHeader{}, 2, StatusProtocolError},
		{"S-31 RSV2 that the extension does not allow", endpoint{client: true, rsvAllowed: 0x40}, []byte{0xa1, 0x05}, frameHeader{}, 2, StatusProtocolError},
		{"S-33 reserved opcode 0x3", asClient, []byte{0x83, 0x00}, frameHeader{}, 2, StatusProtocolError},
		{"S-33 reserved opcode 0xB", asClient, []byte{0x8b, 0x00}, frameHeader{}, 2, StatusProtocolError},
		{"S-28 an unmasked frame to a server", asServer, []byte{0x81, 0x05}, frameHeader{}, 2, StatusProtocolError},
		{"C-28 a masked frame to a client", asClient, []byte{0x81, 0x85, 1, 2, 3, 4}, frameHeader{}, 6, StatusProtocolError},
		{"S-40 a fragmented ping", asClient, []byte{0x09, 0x00}, frameHeader{}, 2, StatusProtocolError},
		{"S-44 a ping of 126 bytes", asClient, []byte{0x89, 0x7e, 0x00, 0x7e}, frameHeader{}, 4, StatusProtocolError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, size, err := parseHeader(tt.b, tt.e)
			if size != tt.size {
				t.Errorf("size %d, want %d", size, tt.size)
			}
			var pe *ProtocolError
			switch {
			case tt.code == 0 && err != nil:
				t.Errorf("error %v, want none", err)
			case tt.code == 0 && h != tt.want:
				t.Errorf("header %+v, want %+v", h, tt.want)
			case tt.code != 0 && !errors.As(err, &pe):
				t.Errorf("error %v, want a ProtocolError with %d", err, tt.code)
			case tt.code != 0 && pe.Code != tt.code:
				t.Errorf("code %d, want %d", pe.Code, tt.code)
			}
		})
	}
	t.Run("S-36 a header cut short is incomplete, not wrong", func(t *testing.T) {
		whole := []byte{0x82, 0xff, 0, 0, 0, 0, 0, 1, 0, 0, 1, 2, 3, 4}
		for n := range len(whole) {
			if _, _, err := parseHeader(whole[:n], asServer); err != io.ErrUnexpectedEOF {
				t.Errorf("%d of %d bytes: error %v, want io.ErrUnexpectedEOF", n, len(whole), err)
			}
		}
	})
}

func TestAppendHeader(t *testing.T) {
	key := &[4]byte{0x37, 0xfa, 0x21, 0x3d}
	tests := []struct {
		name   string
		fin    bool
		rsv    byte
		op     Opcode
		length int
		key    *[4]byte
		want   []byte
	}{
		{"§5.7 unmasked Hello", true, 0, OpText, 5, nil, []byte{0x81, 0x05}},
		{"§5.7 masked Hello", true, 0, OpText, 5, key, []byte{0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d}},
		{"§5.7 first fragment", false, 0, OpText, 3, nil, []byte{0x01, 0x03}},
		{"§5.7 last fragment", true, 0, OpContinuation, 2, nil, []byte{0x80, 0x02}},
		{"S-35 125 bytes in 7 bits", true, 0, OpBinary, 125, nil, []byte{0x82, 0x7d}},
		{"S-35 126 bytes in 16 bits", true, 0, OpBinary, 126, nil, []byte{0x82, 0x7e, 0x00, 0x7e}},
		{"S-35 65536 bytes in 64 bits", true, 0, OpBinary, 65536, nil, []byte{0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0}},
		{"§9 RSV1 set by an extension", true, 0x40, OpText, 7, nil, []byte{0xc1, 0x07}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := appendHeader(nil, tt.fin, tt.rsv, tt.op, tt.length, tt.key); !bytes.Equal(got, tt.want) {
				t.Errorf("% x, want % x", got, tt.want)
			}
		})
	}
}

// FuzzParseHeader: parseHeader never panics, and a header it accepts, if
// its length is in the shortest form, is the one appendHeader writes.
func FuzzParseHeader(f *testing.F) {
	f.Add([]byte{0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d}, false, byte(0))
	f.Add([]byte{0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0}, true, byte(0x40))
	f.Fuzz(func(t *testing.T, b []byte, isClient bool, rsvAllowed byte) {
		e := endpoint{client: isClient, rsvAllowed: rsvAllowed & 0x70}
		h, size, err := parseHeader(b, e)
		if err != nil {
			return
		}
		var key *[4]byte
		if h.masked {
			key = &h.key
		}
		again := appendHeader(nil, h.fin, h.rsv, h.opcode, int(h.length), key)
		if len(again) == size && !bytes.Equal(again, b[:size]) {
			t.Errorf("parsed % x as %+v, which appends as % x", b[:size], h, again)
		}
	})
}
