// The terminal client, -connect: the other end of the protocol, for a
// person at a terminal. It talks to any WebSocket server, this one or
// another:
//
//	go run . -connect ws://localhost:5000/echo
//
// Each line typed is sent as a text message, and each message that comes
// back is printed. At the end of input (Ctrl-D, or the end of a pipe) it
// first lets the replies still on their way arrive: it waits until the
// server has sent nothing for -linger (1s by default; at most ten times
// that in all), then closes with 1000, and exits 0. Ctrl-C closes at once.
// If the handshake fails, or the connection ends any other way than with
// 1000, it says why on stderr and exits 1.

package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"
)

// dialTimeout bounds the terminal client's opening handshake, and
// closeWait how long it waits for the server to answer its Close.
const (
	dialTimeout = 30 * time.Second
	closeWait   = 5 * time.Second
)

// defaultLinger is -linger's default: at the end of input, how long the
// server must have been quiet before the client closes. A reply takes a
// round trip and whatever the server's handler needs; a second covers
// that for a server nearby without making a person wait. lingerRounds
// bounds the wait in all, for a server that never falls quiet: at most
// lingerRounds times the linger.
const (
	defaultLinger = time.Second
	lingerRounds  = 10
)

// The terminal client takes messages as large as /echo does by default,
// and shows at most dumpBytes of a binary one.
const (
	connectMaxMessage = 16 << 20
	dumpBytes         = 256
)

// runClient runs the terminal client against url until the conversation
// ends, and returns the exit status. At the end of input it waits for the
// server to be quiet for linger before it closes; 0 closes at once.
func runClient(url string, opts DialOptions, linger time.Duration, stdin io.Reader, stdout, stderr io.Writer) int {
	if opts.MaxMessage <= 0 {
		opts.MaxMessage = connectMaxMessage
	}
	// Ctrl-C (SIGINT) and SIGTERM end the conversation with a clean close,
	// as the end of input does.
	interrupted, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	ctx, cancel := context.WithTimeout(interrupted, dialTimeout)
	c, err := Dial(ctx, url, &opts)
	cancel()
	if err != nil {
		fmt.Fprintf(stderr, "wsecho: %v%s\n", err, trustHint(err))
		return 1
	}
	if p := c.Subprotocol(); p != "" {
		url += " (subprotocol " + p + ")"
	}
	if c.Compressed() {
		url += " (permessage-deflate)"
	}
	fmt.Fprintf(stderr, "connected to %s: each line is sent as a text message; Ctrl-D or Ctrl-C closes\n", url)
	fmt.Fprintf(stderr, "opened %s\n", bootstrap(c))

	// One goroutine prints what the server sends, until the connection
	// ends; its last error says how it ended. It tells received of every
	// message, for the wait at the end of input.
	ended := make(chan error, 1)
	received := make(chan struct{}, 1)
	go func() { ended <- printMessages(c, stdout, received) }()

	// Another reads the lines to send. It is not stopped at the end: a
	// read from a terminal cannot be interrupted, and the process exits.
	lines := make(chan string)
	inputDone := make(chan error, 1)
	go func() {
		scanner := bufio.NewScanner(stdin)
		scanner.Buffer(nil, int(opts.MaxMessage)) // a line is at most a message
		for scanner.Scan() {
			lines <- scanner.Text()
		}
		inputDone <- scanner.Err()
	}()

	for {
		select {
		case line := <-lines:
			if !utf8.ValidString(line) {
				fmt.Fprintln(stderr, "wsecho: not sent: a text message must be UTF-8 (§5.6)")
				continue
			}
			if err := c.WriteMessage(OpText, []byte(line)); err != nil {
				return report(<-ended, stderr) // the connection ended meanwhile
			}
		case err := <-inputDone:
			if endErr := awaitQuiet(linger, received, ended, interrupted.Done()); endErr != nil {
				return report(endErr, stderr) // the server closed first
			}
			stop() // closing now: Ctrl-C ends the process at once
			status := goodbye(c, ended, stderr)
			if err != nil {
				fmt.Fprintf(stderr, "wsecho: reading input: %v\n", err) // a line longer than a message
				return 1
			}
			return status
		case <-interrupted.Done():
			stop() // a second Ctrl-C ends the process at once
			return goodbye(c, ended, stderr)
		case err := <-ended:
			return report(err, stderr)
		}
	}
}

