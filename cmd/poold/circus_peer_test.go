package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The real Circus 0.19.0 (../shared/peers, see its README), run on
// Debian's python3 with python3-zmq, python3-tornado and python3-psutil
// (.ci/run installs them). Missing, the tests skip; under CI=true they
// fail.

const circusTarball = "shared/peers/circus-0.19.0.tar.gz"

var (
	circusOnce sync.Once
	circusDir  string // PYTHONPATH holding the circus package
	circusErr  error
)

// circusPeer extracts Circus once per test binary and returns its
// PYTHONPATH, or skips (fails under CI=true).
func circusPeer(t testing.TB) string {
	t.Helper()
	circusOnce.Do(func() { circusDir, circusErr = extractCircus() })
	if circusErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the Circus peer is required in CI: %v", circusErr)
		}
		t.Skipf("no Circus peer: %v", circusErr)
	}
	return circusDir
}

func extractCircus() (string, error) {
	const py = "/usr/bin/python3"
	if out, err := exec.Command(py, "-c", "import zmq, tornado, psutil").CombinedOutput(); err != nil {
		return "", fmt.Errorf("%s cannot import zmq, tornado and psutil (Debian: python3-zmq python3-tornado python3-psutil; .ci/run installs them): %v: %s", py, err, out)
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	tarball := ""
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, circusTarball)); err == nil {
			tarball = filepath.Join(dir, circusTarball)
			break
		}
		if dir == filepath.Dir(dir) {
			return "", fmt.Errorf("%s not found in any parent of %s", circusTarball, wd)
		}
	}
	dest := filepath.Join(os.TempDir(), "poold-test-circus-0.19.0")
	src := filepath.Join(dest, "circus-src")
	if _, err := os.Stat(filepath.Join(src, "circus", "__init__.py")); err == nil {
		return src, nil
	}
	// Extract beside it and rename, so that test binaries running at once
	// never see half a tree.
	tmp, err := os.MkdirTemp(os.TempDir(), "poold-test-circus-")
	if err != nil {
		return "", err
	}
	if out, err := exec.Command("tar", "xzf", tarball, "-C", tmp).CombinedOutput(); err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("extract %s: %v: %s", tarball, err, out)
	}
	if err := os.Rename(tmp, dest); err != nil {
		os.RemoveAll(tmp) // another binary won the race
	}
	if _, err := os.Stat(filepath.Join(src, "circus", "__init__.py")); err != nil {
		return "", fmt.Errorf("circus not extracted to %s: %w", src, err)
	}
	return src, nil
}

// circusPython runs Debian's python3 with Circus on its path.
func circusPython(t testing.TB, ctx context.Context, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.CommandContext(ctx, "/usr/bin/python3", args...)
	cmd.Env = append(os.Environ(), "PYTHONPATH="+circusPeer(t), "PYTHONDONTWRITEBYTECODE=1")
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

type ctlResult struct {
	out  string
	code int
}

// circusctl runs the real circusctl against endpoint.
func circusctl(t testing.TB, endpoint string, args ...string) ctlResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	full := append([]string{"-m", "circus.circusctl", "--endpoint", endpoint, "--timeout", "20"}, args...)
	cmd := circusPython(t, ctx, full...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("circusctl %s: %v", strings.Join(args, " "), err)
	}
	return ctlResult{strings.TrimSpace(out.String()), code}
}

// circusctlBatch runs the real circusctl's main() once per command line,
// in one Python process (importing Circus takes seconds on a busy
// machine), and returns each one's output and exit status.
func circusctlBatch(t testing.TB, endpoint string, lines [][]string) []ctlResult {
	t.Helper()
	const script = `
import contextlib, io, json, sys
from circus import circusctl
out = []
endpoint, lines = sys.argv[1], json.loads(sys.argv[2])
for args in lines:
    sys.argv = ["circusctl", "--endpoint", endpoint, "--timeout", "20"] + args
    buf = io.StringIO()
    code = 0
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
        try:
            circusctl.main()
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        except Exception as e:
            print("exception:", repr(e))
            code = 99
    out.append({"out": buf.getvalue(), "code": code})
print(json.dumps(out))
`
	ctx, cancel := context.WithTimeout(context.Background(), 2*hang)
	defer cancel()
	b, _ := json.Marshal(lines)
	cmd := circusPython(t, ctx, "-c", script, endpoint, string(b))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("circusctl batch: %v\n%s", err, stderr.String())
	}
	var raw []struct {
		Out  string `json:"out"`
		Code int    `json:"code"`
	}
	if err := json.Unmarshal(out, &raw); err != nil {
		t.Fatalf("circusctl batch output %q: %v", out, err)
	}
	res := make([]ctlResult, len(raw))
	for i, r := range raw {
		res[i] = ctlResult{strings.TrimSpace(r.Out), r.Code}
	}
	return res
}

// circusClient sends requests with Circus's own CircusClient and returns
// each reply, with the Python type of every value alongside (shape), so
// that int and float stay apart.
func circusClient(t testing.TB, endpoint string, reqs []map[string]any) []clientReply {
	t.Helper()
	const script = `
import json, sys
from circus.client import CircusClient

def shape(v):
    if isinstance(v, dict):
        return {k: shape(x) for k, x in v.items()}
    if isinstance(v, list):
        return [shape(x) for x in v]
    return type(v).__name__

c = CircusClient(endpoint=sys.argv[1], timeout=20)
out = []
for req in json.loads(sys.argv[2]):
    r = c.call(req)
    out.append({"reply": r, "shape": shape(r)})
c.stop()
print(json.dumps(out))
`
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	b, _ := json.Marshal(reqs)
	cmd := circusPython(t, ctx, "-c", script, endpoint, string(b))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("CircusClient: %v\n%s", err, stderr.String())
	}
	var replies []clientReply
	if err := json.Unmarshal(out, &replies); err != nil {
		t.Fatalf("CircusClient output %q: %v", out, err)
	}
	return replies
}

type clientReply struct {
	Reply map[string]any `json:"reply"`
	Shape map[string]any `json:"shape"`
}

// circusd is a real circusd running ini (its watchers), with ipc
// endpoints in a directory of its own: a tcp port picked free a moment
// before circusd binds it can be taken meanwhile by another test's
// connection, and circusd then exits "Address already in use".
type circusd struct {
	control, pubsub, stats string
	log                    *lockedBuffer
}

func startCircusd(t testing.TB, watchers string) *circusd {
	t.Helper()
	dir := t.TempDir()
	ipc := func(name string) string { return "ipc://" + filepath.Join(dir, name) }
	c := &circusd{control: ipc("control"), pubsub: ipc("pubsub"), stats: ipc("stats"), log: &lockedBuffer{}}
	ini := fmt.Sprintf("[circus]\nendpoint = %s\npubsub_endpoint = %s\nstats_endpoint = %s\nmulticast_endpoint =\ncheck_delay = 5\n\n%s",
		c.control, c.pubsub, c.stats, watchers)
	path := filepath.Join(dir, "circus.ini")
	if err := os.WriteFile(path, []byte(ini), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := circusPython(t, ctx, "-m", "circus.circusd", path)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = c.log, c.log
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		// SIGTERM makes circusd stop its workers and exit; a kill would
		// leave them. Their own children it leaves either way.
		family := descendants(cmd.Process.Pid)
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(hang):
			cancel()
			<-done
		}
		killLeftovers(family)
		killInDir(dir)
		if t.Failed() {
			t.Logf("circusd log:\n%s", c.log.String())
		}
	})
	return c
}
