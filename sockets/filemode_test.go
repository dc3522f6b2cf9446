package sockets

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/poold/poold/configs"
)

// TestReloadDoesNotChmodThroughALink: a worker whose user may write the
// socket's directory (/run/app owned by it, or its own socket in /tmp)
// replaced the socket file by a link to a root-only file; a reload that
// changed the socket's mode then made poold, as root, chmod the link's
// target: /etc/shadow 0666 for the worker. poold must change the mode
// and owner of the socket it bound only, and say what is at the path.
func TestReloadDoesNotChmodThroughALink(t *testing.T) {
	for _, c := range []struct {
		name string
		// replace puts something at path and returns the file poold
		// must leave as it is (0600).
		replace func(t *testing.T, path, victim string) string
		want    string
	}{
		{"symlink", func(t *testing.T, path, victim string) string {
			if err := os.Symlink(victim, path); err != nil {
				t.Fatal(err)
			}
			return victim
		}, "a symbolic link"},
		{"other socket", func(t *testing.T, path, _ string) string {
			// Another socket at the path (a worker bound its own): not
			// the one poold bound, so not poold's to open up either.
			other := unixSpec(t, "other")
			other.Path, other.Mode = path, 0o600
			mustBind(t, other)
			return path
		}, "another socket file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			sp := unixSpec(t, "web")
			sp.Mode = 0o660
			s := mustBind(t, sp)
			victim := filepath.Join(t.TempDir(), "shadow")
			if err := os.WriteFile(victim, []byte("root:secret\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Remove(sp.Path); err != nil {
				t.Fatal(err)
			}
			keep := c.replace(t, sp.Path, victim)

			sp.Mode = 0o666
			sp.Group = "0"
			_, err := s.Apply([]configs.Socket{sp})
			t.Logf("reload: %v", err)
			if fi, serr := os.Stat(keep); serr != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("after a reload to mode 0666 with %s at the socket's path: %s is %v (%v), want it left 0600", c.name, keep, fi.Mode(), serr)
			}
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "restart poold") {
				t.Errorf("Apply with %s at %s: %v; want an error saying it holds %s and what to do", c.name, sp.Path, err, c.want)
			}
		})
	}
}
