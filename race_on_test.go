//go:build race

package main

// raceEnabled: this test binary has the race detector, which makes every
// goroutine and every memory access several times dearer.
const raceEnabled = true

// raceScale scales the connection counts of TestFaults under the race
// detector, to keep it near a minute on CI's 2 cores.
const raceScale = 0.25
