package main

// FuzzDialResponse: the client's reading of the server's answer to its
// opening handshake (§4.1), against answers of every shape.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// acceptPlaceholder, anywhere in a fuzzed answer, becomes the
// Sec-WebSocket-Accept value for the key Dial sent: the key is new for
// every connection (C-12), so no fixed input could carry the right one.
const acceptPlaceholder = "{accept}"

// offeredProtocol is the subprotocol Dial offers, so that an answer may
// choose it, or choose one that was not offered (C-23).
const offeredProtocol = "chat"

// FuzzDialResponse runs Dial against a loopback server that answers its
// handshake with the fuzzed bytes, then ends its side of the connection.
// Whatever the bytes, Dial must return before its context ends (no hang)
// and must not panic. If it returns a Conn, the answer must be one §4.1
// lets a client accept: status 101, "Upgrade: websocket", "Connection:
// Upgrade", one Sec-WebSocket-Accept that is the one for the key sent, no
// extension, and at most one subprotocol, the one offered (C-18 to C-24);
// reading from that Conn must then end, as the server has stopped sending.
// If Dial refuses the answer with a HandshakeError, its Status must be the
// answer's.
func FuzzDialResponse(f *testing.F) {
	good := []string{
		"Upgrade: websocket",
		"Connection: Upgrade",
		"Sec-WebSocket-Accept: " + acceptPlaceholder,
	}
	for _, seed := range []string{
		response("101 Switching Protocols", good...),
		response("101 Switching Protocols", append(good, "Sec-WebSocket-Protocol: "+offeredProtocol)...),
		response("101 Switching Protocols", good...) + string(serverFrames(text("hello"), ping("p"), closeFrame(StatusNormal, "bye"))),
		response("101 Switching Protocols", "upgrade: WebSocket", "connection: keep-alive, upgrade", "sec-websocket-accept:  "+acceptPlaceholder+" "),
		strings.ReplaceAll(response("101 Switching Protocols", good...), "\r\n", "\n"),
		response("101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
		response("101 Switching Protocols", append(good, "Sec-WebSocket-Accept: "+acceptPlaceholder)...),
		response("101 Switching Protocols", append(good, "Sec-WebSocket-Extensions: permessage-deflate")...),
		response("101 Switching Protocols", append(good, "Sec-WebSocket-Protocol: other")...),
		response("101 Switching Protocols", "Connection: Upgrade", "Sec-WebSocket-Accept: "+acceptPlaceholder),
		response("200 OK", good...),
		response("403 Forbidden", "Content-Type: text/plain", "Content-Length: 21") + "origin not allowed\r\n",
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n",
		"HTTP/1.0 101 Switching Protocols\r\n\r\n",
		"SSH-2.0-OpenSSH_9.2\r\n",
		"",
	} {
		f.Add([]byte(seed))
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { ln.Close() })
	url := "ws://" + ln.Addr().String() + "/"

	f.Fuzz(func(t *testing.T, answer []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		opts := &DialOptions{Options: Options{Subprotocols: []string{offeredProtocol}, IdleTimeout: testTimeout, CloseTimeout: time.Second}}
		dialing := dialAsync(ctx, url, opts)

		sc, key := acceptRequest(t, ln)
		defer sc.Close()
		sent := bytes.ReplaceAll(answer, []byte(acceptPlaceholder), []byte(acceptFor(key)))
		sc.SetDeadline(time.Now().Add(testTimeout))
		sc.Write(sent) // the client may have hung up already
		sc.(*net.TCPConn).CloseWrite()

		r := await(t, dialing)
		switch {
		case errors.Is(r.err, context.DeadlineExceeded) || errors.Is(r.err, os.ErrDeadlineExceeded):
			t.Fatalf("Dial still waited %v after the server had said all it would: %v\nanswer: %q", testTimeout, r.err, sent)
		case r.err != nil:
			checkRefusal(t, r.err, sent)
		default:
			checkAcceptable(t, sent, key, r.c)
			readUntilEnd(t, r.c, sent)
		}
	})
}

// acceptRequest accepts Dial's connection and reads its request head, up
// to the blank line, and returns the connection and the request's key.
func acceptRequest(t *testing.T, ln net.Listener) (net.Conn, string) {
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(testTimeout))
	nc, err := ln.Accept()
	if err != nil {
		t.Fatalf("Dial did not connect: %v", err)
	}
	nc.SetReadDeadline(time.Now().Add(testTimeout))
	req, err := http.ReadRequest(bufio.NewReader(nc))
	if err != nil {
		nc.Close()
		t.Fatalf("Dial's request is not HTTP: %v", err)
	}
	return nc, req.Header.Get("Sec-WebSocket-Key")
}

