package main

import "testing"

// TestErrorReplyEscapesControlCharacters: a reason that carries what a
// client sent (a watcher name with a terminal escape) was printed raw,
// so `poolctl status $'we\e[31mRED'` recoloured the terminal. Control
// characters of poold's reason are printed escaped; its line breaks stay.
func TestErrorReplyEscapesControlCharacters(t *testing.T) {
	t.Parallel()
	f := startFake(t, func(req map[string]any) map[string]any {
		return map[string]any{"status": "error", "reason": "program we\x1b[31mRED\x1b[0m\x07 not found (known: web)\nsecond line\r", "errno": 3}
	})
	r := poolctl(t, "--endpoint", f.endpoint, "status", "x")
	want := `poolctl: program we\x1b[31mRED\x1b[0m\a not found (known: web)` + "\n" + `second line\r` + "\n"
	if r.code != exitReplyError || r.stderr != want {
		t.Errorf("got exit %d stderr %q, want exit 1 and %q", r.code, r.stderr, want)
	}
}
