package workerlog

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// fullTmpfs mounts a tmpfs of 256 KiB on a new temporary directory,
// unmounted at cleanup; it skips when not root, except under CI=true.
func fullTmpfs(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", dir).CombinedOutput(); err != nil {
		if os.Getenv("CI") != "true" && os.Geteuid() != 0 {
			t.Skipf("mounting a tmpfs needs root: %v: %s", err, out)
		}
		t.Fatalf("mount a tmpfs on %s: %v: %s", dir, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// A rotated file whose gzip failed on a full disk stayed plain for good,
// ~40 times its compressed size, and nothing said so (r67 diskfull F4).
// The failure is now kept for CompressFailure, and the next rotation
// compresses it.
func TestCompressFailureOnAFullDiskReportedAndRetried(t *testing.T) {
	dir := fullTmpfs(t)
	path := filepath.Join(dir, "w.log")
	l := Open(path, Rotation{MaxSize: 64 << 10, Compress: true}, nil)
	defer l.Close()
	line := []byte(strings.Repeat("x", 1023) + "\n")
	for i := 0; i < 60; i++ { // 60 KiB: no rotation yet
		if _, err := l.Write(line); err != nil {
			t.Fatal(err)
		}
	}
	filler, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	for err == nil {
		_, err = filler.Write(line)
	}
	filler.Close()
	l.Write([]byte(strings.Repeat(string(line), 8))) // would pass 64 KiB: rotates, on a full disk
	l.Settle()
	cf := l.CompressFailure()
	if cf == nil || !errors.Is(cf, syscall.ENOSPC) || !strings.HasPrefix(cf.Path, path+".") {
		t.Fatalf("CompressFailure on a full disk: %v, want ENOSPC naming the rotated file", cf)
	}
	if again := l.CompressFailure(); again != nil {
		t.Errorf("CompressFailure a second time: %v, want nil (taken)", again)
	}
	if err := os.Remove(filepath.Join(dir, "filler")); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 70; i++ { // rotates again, with room
		if _, err := l.Write(line); err != nil {
			t.Fatal(err)
		}
	}
	l.Settle()
	files, err := Rotated(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 {
		t.Fatalf("rotated files %v, want 2", files)
	}
	for _, f := range files {
		if !f.Gzip {
			t.Errorf("%s left uncompressed after a rotation with room", f.Path)
		}
	}
	if cf := l.CompressFailure(); cf != nil {
		t.Errorf("CompressFailure with room: %v", cf)
	}
}
