// Command floor is the least a WebSocket server on net/http can be: it
// hijacks every request to /echo without checking it, answers 101, and
// echoes single small frames in a goroutine per connection. It checks
// nothing and bounds nothing, so it is not a server to use: it measures
// what net/http, the hijack and a goroutine cost before any protocol work,
// the floor under the handshake and idle-memory figures in BENCHMARKS.md,
// "The floor" (see there for how to run it).
package main

import (
	"crypto/sha1"
	"encoding/base64"
	"flag"
	"net"
	"net/http"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:5001", "address to listen on")
	flag.Parse()
	http.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		sum := sha1.Sum([]byte(r.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
		nc, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		nc.Write([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Accept: " + base64.StdEncoding.EncodeToString(sum[:]) + "\r\n\r\n"))
		go echo(nc)
	})
	http.ListenAndServe(*addr, nil)
}

// echo sends back each masked frame of at most 125 bytes that arrives in
// one read, unmasked; anything else ends the connection.
func echo(nc net.Conn) {
	defer nc.Close()
	var in [256]byte
	for {
		n, err := nc.Read(in[:])
		if err != nil || n < 6 || in[1]&0x7F > 125 || n < 6+int(in[1]&0x7F) {
			return
		}
		length, key := int(in[1]&0x7F), in[2:6]
		out := make([]byte, 2+length)
		out[0], out[1] = in[0], byte(length)
		for i := range length {
			out[2+i] = in[6+i] ^ key[i%4]
		}
		if _, err := nc.Write(out); err != nil {
			return
		}
	}
}
