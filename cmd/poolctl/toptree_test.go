package main

import (
	"strings"
	"testing"
	"time"
)

// A watcher's summary line in top counts its workers' children: a
// gunicorn master idles while its workers serve, and an `sh -c` wrapper
// only waits for what it runs.
func TestTopSummaryCountsWorkersChildren(t *testing.T) {
	grandchild := map[string]any{"pid": 13.0, "cpu": 9.0, "mem": 0.5, "children": []any{}}
	child := map[string]any{"pid": 12.0, "cpu": 40.0, "mem": 2.0, "children": []any{grandchild}}
	infos := map[string]any{"gu": map[string]any{
		"11": map[string]any{"pid": 11.0, "wid": 1.0, "cpu": 1.0, "mem": 0.25, "children": []any{child}},
	}}
	var b strings.Builder
	renderTop(&b, time.Unix(0, 0), map[string]any{"gu": "active"}, infos, nil, false)
	if !strings.Contains(b.String(), "gu  active  1 processes  cpu 50.0%  mem 2.8%") {
		t.Errorf("want gu's summary to count its worker's tree (cpu 50.0%%, mem 2.8%%), got:\n%s", b.String())
	}
}
