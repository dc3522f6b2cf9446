package cgroup

import (
	"bytes"
	"errors"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// Reading a cgroup's small status files (cgroup.events, memory.events,
// pids.events, memory.oom_control). Every worker's exit reads three of
// them, and os.ReadFile is costly for these: it adds the fd to Go's
// netpoller (a cgroup file can be polled, so the epoll_ctl add succeeds,
// and a delete follows at the close), stats the file and allocates a
// buffer of at least 512 bytes. Here that took 21-38 us a read; an open,
// one read into the caller's array and a close take 8-10 us
// (BenchmarkStatusRead). A burst of 100 kill -9s among 10,000 workers
// reads 300 of them.

// statusMax is the largest status file read in one go: the biggest of
// them, memory.events or v1's memory.oom_control, are under 200 bytes.
const statusMax = 512

// readStatus reads the small file at path whole into buf and returns
// what it holds; a file that fills buf is read again by os.ReadFile. The
// error is the open's or the read's (ENOENT: errors.Is os.ErrNotExist).
func readStatus(path string, buf *[statusMax]byte) ([]byte, error) {
	fd, err := openRetry(path)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	n := 0
	for n < len(buf) {
		k, err := unix.Read(fd, buf[n:])
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "read", Path: path, Err: err}
		}
		if k == 0 {
			return buf[:n], nil
		}
		n += k
	}
	return os.ReadFile(path)
}

func openRetry(path string) (int, error) {
	for {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return -1, &os.PathError{Op: "open", Path: path, Err: err}
		}
		return fd, nil
	}
}

// keyed reads the number after key in a flat keyed file ("key value"
// lines); 0 when key is not there.
func keyed(b []byte, key string) int {
	for len(b) > 0 {
		var line []byte
		line, b, _ = bytes.Cut(b, []byte{'\n'})
		k, v, ok := bytes.Cut(line, []byte{' '})
		if ok && string(k) == key {
			n, _ := strconv.Atoi(string(bytes.TrimSpace(v)))
			return n
		}
	}
	return 0
}
