package workerlog

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLinkInAStickyDirSaysLink: another user's link at a log's path in a
// sticky directory (/tmp) is refused by the kernel with EACCES before
// O_NOFOLLOW sees it, and poold said "permission denied" and told the
// user to make the directory writable, while the file was a link it must
// not follow. The error says it is a symbolic link.
func TestLinkInAStickyDirSaysLink(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test gives a link to uid 65534 and needs root")
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, os.ModeSticky|0o777); err != nil {
		t.Fatal(err)
	}
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("keep\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "app.log")
	if err := os.Symlink(victim, path); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(path, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	l := Open(path, Rotation{}, nil)
	defer l.Close()
	_, err := l.Write([]byte("line\n"))
	t.Logf("write: %v", err)
	if b, _ := os.ReadFile(victim); string(b) != "keep\n" {
		t.Fatalf("the worker's line went through the link: victim holds %q", b)
	}
	if err == nil || !strings.Contains(err.Error(), "it is a symbolic link") || !IsLink(err) {
		t.Errorf("Write through another user's link in a sticky dir: %v (IsLink %v); want it to say the path is a symbolic link", err, IsLink(err))
	}
}
