package arbiter

import (
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/poold/poold/arbiter/workerlog"
	"github.com/poold/poold/events"
)

// TestRenamedLogFileIsSaidOnce: logrotate without a reopen in its
// postrotate left poold writing the renamed file with nothing said.
// poold now follows the file at the path and says so once per rename.
func TestRenamedLogFileIsSaidOnce(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	path := t.TempDir() + "/w.log"
	var logged lockedBuffer
	o := newOutput(hclog.New(&hclog.LoggerOptions{Output: &logged}), false, events.NewBus(nil))
	sf := &sharedFile{f: workerlog.Open(path, workerlog.Rotation{}, clock), users: map[string]int{}}
	defer sf.f.Close()
	ps := &pipeSink{pool: o.pool("web", 10), wid: 1, pid: 4711, stream: "stdout", file: sf}
	o.writeFile(ps, []byte("one\n"), 1)
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		mu.Lock()
		now = now.Add(time.Second)
		mu.Unlock()
		o.writeFile(ps, []byte("two\n"), 1)
	}
	if n := strings.Count(logged.String(), "worker log file renamed or replaced under poold"); n != 1 {
		t.Errorf("said %d times, want once:\n%s", n, logged.String())
	}
	if !strings.Contains(logged.String(), "path="+path) {
		t.Errorf("notice lacks the path:\n%s", logged.String())
	}
	if b, _ := os.ReadFile(path); string(b) != "two\ntwo\ntwo\n" {
		t.Errorf("file at the path holds %q, want the three later lines", b)
	}
}
