package arbiter

import (
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher/proctest"
	"golang.org/x/sys/unix"
)

// A worker log write that never returns (a frozen filesystem, a hung NFS
// server; here a pseudo-terminal nobody reads, a character device poold
// writes to) kept poold from exiting: its stop waited for the reader
// forever, after its workers were gone, and a second SIGTERM did not help.
// The stop now waits a bounded time and says which files held it.
func TestStopDoesNotWaitForAStuckLogWrite(t *testing.T) {
	master, slave := stuckTerminal(t)
	defer master.Close()

	var logged lockedBuffer
	o := newOutput(hclog.New(&hclog.LoggerOptions{Output: &logged}), false, events.NewBus(nil))
	spec := configs.Watcher{Name: "web", Logs: configs.WorkerLogs{Stdout: slave, Stderr: configs.LogToNone, Ring: 10}}
	outW := followStdout(t, o, spec)
	// The worker: far more than the terminal and the pipe hold, until
	// its pipe is closed under it.
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		defer outW.Close()
		line := []byte(strings.Repeat("x", 99) + "\n")
		for i := 0; i < 1<<14; i++ {
			if _, err := outW.Write(line); err != nil {
				return
			}
		}
	}()
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		o.close(200 * time.Millisecond)
	}()
	select {
	case <-closed:
	case <-time.After(20 * time.Second):
		t.Error("output.close waited for a log write that does not return")
	}
	// Unstick the reader: read the terminal until the reader is done.
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		_, _ = io.Copy(io.Discard, master) // ends once master is closed
	}()
	<-closed
	<-wrote
	o.wg.Wait()
	master.Close()
	<-drained
	if !strings.Contains(logged.String(), "worker log writes still blocked") || !strings.Contains(logged.String(), slave) {
		t.Errorf("the stop did not say which log write held it:\n%s", logged.String())
	}
}

// stuckTerminal makes a pseudo-terminal nobody reads: its slave, as a
// worker log path, takes some lines and then blocks every write until
// the master is read.
func stuckTerminal(t *testing.T) (master *os.File, slave string) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		master.Close()
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		master.Close()
		t.Fatal(err)
	}
	return master, fmt.Sprintf("/dev/pts/%d", n)
}

// An upgrade while a reader is stuck in a write to its log file waited
// for it (detachAll) on the loop: poold answered nothing until the disk
// came back. detachAll now gives up after detachWait, naming the file;
// resumeAll then restarts the readers that stopped, and the stuck one,
// once its write returns, goes on reading its pipe (not a second reader,
// not a pipe closed under its worker).
func TestUpgradeDoesNotWaitForAStuckLogWrite(t *testing.T) {
	master, slave := stuckTerminal(t)
	defer master.Close()
	old := detachWait
	detachWait = 300 * time.Millisecond
	defer func() { detachWait = old }()

	o := newOutput(hclog.NewNullLogger(), false, events.NewBus(nil))
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer errW.Close()
	spec := configs.Watcher{Name: "web", Logs: configs.WorkerLogs{Stdout: slave, Stderr: configs.LogToNone, Ring: 100000}}
	o.follow(spec, 1, 4711, outR, errR)
	const lines = 1 << 12
	wrote := make(chan error, 1)
	go func() {
		line := []byte(strings.Repeat("x", 99) + "\n")
		for i := 0; i < lines; i++ {
			if _, err := outW.Write(line); err != nil {
				wrote <- err
				return
			}
		}
		wrote <- nil
	}()
	pl := o.lookup("web")
	proctest.Eventually(t, "the reader to be stuck", func() bool {
		// Lines come in until the terminal is full, then stop.
		n := pl.lines.Load()
		return n > 0 && proctest.Poll(200*time.Millisecond, func() bool { return pl.lines.Load() != n }) == false
	})
	detached := make(chan error, 1)
	go func() { detached <- o.detachAll() }()
	select {
	case err := <-detached:
		if err == nil || !strings.Contains(err.Error(), slave) {
			t.Errorf("detachAll = %v, want an error naming %s", err, slave)
		}
	case <-time.After(20 * time.Second):
		t.Error("detachAll waited for a log write that does not return")
	}
	o.resumeAll()
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		_, _ = io.Copy(io.Discard, master)
	}()
	if err := <-wrote; err != nil {
		t.Fatalf("the worker's pipe failed after the upgrade gave up: %v", err)
	}
	outW.Close()
	errW.Close()
	proctest.Eventually(t, "every line to be read", func() bool { return pl.lines.Load() == lines })
	o.close(time.Second)
	master.Close()
	<-drained
	if n := pl.lines.Load(); n != lines {
		t.Errorf("read %d lines, want %d", n, lines)
	}
}

