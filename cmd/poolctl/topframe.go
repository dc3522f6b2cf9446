package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

// writeTopJSON writes one of top's frames as one JSON object on a line
// (--json): status's statuses in poold's words (its states, with
// flapping and failed) and stats's infos as poold gave them, or
// the failure of this sample with the kind jsonFailure would give it.
func writeTopJSON(w io.Writer, now time.Time, statuses, infos map[string]any, ferr error) error {
	obj := map[string]any{"status": "ok", "time": float64(now.UnixMilli()) / 1000, "statuses": statuses, "infos": infos}
	if ferr != nil {
		obj = map[string]any{"status": "error", "time": float64(now.UnixMilli()) / 1000, "reason": ferr.Error(), "error": sampleFailKind(ferr)}
	}
	b, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// sampleFailKind is a failed sample's kind, as failKind names them.
func sampleFailKind(err error) string {
	var re replyError
	var ce connError
	switch {
	case errors.As(err, &re):
		return failReply
	case errors.As(err, &ce):
		return failKind(err, exitUnreachable)
	}
	return failLocal
}

// termSize is the terminal's size in rows and columns; 0, 0 when w is
// not a terminal or does not say.
func termSize(w io.Writer) (rows, cols int) {
	f, ok := unwrapOut(w).(*os.File)
	if !ok {
		return 0, 0
	}
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return 0, 0
	}
	return int(ws.Row), int(ws.Col)
}

// clipFrame fits a frame into rows lines of cols characters, so that the
// terminal neither wraps a long line nor scrolls the title away: lines
// are cut at cols, the last row says how many lines did not fit, and no
// newline follows the last row. A size of 0 leaves that dimension alone.
func clipFrame(frame []byte, rows, cols int) []byte {
	lines := bytes.Split(bytes.TrimRight(frame, "\n"), []byte("\n"))
	switch {
	case rows == 1:
		lines = lines[:1]
	case rows > 1 && len(lines) > rows:
		more := len(lines) - rows + 1
		lines = append(lines[:rows-1:rows-1], fmt.Appendf(nil, "... %d more lines: enlarge the terminal", more))
	}
	var out bytes.Buffer
	for i, l := range lines {
		if i > 0 {
			out.WriteByte('\n')
		}
		out.Write(clipLine(l, cols))
	}
	return out.Bytes()
}

// clipLine cuts l to its first cols characters (top's frames hold no
// wide characters); cols 0 leaves it whole.
func clipLine(l []byte, cols int) []byte {
	if cols <= 0 || utf8.RuneCount(l) <= cols {
		return l
	}
	n := 0
	for i := range string(l) {
		if n == cols {
			return l[:i]
		}
		n++
	}
	return l
}
