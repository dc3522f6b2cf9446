package main

import (
	"fmt"
	"strings"
	"time"
)

// restartWords says each restart reason of status NAME's restarts (the
// reasons of poold_worker_restarts_total), in the order they are listed:
// the signs of a fault in the app first.
var restartWords = []struct{ reason, one, many string }{
	{"limit", "over max_rss or max_cpu", "over max_rss or max_cpu"},
	{"oom", "OOM kill", "OOM kills"},
	{"unhealthy", "failed readiness or health check", "failed readiness or health checks"},
	{"exit", "crash, kill or exit", "crashes, kills or exits"},
	{"spawn_error", "failed start", "failed starts"},
	{"max_age", "max_age recycle", "max_age recycles"},
}

// restartsLine words status NAME's restarts, the watcher's restarts by
// reason since it was added (a reload or a stop does not reset them) and
// the last one: "restarts: 2 (2 over max_rss or max_cpu); the last 3m12s
// ago, at 05:32:06, wid 2 pid 1748: rss 178483200 bytes ... over max_rss
// 125829120"; "" when there was none, or from a poold that does not send
// them.
func restartsLine(v any, now time.Time) string {
	m, _ := v.(map[string]any)
	total := int(num(m["total"]))
	if total <= 0 {
		return ""
	}
	by, _ := m["by_reason"].(map[string]any)
	var parts []string
	known := 0
	for _, r := range restartWords {
		if n := int(num(by[r.reason])); n > 0 {
			words := r.many
			if n == 1 {
				words = r.one
			}
			parts = append(parts, fmt.Sprintf("%d %s", n, words))
			known += n
		}
	}
	if rest := total - known; rest > 0 { // a reason this poolctl does not know
		parts = append(parts, fmt.Sprintf("%d other", rest))
	}
	line := fmt.Sprintf("restarts: %d (%s)", total, strings.Join(parts, ", "))
	last, _ := m["last"].(map[string]any)
	if at := num(last["time"]); at > 0 {
		line += fmt.Sprintf("; the last %s, wid %s", agoAt(at, now), render(last["wid"]))
		if pid := num(last["pid"]); pid > 0 {
			line += fmt.Sprintf(" pid %s", render(last["pid"]))
		}
		if why, _ := last["why"].(string); why != "" {
			line += ": " + why
		}
	}
	return line
}
