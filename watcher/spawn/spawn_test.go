package spawn

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// step names the exec step s would pick for spec. It asks a twin of s,
// since only s's Run goroutine may touch s's hasShell. s's Run must be
// serving.
func step(s *Spawner, spec ProcSpec) string {
	twin := New(s.self)
	twin.shell = s.shell
	twin.checkShell()
	twin.actsOnOthers, twin.procIsOurs = mayActOnOthers(), procIsOurs()
	twin.stub.Store(s.stub.Load()) // Run has loaded it: see runSpawnerOf
	path, argv, _, viaStub, err := twin.execStep(spec)
	switch {
	case err != nil:
		return "error: " + err.Error()
	case viaStub:
		return "stub"
	case path == twin.self && argv[0] == shimArgv: // this binary is also the worker
		return "shim"
	case path == twin.shell:
		return "sh"
	case path == spec.Path:
		return "direct"
	}
	return "unknown: " + path
}

// stepCase is one way of starting a worker and what it must get.
type stepCase struct {
	name    string
	noShell bool // hide /bin/sh from the spawner
	noStub  bool // run the spawner without its exec stub
	umask   int
	nofile  uint64 // RLIMIT_NOFILE to set; 0: none
	listen  bool
	nice    int    // the worker's niceness; 0: poold's
	step    string // the exec step it must take
}

// TestExecSteps starts a worker through each exec step and checks, from
// outside, what it got: its pid kept across the step, LISTEN_PID, umask,
// rlimit, process group, working directory, environment, and exactly fds
// 0-2 plus the passed files.
func TestExecSteps(t *testing.T) {
	cases := []stepCase{
		{name: "direct", umask: -1, step: "direct"},
		{name: "stub listen and umask", umask: 0o027, listen: true, step: "stub"},
		{name: "stub umask 0", umask: 0, step: "stub"},
		{name: "stub listen only", umask: -1, listen: true, step: "stub"},
		{name: "stub without sh", noShell: true, umask: 0o022, listen: true, step: "stub"},
		{name: "sh listen and umask", noStub: true, umask: 0o027, listen: true, step: "sh"},
		{name: "sh umask 0", noStub: true, umask: 0, step: "sh"},
		{name: "sh listen only", noStub: true, umask: -1, listen: true, step: "sh"},
		{name: "stub rlimit", umask: 0o077, nofile: 123, listen: true, step: "stub"},
		{name: "stub rlimit only", umask: -1, nofile: 200, step: "stub"},
		{name: "stub nice", umask: -1, nice: 5, step: "stub"},
		{name: "stub nice and the rest", umask: 0o027, nofile: 150, listen: true, nice: -2, step: "stub"},
		{name: "shim rlimit", noStub: true, umask: 0o077, nofile: 123, listen: true, step: "shim"},
		{name: "shim rlimit only", noStub: true, umask: -1, nofile: 200, step: "shim"},
		{name: "shim without stub or sh", noStub: true, noShell: true, umask: 0o022, listen: true, step: "shim"},
		{name: "shim nice", noStub: true, umask: -1, nice: 5, step: "shim"},
		{name: "shim nice and the rest", noStub: true, umask: 0o027, nofile: 150, listen: true, nice: -2, step: "shim"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { testExecStep(t, tc) })
	}
}

func testExecStep(t *testing.T, tc stepCase) {
	shell := ""
	if tc.noShell {
		shell = "/nonexistent/sh"
	}
	s := runSpawnerWith(t, shell, tc.noStub)
	dir := t.TempDir()
	sock, data := passedFiles(t, dir)
	out, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	spec := ProcSpec{
		Env: []string{"A=1"}, Dir: dir, Files: []*os.File{sock, data},
		Umask: tc.umask, Listen: tc.listen, Stdout: outW,
	}
	if tc.nofile != 0 {
		spec.Rlimits = map[int]uint64{unix.RLIMIT_NOFILE: tc.nofile}
	}
	if tc.nice != 0 {
		spec.Nice = &tc.nice
	}
	c := start(t, s.Spawner, "hold", spec)
	outW.Close()
	spec.Path, spec.Argv = self(t), []string{"spawn.test"}
	if got := step(s.Spawner, spec); got != tc.step {
		t.Errorf("exec step %s, want %s", got, tc.step)
	}
	readReady(t, c, out)
	checkSettings(t, c.p.Pid, tc)
	if got := niceOf(t, c.p.Pid); got != tc.nice {
		t.Errorf("nice %d, want %d", got, tc.nice)
	}
	if pgid, err := syscall.Getpgid(c.p.Pid); err != nil || pgid != c.p.Pid {
		t.Errorf("process group %d (%v), want its own, %d", pgid, err, c.p.Pid)
	}
	if cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", c.p.Pid)); err != nil || cwd != dir {
		t.Errorf("cwd %q (%v), want %q", cwd, err, dir)
	}
	want := map[int]string{0: os.DevNull, 1: target(t, out), 2: c.stderr.Name(), 3: target(t, sock), 4: data.Name()}
	if got := procFDs(t, c.p.Pid); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("fds %v, want exactly %v", got, want)
	}
}

