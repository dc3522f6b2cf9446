package procinfo

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// GroupMembers lists the live processes (zombies left out) of process
// group pgid, from one pass over /proc: what a worker without a cgroup
// left in its process group once it ended. A pass reads every process's
// stat file, so callers ask only when kill(-pgid, 0) says the group is
// there at all.
func GroupMembers(pgid int) []int {
	pids, err := listPids("/proc")
	if err != nil {
		return nil
	}
	return InGroup(pgid, pids)
}

// InGroup keeps of pids the live processes (zombies left out) of process
// group pgid.
func InGroup(pgid int, pids []int) []int {
	buf := make([]byte, statBufSize)
	var out []int
	for _, pid := range pids {
		b, err := readSmall("/proc/"+strconv.Itoa(pid)+"/stat", buf)
		if err != nil {
			continue // ended meanwhile
		}
		if state, pg, ok := stateAndGroup(b); ok && pg == pgid && state != 'Z' && state != 'X' {
			out = append(out, pid)
		}
	}
	return out
}

// StillIn keeps of pids those that are still in process group pgid, or
// ended: after a kill of the group, the ones it reached, leaving out
// those that left the group first (setsid).
func StillIn(pgid int, pids []int) []int {
	buf := make([]byte, statBufSize)
	var out []int
	for _, pid := range pids {
		b, err := readSmall("/proc/"+strconv.Itoa(pid)+"/stat", buf)
		if err != nil {
			out = append(out, pid) // ended and reaped
			continue
		}
		if state, pg, ok := stateAndGroup(b); !ok || pg == pgid || state == 'Z' || state == 'X' {
			out = append(out, pid)
		}
	}
	return out
}

// Children lists the children of pid, of all its threads (a subreaper's
// orphans go to one of them), from /proc/<pid>/task/*/children: a read
// per thread, not a pass over every process.
func Children(pid int) []int {
	var out []int
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, t.Name()))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

// Describe names each pid with its command line, for a log line:
// "812 (sleep 3600), 813 (sh -c ...)"; one in the middle of an exec by
// its name at least, and each cut at 80 bytes.
func Describe(pids []int) string {
	out := make([]string, 0, len(pids))
	for _, p := range pids {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p))
		cmd := strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
		if cmd == "" {
			b, _ = os.ReadFile(fmt.Sprintf("/proc/%d/comm", p))
			cmd = strings.TrimSpace(string(b))
		}
		if len(cmd) > 80 {
			cmd = cmd[:80] + "..."
		}
		out = append(out, fmt.Sprintf("%d (%s)", p, cmd))
	}
	return strings.Join(out, ", ")
}

// stateAndGroup reads the state (field 3) and process group (field 5) of
// a /proc/<pid>/stat line; fields are counted after the command name's
// last ')', which may hold spaces and parentheses.
func stateAndGroup(b []byte) (state byte, pgrp int, ok bool) {
	end := bytes.LastIndexByte(b, ')')
	if end < 0 {
		return 0, 0, false
	}
	f := bytes.Fields(b[end+1:])
	if len(f) < 3 || len(f[0]) != 1 {
		return 0, 0, false
	}
	pg, err := strconv.Atoi(string(f[2]))
	if err != nil {
		return 0, 0, false
	}
	return f[0][0], pg, true
}

// Member is what tells whose a live process is: its process group, its
// parent and when it started (clock ticks since boot).
type Member struct {
	Pgrp, PPid int
	Start      uint64
}

// MemberOf reads pid's Member; ErrEnded for a zombie.
func MemberOf(pid int) (Member, error) {
	b, err := readSmall("/proc/"+strconv.Itoa(pid)+"/stat", make([]byte, statBufSize))
	if err != nil {
		return Member{}, err
	}
	state, pg, ok := stateAndGroup(b)
	if !ok {
		return Member{}, errStatLine
	}
	if state == 'Z' || state == 'X' {
		return Member{}, ErrEnded
	}
	st, err := parseStat(pid, b)
	if err != nil {
		return Member{}, err
	}
	return Member{Pgrp: pg, PPid: st.PPID, Start: st.Starttime}, nil
}
