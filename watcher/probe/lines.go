package probe

import (
	"bytes"
	"fmt"
)

// A hook's output goes to poold's log line by line as the hook writes it
// (a migration's progress shows while it runs), as systemd passes an
// ExecStartPre='s output to the journal. Bounded: a longer line than
// maxHookLine bytes is passed in pieces of that size, and after maxHookLines lines of a stream the rest is
// counted and told in one line at the end.
const (
	maxHookLine  = 4096
	maxHookLines = 1000
)

// LineFunc receives one line a command wrote on stream ("stdout" or
// "stderr"), without its newline, with control characters escaped. It is
// called on the goroutine that copies the stream, never for two lines of
// one stream at once.
type LineFunc func(stream, line string)

// lines splits what a command writes on one stream into lines for fn.
type lines struct {
	stream  string
	fn      LineFunc
	part    []byte // the start of a line still without its newline
	n       int    // lines passed to fn
	skipped int    // lines over maxHookLines
}

func (l *lines) Write(p []byte) (int, error) {
	size := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		end := len(p)
		if i >= 0 {
			end = i
		}
		l.part = append(l.part, p[:end]...)
		for len(l.part) > maxHookLine {
			l.emit(l.part[:maxHookLine])
			l.part = append(l.part[:0], l.part[maxHookLine:]...)
		}
		if i < 0 {
			break
		}
		l.emit(bytes.TrimSuffix(l.part, []byte{'\r'}))
		l.part = l.part[:0]
		p = p[i+1:]
	}
	return size, nil
}

// emit passes one line, or counts it once maxHookLines were passed.
func (l *lines) emit(line []byte) {
	if l.n < maxHookLines {
		l.n++
		l.fn(l.stream, escapeControls(string(line)))
		return
	}
	l.skipped++
}

// close passes a last line that had no newline, and says how many lines
// were not passed.
func (l *lines) close() {
	if len(l.part) > 0 {
		l.emit(bytes.TrimSuffix(l.part, []byte{'\r'}))
		l.part = l.part[:0]
	}
	if l.skipped > 0 {
		l.fn(l.stream, fmt.Sprintf("(%d more lines not logged)", l.skipped))
	}
}
