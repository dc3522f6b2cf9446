package arbiter

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/poold/poold/configs"
)

// leftSocket leaves a datagram socket file at path that nobody listens
// on, as a killed poold leaves its notify sockets.
func leftSocket(t *testing.T, path string) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
}

// goneProcess returns the pid of a process that has exited.
func goneProcess(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

// A killed poold left its notify directory (poold-notify-*, a socket
// in it) in TMPDIR for ever, and each crash one more, until TMPDIR ran
// out of inodes and the next start failed (r67 diskfull F2). Before it
// makes its own, poold removes those of poolds that are gone, and no
// other: not a live poold's, not another user's, nor anything else.
func TestStaleNotifyDirsRemoved(t *testing.T) {
	tmp := t.TempDir()
	mk := func(name string, socks ...string) string {
		dir := filepath.Join(tmp, name)
		if err := os.Mkdir(dir, 0o711); err != nil {
			t.Fatal(err)
		}
		for _, s := range socks {
			leftSocket(t, filepath.Join(dir, s))
		}
		return dir
	}
	dead := goneProcess(t)
	gone := mk("poold-notify-"+strconv.Itoa(dead)+"-4031918897", "nt.sock", "web.sock")
	// Before r67 the name held no pid: its poold may be upgrading in
	// place, its socket refused for that moment (review3).
	old := mk("poold-notify-980326838", "nt.sock")

	// A live poold's: its socket is bound and listened on; its pid is
	// gone as far as this test can tell (another pid namespace).
	live := mk("poold-notify-"+strconv.Itoa(dead)+"-111", "web.sock")
	l, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: filepath.Join(live, "nt.sock"), Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// A poold upgrading in place: its pid lives, its sockets are not yet
	// bound again.
	upgrading := mk("poold-notify-"+strconv.Itoa(os.Getppid())+"-222", "nt.sock")
	empty := mk("poold-notify-" + strconv.Itoa(dead) + "-333")
	other := mk("poold-notify-"+strconv.Itoa(dead)+"-444", "nt.sock")
	if err := os.WriteFile(filepath.Join(other, "notes"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	notOurs := mk("poold-notify-x1", "nt.sock")
	keep := []string{old, live, upgrading, empty, other, notOurs}
	if os.Geteuid() == 0 {
		foreign := mk("poold-notify-"+strconv.Itoa(dead)+"-555", "nt.sock")
		if err := os.Chown(foreign, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		keep = append(keep, foreign)
	}

	removed := removeStaleNotifyDirs(tmp)
	slices.Sort(removed)
	want := []string{gone}
	slices.Sort(want)
	if !slices.Equal(removed, want) {
		t.Errorf("removed %q, want %q", removed, want)
	}
	for _, dir := range want {
		if _, err := os.Lstat(dir); !os.IsNotExist(err) {
			t.Errorf("%s still there (%v)", dir, err)
		}
	}
	for _, dir := range keep {
		if _, err := os.Lstat(dir); err != nil {
			t.Errorf("%s, not a gone poold's, was removed: %v", dir, err)
		}
	}
}

// At start, a poold with a notify watcher removes a gone poold's notify
// directory from TMPDIR, keeps a live one's, and names its own by its pid.
func TestStartRemovesStaleNotifyDir(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	stale := filepath.Join(tmp, "poold-notify-"+strconv.Itoa(goneProcess(t))+"-1")
	live := filepath.Join(tmp, "poold-notify-2")
	for _, dir := range []string{stale, live} {
		if err := os.Mkdir(dir, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	leftSocket(t, filepath.Join(stale, "nt.sock"))
	l, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: filepath.Join(live, "nt.sock"), Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	w := testWatcher("nt", "sleep", 1)
	w.Readiness = "notify"
	h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, Options{})
	own := onLoop(t, h.a, func() any { return h.a.notifyDir }).(string)
	if want := filepath.Join(tmp, "poold-notify-"+strconv.Itoa(os.Getpid())+"-"); !strings.HasPrefix(own, want) {
		t.Errorf("notify directory %q, want one named %s*", own, want)
	}
	if _, err := os.Lstat(stale); !os.IsNotExist(err) {
		t.Errorf("a gone poold's notify directory %s is still there (%v)", stale, err)
	}
	if _, err := os.Lstat(live); err != nil {
		t.Errorf("a live poold's notify directory %s was removed: %v", live, err)
	}
}
