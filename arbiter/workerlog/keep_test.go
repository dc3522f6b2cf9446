package workerlog

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// The file a size rotation creates takes the mode of the one it replaces
// (exactly, whatever the umask) and, when poold is root, its owner: an
// operator's chmod 600 survives the next rotation.
func TestRotationKeepsModeAndOwner(t *testing.T) {
	for _, mode := range []os.FileMode{0o600, 0o660, 0o640} {
		t.Run(mode.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "app.log")
			l := Open(path, Rotation{MaxSize: 100}, nil)
			defer l.Close()
			writeLines(t, l, 0, 5) // 60 bytes: no rotation yet
			if err := os.Chmod(path, mode); err != nil {
				t.Fatal(err)
			}
			root := os.Geteuid() == 0
			if root {
				if err := os.Chown(path, 65534, 65534); err != nil {
					t.Fatal(err)
				}
			}
			writeLines(t, l, 5, 10) // past 100 bytes: rotates
			if files, _ := Rotated(path); len(files) != 1 {
				t.Fatalf("got %d rotated files, want 1", len(files))
			}
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != mode {
				t.Errorf("new file's mode %v, want %v", st.Mode().Perm(), mode)
			}
			if sys := st.Sys().(*syscall.Stat_t); root && (sys.Uid != 65534 || sys.Gid != 65534) {
				t.Errorf("new file owned by %d:%d, want 65534:65534", sys.Uid, sys.Gid)
			}
		})
	}
}

// A first file is created 0644 as before.
func TestFirstFileMode(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	path := filepath.Join(t.TempDir(), "app.log")
	l := Open(path, Rotation{}, nil)
	defer l.Close()
	writeLines(t, l, 0, 1)
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o644 {
		t.Fatalf("first file: %v, %v; want mode 0644", st.Mode(), err)
	}
}

// After an external copytruncate (the file emptied under poold), a size
// rotation happens at the configured size, not at what poold wrote
// before the truncation.
func TestCopytruncateDoesNotRotateEarly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	l := Open(path, Rotation{MaxSize: 100}, nil)
	defer l.Close()
	writeLines(t, l, 0, 7) // 84 bytes
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	writeLines(t, l, 7, 14) // 84 bytes again: under 100
	if files, _ := Rotated(path); len(files) != 0 {
		t.Fatalf("rotated at %d bytes after copytruncate: %v", 84, files)
	}
	writeLines(t, l, 14, 16) // 108: rotates
	if files, _ := Rotated(path); len(files) != 1 {
		t.Fatalf("got %d rotated files at 108 bytes, want 1", len(files))
	}
}

// A short write after an external copytruncate is cut back to the lines
// before it, not padded with NULs up to the size poold remembered. The
// short write comes from RLIMIT_FSIZE (Go ignores SIGXFSZ, so the write
// returns EFBIG).
func TestShortWriteAfterCopytruncateLeavesNoNULs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	l := Open(path, Rotation{}, nil)
	defer l.Close()
	writeLines(t, l, 0, 7) // 84 bytes
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	writeLines(t, l, 7, 8) // 12 bytes
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		t.Fatal(err)
	}
	short := lim
	short.Cur = 30 // the next 24 bytes stop at 30
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &short); err != nil {
		t.Fatal(err)
	}
	_, werr := l.Write([]byte("line 000008\nline 000009\n"))
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(werr, syscall.EFBIG) {
		t.Fatalf("write past RLIMIT_FSIZE: %v, want EFBIG", werr)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != "line 000007\n" {
		t.Fatalf("file holds %q (%d NULs), want the one line before the short write", b, bytes.Count(b, []byte{0}))
	}
}

// A failed write names the file once: "write PATH: no space left on
// device", not the path twice.
func TestWriteErrorNamesThePathOnce(t *testing.T) {
	l := Open("/dev/full", Rotation{}, nil)
	defer l.Close()
	_, err := l.Write([]byte("x\n"))
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("write to /dev/full: %v, want ENOSPC", err)
	}
	if got, want := err.Error(), "write /dev/full: no space left on device"; got != want {
		t.Errorf("error %q, want %q", got, want)
	}
}

// TestCompressedArchiveKeepsTheMode: a chmod 600 log was rotated into a
// 0600 file, then compressed into a 0644 .gz: the archive gave away what
// the live log kept.
func TestCompressedArchiveKeepsTheMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	l := Open(path, Rotation{MaxSize: 100, Compress: true}, nil)
	writeLines(t, l, 0, 5)
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	writeLines(t, l, 5, 10) // past 100 bytes: rotates, then compresses
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	files, _ := Rotated(path)
	if len(files) != 1 || !files[0].Gzip {
		t.Fatalf("rotated files %+v, want one .gz", files)
	}
	if st, err := os.Stat(files[0].Path); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("%s: mode %v (%v), want -rw-------", files[0].Path, st.Mode().Perm(), err)
	}
}
