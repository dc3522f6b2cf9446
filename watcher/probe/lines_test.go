package probe

import (
	"fmt"
	"strings"
	"testing"
)

// A hook's output is split into lines however it was written, a \r\n
// ending and control characters dealt with, a very long line cut, and a
// flood bounded with a count of what was left out.
func TestHookOutputLines(t *testing.T) {
	var got []string
	l := &lines{stream: "stdout", fn: func(stream, line string) { got = append(got, stream+"|"+line) }}
	for _, p := range []string{"one\r\ntw", "o\n\x1b[2Jthree", "\n", strings.Repeat("x", maxHookLine+10) + "\nlast"} {
		l.Write([]byte(p))
	}
	l.close()
	want := []string{"stdout|one", "stdout|two", `stdout|\x1b[2Jthree`, "stdout|" + strings.Repeat("x", maxHookLine), "stdout|" + strings.Repeat("x", 10), "stdout|last"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("lines:\n%q\nwant\n%q", got, want)
	}

	got = nil
	l = &lines{stream: "stderr", fn: func(stream, line string) { got = append(got, line) }}
	for i := range maxHookLines + 5 {
		fmt.Fprintf(l, "%d\n", i)
	}
	l.close()
	if len(got) != maxHookLines+1 || got[maxHookLines] != "(5 more lines not logged)" {
		t.Errorf("%d lines, the last %q: want %d and a count of the 5 left out", len(got), got[len(got)-1], maxHookLines+1)
	}
}
