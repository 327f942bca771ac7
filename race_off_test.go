//go:build !race

package main

const raceEnabled = false

const raceScale = 1.0
