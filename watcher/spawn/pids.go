package spawn

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/poold/poold/watcher/cgroup"
)

// The pids reserve. A cgroup's pids.max (Docker --pids-limit, Kubernetes,
// systemd TasksMax) counts threads as well as processes, and the Go
// runtime aborts the whole of poold, workers and all, when it cannot
// create a thread it needs ("fatal error: newosproc"). A fork refused at
// the limit is harmless, but a limit that workers fill to the last pid
// leaves poold one thread away from that abort. So the spawner refuses a
// fork that would leave fewer than keptFree pids under any pids limit
// poold can see (its cgroup's and each visible ancestor's), as if the
// kernel had: EAGAIN, an ordinary spawn error of that slot. Workers that
// fork on their own can still eat the reserve; the limit needs room for
// them too.

// pidsReserve is how many more threads poold keeps room for under a
// limit: threads blocked in a syscall beyond its usual ones (those exist
// already and are counted in pids.current), a burst of /proc reads, the
// spawner's. Made ahead, its spare threads (threads.go) are part of it:
// poold keeps free only the rest (keptFree). Serving, poold has 15 to
// 17 threads with GOMAXPROCS 2, its spares included.
const pidsReserve = 16

// keptFree is how many pids poold keeps free under a limit: its reserve,
// less the spare threads made already, which are threads of it made ahead.
func keptFree() int { return pidsReserve - int(sparesMade.Load()) }

// pidsLimits are the cgroup directories whose pids.max bound poold, its
// own cgroup's first. Empty: no limit found (no pids controller).
type pidsLimits []string

// pidsWatch finds poold's pids limits again whenever poold has moved to
// another cgroup (a test, or a supervisor, may move it after it started).
// It runs before every fork, so it keeps its files open and reads each
// with one pread: /proc/self/cgroup and each limit's pids.max and
// pids.current. (With ReadFile's open, fstat, reads and close a check
// took 13 us here with no limit found, /proc/self/cgroup alone; with the
// pread 5 us: BenchmarkPidsCheck.) Owned by the spawner's goroutine;
// close releases the files.
type pidsWatch struct {
	self   *os.File // /proc/self/cgroup; nil until open, or where there is none
	cgroup string   // its text when limits were found
	limits pidsLimits
	files  []pidsFiles // limits' files, in the same order
	buf    []byte
	// skip is how many more checks may pass without a read, until
	// skipUntil: see check.
	skip      int
	skipUntil time.Time
	tightest  int // the least room a limit had at the last read; -1: none read
	reads     int // files read, for tests
}

// A check that finds room reads nothing for the next few forks: reading
// /proc/self/cgroup (the kernel formats every hierarchy under its
// css_set_lock) and the limits' files was about 3 % of poold's CPU in a
// spawn of 5,000 workers (perf, issue 18), for an answer that changes
// only when poold is moved or the limit fills. Up to pidsSkipMax forks,
// and never more than half of the room the tightest limit leaves above
// the reserve, within pidsSkipFor of the last read: so poold's own forks
// cannot eat the reserve between two reads, and a move to another
// cgroup is seen within that time or that many forks.
const (
	pidsSkipMax = 16
	pidsSkipFor = 100 * time.Millisecond
)

// pidsFiles are one limit's files; nil where they cannot be opened.
type pidsFiles struct{ max, cur *os.File }

// open opens /proc/self/cgroup (none when it cannot: no cgroups to bound
// poold) and the files of the limits it names, so that the spawner holds
// them from its start.
func (w *pidsWatch) open() {
	if w.self == nil {
		w.self, _ = os.Open("/proc/self/cgroup")
	}
	w.refresh()
}

// check refreshes the limits if poold moved, then checks them.
func (w *pidsWatch) check() error {
	now := time.Now()
	if w.skip > 0 && now.Before(w.skipUntil) {
		w.skip--
		return nil
	}
	w.skip = 0
	w.refresh()
	w.spares()
	if err := w.checkLimits(); err != nil {
		return err
	}
	w.skip, w.skipUntil = w.skippable(), now.Add(pidsSkipFor)
	return nil
}

// skippable is how many checks after one that found room may pass
// without a read: pidsSkipMax, or half of what the tightest limit
// leaves above the reserve if less.
func (w *pidsWatch) skippable() int {
	if w.tightest < 0 {
		return pidsSkipMax
	}
	return max(0, min(pidsSkipMax, (w.tightest-keptFree())/2))
}

