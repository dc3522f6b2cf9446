package main

import (
	"encoding/json"
	"syscall"
	"testing"
)

// The JSON log's signal field is a string on every line ("TERM"), as in
// the stray and leftover lines: the shutdown line had a number (15), and
// a log store that maps a field's type from its first value (Elasticsearch,
// OpenSearch) drops the lines of the other type (r57b review).
func TestShutdownLineSignalIsAString(t *testing.T) {
	t.Parallel()
	p := startPoold(t, "[arbiter]\nENDPOINTS\n", "--log-format", "json")
	p.waitLog(`poold started`, 1)
	p.signal(syscall.SIGTERM)
	line := p.waitLog(`(\{[^\n]*stopping gracefully[^\n]*\})`, 1)[0][1]
	var fields map[string]any
	if err := json.Unmarshal([]byte(line), &fields); err != nil {
		t.Fatalf("log line %s: %v", line, err)
	}
	if got, ok := fields["signal"].(string); !ok || got != "TERM" {
		t.Errorf("signal is %#v in %s, want the string \"TERM\"", fields["signal"], line)
	}
	if code := p.wait(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}
