package configs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEnsureRuntimeDirSwappedForSymlink: the runtime dir, open to others,
// is swapped for a symlink to another open directory between poold's look
// at it and its chmod (a parent another user may write, r66 review2 S1).
// poold must neither make the link's target 0700 (a chmod by path follows
// the link) nor take the directory the path now names.
func TestEnsureRuntimeDirSwappedForSymlink(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "poold")
	target := filepath.Join(base, "elsewhere")
	for _, d := range []string{dir, target} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { runtimeDirLooked = func() {} })
	runtimeDirLooked = func() {
		if err := os.Rename(dir, filepath.Join(base, "moved")); err != nil {
			t.Error(err)
		}
		if err := os.Symlink(target, dir); err != nil {
			t.Error(err)
		}
	}
	_, err := EnsureRuntimeDir(dir)
	fi, serr := os.Stat(target)
	if serr != nil {
		t.Fatal(serr)
	}
	if fi.Mode().Perm() != 0o777 {
		t.Errorf("the symlink's target was made %o: poold changed a directory the path did not name when it looked", fi.Mode().Perm())
	}
	if err == nil || !strings.Contains(err.Error(), "changed while poold checked it") {
		t.Errorf("got %v, want a refusal of the swapped directory", err)
	}
}
