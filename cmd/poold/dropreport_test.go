package main

import (
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/poold/poold/arbiter/logsink"
	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/proctest"
)

// fullDisk fails every write with ENOSPC until healed, then keeps them.
type fullDisk struct {
	mu     sync.Mutex
	healed bool
	out    strings.Builder
}

func (f *fullDisk) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.healed {
		return 0, syscall.ENOSPC
	}
	return f.out.Write(p)
}

func (f *fullDisk) heal() { f.mu.Lock(); f.healed = true; f.mu.Unlock() }

func (f *fullDisk) String() string { f.mu.Lock(); defer f.mu.Unlock(); return f.out.String() }

// TestDropReportNamesAWriteFailure: lines lost to a full disk (stderr
// redirected to a file) were reported as dropped "while stderr was
// blocked", which sends a user after a stuck reader. The report now
// names the write error.
func TestDropReportNamesAWriteFailure(t *testing.T) {
	disk := &fullDisk{}
	logs := logsink.New(disk, logsink.Options{})
	done := make(chan struct{})
	go func() { defer close(done); logs.Run() }()
	defer func() { logs.Close(); <-done }()
	log := newLogger(configs.Arbiter{LogLevel: "info"}, logs)
	log.Info("lost on the full disk")
	proctest.Eventually(t, "the line to be dropped", func() bool { return logs.Stats().Dropped == 1 })
	disk.heal()
	log.Info("written once there is room")
	want := "dropped log lines while writing stderr failed: lines=1 total=1 error=\"no space left on device\""
	proctest.Eventually(t, "the drop report", func() bool { return strings.Contains(disk.String(), want) })
	if strings.Contains(disk.String(), "blocked") {
		t.Errorf("report blames a blocked stderr:\n%s", disk.String())
	}
}
