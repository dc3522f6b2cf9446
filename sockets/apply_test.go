package sockets

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/proctest"
)

func TestApplyKeepsChangesAndDefersClose(t *testing.T) {
	dir := t.TempDir()
	keep := tcpSpec("keep")
	tweakTCP := tcpSpec("tweak")
	tweakTCP.Backlog = 10
	tweakUnix := configs.Socket{Name: "tweaku", Path: filepath.Join(dir, "tweaku.sock"), Mode: 0o600}
	change := tcpSpec("change")
	gone := configs.Socket{Name: "gone", Path: filepath.Join(dir, "gone.sock")}
	s := mustBind(t, keep, tweakTCP, tweakUnix, change, gone)
	old := map[string]*Listener{}
	for _, l := range s.List() {
		old[l.Name] = l
	}

	tweakTCP.Backlog = 20
	tweakUnix.Mode = 0o640
	tweakUnix.Backlog = 5
	change.ReusePort = true
	added := tcpSpec("added")
	closeRemoved, err := s.Apply([]configs.Socket{keep, tweakTCP, tweakUnix, change, added})
	if err != nil {
		t.Fatal(err)
	}

	if l := mustGet(t, s, "keep"); l != old["keep"] {
		t.Error("unchanged socket was replaced")
	}
	tw := mustGet(t, s, "tweak")
	if tw.FD() != old["tweak"].FD() || tw.File != old["tweak"].File || tw.Spec.Backlog != 20 {
		t.Errorf("backlog change: fd %d→%d, backlog %d; want same fd and file, backlog 20", old["tweak"].FD(), tw.FD(), tw.Spec.Backlog)
	}
	if got := tcpBacklog(t, tw); got != 20 {
		t.Errorf("kernel backlog after in-place change = %d, want 20", got)
	}
	tu := mustGet(t, s, "tweaku")
	if tu.FD() != old["tweaku"].FD() {
		t.Error("mode change on a unix socket rebound it")
	}
	if fi, err := os.Lstat(tweakUnix.Path); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("unix mode after in-place change: %v, %v; want 0640", fi.Mode(), err)
	}
	ch := mustGet(t, s, "change")
	if ch.FD() == old["change"].FD() || !ch.Spec.ReusePort {
		t.Error("changed socket was not rebound")
	}
	checkServes(t, mustGet(t, s, "added"))
	if _, ok := s.Get("gone"); ok {
		t.Error("removed socket still in the Set")
	}
	if got := len(s.List()); got != 5 {
		t.Errorf("Set holds %d sockets, want 5", got)
	}

	// Until closeRemoved, the replaced and removed sockets still serve:
	// their workers may be finishing requests on them.
	checkServes(t, old["change"])
	checkServes(t, old["gone"])
	if err := closeRemoved(); err != nil {
		t.Fatal(err)
	}
	if err := closeRemoved(); err != nil {
		t.Fatalf("second closeRemoved: %v", err)
	}
	for _, name := range []string{"change", "gone"} {
		if _, err := old[name].File.Stat(); !errors.Is(err, os.ErrClosed) {
			t.Errorf("%s: old file still open after closeRemoved: %v", name, err)
		}
	}
	for _, name := range []string{"keep", "tweak", "tweaku", "change", "added"} {
		checkServes(t, mustGet(t, s, name))
	}
	if _, err := os.Lstat(gone.Path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket file of the removed socket left behind: %v", err)
	}
}

func TestApplyAllOrNone(t *testing.T) {
	foreign := foreignListener(t, "tcp4", "127.0.0.1:0")
	s := mustBind(t, tcpSpec("a"), unixSpec(t, "u"))
	before := s.List()
	sockets := openSockets(t)
	free := proctest.FreePort(t)
	dir := t.TempDir()
	next := []configs.Socket{
		tcpSpec("a"),
		{Name: "good", Host: "127.0.0.1", Port: free},
		{Name: "goodu", Path: filepath.Join(dir, "goodu.sock")},
		{Name: "bad", Host: "127.0.0.1", Port: foreign.Addr().(*net.TCPAddr).Port},
	}
	closeRemoved, err := s.Apply(next)
	wantErr(t, err, "sockets: bad: bind 127.0.0.1:", "address already in use")
	if closeRemoved == nil {
		t.Fatal("closeRemoved is nil on error")
	}
	if err := closeRemoved(); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(before, s.List(), cmp.Comparer(func(a, b *Listener) bool { return a == b })); d != "" {
		t.Errorf("failed Apply changed the Set:\n%s", d)
	}
	ln, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", free))
	if err != nil {
		t.Errorf("port of the new socket still taken after the failed Apply: %v", err)
	} else {
		ln.Close()
	}
	if _, err := os.Lstat(next[2].Path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket file of the new unix socket left behind: %v", err)
	}
	if d := cmp.Diff(sockets, openSockets(t)); d != "" {
		t.Errorf("socket fds changed by the failed Apply (-before +after):\n%s", d)
	}
	for _, l := range s.List() {
		checkServes(t, l)
	}
}

