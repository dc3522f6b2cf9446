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
)

// pidsV1 is where this machine and CI mount cgroup v1's pids controller.
const pidsV1 = "/sys/fs/cgroup/pids"

// cgroupEnv names, for the "spares" child, the pids cgroup it runs in.
const cgroupEnv = "POOLD_SPAWN_TEST_PIDS_CGROUP"

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
	if _, err := os.Stat(filepath.Join(pidsV1, "cgroup.procs")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no pids controller at %s: %v; CI runs as root with it mounted", pidsV1, err)
		}
		t.Skipf("no pids controller at %s: %v", pidsV1, err)
	}
	dir, err := os.MkdirTemp(pidsV1, "poold-spares-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Remove(dir) }) // once the child, waited for, has left it
	if err := os.WriteFile(filepath.Join(dir, "pids.max"), []byte("200"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", `echo $$ > "$0/cgroup.procs" && exec "$1" -test.run=none`, dir, self(t))
	cmd.Env = append(os.Environ(), childEnv+"=spares", cgroupEnv+"="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the child with its pids limit full: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "survived") {
		t.Fatalf("the child did not get to the end:\n%s", out)
	}
}

// runFullLimit is the "spares" child: see the test above. Exit 0 and
// "survived" when it lived through its blocked reads.
func runFullLimit() int {
	dir := os.Getenv(cgroupEnv)
	s := New(os.Args[0])
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = s.Run(ctx) }()
	defer func() { cancel(); wg.Wait() }()
	// A start has the spawner look at its limits (and make its spares).
	p, err := s.Start(ProcSpec{Path: "/bin/true", Argv: []string{"true"}, Umask: -1})
	if err != nil {
		fmt.Println("start:", err)
		return 1
	}
	_, _ = p.Wait()
	cur, err := os.ReadFile(filepath.Join(dir, "pids.current"))
	if err == nil {
		// Full: as if workers' threads had taken every other pid.
		err = os.WriteFile(filepath.Join(dir, "pids.max"), cur, 0o644)
	}
	if err != nil {
		fmt.Println("fill the limit:", err)
		return 1
	}
	fmt.Printf("limit full at %s", cur)
	if err := blockReads(blockedReads); err != nil {
		fmt.Println(err)
		return 1
	}
	fmt.Println("survived")
	return 0
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
