// Package procinfo samples process statistics (CPU, memory, owner, process
// tree) from /proc through github.com/prometheus/procfs, and shapes them as
// the process info object of PROTOCOL.md.
//
// Concurrency contract: a Sampler is a small shared leaf. All its methods are
// safe for concurrent use; one mutex guards its state and is held for the
// whole of a call, I/O included (about 25 ms with 1,000 processes on the
// host; 70 ms when all 1,000 are new), so a command handler that asks while
// the stats goroutine samples waits that long at most. Callers must not hold
// it from an event loop that may not block. A Sample with many files to
// read reads them from a few goroutines of its own and waits for them
// before it returns (parallel.go): nothing outlives a call.
//
// CPU percentage: the Sampler remembers, per pid, the CPU time and the
// monotonic wall time of a baseline. cpu is the CPU time used between the
// baseline and now, over the wall time between them, in percent of one core.
// The first time a pid is seen, cpu is its lifetime average (CPU time over
// age), which is what a one-off `stats` command wants and is close to the
// truth for a process that just started. The baseline moves only when it is
// at least MinCPUInterval old; a call sooner than that (a command handler
// asking between two ticks of the stats loop) gets the last computed value
// and leaves the baseline alone, so concurrent callers with different rhythms
// do not make each other's figures noisy.
//
// Forgetting: each Sample scans /proc, so a remembered pid that is no longer
// there (or whose start time changed: the pid was reused) is forgotten at
// once. A pid that is alive but no longer asked about, directly or as a
// descendant, is forgotten after ForgetAfter; it is not dropped at the first
// sample that omits it, because a command handler sampling one pid must not
// reset the baselines of the stats loop's thousand.
package procinfo

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/procfs"
	"golang.org/x/sys/unix"
)

const (
	// userHZ is the kernel's USER_HZ, the unit of CPU and start times in
	// /proc/<pid>/stat. It is 100 on every Linux architecture poold targets
	// (procfs assumes the same).
	userHZ = 100

	// MinCPUInterval is the shortest wall time over which cpu is computed.
	// CPU time has a resolution of 10 ms, so shorter intervals are noise.
	MinCPUInterval = 500 * time.Millisecond

	// ForgetAfter is how long an alive pid that nobody asks about is kept.
	ForgetAfter = 30 * time.Second

	// identitySettle is the age at which a process's argv and owner are read
	// a second time, if first read earlier: a starting process may still set
	// its title or drop privileges. After that they are not read again.
	identitySettle = 5 * time.Second

	// maxDepth bounds the process tree walk (a racy read can, in theory,
	// produce a parent cycle through a reused pid).
	maxDepth = 64
)

// ErrNoProcess is returned (wrapped) for a pid that does not exist.
var ErrNoProcess = errors.New("no such process")

// Sampler reads process statistics and remembers what it needs between
// samples to compute CPU percentages. The zero value is not usable; use New.
type Sampler struct {
	root string // proc mount point
	// dir is root as its reads take it: open during SampleWith and
	// ReadTreeUsage (procdir.go), by path otherwise. Guarded by mu.
	dir procDir

	// now and sinceBoot are the clocks: wall time (with its monotonic
	// reading) and time since boot, the kernel's clock for process start
	// times. Tests may replace them.
	now       func() time.Time
	sinceBoot func() (time.Duration, error)

	mu       sync.Mutex
	ready    bool
	fs       procfs.FS
	bootTime float64 // unix seconds
	bootKept float64 // a boot time given by SetBootTime; 0: none
	memTotal uint64  // bytes
	pageSize uint64
	byPidfd  bool // owners are read through pidfds (owner.go)
	procs    map[int]*tracked
	users    map[uint64]string
	idBuf    []byte           // readIdentity's, allocated at its first use
	fetched  map[int]identity // argv and owners read ahead for this Sample

	// The process trees as of the last full scan.
	children map[int][]int
	scanned  map[int]bool
	scanAt   time.Time
}

