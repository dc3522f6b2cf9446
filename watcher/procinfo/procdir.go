package procinfo

import (
	"os"
	"path/filepath"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A sample opens each process's stat (and, for a process new to it, its
// cmdline) by a name relative to the proc mount, held open for the
// sample: openat(2) of "<pid>/stat" under it, the name built in a buffer
// on the reader's stack. Opened by its full path, each read walked from
// the root to the mount again and made three strings on the heap (the
// pid's digits, the joined path and its NUL-ended copy for the system
// call): 30,000 reads and 90,000 allocations for the first `stats` of
// 10,000 workers.

// procDir is the proc mount a sample reads: by the open fd of its
// directory, or by path where fd < 0 (the open failed, or no sample is
// under way).
type procDir struct {
	path string
	fd   int
}

// openProcDir opens the proc mount at root for the reads of one sample;
// close it with closeDir. An open that fails gives a procDir that reads
// by path, as before.
func openProcDir(root string) procDir {
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		fd = -1
	}
	return procDir{path: root, fd: fd}
}

// closeDir closes d's fd, if any, and returns d reading by path.
func (d procDir) closeDir() procDir {
	if d.fd >= 0 {
		_ = unix.Close(d.fd)
	}
	return procDir{path: d.path, fd: -1}
}

// name is the full path of pid's file name, for errors and for what
// does not fit a read.
func (d procDir) name(pid int, file string) string {
	return filepath.Join(d.path, strconv.Itoa(pid), file)
}

// maxRelName holds "<pid>/<file>" and its NUL for any pid and the files
// read here (a pid has at most 10 digits; "cmdline" and "status" 7 bytes).
const maxRelName = 32

// read reads pid's file (a /proc file that fits in buf) with one read.
func (d procDir) read(pid int, file string, buf []byte) ([]byte, error) {
	if d.fd < 0 || len(file) > maxRelName-12 {
		return readSmall(d.name(pid, file), buf)
	}
	var rel [maxRelName]byte
	b := strconv.AppendInt(rel[:0], int64(pid), 10)
	b = append(b, '/')
	b = append(b, file...)
	b = append(b, 0)
	fd, err := openat(d.fd, &b[0])
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	n, err := unix.Read(fd, buf)
	if err != nil {
		return nil, err
	}
	return buf[:n], nil
}

// readWhole reads pid's file with one read into buf, or, when it fills
// buf, whole.
func (d procDir) readWhole(pid int, file string, buf []byte) ([]byte, error) {
	b, err := d.read(pid, file, buf)
	if err == nil && len(b) == len(buf) {
		return os.ReadFile(d.name(pid, file))
	}
	return b, err
}

// openat opens the NUL-ended name at p under dirfd for reading.
func openat(dirfd int, p *byte) (int, error) {
	for {
		fd, _, errno := unix.Syscall6(unix.SYS_OPENAT, uintptr(dirfd), uintptr(unsafe.Pointer(p)),
			uintptr(unix.O_RDONLY|unix.O_CLOEXEC), 0, 0, 0)
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return -1, errno
		}
		return int(fd), nil
	}
}