// refresh finds the limits again if poold is in another cgroup than
// when it last looked.
func (w *pidsWatch) refresh() {
	cg, ok := w.read(w.self)
	if !ok {
		w.cgroup = ""
		w.closeLimits()
		return
	}
	if cg != w.cgroup {
		w.cgroup = cg
		w.setLimits(findPidsLimits(cg))
	}
}

// spares makes poold's spare threads (threads.go) once a limit is found
// with room for them, and tops them up as room is made: from the
// spawner's start, or the forks after a limit was set.
func (w *pidsWatch) spares() {
	if sparesMade.Load() >= spareThreads {
		return
	}
	if room, ok := w.room(); ok {
		keepSpares(room)
	}
}

// room is how many pids the tightest of the limits leaves free; false
// when there is no limit.
func (w *pidsWatch) room() (int, bool) {
	room, found := 0, false
	for i := range w.limits {
		max, okMax := w.readInt(w.files[i].max)
		cur, okCur := w.readInt(w.files[i].cur)
		if okMax && okCur && (!found || max-cur < room) {
			room, found = max-cur, true
		}
	}
	return room, found
}

// checkLimits checks each limit, as it reads now.
func (w *pidsWatch) checkLimits() error {
	if why := w.reached(); why != "" {
		return fmt.Errorf("fork: %w (%s)", syscall.EAGAIN, why)
	}
	return nil
}

// reached says which limit leaves no more than the reserve, as it reads
// now; "" when none does.
func (w *pidsWatch) reached() string { return w.short(0) }

// short says which limit leaves no more than the reserve and need pids
// more, as it reads now; "" when none does.
func (w *pidsWatch) short(need int) string {
	w.tightest = -1
	for i, dir := range w.limits {
		max, okMax := w.readInt(w.files[i].max)
		cur, okCur := w.readInt(w.files[i].cur)
		if okMax && okCur && (w.tightest < 0 || max-cur < w.tightest) {
			w.tightest = max - cur
		}
		if okMax && okCur && max-cur <= keptFree()+need {
			if need > 0 {
				return fmt.Sprintf("%d of pids.max %d are in use in cgroup %s: poold keeps the last %d for its own threads, "+
					"and needs %d more for this; raise pids.max or run fewer workers", cur, max, dir, keptFree(), need)
			}
			return pidsFull(dir, max, cur)
		}
	}
	return ""
}

// setLimits opens the files of limits, closing those of the last ones.
func (w *pidsWatch) setLimits(limits pidsLimits) {
	w.closeLimits()
	w.limits = limits
	for _, dir := range limits {
		open := func(name string) *os.File {
			f, _ := os.Open(filepath.Join(dir, name)) // unreadable: no limit to check
			return f
		}
		w.files = append(w.files, pidsFiles{max: open("pids.max"), cur: open("pids.current")})
	}
}

func (w *pidsWatch) closeLimits() {
	for _, f := range w.files {
		for _, x := range []*os.File{f.max, f.cur} {
			if x != nil {
				x.Close()
			}
		}
	}
	w.files, w.limits = nil, nil
}

// close releases every file the watch keeps open.
func (w *pidsWatch) close() {
	w.closeLimits()
	if w.self != nil {
		w.self.Close()
		w.self, w.cgroup = nil, ""
	}
}

// read reads f whole from its start with one pread (more when it does
// not fit the buffer); ok is false when it cannot.
func (w *pidsWatch) read(f *os.File) (string, bool) {
	if f == nil {
		return "", false
	}
	if w.buf == nil {
		w.buf = make([]byte, 4096)
	}
	w.reads++
	n, err := f.ReadAt(w.buf, 0)
	if err == nil && n == len(w.buf) { // longer than the buffer: read it all
		b, err := os.ReadFile(f.Name())
		return string(b), err == nil
	}
	if err != nil && err != io.EOF {
		return "", false
	}
	return string(w.buf[:n]), true
}

// readInt reads a number file such as pids.max; false for "max" or when
// it cannot be read.
func (w *pidsWatch) readInt(f *os.File) (int, bool) {
	s, ok := w.read(f)
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	return n, err == nil
}

