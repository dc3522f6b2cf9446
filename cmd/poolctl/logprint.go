package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// printLogs writes one batch of records (buffered: a batch of thousands
// of lines goes out in a few writes, each batch whole before the next
// is asked for).
func (a *app) printLogs(recs []logRecord) error {
	a.notePids(recs)
	return a.buffered(func(w io.Writer) error {
		for _, rec := range recs {
			var err error
			if a.json {
				var b []byte
				b, err = json.Marshal(rec)
				if err == nil {
					_, err = fmt.Fprintf(w, "%s\n", b)
				}
			} else {
				line := rec.Line
				if a.escapeLogs {
					line = escapeControls(line)
				}
				_, err = fmt.Fprintf(w, "%s| %s\n", a.lineHead(rec), line)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// lineHead is what precedes a line: "2 err", "2[4711] err" for a wid of
// several workers; with -t the time first and the pid always
// ("2026-12-04T02:55:01.042Z 2[4711] err"); of every watcher, the
// watcher's name before the wid ("web 2 err").
func (a *app) lineHead(rec logRecord) string {
	stream := strings.TrimPrefix(rec.Stream, "std")
	head := fmt.Sprintf("%d %s", rec.Wid, stream)
	if a.logsStamps || a.logsPids[slotKey{rec.Watcher, rec.Wid}] < 0 {
		head = fmt.Sprintf("%d[%d] %s", rec.Wid, rec.Pid, stream)
	}
	if a.logsWidth > 0 {
		name := rec.Watcher
		if a.escapeLogs {
			name = escapeControls(name)
		}
		head = fmt.Sprintf("%-*s %s", a.logsWidth, name, head)
	}
	if a.logsStamps {
		head = rec.Time.UTC().Format(stampLayout) + " " + head
	}
	return head
}

// slotKey names a wid of a watcher.
type slotKey struct {
	watcher string
	wid     int
}

// notePids notes the pids of recs' lines by watcher and wid: a wid whose
// lines come from more than one worker (a restart, a reload's rollback)
// gets its pid printed, so the lines of an earlier worker are not taken
// for the current one's.
func (a *app) notePids(recs []logRecord) {
	if a.logsPids == nil {
		a.logsPids = map[slotKey]int{}
	}
	for _, rec := range recs {
		k := slotKey{rec.Watcher, rec.Wid}
		switch pid, ok := a.logsPids[k]; {
		case !ok:
			a.logsPids[k] = rec.Pid
		case pid >= 0 && pid != rec.Pid:
			a.logsPids[k] = -1
		}
	}
}

// escapeControls writes each character of line that a terminal would act
// on or not show (C0 and C1 controls but tab, DEL, bidi and other format
// characters, invalid UTF-8) as a Go escape: "\x1b", "\r", "\u202e".
// The rest, backslashes included, is left as it is.
func escapeControls(line string) string {
	var b strings.Builder
	done := 0 // line[:done] is in b
	for i := 0; i < len(line); {
		r, n := utf8.DecodeRuneInString(line[i:])
		if r == '\t' || (r >= ' ' && r < 0x7f) || (n > 1 && strconv.IsGraphic(r)) {
			i += n
			continue
		}
		b.WriteString(line[done:i])
		if r == utf8.RuneError && n == 1 {
			fmt.Fprintf(&b, "\\x%02x", line[i])
		} else {
			q := strconv.QuoteRuneToASCII(r)
			b.WriteString(q[1 : len(q)-1])
		}
		i += n
		done = i
	}
	if done == 0 {
		return line
	}
	b.WriteString(line[done:])
	return b.String()
}

// formatReopen prints the files that will be reopened, one a line.
func formatReopen(w io.Writer, r reply) error {
	paths, _ := r["paths"].([]any)
	if len(paths) == 0 {
		_, err := fmt.Fprintln(w, "no worker log files open")
		return err
	}
	for _, p := range paths {
		if _, err := fmt.Fprintf(w, "reopening %s\n", render(p)); err != nil {
			return err
		}
	}
	return nil
}
