package spawn

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/poold/poold/watcher/cgroup"
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
	// No garbage collection, whose workers want threads: the shim
	// allocates little, and the exec frees it all.
	debug.SetGCPercent(-1)
	// Nice and the parent-death signal belong to a thread: the one
	// that execs.
	runtime.LockOSThread()
	// The cgroup v1 directories are opened now, with poold's rights
	// and before a chroot hides them, and entered last (V1Entry).
	entry, err := cgroup.OpenV1Entry(spec.V1Cgroups)
	if err == nil {
		err = applyAttrs(spec)
	}
	if err != nil {
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
	pid := strconv.Itoa(os.Getpid())
	if spec.Listen {
		env = append(env, "LISTEN_PID="+pid)
	}
	// Between the join and the exec the runtime should have no reason
	// to start a thread, which a pids limit may refuse (the runtime then
	// aborts or hangs): no other goroutine runs (one P, which this one
	// holds; a thread started for another P has started once GOMAXPROCS's
	// stop of the world is over), this one makes raw syscalls only
	// (nothing to hand its P off for), and it was just scheduled
	// (Gosched), so the runtime's preemption of a goroutine that ran for
	// 10 ms, which hands its P to another thread, is far off. This
	// narrows the window to the join's write and the exec; it cannot
	// close it for a runtime that wants a thread for its own reasons.
	runtime.GOMAXPROCS(1)
	runtime.Gosched()
	if err := entry.Enter([]byte(pid)); err != nil {
		shimFailed(spec, spec.Path+": ", "", err)
		return 127
	}
	err = unix.Exec(spec.Path, spec.Argv, env)
	shimFailed(spec, "exec "+spec.Path+": ", "exec: ", err)
	return 127
}

// shimFailed says why the worker's program could not run: on stderr
// (after what, naming the path), and to poold through the status pipe
// (after toPoold; poold names the path), errno first (0 for none).
// It writes with raw syscalls: the shim may be in its pids limit
// already, where the runtime may get no thread to hand this one's P to.
func shimFailed(spec shimSpec, what, toPoold string, err error) {
	rawWrite(2, []byte(fmt.Sprintf("poold-exec: %s%v\n", what, err)))
	if spec.Status <= 0 {
		return
	}
	var errno syscall.Errno
	errors.As(err, &errno)
	b := binary.NativeEndian.AppendUint32(nil, uint32(errno))
	rawWrite(spec.Status, append(append(b, toPoold...), err.Error()...)) // poold reads it, or has gone
}

// rawWrite writes b to fd in one write(2) that keeps the P (a short
// write or an error: the shim has no one else to tell).
func rawWrite(fd int, b []byte) {
	_, _, _ = unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
}
