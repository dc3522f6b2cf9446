package spawn

import (
	"bufio"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coreos/go-systemd/v22/activation"
)

// serveActivated is the worker of mode activate: it takes its listener
// the way systemd-style workers do, which requires LISTEN_PID to be its
// own pid, and answers one connection.
func serveActivated() int {
	ls, err := activation.Listeners()
	if err != nil || len(ls) != 1 || ls[0] == nil {
		fmt.Fprintf(os.Stderr, "activation.Listeners: %v, %d listeners (LISTEN_PID=%q, pid %d)\n",
			err, len(ls), os.Getenv("LISTEN_PID"), os.Getpid())
		return 3
	}
	conn, err := ls[0].Accept()
	if err != nil {
		fmt.Fprintf(os.Stderr, "accept: %v\n", err)
		return 4
	}
	defer conn.Close()
	fmt.Fprintf(conn, "pid %d\n", os.Getpid())
	return 0
}

// needStub skips a test of the stub where this architecture has none.
func needStub(t *testing.T) {
	t.Helper()
	if len(execStubCode) == 0 {
		t.Skip("no exec stub on this architecture: workers go through /bin/sh")
	}
}

// TestStubActivation: a worker exec'd through the stub takes its socket
// through go-systemd's activation, which checks LISTEN_PID, and answers.
func TestStubActivation(t *testing.T) {
	needStub(t)
	s := runSpawner(t, "")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	sock, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	spec := ProcSpec{Env: []string{"LISTEN_FDS=1"}, Files: []*os.File{sock}, Umask: -1, Listen: true}
	if got := step(s.Spawner, withSelf(t, spec)); got != "stub" {
		t.Fatalf("exec step %s, want stub", got)
	}
	c := start(t, s.Spawner, "activate", spec)
	conn, err := net.DialTimeout("tcp", ln.Addr().String(), hang)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(hang)); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if want := fmt.Sprintf("pid %d\n", c.p.Pid); err != nil || line != want {
		t.Errorf("worker answered %q (%v), want %q; its stderr: %q", line, err, want, c.stderrText(t))
	}
	if ex := c.wait(t); ex != (Exit{}) {
		t.Errorf("worker ended with %v, want 0; its stderr: %q", ex, c.stderrText(t))
	}
}

func withSelf(t testing.TB, spec ProcSpec) ProcSpec {
	spec.Path, spec.Argv = self(t), []string{"spawn.test"}
	return spec
}

// TestStubLeavesNoTrace: through the stub, the worker's exe, cmdline and
// environment are what a direct exec gives it, with LISTEN_PID its pid
// (replacing one from the spec) and no placeholder, and no fd of the
// stub's memfd is left, close-on-exec or not.
func TestStubLeavesNoTrace(t *testing.T) {
	needStub(t)
	s := runSpawner(t, "")
	out, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	argv := []string{"my worker", "", "-x", "two words"}
	spec := ProcSpec{Path: self(t), Argv: argv, Env: []string{"A=1", "LISTEN_PID=999", "B="},
		Umask: 0o002, Listen: true, Stdout: outW}
	if got := step(s.Spawner, spec); got != "stub" {
		t.Fatalf("exec step %s, want stub", got)
	}
	c := start(t, s.Spawner, "hold", spec)
	outW.Close()
	readReady(t, c, out)
	pid := c.p.Pid
	if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err != nil || exe != self(t) {
		t.Errorf("exe %q (%v), want %q", exe, err, self(t))
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if want := strings.Join(argv, "\x00") + "\x00"; err != nil || string(cmdline) != want {
		t.Errorf("cmdline %q (%v), want %q", cmdline, err, want)
	}
	environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(string(environ), "\x00"), "\x00")
	want := []string{"A=1", "B=", childEnv + "=hold", "LISTEN_PID=" + strconv.Itoa(pid)}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("environ %q, want exactly %q", got, want)
	}
	if got := procUmask(t, pid); got != "0002" {
		t.Errorf("umask %s, want 0002", got)
	}
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if l, _ := os.Readlink(filepath.Join(dir, e.Name())); strings.Contains(l, "poold-exec-stub") {
			t.Errorf("the worker holds the stub's memfd at fd %s: %s", e.Name(), l)
		}
	}
}

