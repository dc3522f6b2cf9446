package configs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// playUnprivileged makes the package see a poold with only the
// capabilities in caps, nice own and RLIMIT_NICE rlimit, and ports
// from start on unprivileged, whoever runs the test.
func playUnprivileged(t *testing.T, caps []uint, own int, rlimit uint64, start int) {
	t.Helper()
	oldCap, oldNice, oldPort := capable, niceFacts, portStart
	t.Cleanup(func() { capable, niceFacts, portStart = oldCap, oldNice, oldPort })
	capable = func(c uint) bool {
		for _, h := range caps {
			if h == c {
				return true
			}
		}
		return false
	}
	niceFacts = func() (int, uint64) { return own, rlimit }
	portStart = func() int { return start }
}

// TestNiceBelowOwnWithoutCapability (r56b nonroot, finding 3): a nice
// below poold's own passed --check, load, set and add without
// CAP_SYS_NICE, and every spawn then failed ("nice -5: permission
// denied"), the watcher flapping, while oom_score_adj was refused up
// front. The kernel lets a process go down to 20 - RLIMIT_NICE.
func TestNiceBelowOwnWithoutCapability(t *testing.T) {
	playUnprivileged(t, nil, 0, 0, 1024)
	path := filepath.Join(t.TempDir(), "poold.toml")
	if err := os.WriteFile(path, []byte("[watchers.nice]\ncmd = \"/bin/sleep 1000\"\nnice = -5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	want := "watchers.nice.nice: -5 is below poold's own nice (0), which needs CAP_SYS_NICE or an RLIMIT_NICE of 25 or more (poold's is 0), and poold has neither; use 0 or more"
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Load = %v, want %q", err, want)
	}
	if _, err := WatcherFromOptions("nice", "/bin/sleep 1000", map[string]any{"nice": -5.0}, nil); err == nil || !strings.Contains(err.Error(), "nice: -5 is below poold's own nice (0)") {
		t.Errorf("add with nice -5: %v, want it refused", err)
	}
	base, err := WatcherFromOptions("nice", "/bin/sleep 1000", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ApplyOptions(base, map[string]any{"nice": -5.0}, nil); err == nil || !strings.Contains(err.Error(), "nice: -5 is below poold's own nice (0)") {
		t.Errorf("set nice -5: %v, want it refused", err)
	}
	if _, err := ApplyOptions(base, map[string]any{"nice": 5.0}, nil); err != nil {
		t.Errorf("set nice 5 (above poold's own): %v, want it applied", err)
	}

	// RLIMIT_NICE 25 lets it go down to -5, not further.
	playUnprivileged(t, nil, 0, 25, 1024)
	if _, err := ApplyOptions(base, map[string]any{"nice": -5.0}, nil); err != nil {
		t.Errorf("set nice -5 with RLIMIT_NICE 25: %v, want it applied", err)
	}
	if _, err := ApplyOptions(base, map[string]any{"nice": -6.0}, nil); err == nil || !strings.Contains(err.Error(), "use -5 or more") {
		t.Errorf("set nice -6 with RLIMIT_NICE 25: %v, want it refused with the floor -5 named", err)
	}
	// A poold at nice 10 may not give 5 either.
	playUnprivileged(t, nil, 10, 0, 1024)
	if _, err := ApplyOptions(base, map[string]any{"nice": 5.0}, nil); err == nil || !strings.Contains(err.Error(), "5 is below poold's own nice (10)") {
		t.Errorf("set nice 5 under a poold at 10: %v, want it refused", err)
	}
	playUnprivileged(t, []uint{capSysNice}, 10, 0, 1024)
	if _, err := ApplyOptions(base, map[string]any{"nice": -20.0}, nil); err != nil {
		t.Errorf("set nice -20 with CAP_SYS_NICE: %v, want it applied", err)
	}
}

// TestChrootChecksTheCapability: the chroot check tested euid 0 while
// its message named CAP_SYS_CHROOT, so a poold without root but with the
// capability was refused, and a root without it (a container's root with
// the capability dropped) was not.
func TestChrootChecksTheCapability(t *testing.T) {
	dir := t.TempDir()
	base, err := WatcherFromOptions("jail", "/bin/sleep 1000", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	playUnprivileged(t, nil, 0, 0, 1024)
	if _, err := ApplyOptions(base, map[string]any{"chroot": dir}, nil); err == nil || !strings.Contains(err.Error(), "chroot: needs CAP_SYS_CHROOT (chroot(2)), which poold lacks") {
		t.Errorf("set chroot without CAP_SYS_CHROOT: %v, want it refused", err)
	}
	playUnprivileged(t, []uint{capSysChroot}, 0, 0, 1024)
	if _, err := ApplyOptions(base, map[string]any{"chroot": dir}, nil); err != nil {
		t.Errorf("set chroot with CAP_SYS_CHROOT: %v, want it applied", err)
	}
}

// TestPortBelowUnprivilegedStart (r56b nonroot, finding 5): a port
// below net.ipv4.ip_unprivileged_port_start passed --check as a user
// without CAP_NET_BIND_SERVICE and failed only at start. The sysctl
// decides, not 1024 (Docker sets it to 0).
func TestPortBelowUnprivilegedStart(t *testing.T) {
	socks := []Socket{{Name: "low", Family: "tcp", Host: "127.0.0.1", Port: 80}, {Name: "high", Family: "tcp", Host: "127.0.0.1", Port: 600}}
	playUnprivileged(t, nil, 0, 0, 500)
	err := SocketProblems("poold.toml", socks)
	var ce *Error
	if !errors.As(err, &ce) || len(ce.Problems) != 1 {
		t.Fatalf("SocketProblems = %v, want one problem, port 80's", err)
	}
	want := "sockets.low.port: 80 is below 500, the first port a process without CAP_NET_BIND_SERVICE may bind (sysctl net.ipv4.ip_unprivileged_port_start), and poold lacks it; choose a port of 500 or more"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("SocketProblems = %v, want %q", err, want)
	}
	playUnprivileged(t, []uint{capNetBindService}, 0, 0, 500)
	if err := SocketProblems("poold.toml", socks); err != nil {
		t.Errorf("with CAP_NET_BIND_SERVICE: %v, want no problem", err)
	}
	playUnprivileged(t, nil, 0, 0, 0)
	if err := SocketProblems("poold.toml", socks); err != nil {
		t.Errorf("with ip_unprivileged_port_start 0: %v, want no problem", err)
	}
}
