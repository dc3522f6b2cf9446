package workerlog

import (
	"path/filepath"
	"testing"
	"time"
)

// Hourly rotation happens at each full hour of local wall-clock time,
// also in a time zone half an hour off UTC (India), not at HH:30.
func TestHourlyRotationInHalfHourZone(t *testing.T) {
	ist := time.FixedZone("IST", 5*3600+1800)
	c := &clock{t: time.Date(2026, 3, 1, 10, 29, 0, 0, ist)}
	path := filepath.Join(t.TempDir(), "w.log")
	l := Open(path, Rotation{Period: "hourly"}, c.now)
	defer l.Close()
	writeLines(t, l, 0, 10)
	c.add(2 * time.Minute) // 10:31 IST, 05:01 UTC: same local hour
	writeLines(t, l, 10, 20)
	if files, _ := Rotated(path); len(files) != 0 {
		t.Fatalf("rotated at 10:31 IST, within the hour: %v", files)
	}
	c.add(29*time.Minute + 30*time.Second) // 11:00:30 IST
	writeLines(t, l, 20, 30)
	files, _ := Rotated(path)
	if len(files) != 1 {
		t.Fatalf("got %d rotated files after 11:00 IST, want 1", len(files))
	}
	if want := time.Date(2026, 3, 1, 11, 0, 30, 0, ist); !files[0].Time.Equal(want) {
		t.Errorf("rotated at %v, want %v", files[0].Time.In(ist), want)
	}
	checkSequence(t, readAll(t, path), 30)
}
