package procinfo

import (
	"bytes"
	"encoding/binary"
	"os"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/prometheus/procfs"
	"golang.org/x/sys/unix"
)

// Open file descriptors. Counting them is a readdir of /proc/PID/fd, one
// getdents call per ~200 descriptors, and the limit is a read of
// /proc/PID/limits: too much to do for every worker on the stats tick,
// cheap enough when asked (stats --extended, a metrics scrape).
//
// Since Linux 6.2 a stat of /proc/PID/fd tells the count in st_size (the
// descriptors in use in the process's table): one system call where the
// readdir took four (open, getdents until it returns nothing, close),
// which were two fifths of a scrape's CPU at 10,000 workers. A Sampler of
// the live /proc counts that way where the kernel does so and where the
// readdir would be allowed (poold's effective uid is root or the
// directory's owner); elsewhere it reads the directory as before.

// FDUse is how many file descriptors a process has open and its soft
// RLIMIT_NOFILE: open() fails with EMFILE ("too many open files") when
// Open reaches Limit. Limit is -1 for no limit (RLIM_INFINITY).
type FDUse struct {
	Open  int   `json:"fds"`
	Limit int64 `json:"fds_limit"`
}

// Ratio is Open over Limit, 0 without a limit.
func (u FDUse) Ratio() float64 {
	if u.Limit <= 0 {
		return 0
	}
	return float64(u.Open) / float64(u.Limit)
}

// fdBufSize holds a getdents batch and /proc/PID/limits (about 1.3 KiB).
const fdBufSize = 8 << 10

// ReadFDs reads the descriptors in use and the limit of each of pids,
// side by side when there are many; a pid that has exited, or whose fd
// directory poold may not read, is missing. It keeps no state and does
// not take s.mu.
func (s *Sampler) ReadFDs(pids []int) map[int]FDUse {
	use := make([]FDUse, len(pids))
	ok := make([]bool, len(pids))
	live := s.root == procfs.DefaultMountPoint // prlimit asks the kernel of this host
	bySize := live && fdDirSizeCounts()
	inParallel(pids, fdBufSize, func(i, pid int, buf []byte) {
		use[i], ok[i] = readFDUse(s.pidDir(pid), pid, live, bySize, buf)
	})
	out := make(map[int]FDUse, len(pids))
	for i, pid := range pids {
		if ok[i] {
			out[pid] = use[i]
		}
	}
	return out
}

// readFDUse reads the process whose /proc directory is dir: the count
// with a stat when bySize (countFDs), the limit with prlimit(2) when
// live (one system call, a third of the cost of reading and parsing
// /proc/PID/limits), else from that file, which anyone may read (prlimit
// needs the process's uid or CAP_SYS_RESOURCE).
func readFDUse(dir string, pid int, live, bySize bool, buf []byte) (FDUse, bool) {
	n, err := countFDs(dir+"/fd", bySize, buf)
	if err != nil {
		return FDUse{}, false
	}
	var rl unix.Rlimit
	if live && unix.Prlimit(pid, unix.RLIMIT_NOFILE, nil, &rl) == nil {
		limit := int64(-1)
		if rl.Cur != unix.RLIM_INFINITY {
			limit = int64(min(rl.Cur, 1<<62))
		}
		return FDUse{Open: n, Limit: limit}, true
	}
	b, err := readSmall(dir+"/limits", buf)
	if err != nil {
		return FDUse{}, false
	}
	limit, ok := nofileSoft(b)
	if !ok {
		return FDUse{}, false
	}
	return FDUse{Open: n, Limit: limit}, true
}

// fdDirSizeCounts reports whether this kernel's /proc tells a process's
// open descriptors in the st_size of /proc/PID/fd (Linux 6.2 and later;
// 0 before): this process has some open, so its own is not 0.
var fdDirSizeCounts = sync.OnceValue(func() bool {
	var st unix.Stat_t
	return unix.Stat(procfs.DefaultMountPoint+"/self/fd", &st) == nil && st.Size > 0
})

