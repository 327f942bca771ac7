package main

// The first code to copy: a server that upgrades a request and echoes, and
// a client that dials it. .ci/run also runs these examples against ws.go
// alone, copied into a package websocket, to prove that they need nothing
// else.

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
)

// An HTTP handler becomes a WebSocket server with Upgrade: it answers the
// handshake, and the Conn it returns reads and writes messages.
func ExampleUpgrade() {
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Upgrade(w, r, nil)
		if err != nil {
			return // Upgrade has answered with an HTTP error
		}
		for {
			op, msg, err := c.ReadMessage()
			if err != nil {
				return // the peer closed, and ReadMessage answered its Close
			}
			c.WriteMessage(op, msg)
		}
	})
	srv := httptest.NewServer(echo)
	defer srv.Close()

	c, err := Dial(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	c.WriteMessage(OpText, []byte("Hello"))
	op, msg, err := c.ReadMessage()
	fmt.Println(op == OpText, string(msg), err)
	fmt.Println(c.Close(StatusNormal, "bye"))
	// Output:
	// true Hello <nil>
	// <nil>
}

// Dial opens a connection to a ws:// or wss:// URL. Here it offers two
// subprotocols, and the server picks the one it speaks (§1.9).
func ExampleDial() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Upgrade(w, r, &Options{Subprotocols: []string{"chat"}})
		if err != nil {
			return
		}
		c.WriteMessage(OpText, []byte("welcome to "+c.Subprotocol()))
		c.Close(StatusNormal, "")
	}))
	defer srv.Close()

	opts := &DialOptions{Options: Options{Subprotocols: []string{"superchat", "chat"}}}
	c, err := Dial(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http"), opts)
	if err != nil {
		fmt.Println(err)
		return
	}
	_, msg, _ := c.ReadMessage()
	fmt.Println(c.Subprotocol(), string(msg))
	_, _, err = c.ReadMessage() // the server's Close
	fmt.Println(err)
	// Output:
	// chat welcome to chat
	// websocket: peer closed (1000) ""
}
