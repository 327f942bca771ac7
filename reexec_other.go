//go:build !unix

package main

import "errors"

// reexec cannot replace a process on this system: the server then runs
// without WebSockets over HTTP/2, and says so.
func reexec(env []string) error {
	return errors.New("cannot restart the process here")
}
