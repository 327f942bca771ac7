package main

// The Autobahn TestSuite's sections 12 and 13 (permessage-deflate),
// mirrored in go test: 216 cases, each a connection from Dial to the
// server's Upgrade that sends compressed messages and checks every echo,
// so that both ends compress and inflate. The suite sends 1000 messages a
// case; here the count is scaled to the size. The data is generated here,
// one set for each of the suite's files (JSON, a bitmap, German prose,
// HTML, a PDF), not copied from it.
//
// Section 12 varies the payload: 5 data sets x 18 (size, fragment) rows.
// Section 13 varies the parameters the client offers: 7 offers x 18 rows.
// Each runs with context takeover off and on, on both ends:
//
//	go test -run 'TestAutobahnDeflate' .
//	go test -run 'TestAutobahnDeflate/takeover=true/13.5.18' .

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

// autobahnDeflateRows are the suite's 18 rows of a case group: the payload size
// and the auto-fragment size (0: one frame), in the suite's order.
var autobahnDeflateRows = []struct{ size, fragment int }{
	{16, 0}, {64, 0}, {256, 0}, {1024, 0}, {4096, 0}, {8192, 0}, {16384, 0},
	{32768, 0}, {65536, 0}, {131072, 0},
	{8192, 256}, {16384, 256}, {32768, 256}, {65536, 256}, {131072, 256},
	{131072, 1024}, {131072, 4096}, {131072, 32768},
}

// autobahnDeflateCount scales the suite's 1000 messages a case to about 256 KiB
// of payload, at least 4 messages (takeover needs several) and at most 50.
func autobahnDeflateCount(size int) int {
	if testing.Short() {
		return 2
	}
	return min(50, max(4, (256<<10)/size))
}

// A dataSet is one of section 12's payloads.
type dataSet struct {
	name string
	op   Opcode
	data []byte
}

// autobahnDeflateData generates the five data sets of section 12 (12.1 to
// 12.5), each larger than the largest message.
func autobahnDeflateData() []dataSet {
	const n = 300 << 10
	r := rand.New(rand.NewPCG(12, 5))
	return []dataSet{
		{"12.1 JSON", OpText, genJSON(r, n)},
		{"12.2 bitmap", OpBinary, genBitmap(r, n)},
		{"12.3 German prose", OpText, genProse(r, n)},
		{"12.4 HTML", OpText, genHTML(r, n)},
		{"12.5 PDF", OpBinary, genPDF(r, n)},
	}
}

func genJSON(r *rand.Rand, n int) []byte {
	var b bytes.Buffer
	b.WriteString("[")
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, `{"id": %d, "name": "user%d", "email": "user%d@example.org", "score": %.3f, "tags": ["websocket", "deflate", "rfc%d"], "active": %v},`+"\n",
			i, r.IntN(10000), r.IntN(10000), r.Float64()*100, 6455+r.IntN(2)*1237, r.IntN(2) == 0)
	}
	return b.Bytes()
}

func genBitmap(r *rand.Rand, n int) []byte {
	b := make([]byte, 0, n)
	for len(b) < n {
		run := 1 + r.IntN(40)
		v := byte(r.IntN(4) * 85)
		for range run {
			b = append(b, v)
		}
	}
	return b
}

func genProse(r *rand.Rand, n int) []byte {
	words := strings.Fields("Habe nun ach Philosophie Juristerei und Medizin und leider auch Theologie durchaus studiert mit heißem Bemühn Da steh ich nun ich armer Tor und bin so klug als wie zuvor Heiße Magister heiße Doktor gar Grübeln Zweifel Hölle Teufel Fürsten Türen Äpfel Öl über")
	var b bytes.Buffer
	for b.Len() < n {
		b.WriteString(words[r.IntN(len(words))])
		if r.IntN(12) == 0 {
			b.WriteString(".\n")
		} else {
			b.WriteString(" ")
		}
	}
	return b.Bytes()
}

func genHTML(r *rand.Rand, n int) []byte {
	var b bytes.Buffer
	b.WriteString("<!DOCTYPE html><html><head><title>Autobahn</title></head><body>\n")
	for b.Len() < n {
		fmt.Fprintf(&b, `<div class="row r%d"><a href="/page/%d">link %d</a><p>%s</p></div>`+"\n", r.IntN(7), r.IntN(1000), r.IntN(1000), genProse(r, 80+r.IntN(200)))
	}
	return b.Bytes()
}

// genPDF mixes what a PDF holds: readable object syntax, and compressed
// streams that do not compress again.
func genPDF(r *rand.Rand, n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "%d 0 obj\n<< /Type /Page /Length %d /Filter /FlateDecode >>\nstream\n", i, 512)
		for range 512 {
			b.WriteByte(byte(r.Uint32()))
		}
		b.WriteString("\nendstream\nendobj\n")
	}
	return b.Bytes()
}

// messageOf returns message i of a case: size bytes of data, from where
// the last one ended, cut so that text stays whole UTF-8 code points.
func messageOf(set dataSet, i, size int) []byte {
	start := (i * size) % (len(set.data) - size)
	end := start + size
	if set.op == OpText {
		for start > 0 && !utf8.RuneStart(set.data[start]) {
			start--
		}
		for end > start && !utf8.RuneStart(set.data[end]) {
			end--
		}
	}
	return set.data[start:end]
}

