package main

import (
	"fmt"
	"io"
	"time"
)

// sizeCell prints a watcher's size from status's "sizes": "3" for a fixed
// pool, "3 (1..8)" for an elastic one (current, min_workers..max_workers).
// status is the watcher's.
func sizeCell(v any, status string) string {
	m, _ := v.(map[string]any)
	if m == nil {
		return "-"
	}
	if el, _ := m["elastic"].(bool); !el {
		return render(current(m, status))
	}
	return fmt.Sprintf("%s (%s..%s)", render(current(m, status)), render(m["min"]), render(m["max"]))
}

// current is a pool's current size: the size in force, except for a
// pool stopping or stopped, whose size in force is already the next
// start's (numprocesses): there, the workers still alive (builds before
// r58 sent them for elastic pools only).
func current(m map[string]any, status string) any {
	if n, ok := m["running"]; ok && (status == "stopping" || status == "stopped") {
		return n
	}
	return m["current"]
}

// anyElastic reports whether one of the sizes is an elastic pool's.
func anyElastic(sizes map[string]any) bool {
	for _, v := range sizes {
		if m, ok := v.(map[string]any); ok {
			if el, _ := m["elastic"].(bool); el {
				return true
			}
		}
	}
	return false
}

// writeSize prints an elastic watcher's size and last scale decision
// under `status NAME`'s first line; nothing for a fixed pool.
func writeSize(w io.Writer, v any, status string, now time.Time) error {
	m, _ := v.(map[string]any)
	if el, _ := m["elastic"].(bool); !el {
		return nil
	}
	od := ""
	if b, _ := m["on_demand"].(bool); b {
		od = ", on demand"
	}
	starts := ""
	if c, ok := m["configured"]; ok {
		starts = ", numprocesses " + render(c)
	}
	if _, err := fmt.Fprintf(w, "workers: %s (min %s, max %s%s%s), accept queue %s\n",
		render(current(m, status)), render(m["min"]), render(m["max"]), starts, od, render(m["queue"])); err != nil {
		return err
	}
	last, _ := m["last_scale"].(map[string]any)
	if last == nil {
		return nil
	}
	ago := "-"
	if at, ok := last["time"].(float64); ok && at > 0 {
		ago = humanAge(float64(now.UnixNano())/1e9-at) + " ago"
	}
	_, err := fmt.Fprintf(w, "last scale: %s -> %s, %s, %s\n", render(last["from"]), render(last["to"]), render(last["reason"]), ago)
	return err
}
