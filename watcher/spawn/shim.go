package spawn

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// The exec shim. Go cannot run code between fork and exec, yet a worker's
// LISTEN_PID must be its own pid, and umask and rlimits must be set in the
// child alone. Where /bin/sh's builtins cannot do it (rlimits, or no
// /bin/sh), poold starts the worker through itself: the child runs poold's
// own binary with shimEnv set, applies the settings (and the process
// attributes of attrs.go, before it drops to the worker's user), sets
// LISTEN_PID to its pid and execs the real command, keeping its pid,
// process group, fds and parent-death signal.

const (
	shimEnv  = "POOLD_EXEC_SHIM"
	shimArgv = "poold-exec"
)

// shimSpec is what the shim needs beyond the worker's own environment.
type shimSpec struct {
	Path string `json:"path"`
	// Argv comes as the shim's own argv, after shimArgv and Path
	// (execStep): one environment string holds at most 128 KiB. An older
	// poold sent it here, and the binary it runs as its shim may have
	// been replaced by this one since.
	Argv    []string       `json:"argv,omitempty"`
	Umask   int            `json:"umask"` // -1: keep
	Rlimits map[int]uint64 `json:"rlimits,omitempty"`
	Listen  bool           `json:"listen"` // set LISTEN_PID
	// See attrs.go: set before the exec, in this order.
	OOMScoreAdj *int      `json:"oom_score_adj,omitempty"`
	Nice        *int      `json:"nice,omitempty"`
	Chroot      string    `json:"chroot,omitempty"`
	Cred        *shimCred `json:"cred,omitempty"` // nil: poold's user
	Dir         string    `json:"dir,omitempty"`  // inside Chroot; "": keep
	// V1Cgroups are the worker's cgroup v1 directories, which the shim
	// moves itself into first (joinsV1).
	V1Cgroups []string `json:"v1_cgroups,omitempty"`
	Ppid      int      `json:"ppid"` // poold's pid
	// Status is the write end of the exec status pipe (execstatus.go);
	// 0: none.
	Status int `json:"status,omitempty"`
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
	if spec.Argv == nil && len(os.Args) > 2 {
		spec.Argv = os.Args[2:]
	}
	if spec.Status > 0 {
		// A good exec closes it; the worker never sees it.
		unix.CloseOnExec(spec.Status)
	}
	// Nice and the parent-death signal belong to a thread: the one
	// that execs.
	runtime.LockOSThread()
	if err := applyAttrs(spec); err != nil {
		shimFailed(spec, spec.Path+": ", "", err)
		return 127
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
	shimFailed(spec, "exec "+spec.Path+": ", "exec: ", err)
	return 127
}

// shimFailed says why the worker's program could not run: on stderr
// (after what, naming the path), and to poold through the status pipe
// (after toPoold; poold names the path), errno first (0 for none).
func shimFailed(spec shimSpec, what, toPoold string, err error) {
	fmt.Fprintf(os.Stderr, "poold-exec: %s%v\n", what, err)
	if spec.Status <= 0 {
		return
	}
	var errno syscall.Errno
	errors.As(err, &errno)
	b := binary.NativeEndian.AppendUint32(nil, uint32(errno))
	_, _ = unix.Write(spec.Status, append(append(b, toPoold...), err.Error()...)) // poold reads it, or has gone
}
