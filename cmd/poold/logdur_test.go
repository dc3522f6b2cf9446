package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/arbiter/logsink"
	"github.com/poold/poold/configs"
)

// TestJSONLogSpellsDurations: with log_format = "json" a duration was
// written as a bare number of nanoseconds ("delay":104132632,
// "pause":7000000000), which a log pipeline cannot tell from seconds or
// milliseconds. It is now the string the text format shows ("1.5s").
func TestJSONLogSpellsDurations(t *testing.T) {
	out := &lockedBuffer{}
	logs := logsink.New(out, logsink.Options{})
	go logs.Run()
	log := newLogger(configs.Arbiter{LogLevel: "info", LogFormat: "json"}, logs)
	log.Named("watcher").With("uptime", 2*time.Second, "watcher", "web").
		Warn("worker ended soon after start", "delay", 1500*time.Millisecond, "in_a_row", 3)
	logs.Close()
	<-logs.Done()
	var rec map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(out.String())), &rec); err != nil {
		t.Fatalf("not one JSON record: %v\n%s", err, out.String())
	}
	if rec["delay"] != "1.5s" || rec["uptime"] != "2s" || rec["in_a_row"] != 3.0 || rec["watcher"] != "web" {
		t.Errorf("record %v: want delay \"1.5s\", uptime \"2s\", in_a_row 3, watcher web", rec)
	}
}
