package main

import (
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/poold/poold/watcher/proctest"
	"github.com/poold/poold/watcher/workertest"
)

var (
	buildOnce sync.Once
	builtBins []string
	buildErr  error
)

// pooldBinary builds cmd/poold as `make build` and the container image do
// (CGO_ENABLED=0: one static binary), once per test run, and returns its
// path.
func pooldBinary(t testing.TB) string {
	t.Helper()
	return builtBinaries(t)[0]
}

// exampleWorker is cmd/exampleworker built the same way, in a directory
// any user may search (workers may run as nobody).
func exampleWorker(t testing.TB) string {
	t.Helper()
	return builtBinaries(t)[1]
}

func builtBinaries(t testing.TB) []string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := binDir()
		if err == nil {
			err = os.Chmod(dir, 0o755)
		}
		if err != nil {
			buildErr = err
			return
		}
		for _, pkg := range []string{".", "../exampleworker"} {
			out := filepath.Join(dir, filepath.Base(filepath.Join("cmd/poold", pkg)))
			cmd := exec.Command("go", "build", "-o", out, pkg)
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if b, err := cmd.CombinedOutput(); err != nil {
				buildErr = &buildError{err, b}
				return
			}
			builtBins = append(builtBins, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBins
}

// The directories this test binary built poold into, which TestMain
// removes once every test has run (a directory per run was left in /tmp
// each time). Only its own: other packages' test binaries run at the
// same time.
var (
	binDirsMu sync.Mutex
	binDirs   []string
)

// binDir makes a directory in the system's temporary directory for
// binaries this test run builds, and notes it for removeBinDirs.
func binDir() (string, error) {
	dir, err := os.MkdirTemp("", "poold-bin-")
	if err != nil {
		return "", err
	}
	binDirsMu.Lock()
	binDirs = append(binDirs, dir)
	binDirsMu.Unlock()
	return dir, nil
}

// removeBinDirs removes what binDir made.
func removeBinDirs() {
	binDirsMu.Lock()
	defer binDirsMu.Unlock()
	for _, dir := range binDirs {
		if err := os.RemoveAll(dir); err != nil {
			fmt.Fprintf(os.Stderr, "test binaries' directory %s: %v\n", dir, err)
		}
	}
	binDirs = nil
}

type buildError struct {
	err error
	out []byte
}

func (e *buildError) Error() string {
	return "CGO_ENABLED=0 go build: " + e.err.Error() + "\n" + string(e.out)
}

// binProc is the real poold binary running a config.
type binProc struct {
	cmd  *exec.Cmd
	log  *workertest.Buffer
	done chan struct{}
	cfg  string
}

// startBinary runs the built poold on config (see writeConfig) with env
// added to the test's environment.
func startBinary(t *testing.T, config string, env ...string) *binProc {
	t.Helper()
	return startBinaryWith(t, config, nil, env...)
}

// startBinaryWith is startBinary with poold's SysProcAttr changed by
// attr first (nil: none).
func startBinaryWith(t *testing.T, config string, attr func(*syscall.SysProcAttr), env ...string) *binProc {
	t.Helper()
	return startBinaryIn(t, t.TempDir(), config, attr, env...)
}

// startBinaryIn is startBinaryWith with the config and endpoints in dir.
func startBinaryIn(t *testing.T, dir, config string, attr func(*syscall.SysProcAttr), env ...string) *binProc {
	t.Helper()
	cfg := writeConfig(t, dir, config)
	return startCmd(t, exec.Command(pooldBinary(t), cfg), cfg, attr, env...)
}

// startCmd runs cmd, a command that runs poold on cfg (a wrapper that
// execs it), as startBinaryIn does.
func startCmd(t *testing.T, cmd *exec.Cmd, cfg string, attr func(*syscall.SysProcAttr), env ...string) *binProc {
	t.Helper()
	p := &binProc{log: &workertest.Buffer{}, done: make(chan struct{}), cfg: cfg, cmd: cmd}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if attr != nil {
		attr(p.cmd.SysProcAttr)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("poold log:\n%s", p.log.String())
		}
	})
	return p
}

func (p *binProc) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(hang):
		t.Fatalf("poold did not exit within %v", hang)
	}
	return p.cmd.ProcessState.ExitCode()
}

// The container image copies this binary into an image without a libc
// or a shell (configs/container/Dockerfile): it must be static.
func TestBinaryIsStatic(t *testing.T) {
	f, err := elf.Open(pooldBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatal("CGO_ENABLED=0 go build ./cmd/poold gave a binary with an ELF interpreter (dynamically linked); the scratch image of configs/container/Dockerfile cannot run it")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Fatalf("poold links shared libraries %v; the scratch image has none", libs)
	}
}

// waitLogBin waits for re in the log and returns its first submatch.
func (p *binProc) waitLogBin(t *testing.T, re string) string {
	t.Helper()
	rx := regexp.MustCompile(re)
	var m []string
	proctest.Eventually(t, fmt.Sprintf("a log line matching %q", re), func() bool {
		m = rx.FindStringSubmatch(p.log.String())
		return m != nil
	})
	return m[1]
}
