package main

import (
	"os"
	"strings"
	"testing"
)

// TestEngineeringLast: ws.go reads as the RFC first. Parts 1 to 7 hold the
// protocol; everything that exists only for speed or memory (pools,
// atomics, the lore of BENCHMARKS.md's "Memory") is in part 8,
// "Engineering", after them.
func TestEngineeringLast(t *testing.T) {
	src, err := os.ReadFile("ws.go")
	if err != nil {
		t.Fatal(err)
	}
	text := string(src)
	start := strings.Index(text, "\n// 1. Vocabulary\n")
	end := strings.Index(text, "\n// 8. Engineering\n")
	if start < 0 || end < start {
		t.Fatal(`ws.go has no "1. Vocabulary" followed by an "8. Engineering"`)
	}
	for n, line := range strings.Split(text[:end], "\n") {
		if n < strings.Count(text[:start], "\n") {
			continue // the file comment and the imports
		}
		for _, word := range []string{"sync.Pool", "atomic.", ".Load()", ".Store(", "BENCHMARKS.md", `"Memory"`} {
			if strings.Contains(line, word) {
				t.Errorf("ws.go:%d, in parts 1 to 7, has %q, which belongs in part 8:\n%s", n+1, word, line)
			}
		}
	}
}