// tracked is what the Sampler remembers about one process.
type tracked struct {
	starttime uint64 // ticks after boot; tells a reused pid apart

	ticks uint64    // utime+stime at the CPU baseline
	at    time.Time // wall time of the CPU baseline
	cpu   float64   // last computed percentage
	seen  time.Time // last time the pid was asked about

	identityDone bool
	identityAge  float64 // the process's age when argv and owner were read
	argv         []string
	program      string // programName of argv, "" without one
	username     string
}

// New returns a Sampler reading the /proc filesystem. It does no I/O; /proc
// is first touched by the first sample.
func New() *Sampler {
	return NewAt(procfs.DefaultMountPoint)
}

// NewAt is New for procfs mounted at root.
func NewAt(root string) *Sampler {
	return &Sampler{
		root:      root,
		dir:       procDir{path: root, fd: -1},
		now:       time.Now,
		sinceBoot: sinceBoot,
		procs:     make(map[int]*tracked),
		users:     make(map[uint64]string),
	}
}

func sinceBoot() (time.Duration, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return 0, fmt.Errorf("procinfo: clock_gettime(CLOCK_BOOTTIME): %w", err)
	}
	return time.Duration(ts.Nano()), nil
}

// init reads what does not change while the system runs: boot time, memory
// size, page size, whether owners can be read through pidfds. Must hold
// s.mu.
func (s *Sampler) init() error {
	if s.ready {
		return nil
	}
	pfs, err := procfs.NewFS(s.root)
	if err != nil {
		return fmt.Errorf("procinfo: open proc filesystem %s: %w (is /proc mounted?)", s.root, err)
	}
	st, err := pfs.Stat()
	if err != nil {
		return fmt.Errorf("procinfo: read %s: %w", filepath.Join(s.root, "stat"), err)
	}
	mi, err := pfs.Meminfo()
	if err != nil {
		return fmt.Errorf("procinfo: read %s: %w", filepath.Join(s.root, "meminfo"), err)
	}
	if mi.MemTotalBytes == nil || *mi.MemTotalBytes == 0 {
		return fmt.Errorf("procinfo: read %s: no MemTotal", filepath.Join(s.root, "meminfo"))
	}
	s.fs = pfs
	s.bootTime = float64(st.BootTime)
	if s.bootKept > 0 {
		s.bootTime = s.bootKept
	}
	s.memTotal = *mi.MemTotalBytes
	s.pageSize = uint64(os.Getpagesize())
	s.byPidfd = pidfdOwners(s.root)
	s.ready = true
	return nil
}

// BootTime is the boot time start times are counted from, unix seconds.
func (s *Sampler) BootTime() (float64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.init(); err != nil {
		return 0, err
	}
	return s.bootTime, nil
}

// SetBootTime makes start times count from bt rather than the boot time
// the kernel gives now, which moves each time the wall clock is stepped
// (an NTP sync after boot): an upgraded image keeps its predecessor's, so
// that poold's own start time, by which clients tell an upgrade from a
// restart, and its workers' stay what they were.
func (s *Sampler) SetBootTime(bt float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bootKept = bt
	if s.ready {
		s.bootTime = bt
	}
}

// clock is one reading of both clocks, taken once per sample.
type clock struct {
	now       time.Time
	sinceBoot time.Duration
}

func (s *Sampler) readClock() (clock, error) {
	up, err := s.sinceBoot()
	if err != nil {
		return clock{}, err
	}
	return clock{now: s.now(), sinceBoot: up}, nil
}

// Sample returns the info of each pid in pids that exists, with its process
// tree in Children. A pid that does not exist (or vanishes while being read)
// is absent from the map. WID is left 0 for the caller to fill. The error is
// for a /proc that cannot be read at all.
//
// Each call scans every process in /proc once, to find parents and children
// (the kernel's /proc/<pid>/task/<tid>/children needs CONFIG_PROC_CHILDREN,
// which many kernels lack, and must be read per thread): its cost is one
// read of /proc/<pid>/stat per process on the host, whatever len(pids) is,
// plus /proc/<pid>/cmdline and status for processes seen for the first time
// or settling (see identitySettle).
func (s *Sampler) Sample(pids []int) (map[int]Info, error) {
	return s.SampleWith(pids, nil)
}