// checkRefusal checks an answer Dial refused: a HandshakeError carries the
// answer's own status.
func checkRefusal(t *testing.T, err error, answer []byte) {
	var refusal *HandshakeError
	if !errors.As(err, &refusal) {
		return // not HTTP, cut short, or too long: any error will do
	}
	resp, perr := http.ReadResponse(bufio.NewReader(bytes.NewReader(answer)), nil)
	switch {
	case perr != nil:
		t.Fatalf("Dial reported %v for an answer that is not HTTP (%v): %q", err, perr, answer)
	case refusal.Status != resp.StatusCode:
		t.Fatalf("Dial reported status %d for an answer of status %d: %q", refusal.Status, resp.StatusCode, answer)
	}
}

// checkAcceptable fails the test unless answer is one §4.1 lets a client
// accept for key, with c's subprotocol its choice.
func checkAcceptable(t *testing.T, answer []byte, key string, c *Conn) {
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(answer)), nil)
	if err != nil {
		t.Fatalf("Dial accepted an answer that is not HTTP (%v): %q", err, answer)
	}
	accepts := resp.Header.Values("Sec-WebSocket-Accept")
	protocols := resp.Header.Values("Sec-WebSocket-Protocol")
	var broken string
	switch {
	case resp.StatusCode != http.StatusSwitchingProtocols:
		broken = "C-18: the status is not 101"
	case !slices.ContainsFunc(headerTokens(resp.Header, "Upgrade"), isFold("websocket")):
		broken = `C-19: no "Upgrade: websocket"`
	case !slices.ContainsFunc(headerTokens(resp.Header, "Connection"), isFold("Upgrade")):
		broken = `C-20: no "Connection: Upgrade"`
	case len(accepts) != 1 || strings.TrimSpace(accepts[0]) != acceptFor(key):
		broken = "C-21: Sec-WebSocket-Accept is not the one for the key"
	case len(resp.Header.Values("Sec-WebSocket-Extensions")) > 0:
		broken = "C-22: an extension that was not offered"
	case len(protocols) > 1:
		broken = "C-24: Sec-WebSocket-Protocol more than once"
	case len(protocols) == 1 && strings.TrimSpace(protocols[0]) != offeredProtocol:
		broken = "C-23: a subprotocol that was not offered"
	case len(protocols) == 1 && c.Subprotocol() != offeredProtocol,
		len(protocols) == 0 && c.Subprotocol() != "":
		broken = "the Conn's subprotocol " + c.Subprotocol() + " is not the answer's"
	}
	if broken != "" {
		c.Close(StatusNormal, "")
		t.Fatalf("Dial accepted an answer that breaks §4.1 (%s): %q", broken, answer)
	}
}

// headerTokens splits every line of header name at its commas, written
// here rather than taken from ws.go so that a mistake there cannot hide.
func headerTokens(h http.Header, name string) []string {
	var tokens []string
	for _, line := range h.Values(name) {
		for _, t := range strings.Split(line, ",") {
			tokens = append(tokens, strings.TrimSpace(t))
		}
	}
	return tokens
}

func isFold(want string) func(string) bool {
	return func(s string) bool { return strings.EqualFold(s, want) }
}

// readUntilEnd reads from c until it fails, as it must once the bytes
// after the answer run out, then closes it; a wait that outlasts the idle
// timeout is a hang.
func readUntilEnd(t *testing.T, c *Conn, answer []byte) {
	defer c.Close(StatusNormal, "")
	for range len(answer) + 1 { // every message takes at least 2 bytes
		_, _, err := c.ReadMessage()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("reading after the answer waited for the idle timeout, though the server had ended its side: %q", answer)
		}
		if err != nil {
			return
		}
	}
	t.Fatalf("more messages than bytes after the answer: %q", answer)
}
