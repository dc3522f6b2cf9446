package spawn

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// The exec shim. Go cannot run code between fork and exec, yet a worker's
// LISTEN_PID must be its own pid, and umask and rlimits must be set in the
// child alone. Where /bin/sh's builtins cannot do it (rlimits, or no
// /bin/sh), poold starts the worker through itself: the child runs poold's
// own binary with shimEnv set, applies the settings, sets LISTEN_PID to its
// pid and execs the real command, keeping its pid, process group, fds and
// parent-death signal.

const (
	shimEnv  = "POOLD_EXEC_SHIM"
	shimArgv = "poold-exec"
)

// shimSpec is what the shim needs beyond the worker's own environment.
type shimSpec struct {
	Path    string         `json:"path"`
	Argv    []string       `json:"argv"`
	Umask   int            `json:"umask"` // -1: keep
	Rlimits map[int]uint64 `json:"rlimits,omitempty"`
	Listen  bool           `json:"listen"` // set LISTEN_PID
}

// RunShimIfRequested turns the current process into a worker when poold
// started it as its exec shim, and never returns in that case. Every main
// whose binary is passed to New as self (cmd/poold, and test binaries that
// start workers through a Spawner) must call it first thing.
func RunShimIfRequested() {
	raw, ok := os.LookupEnv(shimEnv)
	if !ok {
		return
	}
	os.Exit(runShim(raw))
}

func runShim(raw string) int {
	var spec shimSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		fmt.Fprintf(os.Stderr, "poold-exec: bad spec from poold: %v\n", err)
		return 127
	}
	if spec.Umask >= 0 {
		syscall.Umask(spec.Umask)
	}
	for res, lim := range spec.Rlimits {
		rl := unix.Rlimit{Cur: lim, Max: lim}
		if err := unix.Setrlimit(res, &rl); err != nil {
			fmt.Fprintf(os.Stderr, "poold-exec: %s: setrlimit resource %s to %d: %v\n", spec.Path, strconv.Itoa(res), lim, err)
			return 127
		}
	}
	env := make([]string, 0, len(os.Environ())+1)
	for _, kv := range os.Environ() {
		if len(kv) > len(shimEnv) && kv[:len(shimEnv)+1] == shimEnv+"=" {
			continue
		}
		env = append(env, kv)
	}
	if spec.Listen {
		env = append(env, "LISTEN_PID="+strconv.Itoa(os.Getpid()))
	}
	err := unix.Exec(spec.Path, spec.Argv, env)
	fmt.Fprintf(os.Stderr, "poold-exec: exec %s: %v\n", spec.Path, err)
	return 127
}
