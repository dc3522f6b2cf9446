package procinfo

import (
	"slices"
)

// Info is one process's statistics, shaped as the PROTOCOL.md process info
// object. The first block of fields is the Circus contract (names and JSON
// types must not change); the second block is what poold adds.
type Info struct {
	PID int `json:"pid"`
	// WID is the worker's slot number. The sampler cannot know it and leaves
	// it 0; the caller fills it in.
	WID int `json:"wid"`
	// Cmdline is what Circus puts there: the base name of the program
	// (first word of argv[0]), e.g. "python3". The full argv is in Argv.
	// For a process with no argv (zombie, kernel thread) it is the kernel's
	// comm name.
	Cmdline string `json:"cmdline"`
	// Username owns the process (real uid); the numeric uid when the user
	// database has no name for it.
	Username string `json:"username"`
	Nice     int    `json:"nice"`
	// CPU is the percentage of one core used since the previous sample of
	// this pid (can exceed 100 for a multi-threaded process); see Sampler.
	CPU Float `json:"cpu"`
	// Mem is RSS as a percentage of physical memory (MemTotal), rounded
	// to 0.001 as Circus does (a small worker is not 0).
	Mem Float `json:"mem"`
	// MemInfo1 is RSS and MemInfo2 is virtual size, formatted by HumanSize.
	MemInfo1 string `json:"mem_info1"`
	MemInfo2 string `json:"mem_info2"`
	// Ctime is user+system CPU time as "M:SS.cc".
	Ctime string `json:"ctime"`
	// CreateTime is when the kernel started the process, unix seconds: a
	// Float, because Circus's is a float even on a whole second.
	CreateTime Float `json:"create_time"`
	// Age is seconds since the process started (by the kernel's clock,
	// not CreateTime, so it is exact even for a process a few ms old).
	Age Float `json:"age"`
	// Started is when poold spawned the process, unix seconds. The sampler
	// sets it to CreateTime; a caller that knows its spawn time may overwrite.
	Started float64 `json:"started"`
	// Children holds the process's children, each with its own children:
	// the worker's whole process tree. Never nil, so it encodes as [].
	Children []Info `json:"children"`

	// RSS and VMS are the raw byte counts behind MemInfo1 and MemInfo2.
	RSS uint64 `json:"rss"`
	VMS uint64 `json:"vms"`
	// CPUUser and CPUSystem are the lifetime CPU times in seconds.
	CPUUser   float64 `json:"cpu_user"`
	CPUSystem float64 `json:"cpu_system"`
	PPID      int     `json:"ppid"`
	Threads   int     `json:"num_threads"`
	// ProcState is the kernel's scheduling state in psutil's words:
	// running, sleeping, disk-sleep, stopped, zombie, ...
	ProcState string `json:"proc_state"`
	// Argv is the full command line.
	Argv []string `json:"argv"`
	// FDs and FDLimit are the open file descriptors and the soft
	// RLIMIT_NOFILE (-1: none), only when asked for (AddFDs: stats
	// --extended), as counting them reads a directory per process.
	FDs     *int   `json:"fds,omitempty"`
	FDLimit *int64 `json:"fds_limit,omitempty"`
}

// Peak is the largest resident memory and the largest CPU of any one
// process among a worker and the processes it started, and whose they
// are.
type Peak struct {
	RSS    uint64
	RSSPid int
	CPU    float64
	CPUPid int
}

// Peak finds in in and every process listed under it the one with the
// most resident memory and the one with the most CPU: what a worker's
// resource limits judge, as Circus's resource watcher does with
// process_children. A sum would count every page a forked worker still
// shares with its master once per process (a gunicorn --preload pool of
// 8 over a 300 MiB app reads 2.7 GiB) and add the CPU of busy, healthy
// workers into one figure.
func (in Info) Peak() Peak {
	pk := Peak{RSS: in.RSS, RSSPid: in.PID, CPU: float64(in.CPU), CPUPid: in.PID}
	for _, c := range in.Children {
		cp := c.Peak()
		if cp.RSS > pk.RSS {
			pk.RSS, pk.RSSPid = cp.RSS, cp.RSSPid
		}
		if cp.CPU > pk.CPU {
			pk.CPU, pk.CPUPid = cp.CPU, cp.CPUPid
		}
	}
	return pk
}

// Aggregate summarises one watcher's processes for the `stat.<watcher>`
// stats topic, as Circus does: pid (sorted pids), cpu (mean of the
// processes' cpu), mem (sum of their mem) and age (the oldest). Children are
// not counted, matching Circus. With no processes every number is 0 and pid
// is an empty list. The caller adds `name`.
func Aggregate(infos []Info) map[string]any {
	pids := make([]int, 0, len(infos))
	var cpu, mem float64
	var age Float
	for _, in := range infos {
		pids = append(pids, in.PID)
		cpu += float64(in.CPU)
		mem += float64(in.Mem)
		age = max(age, in.Age)
	}
	slices.Sort(pids)
	if len(infos) > 0 {
		cpu /= float64(len(infos))
	}
	return map[string]any{
		"pid": pids,
		"cpu": Float(round1(cpu)),
		"mem": Float(round3(mem)),
		"age": age,
	}
}

// procStates maps the kernel's state letter to psutil's status names.
var procStates = map[string]string{
	"R": "running",
	"S": "sleeping",
	"D": "disk-sleep",
	"T": "stopped",
	"t": "tracing-stop",
	"Z": "zombie",
	"X": "dead",
	"x": "dead",
	"K": "wake-kill",
	"W": "waking",
	"P": "parked",
	"I": "idle",
}

func stateName(letter string) string {
	if s, ok := procStates[letter]; ok {
		return s
	}
	return letter
}