// SampleWith is Sample that also lists under each pid the processes of
// members[pid] (its cgroup's, see Members) that its process tree by
// parent misses.
func (s *Sampler) SampleWith(pids []int, members Members) (map[int]Info, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.init(); err != nil {
		return nil, err
	}
	clk, err := s.readClock()
	if err != nil {
		return nil, err
	}
	s.dir = openProcDir(s.root)
	defer func() { s.dir = s.dir.closeDir() }()

	stats, children, tried, err := s.read(pids, members, clk.now)
	if err != nil {
		return nil, err
	}

	s.prefetchIdentities(pids, stats, children, clk)
	defer func() { s.fetched = nil }()
	if len(s.procs) == 0 {
		// The first sample of many pids: the map made once at its
		// size, not grown (and rehashed) along the way.
		s.procs = make(map[int]*tracked, len(pids))
	}
	out := make(map[int]Info, len(pids))
	flat := make(map[int]*Info, len(pids))
	for _, pid := range pids {
		if _, ok := stats[pid]; !ok {
			continue
		}
		in := s.tree(pid, stats, children, flat, clk, 0)
		if ms := members[pid]; len(ms) > 0 {
			in.Children = s.adopt(in, ms, stats, children, flat, clk)
		}
		out[pid] = in
	}
	s.prune(clk.now, stats, tried)
	return out, nil
}

// tree returns the info of pid with its descendants, computing each pid's
// own figures once per sample (flat caches them).
func (s *Sampler) tree(pid int, stats map[int]procfs.ProcStat, children map[int][]int, flat map[int]*Info, clk clock, depth int) Info {
	own, ok := flat[pid]
	if !ok {
		in := s.info(pid, stats[pid], clk)
		own = &in
		flat[pid] = own
	}
	in := *own
	in.Children = []Info{}
	if depth >= maxDepth {
		return in
	}
	kids := children[pid]
	slices.Sort(kids)
	for _, k := range kids {
		if st, alive := stats[k]; k == pid || !alive || st.PPID != pid {
			// A child that exited since the last full scan, or whose
			// pid another process took since: its memory would count
			// against the worker's limits.
			continue
		}
		in.Children = append(in.Children, s.tree(k, stats, children, flat, clk, depth+1))
	}
	return in
}

// Info returns the info of one process with its process tree. A pid that
// does not exist gives an error wrapping ErrNoProcess.
func (s *Sampler) Info(pid int) (Info, error) {
	m, err := s.Sample([]int{pid})
	if err != nil {
		return Info{}, err
	}
	in, ok := m[pid]
	if !ok {
		return Info{}, fmt.Errorf("procinfo: pid %d: %w", pid, ErrNoProcess)
	}
	return in, nil
}

// Self returns poold's own info (the dstats command, the stat.poold.<pid>
// topic). Children is left empty, as in Circus: poold's children are the
// workers, reported on their own. It reads only poold's own files.
func (s *Sampler) Self() (Info, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.init(); err != nil {
		return Info{}, err
	}
	clk, err := s.readClock()
	if err != nil {
		return Info{}, err
	}
	pid := os.Getpid()
	p, err := s.fs.Proc(pid)
	if err != nil {
		return Info{}, fmt.Errorf("procinfo: pid %d (self): %w", pid, err)
	}
	st, err := p.Stat()
	if err != nil {
		return Info{}, fmt.Errorf("procinfo: read %s: %w", filepath.Join(s.root, strconv.Itoa(pid), "stat"), err)
	}
	in := s.info(pid, st, clk)
	in.Children = []Info{}
	return in, nil
}

