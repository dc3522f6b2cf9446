package procinfo

import (
	"bytes"
	"strconv"
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
