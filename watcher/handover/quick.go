package handover

import (
	"bytes"
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// The quick look. A full look lists the process's fds (a directory of
// /proc that the kernel fills with a dentry and an inode per fd) and
// reads the link of each: a dozen system calls on /proc, about 0.1 ms
// of poold's CPU a worker at 3,000 tiny workers, the largest part of
// poold's own cost of a spawn (perf, issue 18). A worker that waits for
// connections usually does so in its main thread: blocked in epoll_wait
// on an epoll set that watches the socket, or in accept on it. Its
// /proc/PID/syscall names the call and the fd (its first argument), and
// that fd's fdinfo (or link) tells whether it is ours: two small reads.
// A worker whose main thread waits on a futex (a Go program, whose
// network poller blocks in epoll_wait on another thread; a Python or
// Java one that joins its server thread) gets the same look at each of
// its other threads, up to quickThreads of them.
// quickListening answers only Listening, which the full look would
// answer too (the set is one of the process's epoll fds, the socket one
// it holds); anything else is left to the full look.

// quickThreads bounds the threads the quick look reads: past it, the
// full look is about as cheap.
const quickThreads = 32

// quickListening reports whether pid's main thread is blocked in
// epoll_wait on a set that watches one of socks, or in accept on one of
// them; or, while that thread waits on a futex, another one is.
func quickListening(pid int, socks Inodes) bool {
	listening, _ := quickLook(pid, socks)
	return listening
}

// quickLook is quickListening, also telling whether pid's main thread
// runs (its syscall file says "running": on a CPU or waiting for one),
// so blocked in no call at all.
func quickLook(pid int, socks Inodes) (listening, running bool) {
	return quickLookIn(pid, socks, nil, false)
}

// quickLookIn is quickLook reading the main thread's call from cf when
// not nil, which it keeps open if keep (see callFile).
func quickLookIn(pid int, socks Inodes, cf *callFile, keep bool) (listening, running bool) {
	var buf [1024]byte
	dir := "/proc/" + strconv.Itoa(pid)
	var call []byte
	if cf != nil {
		call = buf[:cf.read(buf[:], keep)]
	} else {
		call = buf[:readSmall(dir+"/syscall", buf[:])]
	}
	if futexWait(call) {
		return threadListening(dir, strconv.Itoa(pid), socks, buf[:]), false
	}
	if bytes.HasPrefix(call, []byte("running")) {
		return false, true
	}
	nr, fd, ok := callAndFd(call)
	return ok && waitsOn(dir, nr, fd, socks, buf[:]), false
}

// threadListening is quickListening for the threads of process dir but
// its main one, main.
func threadListening(dir, main string, socks Inodes, buf []byte) bool {
	d, err := os.Open(dir + "/task")
	if err != nil {
		return false
	}
	tids, err := d.Readdirnames(quickThreads + 1)
	d.Close()
	if err != nil || len(tids) > quickThreads {
		return false
	}
	for _, tid := range tids {
		if tid == main {
			continue
		}
		// The fd in the process's table, as the full look reads it.
		if nr, fd, ok := callAndFd(buf[:readSmall(dir+"/task/"+tid+"/syscall", buf)]); ok && waitsOn(dir, nr, fd, socks, buf) {
			return true
		}
	}
	return false
}

// waitsOn tells whether a thread of process dir blocked in call nr with
// fd first waits on one of socks: epoll_wait on a set that watches one, or accept
// on one.
func waitsOn(dir string, nr, fd int, socks Inodes, buf []byte) bool {
	switch {
	case epollCalls[nr]:
		if n := readSmall(dir+"/fdinfo/"+strconv.Itoa(fd), buf); n < len(buf) {
			return watchesIn(buf[:n], socks)
		}
		return watches(dir+"/fdinfo/"+strconv.Itoa(fd), socks) // a set of many fds
	case acceptCalls[nr]:
		n, err := syscall.Readlink(dir+"/fd/"+strconv.Itoa(fd), buf)
		if err != nil {
			return false
		}
		ino, ok := socketInode(buf[:n])
		return ok && socks[ino]
	}
	return false
}

// readSmall reads the start of a small /proc file into buf, with no
// stat and no allocation: how many bytes it read, 0 on any error.
func readSmall(path string, buf []byte) int {
	fd, err := openProc(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return 0
	}
	defer syscall.Close(fd)
	n, err := syscall.Read(fd, buf)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// callAndFd parses a syscall file, "NR 0xARG0 ...": the call a thread is
// blocked in and its first argument as an fd. false for "running", a
// thread blocked outside a call ("-1 SP PC") or anything unexpected.
// The fields are one space apart; cut, not split, so that the look
// allocates nothing.
func callAndFd(b []byte) (nr, fd int, ok bool) {
	f0, rest, _ := bytes.Cut(bytes.TrimSpace(b), []byte(" "))
	f1, rest, _ := bytes.Cut(rest, []byte(" "))
	if len(f0) == 0 || len(f1) == 0 || len(rest) == 0 {
		return 0, 0, false
	}
	nr, err := strconv.Atoi(string(f0))
	if err != nil || nr < 0 {
		return 0, 0, false
	}
	arg0, err := strconv.ParseUint(string(bytes.TrimPrefix(f1, []byte("0x"))), 16, 31)
	if err != nil {
		return 0, 0, false
	}
	return nr, int(arg0), true
}

// futexWait tells whether a syscall file says futex (whose first
// argument is an address, no fd).
func futexWait(b []byte) bool {
	nr, _, _ := bytes.Cut(b, []byte(" "))
	return string(nr) == futexNr
}

var futexNr = strconv.Itoa(unix.SYS_FUTEX)

// socketInode parses a socket's fd link, "socket:[INODE]".
func socketInode(link []byte) (uint64, bool) {
	rest, ok := bytes.CutPrefix(link, []byte("socket:["))
	if !ok {
		return 0, false
	}
	rest, ok = bytes.CutSuffix(rest, []byte("]"))
	if !ok {
		return 0, false
	}
	ino, err := strconv.ParseUint(string(rest), 10, 64)
	return ino, err == nil
}
