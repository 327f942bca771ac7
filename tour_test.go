package main

// The README's tour of the protocol cites, for each step, the test that
// proves its example. §5.7 gives no example of closing; this is the one
// the tour shows.

import "testing"

// TestCloseExample is the tour's closing handshake, byte for byte: the
// client's Close with code 1000 (03 e8, §7.4.1), masked with §5.7's key:
// 88 82 37 fa 21 3d 34 12. The server answers with a Close of the same
// code, unmasked, 88 02 03 e8 (§5.5.1), and, having both sent and received
// a Close, closes the TCP connection first (§7.1.1): the client reads the
// end of the stream.
func TestCloseExample(t *testing.T) {
	c := dial(t, newTestServer(t, Options{}), "/echo")
	c.write([]byte{0x88, 0x82, 0x37, 0xfa, 0x21, 0x3d, 0x34, 0x12})
	c.expectBytes(0x88, 0x02, 0x03, 0xe8)
	c.expectEOF()
	c.nc.Close()
}
