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
	"golang.org/x/sys/unix"
)

// A worker log write that never returns (a frozen filesystem, a hung NFS
// server; here a pseudo-terminal nobody reads, a character device poold
// writes to) kept poold from exiting: its stop waited for the reader
// forever, after its workers were gone, and a second SIGTERM did not help.
// The stop now waits a bounded time and says which files held it.
func TestStopDoesNotWaitForAStuckLogWrite(t *testing.T) {
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	slave := fmt.Sprintf("/dev/pts/%d", n)

	var logged lockedBuffer
	o := newOutput(hclog.New(&hclog.LoggerOptions{Output: &logged}), false, events.NewBus(nil))
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	errW.Close()
	spec := configs.Watcher{Name: "web", Logs: configs.WorkerLogs{Stdout: slave, Stderr: configs.LogToNone, Ring: 10}}
	o.follow(spec, 1, 4711, outR, errR)
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
