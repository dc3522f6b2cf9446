package spawn

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// pidsV1 is where this machine and CI mount cgroup v1's pids controller.
const pidsV1 = "/sys/fs/cgroup/pids"

// cgroupEnv names, for the "spares" child, the pids cgroup it runs in.
const cgroupEnv = "POOLD_SPAWN_TEST_PIDS_CGROUP"

// topUpEnv, for the "spares" child, starts it in a crowded limit that
// later gets room.
const topUpEnv = "POOLD_SPAWN_TEST_TOPUP"

// blockedReads is how many of the "spares" child's goroutines block in
// read(2) at once once its limit is full: each holds an OS thread, more
// than a fresh Go process keeps idle, fewer than spareThreads.
const blockedReads = 5

// TestWorkersFillingTheLimitDoNotAbortPoold: workers whose own threads
// or forks filled poold's pids limit aborted poold ("fatal error:
// newosproc") the next time the Go runtime needed a thread, such as for
// a few goroutines blocked in writes at once, and every worker died with
// it (r49 surroundings tester: 3 starts in 6). A child runs a spawner
// in a pids cgroup with room, fills the limit to the last pid, then
// blocks goroutines in read(2): it must survive.
func TestWorkersFillingTheLimitDoNotAbortPoold(t *testing.T) {
	dir := pidsCgroup(t, "poold-spares-")
	if err := os.WriteFile(filepath.Join(dir, "pids.max"), []byte("200"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, topUp := range []string{"", "1"} {
		ctx, cancel := context.WithTimeout(context.Background(), hang)
		cmd := exec.CommandContext(ctx, "/bin/sh", "-c", `echo $$ > "$0/cgroup.procs" && exec "$1" -test.run=none`, dir, self(t))
		cmd.Env = append(os.Environ(), childEnv+"=spares", cgroupEnv+"="+dir, topUpEnv+"="+topUp)
		out, err := cmd.CombinedOutput()
		cancel()
		// topUp: started where the limit had no room for the spares, the
		// spawner made none once room was made (r49c review).
		if err != nil {
			t.Fatalf("the child with its pids limit full (top-up %q): %v\n%s", topUp, err, out)
		}
		if !strings.Contains(string(out), "survived") {
			t.Fatalf("the child did not get to the end (top-up %q):\n%s", topUp, out)
		}
	}
}

// runFullLimit is the "spares" child: see the test above. Exit 0 and
// "survived" when it lived through its blocked reads.
func runFullLimit() int {
	dir := os.Getenv(cgroupEnv)
	topUp := os.Getenv(topUpEnv) != ""
	if topUp {
		// Crowded at the start: room for all but 2 of the reserve, so
		// no spares yet.
		if err := setPidsMax(dir, pidsReserve-2); err != nil {
			fmt.Println("crowd the limit:", err)
			return 1
		}
	}
	s := New(os.Args[0])
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = s.Run(ctx) }()
	defer func() { cancel(); wg.Wait() }()
	// A start has the spawner look at its limits (and make its spares);
	// with topUp, one more once room is made, to top them up.
	starts := 1
	if topUp {
		starts = 2
	}
	for i := range starts {
		if i == 1 {
			if err := os.WriteFile(filepath.Join(dir, "pids.max"), []byte("200"), 0o644); err != nil {
				fmt.Println("make room:", err)
				return 1
			}
		}
		p, err := s.Start(ProcSpec{Path: "/bin/true", Argv: []string{"true"}, Umask: -1})
		if err != nil && i == starts-1 {
			fmt.Println("start:", err)
			return 1
		}
		if err == nil { // a crowded limit refuses the first (the reserve)
			_, _ = p.Wait()
		}
	}
	// Full: as if workers' threads had taken every other pid.
	if err := fillLimit(dir); err != nil {
		fmt.Println("fill the limit:", err)
		return 1
	}
	if err := blockReads(blockedReads); err != nil {
		fmt.Println(err)
		return 1
	}
	fmt.Println("survived")
	return 0
}

// setPidsMax sets the pids cgroup dir's limit to its current count plus
// room.
func setPidsMax(dir string, room int) error {
	b, err := os.ReadFile(filepath.Join(dir, "pids.current"))
	if err != nil {
		return err
	}
	cur, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "pids.max"), []byte(strconv.Itoa(cur+room)), 0o644)
}