// passedFiles makes the two files a worker inherits at fds 3 and 4: a
// listening socket and a file in dir. They close when the test ends.
func passedFiles(t testing.TB, dir string) (sock, data *os.File) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if sock, err = ln.(*net.TCPListener).File(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sock.Close() })
	if data, err = os.Create(filepath.Join(dir, "data")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { data.Close() })
	return sock, data
}

// checkSettings checks what the exec step set in worker pid: LISTEN_PID,
// umask and rlimit, and that the spec's environment reached it without the
// shim's own variable.
func checkSettings(t testing.TB, pid int, tc stepCase) {
	t.Helper()
	env := procEnv(t, pid)
	wantListen := ""
	if tc.listen {
		wantListen = strconv.Itoa(pid)
	}
	if env["LISTEN_PID"] != wantListen {
		t.Errorf("LISTEN_PID=%q, want %q", env["LISTEN_PID"], wantListen)
	}
	if env["A"] != "1" {
		t.Errorf("A=%q, want the spec's 1", env["A"])
	}
	if v, ok := env[shimEnv]; ok {
		t.Errorf("the worker still has %s=%s", shimEnv, v)
	}
	wantUmask := procUmask(t, os.Getpid())
	if tc.umask >= 0 {
		wantUmask = fmt.Sprintf("%04o", tc.umask)
	}
	if got := procUmask(t, pid); got != wantUmask {
		t.Errorf("umask %s, want %s", got, wantUmask)
	}
	if tc.nofile == 0 {
		return
	}
	var lim unix.Rlimit
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, nil, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Cur != tc.nofile || lim.Max != tc.nofile {
		t.Errorf("RLIMIT_NOFILE %d/%d, want %d/%d", lim.Cur, lim.Max, tc.nofile, tc.nofile)
	}
}

// TestMissingExecutable: a direct exec, or one from the stub or shim
// step, fails in Start with an error naming the path; from the sh step
// (which cannot report it) the worker exits 127 and says why, naming the
// path, on its stderr.
func TestMissingExecutable(t *testing.T) {
	const path = "/nonexistent/worker"
	cases := []struct {
		name   string
		spec   ProcSpec
		step   string
		shell  string
		noStub bool
	}{
		{name: "direct", spec: ProcSpec{Umask: -1}, step: "direct"},
		{name: "stub", spec: ProcSpec{Umask: -1, Listen: true}, step: "stub"},
		{name: "stub umask", spec: ProcSpec{Umask: 0o022}, step: "stub"},
		{name: "sh", spec: ProcSpec{Umask: -1, Listen: true}, step: "sh", noStub: true},
		{name: "stub rlimit", spec: ProcSpec{Umask: -1, Rlimits: map[int]uint64{unix.RLIMIT_NOFILE: 100}}, step: "stub"},
		{name: "shim", spec: ProcSpec{Umask: -1, Rlimits: map[int]uint64{unix.RLIMIT_NOFILE: 100}}, step: "shim", noStub: true},
		{name: "shim without stub or sh", spec: ProcSpec{Umask: 0o022}, step: "shim", shell: "/nonexistent/sh", noStub: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// The failure must come back through the status pipe
			// whatever the load: the shim is this race-built binary,
			// seconds to start on a loaded machine, and past
			// execStatusWait a start counts as started (as in
			// TestStepExecFailureFailsStart; seen at load 80: "Start
			// of /nonexistent/worker succeeded").
			sp := New(self(t))
			if tc.shell != "" {
				sp.shell = tc.shell
			}
			sp.stubOff, sp.statusWait = tc.noStub, hang
			s := runSpawnerOf(t, sp)
			spec := tc.spec
			spec.Path, spec.Argv = path, []string{"worker", "--flag"}
			if got := step(s.Spawner, spec); got != tc.step {
				t.Errorf("exec step %s, want %s", got, tc.step)
			}
			if tc.step != "sh" {
				err, _ := startFails(t, s.Spawner, spec)
				if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), path) {
					t.Errorf("error %q: want one naming %s, matching fs.ErrNotExist", err, path)
				}
				return
			}
			c := start(t, s.Spawner, "hold", spec)
			if ex := c.wait(t); ex != (Exit{Code: 127}) {
				t.Errorf("%v, want exit status 127", ex)
			}
			if msg := c.stderrText(t); !strings.Contains(msg, path) {
				t.Errorf("stderr %q does not name %s", msg, path)
			}
		})
	}
}