// TestStubExecFailures: when the worker's program cannot be exec'd, the
// stub says why, naming the path, on stderr, and Start fails with the
// errno.
func TestStubExecFailures(t *testing.T) {
	needStub(t)
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain")
	garbage := filepath.Join(dir, "garbage")
	if err := os.WriteFile(plain, []byte("data\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(garbage, []byte{0, 1, 2, 3}, 0o755); err != nil {
		t.Fatal(err)
	}
	long := filepath.Join(dir, strings.Repeat("n", 300)) // a name over NAME_MAX
	cases := []struct {
		path, why string
		errno     syscall.Errno
	}{
		{"/nonexistent/worker", "no such file or directory", syscall.ENOENT},
		{plain, "permission denied", syscall.EACCES},
		{dir, "permission denied", syscall.EACCES},
		{garbage, "exec format error", syscall.ENOEXEC},
		{plain + "/x", "not a directory", syscall.ENOTDIR},
		{long, "errno 36", syscall.ENAMETOOLONG}, // no text in the stub
	}
	s := runSpawner(t, "")
	for _, tc := range cases {
		spec := ProcSpec{Path: tc.path, Argv: []string{"w"}, Umask: 0o022, Listen: true}
		if got := step(s.Spawner, spec); got != "stub" {
			t.Fatalf("exec step %s, want stub", got)
		}
		err, msg := startFails(t, s.Spawner, spec)
		if !errors.Is(err, tc.errno) || !strings.Contains(err.Error(), tc.path) {
			t.Errorf("%s: error %q, want %v naming %s", tc.why, err, tc.errno, tc.path)
		}
		if tc.errno == syscall.ENOEXEC && !strings.Contains(err.Error(), "#! line") {
			t.Errorf("%s: error %q gives no hint (a script needs a #! line)", tc.why, err)
		}
		want := "poold-exec: exec " + tc.path + ": " + tc.why + "\n"
		if msg != want {
			t.Errorf("stderr %q, want %q", msg, want)
		}
	}
}

// TestStubUsage: run by hand, without poold's arguments, the stub says
// what it wants and exits 127.
func TestStubUsage(t *testing.T) {
	needStub(t)
	stub, err := newExecStub()
	if err != nil {
		t.Fatal(err)
	}
	defer stub.f.Close()
	cmd := exec.Command("/proc/self/fd/3", "L3")
	cmd.ExtraFiles = []*os.File{stub.f}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 127 {
		t.Errorf("%v, want exit status 127", err)
	}
	if !strings.Contains(stderr.String(), "poold-exec: want CONTROL PATH ARGV0") {
		t.Errorf("stderr %q, want the usage", stderr.String())
	}
}

// TestStubSaysWhyWithNoStatusReader: when the worker's exec fails after
// poold stopped reading the stub's status pipe (Pending.Wait gives up
// after execStatusWait and closes its end), the stub still says why on
// stderr and exits 127. It wrote the errno to that pipe first, and died
// there of SIGPIPE with nothing said.
func TestStubSaysWhyWithNoStatusReader(t *testing.T) {
	needStub(t)
	stub, err := newExecStub()
	if err != nil {
		t.Fatal(err)
	}
	defer stub.f.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close() // the reader is gone
	defer w.Close()
	const missing = "/nonexistent/worker"
	cmd := exec.Command("/proc/self/fd/3")
	cmd.Args = []string{"-3", missing, "w"} // control, path, the worker's argv
	cmd.ExtraFiles = []*os.File{stub.f, w}  // the stub at 3, its status pipe at 4
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	want := "poold-exec: exec " + missing + ": no such file or directory\n"
	if stderr.String() != want {
		t.Errorf("stderr %q (%v), want %q", stderr.String(), err, want)
	}
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 127 {
		t.Errorf("%v, want exit status 127", err)
	}
}

// TestStubELF: the stub's ELF header says what the kernel needs: a static
// amd64 executable whose one loaded segment holds the whole file, and a
// stack that cannot execute.
func TestStubELF(t *testing.T) {
	needStub(t)
	raw := execStubELF(execStubCode)
	f, err := elf.NewFile(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if f.Type != elf.ET_EXEC || f.Machine != elf.EM_X86_64 || f.Entry != execStubBase+execStubHeader {
		t.Errorf("type %v, machine %v, entry %#x", f.Type, f.Machine, f.Entry)
	}
	if len(f.Progs) != 2 {
		t.Fatalf("%d program headers, want 2", len(f.Progs))
	}
	load, stack := f.Progs[0], f.Progs[1]
	if load.Type != elf.PT_LOAD || load.Off != 0 || load.Filesz != uint64(len(raw)) || load.Flags != elf.PF_R|elf.PF_X {
		t.Errorf("load segment %+v", load.ProgHeader)
	}
	if stack.Type != elf.PT_GNU_STACK || stack.Flags&elf.PF_X != 0 {
		t.Errorf("stack segment %+v", stack.ProgHeader)
	}
}

// warnings records what a spawner warns about.
type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) warn(msg string, args ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, fmt.Sprint(append([]any{msg}, args...)...))
}

