package handover

import (
	"strconv"
	"sync/atomic"
	"syscall"
)

// callFile is a new worker's /proc/PID/syscall, kept open across Wait's
// early looks. Opening a /proc file (the path walk and procfs making
// the pid's dentries) costs more than reading it, and a new worker
// gets 2 to 3 looks on a busy machine (tiny workers, 2 cores at load
// 30): each look after the first now reads the file again with one
// pread from 0 (procfs formats it anew at each read from 0, and checks
// poold's access at each read as at an open) instead of an open, a read
// and a close. The fd names the process, not its pid: a pid reused after
// the worker's end reads as an error, never as another process.
//
// Only the early looks keep it, and at most keptCallFiles at once across
// poold, so that workers slow to start (an app that loads for seconds,
// thousands spawned at once) never hold an fd each.
type callFile struct {
	path string
	fd   int // -1: not open
	kept bool
}

// openProc opens a /proc file for the quick look; tests count its calls.
var openProc = syscall.Open

// keptCallFiles bounds the call files open at once.
const keptCallFiles = 64

// callFilesOpen counts them.
var callFilesOpen atomic.Int32

func newCallFile(pid int) *callFile {
	return &callFile{path: "/proc/" + strconv.Itoa(pid) + "/syscall", fd: -1}
}

// read reads the file into buf as readSmall does: how many bytes, 0 on
// any error. keep says whether to keep it open for the next read.
func (c *callFile) read(buf []byte, keep bool) int {
	if c == nil {
		return 0
	}
	if c.fd < 0 && keep && callFilesOpen.Add(1) <= keptCallFiles {
		fd, err := openProc(c.path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != nil {
			callFilesOpen.Add(-1)
			return 0
		}
		c.fd, c.kept = fd, true
	} else if c.fd < 0 && keep {
		callFilesOpen.Add(-1) // over the bound: read it as any file
	}
	if c.fd < 0 {
		return readSmall(c.path, buf)
	}
	n, err := syscall.Pread(c.fd, buf, 0)
	if !keep {
		c.close()
	}
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// close closes the file if open.
func (c *callFile) close() {
	if c == nil || c.fd < 0 {
		return
	}
	syscall.Close(c.fd)
	c.fd = -1
	if c.kept {
		callFilesOpen.Add(-1)
		c.kept = false
	}
}