// info computes one process's own figures and updates what the Sampler
// remembers about it. Must hold s.mu.
func (s *Sampler) info(pid int, st procfs.ProcStat, clk clock) Info {
	ticks := uint64(st.UTime) + uint64(st.STime)
	age := ageOf(st, clk)

	ps := s.procs[pid]
	if ps == nil || ps.starttime != st.Starttime {
		ps = &tracked{starttime: st.Starttime, ticks: ticks, at: clk.now}
		if age > 0 {
			ps.cpu = float64(ticks) / userHZ / age * 100
		}
		s.procs[pid] = ps
	} else if dt := clk.now.Sub(ps.at); dt >= MinCPUInterval {
		var used uint64
		if ticks > ps.ticks {
			used = ticks - ps.ticks
		}
		ps.cpu = float64(used) / userHZ / dt.Seconds() * 100
		ps.ticks, ps.at = ticks, clk.now
	}
	ps.seen = clk.now
	if identityDue(ps, st, age) {
		s.readIdentity(pid, ps, age)
	}

	rss := uint64(max(st.RSS, 0)) * s.pageSize
	vms := uint64(st.VSize)
	created := s.bootTime + float64(st.Starttime)/userHZ
	in := Info{
		PID:        pid,
		Cmdline:    cmp.Or(ps.program, st.Comm),
		Username:   ps.username,
		Nice:       st.Nice,
		CPU:        Float(round1(ps.cpu)),
		Mem:        Float(round3(float64(rss) / float64(s.memTotal) * 100)),
		MemInfo1:   HumanSize(rss),
		MemInfo2:   HumanSize(vms),
		Ctime:      formatCPUTime(ticks),
		CreateTime: Float(created),
		Age:        Float(age),
		Started:    created,
		RSS:        rss,
		VMS:        vms,
		CPUUser:    float64(st.UTime) / userHZ,
		CPUSystem:  float64(st.STime) / userHZ,
		PPID:       st.PPID,
		Threads:    st.NumThreads,
		ProcState:  stateName(st.State),
		Argv:       slices.Clone(ps.argv), // the caller may keep or change it
	}
	if in.Argv == nil {
		in.Argv = []string{}
	}
	return in
}

// readIdentity reads argv and owner (the real uid, as psutil's
// username), or takes them from what prefetchIdentities read. A failure
// (the process exited, or /proc is restricted) leaves the previous
// values; it is retried next time. Must hold s.mu.
func (s *Sampler) readIdentity(pid int, ps *tracked, age float64) {
	id, ok := s.fetched[pid]
	if !ok {
		if s.idBuf == nil {
			s.idBuf = make([]byte, idBufSize)
		}
		id = readIdentityOf(s.dir, pid, s.byPidfd, s.idBuf)
	}
	if id.err != nil {
		return
	}
	ps.argv = id.argv
	ps.program = programName(id.argv, "")
	ps.username = s.username(id.uid)
	ps.identityDone = true
	ps.identityAge = age
}

// pidDir is /proc/<pid>.
func (s *Sampler) pidDir(pid int) string { return filepath.Join(s.root, strconv.Itoa(pid)) }

// username resolves a uid once and remembers it. Must hold s.mu.
func (s *Sampler) username(uid uint64) string {
	if name, ok := s.users[uid]; ok {
		return name
	}
	id := strconv.FormatUint(uid, 10)
	name := id
	if u, err := user.LookupId(id); err == nil {
		name = u.Username
	}
	s.users[uid] = name
	return name
}

// prune forgets pids that are gone or reused, and pids nobody asked about
// for ForgetAfter. Only pids in tried were looked at (nil: all were).
// Must hold s.mu.
func (s *Sampler) prune(now time.Time, alive map[int]procfs.ProcStat, tried map[int]bool) {
	for pid, ps := range s.procs {
		st, ok := alive[pid]
		looked := tried == nil || tried[pid]
		if looked && (!ok || st.Starttime != ps.starttime) || now.Sub(ps.seen) > ForgetAfter {
			delete(s.procs, pid)
		}
	}
}

// programName is Circus's cmdline: the base name of the first word of
// argv[0] ("/usr/bin/python3 -u app.py" gives "python3"), or the kernel's
// comm for a process without argv.
func programName(argv []string, comm string) string {
	if len(argv) == 0 {
		return comm
	}
	first := strings.Fields(argv[0])
	if len(first) == 0 {
		return comm
	}
	return filepath.Base(first[0])
}
