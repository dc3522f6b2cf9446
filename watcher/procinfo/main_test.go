package procinfo

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// helperEnv selects what the test binary does when it runs as a helper
// process instead of the tests.
const helperEnv = "POOLD_PROCINFO_HELPER"

func init() {
	if os.Getenv(helperEnv) == "leader-ends" {
		// Kept on the first thread through TestMain, so that the thread
		// the helper ends is that one.
		runtime.LockOSThread()
	}
}

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(runHelper(mode))
	}
	goleak.VerifyTestMain(m)
}

// runHelper plays a worker. Every mode prints one line starting with
// "ready" once it is in the state the test wants, then lives until its
// stdin reaches EOF (the test closes it, or the test process dies).
func runHelper(mode string) int {
	switch mode {
	case "block":
		fmt.Println("ready")
		_, _ = io.Copy(io.Discard, os.Stdin)
	case "mem64":
		buf := make([]byte, 64<<20)
		for i := 0; i < len(buf); i += 4096 {
			buf[i] = 1
		}
		fmt.Println("ready")
		_, _ = io.Copy(io.Discard, os.Stdin)
		runtime.KeepAlive(buf)
	case "fds":
		// 300 descriptors more than it started with: more than one
		// getdents batch of ReadFDs's buffer.
		for range 300 {
			f, err := os.Open(os.DevNull)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			defer f.Close()
		}
		fmt.Println("ready")
		_, _ = io.Copy(io.Discard, os.Stdin)
	case "burn":
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			os.Exit(0)
		}()
		fmt.Println("ready")
		x := uint64(1)
		for {
			x = x*6364136223846793005 + 1442695040888963407
		}
	case "tree", "tree-child":
		// tree starts tree-child, which starts block: a child with a
		// grandchild. The ready line carries their pids.
		next := map[string]string{"tree": "tree-child", "tree-child": "block"}[mode]
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), helperEnv+"="+next)
		cmd.Stdin = os.Stdin // all three see the same EOF
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if err := cmd.Start(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println(strings.TrimSpace("ready " + strconv.Itoa(cmd.Process.Pid) + " " + strings.TrimPrefix(strings.TrimSpace(line), "ready")))
		_, _ = io.Copy(io.Discard, os.Stdin)
		_ = cmd.Wait()
	case "dropuid":
		// Drops to nobody without an exec, as a server that starts as
		// root and then gives up its privileges: the kernel makes it
		// not dumpable, and its /proc directory then root's.
		if err := syscall.Setresuid(65534, 65534, 65534); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println("ready")
		_, _ = io.Copy(io.Discard, os.Stdin)
	case "leader-ends":
		// Its first thread ends alone (exit, not exit_group), as a
		// program's main thread that calls pthread_exit: /proc/PID then
		// shows a zombie, while the process lives on in its other
		// threads until stdin's EOF.
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			os.Exit(0)
		}()
		fmt.Println("ready")
		_, _, errno := syscall.Syscall(syscall.SYS_EXIT, 0, 0, 0)
		panic("exit of the first thread returned: " + errno.Error())
	default:
		fmt.Fprintf(os.Stderr, "unknown helper mode %q\n", mode)
		return 2
	}
	return 0
}

// helper is a running helper process.
type helper struct {
	cmd  *exec.Cmd
	pid  int
	pids []int // pids on the ready line (descendants)
}

// startHelper runs the test binary in the given helper mode and waits for
// its ready line. Cleanup ends it and every pid it reported, by pid.
func startHelper(tb testing.TB, mode string) *helper {
	tb.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), helperEnv+"="+mode)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start helper %q: %v", mode, err)
	}
	h := &helper{cmd: cmd, pid: cmd.Process.Pid}
	tb.Cleanup(func() {
		_ = stdin.Close()
		for _, p := range h.pids {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	// A helper that never gets ready must fail the test, not hang it.
	if f, ok := stdout.(*os.File); ok {
		_ = f.SetReadDeadline(time.Now().Add(30 * time.Second))
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		tb.Fatalf("helper %q (pid %d): waiting for ready line: %v", mode, h.pid, err)
	}
	fields := strings.Fields(line)
	if len(fields) == 0 || fields[0] != "ready" {
		tb.Fatalf("helper %q (pid %d): bad ready line %q", mode, h.pid, line)
	}
	for _, f := range fields[1:] {
		p, err := strconv.Atoi(f)
		if err != nil {
			tb.Fatalf("helper %q: bad pid %q in ready line %q", mode, f, line)
		}
		h.pids = append(h.pids, p)
	}
	return h
}

// stop ends the helper and waits until it is reaped.
func (h *helper) stop(tb testing.TB) {
	tb.Helper()
	_ = h.cmd.Process.Kill()
	_ = h.cmd.Wait()
}
