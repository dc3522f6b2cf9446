package cgroup

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Group is one worker's cgroup.
type Group struct {
	Dir string
	fd  int      // the directory, for CLONE_INTO_CGROUP; 0 when not open
	v1  []string // its directories in cgroup v1 hierarchies of limits

	key      slotKey   // the slot it may be parked for (park.go)
	parkedAt time.Time // when it was parked
	oomBase  int       // OOM kills of the workers it held before
	oomSeen  int       // the total at the last OOMKills
	pidsBase int       // forks refused by a pids limit to the workers it held before
	pidsSeen int       // the total at the last PidsRefused
	memBase  int       // own memory limit hits of the workers it held before
	memSeen  int       // the total at the last MemoryLimitHits
	mem      Memory    // where its memory is counted; zero without a memory limit
	killed   atomic.Bool
}

// FD is the open directory of the cgroup, for SysProcAttr.CgroupFD.
func (g *Group) FD() int { return g.fd }

// CloseFD closes the directory opened for the clone once the worker has
// started (nil-safe). Kept open, it would cost poold one fd per worker for
// the worker's whole life; everything else reaches the cgroup by path.
// Call it from the goroutine that started the worker, before any other
// goroutine can use g.
func (g *Group) CloseFD() {
	if g != nil && g.fd > 0 {
		unix.Close(g.fd)
		g.fd = 0
	}
}

// V1Dirs are the group's directories in cgroup v1 hierarchies (hybrid
// hosts whose v2 lacks a controller a limit needs). A clone cannot enter
// them: the spawner moves the worker into them (JoinV1) while its exec
// step waits, before the worker's own program runs.
func (g *Group) V1Dirs() []string { return g.v1 }

// Pids lists the processes in the cgroup.
func (g *Group) Pids() []int { return Procs(g.Dir) }

// AppendProcs appends to out the processes in the cgroup at dir (its
// cgroup.procs), read with buf: a stats sample reads it for every worker,
// so it allocates nothing beyond out's growth. out is returned as it was
// when the file cannot be read (the cgroup is gone). It takes a path,
// not a Group, for readers off the arbiter's loop, which owns the
// Groups. A cgroup with more processes than buf holds is read with
// Procs.
func AppendProcs(out []int, dir string, buf []byte) []int {
	fd, err := unix.Open(dir+"/cgroup.procs", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return out
	}
	n, err := unix.Read(fd, buf)
	unix.Close(fd)
	if err != nil || n < 0 {
		return out
	}
	if n == len(buf) { // maybe cut short: read it whole
		return append(out, Procs(dir)...)
	}
	pid, digits := 0, false
	for _, c := range buf[:n] {
		if c >= '0' && c <= '9' {
			pid, digits = pid*10+int(c-'0'), true
			continue
		}
		if digits {
			out = append(out, pid)
		}
		pid, digits = 0, false
	}
	if digits {
		out = append(out, pid)
	}
	return out
}

// Procs lists the processes in the cgroup at dir (its cgroup.procs); nil
// when it cannot be read (the cgroup is gone).
func Procs(dir string) []int {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil
	}
	var out []int
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

// Kill SIGKILLs everything in the cgroup at once, descendants that moved
// to their own session or process group included. A cgroup once killed is
// never parked for another worker (see Park).
func (g *Group) Kill() error {
	g.killed.Store(true)
	err := os.WriteFile(filepath.Join(g.Dir, "cgroup.kill"), []byte("1"), 0)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("kill cgroup %s: %w", g.Dir, err)
	}
	return nil
}

// Signal sends sig to every process in the cgroup.
func (g *Group) Signal(sig syscall.Signal) {
	for _, pid := range g.Pids() {
		_ = syscall.Kill(pid, sig)
	}
}

// Populated tells whether a process is still in the cgroup (cgroup.events).
func (g *Group) Populated() (bool, error) {
	var buf [statusMax]byte
	b, err := readStatus(filepath.Join(g.Dir, "cgroup.events"), &buf)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return false, nil
		}
		return false, err
	}
	return keyed(b, "populated") != 0, nil
}

// WaitEmpty waits until cgroup.events says populated 0, for at most
// timeout. It parks on an inotify fd in the netpoller, holding no thread,
// and only when the cgroup is not empty yet: closing an inotify fd waits
// for the kernel's SRCU grace period (about 9 ms here), which a sweep of
// 1,000 empty cgroups paid 1,000 times.
func (g *Group) WaitEmpty(timeout time.Duration) error {
	if full, err := g.Populated(); err != nil || !full {
		return err
	}
	ifd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return fmt.Errorf("inotify: %w", err)
	}
	in := os.NewFile(uintptr(ifd), "inotify")
	defer in.Close()
	if _, err := unix.InotifyAddWatch(ifd, filepath.Join(g.Dir, "cgroup.events"), unix.IN_MODIFY); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil // gone
		}
		return fmt.Errorf("watch %s/cgroup.events: %w", g.Dir, err)
	}
	_ = in.SetReadDeadline(time.Now().Add(timeout))
	buf := make([]byte, 4096)
	for {
		full, err := g.Populated()
		if err != nil || !full {
			return err
		}
		if _, err := in.Read(buf); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				if full, _ := g.Populated(); !full {
					return nil
				}
				return fmt.Errorf("still holds pids %v after %v", g.Pids(), timeout)
			}
			return err
		}
	}
}

// OOMKills is how many processes of the cgroup the kernel's OOM killer
// killed (memory.events oom_kill in v2, memory.oom_control in v1) since
// the cgroup's current worker started in it.
func (g *Group) OOMKills() int {
	n := g.OOMTotal()
	g.oomSeen = n
	return n - g.oomBase
}

