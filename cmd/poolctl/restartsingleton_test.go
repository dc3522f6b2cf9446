package main

import (
	"strings"
	"testing"
)

// A restart's note pointed to 'poolctl reload NAME' as the replacement
// without a gap, which a singleton's reload is not: it stops the worker
// first too (r67 supervisord trial F3: every converted program is one).
func TestRestartNoteOfASingleton(t *testing.T) {
	p := startPooldWith(t, pooldConf{watchers: `
[watchers.one]
cmd = "sleep"
args = ["3600"]
singleton = true
`})
	r := p.ctl(t, "restart", "one")
	head, _, _ := strings.Cut(r.stderr, "\n")
	if strings.Contains(head, "without that gap") || !strings.Contains(head, "a singleton never runs two workers, so a reload too stops its worker first") {
		t.Errorf("restart one (a singleton): its note should not offer reload as gapless: %q", head)
	}
	r = p.ctl(t, "restart", "web")
	if head, _, _ := strings.Cut(r.stderr, "\n"); !strings.Contains(head, "'poolctl reload web' replaces them without that gap)") {
		t.Errorf("restart web (no singleton): %q", head)
	}
	r = p.ctl(t, "restart")
	if head, _, _ := strings.Cut(r.stderr, "\n"); !strings.Contains(head, "but for a singleton watcher, which it too stops first") {
		t.Errorf("restart of every watcher: the note should except singletons: %q", head)
	}
}
