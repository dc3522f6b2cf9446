package procinfo

import (
	"bytes"
	"errors"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// Usage is what a metrics scrape needs of one process: its own resident
// memory and CPU time (its children not included).
type Usage struct {
	RSS        uint64  // bytes
	CPUSeconds float64 // user + system, over its life
}

// ReadUsage reads /proc/<pid>/stat of each pid and nothing else: no scan
// of the host's processes, no process tree, no argv or owner, and no
// change to the CPU baselines of Sample. It is three system calls per pid
// into one reused buffer (procfs's general parser costs several times
// that), so a scrape costs in proportion to the workers it reports. A pid
// that is gone is missing from the result. The Sampler's lock is held
// only to read its constants.
func (s *Sampler) ReadUsage(pids []int) (map[int]Usage, error) {
	s.mu.Lock()
	err := s.init()
	page := s.pageSize
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	out := make(map[int]Usage, len(pids))
	buf := make([]byte, 1024)
	for _, pid := range pids {
		b, err := readSmall(filepath.Join(s.root, strconv.Itoa(pid), "stat"), buf)
		if err != nil {
			continue // exited
		}
		if u, ok := parseUsage(b, page); ok {
			out[pid] = u
		}
	}
	return out, nil
}

// readSmall reads a /proc file that fits in buf.
func readSmall(path string, buf []byte) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
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

// parseUsage reads utime, stime (fields 14, 15, in ticks) and rss (field
// 24, in pages) of a /proc/<pid>/stat line. The command name (field 2)
// may hold spaces and parentheses, so fields are counted after its last
// ')'.
func parseUsage(b []byte, page uint64) (Usage, bool) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return Usage{}, false
	}
	f := bytes.Fields(b[i+1:]) // f[0] is field 3 (state)
	if len(f) < 22 {
		return Usage{}, false
	}
	utime, err1 := strconv.ParseUint(string(f[11]), 10, 64)
	stime, err2 := strconv.ParseUint(string(f[12]), 10, 64)
	rss, err3 := strconv.ParseInt(string(f[21]), 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil || rss < 0 {
		return Usage{}, false
	}
	return Usage{RSS: uint64(rss) * page, CPUSeconds: float64(utime+stime) / userHZ}, true
}
