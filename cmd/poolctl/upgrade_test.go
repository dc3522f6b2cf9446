package main

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestUpgradeStatus: poold's upgrade_status before any upgrade carries Go's
// zero time ("began": "0001-01-01T00:00:00Z"), and poolctl had no view of
// it. `poolctl upgrade --status` says there was none, and after an upgrade
// what it did and when.
func TestUpgradeStatus(t *testing.T) {
	t.Parallel()
	p := startPoold(t)
	r := p.ctl(t, "upgrade", "--status")
	if r.stdout != "no upgrade since this poold started\n" {
		t.Errorf("upgrade --status before any upgrade: %v", r)
	}
	if b, err := exec.Command(filepath.Join(binaries(t), "poolctl"), append(p.conn(), "upgrade")...).CombinedOutput(); err != nil {
		t.Fatalf("poolctl upgrade: %v\n%s", err, b)
	}
	r = p.ctl(t, "upgrade", "--status")
	want := regexp.MustCompile(`^upgraded at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d): poold \S+ -> \S+ \(pid \d+\), done in \S+ \(settle and pre-flight \S+, take-over \S+\)\n$`)
	if !want.MatchString(r.stdout) || strings.Contains(r.stdout, "0001-01-01") {
		t.Errorf("upgrade --status after an upgrade: %v", r)
	}
}

func TestFormatUpgradeStatus(t *testing.T) {
	t.Parallel()
	began := "2026-01-02T03:04:05Z"
	tests := []struct {
		name string
		up   map[string]any
		want string // after "... at TIME" is cut out
	}{
		{"none", map[string]any{"id": 0.0, "state": "", "began": "0001-01-01T00:00:00Z"}, "no upgrade since this poold started\n"},
		{"rolled back", map[string]any{"id": 2.0, "state": "rolled_back", "old_version": "v1", "new_version": "v1", "pid": 7.0, "began": began, "reason": "new image: bad state"},
			"rolled back at T: poold v1 runs again (pid 7): new image: bad state\n"},
		{"refused", map[string]any{"id": 3.0, "state": "refused", "old_version": "v1", "pid": 7.0, "began": began, "reason": "exit status 1"},
			"refused at T, nothing changed: poold v1 runs (pid 7): exit status 1\n"},
		{"upgrading", map[string]any{"id": 4.0, "state": "upgrading", "old_version": "v1", "pid": 7.0, "began": began},
			"upgrading since T: poold v1 (pid 7)\n"},
		{"upgraded", map[string]any{"id": 5.0, "state": "upgraded", "old_version": "v1", "new_version": "v2", "pid": 7.0, "began": began,
			"hand_over": "2026-01-02T03:04:20.1Z", "took_over": "2026-01-02T03:04:20.145Z"},
			"upgraded at T: poold v1 -> v2 (pid 7), done in 15.145s (settle and pre-flight 15.1s, take-over 45ms)\n"},
		// A build that did not say when its hand-over began.
		{"upgraded by an older build", map[string]any{"id": 6.0, "state": "upgraded", "old_version": "v1", "new_version": "v2", "pid": 7.0, "began": began,
			"took_over": "2026-01-02T03:04:05.015Z"},
			"upgraded at T: poold v1 -> v2 (pid 7), done in 15ms\n"},
	}
	at := regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)`)
	for _, tc := range tests {
		var b strings.Builder
		if err := formatUpgradeStatus(&b, reply{"status": "ok", "upgrade": tc.up}); err != nil {
			t.Fatal(err)
		}
		if got := at.ReplaceAllString(b.String(), "T"); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
