package launch

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"
)

// The mark every worker carries in its environment, and with it whatever
// it starts that keeps its environment: which config it runs for and
// which poold started it. Without cgroups it is how a poold started again
// on a config tells what a previous one, killed, left holding its
// sockets (arbiter/leftsweep.go): those that carry the config's id and
// were started by a poold that is gone.
const (
	// EnvConfigID is the config's id (ConfigID), the same for every poold
	// run on that file, also through a symlink to it.
	EnvConfigID = "POOLD_CONFIG_ID"
	// EnvStartedBy is "PID:START" of the poold that started the worker:
	// its pid and its start time in clock ticks after boot (field 22 of
	// /proc/PID/stat), which an in-place upgrade (an exec) keeps, and
	// which a process given the pid later does not have.
	EnvStartedBy = "POOLD_STARTED_BY"
)

// configIDLen is the length of a config id: 64 bits of a sha256, in hex.
const configIDLen = 16

// ConfigPath is path as a config's identity: absolute, with every
// symlink resolved (as far as it can be), so that a poold started through
// a symlink is one of its target's config.
func ConfigPath(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	}
	return path
}

// ConfigID is the id of the config file at path: the first 64 bits of
// the sha256 of its ConfigPath, in hex, whose first 8 digits end the name
// of the config's cgroup tree. "" for a config without a file.
func ConfigID(path string) string {
	if path == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(ConfigPath(path)))
	return hex.EncodeToString(sum[:configIDLen/2])
}

// MarkEnv is the mark of the workers of config id, started by the poold
// with pid that started at start.
func MarkEnv(id string, pid int, start uint64) []string {
	return []string{EnvConfigID + "=" + id, fmt.Sprintf("%s=%d:%d", EnvStartedBy, pid, start)}
}

// longestMark is the mark at its longest, for the exec size check.
var longestMark = MarkEnv(strings.Repeat("f", configIDLen), math.MaxInt32, math.MaxUint64)

// Mark is what a process's environment says of where it comes from.
type Mark struct {
	ConfigID string
	// Pid and Start: the poold that started it (EnvStartedBy); Pid 0
	// when the environment does not say.
	Pid   int
	Start uint64
	// Worker: POOLD_WATCHER and POOLD_WID are there, as every worker has them.
	Worker bool
}

// ReadMark reads the mark in environ, the contents of a /proc/PID/environ
// (NUL-separated); the first of a name counts, as for getenv.
func ReadMark(environ []byte) Mark {
	var m Mark
	seen := map[string]bool{}
	for kv := range bytes.SplitSeq(environ, []byte{0}) {
		k, v, _ := bytes.Cut(kv, []byte{'='})
		key := string(k)
		if seen[key] {
			continue
		}
		seen[key] = true
		switch key {
		case EnvConfigID:
			m.ConfigID = string(v)
		case EnvStartedBy:
			p, s, ok := strings.Cut(string(v), ":")
			pid, err1 := strconv.Atoi(p)
			start, err2 := strconv.ParseUint(s, 10, 64)
			if ok && err1 == nil && err2 == nil && pid > 0 {
				m.Pid, m.Start = pid, start
			}
		}
	}
	m.Worker = seen["POOLD_WATCHER"] && seen["POOLD_WID"]
	return m
}