// TestEmptyArgv: a spec without argv[0] is refused with an error naming
// the path, whatever the exec step, and the spawner keeps serving.
func TestEmptyArgv(t *testing.T) {
	s := runSpawner(t, "")
	for name, spec := range map[string]ProcSpec{
		"direct": {Umask: -1},
		"stub":   {Umask: -1, Listen: true},
		"shim":   {Umask: -1, Rlimits: map[int]uint64{unix.RLIMIT_NOFILE: 100}},
	} {
		spec.Path = self(t)
		p, err := s.Start(spec)
		if err == nil {
			killWait(p)
			t.Errorf("%s: Start with no argv succeeded", name)
			continue
		}
		if !strings.Contains(err.Error(), spec.Path) || !strings.Contains(err.Error(), "empty argv") {
			t.Errorf("%s: error %q: want one naming %s and the empty argv", name, err, spec.Path)
		}
	}
	c := start(t, s.Spawner, "exit", ProcSpec{Umask: -1})
	if ex := c.wait(t); ex != (Exit{}) {
		t.Errorf("a good spec after the bad ones: %v", ex)
	}
}

// TestStartAfterRunReturned: once Run has returned, Start fails with
// ErrSpawnerStopped instead of blocking.
func TestStartAfterRunReturned(t *testing.T) {
	s := runSpawner(t, "")
	s.stop(t)
	p, err := s.Start(ProcSpec{Path: self(t), Argv: []string{"spawn.test"}, Umask: -1})
	if !errors.Is(err, ErrSpawnerStopped) {
		if p != nil {
			killWait(p)
		}
		t.Fatalf("Start after Run returned: %v, want ErrSpawnerStopped", err)
	}
}

// TestWorkersDieWithTheSpawner: the parent-death signal is tied to the
// spawner's thread, which ends when Run returns; it survives every exec
// step. (A stopping spawner SIGKILLs its workers itself; this one leaves
// them to that signal, as when poold is killed.)
func TestWorkersDieWithTheSpawner(t *testing.T) {
	specs := map[string]ProcSpec{
		"direct":      {Umask: -1},
		"stub":        {Umask: -1, Listen: true},
		"sh":          {Umask: -1, Listen: true},
		"shim":        {Umask: -1, Rlimits: map[int]uint64{unix.RLIMIT_NOFILE: 300}},
		"stub rlimit": {Umask: -1, Rlimits: map[int]uint64{unix.RLIMIT_NOFILE: 300}},
	}
	for name, spec := range specs {
		t.Run(name, func(t *testing.T) {
			s := New(self(t))
			s.stubOff = name == "sh" || name == "shim"
			s.deathSignalOnly = true
			r := runSpawnerOf(t, s)
			out, outW, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer out.Close()
			spec.Stdout = outW
			c := start(t, s, "hold", spec)
			outW.Close()
			readReady(t, c, out)
			r.stop(t)
			if ex := c.wait(t); ex.Signal != syscall.SIGKILL {
				t.Errorf("worker ended with %v, want killed by SIGKILL", ex)
			}
		})
	}
}

