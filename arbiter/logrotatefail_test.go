package arbiter

import (
	"bytes"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/poold/poold/arbiter/workerlog"
	"github.com/poold/poold/events"
)

// lockedBuffer is a log output the test reads while readers write it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *lockedBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *lockedBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// A log file whose rotation fails (poold not root and the log's directory
// read-only) grew past log_max_size with nothing said anywhere. Now poold
// logs it once, naming the watcher, the file, the cause and what to do,
// and publishes a log_error event; the file keeps every line.
func TestFailedRotationIsReportedOnce(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	path := t.TempDir() + "/w.log"
	// A directory at the rotated name fails the rename, for root too:
	// one for each second of the test, a rotation tried in each.
	for s := range 6 {
		stamp := now.Add(time.Duration(s) * time.Second).Format("20060102T150405.000000Z")
		if err := os.Mkdir(path+"."+stamp, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var logged lockedBuffer
	bus := events.NewBus(nil)
	sub := bus.Subscribe(16)
	defer sub.Close()
	o := newOutput(hclog.New(&hclog.LoggerOptions{Output: &logged}), false, bus)
	sf := &sharedFile{f: workerlog.Open(path, workerlog.Rotation{MaxSize: 100}, clock), users: map[string]int{}}
	defer sf.f.Close()
	ps := &pipeSink{pool: o.pool("web", 10), wid: 1, pid: 4711, stream: "stdout", file: sf}
	line := []byte(strings.Repeat("x", 59) + "\n")
	for i := 0; i < 6; i++ {
		o.writeFile(ps, line, 1)
		mu.Lock()
		now = now.Add(time.Second) // a new rotation attempt at each write
		mu.Unlock()
	}
	if n := strings.Count(logged.String(), "cannot rotate a worker log file"); n != 1 {
		t.Fatalf("failed rotation reported %d times, want once; log:\n%s", n, logged.String())
	}
	for _, want := range []string{"watcher=web", "path=" + path, "file exists", "logrotate"} {
		if !strings.Contains(logged.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, logged.String())
		}
	}
	select {
	case ev := <-sub.C():
		if ev.Kind != events.KindLogError || ev.Fields["path"] != path {
			t.Errorf("event %v %v, want log_error for %s", ev.Kind, ev.Fields, path)
		}
	default:
		t.Error("no log_error event for the failed rotation")
	}
	if st, err := os.Stat(path); err != nil || st.Size() != 6*60 {
		t.Errorf("log file: %v, size %d, want all 6 lines (360 bytes) kept", err, st.Size())
	}
	// The cause gone (no directory at the next rotated name), the next
	// rotation works, and the failure's end is said as the failure was.
	o.writeFile(ps, line, 1)
	if n := strings.Count(logged.String(), "worker log file rotates again"); n != 1 {
		t.Errorf("a rotation that works again: said %d times, want once; log:\n%s", n, logged.String())
	}
}

// The report of a log file that cannot be written said that its lines
// were dropped, not what to do about it, nor that poold would try again
// without being told.
func TestWriteFailureReportSaysWhatToDo(t *testing.T) {
	path := t.TempDir() + "/gone/w.log" // its directory does not exist
	var logged lockedBuffer
	o := newOutput(hclog.New(&hclog.LoggerOptions{Output: &logged}), false, events.NewBus(nil))
	sf := &sharedFile{f: workerlog.Open(path, workerlog.Rotation{}, nil), users: map[string]int{}}
	defer sf.f.Close()
	ps := &pipeSink{pool: o.pool("web", 10), wid: 1, pid: 4711, stream: "stdout", file: sf}
	o.writeFile(ps, []byte("hello\n"), 1)
	for _, want := range []string{"cannot write a worker log file", "path=" + path, "directory does not exist", "directory exist and writable", "tries again by itself"} {
		if !strings.Contains(logged.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, logged.String())
		}
	}
}
