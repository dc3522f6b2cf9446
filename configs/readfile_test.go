package configs

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// unblockFIFO opens the FIFO at path for writing and closes it, which
// ends a read that blocked on it (O_RDWR: the open itself never blocks).
func unblockFIFO(path string) {
	if f, err := os.OpenFile(path, os.O_RDWR, 0); err == nil {
		f.Close()
	}
}

// returnsSoon runs fn and fails t if it has not returned within a bound
// that only catches a hang; a FIFO it blocked on is then unblocked so
// that the test ends.
func returnsSoon(t *testing.T, fifo string, fn func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-time.After(20 * time.Second):
		t.Errorf("still blocked after 20s on %s", fifo)
		unblockFIFO(fifo)
		return <-done
	}
}

// TestLoadRefusesWhatIsNotARegularFile: a config path that named a FIFO
// blocked Load in open until something wrote to it (every later reload,
// upgrade and poold's exit waited for it, and poold --check hung); a
// device (/dev/zero) was read up to the size limit. Each is refused at
// once, naming the file and what it is, and a link to a regular file
// still loads.
func TestLoadRefusesWhatIsNotARegularFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "poold.toml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	err := returnsSoon(t, fifo, func() error { _, err := Load(fifo); return err })
	want := fifo + ": the file is a FIFO (named pipe), not a regular file"
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "write the config to a file") {
		t.Errorf("Load of a FIFO: %v, want %q and what to do", err, want)
	}

	dev := filepath.Join(dir, "zero.toml")
	if err := os.Symlink("/dev/zero", dev); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dev); err == nil || !strings.Contains(err.Error(), dev+": the file is a character device, not a regular file") {
		t.Errorf("Load of a link to /dev/zero: %v, want it refused as a character device", err)
	}

	real := filepath.Join(dir, "real.toml")
	if err := os.WriteFile(real, []byte("[watchers.a]\ncmd = \"sleep 1\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.toml")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(link); err != nil {
		t.Errorf("Load of a link to a regular file: %v", err)
	}
	sub := filepath.Join(dir, "conf.d.toml")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(sub); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("Load of a directory: %v, want EISDIR's words", err)
	}
}

// TestReadLimitedRefusesAFIFOWithoutBlocking: the reader of circus.ini
// and supervisord files and the files they include refuses a FIFO too.
func TestReadLimitedRefusesAFIFOWithoutBlocking(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "extra.ini")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	err := returnsSoon(t, fifo, func() error { _, err := ReadLimited(fifo); return err })
	if err == nil || !strings.Contains(err.Error(), "is a FIFO (named pipe), not a regular file") {
		t.Errorf("ReadLimited of a FIFO: %v", err)
	}
}