func (w *warnings) list() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.msgs)
}

// TestStubFallback: where the stub's exec fails (forced here with a stub
// the kernel refuses to exec), the worker still starts, through /bin/sh,
// the spawner says so once and uses the shell from then on; a start that
// fails for the worker's own reason keeps the stub.
func TestStubFallback(t *testing.T) {
	needStub(t)
	var w warnings
	s := New(self(t))
	s.SetWarn(w.warn)
	r := runSpawnerOf(t, s)
	// The worker's own fault: the shell fails too, the stub stays.
	bad := ProcSpec{Dir: "/nonexistent/dir", Umask: -1, Listen: true}
	if p, err := s.Start(withSelf(t, bad)); err == nil {
		killWait(p)
		t.Fatal("Start in a missing directory succeeded")
	}
	if s.stub.Load() == nil || len(w.list()) != 0 {
		t.Fatalf("a worker's own failure dropped the stub (warnings %q)", w.list())
	}
	noexec, err := os.Open(os.DevNull) // exec'd as the stub: EACCES
	if err != nil {
		t.Fatal(err)
	}
	s.stub.Swap(&execStub{f: noexec}).f.Close()
	for i := 0; i < 3; i++ {
		spec := ProcSpec{Umask: 0o027, Listen: true}
		c := start(t, r.Spawner, "exit", spec)
		if ex := c.wait(t); ex != (Exit{}) {
			t.Fatalf("start %d after the stub failed: %v; stderr %q", i, ex, c.stderrText(t))
		}
		if got := step(s, withSelf(t, spec)); got != "sh" {
			t.Errorf("exec step %s after the stub failed, want sh", got)
		}
	}
	if s.stub.Load() != nil {
		t.Error("the spawner still has the stub that failed")
	}
	if msgs := w.list(); len(msgs) != 1 || !strings.Contains(msgs[0], "/bin/sh") ||
		!strings.Contains(msgs[0], syscall.EACCES.Error()) {
		t.Errorf("warnings %q, want one naming /bin/sh and the exec's error", msgs)
	}
}

// TestStubAsAnotherUser: a worker dropped to another user still execs the
// stub (its own /proc/self/fd, although it is no longer dumpable) and
// gets LISTEN_PID and the umask; /bin/sh plays the worker and says what
// it got.
func TestStubAsAnotherUser(t *testing.T) {
	needStub(t)
	if os.Geteuid() != 0 {
		t.Skip("changing user needs root")
	}
	s := runSpawner(t, "")
	out, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	spec := ProcSpec{Path: "/bin/sh", Argv: []string{"sh", "-c", `echo "$LISTEN_PID $$ $(umask) $(id -u)"`},
		Env: []string{"PATH=/usr/bin:/bin"}, Dir: "/", Umask: 0o027, Listen: true, Stdout: outW,
		Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	if got := step(s.Spawner, spec); got != "stub" {
		t.Fatalf("exec step %s, want stub", got)
	}
	c := start(t, s.Spawner, "", spec)
	outW.Close()
	if err := out.SetReadDeadline(time.Now().Add(hang)); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if want := fmt.Sprintf("%d %d 0027 65534\n", c.p.Pid, c.p.Pid); err != nil || line != want {
		t.Errorf("worker says %q (%v), want %q; its stderr: %q", line, err, want, c.stderrText(t))
	}
	if ex := c.wait(t); ex != (Exit{}) {
		t.Errorf("worker ended with %v, want 0", ex)
	}
}