// TestApplyUnixSamePath replaces a unix socket by one at the same path
// (here: renamed); the path never goes missing, and closing the old one
// leaves the new one's file alone.
func TestApplyUnixSamePath(t *testing.T) {
	sp := unixSpec(t, "old")
	s := mustBind(t, sp)
	nsp := sp
	nsp.Name = "new"
	nsp.Mode = 0o600
	closeRemoved, err := s.Apply([]configs.Socket{nsp})
	if err != nil {
		t.Fatal(err)
	}
	nl := mustGet(t, s, "new")
	checkServes(t, nl) // a client dialling the path reaches the new socket
	if fi, err := os.Lstat(sp.Path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("path after replace: %v %v, want mode 0600", fi, err)
	}
	if err := closeRemoved(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(sp.Path); err != nil {
		t.Fatalf("closing the old socket removed the new socket's file: %v", err)
	}
	checkServes(t, nl)
	ents, _ := os.ReadDir(filepath.Dir(sp.Path))
	if len(ents) != 1 {
		t.Errorf("directory holds %d entries, want only the socket (temporary name left?)", len(ents))
	}
}

func TestApplyPortHandover(t *testing.T) {
	t.Run("without reuseport", func(t *testing.T) {
		sp := tcpSpec("web")
		sp.Port = proctest.FreePort(t)
		s := mustBind(t, sp)
		nsp := sp
		nsp.Family = "tcp4" // a change that needs a new socket
		_, err := s.Apply([]configs.Socket{nsp})
		wantErr(t, err, fmt.Sprintf("sockets: web: bind 127.0.0.1:%d: address already in use (poold's own socket \"web\" holds this port", sp.Port))
		checkServes(t, mustGet(t, s, "web"))
	})
	t.Run("with reuseport", func(t *testing.T) {
		sp := tcpSpec("web")
		sp.Port = proctest.FreePort(t)
		sp.ReusePort = true
		s := mustBind(t, sp)
		old := mustGet(t, s, "web")
		nsp := sp
		nsp.Family = "tcp4" // a change that needs a new socket
		closeRemoved, err := s.Apply([]configs.Socket{nsp})
		if err != nil {
			t.Fatal(err)
		}
		nl := mustGet(t, s, "web")
		if nl.FD() == old.FD() || nl.Port() != sp.Port {
			t.Fatalf("want a new socket on port %d, got fd %d port %d", sp.Port, nl.FD(), nl.Port())
		}
		if err := closeRemoved(); err != nil {
			t.Fatal(err)
		}
		checkServes(t, nl)
	})
}

// TestApplyFailedRenameUndoesTweaks: when the last step of an Apply, the
// rename of a rebound unix socket over its path, fails, the in-place
// changes already made to other kept sockets are undone too, so the
// rejected reload leaves every socket as it was.
func TestApplyFailedRenameUndoesTweaks(t *testing.T) {
	kept, moved := unixSpec(t, "kept"), unixSpec(t, "old")
	s := mustBind(t, kept, moved)
	before := s.List()
	// Someone puts a non-empty directory where the moved socket's file
	// was: a rename over it fails.
	if err := os.Remove(moved.Path); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(moved.Path, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	tweaked := kept
	tweaked.Mode = 0o600
	renamed := moved
	renamed.Name = "new"
	renamed.Path = respelled(moved.Path) // the same file, spelled so that it is bound again
	closeRemoved, err := s.Apply([]configs.Socket{tweaked, renamed})
	wantErr(t, err, "sockets: new: rename "+renamed.Path+": is a directory", "reload again")
	if err := closeRemoved(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(kept.Path); err != nil || fi.Mode().Perm() != 0o660 {
		t.Errorf("kept socket's file after the failed Apply: %v %v, want mode 0660 as before", fi, err)
	}
	if d := cmp.Diff(before, s.List(), cmp.Comparer(func(a, b *Listener) bool { return a == b })); d != "" {
		t.Errorf("failed Apply changed the Set:\n%s", d)
	}
	ents, _ := os.ReadDir(filepath.Dir(moved.Path))
	if len(ents) != 1 {
		t.Errorf("directory holds %d entries, want only the directory put there (temporary socket left?)", len(ents))
	}
	checkServes(t, mustGet(t, s, "kept"))
}

// TestApplyNamesThePooldSocketOnAPort: an address in use that poold
// itself holds was blamed on "another process": a port a reload under
// way still holds through the old socket it replaced (until its
// closeRemoved), and two sockets of one config on one port.
func TestApplyNamesThePooldSocketOnAPort(t *testing.T) {
	t.Run("old socket of a reload under way", func(t *testing.T) {
		sp := tcpSpec("web")
		sp.Port = proctest.FreePort(t)
		s := mustBind(t, sp)
		moved := sp
		moved.Port = 0 // a change that needs a new socket
		closeRemoved, err := s.Apply([]configs.Socket{moved})
		if err != nil {
			t.Fatal(err)
		}
		// Back to the old port with another backlog: a new socket, not
		// the old one taken back (TestApplyTakesBackADrainingSocket).
		back := sp
		back.Backlog = 16
		_, err = s.Apply([]configs.Socket{back})
		wantErr(t, err, fmt.Sprintf("bind 127.0.0.1:%d: address already in use (poold's old socket \"web\" still holds this port", sp.Port),
			"retry after that reload completes, or use another port")
		if err := closeRemoved(); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Apply([]configs.Socket{back}); err != nil {
			t.Fatalf("the same Apply once the old socket is closed: %v", err)
		}
	})
	for _, host := range []string{"127.0.0.1", "0.0.0.0"} {
		t.Run("two sockets of one config, second on "+host, func(t *testing.T) {
			a, b := tcpSpec("a"), tcpSpec("b")
			a.Port = proctest.FreePort(t)
			b.Port, b.Host = a.Port, host
			_, err := Bind([]configs.Socket{a, b})
			wantErr(t, err, fmt.Sprintf("sockets: b: bind %s:%d: address already in use (socket \"a\" of the same config is bound to this port (127.0.0.1:%d); give one of them another port)", host, a.Port, a.Port))
		})
	}
}

// TestApplyFailedRenameKeepsEarlierPaths: when the rename of a rebound
// unix socket over its path fails, the ones renamed before it in the same
// Apply used to be undone by closing the new socket, which removed the
// path: the old socket stayed in the Set but no client could reach it.
// The old socket's file is back at its path now.
func TestApplyFailedRenameKeepsEarlierPaths(t *testing.T) {
	first, second := unixSpec(t, "first"), unixSpec(t, "second")
	s := mustBind(t, first, second)
	before := s.List()
	// A non-empty directory where the second socket's file was: the
	// rename over it fails, after the first one's rename succeeded.
	if err := os.Remove(second.Path); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(second.Path, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	next := []configs.Socket{first, second}
	next[0].Name, next[1].Name = "first2", "second2"
	for i := range next { // rebound at the same paths
		next[i].Path = respelled(next[i].Path)
	}
	closeRemoved, err := s.Apply(next)
	wantErr(t, err, "sockets: second2: rename "+next[1].Path)
	if err := closeRemoved(); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(before, s.List(), cmp.Comparer(func(a, b *Listener) bool { return a == b })); d != "" {
		t.Errorf("failed Apply changed the Set:\n%s", d)
	}
	checkServes(t, mustGet(t, s, "first")) // dials first.Path
	ents, _ := os.ReadDir(filepath.Dir(first.Path))
	if len(ents) != 1 {
		t.Errorf("directory of the first socket holds %d entries, want only its file (temporary or backup name left?)", len(ents))
	}
}

// respelled is path with "/./" before its file name: the same file, a
// different spec, so that Apply binds it again (a rename alone keeps the
// socket).
func respelled(path string) string {
	return filepath.Dir(path) + "/./" + filepath.Base(path)
}

// A reload that renames a socket (same address, new name) keeps its fd
// under the new name: the tcp one used to be refused, "address already
// in use" by poold's own socket, and the unix one was bound afresh.
func TestApplyRenameKeepsTheSocket(t *testing.T) {
	free, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := free.Addr().(*net.TCPAddr).Port
	free.Close()
	web := tcpSpec("web")
	web.Port = port
	u := unixSpec(t, "u")
	s := mustBind(t, web, u)
	webFD, uFD := mustGet(t, s, "web").FD(), mustGet(t, s, "u").FD()

	front, ux := web, u
	front.Name, front.Backlog = "front", 64 // renamed, and its backlog changed in place
	ux.Name = "ux"
	closeRemoved, err := s.Apply([]configs.Socket{front, ux})
	if err != nil {
		t.Fatalf("Apply with the sockets renamed: %v", err)
	}
	if err := closeRemoved(); err != nil {
		t.Fatal(err)
	}
	for name, fd := range map[string]int{"front": webFD, "ux": uFD} {
		l := mustGet(t, s, name)
		if l.FD() != fd || l.Name != name || l.Spec.Name != name {
			t.Errorf("%s: fd %d name %q/%q, want the renamed socket's fd %d", name, l.FD(), l.Name, l.Spec.Name, fd)
		}
		checkServes(t, l)
	}
	if got := tcpBacklog(t, mustGet(t, s, "front")); got != 64 {
		t.Errorf("front: backlog %d, want 64", got)
	}
	for _, old := range []string{"web", "u"} {
		if _, ok := s.Get(old); ok {
			t.Errorf("the old name %s is still in the Set", old)
		}
	}
}
