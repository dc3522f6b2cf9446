package main

import (
	"os"
	"os/exec"
	"runtime"
	"testing"
	"time"
)

// TestSpawnCPUReadsThreadsAndChildren checks the figures of tenkcpu.go
// against CPU being spent: this thread's threadCPU grows while it spins,
// and so does taskCPU of a child that spins; workersCPU counts only the
// processes it can read.
func TestSpawnCPUReadsThreadsAndChildren(t *testing.T) {
	const spin = 30 * time.Millisecond
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	c0 := threadCPU()
	if c0 <= 0 {
		t.Fatalf("threadCPU = %v, want > 0", c0)
	}
	for deadline := time.Now().Add(30 * time.Second); threadCPU()-c0 < spin; {
		if time.Now().After(deadline) {
			t.Fatalf("threadCPU grew by %v over 30 s of spinning, want %v", threadCPU()-c0, spin)
		}
	}
	// A shell that spins until killed.
	cmd := exec.Command("/bin/sh", "-c", `while :; do :; done`)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start a spinning /bin/sh: %v", err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	pid := cmd.Process.Pid
	deadline := time.Now().Add(30 * time.Second)
	for {
		d, ok := taskCPU(pid)
		if !ok {
			t.Fatalf("taskCPU(%d): cannot read /proc/%d/task", pid, pid)
		}
		if d >= spin {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("taskCPU(%d) = %v after 30 s of a spinning child, want %v or more", pid, d, spin)
		}
		runtime.Gosched()
	}
	sum, n := workersCPU([]int{pid, os.Getpid(), 1 << 30}) // the last pid does not exist
	if n != 2 || sum < spin {
		t.Errorf("workersCPU = %v over %d processes, want >= %v over 2", sum, n, spin)
	}
	c := spawnCPU{manager: 2 * time.Millisecond, workers: 6 * time.Millisecond, n: 4}
	if m, w, a, ok := c.perWorker(); !ok || m != 500 || w != 1500 || a != 2000 {
		t.Errorf("perWorker = %v, %v, %v, %v; want 500, 1500, 2000 µs, true", m, w, a, ok)
	}
	if _, _, _, ok := (spawnCPU{}).perWorker(); ok {
		t.Error("perWorker of no workers: ok, want false")
	}
}
