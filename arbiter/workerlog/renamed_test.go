package workerlog

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestFollowsARenameWithoutReopen: logrotate in create mode whose
// postrotate sends poold no SIGUSR1 (a stanza copied from a daemon that
// reopens on HUP) renames the file and puts an empty one at its path;
// poold noticed only an unlinked file and went on appending to the
// renamed one for good, the new file staying empty. A write a second or
// more after the rename now finds another file at the path, writes there,
// and says so once (Replaced).
func TestFollowsARenameWithoutReopen(t *testing.T) {
	for _, tc := range []struct {
		name   string
		create bool // logrotate's create: a new empty file at the path
	}{{"create", true}, {"nocreate", false}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "app.log")
			c := &clock{t: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}
			l := Open(path, Rotation{}, c.now)
			defer l.Close()
			writeLines(t, l, 0, 1)
			if err := os.Rename(path, path+".1"); err != nil {
				t.Fatal(err)
			}
			if tc.create {
				if err := os.WriteFile(path, nil, 0o640); err != nil {
					t.Fatal(err)
				}
			}
			writeLines(t, l, 1, 2) // within the second: still the open file
			c.add(time.Second)
			writeLines(t, l, 2, 3)
			if !l.Replaced() {
				t.Error("Replaced() false after following a rename, want true once")
			}
			writeLines(t, l, 3, 4)
			if l.Replaced() {
				t.Error("Replaced() true twice for one rename")
			}
			old, _ := os.ReadFile(path + ".1")
			cur, _ := os.ReadFile(path)
			if string(old) != "line 000000\nline 000001\n" || string(cur) != "line 000002\nline 000003\n" {
				t.Errorf("renamed file %q, file at the path %q; want lines 0-1 and 2-3", old, cur)
			}
			if st, err := os.Stat(path); err != nil || (tc.create && st.Mode().Perm() != 0o640) {
				t.Errorf("file at the path: %v %v; want logrotate's 0640 kept", st.Mode(), err)
			}
		})
	}
}
