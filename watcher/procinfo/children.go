package procinfo

import (
	"errors"
	"strconv"

	"golang.org/x/sys/unix"
)

// ChildScan lists a process's children, those of all its threads, from
// /proc/PID/task/TID/children: a read per thread, never a pass over
// every process. It keeps its buffers from one scan to the next, so a
// stats round of a poold with 10,000 workers (all its children, a
// 60 KB list) allocates nothing once they have grown. Not safe for
// concurrent use.
type ChildScan struct {
	buf   []byte // children files
	dents []byte // the task directory's entries
	tids  []int
}

// ErrNoChildren is Append's error where the kernel has no children
// files (built without CONFIG_PROC_CHILDREN).
var ErrNoChildren = errors.New("/proc/PID/task/TID/children is missing (a kernel without CONFIG_PROC_CHILDREN)")

// Append appends the children of pid's threads to out. An error, with
// out as it was, when they cannot be read: no /proc/PID/task, or no
// children file for pid's main thread (ErrNoChildren). A thread that
// ends during the scan is passed over, and a child that its end hands
// to a thread already read is missed until the next scan.
func (c *ChildScan) Append(out []int, pid int) ([]int, error) {
	if len(c.buf) == 0 {
		c.buf = make([]byte, 16<<10)
	}
	if len(c.dents) == 0 {
		c.dents = make([]byte, 4<<10)
	}
	task := "/proc/" + strconv.Itoa(pid) + "/task"
	var err error
	if c.tids, err = appendPids(c.tids[:0], task, c.dents); err != nil {
		return out, err
	}
	from := len(out)
	for _, tid := range c.tids {
		var ok bool
		out, ok = c.appendFile(out, task+"/"+strconv.Itoa(tid)+"/children")
		if !ok && tid == pid {
			return out[:from], ErrNoChildren
		}
	}
	return out, nil
}

// appendFile appends the pids of a children file ("812 813 ") to out,
// reading it in as many reads as it takes; false if it cannot be opened.
func (c *ChildScan) appendFile(out []int, path string) ([]int, bool) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return out, false
	}
	defer unix.Close(fd)
	pid, digits := 0, false // a pid may be cut between two reads
	for {
		n, err := unix.Read(fd, c.buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n <= 0 {
			break
		}
		for _, b := range c.buf[:n] {
			if b >= '0' && b <= '9' {
				pid, digits = pid*10+int(b-'0'), true
				continue
			}
			if digits {
				out = append(out, pid)
			}
			pid, digits = 0, false
		}
		if n == len(c.buf) && len(c.buf) < 1<<20 {
			c.buf = make([]byte, 2*len(c.buf)) // fewer reads next time
		}
	}
	if digits {
		out = append(out, pid)
	}
	return out, true
}