// TestWorkersDieWithASpawnerOnTheMainThread: Run called on the main
// thread, which never ends, still ends its workers when it returns.
func TestWorkersDieWithASpawnerOnTheMainThread(t *testing.T) {
	s := New(self(t))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	onMain := make(chan bool, 1)
	ran := make(chan error, 1)
	go onMainThread(func() {
		onMain <- syscall.Gettid() == os.Getpid()
		ran <- s.Run(ctx)
	})
	if !<-onMain {
		t.Fatal("the test's onMainThread did not run on the main thread")
	}
	out, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	c := start(t, s, "hold", ProcSpec{Umask: -1, Stdout: outW})
	outW.Close()
	readReady(t, c, out)
	cancel()
	if err := <-ran; err != nil {
		t.Errorf("Run: %v", err)
	}
	if ex := c.wait(t); ex.Signal != syscall.SIGKILL {
		t.Errorf("worker ended with %v, want killed by SIGKILL", ex)
	}
}

// TestConcurrentStarts: Start is safe from many goroutines at once.
func TestConcurrentStarts(t *testing.T) {
	s := runSpawner(t, "")
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			spec := ProcSpec{
				Path: self(t), Argv: []string{"spawn.test"}, Umask: -1, Listen: i%2 == 0,
				Env: []string{childEnv + "=exit"},
			}
			p, err := s.Start(spec)
			if err != nil {
				errs <- err
				return
			}
			ex, err := p.Wait()
			if err == nil && ex != (Exit{}) {
				err = fmt.Errorf("pid %d: %v", p.Pid, ex)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// TestDiscardedOutputIsWritable: a worker whose output nobody keeps has
// stdout and stderr on /dev/null that take writes, through every exec
// step, and an stdin that reads as empty. (Defect: /dev/null was opened
// read-only for all three, so `echo` failed and Python exited 120.)
func TestDiscardedOutputIsWritable(t *testing.T) {
	for name, spec := range map[string]ProcSpec{
		"direct":      {Umask: -1},
		"stub":        {Umask: -1, Listen: true},
		"sh":          {Umask: -1, Listen: true},
		"shim":        {Umask: -1, Rlimits: map[int]uint64{unix.RLIMIT_NOFILE: 300}},
		"stub rlimit": {Umask: -1, Rlimits: map[int]uint64{unix.RLIMIT_NOFILE: 300}},
	} {
		s := runSpawnerWith(t, "", name == "sh" || name == "shim")
		spec.Path, spec.Argv, spec.Env = self(t), []string{"spawn.test"}, []string{childEnv + "=write"}
		p, err := s.Start(spec)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if ex, err := p.Wait(); err != nil || ex != (Exit{}) {
			t.Errorf("%s: worker writing to discarded output: %v, %v; want exit 0", name, ex, err)
		}
	}
}

// TestBeginsInOrder: starts begun one after another without waiting
// (the next begun while the one before is being forked) each come back
// with their own outcome: a process of their own, or why not; after Run
// returns, Begin's Wait fails with ErrSpawnerStopped.
func TestBeginsInOrder(t *testing.T) {
	s := runSpawner(t, "")
	var pending []*Pending
	for i := range 4 {
		spec := ProcSpec{
			Path: self(t), Argv: []string{"spawn.test"}, Umask: -1, Listen: i%2 == 0,
			Env: []string{childEnv + "=exit"},
		}
		if i == 2 {
			spec.Argv = nil // a refused start among good ones
		}
		pending = append(pending, s.Begin(spec))
	}
	seen := map[int]bool{}
	for i, p := range pending {
		proc, err := p.Wait()
		if i == 2 {
			if err == nil || !strings.Contains(err.Error(), "empty argv") {
				t.Errorf("start %d, no argv: %v, %v", i, proc, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("start %d: %v", i, err)
		}
		if seen[proc.Pid] {
			t.Errorf("start %d: pid %d came back twice", i, proc.Pid)
		}
		seen[proc.Pid] = true
		if ex, err := proc.Wait(); err != nil || ex != (Exit{}) {
			t.Errorf("start %d, pid %d: %v, %v", i, proc.Pid, ex, err)
		}
	}
	s.stop(t)
	if _, err := s.Begin(ProcSpec{Path: self(t), Argv: []string{"spawn.test"}, Umask: -1}).Wait(); !errors.Is(err, ErrSpawnerStopped) {
		t.Errorf("Begin after Run returned: %v, want ErrSpawnerStopped", err)
	}
}

// TestBeginQueuesStarts: Begin queues up to queueDepth starts without
// waiting for the spawner's thread to take each up (which costs both
// sides a park), and a start still queued when the spawner stops fails
// with ErrSpawnerStopped rather than waiting for a reply that never
// comes.
func TestBeginQueuesStarts(t *testing.T) {
	s := New(self(t)) // not run: nothing takes the starts up
	spec := ProcSpec{Path: self(t), Argv: []string{"spawn.test"}, Umask: -1}
	queued := make(chan []*Pending, 1)
	go func() {
		var ps []*Pending
		for range queueDepth {
			ps = append(ps, s.Begin(spec))
		}
		queued <- ps
	}()
	var ps []*Pending
	select {
	case ps = <-queued:
	case <-time.After(10 * time.Second): // a hang, not a timing
		t.Fatalf("Begin blocked with %d starts queued, want it to queue up to %d", len(s.reqs), queueDepth)
	}
	close(s.done) // as Run does when it returns, leaving them queued
	for i, p := range ps {
		if proc, err := p.Wait(); !errors.Is(err, ErrSpawnerStopped) {
			t.Errorf("start %d queued when the spawner stopped: %v, %v; want ErrSpawnerStopped", i, proc, err)
		}
	}
	if _, err := s.Begin(spec).Wait(); !errors.Is(err, ErrSpawnerStopped) {
		t.Errorf("Begin once the spawner stopped: %v, want ErrSpawnerStopped", err)
	}
}

// killWait kills and reaps a worker a test did not mean to start. Until
// it is reaped, its pid cannot be reused.
func killWait(p *Proc) {
	syscall.Kill(p.Pid, syscall.SIGKILL)
	p.Wait()
}

// TestForkRefusedNamesTheLimit: EAGAIN from the fork is an error of that
// Start that still matches EAGAIN and tells the user which limits to look
// at; other errors are not dressed up so.
func TestForkRefusedNamesTheLimit(t *testing.T) {
	worker := ProcSpec{Path: "/bin/worker"}
	err := startError(worker, "/bin/sh", syscall.EAGAIN)
	if !errors.Is(err, syscall.EAGAIN) {
		t.Errorf("%v does not match EAGAIN", err)
	}
	for _, want := range []string{"/bin/worker", "fork/exec /bin/worker through /bin/sh", "resource temporarily unavailable", "pids.max", "RLIMIT_NPROC"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
	if err := startError(worker, "/bin/worker", syscall.ENOENT); strings.Contains(err.Error(), "pids.max") {
		t.Errorf("ENOENT reported as a pids limit: %v", err)
	}
}

// niceOf reads the niceness, field 19 of /proc/PID/stat.
func niceOf(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	i := strings.LastIndexByte(string(b), ')')
	n, err := strconv.Atoi(strings.Fields(string(b[i+1:]))[19-3])
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestImpossibleRlimitNamesIt: a limit the kernel refuses (nofile over
// fs.nr_open binds root too) fails the start, and the shim's message on
// the worker's stderr and in the error names the rlimits key, not
// "resource 7".
func TestImpossibleRlimitNamesIt(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/fs/nr_open")
	if err != nil {
		t.Fatal(err)
	}
	nrOpen, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	s := runSpawner(t, "")
	err, stderr := startFails(t, s.Spawner, ProcSpec{Path: self(t), Argv: []string{"spawn.test"},
		Umask: -1, Rlimits: map[int]uint64{unix.RLIMIT_NOFILE: nrOpen + 1}})
	for _, msg := range []string{stderr, err.Error()} {
		if !strings.Contains(msg, fmt.Sprintf("rlimits nofile = %d", nrOpen+1)) {
			t.Errorf("%q: want it to name rlimits nofile", msg)
		}
		// The cause is the kernel's fs.nr_open, for root too: not "needs root".
		if !strings.Contains(msg, fmt.Sprintf("(fs.nr_open %d)", nrOpen)) || strings.Contains(msg, "needs root") {
			t.Errorf("%q: want it to name fs.nr_open as the cause", msg)
		}
	}
}