// fdStatCounts counts the fd directories countFDs counted with a stat,
// for tests.
var fdStatCounts atomic.Int64

// countFDs counts the descriptors listed in the fd directory path: from
// its st_size when bySize and a readdir of it would be allowed (the
// directory is mode 0500: its owner, or root, may list it), else by
// listing it. The two agree but for a descriptor being opened at that
// instant, which st_size counts as soon as it is reserved.
func countFDs(path string, bySize bool, buf []byte) (int, error) {
	if bySize {
		var st unix.Stat_t
		if err := unix.Stat(path, &st); err != nil {
			return 0, err
		}
		if euid := os.Geteuid(); euid == 0 || uint32(euid) == st.Uid {
			fdStatCounts.Add(1)
			return int(st.Size), nil
		}
	}
	return countEntries(path, buf)
}

// OwnFDs is how many descriptors this process has open: the size of
// /proc/self/fd where the kernel tells it, else a count of its entries
// (less the listing's own descriptor).
func OwnFDs() (int, error) {
	path := procfs.DefaultMountPoint + "/self/fd"
	if fdDirSizeCounts() {
		var st unix.Stat_t
		if err := unix.Stat(path, &st); err != nil {
			return 0, &os.PathError{Op: "stat", Path: path, Err: err}
		}
		return int(st.Size), nil
	}
	n, err := countEntries(path, make([]byte, fdBufSize))
	if err != nil {
		return 0, &os.PathError{Op: "list", Path: path, Err: err}
	}
	return n - 1, nil
}

// countEntries counts the names in directory path other than . and ..,
// without building them.
func countEntries(path string, buf []byte) (int, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	count := 0
	for {
		n, err := unix.Getdents(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, err
		}
		if n <= 0 {
			return count, nil
		}
		count += countDirents(buf[:n])
	}
}

// countDirents counts the linux_dirent64 records of b (as
// appendDirentPids reads them) but . and ..
func countDirents(b []byte) int {
	const nameAt = 19
	count := 0
	for len(b) >= nameAt {
		size := int(binary.NativeEndian.Uint16(b[16:18]))
		if size < nameAt || size > len(b) {
			break
		}
		name := b[nameAt:size]
		if i := bytes.IndexByte(name, 0); i >= 0 {
			name = name[:i]
		}
		if string(name) != "." && string(name) != ".." {
			count++
		}
		b = b[size:]
	}
	return count
}

// nofileSoft finds the soft limit on the "Max open files" line of a
// /proc/PID/limits: -1 for "unlimited".
func nofileSoft(b []byte) (int64, bool) {
	const key = "Max open files"
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		return 0, false
	}
	fields := bytes.Fields(b[i+len(key):])
	if len(fields) == 0 {
		return 0, false
	}
	if string(fields[0]) == "unlimited" {
		return -1, true
	}
	v, err := strconv.ParseInt(string(fields[0]), 10, 64)
	return v, err == nil
}

// AddFDs sets FDs and FDLimit of every process in infos and of the
// processes under them, reading them side by side (ReadFDs). A process
// whose descriptors cannot be read is left without.
func (s *Sampler) AddFDs(infos map[int]Info) {
	var pids []int
	var walk func(in Info)
	walk = func(in Info) {
		pids = append(pids, in.PID)
		for _, c := range in.Children {
			walk(c)
		}
	}
	for _, in := range infos {
		walk(in)
	}
	use := s.ReadFDs(pids)
	for pid, in := range infos {
		infos[pid] = withFDs(in, use)
	}
}

// withFDs is in with the figures of use set, down its tree.
func withFDs(in Info, use map[int]FDUse) Info {
	if u, ok := use[in.PID]; ok {
		in.FDs, in.FDLimit = &u.Open, &u.Limit
	}
	if len(in.Children) > 0 {
		kids := make([]Info, len(in.Children))
		for i, c := range in.Children {
			kids[i] = withFDs(c, use)
		}
		in.Children = kids
	}
	return in
}
