package main

import (
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

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
	want := "dropped log lines while writing stderr failed: lines=1 total=1 poold=1 error=\"no space left on device\""
	proctest.Eventually(t, "the drop report", func() bool { return strings.Contains(disk.String(), want) })
	if strings.Contains(disk.String(), "blocked") {
		t.Errorf("report blames a blocked stderr:\n%s", disk.String())
	}
}

// TestDropReportWordsItsCause: every drop report without a write error
// said "while stderr was slow or blocked", also when stderr was a fast
// file and the queue merely overflowed, and named no watcher. The report
// now says which it was, by the longest write, and whose lines went,
// quoted also when there is one (it was watchers=web=1, which a search
// for the README's watchers=" missed).
func TestDropReportWordsItsCause(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    logsink.Drops
		want string
	}{
		{"queue full", logsink.Drops{Lines: 10, Total: 12, Watchers: map[string]uint64{"web": 3, "fstd": 7}, Slowest: time.Millisecond},
			"dropped log lines: the log queue was full: lines came faster than poold writes them to stderr, one write each, though no write stalled; give a chatty watcher a log file (stdout_log, stderr_log): lines=10 total=12 watchers=\"fstd=7 web=3\" poold=0 slowest_write=1ms"},
		{"stderr blocked", logsink.Drops{Lines: 5, Total: 5, Slowest: 3 * time.Second},
			"dropped log lines while stderr was slow or blocked: lines=5 total=5 poold=5 slowest_write=3s"},
		{"write failed", logsink.Drops{Lines: 2, Total: 9, Watchers: map[string]uint64{"web": 1}, Failure: syscall.ENOSPC},
			"dropped log lines while writing stderr failed: lines=2 total=9 watchers=\"web=1\" poold=1 error=\"no space left on device\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out strings.Builder
			reportDrops(hclog.New(&hclog.LoggerOptions{Output: &out}), tc.d)
			if !strings.Contains(out.String(), tc.want) {
				t.Errorf("report:\n%s\nwant:\n%s", out.String(), tc.want)
			}
		})
	}
}