// OOMKillsSince is how many processes of the cgroup the OOM killer
// killed since the last OOMKills: of what a worker killed by a signal
// left, which runs on after its end was read (arbiter/leftdrain.go).
// Call it on the goroutine that called OOMKills, before Remove.
func (g *Group) OOMKillsSince() int { return g.OOMTotal() - g.oomSeen }

// Slot is the worker slot (wid) g was made for and the limits it holds.
func (g *Group) Slot() (wid int, lim Limits) { return g.key.wid, g.key.lim }

// OOMTotal is the cgroup's OOM kill counter as the kernel keeps it, for
// all the workers it held. It only reads files and g's directories,
// which never change: any goroutine may call it while another ends the
// worker (OOMKills, Park). 0 once the cgroup is gone.
func (g *Group) OOMTotal() int {
	n := 0
	var buf [statusMax]byte
	if b, err := readStatus(filepath.Join(g.Dir, "memory.events"), &buf); err == nil {
		n += keyed(b, "oom_kill")
	}
	for _, d := range g.v1 {
		if b, err := readStatus(filepath.Join(d, "memory.oom_control"), &buf); err == nil {
			n += keyed(b, "oom_kill")
		}
	}
	return n
}

// MemoryLimitHits is how often the cgroup's own memory limit was reached
// since its current worker started in it, false when no file says (no
// memory controller for it): cgroup v2's memory.events "oom", which
// counts an OOM at the cgroup whose limit was reached and its ancestors,
// never below; cgroup v1's memory.failcnt, counted at the level whose
// limit refused a charge. Its oom_kill counter counts, in both, at the
// victim's cgroup whichever limit was reached: an OOM kill with no hit
// of its own was a limit above it (poold's cgroup's, a container's).
func (g *Group) MemoryLimitHits() (int, bool) {
	n, found := 0, false
	var buf [statusMax]byte
	if b, err := readStatus(filepath.Join(g.Dir, "memory.events"), &buf); err == nil {
		n, found = n+keyed(b, "oom"), true
	}
	for _, d := range g.v1 {
		if b, err := readStatus(filepath.Join(d, "memory.failcnt"), &buf); err == nil {
			if v, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				n, found = n+v, true
			}
		}
	}
	g.memSeen = n
	return n - g.memBase, found
}

// OOMBase is what OOMTotal said when g's current worker started in it
// (the kills of the workers it held before). Read it where the worker is
// taken on, before anything can end it.
func (g *Group) OOMBase() int { return g.oomBase }

// PidsRefused is how many forks (and thread starts) of the cgroup's
// processes a pids limit refused (pids.events max, v2 and v1) since the
// cgroup's current worker started in it: a worker that exits once a fork
// fails would otherwise look like one that fails on its own, or one that
// daemonizes when it leaves the processes it did start.
func (g *Group) PidsRefused() int {
	n := 0
	var buf [statusMax]byte
	for _, d := range append([]string{g.Dir}, g.v1...) {
		if b, err := readStatus(filepath.Join(d, "pids.events"), &buf); err == nil {
			n += keyed(b, "max")
		}
	}
	g.pidsSeen = n
	return n - g.pidsBase
}

// Remove closes and removes the cgroup, which must be empty.
func (g *Group) Remove() error {
	if g.fd > 0 {
		unix.Close(g.fd)
		g.fd = 0
	}
	var first error
	for _, d := range append([]string{g.Dir}, g.v1...) {
		if err := rmdir(d); err != nil && first == nil {
			first = fmt.Errorf("remove cgroup %s: %w", d, err)
		}
	}
	return first
}

// rmdir removes an empty cgroup, retrying briefly: the kernel may still be
// releasing the last exited task.
func rmdir(d string) error {
	var err error
	for i := 0; i < 50; i++ {
		err = unix.Rmdir(d)
		if err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if !errors.Is(err, unix.EBUSY) {
			return err
		}
		time.Sleep(2 * time.Millisecond)
	}
	return err
}

// PidsCurrent is how many pids (processes and threads) the cgroup's
// processes hold, as its pids controller counts them (pids.current, v2
// or v1); false when no pids controller counts for it.
func (g *Group) PidsCurrent() (int, bool) {
	var buf [statusMax]byte
	for _, d := range append([]string{g.Dir}, g.v1...) {
		b, err := readStatus(filepath.Join(d, "pids.current"), &buf)
		if err != nil {
			continue
		}
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			return n, true
		}
	}
	return 0, false
}

// AppendV2Path appends to out the cgroup v2 path of pid, as its
// /proc/PID/cgroup gives it ("/poold-app/w-web.1.7", below the cgroup
// namespace's root), read with buf; out as it was when pid is gone or
// has no v2 line. A stats sample reads it for each child of poold that
// is no worker (a worker's descendant that daemonized), to tell whose
// it is, so it allocates nothing beyond out's growth.
func AppendV2Path(out []byte, pid int, buf []byte) []byte {
	file := "/proc/" + strconv.Itoa(pid) + "/cgroup"
	fd, err := unix.Open(file, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return out
	}
	n, err := unix.Read(fd, buf)
	unix.Close(fd)
	if err != nil || n <= 0 {
		return out
	}
	b := buf[:n]
	if n == len(buf) { // maybe cut short: read it whole
		if b, err = os.ReadFile(file); err != nil {
			return out
		}
	}
	for line := range bytes.Lines(b) {
		if p, ok := bytes.CutPrefix(line, []byte("0::")); ok {
			return append(out, bytes.TrimRight(p, "\n")...)
		}
	}
	return out
}
