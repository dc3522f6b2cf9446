package controller_test

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/poold/poold/arbiter/controller"
)

// lockedBuffer is a log sink the controller's goroutines may write while
// the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var _ io.Writer = (*lockedBuffer)(nil)

// TestReloadedRulesDoNotChmodThroughALink: a reload that gave other
// users access rules made poold chmod the control socket's path to 0666;
// a link put there by someone who may write its directory sent that
// chmod, as root, to the link's target (/etc/shadow). The mode changes
// on the socket only, and poold warns naming what is there.
func TestReloadedRulesDoNotChmodThroughALink(t *testing.T) {
	narrow, err := controller.NewACL(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	wide, err := controller.NewACL(nil, []string{"uid:65534"})
	if err != nil {
		t.Fatal(err)
	}
	var log lockedBuffer
	ep := ipcEndpoint(t)
	s := serveLogging(t, ep, newEcho().handle, func(c *controller.Controller) { c.SetACL(narrow) }, &log)
	path := strings.TrimPrefix(ep, "ipc://")
	victim := filepath.Join(t.TempDir(), "shadow")
	if err := os.WriteFile(victim, []byte("root:secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, path); err != nil {
		t.Fatal(err)
	}

	s.SetACL(wide)
	if fi, err := os.Stat(victim); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("after rules for other users, with a link at the control socket's path: its target is %v (%v), want it left 0600", fi.Mode(), err)
	}
	if got := log.String(); !strings.Contains(got, "control socket mode not changed") || !strings.Contains(got, "a symbolic link") {
		t.Errorf("log %q; want a warning that the socket's mode was not changed, saying a symbolic link is there", got)
	}
}
