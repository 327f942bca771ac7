//go:build unix

package main

import (
	"os"
	"syscall"
)

// reexec replaces this process with a new run of its own program, with the
// same arguments and env: same process id, so signals and the exit status
// reach whoever started it as before.
func reexec(env []string) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	return syscall.Exec(exe, os.Args, env)
}
