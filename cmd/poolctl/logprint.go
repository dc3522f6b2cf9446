package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/poold/poold/watcher/termsafe"
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
// on or not show as a Go escape ("\x1b", "\r", "\u202e"), by the rule
// poold's text log follows (termsafe).
func escapeControls(line string) string { return termsafe.Line(line) }

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
