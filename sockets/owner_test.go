package sockets

import (
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/poold/poold/configs"
)

// ownerOf is the uid and gid of the file at path.
func ownerOf(t *testing.T, path string) (uint32, uint32) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return st.Uid, st.Gid
}

// TestUnixSocketOwnerAndGroup: a unix socket for a front end of another
// user (nginx as www-data) had to be mode 0666, open to every user of
// the machine, as poold had no way to give it a group. owner and group
// chown it at bind, before anyone can connect, and a reload changes them
// in place (same fd), or gives it back to poold when removed.
func TestUnixSocketOwnerAndGroup(t *testing.T) {
	sp := unixSpec(t, "api")
	sp.Owner, sp.Group = "nobody", "65534"
	if os.Geteuid() != 0 {
		// Only root gives a file another owner: a clear refusal.
		sp.Owner = "0"
		if _, err := Bind([]configs.Socket{sp}); err == nil || !strings.Contains(err.Error(), "only root may give a file another owner") {
			t.Fatalf("Bind as uid %d with owner root: %v, want a refusal saying only root may", os.Geteuid(), err)
		}
		return
	}
	s := mustBind(t, sp)
	if uid, gid := ownerOf(t, sp.Path); uid != 65534 || gid != 65534 {
		t.Errorf("socket file owned by %d:%d, want nobody's 65534:65534", uid, gid)
	}
	fd := mustGet(t, s, "api").FD()

	sp.Owner, sp.Group = "", "0"
	if _, err := s.Apply([]configs.Socket{sp}); err != nil {
		t.Fatal(err)
	}
	if uid, gid := ownerOf(t, sp.Path); uid != 0 || gid != 0 {
		t.Errorf("after a reload dropping owner and setting group 0: %d:%d, want 0:0", uid, gid)
	}
	if got := mustGet(t, s, "api").FD(); got != fd {
		t.Errorf("an ownership change rebound the socket: fd %d, was %d", got, fd)
	}

	for _, c := range []struct {
		sp   configs.Socket
		want string
	}{
		{configs.Socket{Name: "u", Path: sp.Path + "2", Owner: "no-such-user-42"}, `owner: no user "no-such-user-42"`},
		{configs.Socket{Name: "t", Host: "127.0.0.1", Group: "0"}, "owner and group apply to unix sockets only"},
		{configs.Socket{Name: "a", Path: "@poold-owner-test", Group: "0"}, "an abstract socket (@poold-owner-test) has none"},
	} {
		if _, err := Bind([]configs.Socket{c.sp}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Bind %s: %v, want %q", c.sp.Name, err, c.want)
		}
	}
}
