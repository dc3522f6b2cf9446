package procinfo

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/prometheus/procfs"
	"golang.org/x/sys/unix"
)

// statBufSize holds any /proc/<pid>/stat line (52 numbers and a command
// name of at most 64 bytes in parentheses).
const statBufSize = 1024

// readStat reads /proc/<pid>/stat into the fields of procfs.ProcStat that
// the Sampler uses. It is the hot path of a sample, once per process on
// the host in a full scan: procfs's Proc.Stat stats the directory, reads
// through io.ReadAll and parses with fmt.Fscan, which together took half of
// a `stats` of 10,000 workers; this does one open, one read and a
// hand-rolled parse into buf, which the caller reuses.
func readStat(root string, pid int, buf []byte) (procfs.ProcStat, error) {
	return procDir{path: root, fd: -1}.stat(pid, buf)
}

// stat is readStat under d.
func (d procDir) stat(pid int, buf []byte) (procfs.ProcStat, error) {
	b, err := d.read(pid, "stat", buf)
	if err != nil {
		return procfs.ProcStat{}, err
	}
	st, err := parseStat(pid, b)
	if err != nil {
		return procfs.ProcStat{}, fmt.Errorf("procinfo: %s: %w", d.name(pid, "stat"), err)
	}
	return st, nil
}

var errStatLine = errors.New("not a stat line")

// parseStat parses one /proc/<pid>/stat line (proc(5)). The command name
// (field 2) may hold spaces and parentheses, so fields are counted after
// its last ')'.
func parseStat(pid int, b []byte) (procfs.ProcStat, error) {
	open := bytes.IndexByte(b, '(')
	end := bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return procfs.ProcStat{}, errStatLine
	}
	st := procfs.ProcStat{PID: pid, Comm: string(b[open+1 : end])}
	// f[0] is field 3 (state); field n is f[n-3].
	var f [22][]byte
	rest := b[end+1:]
	for i := range f {
		rest = bytes.TrimLeft(rest, " ")
		j := bytes.IndexAny(rest, " \n")
		if j < 0 {
			j = len(rest)
		}
		if j == 0 {
			return procfs.ProcStat{}, errStatLine
		}
		f[i], rest = rest[:j], rest[j:]
	}
	st.State = string(f[0])
	var errs [10]error
	st.PPID, errs[0] = atoi(f[1])
	var ut, stt uint64
	ut, errs[1] = strconv.ParseUint(string(f[11]), 10, 0)
	stt, errs[2] = strconv.ParseUint(string(f[12]), 10, 0)
	st.UTime, st.STime = uint(ut), uint(stt)
	// CPU of its children that ended and that it waited for (fields 16,
	// 17): a process tree's CPU counts them, or a gunicorn master's would
	// drop each time one of its workers is replaced.
	st.CUTime, errs[8] = atoi(f[13])
	st.CSTime, errs[9] = atoi(f[14])
	st.Nice, errs[3] = atoi(f[16])
	st.NumThreads, errs[4] = atoi(f[17])
	st.Starttime, errs[5] = strconv.ParseUint(string(f[19]), 10, 64)
	var vs uint64
	vs, errs[6] = strconv.ParseUint(string(f[20]), 10, 0)
	st.VSize = uint(vs)
	st.RSS, errs[7] = atoi(f[21])
	if err := errors.Join(errs[:]...); err != nil {
		return procfs.ProcStat{}, err
	}
	return st, nil
}

func atoi(b []byte) (int, error) { return strconv.Atoi(string(b)) }

// listPids lists the numeric entries of the proc mount root. It reads the
// directory's entries itself (getdents64) and parses their names in
// place: os.File.Readdirnames made a string of every entry, over a
// thousand each stats round on a host of a thousand processes.
func listPids(root string) ([]int, error) {
	return appendPids(nil, root, make([]byte, 32<<10))
}

// appendPids is listPids appending to pids, reading with buf.
func appendPids(pids []int, root string, buf []byte) ([]int, error) {
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return pids, &os.PathError{Op: "open", Path: root, Err: err}
	}
	defer unix.Close(fd)
	for {
		n, err := unix.Getdents(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return pids, &os.PathError{Op: "getdents", Path: root, Err: err}
		}
		if n <= 0 {
			return pids, nil
		}
		pids = appendDirentPids(pids, buf[:n])
	}
}

// appendDirentPids appends the numeric names among the linux_dirent64
// records of b (d_ino, d_off: 8 bytes each; d_reclen: 2; d_type: 1; then
// the NUL-ended name).
func appendDirentPids(pids []int, b []byte) []int {
	const nameAt = 19
	for len(b) >= nameAt {
		size := int(binary.NativeEndian.Uint16(b[16:18]))
		if size < nameAt || size > len(b) {
			break
		}
		pid, ok := 0, false
		for _, c := range b[nameAt:size] {
			if c == 0 {
				break
			}
			if c < '0' || c > '9' || pid > 1<<40 {
				ok = false
				break
			}
			pid, ok = pid*10+int(c-'0'), true
		}
		if ok {
			pids = append(pids, pid)
		}
		b = b[size:]
	}
	return pids
}

// idBufSize holds a typical /proc/<pid>/status (about 1.5 KiB) or
// cmdline; a longer file is read again whole.
const idBufSize = 4096

// readWhole reads a /proc file with one read into buf, or, when it fills
// buf, whole.
func readWhole(path string, buf []byte) ([]byte, error) {
	b, err := readSmall(path, buf)
	if err == nil && len(b) == len(buf) {
		return os.ReadFile(path)
	}
	return b, err
}

// readCmdline reads a process's argv from /proc/<pid>/cmdline (NUL-ended
// strings; empty for a kernel thread or a zombie), with one read into buf
// when it fits. It and readRealUID replace procfs's Proc.CmdLine and
// NewStatus (a directory stat, reads through io.ReadAll, a parse of every
// line of status), which made the first `stats` of 10,000 workers three
// times as slow as the next.
func readCmdline(path string, buf []byte) ([]string, error) {
	b, err := readWhole(path, buf)
	if err != nil {
		return nil, err
	}
	return parseCmdline(b), nil
}

// parseCmdline splits the text of a cmdline file.
func parseCmdline(b []byte) []string {
	if len(b) == 0 {
		return []string{}
	}
	return strings.Split(string(bytes.TrimRight(b, "\x00")), "\x00")
}

var errNoUid = errors.New("no Uid line")

// readRealUID reads the real uid, the first of the four on the Uid line
// of /proc/<pid>/status.
func readRealUID(path string, buf []byte) (uint64, error) {
	b, err := readWhole(path, buf)
	if err != nil {
		return 0, err
	}
	return parseRealUID(path, b)
}

// parseRealUID finds the real uid in the text of the status file at path.
func parseRealUID(path string, b []byte) (uint64, error) {
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		if rest, ok := bytes.CutPrefix(line, []byte("Uid:")); ok {
			f := bytes.Fields(rest)
			if len(f) == 0 {
				break
			}
			return strconv.ParseUint(string(f[0]), 10, 64)
		}
	}
	return 0, fmt.Errorf("procinfo: %s: %w", path, errNoUid)
}