// findPidsLimits finds the cgroup directories of the pids limits of a
// process whose /proc/PID/cgroup reads self: cgroup v1's pids
// hierarchy when mounted, else v2's; nil when there is none.
func findPidsLimits(self string) pidsLimits {
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	dir, mnt, ok := pidsCgroupDir(self, string(mi))
	if !ok {
		return nil
	}
	var limits pidsLimits
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "pids.max")); err == nil {
			limits = append(limits, d) // a cgroup v2 root has none
		}
		if d == mnt || d == "/" || d == "." {
			return limits
		}
	}
}

// pidsCgroupDir finds poold's cgroup directory in the pids hierarchy, and
// where that hierarchy is mounted, from the text of /proc/self/cgroup and
// /proc/self/mountinfo.
func pidsCgroupDir(self, mountinfo string) (dir, mnt string, ok bool) {
	var v1, v2 string
	haveV1, haveV2 := false, false
	for _, line := range strings.Split(self, "\n") {
		// hierarchy-ID:controller-list:cgroup-path
		id, rest, _ := strings.Cut(line, ":")
		ctrls, path, found := strings.Cut(rest, ":")
		switch {
		case !found:
		case id == "0" && ctrls == "":
			v2, haveV2 = path, true
		case hasWord(ctrls, "pids"):
			v1, haveV1 = path, true
		}
	}
	for _, m := range cgroup.Mounts(mountinfo) {
		switch {
		case haveV1 && m.FSType == "cgroup" && hasWord(m.Super, "pids"):
			return cgroup.Under(m.Point, m.Root, v1)
		case haveV2 && !haveV1 && m.FSType == "cgroup2":
			return cgroup.Under(m.Point, m.Root, v2)
		}
	}
	return "", "", false
}

func hasWord(list, w string) bool {
	for _, x := range strings.Split(list, ",") {
		if x == w {
			return true
		}
	}
	return false
}

// pidsFull says which limit is reached and what to do.
func pidsFull(dir string, max, cur int) string {
	return fmt.Sprintf("%d of pids.max %d are in use in cgroup %s, and poold keeps the last %d "+
		"for its own threads; raise pids.max or run fewer workers", cur, max, dir, keptFree())
}

// PidsLimitReached names the pids limit of poold's cgroups that has no
// room left, as the limits read now, and what to do ("": none is
// reached): for a fork poold makes outside the spawner (an upgrade's
// pre-flight) that failed with EAGAIN, the reason a worker's spawn gives.
func PidsLimitReached() string { return PidsShort(0) }

// PidsShort is PidsLimitReached for a fork that needs need pids beyond
// poold's reserve (the new binary of an upgrade's pre-flight: a Go
// program with threads of its own).
func PidsShort(need int) string {
	var w pidsWatch
	w.open()
	defer w.close()
	return w.short(need)
}

// PidsBudget is how poold's tightest pids limit divides (PidsLimit).
type PidsBudget struct {
	Cgroup string // the limit's cgroup directory
	Max    int    // its pids.max
	InUse  int    // its pids.current: poold's threads, the workers and their processes and threads
	Poold  int    // poold's own threads, its spare threads included
	Kept   int    // the pids poold keeps free for more of its threads
	Left   int    // what Poold and Kept leave for workers, running ones included, and what they start
}

// PidsLimit says how the tightest of poold's pids limits divides, as it
// reads now; false when there is none.
func PidsLimit() (PidsBudget, bool) {
	var w pidsWatch
	w.open()
	defer w.close()
	return w.budget(ownThreads())
}

// budget says how the tightest of w's limits divides, as they read now,
// for a poold of threads threads.
func (w *pidsWatch) budget(threads int) (PidsBudget, bool) {
	var b PidsBudget
	found := false
	for i, dir := range w.limits {
		max, okMax := w.readInt(w.files[i].max)
		cur, okCur := w.readInt(w.files[i].cur)
		if okMax && okCur && (!found || max-cur < b.Max-b.InUse) {
			b, found = PidsBudget{Cgroup: dir, Max: max, InUse: cur}, true
		}
	}
	b.Poold, b.Kept = threads, keptFree()
	b.Left = max(0, b.Max-b.Poold-b.Kept)
	return b, found
}

// ownThreads counts poold's threads (/proc/self/task); 0 when it cannot.
func ownThreads() int {
	tasks, _ := os.ReadDir("/proc/self/task")
	return len(tasks)
}