// awaitQuiet waits, at the end of input, for the replies still on their
// way: until nothing has come from the server for linger, and at most
// lingerRounds times linger in all, or until Ctrl-C. Only then may the
// client close: a server may answer a Close before the replies its
// handler has still to send, and a peer that has sent a Close need not
// process any more data (§5.5.1). Python's websockets does so, and the
// replies would be lost. It returns nil when the client should close, or
// the error that ended the connection meanwhile.
func awaitQuiet(linger time.Duration, received <-chan struct{}, ended <-chan error, interrupted <-chan struct{}) error {
	if linger <= 0 {
		return nil
	}
	quiet := time.NewTimer(linger)
	defer quiet.Stop()
	limit := time.NewTimer(lingerRounds * linger)
	defer limit.Stop()
	for {
		select {
		case <-received:
			quiet.Reset(linger) // not quiet yet: wait from this message on
		case <-quiet.C:
			return nil
		case <-limit.C:
			return nil // a server that never falls quiet
		case <-interrupted:
			return nil
		case err := <-ended:
			return err
		}
	}
}

// goodbye starts the closing handshake with 1000 (§7.1.2), and returns
// once printMessages has printed every message the server sent before its
// answer, and the server has closed TCP. StartClose, not Close: Close
// would read itself whenever printMessages is between two messages, and
// drop those still on their way.
func goodbye(c *Conn, ended <-chan error, stderr io.Writer) int {
	if err := c.StartClose(StatusNormal, ""); err != nil && !errors.Is(err, ErrClosed) {
		return report(<-ended, stderr) // the connection was lost
	}
	timer := time.NewTimer(closeWait)
	defer timer.Stop()
	var err error
	select {
	case err = <-ended:
	case <-timer.C:
		// No answer: Close waits a close timeout more, then drops the
		// connection.
		c.Close(StatusNormal, "")
		err = <-ended
	}
	var closeErr *CloseError
	if !errors.As(err, &closeErr) || closeErr.Code == StatusAbnormal {
		return report(err, stderr) // the server never answered our Close
	}
	return 0
}

// report turns the error that ended the conversation into the exit
// status: 0 for a close with 1000, from either end; 1, and the reason on
// stderr, for anything else.
func report(err error, stderr io.Writer) int {
	var closeErr *CloseError
	if errors.As(err, &closeErr) && closeErr.Code == StatusNormal {
		return 0
	}
	fmt.Fprintf(stderr, "wsecho: %v\n", err)
	return 1
}

// printMessages prints every message c receives: text as it is, on a line
// of its own, but for its control characters (printable), binary as a hex
// dump of its first bytes. After each message it signals received, if
// the signal of a message before is not still pending. It returns the
// error that ended the connection.
func printMessages(c *Conn, stdout io.Writer, received chan<- struct{}) error {
	for {
		op, msg, err := c.ReadMessage()
		if err != nil {
			return err
		}
		printMessage(stdout, op, msg)
		select {
		case received <- struct{}{}:
		default: // one pending signal says as much as two
		}
	}
}

// printMessage prints one message, as printMessages says.
func printMessage(stdout io.Writer, op Opcode, msg []byte) {
	if op == OpText {
		fmt.Fprintf(stdout, "%s\n", printable(msg))
		return
	}
	fmt.Fprintf(stdout, "[binary message, %d bytes]\n%s", len(msg), hex.Dump(msg[:min(len(msg), dumpBytes)]))
	if len(msg) > dumpBytes {
		fmt.Fprintf(stdout, "[... %d more bytes]\n", len(msg)-dumpBytes)
	}
}

// printable returns text with the control characters that a terminal
// would act on written out as escapes: all of C0 but newline and tab,
// DEL, and C1. A server's message is shown, never obeyed: it cannot
// retitle or clear the terminal, move its cursor, or set its clipboard.
func printable(text []byte) string {
	var b strings.Builder
	for _, r := range string(text) {
		switch {
		case r == '\n' || r == '\t':
			b.WriteRune(r)
		case r < 0x20 || r == 0x7F:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r >= 0x80 && r < 0xA0:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// bootstrap says how the WebSocket was opened: by the upgrade of RFC 6455
// §4, or by an extended CONNECT on an HTTP/2 stream (RFC 8441).
func bootstrap(c *Conn) string {
	if c.Proto() == "HTTP/2.0" {
		return "over HTTP/2: extended CONNECT, :protocol websocket (RFC 8441)"
	}
	return "over HTTP/1.1: GET with Upgrade, 101 Switching Protocols (RFC 6455 §4)"
}
