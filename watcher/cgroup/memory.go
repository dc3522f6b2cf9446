package cgroup

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
)

// Memory says where the kernel counts a worker's cgroup's memory against
// its memory_max, so that a reader off the arbiter's loop can read it
// (Read) without the Group, which the loop owns. What it counts is the
// charge of the worker and of everything it started: anonymous memory,
// page cache, kernel memory, a page shared by a master and its forked
// children once; not the RSS that stats sums per process. Its zero value
// (no memory limit) reads nothing.
type Memory struct {
	Dir string // v2: the cgroup's directory; v1: its memory hierarchy's; "" none
	V1  bool   // a hybrid host's v1 memory controller counts it
	Max uint64 // the limit poold wrote, bytes
	// peakOfOthers: a v2 cgroup that held an earlier worker (parked and
	// taken again): memory.peak is then that worker's too, and v2 has
	// no reset of it that others see (a write resets it for the writer's
	// open file only).
	peakOfOthers bool
	// the files Read reads, joined once: a sample reads them for every
	// worker under a memory_max
	current, peak string
}

// memoryAt is the Memory of a cgroup whose memory files are in dir.
func memoryAt(dir string, v1 bool, max uint64) Memory {
	m := Memory{Dir: dir, V1: v1, Max: max}
	m.current, m.peak = filepath.Join(dir, "memory.current"), filepath.Join(dir, "memory.peak")
	if v1 {
		m.current, m.peak = filepath.Join(dir, "memory.usage_in_bytes"), filepath.Join(dir, "memory.max_usage_in_bytes")
	}
	return m
}

// MemoryUse is what Read found: Current, the charge now (v2
// memory.current, v1 memory.usage_in_bytes); Peak, its highest since the
// worker started (v2 memory.peak, v1 memory.max_usage_in_bytes), when
// HasPeak (a kernel before 5.19 has no memory.peak; see peakOfOthers).
type MemoryUse struct {
	Current, Peak, Max uint64
	HasPeak            bool
}

// Memory is where g's memory is counted; the zero Memory when g has no
// memory limit.
func (g *Group) Memory() Memory { return g.mem }

// Read reads the cgroup's memory figures: two small files, under 10 us
// each (BenchmarkMemoryRead). False when m is the zero Memory or the
// cgroup is gone.
func (m Memory) Read() (MemoryUse, bool) {
	if m.Dir == "" {
		return MemoryUse{}, false
	}
	var buf [statusMax]byte
	u := MemoryUse{Max: m.Max}
	var ok bool
	if u.Current, ok = readNumber(m.current, &buf); !ok {
		return MemoryUse{}, false
	}
	if !m.peakOfOthers {
		u.Peak, u.HasPeak = readNumber(m.peak, &buf)
	}
	return u, true
}

// readNumber reads a file that holds one number.
func readNumber(path string, buf *[statusMax]byte) (uint64, bool) {
	b, err := readStatus(path, buf)
	if err != nil {
		return 0, false
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 || len(b) > 19 { // "max" is no number; 19 digits fit
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}

// restartPeak makes the peak of a parked cgroup taken again count from
// now: v1 resets memory.max_usage_in_bytes on a write of 0; v2's
// memory.peak cannot be reset for other readers, so its peak is not
// shown for this worker.
func (g *Group) restartPeak() {
	if g.mem.Dir == "" {
		return
	}
	if !g.mem.V1 {
		g.mem.peakOfOthers = true
		return
	}
	err := os.WriteFile(g.mem.peak, []byte("0"), 0)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		g.mem.peakOfOthers = true
	}
}