// sendFragmented sends msg compressed, as one message of frames of at
// most fragment bytes of compressed payload, RSV1 on the first only
// (RFC 7692 §6.1), as the suite's auto-fragmenting client does. Dial's
// Conn sends every message in one frame, so this reaches inside.
func sendFragmented(c *Conn, op Opcode, msg []byte, fragment int) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	payload := c.deflate.compress(nil, msg)
	rsv := byte(rsv1)
	for {
		n := min(fragment, len(payload))
		if err := c.writeFrame(n == len(payload), rsv, op, payload[:n], true); err != nil {
			return err
		}
		payload, rsv, op = payload[n:], 0, OpContinuation
		if len(payload) == 0 {
			return nil
		}
	}
}

// autobahnDeflateCase sends count messages through c, fragmented as row says,
// and checks each echo.
func autobahnDeflateCase(t *testing.T, c *Conn, set dataSet, size, fragment int) {
	t.Helper()
	if !c.Compressed() {
		t.Fatal("permessage-deflate not agreed")
	}
	for i := range autobahnDeflateCount(size) {
		msg := messageOf(set, i, size)
		var err error
		if fragment == 0 {
			err = c.WriteMessage(set.op, msg)
		} else {
			err = sendFragmented(c, set.op, msg, fragment)
		}
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		op, got, err := c.ReadMessage()
		if err != nil || op != set.op || !bytes.Equal(got, msg) {
			t.Fatalf("message %d of %d bytes: echo %d bytes, opcode %d, %v", i, len(msg), len(got), op, err)
		}
	}
	if err := c.Close(StatusNormal, ""); err != nil {
		t.Errorf("close: %v", err)
	}
}

// autobahnDeflateOffers are section 13's offers, as (server_no_context_takeover,
// server_max_window_bits) the client asks; 13.7 offers three elements.
var autobahnDeflateOffers = []struct {
	name     string
	noTakeov bool
	bits     int
	raw      string // 13.7: the offer sent as is, not by Dial
}{
	{"13.1", false, 0, ""},
	{"13.2", true, 0, ""},
	{"13.3", false, 8, ""},
	{"13.4", false, 15, ""},
	{"13.5", true, 8, ""},
	{"13.6", true, 15, ""},
	{"13.7", true, 8, "permessage-deflate; client_max_window_bits; server_no_context_takeover; server_max_window_bits=8, " +
		"permessage-deflate; client_max_window_bits; server_no_context_takeover, permessage-deflate; client_max_window_bits"},
}

// TestAutobahnDeflate runs sections 12 and 13, takeover off and on.
func TestAutobahnDeflate(t *testing.T) {
	sets := autobahnDeflateData()
	for _, takeover := range []bool{false, true} {
		t.Run(fmt.Sprint("takeover=", takeover), func(t *testing.T) {
			// The server compresses what is above its threshold; the
			// client, as the suite's, everything.
			url := deflateEchoServer(t, Options{MaxMessage: 1 << 20, Compression: &DeflateOptions{ContextTakeover: takeover}}, nil)
			for _, set := range sets {
				for j, row := range autobahnDeflateRows {
					id := strings.Fields(set.name)[0]
					t.Run(fmt.Sprintf("%s.%d", id, j+1), func(t *testing.T) {
						c := dialDeflate(t, url, &DeflateOptions{ContextTakeover: takeover, Threshold: 1})
						autobahnDeflateCase(t, c, set, row.size, row.fragment)
					})
				}
			}
			for i, offer := range autobahnDeflateOffers {
				set := sets[i%len(sets)]
				for j, row := range autobahnDeflateRows {
					t.Run(fmt.Sprintf("%s.%d", offer.name, j+1), func(t *testing.T) {
						var c *Conn
						if offer.raw != "" {
							c = dialRawOffer(t, url, offer.raw, takeover)
						} else {
							c = dialDeflate(t, url, &DeflateOptions{ContextTakeover: takeover && !offer.noTakeov, Threshold: 1, ServerMaxWindowBits: offer.bits})
						}
						autobahnDeflateCase(t, c, set, row.size, row.fragment)
					})
				}
			}
		})
	}
}

// dialRawOffer opens a client's Conn whose handshake sends offer as it
// is, several elements included (Dial sends one), and checks the answer
// against the first element, which the server must accept (§5).
func dialRawOffer(t *testing.T, url, offer string, takeover bool) *Conn {
	t.Helper()
	nc, br, answer := rawDeflateClient(t, url, offer)
	first, _ := deflateOffer(DeflateOptions{ContextTakeover: true, ServerMaxWindowBits: 8})
	first.serverNoContextTakeover = true
	agreed, ok, err := checkDeflateAnswer([]string{answer}, first)
	if err != nil || !ok {
		t.Fatalf("answer %q to %q: %v", answer, offer, err)
	}
	c := newConn(nc, br, "", &Options{})
	c.client = true
	c.useDeflate(newDeflateConn(agreed, true, DeflateOptions{Threshold: 1, ContextTakeover: takeover}))
	return c
}
