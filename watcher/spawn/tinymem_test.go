package spawn

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/poold/poold/watcher/cgroup"
)

// tinyNoStubEnv, for the "tinymem" child, makes its spawner run without
// the exec stub (the shim's path on a hybrid host).
const tinyNoStubEnv = "POOLD_SPAWN_TEST_TINY_NOSTUB"

// A worker whose cgroup allows 4 KiB of memory must fail alone: the
// spawner (poold) must never be in that memory cgroup, where the OOM
// killer would take it, and every watcher's workers with it (r58b:
// memory_max = 512 on a hybrid host, where the spawner's thread entered
// the worker's v1 cgroups for the fork). A child process plays poold, so
// that the OOM kill of the old way fails this test rather than ending the
// test binary. On a hybrid host the limit is cgroup v1's (the stub waits
// while the spawner moves it, or the shim moves itself), on a v2-only
// host cgroup v2's (CLONE_INTO_CGROUP); the log says which ran.
func TestTinyMemoryLimitFailsTheWorkerNotPoold(t *testing.T) {
	probe, _, err := cgroup.Open(fmt.Sprintf("%sprobe-tiny-%d", cgroup.TreePrefix, os.Getpid()), time.Second)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no cgroup tree: %v; CI runs as root with cgroup2 mounted", err)
		}
		t.Skipf("no cgroup tree here: %v", err)
	}
	probe.Close() // the child opens its own
	for _, step := range []string{"stub", "shim"} {
		t.Run(step, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), hang)
			defer cancel()
			cmd := exec.CommandContext(ctx, self(t), "-test.run=none")
			cmd.Env = append(os.Environ(), childEnv+"=tinymem")
			if step == "shim" {
				cmd.Env = append(cmd.Env, tinyNoStubEnv+"=1")
			}
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("the child playing poold: %v (OOM-killed with the worker?)\n%s", err, out)
			}
			if !strings.Contains(string(out), "poold survived") {
				t.Fatalf("the child's output lacks %q:\n%s", "poold survived", out)
			}
			t.Logf("%s", out)
		})
	}
}

// runTinyMemory is the "tinymem" child: see the test above. It serves
// its spawner on the main thread, as poold does (RunOnMain: in cgroup v1
// the main thread's memory cgroup is the one a process's page faults are
// charged to), starts /bin/sleep in a cgroup with memory_max 4096, and
// exits 0 once the start was refused or the worker ended; it prints
// which cgroup path ran.
func runTinyMemory() int {
	s := New(os.Args[0])
	s.stubOff = os.Getenv(tinyNoStubEnv) != ""
	ctx, cancel := context.WithCancel(context.Background())
	code := make(chan int, 1)
	go func() {
		defer cancel()
		code <- startTiny(s)
	}()
	if err := s.RunOnMain(ctx); err != nil {
		fmt.Println(err)
		return 1
	}
	return <-code
}

// startTiny is runTinyMemory's part off the main thread.
func startTiny(s *Spawner) int {
	tree, _, err := cgroup.Open(fmt.Sprintf("%stiny-%d", cgroup.TreePrefix, os.Getpid()), 5*time.Second)
	if err != nil {
		fmt.Println("open the tree:", err)
		return 1
	}
	defer tree.Close()
	g, err := tree.NewGroup("tiny", 1, cgroup.Limits{MemoryMax: 4096})
	if err != nil {
		fmt.Println("make the cgroup:", err)
		return 1
	}
	defer func() { _ = g.Remove() }()
	path := "cgroup v2 " + g.Dir
	for _, d := range g.V1Dirs() {
		if strings.Contains(d, "/memory") {
			path = "cgroup v1 " + d
		}
	}
	fmt.Println("memory limit in", path)
	p, err := s.Start(ProcSpec{Path: "/bin/sleep", Argv: []string{"sleep", "1000"}, Umask: -1, Cgroup: g})
	g.CloseFD()
	if err != nil {
		fmt.Println("start refused:", err)
		fmt.Println("poold survived")
		return 0
	}
	ended := make(chan Exit, 1)
	go func() { ex, _ := p.Wait(); ended <- ex }()
	select {
	case ex := <-ended:
		fmt.Printf("worker pid %d ended: status %d, %d OOM kills in its cgroup\n", p.Pid, ex.Status(), g.OOMKills())
	case <-time.After(20 * time.Second):
		_ = syscall.Kill(p.Pid, syscall.SIGKILL)
		<-ended
		fmt.Printf("worker pid %d still ran after 20s with 4096 bytes of memory\n", p.Pid)
		return 1
	}
	fmt.Println("poold survived")
	return 0
}