// fillLimit fills the child's limit to the last pid: its pids cgroup's
// (dir), or, with dir "", its user's RLIMIT_NPROC.
func fillLimit(dir string) error {
	if dir != "" {
		cur, err := os.ReadFile(filepath.Join(dir, "pids.current"))
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, "pids.max"), cur, 0o644)
		}
		fmt.Printf("pids.max full at %s", cur)
		return err
	}
	// Counted here, not by nprocRoom, whose view of the limit is tested.
	used, ok := tasksOf(os.Getuid())
	if !ok {
		return fmt.Errorf("cannot count the threads of uid %d", os.Getuid())
	}
	full := uint64(used)
	fmt.Printf("RLIMIT_NPROC full at %d\n", full)
	return unix.Setrlimit(unix.RLIMIT_NPROC, &unix.Rlimit{Cur: full, Max: full})
}

// TestWorkersFillingNprocDoNotAbortPoold: the same under RLIMIT_NPROC,
// which counts every thread of poold's user: a poold run as a user whose
// workers filled it aborted as well (r49c review: 1 start in 6).
func TestWorkersFillingNprocDoNotAbortPoold(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the child runs as nobody, under a limit root is not held to")
	}
	// A copy of this binary that nobody may run.
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "spawn.test")
	b, err := os.ReadFile(self(t))
	if err == nil {
		err = os.WriteFile(bin, b, 0o755)
	}
	if err != nil {
		t.Fatal(err)
	}
	// Room for the spares and the reserve above what nobody runs now.
	n, ok := tasksOf(65534)
	if !ok {
		t.Fatal("cannot count the threads of uid 65534 in /proc")
	}
	// As nobody; and as root of a user namespace of nobody's (a rootless
	// container), which the kernel holds to the limit too, while poold
	// took any uid 0 for the machine's root and made no spares.
	for _, c := range []struct {
		name string
		ns   []string
	}{
		{"nobody", nil},
		{"root of a user namespace", []string{"unshare", "--user", "--map-root-user"}},
		{"root of a user namespace nested in one", []string{"unshare", "--user", "--map-root-user", "unshare", "--user", "--map-user=0", "--map-group=0"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), hang)
			defer cancel()
			args := append([]string{fmt.Sprintf("--nproc=%d", n+40),
				"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"}, c.ns...)
			cmd := exec.CommandContext(ctx, "prlimit", append(args, bin, "-test.run=none")...)
			cmd.Env = append(os.Environ(), childEnv+"=spares", cgroupEnv+"=")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("the child with its RLIMIT_NPROC full: %v\n%s", err, out)
			}
			if !strings.Contains(string(out), "survived") {
				t.Fatalf("the child did not get to the end:\n%s", out)
			}
		})
	}
}

// blockReads has n goroutines block in read(2) at once, each on its own
// pipe, until all n are in the kernel, then lets them go.
func blockReads(n int) error {
	var wg sync.WaitGroup
	ws := make([]int, n)
	for i := range n {
		var fds [2]int
		if err := syscall.Pipe2(fds[:], syscall.O_CLOEXEC); err != nil {
			return err
		}
		ws[i] = fds[1]
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = syscall.Read(fds[0], make([]byte, 1))
			syscall.Close(fds[0])
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for readers() < n {
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d readers blocked in read(2) after 10s", readers(), n)
		}
		runtime.Gosched()
	}
	for _, w := range ws {
		_, _ = syscall.Write(w, []byte{1})
		syscall.Close(w)
	}
	wg.Wait()
	return nil
}

// readers counts this process's threads blocked in read(2) (syscall 0).
func readers() int {
	tasks, _ := os.ReadDir("/proc/self/task")
	n := 0
	for _, t := range tasks {
		b, err := os.ReadFile("/proc/self/task/" + t.Name() + "/syscall")
		if f := strings.Fields(string(b)); err == nil && len(f) > 0 && f[0] == strconv.Itoa(0) {
			n++
		}
	}
	return n
}