// A slow disk that takes one write after another (readers of 40 workers
// flooding one file, 150 ms a write) is no frozen one: an upgrade waits
// while readers keep stopping, and gives up only when none has stopped
// for detachWait. It was refused after detachWait in all, with the disk
// still taking writes.
func TestUpgradeWaitsForASlowDiskThatMoves(t *testing.T) {
	old := detachWait
	detachWait = time.Second
	defer func() { detachWait = old }()
	o := newOutput(hclog.NewNullLogger(), false, events.NewBus(nil))
	var readers []*os.File
	for range 16 {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		defer w.Close()
		readers = append(readers, r)
	}
	o.mu.Lock()
	for _, r := range readers {
		o.running[r] = true // each in a write that returns in its turn
	}
	o.mu.Unlock()
	// One write returns every 100 ms: 1.6 s in all, over detachWait,
	// never a second without one.
	done := make(chan struct{})
	defer func() { <-done }()
	go func() {
		defer close(done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for _, r := range readers {
			<-tick.C
			o.mu.Lock()
			delete(o.running, r)
			o.mu.Unlock()
		}
	}()
	if err := o.detachAll(); err != nil {
		t.Errorf("detachAll with a disk taking a write every 100 ms: %v", err)
	}
}

// A stop that came while a rotated worker log was being gzipped waited
// its grace for the reader (in the file's Close, waiting for the
// compression) and then warned of a frozen filesystem, naming no file.
// Nothing was blocked and nothing is lost: the stop now says, at Info,
// which compression it cut short and what becomes of it, and keeps the
// warning for a write that does not return.
func TestStopNamesACompressionItCutsShort(t *testing.T) {
	// A rotated file left plain by an earlier poold, compressed at the
	// log's first open: a terabyte of zeros (a sparse file, no disk),
	// whose compression takes minutes until the test truncates it.
	path := t.TempDir() + "/web.log"
	rotated := path + "." + time.Now().UTC().Format("20060102T150405.000000Z")
	if err := os.WriteFile(rotated, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(rotated, 1<<40); err != nil {
		t.Fatal(err)
	}

	var logged lockedBuffer
	o := newOutput(hclog.New(&hclog.LoggerOptions{Output: &logged}), false, events.NewBus(nil))
	spec := configs.Watcher{Name: "web", Logs: configs.WorkerLogs{Stdout: path, Stderr: configs.LogToNone, Compress: true, Ring: 10}}
	outW := followStdout(t, o, spec)
	ended := func() { // the compression's next read finds the end; the reader returns
		outW.Close()
		_ = os.Truncate(rotated, 0)
		o.wg.Wait()
	}
	defer ended() // on failure too
	if _, err := outW.Write([]byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	proctest.Eventually(t, "the rotated file's compression to start", func() bool { return compressing(o) == rotated })

	outW.Close() // the worker is gone: its reader is left closing the file
	o.close(20 * time.Millisecond)
	ended()
	out := logged.String()
	if !strings.Contains(out, "compression of rotated worker logs cut short by the stop") || !strings.Contains(out, rotated) {
		t.Errorf("the stop did not name the compression it cut short:\n%s", out)
	}
	if strings.Contains(out, "[WARN]") {
		t.Errorf("a compression cut short is not a blocked write:\n%s", out)
	}
}

// compressing names the rotated file a worker log of o is compressing,
// if any.
func compressing(o *output) string {
	o.smu.Lock()
	defer o.smu.Unlock()
	for _, sf := range o.files {
		if name := sf.f.Compressing(); name != "" {
			return name
		}
	}
	return ""
}

// followStdout has o follow worker wid 1 (pid 4711) of spec with a pipe
// for its stdout and a closed one for its stderr, and returns the write
// end of its stdout: the worker.
func followStdout(t *testing.T, o *output, spec configs.Watcher) *os.File {
	t.Helper()
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	errW.Close()
	o.follow(spec, 1, 4711, outR, errR)
	return outW
}
